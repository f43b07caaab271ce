"""``eraser import`` (a generator that does not describe itself becomes a checkpoint folder, once), the loader
flags on ``evaluate`` and ``audit``, the one-line list of every missing loader flag, the warning for outputs
outside [-1, 1], and ``eraser marks merge`` on the shipped marks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from conftest import bar_generator, tiny_dcgan
from torch import nn

from eraser.generators import LoadOptions, load_generator
from eraser.generators.adapters import ModuleGenerator
from eraser.io import sha256_file
from eraser.labelling.marks import Marks, load_marks, save_marks

ROOT = Path(__file__).resolve().parents[1]
MARKS = ROOT / "assets" / "marks" / "digiface-eyeglasses.json"
DCGAN = "eraser.generators.dcgan:DCGANGenerator"
TINY_FLAGS = ["--class", DCGAN, "--init-args", '{"nz": 8, "ngf": 4}', "--latent-shape", "8,1,1"]


def _training_checkpoint(tmp_path: Path) -> tuple[ModuleGenerator, Path]:
    """A tiny DCGAN saved as a training checkpoint: its state dict under ``netG_state_dict``, beside other entries."""
    gen = tiny_dcgan()
    path = tmp_path / "train.tar"
    torch.save({"netG_state_dict": gen.module.state_dict(), "epoch": 3, "netD_state_dict": {"w": torch.zeros(2)}}, path)
    return gen, path


# -- import --------------------------------------------------------------------------------------
def test_import_writes_a_checkpoint_every_command_loads(run_cli, tmp_path):
    gen, weights = _training_checkpoint(tmp_path)
    out = tmp_path / "imported"
    r = run_cli("import", weights, *TINY_FLAGS, "--state-dict-key", "netG_state_dict", "--out", out)
    assert r.code == 0, r.err
    assert "latent shape 8,1,1" in r.out and "--trust-code" not in r.out  # eraser's own class: no trust needed
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "provenance.json"]
    prov = json.loads((out / "provenance.json").read_text())
    src = prov["imported_from"]
    assert src["sha256"] == sha256_file(weights) and src["state_dict_key"] == "netG_state_dict"
    assert src["class"] == DCGAN and src["init_args"] == {"nz": 8, "ngf": 4} and src["latent_shape"] == [8, 1, 1]
    loaded = load_generator(out)  # by its path alone
    z = gen.sample_latents(5, 3)
    assert torch.equal(loaded.generate(z), gen.generate(z))
    # any command takes the folder with no loader flags
    r = run_cli("sample", "-g", out, "--n", 4, "--out", tmp_path / "s.npy")
    assert r.code == 0, r.err
    assert np.array_equal(np.load(tmp_path / "s.npy"), gen.generate(gen.sample_latents(4, 0)).numpy())
    # never overwritten: a second import into the same folder is one line, and the folder is unchanged
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = run_cli("import", weights, *TINY_FLAGS, "--state-dict-key", "netG_state_dict", "--out", out)
    assert r.code == 2 and "already exists" in r.err and len(r.err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_every_missing_loader_flag_is_named_at_once(run_cli, tmp_path):
    _, weights = _training_checkpoint(tmp_path)
    r = run_cli("import", weights, "--out", tmp_path / "x")
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1
    for flag in ("--class", "--latent-shape", "--init-args", "--state-dict-key"):
        assert flag in lines[0], flag
    assert "netG_state_dict" in lines[0] and "epoch" not in lines[0]  # the entries that hold state dicts
    # with --class given, the flags still missing (and nothing that is there)
    r = run_cli("sample", "-g", weights, "--class", DCGAN, "--out", tmp_path / "s.png")
    assert r.code == 2 and "--latent-shape" in r.err and "--state-dict-key" in r.err and "--class" not in r.err
    assert not (tmp_path / "x").exists() and not (tmp_path / "s.png").exists()


class NeedsArgs(nn.Module):
    def __init__(self, nz, side, scale=1.0):
        super().__init__()
        self.side = side
        self.lin = nn.Linear(nz, 3 * side * side)

    def forward(self, z):
        return torch.tanh(self.lin(z.reshape(len(z), -1))).reshape(-1, 3, self.side, self.side)


def test_required_constructor_arguments_are_named(run_cli, tmp_path, monkeypatch):
    import sys
    import types

    mod = types.ModuleType("user_gan_17")
    NeedsArgs.__module__ = mod.__name__
    mod.NeedsArgs = NeedsArgs
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file(NeedsArgs(4, 8).state_dict(), str(path))
    r = run_cli("import", path, "--class", "user_gan_17:NeedsArgs", "--init-args", '{"nz": 4}', "--out", tmp_path / "x")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "--init-args with side" in r.err and "nz" not in r.err.split("--init-args with", 1)[1].split("(")[0]
    assert "scale" not in r.err and "--latent-shape" in r.err
    r = run_cli("import", path, "--class", "user_gan_17:NeedsArgs", "--init-args", '{"nz": 4, "side": 8}',
                "--latent-shape", "4", "--out", tmp_path / "x")
    assert r.code == 0, r.err
    assert "--trust-code" in r.out  # a class outside eraser: later loads need it, and the command says so
    assert json.loads((tmp_path / "x" / "config.json").read_text())["class"] == "user_gan_17:NeedsArgs"
    r = run_cli("sample", "-g", tmp_path / "x", "--n", 2, "--out", tmp_path / "s.png")
    assert r.code == 2 and "--trust-code" in r.err
    r = run_cli("sample", "-g", tmp_path / "x", "--trust-code", "--n", 2, "--out", tmp_path / "s.png")
    assert r.code == 0, r.err


def test_import_torchscript_and_refuse_a_checkpoint(run_cli, tmp_path, tiny_checkpoint):
    gen = tiny_dcgan()
    ts = tmp_path / "g.pt"
    torch.jit.save(torch.jit.script(gen.module), str(ts))
    r = run_cli("import", ts, "--out", tmp_path / "ts")
    assert r.code == 2 and "--latent-shape" in r.err
    r = run_cli("import", ts, "--latent-shape", "8,1,1", "--out", tmp_path / "ts")
    assert r.code == 0, r.err
    z = gen.sample_latents(3, 1)
    assert torch.equal(load_generator(tmp_path / "ts").generate(z), gen.generate(z))
    r = run_cli("import", tiny_checkpoint, "--out", tmp_path / "again")
    assert r.code == 2 and "already an eraser checkpoint" in r.err and not (tmp_path / "again").exists()


def test_evaluate_and_audit_take_the_loader_flags(run_cli, bar_world, tmp_path):
    """The original given as a bare weights file (``--class``) to evaluate and audit, the erased as a folder."""
    gen = bar_generator()
    bare = tmp_path / "bar.safetensors"
    safetensors.torch.save_file(gen.module.state_dict(), str(bare))
    flags = ["--class", "conftest:BarGen", "--latent-shape", "8"]
    r = run_cli("evaluate", "--original", bare, *flags, "--erased", bar_world["generator"],
                "--feature-classifier", bar_world["classifier"], "--out", tmp_path / "eval", "--n-eval", 64,
                "--fid-samples", 0, "--guard", "max_feature_rate_ratio=10")  # nothing was erased: only the loading counts
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    # the same network read two ways: identical images, the same feature rate before and after
    assert m["preservation_on_labelled_feature_free"]["ms_ssim_mean"] == pytest.approx(1.0, abs=1e-6)
    assert m["feature_rate"]["before"] == m["feature_rate"]["after"] > 0
    r = run_cli("audit", "-g", bar_world["generator"], "--original", bare, *flags, "--feature-classifier",
                bar_world["classifier"], "--marks", bar_world["marks"], "--out", tmp_path / "audit",
                "--starts", 2, "--steps", 2, "--random-samples", 8, "--random-batch", 4, "--walk-starts", 2,
                "--walk-points", 2)
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert doc["generators"] == {"original": str(bare), "erased": str(bar_world["generator"])}
    assert doc["success_rate"]["random"]["original"] == doc["success_rate"]["random"]["erased"]


# -- outputs outside [-1, 1] ---------------------------------------------------------------------
class ZeroToTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3 * 8 * 8)

    def forward(self, z):
        return 1 + torch.tanh(self.lin(z) + 3).reshape(-1, 3, 8, 8)  # ≈ [1.9, 2]: far above 1


def test_outputs_outside_the_range_are_warned_once(caplog):
    import eraser

    caplog.set_level(logging.WARNING, logger="eraser")
    g = eraser.load(ZeroToTwo(), latent_shape=(4,))
    x = g.generate(g.sample_latents(3, 0))
    g.generate(g.sample_latents(3, 1))
    warned = [r for r in caplog.records if "outside [-1, 1]" in r.getMessage()]
    assert len(warned) == 1 and warned[0].name == "eraser.generators" and "rescale" in warned[0].getMessage()
    assert float(x.max()) == 1.0  # still clamped, but no longer silently
    caplog.clear()
    ok = eraser.load(tiny_dcgan().module, latent_shape=(8, 1, 1))  # a tanh output: nothing to say
    ok.generate(ok.sample_latents(8, 0))
    assert not [r for r in caplog.records if "outside [-1, 1]" in r.getMessage()]


# -- marks merge ---------------------------------------------------------------------------------
def _split_shipped(tmp_path: Path, flip: int = 0) -> tuple[Marks, Path, Path]:
    """The shipped marks as two overlapping files: rows 0–999 and 800–1727 (200 shared latents); ``flip`` of the
    shared yes/no marks get the opposite label in the second file."""
    m = load_marks(MARKS)
    a = m.subset(range(0, 1000))
    b = m.subset(range(800, len(m)))
    shared = [i for i in range(200) if b.labels[i] != "unsure"][:flip]
    for i in shared:
        b.labels[i] = "no" if b.labels[i] == "yes" else "yes"
    for x in (a, b):
        x.feature, x.generator = m.feature, m.generator
    rubric = {"rubric": m.meta["rubric"]}
    return m, save_marks(tmp_path / "a.json", a, extra=rubric), save_marks(tmp_path / "b.json", b, extra=rubric)


def test_merge_of_two_rounds_gives_back_the_shipped_marks(run_cli, tmp_path):
    m, a, b = _split_shipped(tmp_path)
    out = tmp_path / "merged.json"
    r = run_cli("marks", "merge", a, b, "--out", out)
    assert r.code == 0, r.err
    assert "1728 marks (278 yes, 1251 no, 199 unsure)" in r.out and "200 duplicate latents" in r.out
    merged = load_marks(out)
    assert merged.labels == m.labels and torch.equal(merged.z, m.z)
    assert merged.feature == "eyeglasses" and merged.generator == "digiface-dcgan64"
    assert (tmp_path / "merged.latents.npy").is_file()
    doc = json.loads(out.read_text())
    assert [s["path"] for s in doc["merged_from"]] == [str(a), str(b)] and doc["rubric"] == m.meta["rubric"]
    # never overwrites: the same --out again is one line, the file unchanged
    before = out.read_bytes()
    r = run_cli("marks", "merge", a, b, "--out", out)
    assert r.code == 2 and "already exists" in r.err and out.read_bytes() == before


def test_merge_conflicts_are_counted_or_resolved_as_asked(run_cli, tmp_path):
    m, a, b = _split_shipped(tmp_path, flip=7)
    out = tmp_path / "merged.json"
    r = run_cli("marks", "merge", a, b, "--out", out)
    lines = r.err.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and lines[0].startswith("eraser: error: 7 latents are marked yes in one")
    assert "--prefer last" in lines[0] and not out.exists() and not (tmp_path / "merged.latents.npy").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".merged")] == []
    r = run_cli("marks", "merge", a, b, "--out", out, "--prefer", "last")
    assert r.code == 0, r.err
    assert "7 yes/no conflicts settled by --prefer last" in r.out
    last = load_marks(out).labels
    r = run_cli("marks", "merge", a, b, "--out", tmp_path / "first.json", "--prefer", "first")
    assert r.code == 0, r.err
    first = load_marks(tmp_path / "first.json").labels
    assert first == m.labels  # the first file holds the shipped labels of the shared rows
    assert sum(x != y for x, y in zip(last, m.labels)) == 7


def test_unsure_gives_way_and_other_features_are_refused(run_cli, tmp_path):
    m = load_marks(MARKS)
    template = Marks(m.z[:48], ["unsure"] * 48, m.feature, m.generator)  # a `marks grid` template, not yet filled in
    filled = m.subset(range(48))
    filled.feature, filled.generator = m.feature, m.generator
    t, f = save_marks(tmp_path / "t.json", template), save_marks(tmp_path / "f.json", filled)
    r = run_cli("marks", "merge", t, f, "--out", tmp_path / "m.json")
    assert r.code == 0, r.err
    assert load_marks(tmp_path / "m.json").labels == m.labels[:48]
    n_decided = sum(lab != "unsure" for lab in m.labels[:48])
    assert f"{n_decided} unsure replaced by yes/no" in r.out
    other = Marks(m.z[:10], m.labels[:10], "smile", m.generator)
    o = save_marks(tmp_path / "o.json", other)
    r = run_cli("marks", "merge", f, o, "--out", tmp_path / "x.json")
    assert r.code == 2 and "different features" in r.err and "'smile'" in r.err
