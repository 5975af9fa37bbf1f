"""Accuracy of `vit-edge predict` on MNIST test digits dressed up as users' images.

    python scripts/dressed_accuracy.py --data-dir ../shared/mnist [--n 1000] [--model PATH.onnx]

Each of the first N test digits is saved as a file in every style of tests/dress.py (inverted,
off-centre on a big canvas, tinted RGB paper, JPEG, transparent PNG, palette, 16-bit) and predicted
through the same torch-free path as the CLI. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dress import STYLES, save  # noqa: E402

from vit_edge import runtime  # noqa: E402
from vit_edge.data import load_split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    images, labels = load_split("test", args.data_dir, allow_download=False)
    model = args.model or runtime.default_model_path()
    session = runtime.make_session(model)
    report = {"model": str(model), "n_per_style": args.n, "accuracy": {}}
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        plain = [save(runtime_image(images[i]), folder, f"plain-{i}") for i in range(args.n)]
        groups = {"mnist_as_is": plain}
        for style, dress in STYLES.items():
            groups[style] = [save(dress(images[i]), folder, f"{style}-{i}") for i in range(args.n)]
        for style, paths in groups.items():
            results = list(runtime.predict_files(session, paths))
            correct = sum(r.get("prediction") == int(labels[i]) for i, r in enumerate(results))
            report["accuracy"][style] = correct / args.n
    print(json.dumps(report, indent=2))


def runtime_image(digit):
    from PIL import Image

    return Image.fromarray(digit)


if __name__ == "__main__":
    main()
