"""vit-edge: a compact Vision Transformer for MNIST, from PyTorch training to an ONNX Runtime device.

Importing this package is cheap and never imports torch: the runtime (`vit_edge.device.runtime`,
`vit_edge.device.preprocess`) needs only onnxruntime, numpy and Pillow.
"""

__version__ = "0.1.0"
