"""`vit-edge benchmark`: PyTorch eager FP32 vs ONNX Runtime FP32 and INT8, measured in one run.

For each engine: batch-1 latency (median and p90 over >= 500 calls after warm-up) and batch-256
throughput. Each engine runs at 1 thread and at all cores, and the faster setting is reported with
its thread count. Without torch installed, only the ONNX files are measured.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .device.runtime import make_session
from .errors import ModelFileError


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _time_calls(fn: Callable[[], Any], runs: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t
    return times


def measure(make_runner: Callable[[int], Callable[[np.ndarray], Any]], runs: int, big_runs: int) -> dict:
    """Best batch-1 latency and batch-256 throughput over thread settings {1, all cores}."""
    rng = np.random.default_rng(0)
    one = rng.random((1, 1, 28, 28), dtype=np.float32)
    big = rng.random((256, 1, 28, 28), dtype=np.float32)
    best: dict[str, Any] = {}
    for threads in sorted({1, cores()}):
        run = make_runner(threads)
        t1 = _time_calls(lambda run=run: run(one), runs, warmup=50)
        median, p90 = float(np.median(t1) * 1e3), float(np.percentile(t1, 90) * 1e3)
        if "batch1_median_ms" not in best or median < best["batch1_median_ms"]:
            best |= {"batch1_median_ms": median, "batch1_p90_ms": p90, "batch1_threads": threads}
        throughput = 256 / float(np.median(_time_calls(lambda run=run: run(big), big_runs, warmup=2)))
        if throughput > best.get("batch256_images_per_s", 0):
            best |= {"batch256_images_per_s": throughput, "batch256_threads": threads}
    return best


def ort_runner(path: Path) -> Callable[[int], Callable[[np.ndarray], Any]]:
    def make(threads: int):
        session = make_session(path, threads)
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})

    return make


def torch_runner(checkpoint: Path) -> Callable[[int], Callable[[np.ndarray], Any]]:
    import torch

    from .checkpoint import load_model

    model, _ = load_model(checkpoint)

    def make(threads: int):
        torch.set_num_threads(threads)

        def run(x: np.ndarray):
            with torch.inference_mode():
                return model(torch.from_numpy(x))

        return run

    return make


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def companions(model: Path) -> list[tuple[str, Path]]:
    """The FP32 file and its NAME.int8.onnx sibling, whichever of the two exist."""
    fp32 = model.with_name(model.name.replace(".int8.onnx", ".onnx"))
    int8 = fp32.with_name(f"{fp32.stem}.int8.onnx")
    found = [(kind, p) for kind, p in (("ORT FP32", fp32), ("ORT INT8", int8)) if p.is_file()]
    if not found:
        raise ModelFileError(f"model {model} does not exist")
    return found


def run_benchmark(
    model: Path,
    checkpoint: Path | None,
    runs: int = 500,
    big_runs: int = 10,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    engines: list[tuple[str, str, Callable]] = []
    if checkpoint is not None:
        engines.append(("PyTorch eager FP32", str(checkpoint), torch_runner(checkpoint)))
    engines += [(kind, str(path), ort_runner(path)) for kind, path in companions(model)]
    results = []
    for name, file, runner in engines:
        log(f"measuring {name} ({file}) ...")
        results.append({"engine": name, "file": file} | measure(runner, runs, big_runs))
    if checkpoint is not None:
        base = results[0]
        for r in results:
            r["speedup_batch1"] = base["batch1_median_ms"] / r["batch1_median_ms"]
            r["speedup_batch256"] = r["batch256_images_per_s"] / base["batch256_images_per_s"]
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": cores(),
            "python": platform.python_version(),
        },
        "runs": runs,
        "results": results,
    }


def format_table(report: dict[str, Any]) -> str:
    header = ("engine", "batch-1 median ms", "p90 ms", "threads", "batch-256 img/s", "threads", "vs PyTorch")
    rows = [header]
    for r in report["results"]:
        ratio = (
            f"{r['speedup_batch1']:.2f}x / {r['speedup_batch256']:.2f}x" if "speedup_batch1" in r else "n/a"
        )
        rows.append(
            (
                r["engine"],
                f"{r['batch1_median_ms']:.3f}",
                f"{r['batch1_p90_ms']:.3f}",
                str(r["batch1_threads"]),
                f"{r['batch256_images_per_s']:.0f}",
                str(r["batch256_threads"]),
                ratio,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    note = "vs PyTorch: batch-1 latency ratio / batch-256 throughput ratio (above 1 = faster than PyTorch)"
    return "\n".join(lines + ["", note])
