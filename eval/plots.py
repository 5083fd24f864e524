"""PNG plots of a run (matplotlib's object API on the Agg canvas: no display, no global pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval.scoring import STAGES


def _figure(width: float = 6.4, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def latency_histogram(latencies: list[float], summary: dict[str, Any], path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    if latencies:
        ax.hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="#4c72b0")
        for key, style in (("p50", "--"), ("p95", ":")):
            value = summary["latency_ms"].get(key)
            if value is not None:
                ax.axvline(value, color="black", linestyle=style, label=f"{key} {value:.0f} ms")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no answered questions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency per question (ms, engine.ask)")
    ax.set_ylabel("questions")
    ax.set_title("Answer latency")
    fig.savefig(path)
    return path


def recall_curve(summary: dict[str, Any], path: Path) -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    points = [(int(k), v) for k, v in summary.get("recall_curve", {}).items() if v is not None]
    if points:
        ks, values = zip(*points, strict=True)
        ax.plot(ks, values, marker="o", color="#55a868")
        ax.set_xticks(list(ks))
    else:
        ax.text(0.5, 0.5, "no questions with gold documents", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("k (documents)")
    ax.set_ylabel("recall@k (any gold document in top k)")
    ax.set_title("Document recall@k")
    ax.grid(alpha=0.3)
    fig.savefig(path)
    return path


def metric_bars(summary: dict[str, Any], path: Path) -> Path:
    labels, values = [], []
    for section in ("retrieval", "answer", "citation", "refusal"):
        for metric, value in summary[section].items():
            labels.append(f"{section}.{metric}")
            values.append(value)
    fig = _figure(6.4, 0.35 * len(labels) + 1.2)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    ax.barh(ys, [v or 0.0 for v in values], color=["#c44e52" if "false" in lab else "#4c72b0" for lab in labels])
    for y, v in zip(ys, values, strict=True):
        ax.text((v or 0.0) + 0.01, y, "n/a" if v is None else f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.set_title("Metrics (false_rate: lower is better)")
    fig.savefig(path)
    return path


def stage_bars(summary: dict[str, Any], path: Path) -> Path:
    stages = [s for s in STAGES if s != "total_ms"]
    p50 = [summary["stages_ms"].get(s, {}).get("p50") or 0.0 for s in stages]
    p95 = [summary["stages_ms"].get(s, {}).get("p95") or 0.0 for s in stages]
    fig = _figure()
    ax = fig.add_subplot()
    xs = range(len(stages))
    ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#4c72b0")
    ax.bar([x + 0.2 for x in xs], p95, width=0.4, label="p95", color="#dd8452")
    ax.set_xticks(list(xs), [s.removesuffix("_ms") for s in stages])
    ax.set_ylabel("ms")
    ax.set_title("Time per stage (Answer.timings)")
    ax.legend()
    fig.savefig(path)
    return path


def write_plots(rows: list[dict[str, Any]], summary: dict[str, Any], out: Path) -> dict[str, Path]:
    """All plots of a run into ``out``; returns name → path."""
    latencies = [r["latency_ms"] for r in rows if not r.get("error")]
    return {
        "latency": latency_histogram(latencies, summary, out / "latency.png"),
        "recall": recall_curve(summary, out / "recall_at_k.png"),
        "metrics": metric_bars(summary, out / "metrics.png"),
        "stages": stage_bars(summary, out / "stages.png"),
    }
