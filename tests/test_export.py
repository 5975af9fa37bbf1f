import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import one_line_error, random_model, save_checkpoint, stable_model

from vit_edge.config import ViTConfig
from vit_edge.device.runtime import make_session
from vit_edge.export import pipeline
from vit_edge.export.parity import FP32_MAX_ABS_DIFF, check_file
from vit_edge.export.quantize import quantized_op_counts


@pytest.fixture
def small_ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(random_model(), tmp_path / "small.pt")


def test_export_checks_and_matches_pytorch_at_batch_1_and_5(small_ckpt: Path, tiny_mnist: Path):
    out = small_ckpt.with_suffix(".onnx")
    report = pipeline.run_export(small_ckpt, data_dir=str(tiny_mnist), log=lambda _: None)
    assert report["passed"] and report["data"] == "mnist-test"
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert not list(out.parent.glob("*.data")) and not list(out.parent.glob(".*tmp"))
    model = random_model()
    session = make_session(out)
    for batch in (1, 5):
        x = np.random.default_rng(batch).random((batch, 1, 28, 28), dtype=np.float32)
        got = session.run(None, {"pixels": x})[0]
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=FP32_MAX_ABS_DIFF)


def test_metadata_is_present(small_ckpt: Path, tiny_mnist: Path):
    pipeline.run_export(small_ckpt, data_dir=str(tiny_mnist), log=lambda _: None)
    meta = ort.InferenceSession(str(small_ckpt.with_suffix(".onnx"))).get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == [str(d) for d in range(10)]
    assert json.loads(meta["config"])["dim"] == 32
    assert "[0, 1]" in meta["input"] and "white ink on black" in meta["input"]
    assert len(meta["checkpoint_sha256"]) == 64 and meta["vit_edge_version"]
    # the checkpoint's accuracy on the data folder's test digits, as the FP32 file reads them
    images, labels, _ = pipeline.evaluation_set(str(tiny_mnist), False, lambda _: None, True)
    session = make_session(small_ckpt.with_suffix(".onnx"))
    logits = session.run(None, {session.get_inputs()[0].name: (images.astype(np.float32) / 255)[:, None]})[0]
    assert abs(float(meta["test_accuracy"]) - float((logits.argmax(1) == labels).mean())) <= 1 / len(labels)


def test_default_shape_int8_is_smaller_and_quantized(tmp_path: Path, tiny_mnist: Path):
    ckpt = save_checkpoint(random_model(ViTConfig(), scale=0.0), tmp_path / "default.pt")
    report = pipeline.run_export(ckpt, quantize_mode="dynamic", data_dir=str(tiny_mnist), log=lambda _: None)
    fp32, int8 = (Path(f["file"]) for f in report["files"])
    assert int8.name == "default.int8.onnx"
    assert fp32.stat().st_size / int8.stat().st_size >= 2.5
    counts = quantized_op_counts(onnx.load(str(int8)))
    assert counts.get("MatMulInteger", 0) == 6 * 4 + 3  # 4 Linears per block, patch embed, 2 head layers


def test_static_quantization_quantizes_only_weight_matmuls(small_ckpt: Path, tiny_mnist: Path):
    report = pipeline.run_export(
        small_ckpt, quantize_mode="static", data_dir=str(tiny_mnist), log=lambda _: None
    )
    int8 = onnx.load(report["files"][1]["file"])
    weights_dequantized = sum(
        1
        for n in int8.graph.node
        if n.op_type == "DequantizeLinear" and any(n.input[0] == t.name for t in int8.graph.initializer)
    )
    assert weights_dequantized == 2 * 4 + 3
    assert report["quantization"] == "static"


def test_random_inputs_when_no_data(small_ckpt: Path, tmp_path: Path):
    lines = []
    report = pipeline.run_export(
        small_ckpt, data_dir=str(tmp_path / "empty"), allow_download=False, log=lines.append
    )
    assert report["data"] == "random" and report["files"][0]["accuracy"] is None
    assert any(line.startswith("warning: no MNIST test data") for line in lines)


def test_parity_check_catches_a_mismatched_model(small_ckpt: Path, tiny_mnist: Path):
    pipeline.run_export(small_ckpt, data_dir=str(tiny_mnist), log=lambda _: None)
    pixels = np.random.default_rng(0).random((20, 1, 28, 28), dtype=np.float32)
    other = random_model(seed=1)(torch.from_numpy(pixels)).detach().numpy()
    result = check_file(small_ckpt.with_suffix(".onnx"), "fp32", other, pixels, None, None)
    assert not result.passed and "FP32 max |dlogit|" in result.failures[0]


def test_cli_mismatched_export_exits_nonzero_and_keeps_files(run_cli, small_ckpt, tiny_mnist, monkeypatch):
    real_export = pipeline.export_fp32
    monkeypatch.setattr(pipeline, "export_fp32", lambda m, *a: real_export(random_model(seed=7), *a))
    code, out, err = run_cli("export", "--checkpoint", small_ckpt, "--data-dir", tiny_mnist)
    assert code == 1
    assert "FAIL" in out and "parity check failed" in err and "FP32 max |dlogit|" in err
    assert small_ckpt.with_suffix(".onnx").exists()


def test_cli_json_report(run_cli, tmp_path: Path, tiny_mnist: Path):
    ckpt = save_checkpoint(stable_model(), tmp_path / "stable.pt")  # INT8 answers no CPU can flip
    code, out, err = run_cli("export", "--checkpoint", ckpt, "--data-dir", tiny_mnist, "--quantize", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [f["kind"] for f in report["files"]] == ["fp32", "int8"] and report["quantization"] == "dynamic"
    assert {"file", "size_kb", "accuracy", "agreement", "max_abs_diff", "latency_ms"} <= set(
        report["files"][0]
    )


def test_cli_export_errors(run_cli, small_ckpt: Path, tmp_path: Path, tiny_mnist: Path):
    code, _, err = run_cli("export", "--checkpoint", tmp_path / "missing.pt")
    assert code == 1 and "does not exist" in one_line_error(err)

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = run_cli("export", "--checkpoint", small_ckpt, "--out", blocker / "m.onnx")
    assert code == 2 and "cannot write there" in one_line_error(err)

    code, _, err = run_cli("export", "--checkpoint", small_ckpt, "--opset", "99", "--data-dir", tiny_mnist)
    assert code == 2 and "--opset 99: the installed exporter cannot produce it" in one_line_error(err)
    assert not small_ckpt.with_suffix(".onnx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no partial files"

    code, _, err = run_cli("export", "--checkpoint", small_ckpt, "--quantize", "fancy")
    assert code == 2 and "'fancy' is not one of" in one_line_error(err)


def test_no_test_never_reads_the_test_set(run_cli, small_ckpt: Path, tiny_mnist: Path, monkeypatch):
    read = []
    real_load = pipeline.load_split
    monkeypatch.setattr(pipeline, "load_split", lambda split, *a: read.append(split) or real_load(split, *a))
    code, out, err = run_cli(
        "export", "--checkpoint", small_ckpt, "--data-dir", tiny_mnist, "--no-test", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert "test" not in read
    assert report["data"] == "random" and report["torch_accuracy"] is None and report["passed"]
    assert [f["accuracy"] for f in report["files"]] == [None]
    assert "ece_before" not in report["calibration"] and "--no-test" in err


def test_the_released_shape_exports_a_lean_graph(tmp_path: Path):
    """SPT + LSA: no batch-shape arithmetic for the CLS token, LSA's mask added (no Where) and
    stored once for all six blocks, q, k and v split without squeezes; ORT runs 144 nodes (169
    before these changes, 7% slower at batch 1: docs/exporter.md)."""
    from vit_edge.config import TRAINED_MODEL
    from vit_edge.export.onnx_export import export_fp32

    model = random_model(TRAINED_MODEL, scale=0.05)
    proto = export_fp32(model, {})
    ops = [n.op_type for n in proto.graph.node]
    assert not {"Shape", "Expand", "Where", "Squeeze"} & set(ops), sorted(set(ops))
    constants = [list(n.attribute[0].t.dims) for n in proto.graph.node if n.op_type == "Constant"]
    assert constants.count([50, 50]) == 1
    path = tmp_path / "m.onnx"
    onnx.save_model(proto, str(path))
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    got = make_session(path).run(None, {"pixels": x})[0]
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=FP32_MAX_ABS_DIFF)


def test_share_constants_keeps_one_of_identical_large_constants():
    from onnx import helper, numpy_helper

    from vit_edge.export.onnx_export import share_constants

    big = numpy_helper.from_array(np.arange(400, dtype=np.float32).reshape(20, 20))
    small = numpy_helper.from_array(np.ones(2, np.float32))
    nodes = [
        helper.make_node("Constant", [], ["a"], value=big),
        helper.make_node("Constant", [], ["b"], value=big),
        helper.make_node("Constant", [], ["c"], value=small),
        helper.make_node("Constant", [], ["d"], value=small),
        helper.make_node("Add", ["a", "b"], ["ab"]),
        helper.make_node("Add", ["c", "d"], ["cd"]),
    ]
    proto = helper.make_model(helper.make_graph(nodes, "g", [], [
        helper.make_tensor_value_info("ab", onnx.TensorProto.FLOAT, [20, 20]),
        helper.make_tensor_value_info("cd", onnx.TensorProto.FLOAT, [2]),
    ]))  # fmt: skip
    assert share_constants(proto) == 1  # the 1.6 KB pair; 8-byte constants are left alone
    assert [n.output[0] for n in proto.graph.node if n.op_type == "Constant"] == ["a", "c", "d"]
    assert list(proto.graph.node[-2].input) == ["a", "a"]
