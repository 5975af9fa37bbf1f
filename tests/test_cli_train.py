import json
from pathlib import Path

import pytest
import torch
from helpers import SMALL_ARGS as SHAPE
from helpers import one_line_error


@pytest.mark.slow  # about 3 s: the quick tier stays under 2 minutes
def test_train_subset_then_evaluate_json(run_cli, shared_mnist: Path, tmp_path: Path):
    out = tmp_path / "smoke.pt"
    code, _, err = run_cli(
        "train",
        "--data-dir",
        shared_mnist,
        "--subset",
        512,
        "--epochs",
        1,
        "--val-size",
        500,
        "--out",
        out,
        *SHAPE,
    )
    assert code == 0, err
    assert "epoch 1/1" in err and out.exists()
    code, stdout, err = run_cli("evaluate", "--checkpoint", out, "--data-dir", shared_mnist, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["n"] == 10_000 and set(result["per_class"]) == {str(d) for d in range(10)}
    confusion = result["confusion"]
    assert sum(map(sum, confusion)) == 10_000
    assert result["accuracy"] == pytest.approx(sum(confusion[d][d] for d in range(10)) / 10_000)


def test_cli_resume_continues(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    args = ["train", "--data-dir", tiny_mnist, "--val-size", 100, "--out", out, *SHAPE]
    assert run_cli(*args, "--epochs", 1)[0] == 0
    code, _, err = run_cli(*args, "--epochs", 2, "--resume")
    assert code == 0, err
    assert "resuming from epoch 1" in err and "epoch 2/2" in err and "epoch 1/2" not in err
    assert len(json.loads(out.with_suffix(".metrics.json").read_text())["history"]) == 2


def test_evaluate_plain_output(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "m.pt"
    assert (
        run_cli("train", "--data-dir", tiny_mnist, "--val-size", 100, "--out", out, "--epochs", 1, *SHAPE)[0]
        == 0
    )
    code, stdout, _ = run_cli("evaluate", "--checkpoint", out, "--data-dir", tiny_mnist, "--no-download")
    assert code == 0 and stdout.startswith("test accuracy") and "errors in 200" in stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_resumes_and_its_checkpoint_runs_on_the_cpu(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "gpu.pt"
    args = ["train", "--data-dir", tiny_mnist, "--val-size", 100, "--out", out, "--device", "cuda", *SHAPE]
    args += ["--elastic", "1", "--drop-path", "0.1"]  # the augmentation and stochastic depth on the GPU too
    code, _, err = run_cli(*args, "--epochs", 1)
    assert code == 0, err
    assert "images on cuda" in err
    code, _, err = run_cli(*args, "--epochs", 2, "--resume")
    assert code == 0 and "resuming from epoch 1" in err and "epoch 2/2" in err, err
    accuracy = {}
    for device in ("cuda", "cpu"):
        evaluate = ["evaluate", "--checkpoint", out, "--data-dir", tiny_mnist, "--no-download", "--json"]
        code, stdout, err = run_cli(*evaluate, "--no-plots", "--device", device)
        assert code == 0, err
        accuracy[device] = json.loads(stdout)["accuracy"]
    # bf16 autocast on CUDA against float32 on the CPU: at most a few of the 200 test images may flip
    assert abs(accuracy["cuda"] - accuracy["cpu"]) <= 0.02, accuracy


def _one_line_error(code: int, err: str, expected_code: int, text: str) -> None:
    assert code == expected_code and text in one_line_error(err)


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["train", "--epochs", "0"], 2, "--epochs must be >= 1"),
        (["train", "--dim", "30", "--heads", "4"], 2, "dim must be a multiple of heads"),
        (["train", "--patch-size", "5"], 2, "multiple of patch_size"),
        (["train", "--device", "tpu"], 2, "'tpu' is not one of"),
        (["train", "--epochs", "many"], 2, "'many' is not a valid integer"),
        (["train", "--lr", "-1"], 2, "--lr must be > 0"),
        (["train", "--elastic", "-1"], 2, "--elastic must be >= 0"),
        (["train", "--drop-path", "1"], 2, "drop_path must be in [0, 1)"),
        (["evaluate", "--checkpoint", "/nonexistent/x.pt"], 1, "does not exist"),
    ],
)
def test_bad_options_get_one_line(run_cli, args, code, text):
    got_code, _, err = run_cli(*args)
    _one_line_error(got_code, err, code, text)


def test_resume_without_a_saved_run(run_cli, tiny_mnist: Path, tmp_path: Path):
    out = tmp_path / "never-trained.pt"
    code, _, err = run_cli("train", "--data-dir", tiny_mnist, "--out", out, "--resume")
    _one_line_error(code, err, 2, f"--resume: no run saved at {out} to continue")
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(run_cli, tiny_mnist: Path):
    code, _, err = run_cli("train", "--device", "cuda", "--data-dir", tiny_mnist)
    _one_line_error(code, err, 2, "CUDA is not available")


def test_missing_data_files(run_cli, tmp_path: Path):
    code, _, err = run_cli("train", "--data-dir", tmp_path, "--no-download")
    _one_line_error(code, err, 1, f"not found in {tmp_path}")


def test_corrupt_data_file(run_cli, tiny_mnist: Path, tmp_path: Path):
    (tiny_mnist / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03junk")
    code, _, err = run_cli("train", "--data-dir", tiny_mnist, "--no-download")
    _one_line_error(code, err, 1, "train-labels-idx1-ubyte: bad IDX magic")


def test_recipes_fill_in_options_and_explicit_options_win(run_cli, monkeypatch, tmp_path: Path):
    from vit_edge.config import RECIPES, TRAINED_MODEL, TrainConfig, ViTConfig

    seen = {}
    monkeypatch.setattr("vit_edge.train.train", lambda m, c, **kw: seen.update(model=m, train=c, kw=kw))
    out = tmp_path / "x.pt"
    assert run_cli("train", "--recipe", "long", "--epochs", "3", "--out", out)[0] == 0
    long = RECIPES["long"]
    assert seen["train"].epochs == 3  # given on the command line
    assert (seen["train"].elastic, seen["model"].drop_path) == (long["elastic"], long["drop_path"])
    assert seen["kw"]["out"] == out
    assert run_cli("train", "--out", out)[0] == 0
    assert seen["train"] == TrainConfig() and seen["model"] == TRAINED_MODEL  # no options: the defaults
    assert seen["model"].spt and seen["model"].lsa and not seen["model"].patch_norm
    assert run_cli("train", "--recipe", "plain", "--out", out)[0] == 0  # the f2 release's plain ViT
    assert (seen["model"], seen["train"].epochs) == (ViTConfig(), 75)
    assert run_cli("train", "--recipe", "plain", "--spt", "--out", out)[0] == 0
    assert seen["model"].spt and not seen["model"].lsa
    assert run_cli("train", "--no-lsa", "--out", out)[0] == 0
    assert seen["model"].spt and not seen["model"].lsa
    assert run_cli("train", "--recipe", "long", "--out", out)[0] == 0
    assert seen["train"].epochs == long["epochs"] != TrainConfig().epochs
    assert run_cli("train", "--recipe", "wide", "--out", out)[0] == 0
    assert seen["model"].dim == RECIPES["wide"]["dim"] != ViTConfig().dim  # a model option too
    code, _, err = run_cli("train", "--recipe", "huge")
    _one_line_error(code, err, 2, "'huge' is not one of")


def test_training_options_change_the_run(run_cli, tiny_mnist: Path, tmp_path: Path, monkeypatch):
    """Every training option is read back from what the run did, against a run with the defaults:
    --batch-size (optimizer steps: 500 images / 50, the last partial batch dropped), --weight-decay
    (the decayed group), --warmup-epochs (the last epoch's learning rate: past warm-up and down the
    cosine, against still warming up), --label-smoothing, --ema 0 (no separate raw weights kept),
    --precision bf16, --patch-norm (a LayerNorm's weights) and --no-spt (a 7x7 patch, not 5 shifted)."""
    from vit_edge import train

    # bf16 autocast runs on any CPU (emulated where it is not native): this test needs no bf16 CPU
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    base = ["train", "--data-dir", tiny_mnist, "--val-size", 100, "--epochs", 1, *SHAPE]
    assert run_cli(*base, "--out", tmp_path / "default.pt")[0] == 0
    options = ["--batch-size", 50, "--weight-decay", 0.02, "--warmup-epochs", 0.5, "--label-smoothing", 0,
               "--ema", 0, "--precision", "bf16", "--patch-norm", "--no-spt"]  # fmt: skip
    code, _, err = run_cli(*base, "--out", tmp_path / "options.pt", *options)
    assert code == 0, err
    default, options = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in ("default", "options"))

    def steps(state: dict) -> set[int]:
        return {int(s["step"]) for s in state["optimizer"]["state"].values()}

    assert steps(default) == {500 // 128} and steps(options) == {500 // 50}
    decays = [sorted({g["weight_decay"] for g in s["optimizer"]["param_groups"]}) for s in (default, options)]
    assert decays == [[0.0, 0.05], [0.0, 0.02]]
    lr = [s["metrics"]["history"][-1]["lr"] for s in (default, options)]
    assert lr[0] == pytest.approx(1.5e-3) and lr[1] < 0.2 * lr[0]
    assert [s["metrics"]["train"]["label_smoothing"] for s in (default, options)] == [0.1, 0.0]
    assert "raw_model" in default and "raw_model" not in options
    assert [s["metrics"]["precision"] for s in (default, options)] == ["fp32", "bf16"]
    assert "patch_norm.weight" not in default["model"] and "patch_norm.weight" in options["model"]
    assert [s["model"]["patch_embed.weight"].shape[1] for s in (default, options)] == [5 * 49, 49]
    assert default["metrics"]["history"][-1]["train_loss"] != options["metrics"]["history"][-1]["train_loss"]
