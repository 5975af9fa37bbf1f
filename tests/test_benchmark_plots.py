import json
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL_ARGS, random_model, save_checkpoint

from vit_edge import plots
from vit_edge.export import pipeline


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("bench")
    ckpt = save_checkpoint(random_model(), folder / "m.pt")
    pipeline.run_export(
        ckpt, quantize_mode="dynamic", data_dir=str(folder / "none"), allow_download=False, log=lambda _: None
    )
    return ckpt, ckpt.with_suffix(".onnx")


@pytest.mark.slow
def test_benchmark_json_measures_three_engines(run_cli, exported):
    ckpt, onnx_path = exported
    code, out, err = run_cli("benchmark", "--checkpoint", ckpt, "--model", onnx_path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [r["engine"] for r in report["results"]] == ["PyTorch eager FP32", "ORT FP32", "ORT INT8"]
    assert report["runs"] >= 500
    for r in report["results"]:
        assert 0 < r["batch1_median_ms"] <= r["batch1_p90_ms"]
        assert r["batch256_images_per_s"] > 0 and r["batch1_threads"] >= 1
    assert report["results"][0]["speedup_batch1"] == 1.0


def test_benchmark_runs_and_checkpoint_are_honoured(run_cli, exported):
    """Quick: --runs 3 is what the report says it ran, and --checkpoint's file is the PyTorch row's."""
    ckpt, onnx_path = exported
    code, out, err = run_cli("benchmark", "--checkpoint", ckpt, "--model", onnx_path, "--runs", 3, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["runs"] == 3
    first = report["results"][0]
    assert first["engine"] == "PyTorch eager FP32" and first["file"] == str(ckpt)


def test_benchmark_table_and_int8_model_finds_fp32(run_cli, exported):
    _, onnx_path = exported
    code, out, _ = run_cli("benchmark", "--model", onnx_path.with_name("m.int8.onnx"))
    assert code == 0
    assert "ORT FP32" in out and "ORT INT8" in out and "PyTorch eager" not in out


def test_benchmark_missing_model(run_cli, tmp_path: Path):
    code, _, err = run_cli("benchmark", "--model", tmp_path / "x.onnx")
    assert code == 1 and "does not exist" in err


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


@pytest.mark.skipif(not plots.available(), reason="matplotlib (the plots extra) is not installed")
def test_pictures(tmp_path: Path):
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "val_accuracy": 0.9 + e / 100}
        for e in range(1, 6)
    ]
    assert _is_png(plots.training_curves({"history": history}, tmp_path / "curves.png"))
    unvalidated = [r | {"val_loss": None, "val_accuracy": None, "lr": 1e-3 / r["epoch"]} for r in history]
    assert _is_png(plots.training_curves({"history": unvalidated}, tmp_path / "no-val.png"))
    confusion = (np.eye(10, dtype=int) * 90 + 1).tolist()
    assert _is_png(plots.confusion_matrix(confusion, tmp_path / "confusion.png"))
    images = np.zeros((20, 28, 28), np.uint8)
    labels, predictions = np.arange(20) % 10, np.zeros(20, int)
    assert _is_png(plots.mistakes_grid(images, labels, predictions, tmp_path / "mistakes.png"))


@pytest.mark.slow  # 2.5 s: the quick tier stays under 2 minutes
@pytest.mark.skipif(not plots.available(), reason="matplotlib (the plots extra) is not installed")
def test_train_and_evaluate_draw_pictures(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    code, _, err = run_cli(
        "train", "--data-dir", tiny_mnist, "--val-size", 100, "--epochs", 1, "--out", out, *SMALL_ARGS
    )
    assert code == 0
    assert f"writing {out} (kept checkpoint)" in err and f"{out.with_suffix('.curves.png')} (curves)" in err
    assert _is_png(out.with_suffix(".curves.png"))
    code, stdout, err = run_cli("evaluate", "--checkpoint", out, "--data-dir", tiny_mnist, "--json")
    assert code == 0 and f"wrote {out.with_suffix('.confusion.png')}" in err
    assert [Path(p).name for p in json.loads(stdout)["pictures"]] == ["m.confusion.png", "m.mistakes.png"]
    assert _is_png(out.with_suffix(".confusion.png")) and _is_png(out.with_suffix(".mistakes.png"))


@pytest.mark.skipif(not plots.available(), reason="matplotlib (the plots extra) is not installed")
def test_curves_show_a_short_run_and_whole_epochs(tmp_path: Path, monkeypatch):
    """A 27% run must not be clipped by a 90-100% axis, and epochs are whole numbers."""
    import matplotlib.pyplot as plt

    captured = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: captured.setdefault("fig", fig) and path)
    history = [
        {"epoch": e, "train_loss": 2.0, "val_loss": 2.0, "val_accuracy": a} for e, a in ((1, 0.12), (2, 0.27))
    ]
    plots.training_curves({"history": history}, tmp_path / "c.png")
    loss_ax, acc_ax = captured["fig"].axes
    low, high = acc_ax.get_ylim()
    assert low <= 12 and high == 100
    assert all(float(t).is_integer() for t in acc_ax.get_xticks())
    plt.close(captured["fig"])
