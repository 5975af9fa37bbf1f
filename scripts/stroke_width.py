"""MNIST's own stroke width, by the estimator `predict` uses (vit_edge.device.preprocess.stroke_width).

    python scripts/stroke_width.py --data-dir ../shared/mnist

Prints the percentiles over the 60,000 training digits (ink > 0.5 of 255), in pixels of the 28x28
image; MNIST_STROKE (median) and MNIST_THIN (10th percentile) in preprocess.py come from here.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from vit_edge.data import load_split
from vit_edge.device.preprocess import stroke_width


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    images, _ = load_split("train", args.data_dir, allow_download=False)
    widths = np.array([stroke_width(d > 127.5) for d in images])
    levels = [5, 10, 25, 50, 75, 90, 95]
    q = np.round(np.percentile(widths, levels), 2).tolist()
    print(json.dumps({"n": len(widths), "percentiles": dict(zip(map(str, levels), q, strict=True))}))


if __name__ == "__main__":
    main()
