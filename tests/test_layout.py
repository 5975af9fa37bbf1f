"""The layout's promises: one installed import name, and a device side that never reaches torch."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

# What the base (torch-free) install may import from outside the standard library.
DEVICE_THIRD_PARTY = {"numpy", "PIL", "onnxruntime", "click"}
# vit_edge modules the device side may use: its own folder and the torch-free shared modules.
SHARED = {"vit_edge", "vit_edge.errors", "vit_edge.config"}


def _imports(path: Path, package: str) -> set[str]:
    """Every module a file imports, at any depth of the file (lazy imports in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                found |= {module} | {f"{module}.{a.name}" for a in node.names}
            else:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return found


def _module_file(root: Path, module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "vit_edge":
        return None
    base = root.joinpath(*parts[1:]) if len(parts) > 1 else root
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def device_violations(package_root: Path) -> list[str]:
    """Imports that take the device side (vit_edge/device) outside what the base install has,
    directly or through any vit_edge module it imports."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    todo = [(f"vit_edge.device.{p.stem}" if p.stem != "__init__" else "vit_edge.device", p)
            for p in sorted((package_root / "device").glob("*.py"))]  # fmt: skip
    seen, problems = set(), []
    while todo:
        module, path = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for name in sorted(_imports(path, package)):
            top = name.split(".")[0]
            if top in stdlib or top in DEVICE_THIRD_PARTY:
                continue
            if top != "vit_edge":
                problems.append(f"{module} imports {name}")
                continue
            target = _module_file(package_root, name)
            if target is None:  # a name imported from a module, not a module
                continue
            allowed = name in SHARED or name.startswith("vit_edge.device")
            if not allowed:
                problems.append(f"{module} imports {name}, which is not device-side")
            else:
                todo.append((name, target))
    return problems


def test_device_side_never_reaches_torch():
    assert device_violations(ROOT / "vit_edge") == []


def test_the_check_catches_a_planted_torch_import(tmp_path: Path):
    copy = tmp_path / "vit_edge"
    shutil.copytree(ROOT / "vit_edge", copy, ignore=shutil.ignore_patterns("__pycache__"))
    fileio = copy / "device" / "fileio.py"
    fileio.write_text(fileio.read_text().replace("import json\n", "import json\n\nimport torch\n", 1))
    assert device_violations(copy) == ["vit_edge.device.fileio imports torch"]
    runtime = copy / "device" / "runtime.py"  # through another module, inside a function
    fileio.write_text((ROOT / "vit_edge" / "device" / "fileio.py").read_text())
    runtime.write_text(runtime.read_text() + "\n\ndef later():\n    from ..checkpoint import load\n")
    assert device_violations(copy) == [
        "vit_edge.device.runtime imports vit_edge.checkpoint, which is not device-side"
    ]


def test_wheel_installs_one_top_level_name(tmp_path: Path):
    # built from a copy of the tracked files: a build in the checkout would leave build/ and
    # vit_edge.egg-info behind in it
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            tmp_path,
            source,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("vit_edge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"vit_edge"}
    for needed in ("vit_edge/cli.py", "vit_edge/export/pipeline.py", "vit_edge/device/runtime.py",
                   "vit_edge/models/vit-edge.int8.onnx"):  # fmt: skip
        assert needed in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "vit-edge = vit_edge.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
