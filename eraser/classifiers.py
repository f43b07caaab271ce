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

from eraser import __version__, registry
from eraser.errors import EraserError
from eraser.io import atomic_dir, read_json, sha256_file, write_json

FORMAT = "eraser.checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"


def save_classifier(path: str | Path, state: dict[str, Tensor], config: dict[str, Any],
                    provenance: dict[str, Any] | None = None, overwrite: bool = False,
                    extra_files: dict[str, str] | None = None) -> Path:
    """Write a classifier directory atomically; ``config`` holds ``kind`` and its own fields.

    ``extra_files`` maps file names to text written beside the weights (notices).
    """
    import safetensors.torch

    path = Path(path)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "role": "classifier", **config,
            "eraser_version": __version__}
    with atomic_dir(path, overwrite=overwrite) as tmp:
        safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp / WEIGHTS))
        write_json(tmp / "config.json", full)
        write_json(tmp / "provenance.json", {**(provenance or {}), "weights_sha256": sha256_file(tmp / WEIGHTS),
                                             "eraser_version": __version__})
        for fname, text in (extra_files or {}).items():
            (tmp / fname).write_text(text)
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
    import safetensors.torch

    from eraser.generators.checkpoint import check_weights_hash
    from eraser.generators.state import load_strict

    path = classifier_dir(name_or_path)
    config = read_json(path / "config.json", "classifier config")
    if config.get("format") != FORMAT or config.get("role") != "classifier":
        raise EraserError(f"{path} is not an eraser classifier (config.json needs role \"classifier\")")
    if not isinstance(config.get("format_version"), int) or config["format_version"] > FORMAT_VERSION:
        raise EraserError(f"{path} uses classifier format {config.get('format_version')}; upgrade eraser to read it")
    check_weights_hash(path)
    state = safetensors.torch.load_file(str(path / WEIGHTS))
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

        net = FeatureCNN(**config.get("init_args", {}))
        load_strict(net, state, str(path / WEIGHTS))
        labeller = CNNLabeller(net.eval(), name, threshold)
    else:
        raise EraserError(f"{path}/config.json names unknown classifier kind {kind!r}; known: probe, cnn")
    labeller.feature = config.get("feature", "feature")
    labeller.clean_threshold = float(config.get("clean_threshold", threshold))
    return labeller.to(device)
