"""scripts/sweep.py: several `vit-edge train` runs side by side, and their validation table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("sweep", ROOT / "scripts" / "sweep.py")
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)

TINY = "--patch-size 7 --dim 32 --depth 2 --heads 2 --val-size 100 --degrees 0 --translate 0 --scale 0"


@pytest.mark.slow
def test_sweep_trains_each_run_and_tables_them(tiny_mnist: Path, tmp_path: Path, capsys):
    out = tmp_path / "sweep"
    runs = [f"a={TINY} --epochs 1", f"b-2={TINY} --epochs 2 --seed 1"]
    code = sweep.main([*runs, "--data-dir", str(tiny_mnist), "--out-dir", str(out), "--device", "cpu"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    rows = stdout.strip().splitlines()
    assert len(rows) == 4 and rows[0].startswith("| run | params")
    assert rows[2].startswith("| a | ") and "| 1 of 1 |" in rows[2]
    assert rows[3].startswith("| b-2 | ") and "| 2 of 2 |" in rows[3]
    assert all((out / f"{n}.{ext}").is_file() for n in ("a", "b-2") for ext in ("pt", "log", "metrics.json"))

    # --resume continues a run to more epochs; --table reads what is there without training
    more = [f"a={TINY} --epochs 2", "--resume"]
    code = sweep.main([*more, "--data-dir", str(tiny_mnist), "--out-dir", str(out), "--device", "cpu"])
    assert code == 0 and "| 2 of 2 |" in capsys.readouterr().out
    assert "resuming from epoch 1" in (out / "a.log").read_text()
    assert sweep.main(["--table", "--out-dir", str(out)]) == 0
    assert capsys.readouterr().out.count("| 2 of 2 |") == 2


def test_a_failed_run_is_named_and_fails_the_sweep(tiny_mnist: Path, tmp_path: Path, capsys):
    out = tmp_path / "sweep"
    code = sweep.main([f"bad={TINY} --epochs 0", "--data-dir", str(tiny_mnist), "--out-dir", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 1
    assert "| bad | no metrics" in stdout
    assert "sweep: bad failed" in stderr
    assert "--epochs must be >= 1" in (out / "bad.log").read_text()


@pytest.mark.parametrize(
    ("argv", "text"), [(["no-equals-sign"], "expected NAME=OPTIONS"), ([], "at least one")]
)
def test_bad_arguments_exit_2(argv: list[str], text: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(argv)
    assert exit_info.value.code == 2 and text in capsys.readouterr().err
