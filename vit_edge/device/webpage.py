"""`vit-edge web`: the page in web/ with the model, served on 127.0.0.1 or written as a static folder.

Python's standard library only (no torch, no new dependency): the page runs the model itself with
onnxruntime-web, so the server hands out files and never runs inference.
"""

from __future__ import annotations

import http.server
import json
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..errors import OutputError, UsageError
from . import runtime
from .fileio import atomic_write

PAGE = ("index.html", "style.css", "app.js", "preprocess.js", "model.js")
# onnxruntime-web's WebAssembly build: the module, its loader and the wasm binary
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# Headless Chromium on a machine without internet (the tests and scripts/web_benchmark.py): no
# background fetches, component updates or sync, which would otherwise try to reach the network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
}


def web_root() -> Path:
    """The page's folder: inside the installed package, or web/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "web", package.parent / "web"):
        if (folder / "index.html").is_file():
            return folder
    raise UsageError("the web page's files are not installed (web/index.html not found)")


def site_files(model: Path) -> dict[str, Path | bytes]:
    """URL path -> file (or bytes) for the whole site: page, ONNX Runtime Web, model, model.json."""
    root = web_root()
    missing = [name for name in ORT_FILES if not (root / ORT_DIST / name).is_file()]
    if missing:
        raise UsageError(
            f"the page's JavaScript runtime is missing ({root / ORT_DIST / missing[0]}): "
            f"run `npm ci` in {root} to install it"
        )
    session = runtime.make_session(model)  # the same contract check as predict
    meta = runtime.metadata(session)
    info = {
        "model": model.name,
        "quantization": meta.get("quantization", "fp32"),
        "temperature": meta.get("temperature"),
        "min_confidence": runtime.min_confidence(meta),
        "labels": json.loads(meta.get("labels", json.dumps([str(d) for d in range(10)]))),
        "parity": meta.get("parity"),
    }
    files: dict[str, Path | bytes] = {name: root / name for name in PAGE}
    files |= {f"ort/{name}": root / ORT_DIST / name for name in ORT_FILES}
    files[model.name] = model
    files["model.json"] = (json.dumps(info, indent=2) + "\n").encode()
    return files


def write_site(model: Path, out: Path) -> list[Path]:
    """The page as a self-contained static folder: any static host can serve it."""
    written = []
    for name, source in site_files(model).items():
        target = Path(out) / name
        try:
            if isinstance(source, bytes):
                atomic_write(target, lambda tmp, data=source: tmp.write_bytes(data))
            else:
                atomic_write(target, lambda tmp, src=source: shutil.copyfile(src, tmp))
        except OSError as e:
            raise OutputError(f"--out {out}: cannot write {target} ({e.strerror or e})") from None
        written.append(target)
    return written


class _Handler(http.server.BaseHTTPRequestHandler):
    def __init__(self, *args, files: dict[str, Path | bytes], **kwargs):
        self.files = files
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        source = self.files.get(name)
        if source is None:
            self.send_error(404)
            return
        body = source if isinstance(source, bytes) else source.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(Path(name).suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet: the command prints its own line
        pass


def make_server(model: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1 only (port 0 picks a free one)."""
    files = site_files(model)
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, files=files))
    except OSError as e:
        raise UsageError(f"--port {port}: cannot listen on 127.0.0.1 ({e.strerror or e})") from None


def serve(model: Path, port: int, log: Callable[[str], None]) -> None:
    server = make_server(model, port)
    log(f"serving http://127.0.0.1:{server.server_address[1]}/ with {model} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
