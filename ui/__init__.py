"""User interfaces: the ``citewire`` CLI and the Gradio chat app."""
