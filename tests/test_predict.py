"""`vit-edge predict`: output formats, batching, and bad input (a small exported model stands in)."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import one_line_error, random_model, save_checkpoint
from PIL import Image

from vit_edge.device import runtime
from vit_edge.export import pipeline


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    ckpt = save_checkpoint(random_model(), folder / "small.pt")
    pipeline.run_export(ckpt, data_dir=str(folder / "no-data"), allow_download=False, log=lambda _: None)
    return ckpt.with_suffix(".onnx")


def strokes(folder: Path, n: int, step: int, width: int, name: str = "digit") -> Path:
    """n images of one dark vertical stroke (a "1"), each `step` px further right."""
    folder.mkdir()
    for i in range(n):
        img = np.full((60, 60), 255, np.uint8)
        img[10:50, 20 + step * i : 20 + width + step * i] = 0
        Image.fromarray(img).save(folder / f"{name}{i}.png")
    return folder


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = strokes(tmp_path / "imgs", 3, 5, 10)
    (folder / "notes.txt").write_text("not an image, not listed")
    return folder


def test_plain_output_one_line_per_image(run_cli, small_onnx: Path, images: Path):
    code, out, err = run_cli(
        "predict", images / "digit0.png", images / "digit1.png", "--model", small_onnx, "--min-confidence", 0
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    path, digit, confidence = lines[0].split("\t")
    assert path.endswith("digit0.png") and 0 <= int(digit) <= 9 and 0 < float(confidence) <= 1
    assert f"model: {small_onnx}" in err


def test_uncertain_answers_are_marked(run_cli, small_onnx: Path, images: Path):
    code, out, _ = run_cli("predict", images, "--model", small_onnx, "--min-confidence", 1)
    assert code == 0 and all(line.endswith("\t?") for line in out.strip().splitlines())
    code, out, _ = run_cli("predict", images, "--model", small_onnx, "--json", "--min-confidence", 1)
    assert [json.loads(line)["uncertain"] for line in out.strip().splitlines()] == [True] * 3
    code, out, _ = run_cli("predict", images, "--model", small_onnx, "--json", "--min-confidence", 0)
    assert [json.loads(line)["uncertain"] for line in out.strip().splitlines()] == [False] * 3


def test_save_input_writes_the_model_inputs(run_cli, small_onnx: Path, images: Path, tmp_path: Path):
    from vit_edge.device.preprocess import preprocess

    code, _, err = run_cli("predict", images, "--model", small_onnx, "--save-input", tmp_path / "seen")
    assert code == 0 and f"writing the 28x28 model inputs to {tmp_path / 'seen'}" in err
    written = sorted(p.name for p in (tmp_path / "seen").iterdir())
    assert written == ["digit0.png", "digit1.png", "digit2.png"]
    saved = np.asarray(Image.open(tmp_path / "seen" / "digit1.png"), dtype=np.float32) / 255
    assert saved.shape == (28, 28)
    np.testing.assert_allclose(saved, preprocess(images / "digit1.png"), atol=0.5 / 255 + 1e-6)


def test_top_k_and_directory(run_cli, small_onnx: Path, images: Path):
    code, out, _ = run_cli("predict", images, "--model", small_onnx, "--top-k", 4)
    assert code == 0
    lines = out.strip().splitlines()
    assert [Path(line.split("\t")[0]).name for line in lines] == ["digit0.png", "digit1.png", "digit2.png"]
    top = lines[0].split("\t")[3].split()
    assert len(top) == 4 and top[0].split(":")[0] == lines[0].split("\t")[1]


def test_json_lines(run_cli, small_onnx: Path, images: Path):
    code, out, _ = run_cli("predict", images, "--model", small_onnx, "--json", "--top-k", 2)
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert isinstance(row["prediction"], int) and 0 <= row["confidence"] <= 1
        assert len(row["top_k"]) == 2 and row["top_k"][0] == [row["prediction"], row["confidence"]]
        probabilities = [p for _, p in row["top_k"]]
        assert probabilities == sorted(probabilities, reverse=True)


def test_bad_images_do_not_stop_the_others(run_cli, small_onnx: Path, images: Path, tmp_path: Path):
    (tmp_path / "text.png").write_text("hello")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    args = [images / "digit0.png", tmp_path / "missing.png", tmp_path / "text.png", tmp_path / "blank.png"]
    code, out, err = run_cli("predict", *args, "--model", small_onnx, "--json")
    assert code == 1 and "Traceback" not in err
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert "prediction" in rows[0]
    assert [r.get("error", "")[:12] for r in rows[1:]] == ["no such file", "not an image", "blank image:"]

    code, out, err = run_cli("predict", *args, "--model", small_onnx)
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert sum("vit-edge: error:" in line for line in err.splitlines()) == 3


def test_a_folder_without_images_is_an_error_not_silence(run_cli, small_onnx: Path, images: Path, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no digits here")
    code, out, err = run_cli("predict", empty, images / "digit0.png", "--model", small_onnx)
    assert code == 1 and len(out.strip().splitlines()) == 1
    assert f"vit-edge: error: {empty}: folder holds no image files" in err.splitlines()

    code, out, _ = run_cli("predict", empty, "--model", small_onnx, "--json")
    assert code == 1
    assert json.loads(out) == {"path": str(empty), "error": "folder holds no image files"}


def test_batches_match_single_calls(small_onnx: Path, images: Path):
    session = runtime.make_session(small_onnx)
    paths = runtime.expand_inputs([str(images)]) * 3
    batched = list(runtime.predict_files(session, paths, top_k=10, batch_size=4))
    single = [next(runtime.predict_files(session, [p], top_k=10)) for p in paths]
    assert batched == single  # exactly: every image runs alone, whatever the batch size


def test_one_image_per_ort_call(small_onnx: Path, images: Path, monkeypatch):
    """Dynamic INT8 quantizes a call's activations with one scale, so a batch would let one image's
    answer depend on the others: each image gets its own call."""
    calls = []
    session = runtime.make_session(small_onnx)
    real_run = runtime.run_logits
    monkeypatch.setattr(runtime, "run_logits", lambda s, x, b: calls.append(len(x)) or real_run(s, x, b))
    list(runtime.predict_files(session, runtime.expand_inputs([str(images)]) * 5, batch_size=8))
    assert calls == [1] * 15


def test_bad_model_files(run_cli, images: Path, tmp_path: Path, small_onnx: Path):
    img = images / "digit0.png"
    code, _, err = run_cli("predict", img, "--model", tmp_path / "none.onnx")
    assert code == 1 and err.strip() == f"vit-edge: error: model {tmp_path / 'none.onnx'} does not exist"
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage")
    code, _, err = run_cli("predict", img, "--model", tmp_path / "junk.onnx")
    assert code == 1 and "is not a readable ONNX model" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "half.onnx").write_bytes(small_onnx.read_bytes()[:5000])
    code, _, err = run_cli("predict", img, "--model", tmp_path / "half.onnx")
    assert code == 1 and "is not a readable ONNX model" in err and len(err.strip().splitlines()) == 1


def test_model_with_wrong_input_shape(run_cli, images: Path, tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 32, 32])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "rgb.onnx")
    code, _, err = run_cli("predict", images / "digit0.png", "--model", tmp_path / "rgb.onnx")
    assert code == 1 and "expected one float32 input N x 1 x 28 x 28 and one output N x 10" in err


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ([], "Missing argument 'INPUTS...'"),
        (["x.png", "--top-k", "11"], "11 is not in the range 1<=x<=10"),
        (["x.png", "--threads", "0"], "0 is not in the range x>=1"),
    ],
)
def test_usage_errors_exit_2(run_cli, args, text):
    """One error line, after Click's usage line and where to read more."""
    code, _, err = run_cli("predict", *args)
    assert code == 2 and text in one_line_error(err) and err.startswith("Usage: vit-edge predict")


def test_batch_size_is_how_many_images_are_read_before_answers(run_cli, small_onnx, tmp_path, monkeypatch):
    """--batch-size 2 on 5 images: two reads, two answers, two reads, two answers, one and one
    (the default reads all 5 first); -v adds the model's metadata, as one JSON line."""
    import click

    from vit_edge.device import preprocess

    folder = strokes(tmp_path / "five", 5, 3, 8, "d")
    events: list[str] = []
    real_read, real_echo = preprocess.read, click.echo
    monkeypatch.setattr(preprocess, "read", lambda path: events.append("R") or real_read(path))

    def echo(message=None, *args, err=False, **kwargs):
        events.append("E" if not err else "")
        return real_echo(message, *args, err=err, **kwargs)

    monkeypatch.setattr(click, "echo", echo)
    code, out, err = run_cli("predict", folder, "--model", small_onnx, "--batch-size", 2)
    assert code == 0, err
    assert "".join(events) == "RREERREERE" and len(out.splitlines()) == 5
    events.clear()
    code, _, err = run_cli("predict", folder, "--model", small_onnx, "-v")
    assert code == 0 and "".join(events) == "RRRRREEEEE"
    meta = json.loads(next(x for x in err.splitlines() if x.startswith("model metadata: "))[16:])
    assert meta == runtime.metadata(runtime.make_session(small_onnx))
    events.clear()
    assert "model metadata" not in run_cli("predict", folder, "--model", small_onnx)[2]
