"""The latent shape, checked against the network with one dry forward pass when a generator loads.

A wrong ``latent_shape`` (in a checkpoint's config.json, or ``--latent-shape``) would otherwise
surface deep inside sampling or training as a framework error; here it is one line that says what
shape was given and, where the first layer tells, what the network takes.
"""

from __future__ import annotations

import torch
from torch import nn

from eraser.errors import EraserError
from eraser.generators.base import Generator


def _first_line(e: BaseException) -> str:
    """The informative line of an error: TorchScript puts the real one last, after its own traceback."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    errors = [ln for ln in lines if "Error:" in ln]
    return (errors[-1].split("Error:", 1)[1].strip() if len(lines) > 1 and errors else lines[0])[:300]


def wanted_input(module: nn.Module) -> str | None:
    """What the network's first layer takes, e.g. "100 channels (latent shape 100,1,1 or 100,H,W)"."""
    for m in module.modules():
        if next(m.children(), None) is not None:
            continue  # a container: look at its first leaf
        kind = getattr(m, "original_name", type(m).__name__)
        weight = getattr(m, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
            continue
        if "ConvTranspose" in kind:
            return f"{weight.shape[0]} channels (latent shape {weight.shape[0]},1,1 or {weight.shape[0]},H,W)"
        if "Conv" in kind:
            return f"{weight.shape[1]} channels (latent shape {weight.shape[1]},H,W)"
        if "Linear" in kind:
            return f"{weight.shape[1]} features (latent shape {weight.shape[1]})"
        return None
    return None


def check_latent_shape(generator: Generator, source: str) -> None:
    """Decode one zero latent; refuse (one line) a shape the network does not take or an output that is no image."""
    shape = ",".join(map(str, generator.latent_shape))
    try:
        with torch.no_grad():
            x = generator.decode(torch.zeros(1, generator.latent_dim))
    except EraserError:
        raise
    except Exception as e:  # whatever the network raises on a wrong input shape
        wants = wanted_input(generator.module)
        hint = f"; its first layer takes {wants}" if wants else ""
        raise EraserError(f"{source} does not run on latents of shape {shape} ({_first_line(e)}){hint}; "
                          "give the shape it takes (--latent-shape, or latent_shape in its config.json)") from None
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != 1:
        got = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise EraserError(f"{source} turns a latent of shape {shape} into {got}, not images [N, C, H, W]; "
                          "check the latent shape (--latent-shape, or latent_shape in its config.json)")
    generator.check_range(x)
