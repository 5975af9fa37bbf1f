"""The C engine (`vit-edge export --format c`): warning-free C99 on gcc and clang, the float build
against ONNX Runtime and PyTorch, the INT8 build on the whole test set, the shipped models/c/, and
the emulated Cortex-M check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT
from helpers import STRICT, c_build, c_logits, random_model, save_checkpoint

from vit_edge.config import ViTConfig
from vit_edge.data import load_split
from vit_edge.device import dress, runtime
from vit_edge.export import c_export

SHIPPED = ROOT / "models" / "c"
FP32_MAX_LOGIT_DIFF = 1e-4  # the float build against ORT FP32 (measured 9.1e-6 on 2,000 test digits)


@pytest.fixture(scope="module")
def test_set(shared_mnist: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_split("test", shared_mnist, allow_download=False)
    return (images / 255).astype(np.float32), labels


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("c")
    return {
        "int8": c_build(SHIPPED, work / "int8", fast=True),
        "fp32": c_build(SHIPPED, work / "fp32", fp32=True, fast=True),
    }


def test_shipped_folder_is_what_export_makes(run_cli, tmp_path: Path):
    """models/c/ comes from models/vit-edge.pt with the release's calibration (models/metrics.json)."""
    calibration = json.loads((ROOT / "models" / "metrics.json").read_text())["calibration"]
    args = [
        "--temperature",
        repr(calibration["temperature"]),
        "--min-confidence",
        calibration["min_confidence"],
    ]
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ROOT / "models" / "vit-edge.pt",
                           "--out", tmp_path / "c", *args)  # fmt: skip
    assert code == 0, err
    made = sorted(p.relative_to(tmp_path / "c") for p in (tmp_path / "c").rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file())
    assert made == shipped
    for name in made:
        assert (tmp_path / "c" / name).read_bytes() == (SHIPPED / name).read_bytes(), name
    model_h = (SHIPPED / "vit_edge_model.h").read_text()
    assert f"#define VE_MIN_CONFIDENCE {calibration['min_confidence']}" in model_h


def test_library_has_no_main_and_no_allocation():
    for name in (
        "vit_edge.c",
        "vit_edge_prepare.c",
        "vit_edge_weights.c",
        "vit_edge.h",
        "vit_edge_weights.h",
    ):
        text = (SHIPPED / name).read_text()
        assert not re.search(r"\bmain\s*\(", text) and not re.search(r"\b(malloc|calloc|free)\s*\(", text), (
            name
        )


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_compiles_warning_free(compiler: str, tmp_path: Path):
    if not shutil.which(compiler):
        pytest.skip(f"{compiler} not found")
    for fp32 in (False, True):
        c_build(SHIPPED, tmp_path / f"p{fp32}", compiler, fp32)


def test_float_build_matches_onnx_runtime(programs, test_set):
    pixels, _ = test_set
    x = pixels[:2000]
    session = runtime.make_session(ROOT / "models" / "vit-edge.onnx")
    want = runtime.run_logits(session, x[:, None])
    got = c_logits(programs["fp32"], x)
    assert np.abs(got - want).max() <= FP32_MAX_LOGIT_DIFF
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.slow
def test_int8_build_on_the_whole_test_set(programs, test_set, record_property):
    """INT8 C (per-channel weights, per-token activations) on all 10,000 test digits: accuracy
    within 0.1 pp of the FP32 model (ORT FP32: the float build matches it), and ORT INT8's answer on
    at least 99.8% of the images
    (measured: 99.57% against 99.58%, 100.00% the same answers as ORT INT8)."""
    pixels, labels = test_set
    int8 = c_logits(programs["int8"], pixels)
    fp32 = runtime.run_logits(runtime.make_session(ROOT / "models" / "vit-edge.onnx"), pixels[:, None])
    session = runtime.make_session(ROOT / "models" / "vit-edge.int8.onnx")
    ort = np.concatenate(
        [runtime.run_logits(session, pixels[i : i + 1, None], 1) for i in range(len(pixels))]
    )
    accuracy = {k: float((v.argmax(1) == labels).mean()) for k, v in (("int8", int8), ("fp32", fp32))}
    agreement = float((int8.argmax(1) == ort.argmax(1)).mean())
    record_property("c_int8_accuracy", accuracy["int8"])
    record_property("c_int8_agreement_with_ort_int8", agreement)
    print(f"\nC INT8 {accuracy['int8']:.2%}, FP32 {accuracy['fp32']:.2%}, same as ORT INT8 {agreement:.2%}")
    assert accuracy["fp32"] - accuracy["int8"] <= 0.001
    assert agreement >= 0.998


OPTIONS = [
    ViTConfig(patch_size=7, dim=32, depth=2, heads=4),
    ViTConfig(patch_size=4, dim=32, depth=2, heads=2, spt=True, lsa=True),
    ViTConfig(patch_size=7, dim=24, depth=1, heads=3, spt=True, patch_norm=True),
    ViTConfig(patch_size=4, dim=32, depth=2, heads=4, lsa=True, distill=True, mlp_ratio=3.0),
]


@pytest.mark.parametrize("cfg", OPTIONS, ids=["plain", "spt-lsa", "spt-patchnorm", "lsa-distill"])
def test_every_kind_of_model_exports_and_matches_pytorch(cfg: ViTConfig, tmp_path: Path, run_cli):
    model = random_model(cfg)
    ckpt = save_checkpoint(model, tmp_path / "m.pt")
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--temperature", "1.0",
                           "--out", tmp_path / "c")  # fmt: skip
    assert code == 0, err
    x = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)[:, None]).numpy()
    got = c_logits(c_build(tmp_path / "c", tmp_path / "fp32", fp32=True), x)
    assert np.abs(got - want).max() <= FP32_MAX_LOGIT_DIFF * max(1, np.abs(want).max())
    int8 = c_logits(c_build(tmp_path / "c", tmp_path / "int8"), x)
    assert np.abs(int8 - want).max() <= 0.1 * np.abs(want).max()


def test_format_c_refuses_a_file_as_its_folder_and_quantize(run_cli, tmp_path: Path):
    ckpt = save_checkpoint(random_model(), tmp_path / "m.pt")
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--out", tmp_path / "file")
    assert code == 2 and "writes a folder" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--quantize")
    assert code == 2 and "--format c is INT8 already" in err


def test_weights_quantize_per_channel():
    w = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -0.5]], np.float32)
    q, scale = c_export.quantize_rows(w)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    np.testing.assert_allclose(q * scale[:, None], w, atol=scale.max() / 2)
    assert (q[1] == 0).all() and scale[1] == 1.0


@pytest.mark.slow
def test_emulated_cortex_m_cores_match_the_host_build():
    """scripts/mcu_check.sh: Cortex-M4F, M7 (SMLAD and plain C) and M55 under qemu-system-arm."""
    run = subprocess.run(["bash", str(ROOT / "scripts" / "mcu_check.sh")], capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    if run.returncode == 77:
        pytest.skip(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout + run.stderr
    passed, failed = map(
        int, re.fullmatch(r"(\d+) passed, (\d+) failed", run.stdout.strip().splitlines()[-1]).groups()
    )
    assert failed == 0 and passed >= 4 * 100
    for core in ("cortex-m4", "cortex-m7", "cortex-m55", "cortex-m7-plain-c"):
        line = next(x for x in run.stdout.splitlines() if x.startswith(f"mcu check: {core}: "))
        assert re.search(r"flash [\d.]+ KB .* RAM [\d.]+ KB .* [\d.]+ M instructions per inference", line), (
            line
        )
    assert "SMLAD and plain C give identical outputs" in run.stdout


PREPARE_MAX_DIFF = 1e-4  # vit_edge_prepare against preprocess.py, per pixel (measured 6e-8 at most)


def test_prepare_matches_predicts_preprocessing(programs, shared_mnist: Path, tmp_path: Path):
    """vit_edge_prepare on grey bytes against preprocess.py on the same bytes: the examples, pen
    drawings, dressed digits and phone photos (the page's contract too), blank pages refused."""
    from helpers import shared_images
    from PIL import Image

    from vit_edge.device import preprocess as pp

    images, _ = load_split("test", shared_mnist, allow_download=False)
    cases = shared_images(images) | {"blank photo": dress.photo([], "vignette", 16, seed=1)}
    session = runtime.make_session(ROOT / "models" / "vit-edge.int8.onnx")
    worst = 0.0
    for name, img in cases.items():
        rgba = img.convert("RGBA")
        grey = pp._integer_grey(rgba, 255, pp._alpha_paper(rgba))  # predict's grey bytes
        h, w = grey.shape
        run = subprocess.run([str(programs["int8"]), "--prepare", str(w), str(h)], input=grey.tobytes(),
                             capture_output=True)  # fmt: skip
        try:
            want = pp.preprocess_image(Image.fromarray(grey))
        except pp.ImageError:
            assert run.returncode == 1 and run.stdout == b"blank\n", name
            continue
        assert run.returncode == 0, (name, run.stdout)
        got = np.frombuffer(run.stdout, np.float32).reshape(28, 28)
        # the digit-sized groups side by side, as predict counts them (several: marked unsure)
        assert run.stderr == f"digits {len(pp.read_image(Image.fromarray(grey)).digits)}\n".encode(), name
        worst = max(worst, float(np.abs(got - want).max()))
        assert np.abs(got - want).max() <= PREPARE_MAX_DIFF, name
        answers = runtime.run_logits(session, np.stack([got, want])[:, None], 1).argmax(1)
        assert answers[0] == answers[1], name
    print(f"\nvit_edge_prepare vs preprocess.py: max |d| {worst:.1e} on {len(cases)} images")


def test_example_reports_blank_and_reads_a_stroke(programs, tmp_path: Path):
    run = subprocess.run(
        [str(programs["int8"]), "--gray", "40", "30"], input=bytes([200]) * 1200, capture_output=True
    )
    assert run.returncode == 1 and run.stdout == b"blank\n"
    page = np.full((30, 40), 230, np.uint8)
    page[5:25, 18:22] = 20  # a "1"
    run = subprocess.run(
        [str(programs["int8"]), "--gray", "40", "30"], input=page.tobytes(), capture_output=True
    )
    assert run.returncode == 0 and run.stdout.split()[0] == b"1"


def test_c_api_return_codes_and_arguments(tmp_path: Path):
    """vit_edge.h's promises, through tests/c_api_check.c: rows `stride` bytes apart read the same
    as packed rows, VIT_EDGE_BAD_ARGUMENT for a NULL buffer, a size under 1 or stride < width,
    VIT_EDGE_BLANK for a blank page, vit_edge_digits() 0 after any failed call, and
    vit_edge_predict(pixels, NULL) the same digit as with a probs buffer."""
    sources = [SHIPPED / n for n in ("vit_edge.c", "vit_edge_prepare.c", "vit_edge_weights.c")]
    program = tmp_path / "api"
    check = ROOT / "tests" / "c_api_check.c"
    command = ["cc", *STRICT, "-I", str(SHIPPED), "-o", str(program), str(check), *map(str, sources), "-lm"]
    subprocess.run(command, check=True)
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    got = dict(line.split() for line in out.splitlines())
    assert got == {
        "packed": "0", "digits_after_success": "1", "padded": "0", "stride_same_pixels": "1",
        "null_buffer": "-3", "digits_after_failure": "0", "zero_width": "-3", "zero_height": "-3",
        "stride_under_width": "-3", "blank": "-1", "digits_after_blank": "0",
        "predict_null_probs_same": "1", "predict_digit": "1",
    }  # fmt: skip


def test_example_makefile_builds_for_the_host_and_a_cortex_m7(tmp_path: Path):
    """The README's commands: `make` (host) reads a grey image; `make cortex-m7` links for a board."""
    shutil.copytree(SHIPPED, tmp_path / "c")
    example = tmp_path / "c" / "example"
    subprocess.run(["make", "-s"], cwd=example, check=True, capture_output=True)
    page = np.full((30, 40), 230, np.uint8)
    page[5:25, 18:22] = 20
    run = subprocess.run([str(example / "vit_edge_example"), "--gray", "40", "30"], input=page.tobytes(),
                         capture_output=True)  # fmt: skip
    assert run.returncode == 0 and run.stdout.split()[0] == b"1"
    if (
        not shutil.which("arm-none-eabi-gcc")
        or not Path("/usr/lib/picolibc/arm-none-eabi/picolibc.specs").exists()
    ):
        pytest.skip(
            "no arm-none-eabi-gcc with picolibc (apt-get install gcc-arm-none-eabi picolibc-arm-none-eabi)"
        )
    subprocess.run(["make", "-s", "cortex-m7"], cwd=example, check=True, capture_output=True)
    assert (example / "vit_edge_example.elf").read_bytes()[:4] == b"\x7fELF"
