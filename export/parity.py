"""ONNX Runtime vs PyTorch: logit differences, argmax agreement, accuracy, latency, thresholds."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vit_edge.device.runtime import make_session, run_logits

FP32_MAX_ABS_DIFF = 1e-4
FP32_AGREEMENT = 1.0
INT8_AGREEMENT = 0.995
INT8_MAX_ACCURACY_DROP_PP = 0.1


@dataclass
class ParityResult:
    file: str
    kind: str  # "fp32" or "int8"
    size_kb: float
    max_abs_diff: float
    agreement: float
    n_compared: int
    accuracy: float | None
    latency_ms: float
    threads: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def batch1_latency_ms(session, pixels: np.ndarray, runs: int = 200, warmup: int = 20) -> float:
    """Median wall time of one single-image ORT call."""
    name = session.get_inputs()[0].name
    one = np.ascontiguousarray(pixels[:1], dtype=np.float32)
    times = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        session.run(None, {name: one})
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def check_file(
    path: Path,
    kind: str,
    torch_logits: np.ndarray,
    pixels: np.ndarray,
    labels: np.ndarray | None,
    torch_accuracy: float | None,
    n_compare: int = 1000,
    threads: int = 1,
) -> ParityResult:
    """Compare one ONNX file with PyTorch's logits for the same pixels, and apply the thresholds.

    torch_logits and pixels cover the whole evaluation set (test set, or random inputs when
    labels is None); the logit comparison uses the first n_compare of them.
    """
    session = make_session(path, threads)
    ort_logits = run_logits(session, pixels)
    n = min(n_compare, len(pixels))
    diff = float(np.abs(ort_logits[:n] - torch_logits[:n]).max())
    agreement = float((ort_logits[:n].argmax(1) == torch_logits[:n].argmax(1)).mean())
    accuracy = float((ort_logits.argmax(1) == labels).mean()) if labels is not None else None
    result = ParityResult(
        file=str(path),
        kind=kind,
        size_kb=round(Path(path).stat().st_size / 1024, 1),
        max_abs_diff=diff,
        agreement=agreement,
        n_compared=n,
        accuracy=accuracy,
        latency_ms=batch1_latency_ms(session, pixels),
        threads=threads,
    )
    if kind == "fp32":
        if diff > FP32_MAX_ABS_DIFF:
            result.failures.append(f"FP32 max |dlogit| {diff:.2e} > {FP32_MAX_ABS_DIFF:.0e}")
        if agreement < FP32_AGREEMENT:
            result.failures.append(f"FP32 argmax agreement {100 * agreement:.2f}% < 100%")
    elif labels is not None:  # on random pixels near-tied logits flip under INT8: no measure of a model
        if agreement < INT8_AGREEMENT:
            result.failures.append(f"INT8 argmax agreement {100 * agreement:.2f}% < {100 * INT8_AGREEMENT}%")
        if accuracy is not None and torch_accuracy is not None:
            drop = 100 * (torch_accuracy - accuracy)
            if drop > INT8_MAX_ACCURACY_DROP_PP:
                result.failures.append(f"INT8 accuracy drop {drop:.2f} pp > {INT8_MAX_ACCURACY_DROP_PP} pp")
    return result


def format_table(files: list[dict], torch_accuracy: float | None) -> str:
    """The parity report as a text table; files are ParityResult.to_dict() rows."""

    def pct(x: float | None) -> str:
        return f"{100 * x:.2f}%" if x is not None else "n/a"

    rows = [("file", "size KB", "accuracy", "agreement", "max |Δ|", "batch-1 ms", "status")]
    rows.append(("PyTorch (checkpoint)", "", pct(torch_accuracy), "", "", "", ""))
    for r in files:
        status = "ok" if r["passed"] else "FAIL"
        size, diff, ms = f"{r['size_kb']:.0f}", f"{r['max_abs_diff']:.2e}", f"{r['latency_ms']:.3f}"
        rows.append((Path(r["file"]).name, size, pct(r["accuracy"]), pct(r["agreement"]), diff, ms, status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
