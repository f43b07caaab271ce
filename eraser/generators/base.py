"""The ``Generator`` interface every stage of eraser talks to.

A generator maps flat latents ``z`` of shape ``[N, latent_dim]`` to images ``[N, 3, H, W]`` in
``[-1, 1]``. Internally the wrapped module may take another latent shape (``[N, 100, 1, 1]`` for a
DCGAN, ``[N, 4, 8, 8]`` for a VAE decoder); the reshape happens here, so direction estimation and
latent files always see vectors. Adapters for each family subclass it and override ``_forward``
(and ``_encode`` where the family has an encoder).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from eraser.errors import EraserError

log = logging.getLogger("eraser.generators")
#: how far outside [-1, 1] an output may go (float rounding, a tanh's overshoot) before it is reported
RANGE_TOLERANCE = 0.01


class Generator:
    """A pretrained latent → image model with a standard-normal prior over its latents.

    Args:
        module: the network; ``decode`` runs it in eval mode (BatchNorm uses running statistics),
            so a trainable copy starts from exactly the same function.
        latent_shape: the shape one latent has at the module's input, e.g. ``(100, 1, 1)``.
        name: a human-readable name (shipped model name or path) for reports and messages.
    """

    #: identifies the adapter in a checkpoint's config.json
    kind: ClassVar[str] = "module"
    #: set once the out-of-range warning has been logged for this generator
    _range_warned: bool = False

    def __init__(self, module: nn.Module, latent_shape: tuple[int, ...], name: str = "generator") -> None:
        if not latent_shape or any(int(s) <= 0 for s in latent_shape):
            raise EraserError(f"latent shape {latent_shape} is not valid; give positive sizes like 100,1,1")
        self.module = module.eval()
        self.latent_shape = tuple(int(s) for s in latent_shape)
        self.name = name

    # -- shape and device -------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """Length of a flat latent vector."""
        return math.prod(self.latent_shape)

    @property
    def device(self) -> torch.device:
        for t in self._tensors():
            return t.device
        return torch.device("cpu")

    def _tensors(self) -> Iterator[Tensor]:
        yield from self.module.parameters()
        yield from self.module.buffers()

    def to(self, device: str | torch.device) -> Generator:
        """Move the module to ``device`` (in place) and return self."""
        self.module.to(resolve_device(device))
        return self

    # -- sampling ---------------------------------------------------------------------------
    def sample_latents(self, n: int, seed: int) -> Tensor:
        """``n`` latents from the prior N(0, I), ``[n, latent_dim]`` float32 on the CPU.

        Drawn from a CPU ``torch.Generator`` seeded with ``seed``, so the same (n, seed) gives the
        same latents on every machine and device; the first k of n equal those of (k, seed).
        """
        if n <= 0:
            raise EraserError(f"number of samples must be positive, got {n}")
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        return torch.randn(n, self.latent_dim, generator=g, dtype=torch.float32)

    def decode(self, z: Tensor) -> Tensor:
        """Images ``[N, 3, H, W]`` (nominally in [-1, 1]) for flat latents ``z`` ``[N, latent_dim]``.

        Differentiable with respect to ``z`` and the module's parameters; runs on the module's
        device and returns there.
        """
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise EraserError(
                f"latents have shape {tuple(z.shape)}, but {self.name} takes [N, {self.latent_dim}]"
            )
        z = z.to(self.device, torch.float32).reshape(z.shape[0], *self.latent_shape)
        return self._forward(z)

    @torch.no_grad()
    def generate(self, z: Tensor, batch_size: int = 256) -> Tensor:
        """``decode`` in batches without gradients, clamped to [-1, 1], returned on the CPU.

        Values outside [-1, 1] by more than ``RANGE_TOLERANCE`` are logged once per generator (a warning
        on the ``eraser.generators`` logger): a network that outputs [0, 1] or [0, 255] needs rescaling.
        """
        out = []
        for i in range(0, len(z), batch_size):
            x = self.decode(z[i : i + batch_size])
            self.check_range(x)
            out.append(x.clamp_(-1, 1).cpu())
        return torch.cat(out)

    def check_range(self, x: Tensor) -> None:
        """Warn once (logging) if images ``x`` leave [-1, 1] by more than ``RANGE_TOLERANCE``."""
        if self._range_warned or not len(x):
            return
        lo, hi = float(x.min()), float(x.max())
        if lo < -1 - RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            self._range_warned = True
            log.warning(f"{self.name} outputs values in [{lo:.3g}, {hi:.3g}], outside [-1, 1]; eraser clamps images "
                        "to [-1, 1], which cuts off everything beyond. A generator must output RGB in [-1, 1]: "
                        "rescale its output (x * 2 - 1 for [0, 1], x / 127.5 - 1 for [0, 255])")

    def encode(self, x: Tensor) -> Tensor:
        """Flat latents ``[N, latent_dim]`` for images ``x`` ``[N, 3, H, W]`` in [-1, 1] (VAEs only)."""
        z = self._encode(x.to(self.device, torch.float32))
        return z.reshape(z.shape[0], -1)

    @property
    def has_encoder(self) -> bool:
        return type(self)._encode is not Generator._encode

    # -- family-specific hooks --------------------------------------------------------------
    def _forward(self, z: Tensor) -> Tensor:
        return self.module(z)

    def _encode(self, x: Tensor) -> Tensor:
        raise EraserError(f"{self.name} has no encoder; only VAE generators can place images in latent space")

    # -- training ---------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters a fine-tuning step updates (all that require grad)."""
        return [p for p in self.module.parameters() if p.requires_grad]

    def copy(self) -> Generator:
        """An independent deep copy (the trainable G' of the method); the original is untouched."""
        return copy.deepcopy(self)

    def state_dict(self) -> dict[str, Tensor]:
        return self.module.state_dict()

    def config(self) -> dict[str, Any]:
        """What, besides the weights, a checkpoint needs to rebuild this generator."""
        raise NotImplementedError


def resolve_device(device: str | torch.device) -> torch.device:
    """Parse ``cpu`` / ``cuda`` / ``cuda:N``, refusing CUDA when it is not available."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise EraserError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EraserError("--device cuda was asked for, but no CUDA GPU is available here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise EraserError(f"unsupported device {device!r}; use cpu or cuda")
    return dev
