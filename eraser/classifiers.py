"""Feature classifiers stored as checkpoint directories (``"role": "classifier"``).

Two kinds:

* ``probe``: an image embedder (named in config.json, e.g. the FID Inception network) followed by
  a logistic-regression head (``eraser.labelling.probe``), trained from marks;
* ``cnn``: a small convolutional network on the 64×64 pixels themselves (``eraser.labelling.cnn``).

Either loads as a ``Labeller`` (``probe:NAME|PATH`` in a labeller spec). A classifier used to
*measure* erasure must never be used inside the fine-tuning loss.
"""

from __future__ import annotations

from eraser.errors import EraserError
from eraser.labelling.base import Labeller
from eraser.labelling.store import classifier_dir, save_classifier

__all__ = ["classifier_dir", "load_classifier", "save_classifier"]


def load_classifier(name_or_path: str, device: str = "cpu") -> Labeller:
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
    # what the classifier declares: its feature and its cut for "clean" samples (config.json, checked above)
    declared = {"feature": config.get("feature", "feature"), "clean_threshold": float(config.get("clean_threshold", threshold))}
    if kind == "probe":
        from eraser.labelling.embedders import make_embedder
        from eraser.labelling.probe import ProbeHead, ProbeLabeller

        head = ProbeHead(int(config["dim"]))
        load_strict(head, state, str(path / WEIGHTS))
        labeller = ProbeLabeller(make_embedder(config["embedder"]), head, name, threshold, **declared)
    elif kind == "cnn":
        from eraser.labelling.cnn import CNNLabeller, FeatureCNN

        from eraser.generators.adapters import build_module

        net = build_module(FeatureCNN, config.get("init_args", {}), f"the classifier in {path}")
        load_strict(net, state, str(path / WEIGHTS))
        labeller = CNNLabeller(net.eval(), name, threshold, **declared)
    else:
        raise EraserError(f"{path}/config.json names unknown classifier kind {kind!r}; known: probe, cnn")
    return labeller.to(device)
