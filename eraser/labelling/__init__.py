"""Labelling: which samples carry the feature, from CLIP prompts, a person's marks, or a probe/classifier.

``make_labeller(spec)`` turns a spec string into a ``Labeller``:

* ``clip:FEATURE[,model=…,pretrained=…,checkpoint=…,threshold=…]``: CLIP zero-shot (open_clip);
* ``marks:PATH``: a person's marks (labels only the marked samples);
* ``probe:NAME|PATH``: a trained classifier (a probe on embeddings or a pixel CNN).
"""

from __future__ import annotations

from eraser.errors import EraserError
from eraser.labelling.base import Labeller

KINDS = ("clip", "marks", "probe")


def make_labeller(spec: str, device: str = "cpu") -> Labeller:
    """Build the labeller a spec string names (see the module docstring)."""
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in KINDS or not arg:
        raise EraserError(f"labeller spec {spec!r} is not one of clip:FEATURE, marks:PATH, probe:NAME")
    if kind == "clip":
        from eraser.labelling.clip import make_clip_labeller

        return make_clip_labeller(arg, device=device)
    if kind == "marks":
        from eraser.labelling.marks import MarksLabeller, load_marks

        return MarksLabeller(load_marks(arg), name=spec)
    from eraser.classifiers import load_classifier

    return load_classifier(arg, device=device)


__all__ = ["KINDS", "Labeller", "make_labeller"]
