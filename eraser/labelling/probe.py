"""A probe: logistic regression on image embeddings, trained from a person's marks.

It spreads a few hundred marks to any number of samples. Training uses scikit-learn
(``StandardScaler`` + ``LogisticRegression``, balanced class weights) and reports the
cross-validated ROC AUC; the fitted probe is stored as tensors (safetensors) and scores in torch,
so it runs on the GPU and is differentiable (the robustness audit ascends its gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from eraser.errors import EraserError
from eraser.labelling.base import Labeller

#: fewest marks of each kind (yes and no) a probe is trained from
MIN_PER_CLASS = 10


@dataclass
class ProbeFit:
    """A fitted linear probe on standardised embeddings, with its cross-validated quality."""

    mean: Tensor  # [D]
    scale: Tensor  # [D]
    coef: Tensor  # [D]
    intercept: float
    cv_auc: float
    cv_auc_std: float
    n_yes: int
    n_no: int
    folds: int
    C: float
    extra: dict[str, Any] = field(default_factory=dict)


def train_probe(
    embeddings: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    C: float = 0.1,
    folds: int = 5,
    min_per_class: int = MIN_PER_CLASS,
    seed: int = 0,
) -> ProbeFit:
    """Fit ``StandardScaler`` + ``LogisticRegression(C, class_weight='balanced')`` on ``embeddings`` ``[N, D]``.

    ``y`` holds 1 (feature) / 0 (none). The AUC is the mean over stratified ``folds``-fold cross
    validation (shuffled with ``seed``); the returned probe is then refitted on all the data.
    Refuses, in one line, with fewer than ``min_per_class`` of either label.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(y).astype(int)
    n_yes, n_no = int((y == 1).sum()), int((y == 0).sum())
    if n_yes < min_per_class or n_no < min_per_class:
        raise EraserError(
            f"a probe needs at least {min_per_class} 'yes' and {min_per_class} 'no' marks, "
            f"got {n_yes} yes and {n_no} no; mark more samples (eraser marks suggest proposes which)"
        )
    k = max(2, min(folds, n_yes, n_no))

    def pipeline():
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=5000))

    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    aucs = cross_val_score(pipeline(), X, y, cv=cv, scoring="roc_auc")
    model = pipeline().fit(X, y)
    scaler, lr = model[0], model[1]
    return ProbeFit(
        mean=torch.tensor(scaler.mean_, dtype=torch.float32),
        scale=torch.tensor(scaler.scale_, dtype=torch.float32),
        coef=torch.tensor(lr.coef_[0], dtype=torch.float32),
        intercept=float(lr.intercept_[0]),
        cv_auc=float(aucs.mean()),
        cv_auc_std=float(aucs.std()),
        n_yes=n_yes,
        n_no=n_no,
        folds=k,
        C=C,
    )


class ProbeHead(nn.Module):
    """``sigmoid(((e − mean) / scale) · coef + intercept)`` for embeddings ``e`` ``[N, D]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("coef", torch.zeros(dim))
        self.register_buffer("intercept", torch.zeros(()))

    @classmethod
    def from_fit(cls, fit: ProbeFit) -> ProbeHead:
        head = cls(len(fit.coef))
        head.mean.copy_(fit.mean)
        head.scale.copy_(fit.scale)
        head.coef.copy_(fit.coef)
        head.intercept.fill_(fit.intercept)
        return head

    def logits(self, e: Tensor) -> Tensor:
        return ((e - self.mean) / self.scale) @ self.coef + self.intercept  # [N]

    def forward(self, e: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(e))


class ProbeLabeller(Labeller):
    """An embedder followed by a fitted ``ProbeHead``: scores images in [0, 1]; its logits are differentiable."""

    differentiable = True

    def __init__(self, embedder, head: ProbeHead, name: str = "probe", threshold: float = 0.5,
                 feature: str | None = None, clean_threshold: float | None = None) -> None:
        super().__init__(name, threshold, feature, clean_threshold)
        self.embedder = embedder
        self.head = head

    @torch.no_grad()
    def score_images(self, images: Tensor) -> Tensor:
        return self.head(self.embedder.embed(images).to(self.head.mean.device))

    def logits(self, images: Tensor) -> Tensor:
        """Differentiable logits ``[N]`` for images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.head.logits(self.embedder.embed(images))

    def to(self, device) -> ProbeLabeller:
        self.embedder.to(device)
        self.head.to(device)
        return self


def embed_all(embedder, images_or_batches, batch_size: int = 64) -> Tensor:
    """Embeddings ``[N, D]`` of images ``[N, 3, H, W]`` in [-1, 1], batch by batch, on the CPU."""
    x = images_or_batches
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(embedder.embed(x[i : i + batch_size]).float().cpu())
    return torch.cat(out)


def probe_config(fit: ProbeFit, embedder_spec: dict[str, Any], feature: str, threshold: float) -> dict[str, Any]:
    return {
        "kind": "probe",
        "feature": feature,
        "embedder": embedder_spec,
        "dim": len(fit.coef),
        "threshold": threshold,
    }


def fit_summary(fit: ProbeFit) -> dict[str, Any]:
    return {
        "cv_auc": round(fit.cv_auc, 4),
        "cv_auc_std": round(fit.cv_auc_std, 4),
        "folds": fit.folds,
        "n_yes": fit.n_yes,
        "n_no": fit.n_no,
        "C": fit.C,
        **fit.extra,
    }


def save_probe(path: str | Path, fit: ProbeFit, embedder_spec: dict[str, Any], feature: str,
               provenance: dict[str, Any] | None = None, threshold: float = 0.5, overwrite: bool = False,
               extra_files: dict[str, str] | None = None) -> Path:
    """Write a probe as a classifier checkpoint directory (config.json, model.safetensors, provenance.json)."""
    from eraser.labelling.store import save_classifier

    return save_classifier(path, ProbeHead.from_fit(fit).state_dict(), probe_config(fit, embedder_spec, feature, threshold),
                           {**(provenance or {}), "fit": fit_summary(fit)}, overwrite=overwrite, extra_files=extra_files)
