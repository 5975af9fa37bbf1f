"""Accuracy of `vit-edge predict` on MNIST test digits dressed up as users' images and drawings.

    python scripts/dressed_accuracy.py --data-dir ../shared/mnist [--n 1000] [--model PATH.onnx]

Each of the first N test digits is saved as a file in every style of scripts/dress.py and predicted
through the same torch-free path as the CLI (file -> preprocess -> ONNX Runtime):
- dressed: inverted, off-centre on a big canvas, tinted RGB paper, JPEG, transparent PNG, palette,
  16-bit, and the 28x28 original as it is;
- drawings: the digit thinned to a one-pixel skeleton and redrawn with a round pen of 1-8 px on a
  canvas 300-2000 px wide (every pen and canvas pairing in turn), dark on white, transparent,
  anti-aliased JPEG, and coloured ink on tinted paper;
- per pen width: dark on white with one pen width for all N digits (canvases in turn);
- phone photos: the digit in dark ink on tinted paper under flat light, a gradient, a vignette or
  a soft shadow, with grey sensor noise of 0-16 levels, as JPEGs of 400x300 to 2000x1500 px (every
  light and noise pairing in turn), by light and by noise level;
- blank photos: the same pages with no digit, for the share answered confidently (it should be 0);
- two digits side by side in a photo: the share marked uncertain, and the share `--number` reads
  right;
- not digits: letters in Pillow's font and random scribbles, for the share marked uncertain;
- paper: the digit on ruled paper, squared paper, in a printed form box, a number in a comb of boxes,
  and a page lying on a table at an angle (pages 400x300 to 1600x1200, JPEG): the share read right
  and the share confidently wrong; each also blank, for the share answered confidently;
- held-out non-digit marks (dress.not_digit: letters, symbols and doodles drawn as pen strokes, a
  generator the training's outlier marks do not come from): the share marked unsure or refused,
  and how many are marked because they do not look like a digit; also without the spiral, whose
  kind the training bank has drawn since it failed here (outliers.curl);
- touching digits: two digits written into each other, marked uncertain, and read by --number;
- noise: pages of uniform random noise, for the share answered confidently.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from pathlib import Path

import dress
import numpy as np
from PIL import Image

from vit_edge.data import load_split
from vit_edge.device import runtime


def canvas(i: int) -> int:
    return dress.CANVASES[i % len(dress.CANVASES)]


PHOTO_SIZES = ((400, 300), (1000, 750), (2000, 1500))


def photo_size(i: int) -> tuple[int, int]:
    return PHOTO_SIZES[(i // 20) % len(PHOTO_SIZES)]  # after each full cycle of lights and noises


def score(session, paths: list[Path], labels, threshold: float, number: bool = False) -> dict[str, float]:
    results = list(runtime.predict_files(session, paths, min_confidence=threshold, number=number))
    key = "number" if number else "prediction"
    right = [str(r.get(key)) == str(y) for r, y in zip(results, labels, strict=True)]
    marked = [r.get("uncertain", True) for r in results]
    return {
        "accuracy": sum(right) / len(paths),
        "marked_uncertain": sum(marked) / len(paths),
        "errors": sum("error" in r for r in results),
    }


def refusals(session, paths: list[Path], threshold: float) -> dict:
    """For images that hold no digit: the shares answered confidently, refused, marked unsure (and
    marked because they do not look like a digit)."""
    return tally(list(runtime.predict_files(session, paths, min_confidence=threshold)))


def tally(results: list[dict]) -> dict:
    """refusals() of results already predicted."""
    confident = sum("error" not in r and not r["uncertain"] for r in results)
    refused = sum("error" in r for r in results)
    not_digit = sum("does not look like a digit" in r.get("reason", "") for r in results)
    n = len(results)
    return {
        "n": n,
        "answered_confidently": confident / n,
        "refused": refused / n,
        "marked_uncertain": (n - confident - refused) / n,
        "marked_not_a_digit": not_digit / n,
    }


def paper_report(session, images, labels, folder: Path, n: int, threshold: float) -> dict:
    report: dict = {"paper": {}, "paper_blank": {}}
    for style in dress.PAPER_STYLES:
        paths, truth = [], []
        for i in range(n):
            k = 3 * i if style == "comb" else i
            count = 2 + i % 2 if style == "comb" else 1  # a comb holds a number of 2 or 3 digits
            digits = [images[k + j] for j in range(count)]
            img = dress.paper_photo(style, digits, seed=i, size=dress.paper_size(i))
            paths.append(dress.save(img, folder, f"{style}-{i}"))
            truth.append("".join(str(labels[k + j]) for j in range(count)))
        results = list(
            runtime.predict_files(session, paths, min_confidence=threshold, number=style == "comb")
        )
        key = "number" if style == "comb" else "prediction"
        right = [str(r.get(key)) == t for r, t in zip(results, truth, strict=True)]
        wrong_sure = [
            "error" not in r and not r["uncertain"] and not ok for r, ok in zip(results, right, strict=True)
        ]
        report["paper"][style] = {
            "n": n,
            "accuracy": sum(right) / n,
            "confidently_wrong": sum(wrong_sure) / n,
            "errors": sum("error" in r for r in results),
        }
        blanks = [
            dress.save(
                dress.paper_photo(style, [], seed=10_000 + i, size=dress.paper_size(i)),
                folder,
                f"b{style}-{i}",
            )
            for i in range(n)
        ]
        report["paper_blank"][style] = refusals(session, blanks, threshold)
        for p in folder.iterdir():
            p.unlink()
    marks = {name: [] for name in dress.NOT_DIGITS}
    for name in dress.NOT_DIGITS:
        for i in range(max(1, n // 10)):
            marks[name].append(
                dress.save(dress.not_digit(name, i, dress.paper_size(i)), folder, f"nd-{name}-{i}")
            )
    read = {
        name: list(runtime.predict_files(session, paths, min_confidence=threshold))
        for name, paths in marks.items()
    }
    # the bank learned spirals (outliers.curl) after this check found them read as 9: not held out
    report["not_digits_held_out"] = {
        "all": tally([r for results in read.values() for r in results]),
        "all_but_spiral": tally([r for name, results in read.items() if name != "spiral" for r in results]),
        "by_kind": {name: tally(results) for name, results in read.items()},
    }
    noise = []
    for i in range(max(1, n // 10)):
        rng = np.random.default_rng(i)
        noise.append(
            dress.save(
                Image.fromarray(rng.integers(0, 256, (480, 640), dtype=np.uint8)), folder, f"noise-{i}"
            )
        )
    report["noise_pages"] = refusals(session, noise, threshold)
    pairs = [(2 * i, 2 * i + 1) for i in range(n)]
    touching = [
        dress.save(
            dress.photo(
                [images[a], images[b]], *dress.photo_conditions(k), seed=k, size=photo_size(k), pitch=0.5
            ),
            folder,
            f"touch-{k}",
        )
        for k, (a, b) in enumerate(pairs)
    ]
    numbers = [f"{labels[a]}{labels[b]}" for a, b in pairs]
    report["touching_digits"] = {
        "n": n,
        "marked_uncertain": score(session, touching, numbers, threshold)["marked_uncertain"],
        "number_read_right": score(session, touching, numbers, threshold, number=True)["accuracy"],
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-photos", type=int, default=200, help="blank photos, and photos of two digits")
    parser.add_argument(
        "--n-paper", type=int, default=200, help="images per paper style, and per blank style"
    )
    parser.add_argument(
        "--paper-only", action="store_true", help="only the paper, non-digit and touching parts"
    )
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
    if args.paper_only:
        with tempfile.TemporaryDirectory() as work:
            report.update(paper_report(session, images, labels, Path(work), args.n_paper, threshold))
        report["seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(report, indent=2))
        return
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

        report["photos"], by_noise = {}, {str(noise): [] for noise in dress.NOISES}
        for light in dress.LIGHTS:
            paths = files(
                f"photo-{light}",
                lambda i, light=light: dress.photo(
                    images[i], light, dress.NOISES[i % len(dress.NOISES)], seed=i, size=photo_size(i)
                ),
            )
            report["photos"][light] = score(session, paths, y, threshold)
            for i, path in enumerate(paths):
                by_noise[str(dress.NOISES[i % len(dress.NOISES)])].append((path, y[i]))
        report["photo_noise"] = {
            noise: score(session, [p for p, _ in pairs], [t for _, t in pairs], threshold)
            for noise, pairs in by_noise.items()
        }
        for p in folder.iterdir():
            p.unlink()

        blanks = [
            dress.save(
                dress.photo([], *dress.photo_conditions(i), seed=i, size=photo_size(i)), folder, f"blank-{i}"
            )
            for i in range(args.n_photos)
        ]
        blank = refusals(session, blanks, threshold)
        report["blank_photos"] = {
            "n": blank["n"],
            "answered_confidently": blank["answered_confidently"],
            "refused_as_blank": blank["refused"],
            "marked_uncertain": blank["marked_uncertain"],
        }

        pairs = [(2 * i, 2 * i + 1) for i in range(args.n_photos)]
        two = [
            dress.save(
                dress.photo([images[a], images[b]], *dress.photo_conditions(k), seed=k, size=photo_size(k)),
                folder,
                f"two-{k}",
            )
            for k, (a, b) in enumerate(pairs)
        ]
        numbers = [f"{labels[a]}{labels[b]}" for a, b in pairs]
        report["two_digits"] = {
            "n": len(two),
            "marked_uncertain": score(session, two, numbers, threshold)["marked_uncertain"],
            "number_read_right": score(session, two, numbers, threshold, number=True)["accuracy"],
        }

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
        for p in folder.iterdir():
            p.unlink()
        report.update(paper_report(session, images, labels, folder, args.n_paper, threshold))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
