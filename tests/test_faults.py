"""Faults and hostile input (issue 18): one line on stderr, the right exit status, no traceback,
and every file that existed before keeps its md5. One section per kind of fault."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers import SMALL_ARGS as SMALL
from helpers import md5s, one_line_error, random_model, save_checkpoint, stable_model
from onnx import TensorProto, helper
from PIL import Image

from vit_edge import checkpoint
from vit_edge.export import pipeline

VIT_EDGE = str(Path(sys.executable).parent / "vit-edge")


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return save_checkpoint(random_model(), tmp_path / "small.pt")


@pytest.fixture
def digit(tmp_path: Path) -> Path:
    img = np.full((60, 60), 255, np.uint8)
    img[10:50, 25:32] = 0
    Image.fromarray(img).save(tmp_path / "digit.png")
    return tmp_path / "digit.png"


# --- 1. export never destroys a file: --out equal to an input, planted links and folders


def test_export_refuses_to_overwrite_its_checkpoint(run_cli, ckpt: Path, tmp_path: Path):
    before = md5s(tmp_path)
    for out in (ckpt, tmp_path / "." / ckpt.name):
        code, _, err = run_cli("export", "--checkpoint", ckpt, "--out", out)
        assert code == 2 and "is the checkpoint itself" in one_line_error(err)
        assert md5s(tmp_path) == before  # the checkpoint is byte for byte what it was
    link = tmp_path / "link.onnx"
    link.symlink_to(ckpt)
    before = md5s(tmp_path)
    code, _, err = run_cli("export", "--checkpoint", ckpt, "--out", link)
    assert code == 2 and "is the checkpoint itself" in one_line_error(err)
    assert md5s(tmp_path) == before


def test_export_ignores_planted_links_and_folders_at_temporary_names(run_cli, tmp_path, tiny_mnist):
    ckpt = save_checkpoint(stable_model(), tmp_path / "stable.pt")  # INT8 answers no CPU can flip
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out" / "m.onnx"
    out.parent.mkdir()
    (out.parent / ".m.onnx.export.tmp").symlink_to(victim)  # the old fixed name
    (out.parent / ".m.int8.onnx.export.tmp").mkdir()
    (out.parent / ".m.onnx.abcdefgh.tmp").symlink_to(victim)  # this project's naming, as a link
    before = md5s(tmp_path)
    code, _, err = run_cli(
        "export", "--checkpoint", ckpt, "--out", out, "--quantize", "--data-dir", tiny_mnist
    )
    assert code == 0, err
    after = md5s(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert victim.read_text() == "precious" and out.is_file() and out.with_name("m.int8.onnx").is_file()


def test_atomic_write_never_follows_a_link_or_leaves_a_partial_file(tmp_path: Path):
    from vit_edge.device.fileio import atomic_write

    target = tmp_path / "t.json"
    target.write_text("old")

    def fail(tmp: Path):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(folder, lambda tmp: tmp.write_text("x"))


# --- 2. predict checks the model's contract when it loads it


def _model(path: Path, x_type=TensorProto.FLOAT, x_shape=("N", 1, 28, 28), y_shape=("N", 10), body=None):
    """A tiny ONNX model: y = ReduceMean-free stand-in built with onnx.helper."""
    nodes = body or [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["y"]),
    ]
    width = y_shape[-1] if isinstance(y_shape[-1], int) else 10
    inits = [
        helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
        helper.make_tensor("ends", TensorProto.INT64, [1], [width]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", x_type, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
        inits if body is None else [],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(
    ("name", "kwargs", "text"),
    [
        ("five", {"y_shape": ("N", 5)}, "gives output of shape [1, 5]"),
        ("one", {"y_shape": ("N", 1)}, "gives output of shape [1, 1]"),
        ("thousand", {"y_shape": ("N", 1000)}, "gives output of shape"),
        ("rank4", {"y_shape": ("N", 10, 1, 1)}, "gives output of shape"),
        ("uint8", {"x_type": TensorProto.UINT8}, "takes tensor(uint8)"),
        ("half", {"x_type": TensorProto.FLOAT16}, "takes tensor(float16)"),
        ("rgb", {"x_shape": ("N", 3, 28, 28)}, "takes input of shape ['N', 3, 28, 28]"),
    ],
)
def test_predict_refuses_models_of_another_contract(run_cli, digit: Path, tmp_path: Path, name, kwargs, text):
    shape = [1 if d == "N" else d for d in kwargs.get("y_shape", (1, 10))]
    zeros = helper.make_tensor("c", TensorProto.FLOAT, shape, [0.0] * int(np.prod(shape)))
    model = _model(
        tmp_path / f"{name}.onnx", body=[helper.make_node("Constant", [], ["y"], value=zeros)], **kwargs
    )
    before = md5s(tmp_path)
    code, out, err = run_cli("predict", digit, "--model", model)
    assert code == 1 and out == ""
    line = one_line_error(err)
    assert text in line and "expected one float32 input N x 1 x 28 x 28 and one output N x 10" in line
    assert md5s(tmp_path) == before


def test_predict_runs_a_model_with_a_fixed_batch_of_one(run_cli, digit: Path, tmp_path: Path):
    model = _model(tmp_path / "b1.onnx", x_shape=(1, 1, 28, 28), y_shape=(1, 10))
    code, out, err = run_cli("predict", digit, digit, digit, "--model", model, "--json")
    assert code == 0, err
    assert len([json.loads(line) for line in out.strip().splitlines()]) == 3


def test_non_finite_outputs_are_an_error_row_not_an_answer(run_cli, digit: Path, tmp_path: Path):
    nan = [
        helper.make_node(
            "Constant", [], ["c"], value=helper.make_tensor("v", 1, [1, 10], [float("nan")] * 10)
        )
    ]
    nan += [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "c"], ["y0"]),
        helper.make_node("Expand", ["y0", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nan + [helper.make_node("Shape", ["x"], ["xs"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
    )
    # y = nan for every row: Expand a 1 x 10 row of nan to N x 10 using the batch of x
    graph.node.insert(0, helper.make_node("Shape", ["x"], ["full"]))
    graph.node.insert(1, helper.make_node("Slice", ["full", "zero", "one"], ["n"]))
    graph.node.insert(2, helper.make_node("Concat", ["n", "ten"], ["shape"], axis=0))
    graph.initializer.extend(
        [
            helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            helper.make_tensor("one", TensorProto.INT64, [1], [1]),
            helper.make_tensor("ten", TensorProto.INT64, [1], [10]),
        ]
    )
    path = tmp_path / "nan.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, err = run_cli("predict", digit, "--model", path, "--json")
    assert code == 1 and json.loads(out)["error"].startswith("the model gave non-finite outputs")
    code, out, err = run_cli("predict", digit, "--model", path)
    assert code == 1 and out == "" and "non-finite outputs" in one_line_error(err.split("\n", 1)[1])


# --- 3. no tracebacks from bad, foreign or mismatched checkpoints, or unwritable outputs


def _bad_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Files that are not usable checkpoints, and the reason each must be refused with."""
    import pickle
    from fractions import Fraction  # a class outside torch's weights-only allow-list

    cases = {
        "empty": (b"", "is unreadable (empty file)"),
        "text": (b"not a checkpoint at all", "is unreadable (not a PyTorch checkpoint file)"),
        "zip stub": (b"PK\x03\x04truncated", "is unreadable (truncated or damaged file)"),
        "truncated": (good.read_bytes()[:2000], "is unreadable (truncated or damaged file)"),
        "plain pickle": (pickle.dumps({"format": "vit-edge-checkpoint"}), "a plain pickle, not a PyTorch"),
    }
    out = {}
    for name, (content, reason) in cases.items():
        path = folder / f"{name.replace(' ', '-')}.pt"
        path.write_bytes(content)
        out[name] = (path, reason)
    for name, obj, reason in (
        ("foreign", {"state_dict": {"w": torch.zeros(2)}}, "is not a vit-edge checkpoint"),
        ("objects", {"format": "vit-edge-checkpoint", "x": Fraction(1, 3)}, "holds Python objects other"),
    ):
        torch.save(obj, folder / f"{name}.pt")
        out[name] = (folder / f"{name}.pt", reason)
    return out


@pytest.mark.parametrize("command", ["evaluate", "export", "train --resume"])
def test_bad_checkpoints_get_one_line_and_change_nothing(run_cli, command, ckpt, tmp_path, tiny_mnist):
    for name, (path, reason) in _bad_checkpoints(tmp_path, ckpt).items():
        before = md5s(tmp_path)
        if command == "train --resume":
            args = ["train", "--resume", "--out", path, "--data-dir", tiny_mnist, "--val-size", 100, *SMALL]
        else:
            args = [command, "--checkpoint", path, "--data-dir", tiny_mnist]
        code, _, err = run_cli(*args)
        assert code == 1 and reason in one_line_error(err), (name, err)
        assert md5s(tmp_path) == before, name


def _train_args(tiny_mnist: Path, out: Path, epochs: int = 1) -> list:
    return ["train", "--data-dir", tiny_mnist, "--val-size", 100, "--out", out, "--epochs", epochs, *SMALL]


def test_resume_with_mismatched_weights(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    assert run_cli(*_train_args(tiny_mnist, out))[0] == 0
    out.with_suffix(".last.pt").unlink()
    state = torch.load(out, weights_only=True)
    for label, change in (
        ("misses", lambda s: s["raw_model"].pop("norm.weight")),
        ("has wrongly shaped", lambda s: s["raw_model"].__setitem__("norm.weight", torch.zeros(3))),
        ("has unexpected", lambda s: s["raw_model"].__setitem__("extra", torch.zeros(3))),
    ):
        broken = {**state, "raw_model": dict(state["raw_model"])}
        change(broken)
        torch.save(broken, out)
        before = md5s(tmp_path)
        code, _, err = run_cli(*_train_args(tiny_mnist, out, 2), "--resume")
        assert code == 1 and f"weights do not match the model in its config: {label}" in one_line_error(err)
        assert md5s(tmp_path) == before


@pytest.mark.parametrize("config", [[1, 2], "dim=64", None, 7])
def test_checkpoint_whose_config_is_not_a_mapping(run_cli, tmp_path: Path, config, tiny_mnist: Path):
    path = tmp_path / "odd.pt"
    checkpoint.save(path, {"config": config, "model": random_model().state_dict()})
    before = md5s(tmp_path)
    for args in (
        ["export", "--checkpoint", path],
        ["evaluate", "--checkpoint", path, "--data-dir", tiny_mnist],
    ):
        code, _, err = run_cli(*args)
        assert code == 1 and "config is not a mapping" in one_line_error(err)
    assert md5s(tmp_path) == before


def test_train_out_unwritable_fails_before_loading_data(run_cli, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("train", "--data-dir", tmp_path / "no-data", "--out", blocker / "m.pt")
    # refused before the data: had it loaded, the missing data folder would be the error instead
    assert code == 2 and f"({blocker} is a file, not a folder)" in one_line_error(err)
    assert blocker.read_text() == "x"


# --- 4. options that make no sense are refused up front (usage errors, exit 2)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["train", "--degrees", "nan"], "'nan' is not a finite number"),
        (["train", "--lr", "inf"], "'inf' is not a finite number"),
        (["train", "--elastic", "-inf"], "'-inf' is not a finite number"),
        (["train", "--mlp-ratio", "inf"], "'inf' is not a finite number"),
        (["train", "--val-size", "60000"], "--val-size must be in [0, 59999]"),
        (["train", "--threads", "100000"], "--threads 100000: must be between 1 and the"),
        (["predict", "x.png", "--threads", "100000"], "--threads 100000: must be between 1 and the"),
        (["predict", "x.png", "--min-confidence", "nan"], "'nan' is not a finite number"),
        (["export", "--temperature", "nan"], "'nan' is not a finite number"),
        (["export", "--temperature", "0"], "--temperature 0.0: must be a positive number"),
    ],
)
def test_nonsense_options_are_usage_errors(run_cli, args, text, tmp_path: Path, ckpt: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if args[0] == "export":
        args = [*args, "--checkpoint", ckpt]
    before = md5s(tmp_path)
    # a missing data folder: had the data been loaded first, that would be the error
    code, _, err = run_cli(*args, *(["--data-dir", tmp_path / "none"] if args[0] == "train" else []))
    assert code == 2 and text in one_line_error(err)
    assert md5s(tmp_path) == before


# --- 5. messages say what is true, in one line


def _default_sigint() -> None:
    # A background job (`trap "" INT`, nohup) starts with SIGINT ignored, and a child inherits that:
    # Python would then never raise KeyboardInterrupt. Ctrl-C at a terminal is what these tests mean.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(args: list, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [VIT_EDGE, *map(str, args)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,
        **kw,
    )


def _wait_for(proc: subprocess.Popen, text: str, seen: list[str]) -> None:
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never came: {''.join(seen)}")


def _finish(proc: subprocess.Popen, seen: list[str]) -> tuple[int, list[str]]:
    seen += proc.stderr.readlines()
    return proc.wait(timeout=120), [line.rstrip("\n") for line in seen]


@pytest.mark.slow
def test_sigint_before_the_first_checkpoint_says_nothing_was_saved(tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    proc = _spawn(["train", "--data-dir", tiny_mnist, "--val-size", 100, "--out", out, "--epochs", 50])
    seen: list[str] = []
    _wait_for(proc, "train / 100 val images", seen)
    proc.send_signal(signal.SIGINT)
    code, lines = _finish(proc, seen)
    assert code == 130 and not any("Traceback" in line for line in lines)
    assert lines[-1].startswith("vit-edge: error: interrupted before the first checkpoint: nothing was saved")
    assert "without --resume" in lines[-1] and not list(tmp_path.glob("m.*"))


@pytest.mark.slow
def test_sigint_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(tiny_mnist: Path, tmp_path: Path):
    """Resume is exact: the interrupted-and-resumed run ends with the same metrics to the last digit."""
    args = ["train", "--data-dir", tiny_mnist, "--val-size", 100, "--epochs", 4, *SMALL, "--dropout", "0.1"]
    straight = tmp_path / "straight.pt"
    assert subprocess.run([VIT_EDGE, *map(str, args), "--out", straight], capture_output=True).returncode == 0

    out = tmp_path / "resumed.pt"
    proc = _spawn([*args, "--out", out])
    seen: list[str] = []
    _wait_for(proc, "epoch 1/4", seen)
    proc.send_signal(signal.SIGINT)
    code, lines = _finish(proc, seen)
    if code == 0:
        pytest.skip("the run finished before the signal arrived")
    assert code == 130 and not any("Traceback" in line for line in lines)
    assert "are saved" in lines[-1] and "rerun the same command with --resume" in lines[-1]
    before = md5s(tmp_path)
    result = subprocess.run(
        [VIT_EDGE, *map(str, args), "--out", out, "--resume"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert md5s(tmp_path)[str(straight)] == before[str(straight)]

    def history(path: Path) -> list[tuple]:
        rows = json.loads(path.with_suffix(".metrics.json").read_text())["history"]
        return [(r["epoch"], r["train_loss"], r["val_accuracy"], r["val_loss"], r["lr"]) for r in rows]

    assert history(out) == history(straight)


# --- 6. a run killed while saving leaves a temporary file; the next start removes it


@pytest.mark.slow
def test_sigkill_while_saving_leaves_no_lasting_leftover(tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    killer = (
        "import os, signal, sys, torch\n"
        "real, calls = torch.save, []\n"
        "def dying(obj, f, *a, **k):\n"
        "    calls.append(1)\n"
        "    real(obj, f, *a, **k)\n"
        "    if len(calls) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = dying\n"
        "from vit_edge.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    args = _train_args(tiny_mnist, out, 2)
    dead = subprocess.run([sys.executable, "-c", killer, *map(str, args)], capture_output=True)
    assert dead.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.glob(".m.last.pt.*.tmp"))
    assert len(leftovers) == 1 and out.exists()
    result = subprocess.run([VIT_EDGE, *map(str, args), "--resume"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"removed {leftovers[0]}, left by an interrupted save" in result.stderr
    assert not list(tmp_path.glob(".*.tmp"))


# --- 7. static quantization with no training data leaves nothing behind


def test_static_quantization_without_training_data_writes_nothing(run_cli, ckpt: Path, tmp_path: Path):
    before = md5s(tmp_path)
    code, _, err = run_cli(
        "export",
        "--checkpoint",
        ckpt,
        "--quantize",
        "static",
        "--data-dir",
        tmp_path / "none",
        "--no-download",
    )
    assert code == 1 and "static quantization needs MNIST training images" in one_line_error(err)
    assert md5s(tmp_path) == before


# --- 9. a model that failed its parity check says so in its own metadata, and predict warns


def test_failed_parity_is_recorded_and_predict_warns(run_cli, ckpt, tmp_path, tiny_mnist, digit, monkeypatch):
    real_export = pipeline.export_fp32
    monkeypatch.setattr(pipeline, "export_fp32", lambda m, *a: real_export(random_model(seed=7), *a))
    code, _, err = run_cli("export", "--checkpoint", ckpt, "--data-dir", tiny_mnist, "--quantize")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "parity check failed: FP32 max |dlogit|" in last and "train longer" in last
    for name, figure in (("small.onnx", "FP32 max |dlogit|"), ("small.int8.onnx", "INT8 argmax agreement")):
        meta = {p.key: p.value for p in onnx.load(str(tmp_path / name)).metadata_props}
        assert meta["parity"] == "fail" and figure in meta["parity_detail"]
    code, out, err = run_cli("predict", digit, "--model", tmp_path / "small.onnx")
    assert code == 0 and out.count("\n") == 1
    assert "warning:" in err and "FAILED its parity check at export (FP32 max |dlogit|" in err

    monkeypatch.undo()
    code, _, err = run_cli("export", "--checkpoint", ckpt, "--data-dir", tiny_mnist, "--skip-parity")
    assert code == 0
    assert {p.key: p.value for p in onnx.load(str(tmp_path / "small.onnx")).metadata_props}[
        "parity"
    ] == "skipped"
    code, _, err = run_cli("predict", digit, "--model", tmp_path / "small.onnx")
    assert code == 0 and "skipped the parity check" in err


def test_a_model_that_fails_when_run_is_one_line(tmp_path: Path):
    """A graph that passes the contract (float32 N x 1 x 28 x 28 -> N x 10) but whose Reshape cannot
    apply to 784 values: one line naming the model, exit 1, no ORT log lines and no traceback."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 157])
    w = helper.make_tensor("w", TensorProto.FLOAT, [157, 10], [0.0] * 1570)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["pixels", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "cannot-run",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [shape, w],
    )
    model = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    image = tmp_path / "digit.png"
    Image.fromarray(np.pad(np.full((20, 4), 255, np.uint8), ((4, 4), (12, 12)))).save(image)
    run = subprocess.run(
        [VIT_EDGE, "predict", "--model", str(model), str(image)], capture_output=True, text=True
    )
    errors = [line for line in run.stderr.splitlines() if not line.startswith("model: ")]
    assert run.returncode == 1 and run.stdout == "", run
    assert len(errors) == 1 and errors[0].startswith(f"vit-edge: error: model {model} failed to run"), errors
    assert "cannot be reshaped" in errors[0] and "onnxruntime" not in run.stderr.replace(str(model), "")
