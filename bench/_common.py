"""What every benchmark script sets up first: offline model loading, the project on ``sys.path``, a log.

Imported before anything that loads a model, so the offline switches are in place in time.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "GRADIO_ANALYTICS_ENABLED": "False",
}.items():
    os.environ.setdefault(_name, _value)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_log = logging.getLogger("bench")
if not _log.handlers:  # progress lines with a clock; the libraries' own INFO chatter stays out
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def log(msg: str) -> None:
    """One timestamped progress line on stdout, through logging."""
    _log.info(msg)


def percentile(values: list[float], q: float) -> float:
    """eval's percentile (linear interpolation), NaN rather than None for no values."""
    from eval.metrics import percentile as interpolated

    value = interpolated(values, q)
    return float("nan") if value is None else value
