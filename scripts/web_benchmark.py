"""The page's numbers in headless Chromium: the C engine in WebAssembly (the default page), and
onnxruntime-web on both packaged ONNX models (`vit-edge web --engine ort`, when `npm ci` has run).

    python scripts/web_benchmark.py [--runs 200] [--engine wasm]

Serves the page with `vit-edge web`'s server on 127.0.0.1, loads it in the system's Chromium
(Playwright, launched by path) with the browser cache off, and prints one JSON object per model:
bytes transferred by type, seconds from navigation to the first prediction of a drawn digit, and
the median and p90 of one prediction (preprocessing of the 560x560 pad + inference) and of
inference alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path

from vit_edge.device import webpage

ROOT = Path(__file__).resolve().parent.parent
TIMING = """async (runs) => {
  const one = [];
  const infer = [];
  const x = Array.from(window.vitEdge.last.input);
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    await window.vitEdge.predictPad();
    one.push(performance.now() - t);
    t = performance.now();
    await window.vitEdge.logits(x);
    infer.push(performance.now() - t);
  }
  const q = (a, p) => a.sort((u, v) => u - v)[Math.floor(p * (a.length - 1))];
  return {predict_median_ms: q(one, 0.5), predict_p90_ms: q(one, 0.9),
          inference_median_ms: q(infer, 0.5), inference_p90_ms: q(infer, 0.9)};
}"""


def measure(browser, engine: str, model: Path | None, runs: int) -> dict:
    server = webpage.make_server(model, 0, engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page()
    page.route("**/*", lambda route: route.continue_())  # routing turns the browser cache off
    t0 = time.perf_counter()
    page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
    ready_ms = page.evaluate("window.vitEdge.ready")["ready_ms"]
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 40, steps=10)
    page.mouse.up()
    page.wait_for_function("window.vitEdge.last !== null")
    first = time.perf_counter() - t0
    sizes = page.evaluate("performance.getEntriesByType('resource').map(e => [e.name, e.encodedBodySize])")
    html = page.evaluate("performance.getEntriesByType('navigation')[0].encodedBodySize")
    by_kind: dict[str, int] = {"html": html}
    for url, size in sizes:
        suffix = Path(url).suffix.lstrip(".")
        by_kind[suffix] = by_kind.get(suffix, 0) + size
    result = {
        "engine": engine,
        "model": model.name if model else webpage.WASM,
        "bytes": by_kind,
        "total_bytes": sum(by_kind.values()),
        "seconds_to_first_prediction": round(first, 3),  # with Playwright's page set-up and mouse
        # in the page: navigation start to ready, plus its first prediction (the drawn stroke's)
        "page_seconds_to_first_prediction": round((ready_ms + page.evaluate("vitEdge.last.ms")) / 1000, 3),
        "page_seconds_to_ready": round(ready_ms / 1000, 3),
    } | page.evaluate(TIMING, runs)
    page.close()
    server.shutdown()
    return result


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--engine", choices=["wasm", "ort", "all"], default="all")
    args = parser.parse_args()
    onnx = [ROOT / "models" / name for name in ("vit-edge.int8.onnx", "vit-edge.onnx")]
    setups = [("wasm", None)] + [("ort", model) for model in onnx]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=webpage.CHROMIUM_ARGS)
        for engine, model in setups:
            if args.engine in (engine, "all"):
                print(json.dumps(measure(browser, engine, model, args.runs)))
        browser.close()


if __name__ == "__main__":
    main()
