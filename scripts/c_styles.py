"""The C engine's two passes on the images people make: the float pass (vit_edge.c, every core with
an FPU and the page) and the integer-only pass (vit_edge_integer.c, cores without one), beside ONNX
Runtime's FP32 and INT8 files, on MNIST test digits dressed as files, drawn with a pen, photographed
and written on paper.

    python scripts/c_styles.py [--data-dir ../shared/mnist] [--n 200]

Each image goes through predict's own preprocessing (preprocess.py) to its 28x28 input; the four
engines read the same inputs. Prints one JSON object: per style group, each engine's accuracy, and
how often each C pass gives ORT INT8's answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def groups(digits: np.ndarray, labels: np.ndarray, n: int) -> dict[str, tuple[list, np.ndarray]]:
    import dress

    made: dict[str, list] = {"dressed": [], "drawn": [], "photo": [], "paper": []}
    styles, drawings = list(dress.STYLES.values()), list(dress.DRAWING_STYLES.values())
    for i in range(n):
        d = digits[i]
        made["dressed"].append(styles[i % len(styles)](d))
        made["drawn"].append(drawings[i % len(drawings)](d, *dress.drawing_params(i)))
        made["photo"].append(dress.photo(d, *dress.photo_conditions(i), seed=i))
        style = dress.PAPER_STYLES[i % len(dress.PAPER_STYLES)]
        made["paper"].append(dress.paper_photo(style, [d], seed=i))
    return {k: (v, labels[:n]) for k, v in made.items()}


def build(folder: Path, integer: bool) -> Path:
    from helpers import c_build  # tests/helpers.py, on the path from main()

    return c_build(REPO / "models" / "c", folder / f"c{integer}", fast=True,
                   extra=("-DVIT_EDGE_INTEGER",) if integer else ())  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "mnist")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import c_logits

    from vit_edge.data import load_split
    from vit_edge.device import preprocess, runtime

    digits, labels = load_split("test", args.data_dir, allow_download=False)
    sessions = {name: runtime.make_session(REPO / "models" / f"vit-edge{suffix}.onnx")
                for name, suffix in (("ort_fp32", ""), ("ort_int8", ".int8"))}  # fmt: skip
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        programs = {"c_float": build(Path(tmp), False), "c_integer": build(Path(tmp), True)}
        for group, (images, want) in groups(digits, labels, args.n).items():
            x = np.stack([preprocess.preprocess_image(img) for img in images]).astype(np.float32)
            logits = {name: c_logits(p, x) for name, p in programs.items()}
            for name, s in sessions.items():  # one image a run, as predict's batches of one
                logits[name] = np.concatenate(
                    [runtime.run_logits(s, x[i : i + 1, None], 1) for i in range(len(x))]
                )
            answers = {name: v.argmax(1) for name, v in logits.items()}
            report[group] = {
                f"{name}_accuracy": round(float((a == want).mean()), 4) for name, a in answers.items()
            }
            for name in programs:
                report[group][f"{name}_same_as_ort_int8"] = round(
                    float((answers[name] == answers["ort_int8"]).mean()), 4
                )
    print(json.dumps({"n": args.n, "groups": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
