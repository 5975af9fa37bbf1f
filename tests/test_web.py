"""The page in a real browser: headless Chromium from the system's packages, driven by Playwright for
Python and launched by path. Checked against the Python runtime the way the export is checked
against PyTorch: its preprocessing and the C engine in WebAssembly (the default), and
onnxruntime-web (`--engine ort`) on both packaged ONNX models. Skips, saying why, only where no
browser (or, for --engine ort, no `npm ci`) can be had.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import dress
import numpy as np
import pytest
from browser import DRAW, ONE, Page, chromium, static_server, why_no_browser
from conftest import ROOT
from helpers import c_build, c_logits, shared_images
from PIL import Image

from vit_edge.device import preprocess, runtime, webpage

RELEASED_MIN = 0.94  # the packaged model's --min-confidence (models/metrics.json)

MODELS = {"int8": ROOT / "models" / "vit-edge.int8.onnx", "fp32": ROOT / "models" / "vit-edge.onnx"}
SERVED = {"wasm": ("wasm", None), "ort-int8": ("ort", MODELS["int8"]), "ort-fp32": ("ort", MODELS["fp32"])}
# The page's 28x28 input (vit_edge_prepare in WebAssembly) against vit_edge.device.preprocess on the
# same decoded pixels: measured 6.0e-8 at most on the 36 shared images; allowed 1e-4.
INPUT_MAX_DIFF, INPUT_MEAN_DIFF = 1e-4, 1e-5
# The C engine in WebAssembly against the same C built for this CPU (the same int8 sums; the float
# steps in the same order; libm's tanhf may differ by an ulp): measured 0; allowed 1e-5.
WASM_MAX_LOGIT_DIFF = 1e-5
FP32_MAX_LOGIT_DIFF = 1e-4  # ORT Web FP32 against ORT FP32: measured 2.4e-6
# ORT's INT8 kernels differ with the CPU (VNNI or not) and ORT Web's from both: where FP32's two best
# logits lie closer than this, their order is not checked. Measured: the whole of the two-digit
# forty-two photo as one input, FP32 -0.042 against -0.081, read 2 by one machine's INT8 and 4 by the page
INT8_TIE = 0.1
# The INT8 engines (the C engine's per-channel weights and per-token activations, ORT's dynamic
# quantization) against ORT FP32: measured 8.4e-2 and 6.7e-2 at most; the answers must agree.
DRAWN_ACCURACY_FLOOR = 0.95  # measured 59 of 60 with each engine
WASM_PAGE = ["", "style.css", "app.js", "engine.js", "collect.js", "model.json", "vit_edge.wasm"]


def _why_not(engine: str) -> str | None:
    if reason := why_no_browser():
        return reason
    if engine == "ort":
        try:
            webpage.ort_files(webpage.web_root())
        except Exception as e:
            return str(e)
    return None


pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser())),
]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module", params=sorted(SERVED))
def served(request, browser):
    engine, model = SERVED[request.param]
    if reason := _why_not(engine):
        pytest.skip(reason)
    server = webpage.make_server(model, 0, engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = Page(browser, f"http://127.0.0.1:{server.server_address[1]}/")
    yield request.param, page
    page.page.close()
    server.shutdown()


def test_page_loads_offline_without_errors_and_reads_a_real_drawing(served):
    kind, page = served
    assert page.errors == []
    fetched = page.fetched()  # every request to 127.0.0.1
    if kind == "wasm":  # the default page: its own files and the engine, no ONNX Runtime
        assert sorted(fetched) == sorted(WASM_PAGE) and page.info["engine"] == "wasm"
        assert page.info["min_confidence"] == pytest.approx(
            RELEASED_MIN
        )  # the packaged model's, from the module
    else:
        assert page.info["quantization"] == ("dynamic" if kind == "ort-int8" else "fp32")
        assert "vit_edge.wasm" in fetched and "ort/ort-wasm-simd-threaded.wasm" in fetched
    # a "1" drawn with the real mouse: pointer events, the debounced prediction, the bars
    page.js("window.vitEdge.clearPad()")
    _draw_one(page)
    assert page.page.locator("#digit").inner_text() == "1"
    assert page.page.locator("#bars li").count() == 3
    assert "ms in the page" in page.page.locator("#status").inner_text()
    if (shot := os.environ.get("VIT_EDGE_SCREENSHOT")) and kind == "wasm":  # docs/web.png
        page.page.screenshot(path=shot)
    assert page.errors == []


def _rgba(img: Image.Image) -> tuple[str, int, int]:
    """The decoded pixels for the page as base64 (a JSON list of a megapixel took minutes)."""
    rgba = img.convert("RGBA")
    return base64.b64encode(rgba.tobytes()).decode(), rgba.width, rgba.height


# The page decodes _rgba's base64 and runs its own read(): the 28x28 input and the digit count.
READ = """([b64, w, h]) => window.vitEdge.read(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), w, h)"""


@pytest.fixture(scope="module")
def host_c(tmp_path_factory) -> Path:
    """The C engine of the packaged model (models/c/) built for this CPU."""
    return c_build(ROOT / "models" / "c", tmp_path_factory.mktemp("c") / "int8")


def test_page_preprocessing_and_logits_agree_with_python(served, mnist, host_c, record_property):
    """The examples, pen drawings, dressed digits and phone photos: the page's input against
    predict's, its digit count and each digit's box, and its logits against the reference for its
    engine."""
    kind, page = served
    reference = {
        "wasm": lambda x: c_logits(host_c, x[None]),
        "ort-int8": lambda x: runtime.run_logits(runtime.make_session(MODELS["int8"]), x[None, None]),
        "ort-fp32": lambda x: runtime.run_logits(runtime.make_session(MODELS["fp32"]), x[None, None]),
    }[kind]
    fp32 = runtime.make_session(MODELS["fp32"])
    worst_input = worst_logit = worst_fp32 = 0.0
    ties = 0
    images = shared_images(mnist[0])
    for name, img in images.items():
        reading = preprocess.read_image(img.convert("RGBA"))
        want = reading.pixels
        page_reading = page.js(READ, _rgba(img))
        assert page_reading["digits"] == len(reading.digits), name
        assert [tuple(b) for b in page_reading["boxes"]] == reading.boxes, name  # where Collect crops
        got = np.array(page_reading["pixels"], np.float32).reshape(28, 28)
        diff = np.abs(got - want)
        assert diff.max() <= INPUT_MAX_DIFF and diff.mean() <= INPUT_MEAN_DIFF, (name, diff.max())
        worst_input = max(worst_input, float(diff.max()))
        page_logits = np.array(page.js("(x) => window.vitEdge.logits(x)", want.ravel().tolist()))
        ref = reference(want)[0]
        fp32_logits = runtime.run_logits(fp32, want[None, None])[0]
        worst_logit = max(worst_logit, float(np.abs(page_logits - ref).max()))
        worst_fp32 = max(worst_fp32, float(np.abs(page_logits - fp32_logits).max()))
        top2 = np.sort(fp32_logits)[-2:]
        if kind != "ort-int8" or top2[1] - top2[0] > INT8_TIE:  # (ORT's INT8 kernels differ by CPU)
            assert page_logits.argmax() == ref.argmax() == fp32_logits.argmax(), name
        else:
            ties += 1
    assert ties <= 2, ties
    record_property(f"{kind}_input_max_diff", worst_input)
    record_property(f"{kind}_logit_max_diff", worst_logit)
    if kind == "wasm":
        assert worst_logit <= WASM_MAX_LOGIT_DIFF
    if kind == "ort-fp32":
        assert worst_logit <= FP32_MAX_LOGIT_DIFF
    print(
        f"\n{kind} on {len(images)} images: input max |d| {worst_input:.1e}; logits max |d| "
        f"{worst_logit:.1e} against its reference, {worst_fp32:.1e} against ORT FP32"
    )


def test_digits_drawn_with_pointer_strokes(served, mnist, record_property):
    """MNIST test digits, thinned to a skeleton and drawn back as pen strokes on the pad."""
    kind, page = served
    images, labels = mnist
    n, right = 60, 0
    for i in range(n):
        strokes = [(0.1 + 0.8 * s).tolist() for s in dress.skeleton_strokes(images[i])]  # the pad's middle
        pen = (3, 7, 14, 22)[i % 4]  # of the pad's 280 px
        right += page.js(DRAW, [strokes, pen]) == int(labels[i])
    accuracy = right / n
    record_property(f"{kind}_drawn_accuracy", accuracy)
    print(f"\n{kind}: {right} of {n} drawn digits right ({accuracy:.1%})")
    assert accuracy >= DRAWN_ACCURACY_FLOOR
    assert page.errors == []


def test_several_digits_are_read_as_a_number(served):
    """The page reads "42" as predict --number does: each digit on its own, the confidence the product."""
    kind, page = served
    page.js(PREDICT_RGBA, _rgba(Image.open(ROOT / "examples" / "forty-two-photo.jpg")))
    last = page.js("window.vitEdge.last")
    assert last["prediction"] == "42" and page.page.locator("#digit").inner_text() == "42"
    first, second = (d["confidence"] for d in last["digits"])
    assert last["confidence"] == pytest.approx(first * second)
    assert page.page.locator("#bars li").count() == 2 and page.errors == []


PREDICT_RGBA = """([b64, w, h]) => window.vitEdge.predictRgba(
  Uint8ClampedArray.from(atob(b64), (ch) => ch.charCodeAt(0)), w, h)"""


PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


def in_view(page, element: str, size: dict) -> None:
    """Shown, and wholly inside the viewport's height (a hidden element has no box and fails)."""
    assert page.page.locator(element).is_visible(), element
    box = page.page.locator(element).bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (element, box)


def _draw_one(page) -> None:
    """A "1" drawn with the real mouse (touch on a phone goes the same pointer-event way)."""
    box = page.page.locator("#pad").bounding_box()
    page.js("window.vitEdge.last = null")
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30)
    page.page.mouse.down()
    for i in range(25):
        page.page.mouse.move(
            box["x"] + box["width"] / 2 + i / 5, box["y"] + 30 + i * (box["height"] - 60) / 25
        )
    page.page.mouse.up()
    page.page.wait_for_function("window.vitEdge.last !== null")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_layout_keeps_the_answer_in_view_and_clear_resets_it(browser, size, tmp_path: Path):
    """At 390x844 (a phone) and on a desktop the pad and the answer are both in view while drawing;
    Clear empties every field (no placeholder glyph, no old timing); a file that is not an image
    gets a message in the page and the old answer goes. VIT_EDGE_SCREENSHOTS=DIR saves the page
    at each size (docs/web-phone.png, docs/web.png)."""
    server = webpage.make_server(None, 0, "wasm")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = Page(browser, f"http://127.0.0.1:{server.server_address[1]}/", viewport=size)
    try:
        _draw_one(page)
        assert page.page.locator("#digit").inner_text() == "1"
        for element in ("#pad", "#digit", "#status"):
            in_view(page, element, size)
        assert page.page.locator("#unsure").is_hidden()  # a sure 1; a dash is marked, in view too
        assert page.js(DRAW, [[[[0.5, 0.15], [0.5, 0.85]]], 15]) is not None
        page.page.wait_for_function("window.vitEdge.last && window.vitEdge.last.uncertain")
        in_view(page, "#unsure", size)
        if folder := os.environ.get("VIT_EDGE_SCREENSHOTS"):
            page.page.screenshot(path=str(Path(folder) / ("web-phone.png" if size == PHONE else "web.png")))
        page.page.click("#clear")
        assert page.page.locator("#digit").inner_text() == "" and page.page.locator("#unsure").is_hidden()
        assert page.page.locator("#bars li").count() == 0
        assert "ms in the page" not in page.page.locator("#status").inner_text()
        _draw_one(page)
        (tmp_path / "notes.png").write_text("not an image")
        page.page.set_input_files("#file", str(tmp_path / "notes.png"))
        page.page.wait_for_function("document.getElementById('status').textContent.includes('not an image')")
        assert page.page.locator("#digit").inner_text() == "" and page.page.locator("#bars li").count() == 0
        assert page.errors == []
    finally:
        page.page.close()
        server.shutdown()


def test_static_folder_works_from_python_http_server(run_cli, browser, tmp_path: Path):
    """`vit-edge web --out`: six files (no ONNX Runtime, no npm), any static host."""
    code, _, err = run_cli("web", "--out", tmp_path / "site")
    assert code == 0 and f"wrote 7 files to {tmp_path / 'site'}/" in err
    assert json.loads((tmp_path / "site" / "model.json").read_text())["engine"] == "wasm"
    with static_server(tmp_path / "site") as url:
        page = Page(browser, url)
        assert page.js(DRAW, [ONE, 15]) == 1 and page.errors == []
        assert sorted(page.fetched()) == sorted(WASM_PAGE)
        page.page.close()
