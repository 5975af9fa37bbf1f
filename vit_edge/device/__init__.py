"""The device side: everything `vit-edge predict` (and the base, torch-free install) runs.

Nothing in this folder imports torch or onnx, directly or through another module:
onnxruntime, numpy and Pillow only. tests/test_layout.py enforces it.
"""
