"""User-facing errors: the CLI prints their message as one line and exits with `exit_code`."""


class VitEdgeError(Exception):
    """An error caused by the user's input or environment, not by a bug."""

    exit_code = 1


class DataError(VitEdgeError):
    """MNIST files are missing, corrupt or cannot be downloaded."""


class CheckpointError(VitEdgeError):
    """A checkpoint is missing, unreadable or not a vit-edge checkpoint."""


class UsageError(VitEdgeError):
    """Options that make no sense together, or a device that is not there."""

    exit_code = 2


class ModelFileError(VitEdgeError):
    """An ONNX model file is missing, unreadable or has the wrong interface."""


class TrainingInterrupted(VitEdgeError):
    """Ctrl-C during training; the message says what is saved and how to go on."""

    exit_code = 130


class ParityFailed(VitEdgeError):
    """Export wrote its files, but one or more ONNX Runtime vs PyTorch parity thresholds failed."""


class MissingExtraError(VitEdgeError):
    """A command needs the `train` extra (torch, onnx) in a torch-free install."""


class ImageError(VitEdgeError):
    """One image cannot be used; the others still are."""


class OutputError(VitEdgeError):
    """A file cannot be written where the user asked."""
