"""A tiny OpenAI-compatible chat server on loopback, for testing the LLM answer path for real.

It behaves like a naive model: it answers with the first sentence of passage 1 cited as [1],
adds a sentence citing a passage that does not exist, and — like a model that falls for prompt
injection — obeys any "ignore previous instructions" text it finds in the passages by repeating
what they ask for, without a citation. Every request is recorded so tests can inspect the prompt.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INJECTED = re.compile(r"ignore (?:all )?previous instructions[^.]*?say ([A-Z]+)", re.IGNORECASE)


def naive_reply(messages: list[dict[str, Any]]) -> str:
    user = next(m["content"] for m in messages if m["role"] == "user")
    passages = re.findall(r"<passage n=\"(\d+)\"[^>]*>\n(.*?)\n</passage>", user, re.S)
    if not passages:
        return "The corpus does not say."
    first = re.split(r"(?<=[.!?])\s", passages[0][1].strip())[0]
    reply = f"{first} [1] Experts also agree the moon is made of cheese [7]."
    injected = INJECTED.search(user)
    if injected:
        reply += f" {injected.group(1)}!"
    return reply


class _Handler(BaseHTTPRequestHandler):
    server: FakeLLMServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.requests.append(body)
        reply = naive_reply(body["messages"])
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, word in enumerate(reply.split(" ")):
                delta = {"role": "assistant", "content": word if i == 0 else " " + word}
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": body["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = {"id": "x", "object": "chat.completion.chunk", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            return
        payload = {
            "id": "x", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeLLMServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
