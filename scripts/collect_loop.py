"""The newcomer's loop of docs/own-digits.md, end to end, with a fake camera: collect readings in the
page, download them, fine-tune on them, and read fresh displays with the result in the page.

    python scripts/collect_loop.py OUT [--readings 20] [--not-a-digit 3] [--test-readings 30]
                                       [--kind sevenseg|handwritten] [--data-dir ../shared/mnist]

1. A y4m clip (Chromium's fake camera) shows --readings displays, each for half a second, and a few
   faces that show no digit. Each frame carries its index as a bar code above the guide box (the
   page never reads it; this script does, to know what to type).
2. `vit-edge web --collect OUT/collected` serves the page. Headless Chromium: Camera, Collect; at
   each display, Freeze, type the reading and press Enter (n for a face with no digit), Go on.
   A reading the page splits into a different number of digits is refused and counted. Then
   Download: OUT/digits.zip, unzipped to OUT/digits/ (checked equal to the server's folder).
3. `vit-edge train --data OUT/digits` (the documented defaults), `export --format c`, the page's
   WebAssembly engine built from it.
4. A fresh clip of --test-readings displays read through the camera by the packaged page and by the
   fine-tuned one: the share of readings read right and not marked unsure.
Needs Chromium and playwright (the dev extra), clang with wasi-libc, and PyTorch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]

import sevenseg  # noqa: E402
from test_camera import camera_page, y4m  # noqa: E402

from vit_edge.device import webpage  # noqa: E402

SIZE, HOLD, BITS = (640, 480), 5, 7  # frames a display stays in view (10 a second); bar code bits
TRIES = 3  # a reading the page splits wrongly is tried again on a later frame, as a user would
GUIDE = (0.1, 0.25, 0.8, 0.5)  # the page's guide box (web/app.js): left, top, width, height
# the bar code read off the video's frame in view (the page itself never reads it)
MARKER = f"""() => {{
  const v = document.getElementById('video'), c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0);
  let n = 0;
  for (let b = 0; b < {BITS}; b++) n |= (g.getImageData(20 * b + 10, 10, 1, 1).data[0] < 128) << b;
  return n;
}}"""


def in_view(display: Image.Image, index: int, rng: np.random.Generator) -> Image.Image:
    """A camera frame: the display inside the guide box on a table, its index coded above the box."""
    w, h = SIZE
    # a display on a table of its own shade; handwriting on a page that fills the frame
    table = int(rng.integers(60, 200)) if display.mode != "L" else int(np.asarray(display)[0, 0])
    frame = Image.new("L", SIZE, table)
    box_w, box_h = GUIDE[2] * w, GUIDE[3] * h
    scale = min(
        rng.uniform(0.5, 0.85) * box_w / display.width, rng.uniform(0.5, 0.85) * box_h / display.height
    )
    shown = display.convert("L").resize((round(display.width * scale), round(display.height * scale)))
    left = int(GUIDE[0] * w + rng.uniform(0, box_w - shown.width))
    top = int(GUIDE[1] * h + rng.uniform(0, box_h - shown.height))
    frame.paste(shown, (left, top))
    for b in range(BITS):  # the bar code: dark for 1, light for 0, 20 px blocks along the top
        frame.paste(20 if index >> b & 1 else 235, (20 * b, 0, 20 * b + 20, 20))
    return frame


def make_clip(path: Path, shows: list[Image.Image], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    frames = []
    for i, display in enumerate(shows):
        for _ in range(HOLD):  # a hand-held camera: each frame its own place, size and sensor noise
            still = np.asarray(in_view(display, i, rng), np.float32)
            noisy = np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8)
            frames.append(Image.fromarray(noisy))
    return y4m(path, frames)


def displays(
    kind: str, n: int, rng: np.random.Generator, mnist: Path | None
) -> tuple[list[Image.Image], list[str]]:
    """n readings of 3-6 digits (the digits typed: a decimal point is not typed)."""
    texts = [sevenseg.random_reading(rng) for _ in range(n)]
    if kind == "sevenseg":
        kinds = sevenseg.KINDS
        return [sevenseg.draw_reading(t, rng, kinds[i % len(kinds)]) for i, t in enumerate(texts)], [
            t.replace(".", "") for t in texts
        ]
    from vit_edge.data import load_split

    images, labels = load_split("train", mnist, allow_download=False)
    texts = [t.replace(".", "") for t in texts]
    shows = []
    for t in texts:
        picks = [images[rng.choice(np.flatnonzero(labels == int(d)))] for d in t]
        row = np.concatenate([255 - p for p in picks], axis=1)  # dark ink on light paper, side by side
        shows.append(Image.fromarray(row).resize((row.shape[1] * 3, 84)))
    return shows, texts


def serve(**kwargs):
    server = webpage.make_server(port=0, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def open_page(playwright, url: str, clip: Path):
    """Chromium with the clip as its camera, the page loaded and its camera reading."""
    browser, page = camera_page(playwright, url, clip)
    page.page.click("#camera-button")
    page.page.wait_for_function("window.vitEdge.camera.answers > 0", timeout=30_000)
    return browser, page.page


def each_display(page, count: int, seconds: float, tries: int = 1):
    """Freeze at each display (its index from the bar code), yield the index, then Go on; a display
    is met again, up to `tries` times, while the caller sends back False (not done with it)."""
    left, end = dict.fromkeys(range(count), tries), time.perf_counter() + seconds
    while left and time.perf_counter() < end:
        reads = page.evaluate("window.vitEdge.camera.frozenReads")
        page.click("#freeze")
        page.wait_for_function(f"window.vitEdge.camera.frozenReads > {reads}")
        index = page.evaluate(MARKER)
        if index in left:
            left[index] -= 1
            if (yield index) is not False or not left[index]:
                del left[index]
        page.click("#freeze")
        page.wait_for_timeout(150)


def collect(url: str, clip: Path, texts: list[str], not_digits: int, out: Path) -> dict:
    from playwright.sync_api import sync_playwright

    kept = tried = 0
    with sync_playwright() as p:
        browser, page = open_page(p, url, clip)
        try:
            page.click("#collect-button")
            displays = each_display(page, len(texts) + not_digits, 300, tries=TRIES)
            done = None
            while (i := next_or_none(displays, done)) is not None:
                page.evaluate("document.getElementById('collect-note').textContent = ''")
                if i >= len(texts):
                    page.click("#video")
                    page.keyboard.press("n")
                else:
                    page.fill("#collect-label", texts[i])
                    page.press("#collect-label", "Enter")
                page.wait_for_function("document.getElementById('collect-note').textContent !== ''")
                note = page.inner_text("#collect-note")
                done = note.startswith("kept")
                kept, tried = kept + done, tried + 1
                print(f"  {texts[i] if i < len(texts) else 'not a digit':>8}: {note}")
            counts = page.inner_text("#counts")
            with page.expect_download() as download:
                page.click("#download")
            download.value.save_as(out)
        finally:
            browser.close()
    return {"kept": kept, "tries": tried, "counts": counts}


def next_or_none(generator, answer):
    try:
        return generator.send(answer) if answer is not None else next(generator)
    except StopIteration:
        return None


def read_displays(url: str, clip: Path, texts: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    right = marked = 0
    with sync_playwright() as p:
        browser, page = open_page(p, url, clip)
        try:
            seen = 0
            for i in each_display(page, len(texts), 240):
                last = page.evaluate("window.vitEdge.cameraLast")
                seen += 1
                ok = last is not None and str(last["prediction"]) == texts[i]
                right += ok and not last["uncertain"]
                marked += last is None or bool(last["uncertain"])
        finally:
            browser.close()
    return {"readings": seen, "read_right_not_marked": right / max(seen, 1), "marked": marked / max(seen, 1)}


def run(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", *args], check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--readings", type=int, default=20)
    parser.add_argument("--not-a-digit", type=int, default=3)
    parser.add_argument("--test-readings", type=int, default=30)
    parser.add_argument("--kind", choices=["sevenseg", "handwritten"], default="sevenseg")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "mnist")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = args.out
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not an empty folder")
    if args.readings + args.not_a_digit > 2**BITS or args.test_readings > 2**BITS:
        parser.error(f"at most {2**BITS} displays a clip")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    shows, texts = displays(args.kind, args.readings, rng, args.data_dir)
    shows += [sevenseg.draw_not_digit(rng, sevenseg.KINDS[i % 4]) for i in range(args.not_a_digit)]
    test_shows, test_texts = displays(
        args.kind, args.test_readings, np.random.default_rng(args.seed + 1000), args.data_dir
    )
    clip = make_clip(out / "collect.y4m", shows, args.seed)
    test_clip = make_clip(out / "test.y4m", test_shows, args.seed + 1000)

    print(f"1. collecting {args.readings} readings and {args.not_a_digit} faces with no digit in the page")
    server, url = serve(model=None, collect=out / "collected")
    t0 = time.perf_counter()
    collected = collect(url, clip, texts, args.not_a_digit, out / "digits.zip")
    collected["seconds"] = time.perf_counter() - t0
    server.shutdown()
    with zipfile.ZipFile(out / "digits.zip") as archive:
        archive.extractall(out / "digits")
        names = sorted(archive.namelist())
    on_server = sorted(str(p.relative_to(out / "collected")) for p in (out / "collected").rglob("*.png"))
    assert names == on_server, "the zip and the server's folder differ"
    print(f"   {collected}")

    print("2. fine-tuning, exporting, building the page's engine")
    seconds = run("vit_edge.cli", "train", "--data", str(out / "digits"), "--data-dir", str(args.data_dir),
                  "--out", str(out / "mine.pt"))  # fmt: skip
    run("vit_edge.cli", "export", "--checkpoint", str(out / "mine.pt"), "--format", "c",
        "--out", str(out / "mine_c"), "--data-dir", str(args.data_dir))  # fmt: skip
    run("vit_edge.export.wasm", str(out / "mine_c"), str(out / "mine.wasm"))

    print(f"3. reading {args.test_readings} fresh displays through the camera")
    results = {}
    for name, model in (("packaged", None), ("fine-tuned", out / "mine.wasm")):
        server, url = serve(model=model)
        results[name] = read_displays(url, test_clip, test_texts)
        server.shutdown()
        print(f"   {name}: {results[name]}")
    report = {"kind": args.kind, "collected": collected, "images": len(names), "train_seconds": seconds,
              "test": results}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
