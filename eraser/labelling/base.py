"""The ``Labeller`` interface: a score in [0, 1] per sample saying how much it carries the feature.

A score of NaN means "no label" (a sample a person marked unsure, or never marked). The
decision is ``score >= threshold``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from eraser.generators.base import Generator


class Labeller(ABC):
    """Scores samples of a generator for one feature.

    Image-based labellers implement ``score_images``; ``score`` decodes latents in batches and
    calls it. Labellers that know samples by their latents (a person's marks) override ``score``.
    """

    #: a short description for reports, e.g. "probe:digiface-eyeglasses-clf"
    name: str = "labeller"
    #: decision threshold on the score
    threshold: float = 0.5

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

    def to(self, device: str | torch.device) -> Labeller:
        """Move any networks to ``device``; returns self."""
        return self
