"""The trained extractive reader: features, ONNX inference, training."""
