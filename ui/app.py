"""The web app of ``citewire serve``: a Gradio chat with cited answers, a Corpus tab and a JSON API.

One FastAPI app serves:

* ``/``: the Gradio UI (Chat and Corpus tabs); its API endpoints, for ``gradio_client``:
  ``/chat`` (the chat: returns the answer with its Sources as HTML; keeps the conversation per
  client session) and ``/ask`` (returns ``Answer.to_dict()``);
* ``POST /api/ask``: plain JSON in and out (see :mod:`ui.api`);
* ``POST /api/documents``: push articles in (see :mod:`ui.documents_api`);
* ``/api/feeds``, ``/api/urls``: feeds and web pages (see :mod:`ui.feeds_api`), refreshed in the
  background every ``feed_refresh_every`` (:mod:`ui.refresher`).

The app uses ONE engine (one embedded store, whose lock it holds) for chat, uploads and deletes.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

import gradio as gr  # ui/__init__.py has turned Gradio's analytics off
from fastapi import FastAPI

from rag.answer import MODES, default_mode
from rag.engine import Engine
from rag.errors import CitewireError
from rag.settings import Settings
from ui.api import add_json_api, authorized
from ui.chat import make_ask_fn, make_chat_fn
from ui.corpora import Corpora
from ui.corpus_tab import build_corpus_tab
from ui.documents_api import add_documents_api
from ui.feeds_api import add_feeds_api
from ui.local_api import add_local_api, announce, withdraw
from ui.refresher import interval_seconds, start_refresher

CHAT_CONCURRENCY = 4  # questions answered at once; more wait in Gradio's queue (the engine is CPU-bound)
EXAMPLES = [
    "How many North Korean troops were deployed to Russia?",
    "What did Zelenskyy ask Ukraine's allies to provide?",
    "Who is the NATO Secretary-General quoted on the deployment?",
]
THEME = gr.themes.Soft(  # system fonts: the page loads nothing from third-party servers
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "Consolas", "monospace"]
)
CSS = """
#cw-header h2 { margin-bottom: 0; }
.cw-message { line-height: 1.5; }
.cw-answer { font-size: 1.02em; }
.cw-answer > span { display: block; }
.cw-headline { font-weight: 700; font-size: 1.08em; margin-bottom: 0.25em; }
.cw-agreement { margin-top: 0.35em; padding: 0.2em 0.6em; border-radius: 4px; font-size: 0.95em; }
.cw-agree { background: rgba(22, 163, 74, 0.10); border-left: 4px solid #16a34a; }
.cw-differ { background: rgba(217, 119, 6, 0.10); border-left: 4px solid #d97706; }
.cw-span { text-decoration: underline; text-decoration-thickness: 2px; }
.cw-ref { color: var(--color-accent); font-weight: 600; }
.cw-resolved { font-size: 0.85em; opacity: 0.7; margin-bottom: 0.4em; }
.cw-refusal { border: 1px solid #d97706; border-left: 5px solid #d97706; background: rgba(217, 119, 6, 0.08);
  border-radius: 6px; padding: 0.5em 0.8em; }
.cw-refusal-label { font-weight: 700; color: #b45309; font-size: 0.85em; text-transform: uppercase;
  letter-spacing: 0.04em; }
.cw-sources { margin-top: 0.8em; border-top: 1px solid var(--border-color-primary); padding-top: 0.5em; }
.cw-sources-title { font-weight: 700; font-size: 0.9em; margin-bottom: 0.3em; }
.cw-source { margin: 0.5em 0 0.8em 0; }
.cw-source-head { font-size: 0.92em; }
.cw-n { font-weight: 700; color: var(--color-accent); margin-right: 0.3em; }
.cw-title { font-weight: 600; margin-right: 0.5em; }
.cw-meta { opacity: 0.75; font-size: 0.92em; }
.cw-docid { font-family: var(--font-mono); font-size: 0.9em; }
.cw-url-inert { font-family: var(--font-mono); text-decoration: line-through; }
.cw-quote { margin: 0.3em 0 0.2em 0; padding: 0.3em 0.7em; border-left: 3px solid var(--border-color-primary);
  font-size: 0.92em; }
.cw-quote mark, .cw-context mark { background: #fde68a; color: inherit; padding: 0 0.1em; }
.cw-context summary { cursor: pointer; font-size: 0.85em; opacity: 0.8; }
.cw-context-text { font-size: 0.88em; padding: 0.3em 0.7em; }
.cw-footer { font-size: 0.75em; opacity: 0.55; margin-top: 0.4em; }
"""


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` → ``("user", "password")``."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise CitewireError("--auth must be of the form user:password")
    return user, password


def build_blocks(corpora: Corpora, settings: Settings) -> gr.Blocks:
    """The Gradio UI: the Chat tab (with its Settings accordion) and the Corpus tab."""
    llm = bool(settings.llm_url and settings.llm_model)
    with gr.Blocks(title="citewire", analytics_enabled=False, fill_height=True) as demo:
        top_k = gr.Slider(1, max(20, settings.top_k), value=settings.top_k, step=1,
                          label="Passages (top k)", render=False)
        since = gr.Textbox("", label="Since", placeholder="YYYY-MM-DD (any date when empty)", render=False)
        until = gr.Textbox("", label="Until", placeholder="YYYY-MM-DD (any date when empty)", render=False)
        modes = [m for m in MODES if m != "llm" or llm]
        mode = gr.Radio(modes, value=default_mode(settings), label="Answer mode"
                        + ("" if llm else " (llm needs --llm-url and --llm-model)"), render=False,
                        info="reader: the exact answer, quoted; sentence: the best sentences; "
                             "llm: the configured LLM, every sentence checked against its source")
        collection = gr.Dropdown(corpora.names(), value=corpora.default, label="Collection", allow_custom_value=True,
                                 render=False)
        gr.Markdown("## citewire\nAnswers from the news articles in the corpus; every answer cites the passages "
                    "it comes from, or says that the corpus does not say.", elem_id="cw-header")
        with gr.Tab("Chat"):
            gr.ChatInterface(
                make_chat_fn(corpora),
                chatbot=gr.Chatbot(
                    label="citewire",
                    show_label=False,
                    elem_id="cw-chatbot",
                    latex_delimiters=[],
                    buttons=["copy"],
                    placeholder="**Ask about the news in the corpus.** Every answer cites its passages.",
                    scale=1,
                    height="70vh",
                    feedback_options=None,
                ),
                textbox=gr.Textbox(placeholder="Ask a question about the articles…", elem_id="cw-question",
                                   submit_btn=True, stop_btn=True),
                additional_inputs=[top_k, since, until, mode, collection],
                additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                examples=[[q, None, None, None, None, None] for q in EXAMPLES],
                cache_examples=False,
                api_name="chat",
                fill_height=True,
            )
        with gr.Tab("Corpus"):
            build_corpus_tab(demo, corpora, settings, collection)
        gr.api(make_ask_fn(corpora), api_name="ask")
        demo.load(lambda: gr.Dropdown(choices=corpora.names()), None, collection, api_visibility="undocumented")
    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    return demo


def build_app(engine: Engine, settings: Settings | None = None, auth: tuple[str, str] | None = None,
              local_token: str | None = None, parser: Callable[[], argparse.ArgumentParser] | None = None) -> FastAPI:
    """The whole web app around ``engine``: Gradio UI at ``/`` and the JSON API (``local_token``: also
    the commands of a second terminal, :mod:`ui.local_api`)."""
    settings = settings or engine.settings
    corpora = Corpora(engine)
    app = FastAPI(title="citewire", description="Cited answers over a corpus of news articles.")
    add_json_api(app, corpora, auth)
    allowed = lambda request: auth is None or authorized(request, auth)  # noqa: E731
    add_documents_api(app, corpora, allowed, settings.max_upload_mb * 2**20)
    add_feeds_api(app, corpora, allowed)
    if local_token and parser:
        add_local_api(app, corpora, local_token, parser)
    if settings.feed_refresh_every:
        start_refresher(corpora, interval_seconds(settings.feed_refresh_every))
    return gr.mount_gradio_app(
        app,
        build_blocks(corpora, settings),
        path="/",
        auth=auth,
        auth_message="citewire: sign in with the user:password given to --auth",
        max_file_size=f"{settings.max_upload_mb}mb",
        footer_links=["api"],
        run_history=False,
        ssr_mode=False,
        css=CSS,
        theme=THEME,
        server_name=settings.host,
        server_port=settings.port,
    )


def serve(settings: Settings, auth: str | None = None,
          parser: Callable[[], argparse.ArgumentParser] | None = None) -> None:
    """Open the store, build the app and serve it until interrupted (``citewire serve``; ``parser``: the
    command line's, for the commands of a second terminal)."""
    import uvicorn

    credentials = parse_auth(auth)
    with Engine.open(settings) as engine:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        url = f"http://{host}:{settings.port}"
        token = None if settings.chroma_url else announce(settings.store_dir, url)
        try:
            app = build_app(engine, settings, credentials, local_token=token, parser=parser)
            print(f"citewire: serving {settings.chroma_url or settings.store_dir} [{settings.collection}] "
                  f"at http://{settings.host}:{settings.port}", flush=True)
            # uvicorn shuts down gracefully on SIGTERM, then raises it again for the handler it found: let that
            # handler end the process through SystemExit, so the store is closed and the server file removed.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
        finally:
            if token:
                withdraw(settings.store_dir)
