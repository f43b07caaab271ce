"""A checkpoint may name only classes the user vouches for: eraser's own, registered ones, or any
with --trust-code; the check is made on the name, before anything is imported."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
from conftest import tiny_dcgan

from eraser.errors import EraserError
from eraser.generators import load_checkpoint, register_class, save_checkpoint
from eraser.generators.adapters import ModuleGenerator
from eraser.generators.dcgan import DCGANGenerator
from eraser.generators.trust import trusting_code


def _name_class(ck: Path, class_path: str) -> None:
    config = json.loads((ck / "config.json").read_text())
    config["class"] = class_path
    (ck / "config.json").write_text(json.dumps(config))


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """An importable module that leaves a marker file when imported; returns (name, marker path)."""
    name = f"untrusted_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "imported.marker"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / f"{name}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "from eraser.generators.dcgan import DCGANGenerator as Net\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    yield name, marker
    sys.modules.pop(name, None)


@pytest.mark.parametrize("command", ["sample", "evaluate", "audit"])
def test_class_outside_eraser_is_refused_and_not_imported(tmp_path, run_cli, marker_module, tiny_checkpoint, command):
    name, marker = marker_module
    ck = save_checkpoint(tiny_dcgan(), tmp_path / "foreign")
    _name_class(ck, f"{name}:Net")
    args = {"sample": ["sample", "-g", ck, "--out", tmp_path / "s.png"],
            "evaluate": ["evaluate", "-a", tiny_checkpoint, "-b", ck, "--out", tmp_path / "ev", "--fid-samples", "0"],
            "audit": ["audit", "-g", ck, "--feature-classifier", "digiface-eyeglasses-clf", "--out", tmp_path / "au"]}[command]
    r = run_cli(*args)
    assert r.code == 2 and len(r.err.splitlines()) == 1, r.err
    assert f"names the class {name}:Net" in r.err and "--trust-code" in r.err and "register_class" in r.err
    assert not marker.exists() and name not in sys.modules  # never imported
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "ev").exists() and not (tmp_path / "au").exists()


def test_trust_code_flag_lets_it_load(tmp_path, run_cli, marker_module):
    name, marker = marker_module
    ck = save_checkpoint(tiny_dcgan(), tmp_path / "foreign")
    _name_class(ck, f"{name}:Net")
    r = run_cli("sample", "-g", ck, "--out", tmp_path / "s.png", "--trust-code")
    assert r.code == 0, r.err
    assert marker.exists() and (tmp_path / "s.png").is_file()


def test_library_refuses_until_trusted(tmp_path, marker_module):
    name, marker = marker_module
    ck = save_checkpoint(tiny_dcgan(), tmp_path / "foreign")
    _name_class(ck, f"{name}:Net")
    with pytest.raises(EraserError, match="--trust-code"):
        load_checkpoint(ck)
    assert not marker.exists()
    with trusting_code():
        assert load_checkpoint(ck).latent_dim == 8
    assert marker.exists()


def test_registered_class_loads_without_the_flag(tmp_path, run_cli):
    class Unregistered(DCGANGenerator):
        pass

    @register_class
    class Registered(DCGANGenerator):
        pass

    for cls in (Registered, Unregistered):
        gen = ModuleGenerator(cls(nz=8, ngf=4), (8, 1, 1), {"nz": 8, "ngf": 4}, cls.__name__)
        save_checkpoint(gen, tmp_path / cls.__name__)
    assert run_cli("sample", "-g", tmp_path / "Registered", "--out", tmp_path / "r.png").code == 0
    r = run_cli("sample", "-g", tmp_path / "Unregistered", "--out", tmp_path / "u.png")
    assert r.code == 2 and "--trust-code" in r.err and not (tmp_path / "u.png").exists()


def test_register_class_takes_only_modules():
    with pytest.raises(TypeError):
        register_class(dict)
