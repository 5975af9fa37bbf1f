"""PyTorch -> ONNX: one self-contained FP32 file with a dynamic batch and metadata.

Exporter choice (measured here, default ViT, ORT 1.32, 1 thread): the TorchScript-based exporter at
opset 17 gives an 841 KB file whose GELU ORT fuses; dynamo at opset 18 gave 996 KB, an unfused Erf
GELU and a 16-20% slower batch-256 run. See the README's export section.
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from vit_edge import __version__
from vit_edge.config import DEFAULT_OPSET
from vit_edge.device.fileio import atomic_write, sha256
from vit_edge.device.runtime import INPUT_NAME, OUTPUT_NAME
from vit_edge.errors import UsageError
from vit_edge.model import ViT, fold_batchnorm


def model_metadata(model: ViT, checkpoint: Path | None, test_accuracy: float | None) -> dict[str, str]:
    meta = {
        "labels": json.dumps([str(d) for d in range(model.cfg.num_classes)]),
        "input": f"{INPUT_NAME}: float32 N x {model.cfg.channels} x {model.cfg.image_size} x "
        f"{model.cfg.image_size}, values in [0, 1], white ink on black (MNIST); "
        "normalisation (x - 0.1307) / 0.3081 is inside the graph",
        "output": f"{OUTPUT_NAME}: float32 N x {model.cfg.num_classes}; softmax gives probabilities",
        "config": json.dumps(model.cfg.to_dict()),
        "vit_edge_version": __version__,
    }
    if checkpoint is not None:
        meta["checkpoint_sha256"] = sha256(checkpoint)
    if test_accuracy is not None:
        meta["test_accuracy"] = f"{test_accuracy:.4f}"
    return meta


def set_metadata(model_proto: onnx.ModelProto, meta: dict[str, str]) -> None:
    existing = {p.key: p for p in model_proto.metadata_props}
    for key, value in meta.items():
        prop = existing.get(key) or model_proto.metadata_props.add()
        prop.key, prop.value = key, value


def save_checked(model_proto: onnx.ModelProto, out: Path) -> None:
    """Check the model fully, then write it as one file (no external data) atomically."""
    onnx.checker.check_model(model_proto, full_check=True)
    atomic_write(out, lambda tmp: onnx.save_model(model_proto, str(tmp), save_as_external_data=False))


def export_fp32(model: ViT, meta: dict[str, Any], opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export with explicit attention (a lean MatMul-Softmax-MatMul graph) and a dynamic batch.

    The exporter writes to a private temporary folder; the caller saves the checked model.
    """
    # a copy, with the conv stem's BatchNorms folded into its convolutions (no BN node in the graph)
    model = fold_batchnorm(copy.deepcopy(model)).eval().set_explicit_attention(True)
    # batch 2: an exporter may specialise a batch of 1 into a constant
    example = torch.rand(2, model.cfg.channels, model.cfg.image_size, model.cfg.image_size)
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="vit-edge-export-") as work:
            warnings.simplefilter("ignore")
            tmp = Path(work) / "model.onnx"
            torch.onnx.export(
                model,
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )
            proto = onnx.load(str(tmp))
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(
            f"--opset {opset}: the installed exporter cannot produce it ({first[:160]})"
        ) from None
    share_constants(proto)
    set_metadata(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def share_constants(proto: onnx.ModelProto, min_bytes: int = 1024) -> int:
    """One initializer for identical large Constant nodes (the exporter writes LSA's mask once per
    block): a smaller file, the same graph. Returns how many nodes were removed."""
    kept: dict[tuple, str] = {}
    renamed: dict[str, str] = {}
    nodes = []
    for node in proto.graph.node:
        tensor = node.attribute[0].t if node.op_type == "Constant" and node.attribute else None
        if tensor is None or node.attribute[0].name != "value" or len(tensor.raw_data) < min_bytes:
            nodes.append(node)
            continue
        key = (tensor.data_type, tuple(tensor.dims), tensor.raw_data)
        if key in kept:
            renamed[node.output[0]] = kept[key]
            continue
        kept[key] = node.output[0]
        nodes.append(node)
    for node in nodes:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return len(renamed)


def fold_temperature(model: ViT, temperature: float) -> ViT:
    """Divide the logits by the temperature inside the last Linear: logits / T = (W / T) h + b / T.

    No extra node in the graph, and softmax of the exported `logits` is calibrated for every consumer.
    """
    # a distilled model averages two heads: both are divided, so the average is divided too
    heads = [model.head[-1]] + ([model.head_dist] if model.cfg.distill else [])
    with torch.no_grad():
        for last in heads:
            last.weight.div_(temperature)
            last.bias.div_(temperature)
    return model
