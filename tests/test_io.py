"""Atomic writes: a failed write leaves the old file (or nothing) in place."""

from __future__ import annotations

import pytest

from eraser.errors import EraserError
from eraser.io import atomic_dir, atomic_path


def test_atomic_path_failure_leaves_old_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_success_replaces(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_atomic_dir_refuses_existing_and_cleans_up(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "keep").write_text("x")
    with pytest.raises(EraserError, match="already exists"):
        with atomic_dir(d):
            pass
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "new") as tmp:
            (tmp / "f").write_text("partial")
            raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert (d / "keep").read_text() == "x"


SLOW_SAMPLE = """
import sys, time
from eraser.generators.base import Generator
from eraser.cli import main

calls = []
original = Generator.generate

def slow(self, *args, **kwargs):  # the second batch never comes: the process is killed while writing
    calls.append(1)
    if len(calls) > 1:
        time.sleep(120)
    return original(self, *args, **kwargs)

Generator.generate = slow
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_cleans_temporary_files_like_ctrl_c(tmp_path, tiny_checkpoint):
    """SIGTERM while `eraser sample` writes: exit 143, one line, no hidden temporary files left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-c", SLOW_SAMPLE, "sample", "-g", str(tiny_checkpoint), "--n", "600",
                          "--batch-size", "300", "--format", "npy", "--out", str(out / "x.npy")],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "ERASER_DEBUG": ""})
    deadline = time.time() + 120
    while len(list(out.iterdir())) < 2 and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)  # both temporary files exist once writing has started
    assert len(list(out.iterdir())) == 2, (p.poll(), list(out.iterdir()))
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert err.strip().splitlines()[-1] == "eraser: terminated" and "Traceback" not in err
    assert list(out.iterdir()) == []
