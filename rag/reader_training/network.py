"""The reader as a PyTorch module, and its loss.

The packaged all-MiniLM-L6-v2 encoder with two small heads:

* a span head: start and end logits per token (``[CLS]``'s pair is SQuAD 2.0's "no answer");
* an answerability head: one logit from ``[CLS]``, trained (binary cross-entropy, each window on
  its own) to say whether this window answers. Being a calibrated per-window probability, it
  compares across the passages of one question, which the per-window softmax of the span head
  does not.

The exported ONNX graph has the same three outputs, read by :mod:`rag.reader.model`.
"""

from __future__ import annotations

from typing import Any


def build_model() -> Any:
    """A fresh reader: MiniLM weights from the packaged sentence-transformers model, new heads."""
    import torch
    from transformers import AutoModel

    from rag.embedding import resolve_model_path

    path = resolve_model_path("")

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="eager")
            hidden = self.encoder.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            self.answerable = torch.nn.Sequential(
                torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
            )

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, Any, Any]:
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.span(h)
            start, end = logits[..., 0], logits[..., 1]
            neg = torch.finfo(start.dtype).min / 2  # padding can never be an answer
            start = start.masked_fill(attention_mask == 0, neg)
            end = end.masked_fill(attention_mask == 0, neg)
            return start, end, self.answerable(h[:, 0]).squeeze(-1)

    return Reader()


def gold_mask(positions: list[list[int]], width: int) -> Any:
    """A (batch, tokens) boolean mask of each window's gold positions."""
    import torch

    mask = torch.zeros((len(positions), width), dtype=torch.bool)
    for row, cols in enumerate(positions):
        mask[row, cols] = True
    return mask


def span_loss(logits: Any, gold: Any) -> Any:
    """Negative log of the probability on the gold positions (summed when an answer has several)."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    return -torch.logsumexp(logp.masked_fill(~gold, float("-inf")), dim=-1).mean()


def shared_span_loss(logits: Any, gold: Any, groups: list[int]) -> Any:
    """:func:`span_loss` with one softmax over all the windows of a group (shared normalisation).

    A group is one question's windows: its own paragraph's and those of paragraphs of its article
    that do not answer it (Clark & Gardner 2018). Normalised together, a span's score has to beat
    every position of every window, not only those of its own: scores then compare across the
    passages of one question, as they are compared at ask time. The gold of an unanswerable group
    is every window's ``[CLS]``. With one window per group this is :func:`span_loss`.
    """
    import torch

    index = torch.tensor(groups)
    losses = []
    for g in sorted(set(groups)):
        rows = (index == g).nonzero().squeeze(1)
        flat, hits = logits[rows].reshape(-1), gold[rows].reshape(-1)
        losses.append(torch.logsumexp(flat, 0) - torch.logsumexp(flat.masked_fill(~hits, float("-inf")), 0))
    return torch.stack(losses).mean()


def loss_of(outputs: tuple[Any, Any, Any], starts: Any, ends: Any, answerable: Any, na_weight: float,
            groups: list[int] | None = None) -> Any:
    """Span loss (start and end, halved; shared across each group's windows when ``groups`` is given)
    plus the weighted answerability loss (each window on its own)."""
    import torch

    start, end, na = (o.float() for o in outputs)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(na, answerable)
    if groups is None:
        return (span_loss(start, starts) + span_loss(end, ends)) / 2 + na_weight * bce
    return (shared_span_loss(start, starts, groups) + shared_span_loss(end, ends, groups)) / 2 + na_weight * bce
