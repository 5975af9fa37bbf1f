"""Issue 21's options: DeiT's distillation token with a CNN teacher, SPT and LSA (tiny data)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from helpers import SMALL, SMALL_ARGS, one_line_error, random_model, save_checkpoint

from vit_edge.config import TrainConfig, ViTConfig
from vit_edge.data import load_split
from vit_edge.export import pipeline
from vit_edge.inference import predict_logits
from vit_edge.model import ViT, count_parameters
from vit_edge.teacher import (
    TeacherCNN,
    TeacherConfig,
    ensemble_accuracy,
    load_teacher,
    shared_errors,
    train_teacher,
)
from vit_edge.train import Tensors, Trainer

OPTIONS = [
    {"distill": True},
    {"spt": True},
    {"lsa": True},
    {"spt": True, "patch_norm": True},
    {"distill": True, "spt": True, "lsa": True},
]


def test_default_model_is_unchanged_by_the_options():
    assert count_parameters(ViT(ViTConfig())) == 210_122
    assert (
        count_parameters(ViT(ViTConfig(distill=True))) == 210_122 + 64 + 64 * 10 + 10 + 64
    )  # token, head, pos


@pytest.mark.parametrize("options", OPTIONS)
def test_option_models_export_with_the_same_contract(options, tmp_path: Path, tiny_mnist: Path):
    from dataclasses import replace

    model = random_model(replace(SMALL, **options))
    ckpt = save_checkpoint(model, tmp_path / "m.pt")
    report = pipeline.run_export(ckpt, data_dir=str(tiny_mnist), log=lambda _: None)
    assert report["passed"], report  # FP32 parity: max |dlogit| <= 1e-4, the same answers
    session = ort.InferenceSession(str(ckpt.with_suffix(".onnx")))
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    got = session.run(None, {"pixels": x})[0]
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=1e-4)


def test_distilled_model_averages_its_two_heads():
    model = random_model(ViTConfig(patch_size=7, dim=32, depth=2, heads=4, distill=True))
    x = torch.rand(4, 1, 28, 28)
    cls, dist = model.forward_heads(x)
    assert dist is not None and not torch.allclose(cls, dist)
    torch.testing.assert_close(model(x), (cls + dist) / 2)


def test_patch_norm_is_its_own_option_because_it_amplifies_faint_noise():
    blank = torch.zeros(1, 1, 28, 28)
    speckle = blank + torch.rand(blank.shape, generator=torch.Generator().manual_seed(0)) / 255
    change = {}
    for patch_norm in (False, True):
        model = random_model(
            ViTConfig(patch_size=4, dim=32, depth=1, heads=4, spt=True, patch_norm=patch_norm)
        )
        assert hasattr(model, "patch_norm") == patch_norm
        change[patch_norm] = (model(speckle) - model(blank)).abs().max().item()
    # one grey level of speckle on an empty page: a small nudge without, a new input with
    assert change[False] < 0.05 < change[True]
    # SPT checkpoints saved before the option existed had the LayerNorm, and still load with it
    old = {k: v for k, v in ViTConfig(spt=True).to_dict().items() if k != "patch_norm"}
    assert ViTConfig.from_dict(old).patch_norm and not ViTConfig.from_dict(ViTConfig().to_dict()).patch_norm


def test_lsa_never_attends_to_itself_and_spt_sees_shifted_copies():
    model = random_model(ViTConfig(patch_size=4, dim=32, depth=1, heads=4, lsa=True, spt=True))
    attn = model.blocks[0].attn
    assert (attn.self_mask.diagonal() == float("-inf")).all() and attn.self_mask.triu(1).eq(0).all()
    assert attn.scale.requires_grad
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 10] = 1
    shifted = model.shifted(x)
    assert shifted.shape == (1, 5, 28, 28)
    assert {tuple(torch.nonzero(shifted[0, c])[0].tolist()) for c in range(1, 5)} == {
        (8, 8),
        (8, 12),
        (12, 8),
        (12, 12),
    }


@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_teacher_trains_saves_weights_only_and_loads(tiny_mnist: Path, tmp_path: Path):
    assert 300_000 < sum(p.numel() for p in TeacherCNN().parameters()) < 400_000
    out = tmp_path / "teacher.pt"
    metrics = train_teacher(
        TeacherConfig(epochs=4, val_size=100, batch_size=32),
        out,
        str(tiny_mnist),
        "cpu",
        1,
        False,
        lambda _: None,
    )
    teacher = load_teacher(out, torch.device("cpu"))
    assert teacher(torch.rand(2, 1, 28, 28)).shape == (2, 10) and not teacher.training
    images, labels = load_split("test", tiny_mnist, allow_download=False)  # the reported test score
    answers = predict_logits(teacher, torch.from_numpy(images.copy())).argmax(1).numpy()
    assert metrics["val_accuracy"] > 0.5
    assert metrics["test_accuracy"] == pytest.approx((answers == labels).mean(), abs=1 / len(labels))


@pytest.mark.slow  # 3 s: the quick tier stays under 2 minutes
def test_train_with_a_teacher_then_resume(run_cli, tiny_mnist: Path, tmp_path: Path):
    teacher = tmp_path / "teacher.pt"
    assert (
        run_cli(
            "teacher",
            "--data-dir",
            tiny_mnist,
            "--epochs",
            1,
            "--val-size",
            100,
            "--out",
            teacher,
            "--threads",
            1,
        )[0]
        == 0
    )
    out = tmp_path / "student.pt"
    args = [
        "train",
        "--data-dir",
        tiny_mnist,
        "--val-size",
        100,
        "--out",
        out,
        *SMALL_ARGS,
        "--teacher",
        teacher,
    ]
    code, _, err = run_cli(*args, "--epochs", 1, "--distillation", "soft")
    assert code == 0, err
    assert "teachers=label" in err
    state = torch.load(out, weights_only=True)
    assert state["config"]["distill"] and "dist_token" in state["model"]
    assert state["metrics"]["train"]["distillation"] == "soft"
    # how often the teacher's answer is the label, on augmented batches: near its score on the plain ones
    images, labels = load_split("train", tiny_mnist, allow_download=False)
    answers = predict_logits(load_teacher(teacher, torch.device("cpu")), torch.from_numpy(images.copy()))
    plain = float((answers.argmax(1).numpy() == labels).mean())
    assert abs(state["metrics"]["history"][0]["teacher_agreement"] - plain) <= 0.15, plain
    assert state["metrics"]["teachers"][0]["path"] == str(teacher)
    code, _, err = run_cli(*args, "--epochs", 2, "--resume", "--distillation", "soft")
    assert code == 0 and "resuming from epoch 1" in err
    other = tmp_path / "other.pt"
    teach = ["teacher", "--data-dir", tiny_mnist, "--epochs", 1, "--val-size", 100, "--threads", 1]
    assert run_cli(*teach, "--seed", 1, "--out", other)[0] == 0
    code, _, err = run_cli(*args[:-1], other, "--epochs", 3, "--resume")
    assert code == 2 and "was trained with other teachers" in one_line_error(err)


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_distillation_loss_against_two_teachers(kind: str):
    torch.manual_seed(0)
    teachers = [TeacherCNN().eval(), TeacherCNN().eval()]
    x = torch.rand(6, 1, 28, 28)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    data = Tensors(torch.zeros(6, 1, 28, 28, dtype=torch.uint8), labels, labels[:0], labels[:0])
    cfg = TrainConfig(distillation=kind, distill_temperature=4.0)
    trainer = Trainer(replace(SMALL, distill=True), cfg, data, torch.device("cpu"), teachers)
    student = torch.randn(6, 10)
    with torch.no_grad():
        t_logits = [t(x) for t in teachers]
    tau = 4.0 if kind == "soft" else 1.0
    target = torch.stack([(t / tau).softmax(-1) for t in t_logits]).mean(0)
    got = trainer.distillation_loss(x, student, labels)
    if kind == "hard":
        expected = torch.nn.functional.cross_entropy(student, target.argmax(1))
    else:  # KL(target || student) at tau, times tau^2
        log_q = (student / tau).log_softmax(-1)
        expected = (target * (target.log() - log_q)).sum(1).mean() * tau**2
    assert torch.allclose(got, expected, atol=1e-5)
    assert trainer.agreement_sum.item() == pytest.approx((target.argmax(1) == labels).float().mean().item())


def test_ensemble_accuracy_averages_the_teachers_probabilities():
    torch.manual_seed(0)
    teachers = [TeacherCNN().eval(), TeacherCNN().eval()]
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (50,))
    report = ensemble_accuracy(teachers, images, labels)
    with torch.no_grad():
        probs = [t(images.float().div(255).unsqueeze(1)).softmax(-1) for t in teachers]
    expected = [(p.argmax(1) == labels).float().mean().item() for p in probs]
    assert report["each"] == pytest.approx(expected)
    wrong = int(((probs[0] + probs[1]).argmax(1) != labels).sum())
    assert report["ensemble_errors"] == wrong and report["ensemble"] == pytest.approx(1 - wrong / 50)


def test_shared_errors_counts_the_students_mistakes_the_teachers_make_too():
    torch.manual_seed(1)
    teachers, student = [TeacherCNN().eval(), TeacherCNN().eval()], random_model()
    images = torch.randint(0, 256, (60, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (60,))
    report = shared_errors({"s": student}, teachers, images, labels)["s"]
    with torch.no_grad():
        pixels = images.float().div(255).unsqueeze(1)
        teachers_wrong = sum(t(pixels).softmax(-1) for t in teachers).argmax(1) != labels
        student_wrong = student(pixels).argmax(1) != labels
    assert report == {
        "errors": int(student_wrong.sum()),
        "shared_with_teachers": int((student_wrong & teachers_wrong).sum()),
    }
    assert 0 < report["shared_with_teachers"] < report["errors"]  # random nets: a real overlap to count


def test_distillation_options_are_checked(run_cli, tiny_mnist: Path):
    base = ["train", "--data-dir", tiny_mnist, *SMALL_ARGS]
    code, _, err = run_cli(*base, "--distillation", "medium")
    assert code == 2 and "'medium' is not one of 'hard', 'soft'" in err
    code, _, err = run_cli(*base, "--distill-temperature", 0)
    assert code == 2 and "--distill-temperature must be > 0" in one_line_error(err)


def test_a_checkpoint_is_no_teacher(run_cli, tiny_mnist: Path, tmp_path: Path):
    ckpt = save_checkpoint(random_model(), tmp_path / "vit.pt")
    code, _, err = run_cli(
        "train", "--data-dir", tiny_mnist, "--val-size", 100, "--teacher", ckpt, *SMALL_ARGS
    )
    assert code == 1 and "is not a vit-edge teacher" in one_line_error(err)


def test_temperature_folds_into_both_heads_of_a_distilled_model():
    """The graph's logits are the two heads averaged: folding T must divide that average by T."""
    from helpers import random_model

    from vit_edge.export.onnx_export import fold_temperature

    model = random_model(ViTConfig(patch_size=7, dim=32, depth=1, heads=2, distill=True))
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        before = model(x)
        after = fold_temperature(model, 2.5)(x)
    torch.testing.assert_close(after, before / 2.5, rtol=1e-5, atol=1e-6)
