"""Feature rate: the share of samples a classifier calls positive.

The classifier is anything with ``score(generator, z, batch_size)`` (scores ``[N]``, NaN = no label)
and ``decide(scores)`` (booleans): an ``eraser.labelling.Labeller``, which this module does not need
to import.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import Tensor


class Scorer(Protocol):
    name: str
    threshold: float

    def score(self, generator: Any, z: Tensor, batch_size: int = 256) -> Tensor: ...

    def decide(self, scores: Tensor) -> Tensor: ...


def feature_rate(generator: Any, classifier: Scorer, z: Tensor, batch_size: int = 256) -> float:
    """Share of samples ``G(z)`` the classifier calls positive (``z``: ``[N, latent_dim]``)."""
    return float(classifier.decide(classifier.score(generator, z, batch_size)).float().mean())
