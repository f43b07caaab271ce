"""The ``Labeller`` interface: a score in [0, 1] per sample saying how much it carries the feature.

A score of NaN means "no label" (a sample a person marked unsure, or never marked). The
decision is ``score >= threshold``.

A labeller declares what it offers, so no caller has to probe for it:

* ``name``, ``feature`` (the feature's name for reports and provenance), ``threshold``;
* ``clean_threshold``: the cut below which a sample counts as feature-free when choosing clean
  reference samples (a measuring classifier may set it lower than ``threshold``, so that few
  missed features contaminate the reference); the threshold itself unless given;
* ``labels_only_known_latents``: it labels only the latents it knows (a person's marks), which
  ``known_latents()`` returns; asked about any other latent it refuses;
* ``differentiable``: ``logits(images)`` is differentiable with respect to the images (the
  audit's gradient attack needs it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from eraser.errors import EraserError
from eraser.generators.base import Generator


class Labeller(ABC):
    """Scores samples of a generator for one feature.

    Image-based labellers implement ``score_images``; ``score`` decodes latents in batches and
    calls it. Labellers that know samples by their latents (a person's marks) override ``score``
    and set ``labels_only_known_latents``.
    """

    #: labels only the latents ``known_latents()`` returns (a person's marks), not fresh samples
    labels_only_known_latents: ClassVar[bool] = False
    #: ``logits(images)`` is differentiable with respect to the images
    differentiable: ClassVar[bool] = False

    # defaults, so that a subclass may also declare these as class attributes
    #: a short description for reports, e.g. "probe:digiface-eyeglasses-clf"
    name: str = "labeller"
    #: decision threshold on the score
    threshold: float = 0.5
    #: the feature's name, e.g. "eyeglasses"
    feature: str = "feature"
    _clean_threshold: float | None = None

    def __init__(self, name: str = "labeller", threshold: float = 0.5, feature: str | None = None,
                 clean_threshold: float | None = None) -> None:
        self.name = name
        self.threshold = threshold
        self.feature = feature or "feature"
        self._clean_threshold = clean_threshold

    @property
    def clean_threshold(self) -> float:
        """Below this score a sample counts as feature-free when clean samples are chosen (default: ``threshold``)."""
        return self.threshold if self._clean_threshold is None else self._clean_threshold

    def score(self, generator: Generator, z: Tensor, batch_size: int = 256) -> Tensor:
        """Scores ``[N]`` (float32, CPU, in [0, 1] or NaN) for latents ``z`` ``[N, latent_dim]``."""
        out = []
        for i in range(0, len(z), batch_size):
            with torch.no_grad():
                images = generator.decode(z[i : i + batch_size]).clamp(-1, 1)  # [B, 3, H, W]
                out.append(self.score_images(images).float().cpu())
        return torch.cat(out) if out else torch.empty(0)

    @abstractmethod
    def score_images(self, images: Tensor) -> Tensor:
        """Scores ``[N]`` for images ``[N, 3, H, W]`` in [-1, 1]."""

    def decide(self, scores: Tensor) -> Tensor:
        """Boolean decisions ``scores >= threshold`` (NaN scores decide False; mask them first)."""
        return scores >= self.threshold

    def known_latents(self) -> Tensor:
        """The latents ``[M, latent_dim]`` this labeller labels (only when ``labels_only_known_latents``)."""
        raise EraserError(f"{self.name} labels any sample of the generator; it has no list of latents of its own")

    def logits(self, images: Tensor) -> Tensor:
        """Differentiable logits ``[N]`` for images ``[N, 3, H, W]`` in [-1, 1] (only when ``differentiable``)."""
        raise EraserError(f"{self.name} has no differentiable logits")

    def to(self, device: str | torch.device) -> Labeller:
        """Move any networks to ``device``; returns self."""
        return self
