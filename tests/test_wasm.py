"""The page's engine (web/vit_edge.wasm): rebuilt from models/c/ byte for byte, no imports, the
same logits as the host C build, and `vit-edge web`'s checks and server (no browser needed)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from helpers import c_build, c_logits, md5s, one_line_error

from vit_edge.device import webpage
from vit_edge.export import wasm

RELEASED_MIN = 0.94  # the packaged model's --min-confidence (models/metrics.json)

SHIPPED = ROOT / "web" / "vit_edge.wasm"
NO_COMPILER = wasm.why_no_compiler()


@pytest.mark.slow  # 2.5 s: the quick tier stays under 2 minutes
@pytest.mark.skipif(NO_COMPILER is not None, reason=str(NO_COMPILER))
def test_shipped_engine_is_rebuilt_byte_for_byte(tmp_path: Path):
    """web/vit_edge.wasm is what vit_edge/export/wasm.py makes of models/c/ (scripts/release.py),
    given the toolchain that built it (another clang or wasi-libc makes other, equally good bytes)."""
    if (here := wasm.toolchain()) != wasm.RELEASE_TOOLCHAIN:
        pytest.skip(f"toolchain: the engine was built by {wasm.RELEASE_TOOLCHAIN}; this machine has {here}")
    built = wasm.build(ROOT / "models" / "c", tmp_path / "vit_edge.wasm")
    assert built.read_bytes() == SHIPPED.read_bytes()


def test_engine_imports_nothing_and_exports_what_the_page_calls():
    sections = webpage.wasm_sections(SHIPPED.read_bytes())
    assert 2 not in sections  # no import section: WebAssembly.instantiate(bytes, {}) is enough
    assert webpage.wasm_exports(SHIPPED.read_bytes()) == set(webpage.WASM_EXPORTS)
    assert SHIPPED.stat().st_size < 400_000


# Node runs the module as the page does: RGBA in, the input, digit count and logits out.
NODE = """
const fs = require("fs");
const [wasmPath, w, h] = [process.argv[1], +process.argv[2], +process.argv[3]];
const rgba = fs.readFileSync(0);
WebAssembly.instantiate(fs.readFileSync(wasmPath), {}).then(({ instance }) => {
  const e = instance.exports;
  const at = e.ve_buffer(rgba.length); // first: growing the memory detaches its old buffer
  new Uint8Array(e.memory.buffer, at, rgba.length).set(rgba);
  const status = e.ve_read(w, h);
  const pixels = Array.from(new Float32Array(e.memory.buffer, e.ve_pixels(), 784));
  const logits = Array.from(new Float32Array(e.memory.buffer, e.ve_logits(), 10));
  const [digits, min, codes] = [e.ve_digits(), e.ve_min_confidence(), [e.ve_blank(), e.ve_too_large()]];
  console.log(JSON.stringify({ status, digits, pixels, logits, min, codes }));
});
"""


def _node(rgba: np.ndarray) -> dict:
    h, w = rgba.shape[:2]
    run = subprocess.run(["node", "-e", NODE, str(SHIPPED), str(w), str(h)], input=rgba.tobytes(),
                         capture_output=True, check=True)  # fmt: skip
    return json.loads(run.stdout)


@pytest.mark.skipif(not shutil.which("node"), reason="no node on this machine (the browser tests cover it)")
def test_engine_reads_rgba_and_matches_the_host_c_build(tmp_path: Path):
    page = np.full((60, 80, 4), 235, np.uint8)
    page[..., 3] = 255
    page[10:50, 38:43, :3] = 25  # a dark "1" on light paper
    out = _node(page)
    assert out["status"] == 0 and out["digits"] == 1 and out["min"] == pytest.approx(RELEASED_MIN)
    host = c_logits(c_build(ROOT / "models" / "c", tmp_path / "int8"), np.array(out["pixels"], np.float32))
    np.testing.assert_allclose(out["logits"], host[0], atol=1e-5)
    assert int(np.argmax(out["logits"])) == 1
    # engine.js compares ve_read's status with the module's own codes, which are vit_edge.h's
    header = (ROOT / "models" / "c" / "vit_edge.h").read_text()
    codes = re.findall(r"#define VIT_EDGE_(BLANK|TOO_LARGE) \((-?\d+)\)", header)
    defined = {name: int(value) for name, value in codes}
    assert out["codes"] == [defined["BLANK"], defined["TOO_LARGE"]] == [-1, -2]
    page[..., 3] = 0  # all transparent: nothing drawn
    assert _node(page)["status"] == defined["BLANK"]


def test_a_bad_engine_file_is_refused_in_one_line(run_cli, tmp_path: Path):
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"not wasm at all")
    empty = tmp_path / "empty.wasm"
    empty.write_bytes(b"\0asm\x01\0\0\0")
    (tmp_path / "site").mkdir()
    before = md5s(tmp_path / "site")
    code, _, err = run_cli("web", "--model", junk, "--out", tmp_path / "site")
    assert code == 1 and "not a WebAssembly module" in one_line_error(err)  # a bad model file: 1, as predict
    code, _, err = run_cli("web", "--model", empty, "--out", tmp_path / "site")
    assert code == 1 and "without memory, ve_buffer" in one_line_error(err)
    code, _, err = run_cli("web", "--engine", "ort", "--model", SHIPPED, "--out", tmp_path / "site")
    assert code == 2 and "--engine ort runs an ONNX model" in one_line_error(err)
    assert md5s(tmp_path / "site") == before  # nothing written


def test_missing_ort_files_name_a_command_and_the_default_needs_none(run_cli, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(webpage, "ORT_DIST", Path("node_modules") / "not-installed")
    code, _, err = run_cli("web", "--engine", "ort", "--out", tmp_path / "ort")
    line = one_line_error(err)
    assert code == 2 and f"run `npm ci --prefix {webpage.web_root()}`" in line
    assert not (tmp_path / "ort").exists()
    code, _, err = run_cli("web", "--out", tmp_path / "site")
    assert code == 0 and sorted(p.name for p in (tmp_path / "site").iterdir()) == sorted(
        ["index.html", "style.css", "app.js", "engine.js", "collect.js", "model.json", "vit_edge.wasm"]
    )


def test_web_serves_the_page_on_the_port_given():
    """`vit-edge web --port N` (serve mode, in its own process): the page at http://127.0.0.1:N/."""
    import sys

    from browser import free_port  # a port free just now (no browser needed)

    port = free_port()
    code = "import sys; from vit_edge.cli import main; main(sys.argv[1:])"
    command = [sys.executable, "-c", code, "web", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        assert line.startswith(f"serving http://127.0.0.1:{port}/ with the packaged model"), line
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "<canvas" in page and 'src="app.js"' in page
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_server_sends_wasm_typed_and_gzipped_when_accepted():
    server = webpage.make_server(None, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/vit_edge.wasm"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})) as r:
            assert r.headers["Content-Type"] == "application/wasm"
            assert r.headers["Content-Encoding"] == "gzip"
            packed = r.read()
        with urllib.request.urlopen(url) as r:
            assert r.headers.get("Content-Encoding") is None
            plain = r.read()
    finally:
        server.shutdown()
        server.server_close()
    assert gzip.decompress(packed) == plain == SHIPPED.read_bytes()
    assert len(packed) < 0.9 * len(plain)  # int8 weights pack little: 266 of 310 KB
