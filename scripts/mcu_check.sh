#!/usr/bin/env bash
# The C engine (models/c/, as `vit-edge export --format c` makes it) on emulated microcontrollers:
# Cortex-M3 (mps2-an385, no FPU), Cortex-M4F (mps2-an386), Cortex-M7 (mps2-an500) and Cortex-M55
# (mps3-an547), under qemu-system-arm,
# and RISC-V rv32imac (no FPU) and rv32imafc under qemu-system-riscv32 (virt),
# with picolibc. Each runs MNIST test digits and dressed and drawn digits (prepared by predict's own
# preprocessing) and must give the host build's digit on every image, probabilities within a stated
# tolerance. Prints flash, RAM and instructions per inference per core, then "N passed, M failed".
#
#   bash scripts/mcu_check.sh   # needs gcc-arm-none-eabi, picolibc-arm-none-eabi, qemu-system-arm,
#                               # gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf, qemu-system-misc
#
# Exit 0 all passed, 1 a difference, 77 the toolchain or emulator cannot be had here (one line says why).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
exec "${PYTHON:-python3}" "$REPO/scripts/mcu/mcu_check.py" "$@"
