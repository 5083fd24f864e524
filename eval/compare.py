"""Deltas between two report.json files (``citewire eval --compare OLD/report.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.errors import EvalError
from eval.scoring import SECTIONS


def load_report(path: str | Path) -> dict[str, Any]:
    """An earlier report.json, checked for the sections a comparison needs."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise EvalError(f"{path}: no such report (pass an earlier run's report.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(s), dict) for s in SECTIONS):
        raise EvalError(f"{path}: not a citewire eval report (expected sections {', '.join(SECTIONS)})")
    return data


def _delta(old: object, new: object) -> float | None:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return round(new - old, 4)
    return None


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``{section: {metric: {"old", "new", "delta"}}}`` for every metric of report.json (delta = new − old)."""
    out: dict[str, Any] = {"n": {"old": old.get("n"), "new": new.get("n"), "delta": _delta(old.get("n"), new.get("n"))}}
    for section, metrics in SECTIONS.items():
        out[section] = {}
        for m in metrics:
            o, n = old.get(section, {}).get(m), new.get(section, {}).get(m)
            out[section][m] = {"old": o, "new": n, "delta": _delta(o, n)}
    return out


def _fmt(value: object, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return f"{value:+d}" if signed and isinstance(value, int) else str(value)


def rows(comparison: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, old, new, delta) rows, e.g. ``("retrieval.recall@5", "0.8", "0.85", "+0.05")``."""
    table = [("n", _fmt(comparison["n"]["old"]), _fmt(comparison["n"]["new"]), _fmt(comparison["n"]["delta"], True))]
    for section, metrics in SECTIONS.items():
        for m in metrics:
            c = comparison[section][m]
            table.append((f"{section}.{m}", _fmt(c["old"]), _fmt(c["new"]), _fmt(c["delta"], True)))
    return table


def to_markdown(comparison: dict[str, Any], old_label: str) -> str:
    lines = [f"## Compared with {old_label}", "", "Delta = this run − the earlier one (for latency, lower is better).",
             "", "| metric | earlier | now | delta |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(comparison)]
    return "\n".join(lines) + "\n"


def to_text(comparison: dict[str, Any], old_label: str) -> str:
    table = rows(comparison)
    w = max(len(r[0]) for r in table)
    lines = [f"compared with {old_label}:"]
    lines += [f"  {a:<{w}}  {b:>9} → {c:<9} {d:>9}" for a, b, c, d in table]
    return "\n".join(lines)
