"""User interfaces: the ``citewire`` CLI and the Gradio chat app."""

import os

# Before anything imports Gradio: no usage analytics or version checks from a local app.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
