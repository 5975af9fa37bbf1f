"""The device install: a plain `pip install .` (no extras) in its own venv, with no torch in it.

The venv is built once per session (or taken from $VIT_EDGE_RUNTIME_PYTHON) and predict runs there
from another working directory, on the packaged default model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import DRAW, ONE, Page, chromium, static_server, why_no_browser
from conftest import ROOT
from dress import STYLES, save

from vit_edge.data import load_split

pytestmark = pytest.mark.slow  # builds a fresh torch-free environment


@pytest.fixture(scope="session")
def runtime_bin(tmp_path_factory) -> Path:
    if python := os.environ.get("VIT_EDGE_RUNTIME_PYTHON"):
        return Path(python).parent
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, timeout=900)
    return venv / "bin"


def run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def dressed(shared_mnist: Path, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """The first 5 test digits in each user style, as files; and each file's true label."""
    images, labels = load_split("test", shared_mnist, allow_download=False)
    folder = tmp_path_factory.mktemp("dressed")
    truth = {}
    for style, dress in STYLES.items():
        for i in range(5):
            truth[save(dress(images[i]), folder, f"{style}-{i}").name] = int(labels[i])
    return folder, truth


def test_no_torch_in_the_runtime_install(runtime_bin: Path, tmp_path: Path):
    result = run(runtime_bin, "python", "-c", "import torch", cwd=tmp_path)
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr
    # the measurement tool that dresses digits up stays in scripts/: the device gets the reader only
    result = run(runtime_bin, "python", "-c", "import vit_edge.device.dress", cwd=tmp_path)
    assert result.returncode != 0 and "No module named 'vit_edge.device.dress'" in result.stderr


def test_predict_with_packaged_model_from_any_directory(runtime_bin, dressed, tmp_path: Path):
    folder, truth = dressed
    result = run(runtime_bin, "vit-edge", "predict", str(folder), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "vit_edge/models/vit-edge.onnx" in result.stderr  # the installed copy, not the checkout
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    predicted = {Path(r["path"]).name: r["prediction"] for r in rows}
    assert predicted.keys() == truth.keys()
    wrong = {name: (predicted[name], truth[name]) for name in truth if predicted[name] != truth[name]}
    assert not wrong, wrong


def test_predict_never_imports_torch_or_onnx(runtime_bin, dressed, tmp_path: Path):
    folder, _ = dressed
    image = str(next(folder.glob("jpeg-*")))
    result = run(
        runtime_bin,
        "python",
        "-X",
        "importtime",
        "-c",
        f"import sys; from vit_edge.cli import main; main(['predict', {image!r}])",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    assert "onnxruntime" in modules and "PIL" in modules  # the import log is real
    heavy = sorted(m for m in modules if m.split(".")[0] in ("torch", "onnx", "onnxscript"))
    assert not heavy, heavy


def test_training_commands_say_what_to_install(runtime_bin: Path, tmp_path: Path):
    for command in ("train", "export"):
        result = run(runtime_bin, "vit-edge", command, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"vit-edge: error: vit-edge {command} needs PyTorch and ONNX: pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu, then from the source folder pip install '.[train]' (or, "
            "for an installed vit-edge, pip install onnx onnxscript tqdm)"
        )


def test_start_up_is_light(runtime_bin: Path, tmp_path: Path):
    result = run(runtime_bin, "python", "-X", "importtime", "-c", "import vit_edge.cli", cwd=tmp_path)
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    assert "click" in modules and not {"numpy", "onnxruntime", "PIL"} & modules


def test_runtime_install_holds_no_torch_or_onnx(runtime_bin: Path, tmp_path: Path):
    listing = (
        "import json, importlib.metadata as m; "
        "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    )
    result = run(runtime_bin, "python", "-c", listing, cwd=tmp_path)
    names = {name.lower() for name in json.loads(result.stdout)}
    assert {"onnxruntime", "numpy", "pillow", "click", "vit-edge"} <= names
    assert not names & {"torch", "onnx", "onnxscript"}, names


def test_benchmark_without_torch_measures_onnx_only(runtime_bin: Path, tmp_path: Path):
    result = run(runtime_bin, "vit-edge", "benchmark", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    engines = [r["engine"] for r in json.loads(result.stdout)["results"]]
    assert engines == ["ORT FP32", "ORT INT8"]


@pytest.mark.skipif(why_no_browser() is not None, reason=str(why_no_browser()))
def test_web_page_from_the_plain_install_works_without_npm(runtime_bin: Path, tmp_path: Path):
    """`pip install .` then `vit-edge web --out DIR`, as a new user: the page's seven files, its engine
    inside the package (no npm, no ONNX Runtime Web), served by any static host, reads a drawing."""
    result = run(runtime_bin, "vit-edge", "web", "--out", "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    assert sorted(p.name for p in site.iterdir()) == sorted(
        ["index.html", "style.css", "app.js", "engine.js", "collect.js", "model.json", "vit_edge.wasm"]
    )
    with static_server(site, str(runtime_bin / "python")) as url, chromium() as browser:
        page = Page(browser, url)
        assert page.info["engine"] == "wasm" and page.js(DRAW, [ONE, 15]) == 1
        assert page.errors == [] and "vit_edge.wasm" in page.fetched()
