"""Issue 33's options: the hybrid's convolutional stem (--stem conv) and sequence pooling (--pool seq)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from helpers import one_line_error, random_model, save_checkpoint

from vit_edge import checkpoint
from vit_edge.config import ViTConfig
from vit_edge.export import pipeline
from vit_edge.model import ViT, count_parameters, flops_per_image, fold_batchnorm
from vit_edge.train import EMA

CONV = ViTConfig(dim=32, depth=2, heads=4, stem="conv", lsa=True)


def trained_statistics(model: ViT, steps: int = 3) -> ViT:
    """Run a few training-mode batches so that BatchNorm's running statistics are not 0 and 1."""
    model.train()
    with torch.no_grad():
        for i in range(steps):
            model(torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(i)) * (i + 1))
    return model.eval()


def test_conv_stem_size_and_tokens():
    cfg = ViTConfig(stem="conv", lsa=True)
    model = ViT(cfg)
    assert count_parameters(model) == 264_944  # docs/hybrid.md
    assert round(flops_per_image(cfg) / 1e6, 1) == 34.8
    tokens = model.stem(torch.rand(2, 1, 28, 28))
    assert tokens.shape == (2, 49, 64) and cfg.num_tokens == 50
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert not hasattr(model, "patch_embed")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"stem": "conv", "spt": True}, "spt and patch_norm do not apply"),
        ({"stem": "conv", "patch_size": 7}, "patch_size must be 4"),
        ({"stem": "pixels"}, "stem must be patch or conv"),
        ({"pool": "mean"}, "pool must be cls or seq"),
    ],
)
def test_bad_stem_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ViTConfig(**options)


def test_folded_batchnorm_gives_the_same_logits():
    model = trained_statistics(random_model(CONV))
    assert model.stem.norms[0].running_mean.abs().sum() > 0
    x = torch.rand(5, 1, 28, 28)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)


def test_sequence_pooling_is_a_softmax_weighted_mean():
    model = random_model(replace(CONV, pool="seq"))
    x = torch.randn(2, 7, 32)
    weights = model.pool.score(x).softmax(dim=1)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, 1))
    torch.testing.assert_close(model.pool(x), (weights * x).sum(dim=1))


def test_ema_follows_the_batchnorm_statistics():
    model = random_model(CONV)
    ema = EMA(model, 0.999)
    trained_statistics(model)
    ema.update(model, step=100)
    torch.testing.assert_close(ema.model.stem.norms[1].running_var, model.stem.norms[1].running_var)


@pytest.mark.parametrize("pool", ["cls", "seq"])
def test_conv_stem_exports_with_the_same_contract(pool, tmp_path: Path, tiny_mnist: Path):
    model = trained_statistics(random_model(replace(CONV, pool=pool)))
    ckpt = save_checkpoint(model, tmp_path / "m.pt")
    report = pipeline.run_export(ckpt, quantize_mode="dynamic", data_dir=str(tiny_mnist), log=lambda _: None)
    assert report["files"][0]["passed"], report  # FP32: max |dlogit| <= 1e-4, the same answers
    graph = onnx.load(str(ckpt.with_suffix(".onnx"))).graph
    ops = {n.op_type for n in graph.node}
    assert "Conv" in ops and "BatchNormalization" not in ops  # folded at export
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == [1, 28, 28]
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    got = ort.InferenceSession(str(ckpt.with_suffix(".onnx"))).run(None, {"pixels": x})[0]
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=1e-4)
    assert ckpt.with_suffix(".int8.onnx").exists()


def test_train_stem_conv_turns_the_default_spt_off(run_cli, tmp_path: Path, tiny_mnist: Path):
    out = tmp_path / "conv.pt"
    args = ["train", "--data-dir", tiny_mnist, "--subset", "64", "--val-size", "32", "--epochs", "1"]
    code, _, err = run_cli(*args, "--stem", "conv", "--pool", "seq", "--threads", "1", "--out", out)
    assert code == 0, err
    saved = checkpoint.load(out)["config"]
    assert (saved["stem"], saved["pool"], saved["spt"], saved["lsa"]) == ("conv", "seq", False, True)
    assert "0.265M params, 34.8 MFLOPs/image" in err
    code, _, err = run_cli(*args, "--stem", "conv", "--spt", "--out", tmp_path / "x.pt")
    assert code == 2 and "spt and patch_norm do not apply" in one_line_error(err)
    assert not (tmp_path / "x.pt").exists()


def test_c_export_refuses_the_conv_stem_in_one_line(run_cli, tmp_path: Path):
    ckpt = save_checkpoint(random_model(CONV), tmp_path / "conv.pt")
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--out", tmp_path / "c")
    line = one_line_error(err)
    assert code == 2 and "does not run --stem conv" in line and "--format onnx" in line
    assert not (tmp_path / "c").exists()


def test_conv_stem_config_survives_a_json_round_trip():
    cfg = replace(CONV, pool="seq")
    assert ViTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
