"""Atomic file and directory writes, hashing and small JSON helpers.

Every output eraser writes goes through here: a file or directory appears complete at its final
path or not at all, and an existing checkpoint directory is never replaced unless asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eraser.errors import EraserError


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: Path) -> None:
    """Refuse (one line) a path whose folder is missing, is a file, or is not writable."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        blocker = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
        if blocker is not None and not blocker.is_dir():
            raise EraserError(f"cannot write {path}: {blocker} is a file, not a folder; choose another --out")
        raise EraserError(f"cannot write {path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EraserError(f"cannot write {path}: folder {parent} is not writable; choose another --out")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    If the body raises, the temporary file is removed and ``path`` is left as it was.
    ``suffix`` keeps an extension on the temporary name for writers that look at it (PIL, numpy).
    """
    path = Path(path)
    check_writable(path)
    if path.is_dir():
        raise EraserError(f"cannot write {path}: it is a folder; give a file path")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success move it to ``path``.

    An existing ``path`` is refused unless ``overwrite``; then it is replaced only after the new
    directory is complete. If the body raises, nothing at ``path`` changes.
    """
    path = Path(path)
    check_writable(path)
    if path.exists() and not overwrite:
        raise EraserError(f"{path} already exists; choose a new --out folder (eraser never overwrites a checkpoint)")
    if path.exists() and not path.is_dir():
        raise EraserError(f"{path} exists and is not a folder; choose a new --out folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "d")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path, ".json") as tmp:
        dump_json(tmp, obj)


def dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` directly (a temporary path of ``atomic_path``)."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read a JSON file, turning a missing or malformed file into a one-line EraserError."""
    path = Path(path)
    if not path.is_file():
        raise EraserError(f"{what} {path} not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EraserError(f"{what} {path} is not valid JSON ({e}); fix or regenerate it") from None


def read_json_object(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """``read_json`` for files that must hold a JSON object (one-line error otherwise)."""
    doc = read_json(path, what)
    if not isinstance(doc, dict):
        raise EraserError(f"{what} {path} holds a JSON {type(doc).__name__}, not an object; fix or regenerate it")
    return doc


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``atomic_path``/``atomic_dir`` removes its temporary files."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active (main thread only), SIGTERM unwinds the program as Ctrl-C does, cleaning temp files."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
