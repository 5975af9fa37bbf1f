"""The C engine on emulated Cortex-M3 (no FPU), M4F, M7, M55 and RISC-V rv32imac (no FPU) and
rv32imafc against its host build (see scripts/mcu_check.sh).

    python scripts/mcu/mcu_check.py [--c-dir models/c] [--digits 100] [--cores cortex-m4,rv32imac]
                                    [--work-side 96] [--jobs 2]

The images: the first --digits MNIST test digits and 24 dressed, drawn and photographed digits,
each made into the 28x28 input by `predict`'s own preprocessing and stored as bytes in the program.
The host build (cc) gives the reference lines; each core must give the same digit on every image
and every probability within TOLERANCE. Cortex-M3 and rv32imac have no FPU, so vit_edge.h gives
them the integer-only pass (vit_edge_integer.c): their reference is the host's integer build.
Instructions per inference come from SysTick under
`qemu -icount shift=0` (one instruction a nanosecond of virtual time; the mps2 SysTick runs at
25 MHz, the mps3's at 32 MHz) on Arm, and from minstret on RISC-V (qemu's `virt` board, picolibc,
semihosting): instruction counts, not cycles. Cortex-M7 is also built with the plain C dot product
(-DVIT_EDGE_PLAIN_C), which must give exactly the SMLAD build's answers, and Cortex-M55 likewise
against its Helium (MVE) build.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vit_edge.export import c_export

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))  # dress.py, the images it makes
HERE = Path(__file__).resolve().parent
# The engine's arithmetic is the same on every core (int8 sums exact, its own exp and erf); only
# libm's tanhf and expf (the head and the final softmax) may differ by float32 ulps from glibc's.
# Measured: identical probabilities.
TOLERANCE = 1e-4
MAP = "-Wl,--defsym=__flash={},--defsym=__flash_size={},--defsym=__ram={},--defsym=__ram_size={}"
ARM, RISCV = "arm-none-eabi-", "riscv64-unknown-elf-"  # the toolchains' prefixes
# memory maps: flash base and size, RAM base and size (an547: its two TCMs; virt: DRAM at 0x80000000)
MPS2, MPS3 = (0x0, 0x400000, 0x20000000, 0x400000), (0x0, 0x80000, 0x20000000, 0x80000)
VIRT = (0x80000000, 0x400000, 0x80400000, 0x400000)
RISCV_VIRT = ["qemu-system-riscv32", "-M", "virt", "-bios", "none"]
CORES = {  # name: (toolchain, qemu command, compiler flags, memory map, instructions per tick)
    "cortex-m3": (ARM, ["qemu-system-arm", "-M", "mps2-an385"], "-mthumb -mcpu=cortex-m3 -mfloat-abi=soft",
                  MPS2, 40.0),  # no FPU, no DSP: the integer pass in plain C
    "cortex-m4": (ARM, ["qemu-system-arm", "-M", "mps2-an386"], "-mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 "
                  "-mfloat-abi=hard", MPS2, 40.0),
    "cortex-m7": (ARM, ["qemu-system-arm", "-M", "mps2-an500"], "-mthumb -mcpu=cortex-m7 -mfpu=fpv5-d16 "
                  "-mfloat-abi=hard", MPS2, 40.0),
    "cortex-m55": (ARM, ["qemu-system-arm", "-M", "mps3-an547"], "-mthumb -mcpu=cortex-m55 -mfloat-abi=hard",
                   MPS3, 31.25),
    "rv32imac": (RISCV, RISCV_VIRT, "-march=rv32imac -mabi=ilp32", VIRT, 1.0),  # ESP32-C3 class: no FPU
    "rv32imafc": (RISCV, RISCV_VIRT, "-march=rv32imafc -mabi=ilp32f", VIRT, 1.0),
}  # fmt: skip
# the plain C dot product beside each core's vector one: the outputs must be identical
PLAIN = {"cortex-m7-plain-c": ("cortex-m7", "SMLAD"), "cortex-m55-plain-c": ("cortex-m55", "Helium")}
# The M55's 512 KB of flash holds the weights, 15 digits and every buffer with the QVGA frame.
SUBSET = {"cortex-m55": (15, 25), "cortex-m55-plain-c": (15, 25)}
# Cores without an FPU run the integer pass (vit_edge.h chooses it): their reference is the host's
# integer build, whose sums are the same integers.
INTEGER = {"cortex-m3", "rv32imac"}
INSTALL = (
    "apt-get install gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm gcc-riscv64-unknown-elf "
    "picolibc-riscv64-unknown-elf qemu-system-misc"
)


def skip(why: str) -> None:
    print(f"mcu check: skipped: {why} ({INSTALL})")
    sys.exit(77)


GRAY_SIDE = 64  # the grey buffers' longer side: a small camera or a touch panel's scan
QVGA = (320, 240)  # and one camera frame at full size, the last buffer
# vit_edge_prepare's working side on the boards, the header's default: with the model, 59 KB of static
# RAM, as at 48. Larger buffers are pooled to it.
BOARD_WORK_SIDE = 96


def images(n_digits: int, data_dir: Path, folder: Path | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """28x28 inputs (the MNIST digits and dressed ones, by predict's preprocessing), and grey
    buffers of dressed, drawn and photographed digits for vit_edge_prepare on the board. With a
    folder (--images: your own, as `train --data` reads them), its first n_digits images instead,
    the first 24 of them also as grey buffers, and the first as the camera's frame."""
    import dress
    from PIL import Image

    from vit_edge.data import load_split
    from vit_edge.device import preprocess

    if folder is not None:
        extensions = Image.registered_extensions()
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in extensions)[:n_digits]
        made, readable = [preprocess.open_image(p) for p in paths], []
        for img in made:  # an image predict refuses (a blank display) has nothing to compare
            with contextlib.suppress(preprocess.ImageError):
                readable.append((img, preprocess.preprocess_image(img)))
        made, inputs = [m for m, _ in readable], [x for _, x in readable]
        frame = made[0].convert("L").resize(QVGA)
        return np.round(np.stack(inputs) * 255).astype(np.uint8), [*_grays(made[:24]), np.asarray(frame)]
    digits, _ = load_split("test", data_dir, allow_download=False)
    made = [Image.fromarray(d) for d in digits[:n_digits]]
    for i in range(8):
        d = digits[n_digits + i]
        made.append(dress.STYLES[list(dress.STYLES)[i % len(dress.STYLES)]](d))
        made.append(dress.DRAWING_STYLES[list(dress.DRAWING_STYLES)[i % 4]](d, *dress.drawing_params(i)))
        made.append(dress.photo(d, *dress.photo_conditions(i), seed=i))
    inputs = [preprocess.preprocess_image(img) for img in made]
    # a camera's frame: QVGA grey (a sensor's Y plane), a photographed digit, pooled to the work side
    frame = dress.photo(digits[n_digits + 8], "shadow", 8, seed=8, size=QVGA).convert("L")
    return np.round(np.stack(inputs) * 255).astype(np.uint8), [*_grays(made[n_digits:]), np.asarray(frame)]


def _grays(made: list) -> list[np.ndarray]:
    """Images as the grey bytes predict reads, at most GRAY_SIDE px on their longer side."""
    from PIL import Image

    from vit_edge.device import preprocess

    grays = []
    for img in made:
        grey = Image.fromarray(preprocess.grey_bytes(img))
        grey.thumbnail((GRAY_SIDE, GRAY_SIDE), Image.Resampling.BOX)
        grays.append(np.asarray(grey))
    return grays


def write_images(path: Path, pixels: np.ndarray, grays: list[np.ndarray]) -> None:
    rows = [",".join(map(str, p.ravel())) for p in pixels]
    buffers = [
        f"{{{g.shape[1]}, {g.shape[0]}, (const unsigned char[]){{{','.join(map(str, g.ravel()))}}}}}"
        for g in grays
    ]
    path.write_text(
        f"#define N_IMAGES {len(pixels)}\nstatic const unsigned char IMAGES[{len(pixels)}][784] = {{\n"
        + ",\n".join(f"{{{r}}}" for r in rows)
        + "\n};\n"
        + "static const struct { int width, height; const unsigned char *pixels; } GRAYS[] = {\n"
        + ",\n".join(buffers)
        + f"\n}};\n#define N_GRAYS {len(grays)}\n"
    )


def parse(text: str) -> tuple[dict[int, tuple[int, np.ndarray]], dict[str, float]]:
    lines, cost = {}, {}
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["ticks"]:
            names = ("ticks", "stack", "arena", "prepare", "last", "last_pixels")  # "name value" pairs
            cost = {name: float(value) for name, value in zip(names, parts[1::2], strict=True)}
        elif len(parts) == 12:
            lines[int(parts[0])] = (int(parts[1]), np.array(parts[2:], float))
    return lines, cost


def build_elf(
    work: Path, c_dir: Path, name: str, tools: str, flags: str, memory: tuple, extra: str = ""
) -> Path:
    common = f"-std=c99 -O2 -funroll-loops {flags} {extra} -I{c_dir} -I{work}".split()
    elf = work / f"{name}.elf"
    sources = [str(c_dir / name) for name in c_export.LIBRARY] + [str(HERE / "board.c")]
    link = MAP.format(*map(hex, memory))
    cmd = [
        f"{tools}gcc",
        *common,
        "--specs=picolibc.specs",
        "--oslib=semihost",
        "--crt0=semihost",
        link,
        "-o",
        str(elf),
        *sources,
        "-lm",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:  # the compiler's or linker's own words (a region that overflowed, say)
        raise RuntimeError(f"mcu check: {name}: the build failed:\n{run.stderr}")
    return elf


def host_reference(folder: Path, c_dir: Path, pixels: np.ndarray, grays: list[np.ndarray], side: str) -> dict:
    """The host builds' lines for these images, float and integer passes, with the boards' working
    side flag (images.h is written to folder for the boards too)."""
    folder.mkdir()
    write_images(folder / "images.h", pixels, grays)
    sources = [str(c_dir / name) for name in c_export.LIBRARY] + [str(HERE / "board.c")]
    lines = {}
    for integer in (False, True):
        host = folder / f"host-{integer}"
        cc = [
            "cc",
            "-std=c99",
            "-O2",
            "-DHOST",
            f"-DVIT_EDGE_INTEGER={int(integer)}",
            side,
            f"-I{c_dir}",
            f"-I{folder}",
        ]
        subprocess.run([*cc, "-o", str(host), *sources, "-lm"], check=True)
        run = subprocess.run([str(host)], capture_output=True, text=True, check=True)
        lines[integer] = parse(run.stdout)[0]
    return lines


def library_size(work: Path, c_dir: Path, tools: str, flags: str) -> dict[str, int]:
    """Flash (code + const data) and static RAM of the library alone, from its object files (made in
    work, a build's own folder)."""
    total = {"code": 0, "weights": 0, "ram": 0, "prepare_code": 0, "prepare_ram": 0}
    work.mkdir(parents=True, exist_ok=True)
    for source in c_export.LIBRARY:
        key = {"vit_edge_weights.c": "weights", "vit_edge_prepare.c": "prepare"}.get(source, "code")
        obj = work / (source + ".o")
        cc = [
            f"{tools}gcc",
            "--specs=picolibc.specs",  # its headers, as the boards' builds use
            "-std=c99",
            "-O2",
            "-funroll-loops",
            *flags.split(),
            f"-I{c_dir}",
            "-c",
        ]
        subprocess.run([*cc, str(c_dir / source), "-o", str(obj)], check=True)
        size = subprocess.run([f"{tools}size", str(obj)], capture_output=True, text=True, check=True)
        text, data, bss = map(int, size.stdout.splitlines()[1].split()[:3])
        if key == "prepare":
            total["prepare_code"], total["prepare_ram"] = text + data, data + bss
            continue
        total[key] += text + data
        total["ram"] += data + bss
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--c-dir", type=Path, default=REPO / "models" / "c")
    parser.add_argument("--digits", type=int, default=100)
    parser.add_argument("--cores", help="a comma-separated subset of the builds (default: all)")
    parser.add_argument("--work-side", type=int, default=BOARD_WORK_SIDE, help="vit_edge_prepare's work side")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="emulators run at once")
    mnist = os.environ.get("VIT_EDGE_TEST_MNIST", REPO.parent / "shared" / "mnist")  # as the tests read it
    parser.add_argument("--data-dir", type=Path, default=Path(mnist))
    parser.add_argument("--images", type=Path, help="a folder of your own images instead of MNIST's")
    args = parser.parse_args()
    side = f"-DVIT_EDGE_WORK_SIDE={args.work_side}"  # every build's, the host's and the boards'
    chosen = args.cores.split(",") if args.cores else [*CORES, *PLAIN]
    prefixes = {CORES[PLAIN[c][0] if c in PLAIN else c][0] for c in chosen if c in CORES or c in PLAIN}
    tools = {ARM: ("arm-none-eabi-gcc", "qemu-system-arm"), RISCV: (f"{RISCV}gcc", "qemu-system-riscv32")}
    for tool in ("cc", *(t for prefix in prefixes for t in tools[prefix])):
        if not shutil.which(tool):
            skip(f"{tool} not found")
    for target in ("arm-none-eabi" if p == ARM else "riscv64-unknown-elf" for p in prefixes):
        if not (Path("/usr/lib/picolibc") / target / "picolibc.specs").is_file():
            skip(f"picolibc for {target} not found")
    c_dir = args.c_dir.resolve()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pixels, grays = images(args.digits, args.data_dir, args.images)
        references = {"all": host_reference(work / "all", c_dir, pixels, grays, side)}
        for n_digits, n_grays in set(SUBSET.values()):
            folder = work / f"{n_digits}-{n_grays}"
            references[folder.name] = host_reference(folder, c_dir, pixels[:n_digits], grays[:n_grays], side)
        answers = {}
        builds = [*CORES.items(), *((name, CORES[core]) for name, (core, _) in PLAIN.items())]
        if args.cores:
            builds = [(name, how) for name, how in builds if name in args.cores.split(",")]

        def check(build: tuple) -> tuple[str, dict, int, int]:
            """One build on its emulator: its report line, its answers, how many passed and failed."""
            name, (tools, machine, flags, memory, per_tick) = build
            extra = f"{side} -DVIT_EDGE_PLAIN_C" if name in PLAIN else side
            folder = work / ("-".join(map(str, SUBSET[name])) if name in SUBSET else "all")
            reference = references[folder.name][name in INTEGER]
            elf = build_elf(folder, c_dir, name, tools, flags, memory, extra)
            qemu = [*machine, "-nographic", "-icount", "shift=0", "-kernel", str(elf)]
            semihosting = ["-semihosting-config", "enable=on,target=native"]
            run = subprocess.run([*qemu, *semihosting], capture_output=True, text=True, timeout=600)
            lines, cost = parse(run.stdout + run.stderr)  # semihosting writes to stderr
            worst, ok = 0.0, 0
            for i, (digit, probs) in reference.items():
                got = lines.get(i)
                good = got is not None and got[0] == digit and np.abs(got[1] - probs).max() <= TOLERANCE
                worst = max(worst, np.abs(got[1] - probs).max()) if got else float("inf")
                ok += good
            bad = len(reference) - ok
            size = library_size(work / "sizes" / name, c_dir, tools, f"{flags} {extra}")
            instructions = cost.get("ticks", float("nan")) * per_tick
            prepare = cost.get("prepare", float("nan")) * per_tick
            qvga = cost.get("last_pixels") == QVGA[0] * QVGA[1]
            frame = f"{cost['last'] * per_tick / 1e6:.1f} M for the QVGA frame, " if qvga else ""
            line = (
                f"mcu check: {name}: flash {(size['code'] + size['weights']) / 1024:.1f} KB (code "
                f"{size['code'] / 1024:.1f} KB + weights {size['weights'] / 1024:.1f} KB), RAM "
                f"{(size['ram'] + cost.get('stack', 0)) / 1024:.1f} KB (static {size['ram'] / 1024:.1f} KB + "
                f"stack {cost.get('stack', 0) / 1024:.1f} KB), {instructions / 1e6:.1f} M instructions per "
                f"inference (~{instructions / 480e6 * 1000:.0f} ms at 480 MHz if 1 instruction a cycle, an "
                f"estimate); vit_edge_prepare: code {size['prepare_code'] / 1024:.1f} KB, its pool in the "
                f"model's block (the arena lent as its last part) at work side {args.work_side} (library "
                f"static RAM {(size['ram'] + size['prepare_ram']) / 1024:.0f} KB), "
                f"instructions: {frame}"
                f"{prepare / 1e6:.1f} M at most; max |dp| vs host "
                f"{worst:.1e}, {ok} passed, {bad} failed"
            )
            return line, lines, ok, bad

        # the emulators run side by side (each is one thread of work); the lines come in build order
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for (name, _), (line, lines, ok, bad) in zip(builds, pool.map(check, builds), strict=True):
                print(line, flush=True)
                answers[name] = lines
                passed, failed = passed + ok, failed + bad
        for name, (core, path) in PLAIN.items():
            if name not in answers or core not in answers:
                continue
            vector, plain = answers[core], answers[name]
            same = vector.keys() == plain.keys() and all(
                vector[i][0] == plain[i][0] and np.array_equal(vector[i][1], plain[i][1]) for i in vector
            )
            print(
                f"mcu check: {path} and plain C give {'identical' if same else 'DIFFERENT'} outputs on {core}"
            )
            failed += 0 if same else 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
