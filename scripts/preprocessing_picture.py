"""Draw docs/preprocessing.png: users' images above the 28x28 input the model sees.

    python scripts/preprocessing_picture.py --data-dir ../shared/mnist

The examples in examples/, then MNIST test digits on the paper of dress.PAPER_STYLES (ruled paper,
squared paper, a form box, a comb of boxes, a page lying on a table) and touching digits: the
printed lines, the page's edge and the table are gone from the model's input.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import dress

from vit_edge import plots
from vit_edge.data import load_split

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/mnist")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "preprocessing.png")
    args = parser.parse_args()
    images, _ = load_split("test", Path(args.data_dir), allow_download=False)
    examples = sorted((ROOT / "examples").glob("*.[pj][np]g"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paper = []
        for i, style in enumerate(dress.PAPER_STYLES):
            digits = [images[3 * i + j] for j in range(2 if style == "comb" else 1)]
            img = dress.paper_photo(style, digits, seed=i, size=(800, 600))
            paper.append(dress.save(img, folder, style))
        touching = dress.photo([images[7], images[8]], "flat", 4, seed=3, size=(800, 600), pitch=0.5)
        paper.append(dress.save(touching, folder, "touching"))
        print(plots.preprocessing_before_after(examples + paper, args.out))


if __name__ == "__main__":
    main()
