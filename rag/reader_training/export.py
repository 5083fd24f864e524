"""The trained module → ONNX: the fp32 graph, its int8 copy (dynamic quantisation) and an fp16-weights copy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rag.reader.features import WindowMaker, batch_arrays


def export_onnx(model: Any, maker: WindowMaker, dest: Path) -> Path:
    import warnings

    import torch

    sample = batch_arrays(maker.windows("what is an example?", ["This is an example passage.", "And another."]))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(torch.from_numpy(sample[n]) for n in names), str(dest),
            input_names=names, output_names=["start_logits", "end_logits", "answerable_logit"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                          "start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"},
                          "answerable_logit": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    return dest


def quantize_int8(src: Path, dest: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # the quantiser logs every tensor at INFO on the root logger
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return dest


def to_fp16_weights(src: Path, dest: Path) -> Path:
    """fp32 graph → the same graph with fp16 weights (half the file); loading widens them back."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(src))
    for init in graph.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 1024:
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), init.name))
    onnx.save(graph, str(dest))
    return dest


