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
