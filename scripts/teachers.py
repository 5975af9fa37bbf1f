"""Validation (and optionally test) accuracy of teachers, one by one and averaged, as distilled.

    python scripts/teachers.py runs/teacher-0.pt runs/teacher-1.pt --data-dir ../shared/mnist \\
        --val-size 10000 [--test] [--student runs/base40.last.pt ...]

With --student, also each student's validation errors and how many of them the averaged teachers
make too: a distilled student inherits the teachers' mistakes (docs/distillation.md).
Use the --val-size the teachers and students train with: the held-out images are the same seeded
split. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vit_edge.checkpoint import load_model
from vit_edge.data import load_split, train_val_split
from vit_edge.teacher import ensemble_accuracy, load_teacher, shared_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teachers", type=Path, nargs="+")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--val-size", type=int, default=10_000)
    parser.add_argument("--test", action="store_true", help="also the 10,000 test images")
    parser.add_argument("--student", type=Path, action="append", default=[], help="a ViT checkpoint")
    args = parser.parse_args()
    teachers = [load_teacher(p, torch.device("cpu")) for p in args.teachers]
    images, labels = load_split("train", args.data_dir, allow_download=False)
    split = train_val_split(images, labels, args.val_size)
    sets = {"validation": (split.val_images, split.val_labels)}
    if args.test:
        sets["test"] = load_split("test", args.data_dir, allow_download=False)
    tensors = {
        name: (torch.from_numpy(x.copy()), torch.from_numpy(y.astype("int64")))
        for name, (x, y) in sets.items()
    }
    report = {"teachers": [str(p) for p in args.teachers]}
    for name, (images, labels) in tensors.items():
        report[name] = ensemble_accuracy(teachers, images, labels)
    if args.student:  # validation only: the test set is read for a winner alone
        students = {str(p): load_model(p)[0] for p in args.student}
        report["students"] = shared_errors(students, teachers, *tensors["validation"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
