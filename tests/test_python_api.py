"""The Python API (``import eraser``): the README's example runs as written, on an in-memory nn.Module, and
``erase``/``evaluate``/``audit``/``load`` accept every form of generator and return typed values."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_dcgan

import eraser
from eraser.errors import EraserError
from eraser.generators.base import Generator

ROOT = Path(__file__).resolve().parents[1]


def readme_python_example() -> str:
    """The first ```python block of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python API section has no python example"
    return blocks[0]


def test_readme_python_example_runs_on_an_in_memory_module(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it writes marks.json and erased/ into the working folder
    namespace = {"__name__": "readme_example"}
    exec(compile(readme_python_example(), "README.md (Python API)", "exec"), namespace)
    result = namespace["result"]
    assert result.verdict == "pass" and result.passed and result.failure is None
    assert result.checkpoint == Path("erased") and (tmp_path / "erased" / "model.safetensors").is_file()
    assert namespace["images"].shape == (4, 3, 32, 32)
    # the in-memory generator was erased, not the user's module: G' differs from it at the same latents
    z = namespace["z"][:4]
    assert not torch.equal(namespace["g"].generate(z), namespace["erased"].generate(z))
    metrics = json.loads((tmp_path / "erased" / "report" / "metrics.json").read_text())
    assert metrics["preservation_on_labelled_feature_free"]["ms_ssim_mean"] == result.metrics.preservation.ms_ssim_mean
    assert metrics["verdict"] == "pass" and [g["name"] for g in metrics["guards"]] == [g.name for g in result.guards]
    prov = json.loads((tmp_path / "erased" / "provenance.json").read_text())
    assert prov["erased_from"] == {"generator": "TinyGenerator", "weights_sha256": None} and prov["feature"] == "planted"


def test_load_takes_every_form_of_generator(tiny_checkpoint):
    g = tiny_dcgan()
    assert eraser.load(g) is g
    wrapped = eraser.load(g.module, latent_shape=(8, 1, 1))
    assert isinstance(wrapped, Generator) and wrapped.latent_dim == 8
    from_path = eraser.load(tiny_checkpoint)
    z = g.sample_latents(2, 0)
    assert torch.equal(from_path.generate(z), g.generate(z))
    with pytest.raises(EraserError, match="latent_shape"):
        eraser.load(g.module)
    with pytest.raises(EraserError):
        eraser.load(g.module, latent_shape=(5, 1, 1))  # the network takes 8 channels: one line, not a torch error
    with pytest.raises(TypeError):
        eraser.load(42)


def test_failed_guards_are_a_verdict_and_evaluate_and_audit_return_values(tiny_checkpoint, tmp_path):
    from eraser.labelling.marks import Marks, save_marks

    g = eraser.load(tiny_checkpoint)
    z = g.sample_latents(200, 5)
    marks = save_marks(tmp_path / "m.json", Marks(z, ["yes" if v > 0.6 else "no" for v in z[:, 0]], "a", "tiny"))
    failed = eraser.erase(tiny_checkpoint, f"marks:{marks}", tmp_path / "f", settings={"method": "paper", "steps": 2,
                          "batch_size": 4}, limits={"min_ms_ssim": 1.01}, fid_samples=0, n_eval=8, progress=False)
    assert failed.verdict == "fail" and failed.checkpoint is None and "preservation" in failed.failure
    assert (tmp_path / "f" / "report" / "metrics.json").is_file() and not (tmp_path / "f" / "model.safetensors").exists()
    with pytest.raises(TypeError, match="unknown options"):
        eraser.erase(g, f"marks:{marks}", tmp_path / "x", n_evals=3)

    ok = eraser.erase(g, f"marks:{marks}", tmp_path / "ok", settings={"method": "paper", "steps": 2, "batch_size": 4},
                      fid_samples=0, n_eval=8, progress=False)
    assert ok.passed
    ev = eraser.evaluate(tiny_checkpoint, tmp_path / "ok", tmp_path / "ev", n_eval=8, fid_samples=0)
    assert ev.verdict in ("pass", "fail") and ev.preservation.n == 512 and (tmp_path / "ev" / "report.html").is_file()
    assert ev.to_dict()["clean_judge"].startswith("the latent direction")

    from eraser.audit.budget import AuditBudget  # binds eraser.audit to the package: it still answers as the API
    from test_audit import planted_generator

    gen, _, readout = planted_generator()
    budget = AuditBudget(starts=2, steps=1, random_samples=8, random_batch=4, walk_starts=2, walk_points=2, top_k=1)
    audit = eraser.audit(gen, readout, original=gen, budget=budget, out=tmp_path / "audit")
    assert set(audit.to_dict()["success_rate"]) == {"gradient", "random"} and (tmp_path / "audit" / "audit.json").is_file()


def test_the_api_names_survive_their_modules_being_imported():
    import eraser.audit.attacks  # noqa: F401
    import eraser.evaluation  # noqa: F401

    assert callable(eraser.audit) and callable(eraser.evaluate) and callable(eraser.erase) and callable(eraser.load)


def test_python_dash_m_eraser_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "eraser", "--version"], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == f"eraser, version {eraser.__version__}", r.stderr
