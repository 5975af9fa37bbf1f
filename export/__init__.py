"""ONNX export, INT8 quantization and ONNX Runtime vs PyTorch parity checks (needs the train extra)."""
