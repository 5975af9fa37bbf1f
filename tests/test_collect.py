"""The page's Collect mode and `vit-edge web --collect DIR`: readings typed over camera frames and
drawings kept as one image per digit in the frame's own pixels, a count, undo, the mismatch
message, a zip in `train --data`'s layout that trains, and a server that writes only the page's
images, only into DIR, never over a file."""

from __future__ import annotations

import http.client
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from browser import DRAW, ONE, Page, why_no_browser
from PIL import Image
from test_camera import camera_page, y4m

from vit_edge.device import collect, preprocess, runtime, webpage

NO_BROWSER = pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser()))
SIZE, FRAMES = (640, 480), 8


def png_bytes(size: tuple[int, int] = (20, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 200).save(out, "PNG")
    return out.getvalue()


def noisy_png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def collecting(tmp_path: Path):
    """A server with --collect: (its port, the folder it writes into)."""
    folder = tmp_path / "collect" / "mine"  # alone in its parent: a write beside it would show
    server = webpage.make_server(None, 0, "wasm", collect=folder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], folder
    server.shutdown()
    server.server_close()


def send(port: int, method: str, path: str, body: bytes = b"", origin: str | None = "self", **headers):
    """One request as a browser page would make it (Origin: the page's own, unless told otherwise)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if origin == "self":
        origin = f"http://127.0.0.1:{port}"
    head = {"Content-Type": "image/png", **({"Origin": origin} if origin else {}), **headers}
    conn.request(method, path, body=body, headers=head)
    response = conn.getresponse()
    return response.status, response.read().decode()


def files_under(folder: Path) -> list[str]:
    """Every file in the folder, and beside it."""
    return sorted(str(p.relative_to(folder.parent)) for p in folder.parent.rglob("*") if p.is_file())


def test_collect_writes_the_pages_images_into_its_folder_and_takes_them_back(collecting):
    port, folder = collecting
    image = png_bytes()
    status, text = send(port, "POST", "/collect/3/20261207-0001-1.png", image)
    assert (status, text) == (201, '{"path": "3/20261207-0001-1.png"}')
    assert (folder / "3" / "20261207-0001-1.png").read_bytes() == image
    status, _ = send(port, "POST", "/collect/not-a-digit/frame-1.png", image)
    assert status == 201 and (folder / "not-a-digit" / "frame-1.png").is_file()
    # the same name again is refused: nothing written over
    status, text = send(port, "POST", "/collect/3/20261207-0001-1.png", png_bytes((5, 5)))
    assert status == 409 and "exists" in text
    assert (folder / "3" / "20261207-0001-1.png").read_bytes() == image
    # undo takes back what this server wrote, and only that
    (folder / "4").mkdir()
    (folder / "4" / "mine.png").write_bytes(image)
    assert send(port, "DELETE", "/collect/3/20261207-0001-1.png")[0] == 204
    assert send(port, "DELETE", "/collect/4/mine.png")[0] == 404
    assert send(port, "DELETE", "/collect/3/20261207-0001-1.png")[0] == 404
    assert not (folder / "3" / "20261207-0001-1.png").exists() and (folder / "4" / "mine.png").is_file()
    assert not list(folder.rglob("*.tmp")) and not list(folder.rglob(".collect.*"))


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/collect/../escape.png", "png", {}, 400),
        ("/collect/3/../../escape.png", "png", {}, 400),
        ("/collect/3/%2e%2e%2fescape.png", "png", {}, 400),
        ("/collect/3/sub/escape.png", "png", {}, 400),
        ("/collect/12/a.png", "png", {}, 400),
        ("/collect/3/.hidden.png", "png", {}, 400),
        ("/collect/3/a.exe", "png", {}, 400),
        ("/escape.png", "png", {}, 404),
        ("/collect/3/a.png", "text", {}, 415),
        ("/collect/3/a.png", "jpeg", {}, 415),
        ("/collect/3/a.png", "truncated", {}, 415),
        ("/collect/3/a.png", "png", {"origin": "http://evil.example"}, 403),
        ("/collect/3/a.png", "png", {"origin": None}, 403),
        ("/collect/3/a.png", "png", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("/collect/3/a.png", "png", {"Host": "attacker.example"}, 403),
    ],
)
def test_collect_refuses_and_writes_nothing(collecting, path, body, headers, status):
    port, folder = collecting
    jpeg = io.BytesIO()
    Image.new("L", (8, 8)).save(jpeg, "JPEG")
    data = {"png": png_bytes(), "text": b"hello, not an image", "jpeg": jpeg.getvalue(),
            "truncated": noisy_png()[:2000]}[body]  # fmt: skip
    before = files_under(folder)
    got, text = send(port, "POST", path, data, **headers)
    assert got == status, text
    assert text and "\n" not in text.strip()
    assert files_under(folder) == before


def test_collect_refuses_an_oversized_body_before_reading_it(collecting):
    port, folder = collecting
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/collect/3/big.png")
    conn.putheader("Origin", f"http://127.0.0.1:{port}")
    conn.putheader("Content-Length", str(collect.MAX_BYTES + 1))
    conn.endheaders()
    conn.send(png_bytes())  # the rest never comes: the answer must not wait for it
    response = conn.getresponse()
    assert response.status == 413 and not (folder / "3").exists()


def test_a_server_without_collect_takes_no_writes(tmp_path: Path):
    server = webpage.make_server(None, 0, "wasm")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, text = send(server.server_address[1], "POST", "/collect/3/a.png", png_bytes())
        assert status == 404 and "--collect" in text
    finally:
        server.shutdown()
        server.server_close()


def test_web_collect_needs_a_served_page_and_a_folder(run_cli, tmp_path: Path):
    code, _, err = run_cli("web", "--out", tmp_path / "site", "--collect", tmp_path / "mine")
    assert code != 0 and "--collect needs the page served" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "site").exists() and not (tmp_path / "mine").exists()
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("web", "--collect", tmp_path / "file", "--port", "0")
    assert code == 2 and "error: Invalid value for '--collect'" in err and "is a file" in err
    assert "Traceback" not in err and (tmp_path / "file").read_text() == "x"


# ---- the page, in headless Chromium ----


def frame(digits: list[np.ndarray], seed: int, height: int = 110) -> Image.Image:
    """Digits written side by side inside the page's guide box, photographed: uneven light, noise."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    ink = np.zeros((h, w))
    pitch = int(height * 0.8)
    left = (w - pitch * (len(digits) - 1) - height) // 2 + int(rng.integers(-10, 11))
    top = (h - height) // 2 + int(rng.integers(-10, 11))
    for i, digit in enumerate(digits):
        big = np.asarray(Image.fromarray(digit).resize((height, height), Image.Resampling.BICUBIC)) / 255
        box = ink[top : top + height, left + i * pitch : left + i * pitch + height]
        np.maximum(box, np.clip(big, 0, 1), out=box)
    light = 1 - rng.uniform(0.1, 0.3) * np.linspace(0, 1, w)[None, :]
    grey = (215 * (1 - ink) + 40 * ink) * light + rng.normal(0, 4, (h, w))
    return Image.fromarray(np.clip(np.round(grey), 0, 255).astype(np.uint8))


def number_clip(folder: Path, name: str, digits: list[np.ndarray]) -> Path:
    return y4m(folder / f"{name}.y4m", [frame(digits, seed) for seed in range(FRAMES)])


@pytest.fixture(scope="module")
def written(shared_mnist: Path):
    """The first MNIST test image of each digit."""
    from vit_edge.data import load_split

    images, labels = load_split("test", shared_mnist, allow_download=False)
    return {d: images[int(np.flatnonzero(labels == d)[0])] for d in range(10)}


def keep(page: Page, typed: str) -> str:
    """Type a reading and press Enter; the page's note after it."""
    page.js("document.getElementById('collect-note').textContent = ''")
    page.page.fill("#collect-label", typed)
    page.page.press("#collect-label", "Enter")
    page.page.wait_for_function("document.getElementById('collect-note').textContent !== ''")
    return page.js("document.getElementById('collect-note').textContent")


def note(page: Page, text: str) -> None:
    """Wait for the page's note to say `text`: it is written, and the counts shown, only once the
    server has answered for each image (a collection's items change at once)."""
    page.page.wait_for_function("t => document.getElementById('collect-note').textContent === t", arg=text)


@NO_BROWSER
@pytest.mark.slow
def test_collect_from_the_camera_downloads_a_folder_that_trains(
    written, collecting, tmp_path: Path, tiny_mnist: Path, run_cli, monkeypatch
):
    """Two clips of five written digits each, kept twice over the camera, a frame kept as not a
    digit, a mismatch refused, an undo: the zips hold one image per digit in train --data's layout,
    each crop reads as one digit (predict's preprocessing), the server's folder holds the same
    files, and train --data trains a tiny model on the unzipped folders."""
    from playwright.sync_api import sync_playwright

    port, folder = collecting
    url = f"http://127.0.0.1:{port}/"
    clips = {"01234": [written[d] for d in range(5)], "56789": [written[d] for d in range(5, 10)]}
    unzipped = tmp_path / "zipped"
    kept_names = []
    with sync_playwright() as p:
        for number, digits in clips.items():
            browser, page = camera_page(p, url, number_clip(tmp_path, number, digits))
            try:
                page.page.click("#camera-button")
                page.page.wait_for_function("window.vitEdge.camera.answers > 0", timeout=20_000)
                page.page.click("#collect-button")
                assert keep(page, number[:3]) == "typed 3 digits, found 5: nothing kept"
                assert page.js("window.vitEdge.collect.items()") == 0
                assert keep(page, number) == f"kept {' '.join(number)}"
                assert keep(page, number) == f"kept {' '.join(number)}"
                page.page.click("#video")  # away from the text box: n keeps the frame as not a digit
                page.page.keyboard.press("n")
                page.page.wait_for_function("window.vitEdge.collect.items() === 11")
                note(page, "kept the frame as not a digit")  # (counts show once the server has it)
                counts = page.page.locator("#counts").inner_text()
                assert counts.startswith(" · ".join(f"{d}: {2 if d in number else 0}" for d in "0123"))
                assert counts.endswith("9: " + ("2" if "9" in number else "0") + " · not a digit: 1")
                page.page.click("#undo")  # the not-a-digit frame goes, from the page and the folder
                page.page.wait_for_function("window.vitEdge.collect.items() === 10")
                note(page, "took back not a digit")
                with page.page.expect_download() as download:
                    page.page.click("#download")
                archive = zipfile.ZipFile(download.value.path())
                assert archive.testzip() is None
                names = archive.namelist()
                assert sorted(n.split("/")[0] for n in names) == sorted(number * 2)
                archive.extractall(unzipped)
                kept_names += names
                assert page.errors == []
            finally:
                browser.close()
    # the server wrote the same files (and took the undone one back)
    assert files_under(folder) == sorted(f"mine/{name}" for name in kept_names)
    for name in kept_names:
        assert (unzipped / name).read_bytes() == (folder / name).read_bytes()
    # each crop, in the frame's own pixels, holds one digit that predict's preprocessing finds, and
    # the packaged model reads it as the digit typed (the crops are the digits, in order)
    for name in kept_names:
        img = Image.open(unzipped / name)
        assert min(img.size) > 2 * 28, (name, img.size)  # frame pixels, not the 28x28 input
        assert preprocess.read(unzipped / name).count == 1, name
    session = runtime.make_session(runtime.default_model_path())
    answers = runtime.predict_files(session, [unzipped / name for name in kept_names])
    read_as = [str(a["prediction"]) for a in answers]
    assert read_as == [name.split("/")[0] for name in kept_names]
    # the two ends held together: train --data takes the unzipped folder
    monkeypatch.setenv("VIT_EDGE_CACHE", str(tmp_path / "cache"))
    small = ["--patch-size", "7", "--dim", "32", "--depth", "2", "--heads", "4", "--no-spt", "--no-lsa"]
    out = tmp_path / "mine.pt"
    code, _, err = run_cli("train", "--data", unzipped, "--data-dir", tiny_mnist, "--init", "none",
                           "--out", out, "--epochs", "1", *small, "--val-size", "100",
                           "--outlier-bank", "200", "--threads", "1")  # fmt: skip
    assert code == 0, err
    assert "your validation split: 10 digits" in err and out.is_file()


@NO_BROWSER
@pytest.mark.slow
def test_collect_keeps_drawings_from_the_pad(collecting):
    """On the pad: a drawn 1 kept as 1 (a crop of the pad around it), two digits typed for one refused."""
    from playwright.sync_api import sync_playwright

    port, folder = collecting
    with sync_playwright() as p:
        browser, page = camera_page(p, f"http://127.0.0.1:{port}/", None)
        try:
            assert page.js(DRAW, [ONE, 15]) == 1
            page.page.click("#collect-button")
            assert keep(page, "12") == "typed 2 digits, found 1: nothing kept"
            assert keep(page, "x") == "type the digits you see (0-9), or press n for not a digit"
            assert keep(page, "1") == "kept 1"
            (kept,) = (folder / "1").iterdir()
            img = Image.open(kept)
            assert img.height > 0.6 * 280 * 0.6 and img.width < 0.5 * 280, img.size  # around the stroke
            assert page.page.locator("#counts").inner_text().startswith("0: 0 · 1: 1 · 2: 0")
            page.page.click("#undo")
            page.page.wait_for_function("window.vitEdge.collect.items() === 0")
            note(page, "took back 1")  # once the server has deleted it
            assert not kept.exists()
            page.page.click("#undo")
            assert page.page.locator("#collect-note").inner_text() == "nothing to undo"
            page.page.click("#download")
            assert page.page.locator("#collect-note").inner_text() == "nothing collected yet"
            assert page.errors == []
        finally:
            browser.close()
