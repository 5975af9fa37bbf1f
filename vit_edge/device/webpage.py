"""`vit-edge web`: the page in web/ with the model, served on 127.0.0.1 or written as a static folder.

Python's standard library only (no torch, no npm, no new dependency): the page runs the model
itself, with the C engine compiled to WebAssembly (web/vit_edge.wasm, its preprocessing and the
packaged INT8 model) by default, or with onnxruntime-web on an ONNX model (`--engine ort`, which
needs `npm ci`); the server hands out files and never runs inference.
"""

from __future__ import annotations

import gzip
import http.server
import json
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..errors import ModelFileError, OutputError, UsageError
from . import runtime
from .collect import MAX_BYTES, ROUTE, Collector, Refused
from .fileio import atomic_write

PAGE = ("index.html", "style.css", "app.js", "engine.js", "collect.js")
ENGINES = ("wasm", "ort")
WASM = "vit_edge.wasm"  # the packaged model's engine, built from models/c/ by scripts/release.py
# What the page calls in a .wasm (export/c/wasm/vit_edge_wasm.c); vit_edge/export/wasm.py exports these
WASM_EXPORTS = (
    "memory",
    "ve_buffer",
    "ve_read",
    "ve_digits",
    "ve_inputs",
    "ve_read_digit",
    "ve_digit_box",
    "ve_pixels",
    "ve_logits",
    "ve_min_confidence",
    "ve_blank",
    "ve_too_large",
)
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
COMPRESSIBLE = (".html", ".css", ".js", ".mjs", ".wasm", ".json", ".onnx")


def web_root() -> Path:
    """The page's folder: inside the installed package, or web/ in a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "web", package.parent / "web"):
        if (folder / "index.html").is_file():
            return folder
    raise UsageError("the web page's files are not installed (web/index.html not found)")


def site_files(
    model: Path | None = None, engine: str = "wasm", collect: bool = False
) -> dict[str, Path | bytes]:
    """URL path -> file (or bytes) for the whole site: the page, its engine, the model, model.json.

    engine "wasm": model is a .wasm from vit_edge/export/wasm.py (default: the packaged one);
    engine "ort": model is an ONNX file (default: the packaged INT8 model), run by onnxruntime-web.
    """
    root = web_root()
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine}: must be one of {', '.join(ENGINES)}")
    packaged = root / WASM
    files: dict[str, Path | bytes] = {name: root / name for name in PAGE}
    if engine == "wasm":
        wasm = Path(model) if model else packaged
        check_wasm(wasm)
        files[wasm.name] = wasm
        info = {
            "engine": "wasm",
            "engine_file": wasm.name,
            "model": wasm.name,
            "runtime": "the C engine in WebAssembly, INT8",
            "labels": [str(d) for d in range(10)],
        }
    else:
        if model is not None and Path(model).suffix == ".wasm":
            raise UsageError(f"--model {model}: --engine ort runs an ONNX model; a .wasm needs --engine wasm")
        # the INT8 file: a third of the bytes to send, and the browser's kernels are the same on every machine
        model = Path(model) if model else runtime.default_model_path().with_name("vit-edge.int8.onnx")
        check_wasm(packaged)  # the page's preprocessing
        files[WASM] = packaged
        files |= ort_files(root)
        files["model.js"] = root / "model.js"
        files[model.name] = model
        info = {"engine": "ort", "engine_file": WASM, "runtime": "ONNX Runtime Web, WebAssembly"}
        info |= onnx_info(model)
    if collect:  # the page also writes what it keeps into `--collect DIR` (collect.py)
        info["collect"] = True
    files["model.json"] = (json.dumps(info, indent=2) + "\n").encode()
    return files


def ort_files(root: Path) -> dict[str, Path]:
    missing = [name for name in ORT_FILES if not (root / ORT_DIST / name).is_file()]
    if missing:
        raise UsageError(
            f"--engine ort: ONNX Runtime Web is missing ({root / ORT_DIST / missing[0]}): run "
            f"`npm ci --prefix {root}` to install it, or leave out --engine ort (the default needs none)"
        )
    return {f"ort/{name}": root / ORT_DIST / name for name in ORT_FILES}


def onnx_info(model: Path) -> dict:
    session = runtime.make_session(model)  # the same contract check as predict
    meta = runtime.metadata(session)
    return {
        "model": model.name,
        "quantization": meta.get("quantization", "fp32"),
        "temperature": meta.get("temperature"),
        "min_confidence": runtime.min_confidence(meta),
        "labels": json.loads(meta.get("labels", json.dumps([str(d) for d in range(10)]))),
        "parity": meta.get("parity"),
    }


def check_wasm(path: Path) -> None:
    """A .wasm the page can run: a WebAssembly module exporting every function the page calls."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        hint = " (the package was installed without the page's engine)" if path.name == WASM else ""
        raise ModelFileError(
            f"{path}: cannot read the WebAssembly engine ({e.strerror or e}){hint}"
        ) from None
    try:
        exports = wasm_exports(data)
    except ValueError as e:
        raise ModelFileError(f"{path}: not a WebAssembly module ({e})") from None
    missing = [name for name in WASM_EXPORTS if name not in exports]
    if missing:
        raise ModelFileError(
            f"{path}: a WebAssembly module without {', '.join(missing)}: build it with "
            "`python -m vit_edge.export.wasm C_DIR OUT.wasm` from `vit-edge export --format c`"
        )


def wasm_sections(data: bytes) -> dict[int, bytes]:
    """A WebAssembly binary's sections by id (custom sections, id 0, last one kept); nothing is run."""
    if data[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("no WebAssembly version 1 header")
    at, sections = 8, {}
    while at < len(data):
        section, at = data[at], at + 1
        size, at = _leb128(data, at)
        if at + size > len(data):
            raise ValueError("truncated")
        sections[section], at = data[at : at + size], at + size
    return sections


def wasm_exports(data: bytes) -> set[str]:
    """The export names of a WebAssembly binary (its export section: count, then name, kind, index)."""
    body, names = wasm_sections(data).get(7, b"\0"), set()
    count, at = _leb128(body, 0)
    for _ in range(count):
        length, at = _leb128(body, at)
        names.add(body[at : at + length].decode("utf-8", "replace"))
        _, at = _leb128(body, at + length + 1)
    return names


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 35:
            raise ValueError("truncated")
        byte = data[at]
        value, at, shift = value | (byte & 0x7F) << shift, at + 1, shift + 7
        if byte < 0x80:
            return value, at


def write_site(model: Path | None, out: Path, engine: str = "wasm") -> list[Path]:
    """The page as a self-contained static folder: any static host can serve it."""
    written = []
    for name, source in site_files(model, engine).items():
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
    def __init__(self, *args, files: dict[str, Path | bytes], packed: dict[bytes, bytes],
                 collector: Collector | None = None, **kwargs):  # fmt: skip
        self.files, self.packed, self.collector = files, packed, collector
        super().__init__(*args, **kwargs)

    def do_POST(self) -> None:  # noqa: N802
        self._collect(write=True)

    def do_DELETE(self) -> None:  # noqa: N802
        self._collect(write=False)

    def _collect(self, write: bool) -> None:
        """The page's Collect mode: an image into `--collect DIR` (POST), or taken back (DELETE)."""
        try:
            if self.collector is None or not self.path.startswith(ROUTE):
                raise Refused(404, "this server takes no writes (serve with --collect DIR)")
            self._same_origin()
            if write:
                target = self.collector.write(self.path, self._body())
                self._reply(201, json.dumps({"path": f"{target.parent.name}/{target.name}"}))
            else:
                self.collector.remove(self.path)
                self._reply(204, "")
        except Refused as e:
            self.close_connection = True  # an unread body is not taken for the next request
            self._reply(e.status, e.why)

    def _same_origin(self) -> None:
        """Only the page itself: the browser names the page's origin on every POST and DELETE."""
        port = self.server.server_address[1]
        ours = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
        if self.headers.get("Origin") not in ours or f"http://{self.headers.get('Host')}" not in ours:
            raise Refused(403, f"only the page at http://127.0.0.1:{port}/ may write here")
        if self.headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
            raise Refused(403, "only the page's own origin may write here")

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Refused(411, "no Content-Length") from None
        if length < 0 or length > MAX_BYTES:
            raise Refused(413, f"an image of {length} bytes (at most {MAX_BYTES})")
        return self.rfile.read(length)

    def _reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        if body:
            kind = "application/json" if status == 201 else "text/plain; charset=utf-8"
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        source = self.files.get(name)
        if source is None:
            self.send_error(404)
            return
        body = source if isinstance(source, bytes) else source.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(Path(name).suffix, "application/octet-stream"))
        if Path(name).suffix in COMPRESSIBLE and "gzip" in self.headers.get("Accept-Encoding", ""):
            if body not in self.packed:  # compressed once per content: an edited file is packed anew
                self.packed[body] = gzip.compress(body, compresslevel=9, mtime=0)
            body = self.packed[body]
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet: the command prints its own line
        pass


def make_server(
    model: Path | None, port: int = 8000, engine: str = "wasm", collect: Path | None = None
) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1 only (port 0 picks a free one); gzip where the browser accepts it.
    collect: a folder the page's Collect mode writes its images into (collect.py)."""
    collector = Collector(collect) if collect is not None else None
    files = site_files(model, engine, collect=collector is not None)
    handler = partial(_Handler, files=files, packed={}, collector=collector)
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise UsageError(f"--port {port}: cannot listen on 127.0.0.1 ({e.strerror or e})") from None


def serve(
    model: Path | None,
    port: int,
    log: Callable[[str], None],
    engine: str = "wasm",
    collect: Path | None = None,
) -> None:
    server = make_server(model, port, engine, collect)
    what = f"{model} on the {engine} engine" if model else f"the packaged model on the {engine} engine"
    log(f"serving http://127.0.0.1:{server.server_address[1]}/ with {what} (Ctrl-C to stop)")
    if collect is not None:
        log(f"Collect writes each image it keeps into {collect}/<label>/ (vit-edge train --data {collect})")
    try:
        server.serve_forever()
    finally:
        server.server_close()
