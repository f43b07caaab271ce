"""`eraser sample` and `eraser models`: outputs, reproducibility, and one-line errors on bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from eraser.generators import load_generator


def test_npy_output_is_reproducible_and_matches_library(run_cli, tiny_checkpoint, tmp_path):
    z = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    outs = []
    for name in ("a.npy", "b.npy"):
        r = run_cli("sample", "-g", tiny_checkpoint, "--latents", tmp_path / "z.npy", "--format", "npy", "--out", tmp_path / name)
        assert r.code == 0, r.err
        outs.append(np.load(tmp_path / name))
    assert outs[0].dtype == np.float32 and outs[0].shape == (5, 3, 64, 64)
    assert np.array_equal(outs[0], outs[1])
    assert outs[0].min() >= -1 and outs[0].max() <= 1
    expected = load_generator(tiny_checkpoint).generate(torch.from_numpy(z)).numpy()
    assert np.array_equal(outs[0], expected)
    assert np.array_equal(np.load(tmp_path / "a.latents.npy"), z)


def test_png_grid_and_latents(run_cli, tiny_checkpoint, tmp_path):
    r = run_cli("sample", "-g", tiny_checkpoint, "--n", 6, "--seed", 3, "--nrow", 3, "--out", tmp_path / "grid.png")
    assert r.code == 0, r.err
    img = Image.open(tmp_path / "grid.png")
    assert img.size == (3 * 66 + 2, 2 * 66 + 2)  # 3 × 2 tiles of 64 px with 2 px padding
    z = np.load(tmp_path / "grid.latents.npy")
    assert z.shape == (6, 8)
    assert np.array_equal(z, load_generator(tiny_checkpoint).sample_latents(6, 3).numpy())


def test_models_lists_shipped(run_cli):
    r = run_cli("models")
    assert r.code == 0
    assert "digiface-dcgan64" in r.out and "MIT" in r.out and "gan-face-generate==1.1.1" in r.out


def _assert_clean_failure(r, *fragments, outputs=()):
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eraser: error:"), r.err
    assert "Traceback" not in r.err
    for frag in fragments:
        assert frag in r.err, r.err
    for p in outputs:
        assert not p.exists(), f"partial output {p} left behind"
    leftovers = [p for o in outputs for p in o.parent.glob(f".{o.name}*")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_bad_inputs_fail_cleanly(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "x.npy"
    lat = tmp_path / "x.latents.npy"
    # missing file, unknown name
    _assert_clean_failure(run_cli("sample", "-g", tmp_path / "nope", "--out", out), "neither a shipped model", outputs=[out, lat])
    _assert_clean_failure(run_cli("sample", "-g", "no-such-gan", "--out", out), "digiface-dcgan64", outputs=[out, lat])
    # latents of the wrong shape, wrong dtype, missing
    np.save(tmp_path / "z3.npy", np.zeros((4, 3), np.float32))
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--latents", tmp_path / "z3.npy", "--out", out), "shape [4, 3]", outputs=[out, lat])
    np.save(tmp_path / "zi.npy", np.zeros((4, 8), np.int64))
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--latents", tmp_path / "zi.npy", "--out", out), "dtype int64", outputs=[out, lat])
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--latents", tmp_path / "none.npy", "--out", out), "not found", outputs=[out, lat])
    # unwritable output path
    bad_out = tmp_path / "no-such-dir" / "x.npy"
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--out", bad_out), "does not exist", outputs=[bad_out])
    # unknown output suffix
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--out", tmp_path / "x.bmpx"), "--format")
    # a usage error is one line too
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--out", out, "--n", "0"), "--n")


def test_checkpoint_with_mismatched_keys_fails_cleanly(run_cli, tiny_checkpoint, tmp_path):
    weights = tiny_checkpoint / "model.safetensors"
    state = safetensors.torch.load_file(str(weights))
    state.pop("main.0.weight")
    safetensors.torch.save_file(state, str(weights))
    (tiny_checkpoint / "provenance.json").unlink()  # no recorded hash: the key check must catch it
    out = tmp_path / "x.npy"
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--out", out), "missing keys: main.0.weight", outputs=[out])


def test_read_only_folder(run_cli, tiny_checkpoint, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--out", ro / "x.npy"), "not writable")


def test_input_latents_are_never_overwritten(run_cli, tiny_checkpoint, tmp_path):
    z = tmp_path / "z.npy"
    np.save(z, np.ones((2, 8), np.float32))
    _assert_clean_failure(run_cli("sample", "-g", tiny_checkpoint, "--latents", z, "--out", z), "refusing to overwrite")
    assert np.array_equal(np.load(z), np.ones((2, 8), np.float32))


def test_console_script_prints_no_traceback(tmp_path):
    """The installed entry point, as a user runs it: one line on stderr, exit code 2."""
    env = {**os.environ, "ERASER_DEBUG": ""}
    p = subprocess.run(
        [sys.executable, "-m", "eraser.cli", "sample", "-g", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
