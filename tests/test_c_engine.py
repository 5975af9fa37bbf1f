"""The C engine (`vit-edge export --format c`): warning-free C99 on gcc and clang, the float build
against ONNX Runtime and PyTorch, the INT8 build on the whole test set, the shipped models/c/, and
the emulated Cortex-M check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dress
import helpers
import numpy as np
import pytest
import torch
from conftest import ROOT
from helpers import HOST_SIDE, SANITIZE, STRICT, c_build, c_logits, md5s, random_model, save_checkpoint

from vit_edge.config import ViTConfig
from vit_edge.data import load_split
from vit_edge.device import runtime
from vit_edge.export import c_export

SHIPPED = ROOT / "models" / "c"
FP32_MAX_LOGIT_DIFF = 1e-4  # the float build against ORT FP32 (measured 9.1e-6 on 2,000 test digits)


@pytest.fixture(scope="module")
def test_set(shared_mnist: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_split("test", shared_mnist, allow_download=False)
    return (images / 255).astype(np.float32), labels


class Programs(dict):
    """The example built three ways, each on first use: the quick tier needs only the INT8 one."""

    def __init__(self, work: Path):
        super().__init__()
        self.work = work

    def __missing__(self, kind: str) -> Path:
        flags = {"int8": {}, "fp32": {"fp32": True}, "integer": {"extra": ("-DVIT_EDGE_INTEGER",)}}[kind]
        self[kind] = c_build(SHIPPED, self.work / kind, fast=True, **flags)
        return self[kind]


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    return Programs(tmp_path_factory.mktemp("c"))


def test_shipped_folder_is_what_export_makes(run_cli, tmp_path: Path):
    """`export --format c --checkpoint models/vit-edge.pt`, no other flag, makes models/c/ byte for
    byte: the release stored its calibration in the checkpoint (as models/metrics.json reports it)."""
    calibration = json.loads((ROOT / "models" / "metrics.json").read_text())["calibration"]
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ROOT / "models" / "vit-edge.pt",
                           "--out", tmp_path / "c")  # fmt: skip
    assert code == 0, err
    assert f"temperature {calibration['temperature']:.4f}" in err
    made = sorted(p.relative_to(tmp_path / "c") for p in (tmp_path / "c").rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file())
    assert made == shipped
    for name in made:
        assert (tmp_path / "c" / name).read_bytes() == (SHIPPED / name).read_bytes(), name
    model_h = (SHIPPED / "vit_edge_model.h").read_text()
    assert f"#define VE_MIN_CONFIDENCE {calibration['min_confidence']}" in model_h


def test_onnx_export_takes_the_stored_calibration(run_cli, tmp_path: Path):
    """`export --checkpoint models/vit-edge.pt` with no flags records the release's temperature and
    min-confidence, as the shipped files do."""
    import onnxruntime as ort

    code, _, err = run_cli("export", "--checkpoint", ROOT / "models" / "vit-edge.pt", "--out",
                           tmp_path / "m.onnx", "--no-test", "--skip-parity")  # fmt: skip
    assert code == 0, err

    def meta(path: Path) -> dict:
        return ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map

    made, shipped = meta(tmp_path / "m.onnx"), meta(ROOT / "models" / "vit-edge.onnx")
    for key in ("temperature", "temperature_source", "min_confidence"):
        assert made[key] == shipped[key], key


def test_format_c_changes_nothing_when_a_name_is_taken(run_cli, tmp_path: Path):
    """A file where the folder needs a folder (example/): one line, and the folder as it was."""
    ckpt = save_checkpoint(random_model(), tmp_path / "m.pt")
    out = tmp_path / "c"
    out.mkdir()
    (out / "example").write_text("mine")
    (out / "vit_edge.h").write_text("an older header")
    before = md5s(out)
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--out", out, "--temperature=1")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "example is a file" in err, err
    assert md5s(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "m.pt"]  # no private folder left
    (out / "example").unlink()
    code, _, err = run_cli("export", "--format", "c", "--checkpoint", ckpt, "--out", out, "--temperature=1")
    assert code == 0, err
    assert (out / "vit_edge.h").read_bytes() == (ROOT / "export" / "c" / "vit_edge.h").read_bytes()
    assert (out / "example" / "main.c").is_file() and oct((out / "example").stat().st_mode)[-3:] != "700"


def test_library_has_no_main_and_no_allocation():
    for name in (
        "vit_edge.c",
        "vit_edge_integer.c",
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
@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_compiles_warning_free(compiler: str, tmp_path: Path):
    if not shutil.which(compiler):
        pytest.skip(f"{compiler} not found")
    for fp32 in (False, True):
        c_build(SHIPPED, tmp_path / f"p{fp32}", compiler, fp32)
    c_build(SHIPPED, tmp_path / "integer", compiler, extra=("-DVIT_EDGE_INTEGER",))


@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_float_build_matches_onnx_runtime(programs, test_set):
    pixels, _ = test_set
    x = pixels[:2000]
    session = runtime.make_session(ROOT / "models" / "vit-edge.onnx")
    want = runtime.run_logits(session, x[:, None])
    got = c_logits(programs["fp32"], x)
    assert np.abs(got - want).max() <= FP32_MAX_LOGIT_DIFF
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.slow
def test_int8_and_integer_builds_on_the_whole_test_set(programs, test_set, record_property):
    """INT8 C (per-channel weights, per-token activations) on all 10,000 test digits: accuracy
    within 0.1 pp of the FP32 model (ORT FP32: the float build matches it), and ORT INT8's answer on
    at least 99.8% of the images. The integer-only build (-DVIT_EDGE_INTEGER, chosen on cores
    without an FPU): accuracy within 0.1 pp of ORT INT8's, and its answer on at least 99.8%.
    Measured on the release: INT8 99.50%, integer 99.50%, ORT INT8 99.51-99.52% (it varies with the
    CPU's INT8 kernels), 99.95% the same answers as ORT INT8 for both."""
    pixels, labels = test_set
    int8 = c_logits(programs["int8"], pixels)
    integer = c_logits(programs["integer"], pixels)
    fp32 = runtime.run_logits(runtime.make_session(ROOT / "models" / "vit-edge.onnx"), pixels[:, None])
    session = runtime.make_session(ROOT / "models" / "vit-edge.int8.onnx")
    ort = np.concatenate(
        [runtime.run_logits(session, pixels[i : i + 1, None], 1) for i in range(len(pixels))]
    )
    found = {"int8": int8, "integer": integer, "fp32": fp32, "ort_int8": ort}
    accuracy = {k: float((v.argmax(1) == labels).mean()) for k, v in found.items()}
    agreement = {k: float((found[k].argmax(1) == ort.argmax(1)).mean()) for k in ("int8", "integer")}
    for k in ("int8", "integer"):
        record_property(f"c_{k}_accuracy", accuracy[k])
        record_property(f"c_{k}_agreement_with_ort_int8", agreement[k])
    print(f"\nC INT8 {accuracy['int8']:.2%}, integer {accuracy['integer']:.2%}, FP32 {accuracy['fp32']:.2%}, "
          f"ORT INT8 {accuracy['ort_int8']:.2%}; the same as ORT INT8: INT8 {agreement['int8']:.2%}, "
          f"integer {agreement['integer']:.2%}")  # fmt: skip
    assert accuracy["fp32"] - accuracy["int8"] <= 0.001
    assert abs(accuracy["ort_int8"] - accuracy["integer"]) <= 0.001
    assert agreement["int8"] >= 0.998 and agreement["integer"] >= 0.998


def test_integer_tables_are_the_python_definitions():
    """vit_edge_integer.c's tables (2^-x for softmax and tanh, GELU) are the text
    c_export.integer_tables() makes, and the shipped copy is the engine's."""
    source = (ROOT / "export" / "c" / "vit_edge_integer.c").read_text()
    assert c_export.integer_tables() in source
    assert (SHIPPED / "vit_edge_integer.c").read_text() == source


OPTIONS = [
    ViTConfig(patch_size=7, dim=32, depth=2, heads=4),
    ViTConfig(patch_size=4, dim=32, depth=2, heads=2, spt=True, lsa=True),
    ViTConfig(patch_size=7, dim=24, depth=1, heads=3, spt=True, patch_norm=True),
    ViTConfig(patch_size=4, dim=32, depth=2, heads=4, lsa=True, distill=True, mlp_ratio=3.0),
]


@pytest.mark.parametrize("cfg", OPTIONS, ids=["plain", "spt-lsa", "spt-patchnorm", "lsa-distill"])
@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
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
    # the integer-only pass, built with the sanitizers: a random model's sums must not overflow either
    integer = c_build(tmp_path / "c", tmp_path / "integer", extra=(*SANITIZE, "-DVIT_EDGE_INTEGER"))
    assert np.abs(c_logits(integer, x) - want).max() <= 0.1 * np.abs(want).max()


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
def test_emulated_microcontrollers_match_the_host_build():
    """scripts/mcu_check.sh: Cortex-M3 (no FPU: the integer pass), M4F, M7 (SMLAD and plain C) and
    M55 (Helium and plain C) under qemu-system-arm, RISC-V rv32imac (no FPU: the integer pass) and
    rv32imafc under qemu-system-riscv32; and the issue's instruction goals, as emulator counts:
    predict within 30 M on M4F, 25 M on M7, 15 M on M55 and 100 M on rv32imac, a QVGA frame's prepare
    within 10 M on M4F at the boards' working side (96) and at 48 (measured 23.4, 23.4, 14.6, 92.7,
    9.6 and 4.3 M); and the library's static RAM at 96 px within 64 KB (measured 59 KB)."""
    run = subprocess.run(["bash", str(ROOT / "scripts" / "mcu_check.sh")], capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    if run.returncode == 77:
        pytest.skip(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout + run.stderr
    passed, failed = map(
        int, re.fullmatch(r"(\d+) passed, (\d+) failed", run.stdout.strip().splitlines()[-1]).groups()
    )
    assert failed == 0 and passed >= 8 * 100
    cores = ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55", "cortex-m7-plain-c", "cortex-m55-plain-c",
             "rv32imac", "rv32imafc")  # fmt: skip
    predict, prepare = {}, {}
    for core in cores:
        line = next(x for x in run.stdout.splitlines() if x.startswith(f"mcu check: {core}: "))
        found = re.search(r"flash [\d.]+ KB .* RAM [\d.]+ KB .* ([\d.]+) M instructions per inference", line)
        assert found, line
        predict[core] = float(found.group(1))
        prepare[core] = float(re.search(r"([\d.]+) M for the QVGA frame", line).group(1))
    assert "SMLAD and plain C give identical outputs on cortex-m7" in run.stdout
    assert "Helium and plain C give identical outputs on cortex-m55" in run.stdout
    goals = {"cortex-m4": 30, "cortex-m7": 25, "cortex-m55": 15, "rv32imac": 100}
    assert all(predict[core] <= goal for core, goal in goals.items()), predict
    assert prepare["cortex-m4"] <= 10, prepare
    ram = float(re.search(r"at work side 96 \(library static RAM (\d+) KB\)", run.stdout).group(1))
    assert ram <= 64, run.stdout
    small = ["bash", str(ROOT / "scripts" / "mcu_check.sh"), "--cores", "cortex-m4", "--work-side", "48"]
    small = subprocess.run(small, capture_output=True, text=True, timeout=600)
    assert small.returncode == 0 and small.stdout.strip().endswith(" 0 failed"), small.stdout + small.stderr
    assert float(re.search(r"([\d.]+) M for the QVGA frame", small.stdout).group(1)) <= 10, small.stdout


PREPARE_MAX_DIFF = 1e-4  # vit_edge_prepare against preprocess.py, per pixel (measured 6e-8 at most)


def prepare_cases(shared_mnist: Path) -> dict:
    """Pages of every kind for vit_edge_prepare: the examples, pen drawings, dressed digits, phone
    photos, ruled, squared, boxed and comb paper, a page on a table, touching digits, blank pages,
    printed forms."""
    from helpers import shared_images

    images, _ = load_split("test", shared_mnist, allow_download=False)
    cases = shared_images(images) | {"blank photo": dress.photo([], "vignette", 16, seed=1)}
    for k, style in enumerate(dress.PAPER_STYLES):  # printed lines and a table are paper in C too
        digits = list(images[60 + 3 * k : 63 + 3 * k]) if style == "comb" else [images[60 + 3 * k]]
        size = dress.PAGE_SIZES[k % len(dress.PAGE_SIZES)]
        cases[f"{style}-{size}"] = dress.paper_photo(style, digits, seed=k, size=size)
        cases[f"blank {style}"] = dress.paper_photo(style, [], seed=k)
    seven = helpers.sevenseg()  # seven-segment displays: a digit's segments are one digit in C too
    rng = np.random.default_rng(3)
    for k, kind in enumerate(seven.KINDS):
        cases[f"display-{kind}"] = seven.draw_reading(f"{70 + 3 * k}.{k}1", rng, kind)
    for reading, kind, seed in (("8888", "lcd", 0), ("0734", "lcd", 4), ("0734", "printed", 10)):
        # segments at one pitch that no spine joins (a comb's teeth without it): writing in C too
        cases[f"display-{reading}-{kind}"] = seven.draw_reading(reading, np.random.default_rng(seed), kind)
    cases["time of day"] = helpers.time_of_day(images)  # a colon is no digit in C too
    cases["framed and cut"] = helpers.framed_cut(images)  # slivers along the border go in C too
    cases["window side"] = helpers.window_side()  # a thin bar taller than the digits is no 1 in C too
    cases["display and body"] = helpers.display_and_body()  # nothing written on it: no page in C too
    cases["face on table"] = helpers.face_on_table()  # a dark face is the page in C too
    cases["tinted window"] = helpers.face_on_table(tinted=True)
    cases["shadowed page"] = helpers.shadowed_page()  # a shadow's dark side is no page in C too
    cases["labelled display"] = helpers.labelled_display()  # a label under the digits joins none in C too
    cases["closed display"] = helpers.closed_display()  # segments a digit closes in are its own in C too
    cases["printed 38"] = helpers.printed_38()  # level bars joined down a side are no comb in C too
    cases["one and seven"] = helpers.one_and_seven()  # a part joins the nearer digit in C too
    for k in range(3):  # touching digits: split, or kept whole (one digit, or a group marked as touching)
        pair = list(images[80 + 2 * k : 82 + 2 * k])
        cases[f"touching-{k}"] = dress.photo(pair, *dress.photo_conditions(k), seed=k, pitch=0.5)
    forms = helpers.forms()  # printed forms of every kind, from both parts' ranges: structure in C too
    for k, kind in enumerate(forms.KINDS):
        part = forms.PARTS[k % 2]
        count = forms.DIGIT_COUNTS.get(kind, (0, 0))[1 if kind == "comb" else 0]  # blank kinds: none
        digits = list(images[90 + 5 * k : 90 + 5 * k + count])
        cases[f"form-{kind}-{part}"] = forms.form_page(kind, digits, k, part)
    return cases


def grey_bytes(img) -> np.ndarray:
    """A case as predict's grey bytes (transparency flattened onto its paper); an array as it is."""
    from vit_edge.device import preprocess as pp

    if isinstance(img, np.ndarray):
        return img
    return pp.grey_bytes(img)


def camera_frames(img, side: int) -> tuple:
    """A case as a camera's grey frames for a working side: at twice the side (the example reads at
    most 4 side^2 bytes), and a near-square one that pools to (side - 1)^2."""
    from PIL import Image

    grey = Image.fromarray(grey_bytes(img))
    square = grey.resize((2 * side - 2, 2 * side - 2), Image.Resampling.BOX)
    grey.thumbnail((2 * side, 2 * side), Image.Resampling.BOX)
    return grey, square


def pool_bytes(side: int, tmp_path: Path) -> int:
    """VIT_EDGE_PREPARE_BYTES at a working side, as the header works it out."""
    source = tmp_path / "pool.c"
    main = 'int main(void) { printf("%ld", (long)VIT_EDGE_PREPARE_BYTES); return 0; }'
    source.write_text(f'#include <stdio.h>\n#include "vit_edge.h"\n{main}\n')
    program = tmp_path / f"pool{side}"
    flags = [f"-I{SHIPPED}", f"-DVIT_EDGE_WORK_SIDE={side}"]
    subprocess.run(["cc", *flags, str(source), "-o", str(program)], check=True)
    return int(subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout)


def read_frame(program: Path, tight: Path, grey: np.ndarray, label: str) -> tuple[bool, bool]:
    """One frame through the example with the pool and with half of it: (several digits, refused by
    the half pool). The full pool never refuses it, and its digits read the same one by one
    between inferences (--number) as all at once."""
    size = [str(grey.shape[1]), str(grey.shape[0])]

    def run(exe: Path, *args: str, data: bytes = grey.tobytes()) -> subprocess.CompletedProcess:
        return subprocess.run([str(exe), *args], input=data, capture_output=True)

    inputs = run(program, "--inputs", *size)
    assert inputs.returncode in (0, 1) and b"error" not in inputs.stdout, (label, inputs.stdout)
    several = len(inputs.stdout) > 784 * 4
    if several:  # each input predicted on its own, against --number's inferences between the digits
        each = run(program, data=inputs.stdout).stdout.decode()
        digits = "".join(line.split()[0] for line in each.splitlines())
        assert run(program, "--number", *size).stdout.decode().split()[0] == digits, label
    return several, run(tight, "--inputs", *size).stdout == b"error -2\n"


@pytest.mark.slow  # prepare_cases takes over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_prepare_fits_its_pool_at_small_working_sides(shared_mnist: Path, tmp_path: Path):
    """VIT_EDGE_PREPARE_BYTES (the most a step holds: finding the ink at 3/2 floats a working pixel,
    or the last steps; one block with the model's arena, its last part) holds every step of
    vit_edge_prepare and vit_edge_prepare_digit at a board's working sides, on pages of every kind
    and on noise, as camera frames of twice the side and as near-square frames that pool to
    (side - 1)^2 (the 208 KB pool of two stops before refused every one of those at 96 px): none is
    refused as too large, and with half the pool some are. Pages of several digits read the same
    inputs whether inferences run between vit_edge_prepare_digit calls or not (a crop moves over the
    ink map where the map reaches into the arena, and the next digit makes the map again)."""

    cases = prepare_cases(shared_mnist)
    cases["noise"] = np.random.default_rng(0).integers(0, 256, (400, 400), dtype=np.uint8)
    for side in (32, 48, 96):
        program = c_build(SHIPPED, tmp_path / f"side{side}", extra=(f"-DVIT_EDGE_WORK_SIDE={side}",))
        small = pool_bytes(side, tmp_path) // 2
        flags = (f"-DVIT_EDGE_WORK_SIDE={side}", f"-DVIT_EDGE_PREPARE_BYTES={small}")
        tight = c_build(SHIPPED, tmp_path / f"tight{side}", extra=flags)
        refused = several = 0
        for name, img in cases.items():
            for frame in camera_frames(img, side):
                many, refuse = read_frame(program, tight, np.asarray(frame), f"{name} {frame.size} at {side}")
                several, refused = several + many, refused + refuse
        assert refused > 0, side  # the pages do use the pool
        assert several >= 3, side  # comb paper, two digits, touching digits


@pytest.mark.slow  # prepare_cases takes over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_prepare_matches_python_at_the_boards_working_side(shared_mnist: Path, tmp_path: Path, monkeypatch):
    """At the boards' 96 px, where a cell of the paper's light is 2 px and a page on a table is read
    on a grid of pixels in half grey levels: vit_edge_prepare gives preprocess.py's inputs (at its
    WORK_SIDE 96), digit counts and each digit's box in the frame's own pixels (vit_edge_digit_box
    against Reading.boxes, through the pooling's blocks) on camera frames of every case, twice the
    side and near-square; blank ones blank in both. Some of the frames are pages on a table."""

    from vit_edge.device import preprocess as pp

    side = 96
    monkeypatch.setattr(pp, "WORK_SIDE", side)
    program = c_build(SHIPPED, tmp_path / "boards", extra=(f"-DVIT_EDGE_WORK_SIDE={side}",))
    checked = tables = pooled = 0
    for name, img in prepare_cases(shared_mnist).items():
        for frame in camera_frames(img, side):
            size = [str(frame.width), str(frame.height)]
            run = [str(program), "--inputs", *size]
            inputs = subprocess.run(run, input=frame.tobytes(), capture_output=True).stdout
            grey = pp.to_grey(frame)
            tables += pp.page_only(grey) is not grey
            try:
                reading = pp.read_image(frame)
            except pp.ImageError:
                assert inputs == b"blank\n", name
                continue
            got = np.frombuffer(inputs, np.float32).reshape(-1, 28, 28)
            assert len(got) == len(reading.digits), (name, frame.size)
            for a, b in zip(got, reading.digits, strict=True):
                assert np.abs(a - b).max() <= PREPARE_MAX_DIFF, (name, frame.size)
            run[1] = "--prepare"
            count = subprocess.run(run, input=frame.tobytes(), capture_output=True).stderr
            assert count == f"digits {reading.count}\n".encode(), (name, frame.size)
            run[1] = "--boxes"  # where each digit lies in the frame's own pixels (the page crops there)
            boxes = subprocess.run(run, input=frame.tobytes(), capture_output=True).stdout.decode()
            assert [tuple(map(int, line.split())) for line in boxes.splitlines()] == reading.boxes, name
            pooled += max(frame.size) > side
            checked += 1
    assert checked >= 60 and tables >= 1 and pooled >= 30, (checked, tables, pooled)


@pytest.mark.slow  # prepare_cases takes over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_prepare_matches_predicts_preprocessing(programs, shared_mnist: Path, tmp_path: Path):
    """vit_edge_prepare on grey bytes against preprocess.py on the same bytes: the examples, pen
    drawings, dressed digits, phone photos, ruled, squared and boxed paper, a page on a table and
    touching digits (the page's contract too), blank pages refused."""
    from PIL import Image

    from vit_edge.device import preprocess as pp

    cases = prepare_cases(shared_mnist)
    session = runtime.make_session(ROOT / "models" / "vit-edge.int8.onnx")
    worst = 0.0
    for name, img in cases.items():
        grey = grey_bytes(img)
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
        # the digits side by side, as predict counts them (several, or touching: marked unsure) ...
        reading = pp.read_image(Image.fromarray(grey))
        assert run.stderr == f"digits {reading.count}\n".encode(), name
        # ... and each one's input, as predict --number reads them
        each = subprocess.run([str(programs["int8"]), "--inputs", str(w), str(h)], input=grey.tobytes(),
                              capture_output=True).stdout  # fmt: skip
        inputs = np.frombuffer(each, np.float32).reshape(-1, 28, 28)
        assert len(inputs) == len(reading.digits), name
        for a, b in zip(inputs, reading.digits, strict=True):
            assert np.abs(a - b).max() <= PREPARE_MAX_DIFF, name
        worst = max(worst, float(np.abs(got - want).max()))
        assert np.abs(got - want).max() <= PREPARE_MAX_DIFF, name
        answers = runtime.run_logits(session, np.stack([got, want])[:, None], 1).argmax(1)
        assert answers[0] == answers[1], name
    print(f"\nvit_edge_prepare vs preprocess.py: max |d| {worst:.1e} on {len(cases)} images")


@pytest.mark.slow  # about 3 s: the quick tier stays under 2 minutes
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


def example(program: Path, page: np.ndarray) -> tuple[str, float, int]:
    """The example's answer line for a grey page, and the confidence and digit count it rests on."""
    h, w = page.shape
    line = subprocess.run([str(program), "--gray", str(w), str(h)], input=page.tobytes(), capture_output=True)
    prepared = subprocess.run([str(program), "--prepare", str(w), str(h)], input=page.tobytes(),
                              capture_output=True)  # fmt: skip
    logits = c_logits(program, np.frombuffer(prepared.stdout, np.float32).reshape(1, 28, 28))[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return line.stdout.decode(), float(probs.max()), int(prepared.stderr.split()[1])


def test_example_prints_the_confidence_and_marks_unsure(programs):
    """ "digit confidence" to 4 places, and " ?" when the confidence is under VIT_EDGE_MIN_CONFIDENCE
    (0.94, the release's) or when the image holds several digits, however confident."""
    one = np.full((40, 140), 230, np.uint8)
    one[5:35, 10:14] = 20
    line, confidence, digits = example(programs["int8"], one)
    assert line == f"1 {confidence:.4f}\n" and confidence >= 0.94 and digits == 1
    two = one.copy()
    two[5:19, 64:67] = 20  # a second, shorter stroke: a second digit-sized group
    line, confidence, digits = example(programs["int8"], two)
    assert line == f"1 {confidence:.4f} ?\n" and confidence >= 0.94 and digits == 2
    ones = np.full((30, 60), 230, np.uint8)
    ones[5:25, 10:14] = ones[5:25, 40:45] = 20  # (bars of one width centre on a half pixel: a tie)
    line, confidence, _ = example(programs["int8"], ones)
    assert confidence < 0.94 and line.endswith(" ?\n")


def api_check(tmp_path: Path, flags: list[str]) -> dict[str, str]:
    sources = [
        SHIPPED / n for n in ("vit_edge.c", "vit_edge_integer.c", "vit_edge_prepare.c", "vit_edge_weights.c")
    ]
    program = tmp_path / f"api{'-'.join(flags)}"
    check = ROOT / "tests" / "c_api_check.c"
    command = ["cc", *STRICT, *SANITIZE, HOST_SIDE, *flags, "-I", str(SHIPPED), "-o", str(program),
               str(check), *map(str, sources), "-lm"]  # fmt: skip
    subprocess.run(command, check=True)
    run = subprocess.run([str(program)], capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr  # a sanitizer's finding aborts it
    return dict(line.split() for line in run.stdout.splitlines())


@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_c_api_return_codes_and_arguments(tmp_path: Path):
    """vit_edge.h's promises, through tests/c_api_check.c built with the sanitizers: rows `stride`
    bytes apart read the same as packed rows; VIT_EDGE_BAD_ARGUMENT for a NULL buffer, a size under
    1 or stride < width; VIT_EDGE_BLANK for a blank page, one pixel and a 100,000 x 1 line;
    vit_edge_digits() 0 after any failed call; vit_edge_predict(pixels, NULL) the same digit as
    with a probs buffer; NaN, infinite and out-of-range pixels refused (VIT_EDGE_BAD_PIXELS, logits
    all 0); and VIT_EDGE_TOO_LARGE when the pool is set too small for the image. The integer-only
    pass keeps every promise."""
    expected = {
        "packed": "0", "digits_after_success": "1", "padded": "0", "stride_same_pixels": "1",
        "null_buffer": "-3", "digits_after_failure": "0", "zero_width": "-3", "zero_height": "-3",
        "stride_under_width": "-3", "blank": "-1", "digits_after_blank": "0",
        "predict_null_probs_same": "1", "predict_digit": "1", "one_pixel": "-1", "long_line": "-1",
        "long_line_with_ink": "-1", "noise_handled": "1", "bad_pixels_refused": "5",
        "bad_pixels_logits_zero": "1",
    }  # fmt: skip
    assert api_check(tmp_path, []) == expected
    assert api_check(tmp_path, ["-DVIT_EDGE_INTEGER"]) == expected
    small = api_check(tmp_path, ["-DVIT_EDGE_PREPARE_BYTES=8192"])
    assert (small["packed"], small["digits_after_success"], small["long_line"]) == ("-2", "0", "-2")


@pytest.mark.slow  # over 4 s on 2 cores: the quick tier stays under 2 minutes
def test_engine_under_the_sanitizers(shared_mnist: Path, tmp_path: Path):
    """The example built with AddressSanitizer and UBSan on test digits (the same logits as the
    plain build) and on grey pages of every kind predict reads: no finding on any of them."""
    from helpers import shared_images

    program = c_build(SHIPPED, tmp_path / "sanitized", extra=SANITIZE)
    plain = c_build(SHIPPED, tmp_path / "plain")
    images, _ = load_split("test", shared_mnist, allow_download=False)
    digits = (images[:200] / 255).astype(np.float32)
    assert np.array_equal(c_logits(program, digits), c_logits(plain, digits))
    # the integer pass too, on the digits and on noise, blank and full images (its extremes)
    integer = ["-DVIT_EDGE_INTEGER"]
    extremes = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    extremes = np.concatenate(
        [digits, extremes, np.zeros((1, 28, 28), np.float32), np.ones((1, 28, 28), np.float32)]
    )
    want = c_logits(c_build(SHIPPED, tmp_path / "integer", extra=integer), extremes)
    assert np.array_equal(
        c_logits(c_build(SHIPPED, tmp_path / "integer-sanitized", extra=SANITIZE + integer), extremes), want
    )
    pages = dict(list(shared_images(images).items())[::3])
    pages |= {s: dress.paper_photo(s, [images[300 + k]], seed=k) for k, s in enumerate(dress.PAPER_STYLES)}
    pages |= {"touching": dress.photo(list(images[310:312]), "flat", 4, seed=1, pitch=0.5)}
    pages |= {"blank ruled": dress.paper_photo("ruled", [], seed=9)}
    for name, img in pages.items():
        grey = grey_bytes(img)
        h, w = grey.shape
        run = subprocess.run([str(program), "--gray", str(w), str(h)], input=grey.tobytes(),
                             capture_output=True)  # fmt: skip
        assert run.returncode in (0, 1) and b"runtime error" not in run.stderr, (name, run.stderr[-2000:])
        assert run.stdout.strip(), name


@pytest.mark.slow  # 8 s: the quick tier stays under 2 minutes
def test_example_makefile_builds_for_the_host_and_boards(tmp_path: Path):
    """The README's commands: `make` (host) reads a grey image; `make cortex-m7` links for a board,
    and `make rv32imac` for a RISC-V core without an FPU, with the integer-only pass."""
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
    if not Path("/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs").exists():
        pytest.skip("no riscv64-unknown-elf-gcc with picolibc (apt-get install gcc-riscv64-unknown-elf "
                    "picolibc-riscv64-unknown-elf)")  # fmt: skip
    subprocess.run(["make", "-s", "rv32imac"], cwd=example, check=True, capture_output=True)
    elf = (example / "vit_edge_example_rv32imac.elf").read_bytes()
    assert elf[:4] == b"\x7fELF" and elf[18] == 243  # EM_RISCV
    names = subprocess.run(["riscv64-unknown-elf-nm", str(example / "vit_edge_example_rv32imac.elf")],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert " POW2" in names and " GELU" in names  # the integer-only pass's tables: the header chose it


@pytest.mark.slow
def test_styles_script_reports_both_passes(shared_mnist: Path):
    """scripts/c_styles.py (the figures of docs/microcontroller.md) on 3 digits a group: both C
    passes and both ONNX files, accuracy and agreement for each kind of image."""
    script, args = ROOT / "scripts" / "c_styles.py", ["--n", "3", "--data-dir", str(shared_mnist)]
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["n"] == 3 and sorted(report["groups"]) == ["drawn", "dressed", "paper", "photo"]
    for group in report["groups"].values():
        assert sorted(group) == sorted(
            [f"{e}_accuracy" for e in ("c_float", "c_integer", "ort_fp32", "ort_int8")]
            + ["c_float_same_as_ort_int8", "c_integer_same_as_ort_int8"]
        )
        assert all(0.0 <= v <= 1.0 for v in group.values())
        assert group["c_integer_same_as_ort_int8"] >= 2 / 3  # 3 easy digits: at most one borderline


def test_side_accuracy_script_reports_each_side_and_group(shared_mnist: Path):
    """scripts/side_accuracy.py (the working sides' table in docs/microcontroller.md) on 2 digits."""
    script = ROOT / "scripts" / "side_accuracy.py"
    args = ["--n", "2", "--sides", "48,96", "--data-dir", str(shared_mnist)]
    run = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)["sides"]
    assert sorted(report) == ["48", "96"]
    for side in report.values():
        assert sorted(side) == ["drawn", "dressed", "paper", "photo", "table"]
    # two digits a group (measured: every group 100% but paper 50% at 48 px, and a page on a table
    # 0% at both: docs/microcontroller.md's table gives the figures on 300)
    for side, group in (
        ("96", "dressed"),
        ("96", "drawn"),
        ("96", "photo"),
        ("96", "paper"),
        ("48", "drawn"),
    ):
        assert report[side][group] == 100, (side, group)
