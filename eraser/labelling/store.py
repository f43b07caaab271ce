"""Classifier checkpoints on disk: where one is (a shipped name or a folder) and how one is written.

A classifier folder has the generators' checkpoint layout (``model.safetensors``, ``config.json`` with
``"role": "classifier"`` and its ``kind``, ``provenance.json``). ``eraser.classifiers`` reads one back as
a ``Labeller``; the trainers (``probe.save_probe``, the scripts) write them here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from eraser import registry
from eraser.errors import EraserError
from eraser.io import atomic_dir


def save_classifier(path: str | Path, state: dict[str, Tensor], config: dict[str, Any],
                    provenance: dict[str, Any] | None = None, overwrite: bool = False,
                    extra_files: dict[str, str] | None = None) -> Path:
    """Write a classifier directory atomically, in the generators' checkpoint layout with role
    ``classifier``; ``config`` holds ``kind`` and its own fields, ``extra_files`` notices."""
    from eraser.generators.checkpoint import write_dir

    path = Path(path)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        write_dir(tmp, {k: v.detach().cpu().contiguous() for k, v in state.items()}, {"role": "classifier", **config},
                  provenance, extra_files)
    return path


def classifier_dir(name_or_path: str) -> Path:
    """A shipped classifier's directory by name, or a classifier directory by path."""
    shipped = registry.resolve(name_or_path, role="classifier")
    if shipped is not None:
        return shipped
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        known = ", ".join(registry.names("classifier")) or "none"
        raise EraserError(f"classifier {name_or_path!r} is neither a shipped classifier ({known}) nor a classifier folder")
    return path
