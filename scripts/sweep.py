"""Train several recipes side by side and print their validation table (docs/recipes.md's GPU sweep).

    python scripts/sweep.py --data-dir ../shared/mnist --device cuda \\
        "w0=--recipe wide" "w1=--recipe wide --seed 1" "l96=--recipe long --epochs 100"

Each NAME=OPTIONS is one `vit-edge train OPTIONS --out OUT_DIR/NAME.pt` in its own process, logging to
OUT_DIR/NAME.log. On a GPU at batch 128 a run waits on Python's kernel launches, so several share
one card at little cost each; on a 2-core CPU run them one at a time (--parallel 1). --resume
continues every run from its last epoch; --table prints the table of what OUT_DIR holds and trains
nothing. The table is for choosing on validation: the test set is left to `vit-edge evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_run(spec: str) -> tuple[str, list[str]]:
    name, sep, options = spec.partition("=")
    if not sep or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"{spec!r}: expected NAME=OPTIONS, NAME in letters, digits, - and _")
    return name, shlex.split(options)


def train_command(name: str, options: list[str], args: argparse.Namespace) -> list[str]:
    out = args.out_dir / f"{name}.pt"
    command = [sys.executable, str(ROOT / "cli.py"), "train", *options, "--out", str(out)]
    command += ["--device", args.device, "--threads", str(args.threads)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    return command + (["--resume"] if args.resume else [])


def run_all(runs: dict[str, list[str]], args: argparse.Namespace) -> dict[str, int]:
    """Run the trainings, at most args.parallel at once; returns each run's exit status."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    pending, running, status = list(runs.items()), {}, {}
    while pending or running:
        while pending and len(running) < args.parallel:
            name, options = pending.pop(0)
            with open(args.out_dir / f"{name}.log", "a") as log:
                command = train_command(name, options, args)
                running[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        for name, process in list(running.items()):
            if process.poll() is not None:
                status[name] = process.returncode
                del running[name]
        time.sleep(0.2)
    return status


def table(out_dir: Path, names: list[str] | None = None) -> str:
    """A markdown row per run's metrics.json: the figures docs/recipes.md reports."""
    rows = [
        "| run | params | epochs | best val acc (epoch) | lowest val loss (epoch) | minutes | s per epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    suffix = ".metrics.json"
    paths = [out_dir / f"{n}{suffix}" for n in names] if names else sorted(out_dir.glob(f"*{suffix}"))
    for path in paths:
        name = path.name.removesuffix(suffix)
        if not path.is_file():
            rows.append(f"| {name} | no metrics (see its .log) | | | | | |")
            continue
        m = json.loads(path.read_text())
        history = m["history"]
        lowest = min(history, key=lambda r: r["val_loss"])
        median = sorted(r["seconds"] for r in history)[len(history) // 2]
        rows.append(
            f"| {name} | {m['params']:,} | {len(history)} of {m['train']['epochs']} "
            f"| {100 * m['best_val_accuracy']:.2f}% ({m['best_epoch']}) "
            f"| {lowest['val_loss']:.4f} ({lowest['epoch']}) | {m['train_seconds'] / 60:.1f} | {median:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="NAME=OPTIONS for `vit-edge train`")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/sweep"))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--parallel", type=int, default=None, help="runs at once [default: all]")
    parser.add_argument("--resume", action="store_true", help="continue each run from its last epoch")
    parser.add_argument("--table", action="store_true", help="only print the table of --out-dir")
    args = parser.parse_args(argv)
    try:
        runs = dict(parse_run(spec) for spec in args.runs)
    except ValueError as e:
        parser.error(str(e))
    if args.table:
        print(table(args.out_dir, list(runs) or None))
        return 0
    if not runs:
        parser.error("name at least one NAME=OPTIONS run (or --table)")
    args.parallel = max(1, args.parallel or len(runs))
    status = run_all(runs, args)
    print(table(args.out_dir, list(runs)))
    failed = [name for name, code in status.items() if code != 0]
    if failed:
        print(f"sweep: {', '.join(failed)} failed; see {args.out_dir}/NAME.log", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
