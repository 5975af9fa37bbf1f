"""A Raspberry Pi style /proc/cpuinfo for an emulated core, for scripts/arm64_check.sh.

qemu-user shows the program the host's x86 /proc/cpuinfo, and onnxruntime's CPU detection crashes
parsing it; qemu finds this file first under its -L root.

    python scripts/arm64_cpuinfo.py cortex-a72 > ROOT/proc/cpuinfo
"""

from __future__ import annotations

import sys

BOARDS = {  # core: (part number, revision, features, board)
    "cortex-a72": ("0xd08", "3", "fp asimd evtstrm crc32 cpuid", "Raspberry Pi 4 Model B Rev 1.5"),
    "cortex-a76": (
        "0xd0b",
        "1",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
        "Raspberry Pi 5 Model B Rev 1.0",
    ),
}


def cpuinfo(core: str) -> str:
    part, revision, features, board = BOARDS[core]
    variant = "0x4" if core == "cortex-a76" else "0x0"
    processor = (
        "processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n"
    )
    cores = "".join(
        processor.format(i=i, features=features, variant=variant, part=part, revision=revision)
        for i in range(4)
    )
    return cores + f"Model\t\t: {board}\n"


if __name__ == "__main__":
    sys.stdout.write(cpuinfo(sys.argv[1]))
