"""Confidence calibration: temperature scaling (Guo et al., 2017) and its measures. numpy only.

A model trained with label smoothing 0.1 tops out near 0.91 whatever it answers; dividing its
logits by one fitted temperature makes softmax match how often the answers are right, without
changing any argmax. The export folds 1/T into the last layer, so every consumer of the ONNX
`logits` output gets calibrated probabilities from a plain softmax.
"""

from __future__ import annotations

import math

import numpy as np

ECE_BINS = 15


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under softmax(logits / temperature)."""
    z = logits.astype(np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature that minimises held-out NLL (golden-section search on log T; NLL is convex there)."""
    if len(labels) == 0:
        raise ValueError("no held-out images to fit a temperature on")
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(logits, labels, math.exp(c)) < nll(logits, labels, math.exp(d)):
            b = d
        else:
            a = c
    return math.exp((a + b) / 2)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the |accuracy - confidence| gap of equal-width confidence bins, weighted by their size."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(gap)


# predict's default threshold: the highest P (in steps of 0.01) that marks at most this share of
# the validation answers as uncertain; a user sees about one answer in a hundred flagged
MAX_MARKED = 0.01


def highest_threshold(confidence: np.ndarray, max_marked: float = MAX_MARKED) -> float:
    """The highest P in steps of 0.01 from 0.50 that marks at most max_marked of these answers
    (confidence under P); 0.5 when none does."""
    candidates = [round(float(p), 2) for p in np.arange(0.50, 1.0, 0.01)]
    return max([p for p in candidates if (confidence < p).mean() <= max_marked], default=0.5)


def uncertain_report(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """What `predict --min-confidence threshold` marks: share of all answers, share of wrong ones caught."""
    marked = probs.max(axis=1) < threshold
    wrong = probs.argmax(axis=1) != labels
    return {
        "threshold": threshold,
        "marked": float(marked.mean()),
        "wrong": int(wrong.sum()),
        "wrong_caught": float(marked[wrong].mean()) if wrong.any() else 0.0,
        "accuracy_unmarked": float((~wrong[~marked]).mean()) if (~marked).any() else 0.0,
    }
