"""Headless Chromium for the page's tests: the system's browser launched by path through Playwright,
one page load with its requests and console errors recorded, and a static folder served by Python."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from vit_edge.device import webpage

CHROMIUM = os.environ.get("VIT_EDGE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the dev extra has it)"
    if not CHROMIUM:
        return "no Chromium on this machine (apt-get install chromium)"
    return None


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=webpage.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """One page load, with every request and console error recorded."""

    def __init__(self, browser, url: str, viewport: dict | None = None):
        self.page = browser.new_page(**({"viewport": viewport} if viewport else {}))
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

    def fetched(self) -> list[str]:
        """The file names the page requested (all from 127.0.0.1, or the test fails)."""
        assert all(u.startswith("http://127.0.0.1:") for u in self.requests), self.requests
        return [u.split("/", 3)[3] for u in self.requests]


# Pen strokes ([y, x] in [0, 1] of the pad) dispatched as pointer events; returns the page's answer.
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
ONE = [[[0.2, 0.5], [0.5, 0.5], [0.8, 0.5]]]  # a "1", one vertical stroke


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def static_server(folder: Path, python: str = sys.executable):
    """`python -m http.server` on a folder (a static host that knows nothing of vit-edge)."""
    port = free_port()
    server = subprocess.Popen(
        [python, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait()
