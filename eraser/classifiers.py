"""Feature classifiers stored as checkpoint directories (``"role": "classifier"``).

Two kinds:

* ``probe``: an image embedder (named in config.json, e.g. the FID Inception network) followed by
  a logistic-regression head (``eraser.labelling.probe``), trained from marks;
* ``cnn``: a small convolutional network on the 64×64 pixels themselves (``eraser.labelling.cnn``).

Either loads as a ``Labeller`` (``probe:NAME|PATH`` in a labeller spec). A classifier used to
*measure* erasure must never be used inside the fine-tuning loss.
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


def load_classifier(name_or_path: str, device: str = "cpu"):
    """Load a classifier directory (or shipped name) as a ``Labeller`` on ``device``."""
    from eraser.generators.checkpoint import WEIGHTS, read_config, read_state
    from eraser.generators.state import load_strict

    from eraser.schemas import check_classifier_config

    path = classifier_dir(name_or_path)
    config = read_config(path, "classifier")
    check_classifier_config(config, path)
    state = read_state(path)
    kind = config.get("kind")
    name = f"probe:{name_or_path}"
    threshold = float(config.get("threshold", 0.5))
    if kind == "probe":
        from eraser.labelling.embedders import make_embedder
        from eraser.labelling.probe import ProbeHead, ProbeLabeller

        head = ProbeHead(int(config["dim"]))
        load_strict(head, state, str(path / WEIGHTS))
        labeller = ProbeLabeller(make_embedder(config["embedder"]), head, name, threshold)
    elif kind == "cnn":
        from eraser.labelling.cnn import CNNLabeller, FeatureCNN

        from eraser.generators.adapters import build_module

        net = build_module(FeatureCNN, config.get("init_args", {}), f"the classifier in {path}")
        load_strict(net, state, str(path / WEIGHTS))
        labeller = CNNLabeller(net.eval(), name, threshold)
    else:
        raise EraserError(f"{path}/config.json names unknown classifier kind {kind!r}; known: probe, cnn")
    labeller.feature = config.get("feature", "feature")
    labeller.clean_threshold = float(config.get("clean_threshold", threshold))
    return labeller.to(device)
