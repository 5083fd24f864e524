"""The evaluation's user-facing error: one line, exit 2 through the CLI's CitewireError handling."""

from rag.errors import CitewireError


class EvalError(CitewireError):
    """A question file, corpus, report or option the evaluation cannot use."""
