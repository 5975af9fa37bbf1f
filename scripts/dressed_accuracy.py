"""Accuracy of `vit-edge predict` on MNIST test digits dressed up as users' images and drawings.

    python scripts/dressed_accuracy.py --data-dir ../shared/mnist [--n 1000] [--model PATH.onnx]

Each of the first N test digits is saved as a file in every style of vit_edge.device.dress and predicted
through the same torch-free path as the CLI (file -> preprocess -> ONNX Runtime):
- dressed: inverted, off-centre on a big canvas, tinted RGB paper, JPEG, transparent PNG, palette,
  16-bit, and the 28x28 original as it is;
- drawings: the digit thinned to a one-pixel skeleton and redrawn with a round pen of 1-8 px on a
  canvas 300-2000 px wide (every pen and canvas pairing in turn), dark on white, transparent,
  anti-aliased JPEG, and coloured ink on tinted paper;
- per pen width: dark on white with one pen width for all N digits (canvases in turn);
- not digits: letters in Pillow's font and random scribbles, for the share marked uncertain.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from pathlib import Path

from PIL import Image

from vit_edge.data import load_split
from vit_edge.device import dress, runtime


def canvas(i: int) -> int:
    return dress.CANVASES[i % len(dress.CANVASES)]


def score(session, paths: list[Path], labels, threshold: float) -> dict[str, float]:
    results = list(runtime.predict_files(session, paths, min_confidence=threshold))
    right = [r.get("prediction") == int(y) for r, y in zip(results, labels, strict=True)]
    marked = [r.get("uncertain", True) for r in results]
    return {
        "accuracy": sum(right) / len(paths),
        "marked_uncertain": sum(marked) / len(paths),
        "errors": sum("error" in r for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--min-confidence", type=float, default=None)
    args = parser.parse_args()
    images, labels = load_split("test", args.data_dir, allow_download=False)
    model = args.model or runtime.default_model_path()
    session = runtime.make_session(model)
    threshold = args.min_confidence or runtime.min_confidence(runtime.metadata(session))
    n, y = args.n, labels[: args.n]
    report: dict = {"model": str(model), "n_per_style": n, "min_confidence": threshold}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)

        def files(name: str, make) -> list[Path]:
            return [dress.save(make(i), folder, f"{name}-{i}") for i in range(n)]

        groups = {"mnist_as_is": files("plain", lambda i: Image.fromarray(images[i]))}
        for style, fn in dress.STYLES.items():
            groups[style] = files(style, lambda i, fn=fn: fn(images[i]))
        report["dressed"] = {k: score(session, v, y, threshold) for k, v in groups.items()}
        for p in folder.iterdir():
            p.unlink()

        report["drawings"] = {}
        for style, fn in dress.DRAWING_STYLES.items():
            paths = files(style, lambda i, fn=fn: fn(images[i], *dress.drawing_params(i)))
            report["drawings"][style] = score(session, paths, y, threshold)
            for p in paths:
                p.unlink()

        report["pen_width"] = {}
        for pen in dress.PENS:
            paths = files(f"pen{pen}", lambda i, pen=pen: dress.pen_dark_on_white(images[i], pen, canvas(i)))
            report["pen_width"][str(pen)] = score(session, paths, y, threshold)
            for p in paths:
                p.unlink()

        letters = [
            dress.save(dress.letter(c), folder, f"letter-{c}{c.isupper()}") for c in string.ascii_letters
        ]
        scribbles = [dress.save(dress.scribble(s), folder, f"scribble-{s}") for s in range(200)]
        report["not_digits"] = {
            "letters": score(session, letters, [-1] * len(letters), threshold)["marked_uncertain"],
            "scribbles": score(session, scribbles, [-1] * len(scribbles), threshold)["marked_uncertain"],
            "n_letters": len(letters),
            "n_scribbles": len(scribbles),
        }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
