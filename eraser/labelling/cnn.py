"""A small convolutional feature classifier on 64×64 pixels, and its training loop.

Fast enough to score tens of thousands of samples on a CPU, so it serves as the *measuring*
classifier of an erase (feature rate before and after). It is trained from a person's marks only,
never from the latent direction, and never enters the fine-tuning loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eraser.labelling.base import Labeller


class FeatureCNN(nn.Module):
    """Conv(3×3)–BN–ReLU–MaxPool blocks of ``widths`` channels, global average pool, linear → logit."""

    def __init__(self, widths: tuple[int, ...] | list[int] = (16, 32, 64, 128), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[N]`` for images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.head(self.features(x)).squeeze(1)


def tta_logits(net: nn.Module, x: Tensor) -> Tensor:
    """Mean logit over the image and its mirror image ``[N]`` (the feature is left–right symmetric)."""
    return (net(x) + net(x.flip(-1))) / 2


class CNNLabeller(Labeller):
    """Scores images with a ``FeatureCNN``: ``sigmoid`` of the mirror-averaged logit (differentiable)."""

    differentiable = True

    def __init__(self, net: FeatureCNN, name: str = "cnn", threshold: float = 0.5, feature: str | None = None,
                 clean_threshold: float | None = None) -> None:
        super().__init__(name, threshold, feature, clean_threshold)
        self.net = net.eval()

    def logits(self, images: Tensor) -> Tensor:
        """Differentiable logits ``[N]`` for images ``[N, 3, H, W]`` in [-1, 1]."""
        dev = next(self.net.parameters()).device
        return tta_logits(self.net, images.to(dev, torch.float32))

    @torch.no_grad()
    def score_images(self, images: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(images))

    def to(self, device) -> CNNLabeller:
        self.net.to(device)
        return self


def threshold_for_fpr(negative_scores: Tensor | np.ndarray, max_fpr: float) -> float:
    """The lowest decision threshold (on a 0.01 grid) whose false-positive rate on ``negative_scores`` ≤ ``max_fpr``.

    A classifier that *measures* a feature rate needs few false alarms: at a false-positive rate
    ``f`` a perfectly erased generator still reads about ``f`` of its samples as positive.
    """
    neg = np.asarray(negative_scores, dtype=np.float64)
    for t in (round(0.5 + 0.01 * i, 2) for i in range(50)):  # exact grid values, no float drift
        if (neg >= t).mean() <= max_fpr:
            return t
    return 0.99


def threshold_for_tpr(positive_scores: Tensor | np.ndarray, min_tpr: float) -> float:
    """The highest threshold (0.01 grid) that still calls at least ``min_tpr`` of ``positive_scores`` positive.

    Below it a sample is "clean" with few misses: the right cut for choosing feature-free
    reference samples, where a missed feature would contaminate the reference.
    """
    pos = np.asarray(positive_scores, dtype=np.float64)
    best = 0.01
    for t in (round(0.01 * i, 2) for i in range(1, 100)):  # exact grid values, no float drift
        if (pos >= t).mean() >= min_tpr:
            best = t
    return best


def augment(x: Tensor, g: torch.Generator, shift: int = 4, jitter: float = 0.2) -> Tensor:
    """Random mirror, translation by up to ``shift`` px (replicate padding), brightness/contrast jitter."""
    n = len(x)
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = F.pad(x, (shift,) * 4, mode="replicate")
    dx, dy = (int(v) for v in torch.randint(0, 2 * shift + 1, (2,), generator=g))
    x = pad[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]
    a = 1 + jitter * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
    b = jitter * (2 * torch.rand(n, 1, 1, 1, generator=g) - 1)
    return (x * a + b).clamp(-1, 1)


def perturbed_latents(z: Tensor, copies: int, sigma: float, g: torch.Generator) -> Tensor:
    """``z`` followed by ``copies − 1`` isotropic perturbations ``√(1−σ²)·z + σ·ε`` of it: ``[copies·N, D]``.

    Small random steps in latent space keep what a person marked (a face with glasses stays one),
    so decoding them multiplies the training images without any direction or label from a model.
    The perturbation keeps N(0, I) as the marginal distribution.
    """
    out = [z]
    for _ in range(copies - 1):
        out.append((1 - sigma**2) ** 0.5 * z + sigma * torch.randn(z.shape, generator=g))
    return torch.cat(out)


@dataclass
class TrainLog:
    epoch: int
    loss: float
    val_auc: float | None


def train_cnn(
    x: Tensor,
    y: Tensor,
    epochs: int = 12,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    widths: tuple[int, ...] = (16, 32, 64, 128),
    val: tuple[Tensor, Tensor] | None = None,
    on_epoch: Callable[[TrainLog], None] | None = None,
) -> FeatureCNN:
    """Train a ``FeatureCNN`` on images ``x`` ``[N, 3, 64, 64]`` and 0/1 labels ``y`` ``[N]``.

    AdamW with a one-cycle schedule, class-balanced BCE (positive weight = #no / #yes) and
    ``augment``; deterministic for a given seed on CPU. ``val`` = (images, labels) is scored after
    every epoch (ROC AUC) and passed to ``on_epoch``.
    """
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = FeatureCNN(widths)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-3)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    pos_weight = (1 - y).sum() / y.sum().clamp(min=1)
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            b = perm[i : i + batch_size]
            loss = F.binary_cross_entropy_with_logits(net(augment(x[b], g)), y[b], pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        val_auc = None
        if val is not None:
            with torch.no_grad():
                s = torch.cat([tta_logits(net, val[0][i : i + 256]) for i in range(0, len(val[0]), 256)])
            val_auc = float(roc_auc_score(val[1].numpy(), s.numpy()))
        if on_epoch is not None:
            on_epoch(TrainLog(epoch, float(loss.detach()), val_auc))
    return net.eval()
