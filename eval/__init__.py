"""Evaluation of question sets: retrieval, answer, citation, refusal and latency metrics.

``eval.run(questions, engine) -> Report`` is the Python entry point; ``citewire eval`` the CLI
(:mod:`eval.command`). This module stays light (it is imported by the CLI): the machinery loads
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.questions import Question, load_questions
    from eval.runner import Report, run

__all__ = ["Question", "Report", "load_questions", "run"]

_WHERE = {"run": "eval.runner", "Report": "eval.runner", "Question": "eval.questions",
          "load_questions": "eval.questions"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'eval' has no attribute {name!r}")
