"""What a newcomer meets first: bare `vit-edge`, the shipped checkpoint, small benchmark runs."""

from __future__ import annotations

import json
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
