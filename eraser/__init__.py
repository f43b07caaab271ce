"""eraser: remove one visual feature from a pretrained generative model without its training data.

The method is Moon, Cho & Kim, "Feature Unlearning for Pre-trained GANs and VAEs" (AAAI 2024).

The Python API (``eraser.api``)::

    import eraser
    result = eraser.erase(generator, "marks:marks.json", out="erased", latent_shape=(100, 1, 1))
    result.verdict, result.metrics.feature_rate, result.generator

``erase``, ``evaluate``, ``audit`` and ``load`` take an in-memory ``nn.Module`` (with its latent shape),
an eraser ``Generator``, a shipped model name or a path. Heavy modules are imported on first use, so
``import eraser`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eraser.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from eraser.api import audit, erase, evaluate, load

__all__ = ["__version__", "audit", "erase", "evaluate", "load"]


def __getattr__(name: str) -> Any:
    """``eraser.erase`` and friends, imported from ``eraser.api`` on first use."""
    if name in ("audit", "erase", "evaluate", "load"):
        from eraser import api

        return getattr(api, name)
    raise AttributeError(f"module 'eraser' has no attribute {name!r}")
