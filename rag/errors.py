"""Errors that carry a one-line message meant for the user (no traceback)."""


class CitewireError(Exception):
    """Base for errors whose message is shown to the user as is."""


class StoreError(CitewireError):
    """The store is missing, unreadable, locked by another process or unreachable."""


class StoreFullError(StoreError):
    """The disk under the store is full (Chroma may block on further writes until space returns)."""


class QuestionError(CitewireError):
    """The question is empty, too long or otherwise unusable."""


class LLMError(CitewireError):
    """The configured LLM endpoint failed or is not configured."""
