"""Several models on the very same drawn digits, compared image by image.

    python scripts/drawings_paired.py models/vit-edge.int8.onnx runs/other.int8.onnx \
        --data-dir ../shared/mnist [--start 0] [--n 1000]

Test digits START..START+N-1 are drawn as scripts/dressed_accuracy.py's `pen_dark_on_white`
(a one-pixel skeleton redrawn with a round pen of 1-8 px on a 300-2000 px canvas) and predicted
through `predict`'s own torch-free path. Prints one JSON object: each model's accuracy, and against
the first model the drawings only one of the two gets right (a paired count, which tells a real
difference from the luck of the draw far better than two accuracies do).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import dress

from vit_edge.data import load_split
from vit_edge.device import runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    images, labels = load_split("test", args.data_dir, allow_download=False)
    digits = range(args.start, min(args.start + args.n, len(images)))
    right: dict[str, list[bool]] = {}
    with tempfile.TemporaryDirectory() as work:
        paths = [
            dress.save(dress.pen_dark_on_white(images[i], *dress.drawing_params(i)), Path(work), f"d{i}")
            for i in digits
        ]
        for model in args.models:
            results = runtime.predict_files(runtime.make_session(model), paths)
            right[str(model)] = [
                r.get("prediction") == int(labels[i]) for r, i in zip(results, digits, strict=True)
            ]
    first = str(args.models[0])
    report = {
        "digits": [digits.start, digits.stop],
        "accuracy": {m: sum(r) / len(r) for m, r in right.items()},
    }
    report["against_first"] = {
        m: {
            "only_first_right": sum(a and not b for a, b in zip(right[first], r, strict=True)),
            "only_this_right": sum(b and not a for a, b in zip(right[first], r, strict=True)),
        }
        for m, r in right.items()
        if m != first
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
