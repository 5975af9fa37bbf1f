"""`predict`'s preprocessing at the working sides a board uses, on the images people make: MNIST
test digits dressed as files, drawn with a pen, photographed, written on paper, and on a page lying
on a table, each preprocessed at WORK_SIDE 48, 96 and 1024 (predict's own) and read by the INT8 model.

    python scripts/side_accuracy.py [--data-dir ../shared/mnist] [--n 300] [--sides 48,96,1024]

vit_edge_prepare on a board works at its VIT_EDGE_WORK_SIDE (96 by default) and gives what
preprocess.py gives at that side (tests/test_c_engine.py), so this is what a board reads. Prints
one JSON object: per side and group, the share read right (%). A refused image counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "mnist")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--sides", default="48,96,1024")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "scripts"))
    import dress
    from c_styles import groups

    from vit_edge.data import load_split
    from vit_edge.device import preprocess as pp
    from vit_edge.device import runtime

    digits, labels = load_split("test", args.data_dir, allow_download=False)
    session = runtime.make_session(REPO / "models" / "vit-edge.int8.onnx")
    made = groups(digits, labels, args.n)
    tables = [dress.paper_photo("table", [digits[i]], seed=i) for i in range(args.n)]
    made["table"] = (tables, labels[: args.n])
    report: dict[str, dict[str, float]] = {}
    for side in map(int, args.sides.split(",")):
        pp.WORK_SIDE = side  # to_grey pools to it, as vit_edge_prepare does to VIT_EDGE_WORK_SIDE
        report[str(side)] = {}
        for group, (images, want) in made.items():
            answers = []
            for img in images:
                try:
                    x = pp.preprocess_image(img)[None, None].astype(np.float32)
                    answers.append(int(runtime.run_logits(session, x, 1).argmax()))
                except pp.ImageError:
                    answers.append(-1)
            report[str(side)][group] = round(100 * float((np.array(answers) == want).mean()), 2)
    print(json.dumps({"n": args.n, "sides": report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
