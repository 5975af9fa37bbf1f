"""The release in models/: what issue 5 asks of it, checked against the files themselves."""

from __future__ import annotations

import hashlib
import json

import onnxruntime as ort
import pytest
from conftest import ROOT

MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((MODELS / "metrics.json").read_text())


def test_release_files_are_there_and_small():
    for name in ("vit-edge.onnx", "vit-edge.int8.onnx", "vit-edge.pt", "metrics.json", "MODEL_CARD.md"):
        assert (MODELS / name).stat().st_size > 0, name
    assert (MODELS / "vit-edge.pt").stat().st_size <= 5 * 1024 * 1024


def test_metrics_hold_what_the_model_card_needs(metrics: dict):
    assert metrics["params"] <= 1_000_000
    assert metrics["flops_per_image"] > 0
    assert metrics["training"]["command"].startswith("vit-edge train")
    assert metrics["training"]["train_seconds"] > 0
    assert {"cpu", "cores", "torch", "onnxruntime"} <= metrics["hardware"].keys()
    test = metrics["test"]
    assert test["n"] == 10_000
    assert abs(test["fp32_accuracy"] - test["int8_accuracy"]) <= 0.001  # INT8 within 0.1 pp of FP32
    assert abs(test["fp32_accuracy"] - test["pytorch_accuracy"]) <= 0.0001
    assert all(p["passed"] for p in metrics["parity"])
    engines = [r["engine"] for r in metrics["benchmark"]["results"]]
    assert engines == ["PyTorch eager FP32", "ORT FP32", "ORT INT8"]


def test_metrics_sizes_match_the_files(metrics: dict):
    files = {"fp32": "vit-edge.onnx", "int8": "vit-edge.int8.onnx", "checkpoint": "vit-edge.pt"}
    for key, name in files.items():
        assert metrics["sizes_kb"][key] == pytest.approx((MODELS / name).stat().st_size / 1024, abs=0.1), key


def test_metrics_name_files_relative_to_the_repository(metrics: dict):
    text = json.dumps(metrics)
    assert str(ROOT) not in text
    files = [p["file"] for p in metrics["parity"]] + [r["file"] for r in metrics["benchmark"]["results"]]
    assert all((ROOT / f).is_file() for f in files), files


def test_onnx_files_were_exported_from_the_packaged_checkpoint():
    sha = hashlib.sha256((MODELS / "vit-edge.pt").read_bytes()).hexdigest()
    for name in ("vit-edge.onnx", "vit-edge.int8.onnx"):
        meta = ort.InferenceSession(str(MODELS / name)).get_modelmeta().custom_metadata_map
        assert meta["checkpoint_sha256"] == sha, name


def test_model_card_quotes_the_metrics(metrics: dict):
    card = (MODELS / "MODEL_CARD.md").read_text()
    assert metrics["training"]["command"] in card
    assert metrics["training"]["hardware"] in card  # where it trained, e.g. a GPU rather than this CPU
    assert f"{100 * metrics['test']['int8_accuracy']:.2f}%" in card
    assert f"{metrics['params']:,}" in card


def test_release_was_trained_with_the_recipe_its_command_names(metrics: dict):
    """`vit-edge train --recipe NAME [options]` must still give the options the released run trained with
    (the last command, when the release is a fine-tune of an earlier run: `A && B`)."""
    from vit_edge.config import RECIPES, TRAINED_MODEL, TrainConfig

    words = metrics["training"]["command"].split(" && ")[-1].split()
    given = {k.lstrip("-").replace("-", "_"): v for k, v in zip(words[2::2], words[3::2], strict=True)}
    options = RECIPES[given.pop("recipe", "default")] | {
        k: v for k, v in given.items() if k not in ("data_dir", "device", "threads", "out", "init")
    }
    trained = metrics["config"] | metrics["training"]["recipe"]
    for option, value in options.items():
        assert trained[option] == type(trained[option])(value), option
    defaults = TRAINED_MODEL.to_dict() | vars(TrainConfig())
    rest = (
        "lr",
        "batch_size",
        "patch_size",
        "depth",
        "heads",
        "label_smoothing",
        "ema_decay",
        "val_size",
        "spt",
        "lsa",
        "distill",
        "epochs",
    )
    for option in rest:
        if option not in options:
            assert trained[option] == defaults[option], option  # the rest are the defaults
    assert metrics["training"]["epochs"] == trained["epochs"]  # trained to the end


def test_readme_results_quote_the_release(metrics: dict):
    readme = (ROOT / "README.md").read_text()
    assert f"**{100 * metrics['test']['fp32_accuracy']:.2f}%**" in readme
    assert f"{metrics['sizes_kb']['int8']:.0f} KB" in readme
    assert f"`{metrics['training']['command'].replace(' --data-dir ../shared/mnist', '')}`" in readme


def test_model_card_names_the_published_additions(metrics: dict):
    card = (MODELS / "MODEL_CARD.md").read_text()
    config = metrics["config"]
    assert ("shifted patch tokenization" in card) == config["spt"]
    assert ("locality self-attention" in card) == config["lsa"]
