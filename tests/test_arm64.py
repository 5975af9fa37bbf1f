"""`predict` on emulated 64-bit ARM (Raspberry Pi 4 and 5 cores) gives the x86 answers (issue 22).

Runs scripts/arm64_check.sh, about a minute: it needs qemu-user-static and mmdebstrap (`.ci/run`
installs both) and the package index for the aarch64 wheels; it skips, saying why, where they
cannot be had.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT, SHARED_MNIST


@pytest.mark.slow
def test_arm64_answers_match_x86():
    env = {**os.environ, "VIT_EDGE_TEST_MNIST": str(SHARED_MNIST)}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "arm64_check.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if result.returncode == 77:
        pytest.skip(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    passed, failed = map(int, re.fullmatch(r"(\d+) passed, (\d+) failed", last).groups())
    assert failed == 0 and passed >= 2 * 5  # both cores, at least the examples
    for core in ("cortex-a72", "cortex-a76"):
        assert f"arm64 check: {core}: " in result.stdout
    # INT8's own effect on these images (reported beside the FP32 default's check) is never nothing
    bound = re.search(r"INT8 moves a probability by up to (\S+) from FP32", result.stdout)
    assert bound and float(bound.group(1)) > 0, result.stdout
