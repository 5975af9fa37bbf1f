"""What a newcomer meets first: bare `vit-edge`, the shipped checkpoint, small benchmark runs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import onnx
import pytest
from conftest import ROOT

SHIPPED = ROOT / "models" / "vit-edge.pt"


def test_bare_command_prints_help_and_succeeds(run_cli):
    code, out, err = run_cli()
    assert code == 0 and err == ""
    assert out.startswith("Usage: vit-edge") and all(c in out for c in ("train", "export", "predict"))


def test_evaluate_the_shipped_checkpoint(run_cli, tiny_mnist: Path):
    """README: `vit-edge evaluate --checkpoint models/vit-edge.pt` (here on 200 synthetic images)."""
    code, out, _ = run_cli(
        "evaluate", "--checkpoint", SHIPPED, "--data-dir", tiny_mnist, "--no-plots", "--json"
    )
    assert code == 0 and json.loads(out)["n"] == 200


def test_export_the_shipped_checkpoint_elsewhere(run_cli, tiny_mnist: Path, tmp_path: Path):
    before = SHIPPED.read_bytes()
    out = tmp_path / "mine.onnx"
    code, _, err = run_cli(
        "export",
        "--checkpoint",
        SHIPPED,
        "--out",
        out,
        "--data-dir",
        tiny_mnist,
        "--temperature",
        "1.0",
        "--json",
    )
    assert code == 0, err
    assert {p.key: p.value for p in onnx.load(str(out)).metadata_props}["parity"] == "pass"
    assert SHIPPED.read_bytes() == before


@pytest.mark.slow
def test_benchmark_accepts_few_runs_with_a_warning(run_cli):
    code, out, err = run_cli("benchmark", "--runs", 5, "--json")
    assert code == 0 and "warning: --runs 5: medians of fewer than 100 calls are noisy" in err
    assert json.loads(out)["runs"] == 5


def test_no_help_text_shows_an_empty_range(run_cli):
    """Click printed `[default: 0.0015; x<=None]` for every unbounded float option."""
    from vit_edge.cli import cli

    for name in [None, *cli.commands]:
        code, out, _ = run_cli(*([name] if name else []), "--help")
        assert code == 0 and "Usage:" in out, name
        assert "<=None" not in out and "None<=" not in out, (name, out)


def test_a_usage_error_shows_the_usage_and_where_to_read_more(run_cli):
    code, _, err = run_cli("predict")
    assert code == 2
    assert err.splitlines() == [
        "Usage: vit-edge predict [OPTIONS] INPUTS...",
        "Try 'vit-edge predict --help' for help.",
        "vit-edge predict: error: Missing argument 'INPUTS...'.",
    ]


def test_help_reads_whole(run_cli):
    """The top-level help gives each command's whole first sentence and names every surface; a
    default path is never split over two lines; no help points into docs/ (an install has none);
    the commands that need PyTorch say so, and predict and web do not."""
    from vit_edge.cli import cli

    code, out, _ = run_cli("--help")
    assert code == 0 and "..." not in out.split("Commands:")[1]
    for name, command in cli.commands.items():
        first = command.help.split(".")[0].split("\n")[0]
        assert first in " ".join(out.split()), name
    for surface in ("ONNX", "INT8", "microcontrollers", "web", "browser", "PyTorch"):
        assert surface in out, surface
    for name in cli.commands:
        code, out, _ = run_cli(name, "--help")
        assert "docs/" not in out and "vit-\n" not in out.replace(" ", ""), name
        assert ("Needs PyTorch" in out) == (name in ("train", "teacher", "evaluate", "export")), name
    lines = run_cli("train", "--help")[1].replace("\u00a0", " ").splitlines()
    assert any(line.endswith("[default: runs/vit-edge.pt]") for line in lines)


def test_a_folder_counts_the_files_it_skips(run_cli, tmp_path: Path):
    """A folder's file with an extension Pillow does not know is named on one line, not dropped in
    silence; given by its path, it is read (by its content, not its name)."""
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    img = Image.new("L", (60, 60), 255)
    img.paste(0, (25, 10, 32, 50))
    img.save(folder / "a.png")
    img.save(folder / "photo.heic", format="PNG")  # a PNG under another name
    code, out, err = run_cli("predict", folder)
    assert code == 0 and len(out.splitlines()) == 1
    assert "vit-edge: skipped 1 file not named as an image: photo.heic" in err
    code, out, _ = run_cli("predict", folder / "photo.heic")
    assert code == 0 and len(out.splitlines()) == 1


CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
# Printed confidences have 4 decimals; the FP32 model's answers agree across CPUs to 1e-6 (x86 and
# ARM, tests/test_arm64.py), so a shown figure may be off by its last digit's rounding only.
SHOWN_TOLERANCE = 1e-4 / 2 + 1e-5


def test_console_examples_print_what_they_show(run_cli, monkeypatch):
    """Every ```console example in the README and the guides, run from the repository: the same
    lines, digits and `?` marks exactly, confidences to the printed precision (SHOWN_TOLERANCE)."""
    monkeypatch.chdir(ROOT)
    blocks = [(p.name, b) for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for b in CONSOLE.findall(p.read_text())]  # fmt: skip
    assert any(name == "README.md" for name, _ in blocks)
    for name, block in blocks:
        for example in block.split("$ ")[1:]:
            command, *shown = example.strip().splitlines()
            args = shlex.split(command)
            assert args[0] == "vit-edge", (name, command)
            code, out, err = run_cli(*args[1:])
            assert code == 0, (name, command, err)
            got = out.strip().splitlines()
            shown = [line for line in shown if not line.startswith("model: ")]  # stderr: the model's path
            assert len(got) == len(shown), (name, command, out)
            for want, have in zip(shown, got, strict=True):
                w, h = want.split("\t"), have.split("\t")
                assert (w[:2], w[3:]) == (h[:2], h[3:]), (name, want, have)
                assert abs(float(w[2]) - float(h[2])) <= SHOWN_TOLERANCE, (name, want, have)
