"""FP32 ONNX -> INT8 ONNX with onnxruntime.quantization: dynamic (default) or static QDQ.

Only the weight-bearing MatMuls are quantized; LayerNorm, Softmax, GELU and the residual Adds stay
float, which is where transformer INT8 accuracy is usually lost.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_export import set_metadata

MODES = ("dynamic", "static")


def int8_path(fp32_path: Path) -> Path:
    """model.onnx -> model.int8.onnx, beside it."""
    return fp32_path.with_name(f"{fp32_path.stem}.int8{fp32_path.suffix}")


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite Gemm(A, W, b) with constant W into MatMul + Add, which dynamic quantization supports.

    ORT's dynamic quantizer has no Gemm kernel, so the 2-D Linears the exporter writes as Gemm
    would otherwise stay FP32. Returns how many Gemms were rewritten.
    """
    inits = {t.name: t for t in model.graph.initializer}
    nodes, rewritten = [], 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA")
        if node.op_type != "Gemm" or node.input[1] not in inits or not plain:
            nodes.append(node)
            continue
        weight = inits[node.input[1]]
        if attrs.get("transB"):
            w = numpy_helper.to_array(weight).T.copy()
            weight.CopyFrom(numpy_helper.from_array(w, weight.name))
        product = f"{node.output[0]}_matmul"
        nodes.append(helper.make_node("MatMul", [node.input[0], node.input[1]], [product], node.name + "_mm"))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(
                helper.make_node("Add", [product, node.input[2]], [node.output[0]], node.name + "_add")
            )
        else:
            nodes[-1].output[0] = node.output[0]
        rewritten += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return rewritten


class _Calibration:
    """Feeds calibration batches to quantize_static."""

    def __init__(self, input_name: str, pixels: np.ndarray, batch: int = 50):
        self.batches = iter({input_name: pixels[i : i + batch]} for i in range(0, len(pixels), batch))

    def get_next(self):
        return next(self.batches, None)


def quantize_proto(
    fp32: onnx.ModelProto,
    mode: str = "dynamic",
    calibration: np.ndarray | None = None,
    meta: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """The INT8 model of an FP32 model, with the same metadata plus its mode (checked, not saved)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise ValueError(f"quantization mode {mode!r} not in {MODES}")
    with tempfile.TemporaryDirectory(prefix="vit-edge-quant-") as work:
        work_dir = Path(work)
        model = onnx.ModelProto()
        model.CopyFrom(fp32)
        gemm_to_matmul(model)
        onnx.save_model(model, str(work_dir / "matmul.onnx"))
        # skip_optimization: ORT's optimizer would fuse MatMul + Add back into Gemm
        quant_pre_process(str(work_dir / "matmul.onnx"), str(work_dir / "pre.onnx"), skip_optimization=True)
        common = dict(
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=weight_matmuls(onnx.load(str(work_dir / "pre.onnx"))),
            extra_options={"MatMulConstBOnly": True},
        )
        if mode == "dynamic":
            quantize_dynamic(
                work_dir / "pre.onnx", work_dir / "int8.onnx", weight_type=QuantType.QInt8, **common
            )
        else:
            name = model.graph.input[0].name
            quantize_static(
                work_dir / "pre.onnx",
                work_dir / "int8.onnx",
                _Calibration(name, calibration),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                **common,
            )
        int8 = onnx.load(str(work_dir / "int8.onnx"))
    set_metadata(int8, {**(meta or {}), "quantization": mode})
    onnx.checker.check_model(int8, full_check=True)
    return int8


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMuls whose second input is a weight, not an activation (attention's QK, AV)."""
    inits = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]


def quantized_op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each quantized kind the graph holds (to catch a silent no-op quantization)."""
    kinds = (
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QLinearMatMul",
    )
    counts = {k: 0 for k in kinds}
    for node in model.graph.node:
        if node.op_type in counts:
            counts[node.op_type] += 1
    return {k: v for k, v in counts.items() if v}
