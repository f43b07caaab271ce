"""Labelling: which samples carry the feature, from CLIP prompts, a person's marks, or a probe/classifier.

``make_labeller(spec)`` turns a spec string into a ``Labeller`` (``eraser.labelling.spec``):

* ``clip:FEATURE[,model=…,pretrained=…,checkpoint=…,threshold=…]``: CLIP zero-shot (open_clip);
* ``marks:PATH``: a person's marks (labels only the marked samples);
* ``probe:NAME|PATH``: a trained classifier (a probe on embeddings or a pixel CNN);
* any kind registered with ``eraser.labelling.spec.register_kind``.
"""

from __future__ import annotations

from eraser.labelling.base import Labeller
from eraser.labelling.spec import LabellerKind, LabellerSpec, register_kind


def make_labeller(spec: str | LabellerSpec, device: str = "cpu") -> Labeller:
    """Build the labeller a spec names (see the module docstring); a bad spec is one error line."""
    return LabellerSpec.parse(spec).build(device)


__all__ = ["Labeller", "LabellerKind", "LabellerSpec", "make_labeller", "register_kind"]
