"""vit_edge.export: ONNX export, INT8 quantization and ONNX Runtime vs PyTorch parity checks (torch side:
needs the train extra). Installed as vit_edge.export from the repository's export/ folder."""
