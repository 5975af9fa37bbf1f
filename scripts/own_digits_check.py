"""Measure `train --data` on seven-segment displays: fine-tune on one generator's set, score held-out
digits and whole readings of both generators, and MNIST's test set (issue 54's figures).

    python scripts/own_digits_check.py --data-dir ../shared/mnist [--per-digit 30] [--work runs/own-check]
                                       [--generators sevenseg,segments_second] [-- TRAIN OPTIONS ...]

For each generator (scripts/sevenseg.py, the worked example's, and scripts/segments_second.py,
written separately as a check) it draws a training set with seed 0, fine-tunes the packaged model
on it with `vit-edge train --data` (TRAIN OPTIONS added), and scores the result on fresh seeds of
both generators: single digits (read right and not marked, confidently wrong) and readings of 3-6
digits read the way `predict --number` reads them. One row per generator trained on.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vit_edge import checkpoint
from vit_edge.device import folder, preprocess
from vit_edge.device.calibration import softmax
from vit_edge.inference import predict_logits
from vit_edge.own_digits import report_on

SCRIPTS = Path(__file__).resolve().parent
GENERATORS = {"sevenseg": "sevenseg.py", "segments_second": "segments_second.py"}


def draw(generator: str, out: Path, per_digit: int, readings: int, seed: int) -> Path:
    """A generator's set: digit folders in out, readings in out-readings."""
    if out.exists():
        return out
    args = [
        str(SCRIPTS / GENERATORS[generator]),
        str(out),
        "--per-digit",
        str(per_digit),
        "--seed",
        str(seed),
    ]
    args += ["--readings", str(readings)] + (
        ["--not-a-digit", str(per_digit)] if generator == "sevenseg" else []
    )
    subprocess.run([sys.executable, *args], check=True, capture_output=True)
    if (out / "readings").is_dir():
        shutil.move(out / "readings", out.with_name(out.name + "-readings"))
    return out


def score_readings(model, temperature: float, threshold: float, readings: Path) -> dict:
    """Whole readings as predict --number reads them: right, confidently wrong, marked."""
    right = confident_wrong = marked = n = 0
    with open(readings / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        n += 1
        try:
            reading = preprocess.read(readings / row["file"])
        except preprocess.ImageError:
            marked += 1
            continue
        x = torch.from_numpy(np.round(np.stack(reading.digits) * 255).astype(np.uint8))
        p = softmax(predict_logits(model, x).numpy() / temperature)
        number = "".join(str(d) for d in p.argmax(1))
        unsure = reading.unsplit > 0 or float(np.prod(p.max(1))) < threshold
        right += number == row["reading"] and not unsure
        confident_wrong += number != row["reading"] and not unsure
        marked += unsure
    return {"n": n, "right": right / n, "confidently_wrong": confident_wrong / n, "marked": marked / n}


def c_agreement(ckpt: Path, test_set: Path) -> dict:
    """The checkpoint's C folder (export --format c) built for this host at predict's working side,
    against predict itself (its FP32 ONNX file) on the test digits: the same digit wherever predict
    is sure, and how often overall."""
    from vit_edge.device import runtime
    from vit_edge.export import c_export

    c_dir, onnx = ckpt.with_name(ckpt.stem + "_c"), ckpt.with_suffix(".onnx")
    for args in (["--format", "c", "--out", str(c_dir)], ["--out", str(onnx)]):
        subprocess.run([sys.executable, "-m", "vit_edge.cli", "export", "--checkpoint", str(ckpt), *args],
                       check=True, capture_output=True)  # fmt: skip
    program = c_dir / "example-host"
    sources = [str(c_dir / n) for n in (*c_export.LIBRARY, "example/main.c")]
    side = f"-DVIT_EDGE_WORK_SIDE={preprocess.WORK_SIDE}"
    subprocess.run(["cc", "-std=c99", "-O2", side, "-o", str(program), *sources, "-lm"], check=True)
    session = runtime.make_session(onnx)
    threshold = runtime.model_min_confidence(session)
    sure = same_sure = same = n = 0
    for result in runtime.predict_files(session, sorted(test_set.glob("[0-9]/*")), min_confidence=threshold):
        if "error" in result:
            continue
        grey = preprocess.grey_bytes(preprocess.open_image(result["path"]))
        h, w = grey.shape
        line = subprocess.run(
            [str(program), "--gray", str(w), str(h)], input=grey.tobytes(), capture_output=True
        )
        digit = int(line.stdout.split()[0])
        n, same = n + 1, same + (digit == result["prediction"])
        if not result["uncertain"]:
            sure, same_sure = sure + 1, same_sure + (digit == result["prediction"])
    return {"n": n, "same": same / n, "sure": sure, "same_where_sure": same_sure / max(sure, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--per-digit", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("runs/own-check"))
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--tag", default="default")
    parser.add_argument("--c", action="store_true", help="also the C folder on this host against predict")
    parser.add_argument("train_options", nargs="*")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    tests = {g: draw(g, args.work / f"{g}-test", 20, 60, 11) for g in GENERATORS}
    rows = []
    for g in args.generators.split(","):
        train_set = draw(g, args.work / f"{g}-train-{args.per_digit}", args.per_digit, 0, 0)
        ckpt = args.work / f"{g}-{args.tag}.pt"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vit_edge.cli", "train", "--data", str(train_set), "--data-dir",
                        args.data_dir, "--out", str(ckpt), *args.train_options], check=True,
                       capture_output=True)  # fmt: skip
        seconds = time.perf_counter() - t0
        model, state = checkpoint.load_model(ckpt)
        cal = state["calibration"]
        mnist = state["metrics"]["own_data"].get("mnist_test_accuracy")
        row = {"trained_on": g, "tag": args.tag, "options": " ".join(args.train_options), "seconds": seconds,
               "mnist_test": mnist, "calibration": cal}  # fmt: skip
        for test_name, test_set in tests.items():
            own = folder.load(test_set, lambda _: None)
            p = softmax(
                predict_logits(model, torch.from_numpy(own.images.copy())).numpy() / cal["temperature"]
            )
            single = report_on(p, own.labels, cal["min_confidence"])
            lost = sum(path.split("/")[0] in folder.DIGITS for path, _ in own.skipped)  # predict refuses them
            unread = lost / (lost + int((own.labels >= 0).sum()))
            readings = test_set.with_name(test_set.name + "-readings")
            row[test_name] = {
                "digits_right_not_marked": single["right_not_marked"] * (1 - unread),
                "digits_confidently_wrong": single["confidently_wrong"] * (1 - unread),
                "digits_unread": unread,
                "readings": score_readings(model, cal["temperature"], cal["min_confidence"], readings),
            }
        if args.c:
            row["c_host_vs_predict"] = {name: c_agreement(ckpt, test_set) for name, test_set in tests.items()}
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
