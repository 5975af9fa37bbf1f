"""The page in a real browser (issue 20): headless Chromium from the system's packages, driven by
Playwright for Python and launched by path. Checked against the Python runtime the way the export
is checked against PyTorch. Skips, saying why, only where no browser or no runtime files can be had.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from helpers import shared_images
from PIL import Image

from vit_edge.device import dress, preprocess, runtime, webpage

CHROMIUM = os.environ.get("VIT_EDGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
MODELS = {"int8": ROOT / "models" / "vit-edge.int8.onnx", "fp32": ROOT / "models" / "vit-edge.onnx"}
# The page's 28x28 input against vit_edge.device.preprocess on the same decoded pixels: measured
# 6e-8 at most (float32 rounding; the JavaScript reimplements Pillow's resampling), allowed 1e-4.
INPUT_MAX_DIFF, INPUT_MEAN_DIFF = 1e-4, 1e-5
FP32_MAX_LOGIT_DIFF = 1e-4  # measured 1.0e-6; INT8 (ORT's x86 kernels vs WebAssembly) 8.7e-3, same answers
DRAWN_ACCURACY_FLOOR = 0.95  # measured 59 of 60 with either model (the plain f2 release: 60 of 60)


def _why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extra has it)"
    if not CHROMIUM:
        return "no Chromium on this machine (apt-get install chromium)"
    try:
        webpage.site_files(MODELS["int8"])
    except Exception as e:
        return str(e)
    return None


pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(_why_no_browser() is not None, reason=str(_why_no_browser())),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=webpage.CHROMIUM_ARGS)
        yield b
        b.close()


def _serve(model: Path):
    server = webpage.make_server(model, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class Page:
    """One page load, with every request and console error recorded."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        t0 = time.perf_counter()
        self.page.goto(url)
        self.info = self.page.evaluate("window.vitEdge.ready")
        self.load_seconds = time.perf_counter() - t0

    def js(self, script: str, arg=None):
        return self.page.evaluate(script, arg)


@pytest.fixture(scope="module", params=sorted(MODELS))
def served(request, browser):
    server, url = _serve(MODELS[request.param])
    page = Page(browser, url)
    yield request.param, page
    page.page.close()
    server.shutdown()


def test_page_loads_offline_without_errors_and_reads_a_real_drawing(served):
    kind, page = served
    assert page.errors == []
    assert page.requests and all(u.startswith("http://127.0.0.1:") for u in page.requests), page.requests
    assert page.info["quantization"] == ("dynamic" if kind == "int8" else "fp32")
    # a "1" drawn with the real mouse: pointer events, the debounced prediction, the bars
    page.js("window.vitEdge.clearPad(); window.vitEdge.last = null")
    box = page.page.locator("#pad").bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30)
    page.page.mouse.down()
    for i in range(25):
        page.page.mouse.move(
            box["x"] + box["width"] / 2 + i / 5, box["y"] + 30 + i * (box["height"] - 60) / 25
        )
    page.page.mouse.up()
    page.page.wait_for_function("window.vitEdge.last !== null")
    assert page.page.locator("#digit").inner_text() == "1"
    assert page.page.locator("#bars li").count() == 3
    shot = os.environ.get("VIT_EDGE_SCREENSHOT")
    if shot and kind == "int8":
        page.page.screenshot(path=shot)
    assert page.errors == []


def _rgba(img: Image.Image) -> tuple[str, int, int]:
    """The decoded pixels for the page as base64 (a JSON list of a megapixel took minutes)."""
    rgba = img.convert("RGBA")
    return base64.b64encode(rgba.tobytes()).decode(), rgba.width, rgba.height


# The page decodes _rgba's base64 and runs its own read(): the 28x28 input and the digit count.
READ = """([b64, w, h]) => window.vitEdge.read(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), w, h)"""


@pytest.fixture(scope="module")
def mnist(shared_mnist: Path):
    from vit_edge.data import load_split

    return load_split("test", shared_mnist, allow_download=False)


def test_page_preprocessing_and_logits_agree_with_python(served, mnist, record_property):
    kind, page = served
    session = runtime.make_session(MODELS[kind])
    worst_input, worst_logit, answers = 0.0, 0.0, []
    for name, img in shared_images(mnist[0]).items():
        reading = preprocess.read_image(img.convert("RGBA"))
        want = reading.pixels
        page_reading = page.js(READ, _rgba(img))
        assert page_reading["digits"] == len(reading.digits), name
        got = np.array(page_reading["pixels"], np.float32)
        diff = np.abs(got.reshape(28, 28) - want)
        assert diff.max() <= INPUT_MAX_DIFF and diff.mean() <= INPUT_MEAN_DIFF, (
            name,
            diff.max(),
            diff.mean(),
        )
        worst_input = max(worst_input, float(diff.max()))
        page_logits = np.array(page.js("(x) => window.vitEdge.logits(x)", want.ravel().tolist()))
        ort_logits = runtime.run_logits(session, want[None, None])[0]
        worst_logit = max(worst_logit, float(np.abs(page_logits - ort_logits).max()))
        answers.append((name, int(page_logits.argmax()), int(ort_logits.argmax())))
        python_answer = int(runtime.run_logits(session, want[None, None])[0].argmax())
        page_answer = int(np.array(page.js("(x) => window.vitEdge.logits(x)", got.tolist())).argmax())
        assert page_answer == python_answer, name
    record_property(f"{kind}_input_max_diff", worst_input)
    record_property(f"{kind}_logit_max_diff", worst_logit)
    assert all(a == b for _, a, b in answers), answers
    if kind == "fp32":
        assert worst_logit <= FP32_MAX_LOGIT_DIFF
    print(f"\n{kind}: page vs Python: input max |d| {worst_input:.2e}, logits max |d| {worst_logit:.2e}")


DRAW = """([strokes, pen]) => {
  const pad = document.getElementById("pad"), r = pad.getBoundingClientRect();
  document.getElementById("pen").value = pen;
  window.vitEdge.clearPad();
  for (const stroke of strokes) {
    stroke.forEach(([y, x], i) => {
      const type = i === 0 ? "pointerdown" : "pointermove";
      pad.dispatchEvent(new PointerEvent(type, {clientX: r.left + x * r.width, clientY: r.top + y * r.height,
        pointerId: 7, pointerType: "pen", bubbles: true}));
    });
    pad.dispatchEvent(new PointerEvent("pointerup", {pointerId: 7, pointerType: "pen", bubbles: true}));
  }
  return window.vitEdge.predictPad().then((a) => a && a.prediction);
}"""


def test_digits_drawn_with_pointer_strokes(served, mnist, record_property):
    """MNIST test digits, thinned to a skeleton and drawn back as pen strokes on the pad."""
    kind, page = served
    images, labels = mnist
    n, right = 60, 0
    for i in range(n):
        strokes = [(0.1 + 0.8 * s).tolist() for s in dress.skeleton_strokes(images[i])]  # the pad's middle
        pen = (6, 14, 28, 44)[i % 4]  # of the pad's 560 px
        right += page.js(DRAW, [strokes, pen]) == int(labels[i])
    accuracy = right / n
    record_property(f"{kind}_drawn_accuracy", accuracy)
    print(f"\n{kind}: {right} of {n} drawn digits right ({accuracy:.1%})")
    assert accuracy >= DRAWN_ACCURACY_FLOOR
    assert page.errors == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_static_folder_works_from_python_http_server(run_cli, browser, tmp_path: Path):
    code, _, err = run_cli("web", "--out", tmp_path / "site")
    assert code == 0 and f"wrote 11 files to {tmp_path / 'site'}/" in err
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(tmp_path / "site")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        page = Page(browser, f"http://127.0.0.1:{port}/")
        assert json.loads((tmp_path / "site" / "model.json").read_text())["model"] == "vit-edge.int8.onnx"
        strokes = [[[0.2, 0.5], [0.5, 0.5], [0.8, 0.5]]]
        assert page.js(DRAW, [strokes, 30]) == 1 and page.errors == []
        page.page.close()
    finally:
        server.terminate()
        server.wait()


def test_missing_runtime_files_say_which_command_installs_them(run_cli, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(webpage, "ORT_DIST", Path("node_modules") / "not-installed")
    code, _, err = run_cli("web", "--out", tmp_path / "site")
    assert code == 2 and "run `npm ci` in" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "site").exists()
