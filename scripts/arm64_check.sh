#!/usr/bin/env bash
# vit-edge predict on an emulated 64-bit ARM board (Raspberry Pi 4: Cortex-A72; Pi 5: Cortex-A76)
# must give the answers it gives on this x86 machine.
#
#   bash scripts/arm64_check.sh            # prints per-core differences, then "N passed, M failed"
#
# From a clean checkout: builds the project's wheel, unpacks an arm64 Debian bookworm root with
# Python 3.11 once (mmdebstrap, no emulation; cached in $VIT_EDGE_ARM64_CACHE or
# ~/.cache/vit-edge/arm64), installs the torch-free runtime for aarch64 into it from the package
# index, makes a few hundred dressed and drawn digits with scripts/dress.py, and runs
# `predict --json` on them under qemu-aarch64-static (user-mode emulation) for each core and natively.
# Same digit on every image, and every probability within ARM64_TOLERANCE, or it fails: predict's
# default is the FP32 file, whose answers do not depend on the CPU's INT8 kernels. What INT8 would
# move a probability on these images (the INT8 file against the FP32 one, on x86) is reported beside it.
# Exit 0 all passed, 1 a difference, 77 emulation cannot be had here (one line says why).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${VIT_EDGE_ARM64_CACHE:-$HOME/.cache/vit-edge/arm64}"
MNIST="${VIT_EDGE_TEST_MNIST:-$REPO/../shared/mnist}"
N_DIGITS="${ARM64_CHECK_DIGITS:-200}"
# FP32 kernels differ between x86 and ARM only in rounding; the largest difference measured over all
# images and both cores is stated in the README.
TOLERANCE="${ARM64_TOLERANCE:-0.002}"
CORES=(cortex-a72 cortex-a76)
PYTHON="${PYTHON:-python3}"

for tool in qemu-aarch64-static mmdebstrap; do
    if ! command -v "$tool" >/dev/null; then
        echo "arm64 check: skipped: $tool not found (apt-get install qemu-user-static mmdebstrap)"
        exit 77
    fi
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s.%N)
elapsed() { "$PYTHON" -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f} s')" "$start"; }

"$PYTHON" -m pip wheel -q --no-deps -w "$WORK/dist" "$REPO" >/dev/null 2>&1
WHEEL="$(ls "$WORK"/dist/vit_edge-*.whl)"

ROOT="$CACHE/root"
if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
    rm -rf "$ROOT" "$ROOT.part"
    mkdir -p "$CACHE"
    if ! mmdebstrap --quiet --arch=arm64 --variant=extract --include=python3,libstdc++6 \
        bookworm "$ROOT.part" http://deb.debian.org/debian >"$WORK/mmdebstrap.log" 2>&1; then
        echo "arm64 check: skipped: cannot unpack an arm64 Debian root ($(tail -1 "$WORK/mmdebstrap.log"))"
        exit 77
    fi
    mv "$ROOT.part" "$ROOT"
fi
rm -rf "$ROOT/proc"  # each core's root gets its own
rm -rf "$ROOT/opt/site"
"$PYTHON" -m pip install -q --target "$ROOT/opt/site" --only-binary=:all: --implementation cp \
    --python-version 3.11 --abi cp311 --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
    "$WHEEL" >/dev/null 2>&1
"$PYTHON" -m pip install -q --target "$WORK/x86" --only-binary=:all: "$WHEEL" >/dev/null 2>&1
echo "arm64 check: set up in $(elapsed) (root cached in $CACHE)"

# The images: the examples, and MNIST test digits dressed as users' images and redrawn as pen drawings.
mkdir -p "$WORK/images"
cp "$REPO"/examples/*.png "$REPO"/examples/*.jpg "$WORK/images/"
PYTHONPATH="$WORK/x86:$REPO/scripts" "$PYTHON" - "$MNIST" "$N_DIGITS" "$WORK/images" <<'PY'
import sys
from pathlib import Path

from PIL import Image

from vit_edge.data import load_split  # torch-free: the IDX reader
import dress

mnist, n, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
if not (mnist / "t10k-images-idx3-ubyte.gz").exists():
    print(f"arm64 check: no MNIST at {mnist}: the examples only")
    sys.exit(0)
images, _ = load_split("test", mnist, allow_download=False)
styles = list(dress.STYLES.items())
drawings = list(dress.DRAWING_STYLES.items())
for i in range(n):
    if i % 2 == 0:
        name, make = styles[(i // 2) % len(styles)]
        img = make(images[i])
    else:
        name, draw = drawings[(i // 2) % len(drawings)]
        img = draw(images[i], 1 + (i // 2) % 8, (300, 600)[(i // 16) % 2])  # small canvases: emulation is slow
    dress.save(img if img.mode != "P" else img, out, f"{i:04d}-{name}")
PY
n_images=$(ls "$WORK/images" | wc -l)

# Run from the work folder: `python -m` puts the current folder first on sys.path, and in the
# checkout that would import the repository's vit_edge instead of the installed one.
cd "$WORK"
predict=(-m vit_edge.cli predict "$WORK/images" --json --top-k 10 --save-input)
PYTHONPATH="$WORK/x86" "$PYTHON" "${predict[@]}" "$WORK/inputs-x86" >"$WORK/x86.jsonl" 2>"$WORK/x86.err" || true
PYTHONPATH="$WORK/x86" "$PYTHON" -m vit_edge.cli predict "$WORK/images" --json --top-k 10 \
    --model "$WORK/x86/vit_edge/models/vit-edge.int8.onnx" >"$WORK/x86-int8.jsonl" 2>>"$WORK/x86.err" || true
# One root per core (hard links, no copy): each gets its own /proc/cpuinfo, and the two run at once.
emulate() {
    local core="$1" root="$CACHE/root-$1" t0
    rm -rf "$root" && cp -al "$ROOT" "$root"
    # a fresh proc/ per root: a hard-linked cpuinfo would be rewritten for both cores at once
    rm -rf "$root/proc" && mkdir "$root/proc"
    "$PYTHON" "$REPO/scripts/arm64_cpuinfo.py" "$core" >"$root/proc/cpuinfo"
    t0=$(date +%s.%N)
    QEMU_CPU="$core" PYTHONPATH=/opt/site qemu-aarch64-static -L "$root" "$root/usr/bin/python3.11" \
        "${predict[@]}" "$WORK/inputs-$core" >"$WORK/$core.jsonl" 2>"$WORK/$core.err" || true
    "$PYTHON" -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$t0" >"$WORK/$core.seconds"
    rm -rf "$root"
}
for core in "${CORES[@]}"; do emulate "$core" & done
wait
for core in "${CORES[@]}"; do
    echo "arm64 check: $core predicted $n_images images in $(cat "$WORK/$core.seconds") s, two cores emulated at once" \
        "(emulated times say nothing of a real board's speed)"
done

PYTHONPATH="$WORK/x86" "$PYTHON" - "$WORK" "$TOLERANCE" "${CORES[@]}" <<'PY'
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

work, tolerance, cores = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]


def rows(name):
    out = {}
    for line in (work / f"{name}.jsonl").read_text().splitlines():
        row = json.loads(line)
        out[row["path"]] = row
    return out


def difference(a, b):
    """The largest change of any digit's probability between two answers for one image."""
    p, q = dict(map(tuple, a["top_k"])), dict(map(tuple, b["top_k"]))
    return max(abs(p[d] - q[d]) for d in p)


def largest_difference(a, b):
    """The largest `difference` between two runs, over the images both answered."""
    both = [path for path, row in a.items() if "top_k" in row and "top_k" in b.get(path, {})]
    return max((difference(a[path], b[path]) for path in both), default=0.0)


x86 = rows("x86")
quantization = largest_difference(x86, rows("x86-int8"))
print(f"arm64 check: INT8 moves a probability by up to {quantization:.2e} from FP32 on these images (x86); "
      f"tolerance for the default (FP32) model {tolerance:.2e}")
passed = failed = 0
if not x86:
    print("arm64 check: the x86 run gave no answers: " + (work / "x86.err").read_text().strip()[-300:])
    failed += 1
for core in cores:
    arm = rows(core)
    worst, input_diff = 0.0, 0
    for path, want in sorted(x86.items()):
        got = arm.get(path)
        if got is None or "error" in got or "error" in want:
            ok = got is not None and got.get("error") == want.get("error")
            why = "missing" if got is None else got.get("error")
        else:
            diff = difference(want, got)
            worst = max(worst, diff)
            ok = got["prediction"] == want["prediction"] and diff <= tolerance
            why = f"digit {got['prediction']} vs x86 {want['prediction']}, max |dp| {diff:.2e}"
            name = Path(path).stem + ".png"
            pixels = [np.asarray(Image.open(work / f"inputs-{s}" / name), dtype=np.int16) for s in ("x86", core)]
            input_diff = max(input_diff, int(np.abs(pixels[0] - pixels[1]).max()))
        passed += ok
        failed += not ok
        if not ok:
            print(f"arm64 check: {core}: {Path(path).name}: {why}")
    if not arm:
        print(f"arm64 check: {core} gave no answers: " + (work / f"{core}.err").read_text().strip()[-300:])
    print(f"arm64 check: {core}: {len(arm)} answers, largest probability difference from x86 {worst:.2e} "
          f"(tolerance {tolerance:.2e}); 28x28 inputs differ by at most {input_diff} of 255")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
