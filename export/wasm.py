"""The C engine as a WebAssembly module for the page: clang --target=wasm32-wasi, no imports.

    python -m vit_edge.export.wasm C_DIR OUT.wasm

C_DIR is a folder written by `vit-edge export --format c` (models/c/ for the packaged model). The
module needs nothing from the page but its bytes (`WebAssembly.instantiate(bytes, {})`): wasi-libc
supplies malloc and the maths, and the build exports only the functions of wasm/vit_edge_wasm.c.
It uses WebAssembly SIMD (every current browser has it) for the int8 dot products. Built twice
from the same sources it gives the same bytes (tests/test_wasm.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vit_edge.device.fileio import atomic_write
from vit_edge.device.preprocess import WORK_SIDE
from vit_edge.device.webpage import WASM_EXPORTS
from vit_edge.errors import UsageError
from vit_edge.export import c_export

EXPORTS = tuple(name for name in WASM_EXPORTS if name != "memory")  # wasm-ld exports memory itself
SOURCES = ("wasm/vit_edge_wasm.c", *c_export.LIBRARY)
FLAGS = (
    "--target=wasm32-wasi",
    "-std=c99",
    "-O2",
    "-msimd128",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-nostartfiles",  # a library, not a program: no _start, no WASI imports
    "-nodefaultlibs",  # wasi-libc (-lc -lm) alone: no compiler-rt builtins are needed
    "-Wl,--no-entry",
    "-Wl,--strip-all",
    "-Wl,--gc-sections",
    f"-DVIT_EDGE_WORK_SIDE={WORK_SIDE}",  # predict's, not the C default (a microcontroller's 96)
)


# web/vit_edge.wasm is rebuilt byte for byte only by the toolchain that built it (scripts/release.py)
RELEASE_TOOLCHAIN = "Debian clang version 14.0.6, wasi-libc 0.0~git20220510.9886d3d-2"


def toolchain() -> str:
    """This machine's clang (and wasi-libc, where dpkg knows it), as RELEASE_TOOLCHAIN names them."""
    clang = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout.splitlines()
    name = clang[0].split(" (")[0].strip() if clang else "no clang"
    dpkg = shutil.which("dpkg-query")
    libc = dpkg and subprocess.run([dpkg, "-W", "-f", "${Version}", "wasi-libc"], capture_output=True)
    version = libc.stdout.decode().strip() if libc and libc.returncode == 0 else "unknown"
    return f"{name}, wasi-libc {version}"


def why_no_compiler() -> str | None:
    """Why clang cannot build the module here (no clang, wasm-ld or wasi-libc), or None."""
    clang = shutil.which("clang")
    if not clang:
        return "no clang on this machine (apt-get install clang lld wasi-libc)"
    if not shutil.which("wasm-ld"):
        return "no wasm-ld on this machine (apt-get install lld)"
    probe = subprocess.run(
        [clang, "--target=wasm32-wasi", "-E", "-x", "c", "-", "-o", "/dev/null"],
        input="#include <stdlib.h>\n",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return "clang finds no wasi-libc for --target=wasm32-wasi (apt-get install wasi-libc)"
    return None


def build(c_dir: Path, out: Path) -> Path:
    """Compile C_DIR's engine, preprocessing and weights into OUT (written atomically)."""
    if reason := why_no_compiler():
        raise UsageError(reason)
    c_dir = Path(c_dir)
    missing = [name for name in SOURCES if not (c_dir / name).is_file()]
    if missing:
        raise UsageError(f"{c_dir}: no {missing[0]} (a folder from `vit-edge export --format c`)")
    exports = [f"-Wl,--export={name}" for name in EXPORTS]
    with tempfile.TemporaryDirectory(prefix="vit-edge-wasm-") as work:
        staged = Path(work) / "vit_edge.wasm"
        # relative source names, run from C_DIR: nothing in the module depends on where it was built
        command = [shutil.which("clang"), *FLAGS, *exports, "-o", str(staged), *SOURCES, "-lc", "-lm"]
        result = subprocess.run(command, cwd=c_dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise UsageError(f"clang failed: {(result.stderr.strip().splitlines() or ['?'])[0]}")
        atomic_write(Path(out), lambda tmp: shutil.copyfile(staged, tmp))
    return Path(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m vit_edge.export.wasm C_DIR OUT.wasm")
    try:
        print(build(Path(sys.argv[1]), Path(sys.argv[2])))
    except UsageError as e:
        sys.exit(f"error: {e}")
