"""Labelling workflows behind the CLI: score samples, write marking grids, suggest what to mark, train a probe."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eraser.generators.base import Generator
from eraser.images import grid_image
from eraser.io import atomic_dir
from eraser.labelling.base import Labeller
from eraser.labelling.marks import Marks, save_marks
from eraser.labelling.probe import ProbeFit, embed_all, save_probe, train_probe


def score_to_json(labeller: Labeller, generator: Generator, z: Tensor, source: dict[str, Any],
                  batch_size: int = 256) -> dict[str, Any]:
    """Scores of ``labeller`` for latents ``z`` as a JSON-able dict (scores, decisions, counts)."""
    scores = labeller.score(generator, z, batch_size)
    labels = [None if math.isnan(s) else ("yes" if s >= labeller.threshold else "no") for s in scores.tolist()]
    return {
        "labeller": labeller.name,
        "generator": generator.name,
        "threshold": labeller.threshold,
        **source,
        "n": len(z),
        "counts": {k: labels.count(k) for k in ("yes", "no")} | {"unlabelled": labels.count(None)},
        "feature_rate": labels.count("yes") / max(1, labels.count("yes") + labels.count("no")),
        "scores": [None if math.isnan(s) else round(s, 6) for s in scores.tolist()],
        "labels": labels,
    }


def write_marking_grids(generator: Generator, z: Tensor, out_dir: Path, feature: str, per_grid: int = 48,
                        ncol: int = 8, scale: int = 2, first_id: int = 0) -> list[Path]:
    """Numbered grids of the samples of ``z`` plus a marks template (all ``unsure``) to edit.

    Writes ``grid_000.png`` … (``per_grid`` samples each, enlarged ``scale``×, each tile numbered
    with its row in the latents file), ``marks.json`` and ``marks.latents.npy``, all into a new
    folder ``out_dir`` (atomically).
    """
    x = generator.generate(z)
    paths = []
    with atomic_dir(out_dir) as tmp:
        for k, start in enumerate(range(0, len(z), per_grid)):
            ids = list(range(start, min(start + per_grid, len(z))))
            img = grid_image(x[ids], nrow=ncol, scale=scale, labels=[str(first_id + i) for i in ids])
            img.save(tmp / f"grid_{k:03d}.png")
            paths.append(out_dir / f"grid_{k:03d}.png")
        marks = Marks(z, ["unsure"] * len(z), feature, generator.name)
        save_marks(tmp / "marks.json", marks, extra={
            "instructions": "set each label to yes (the feature is visible), no, or unsure; ids are the numbers on the grids",
        })
    return paths


def embed_marks(generator: Generator, marks: Marks, embedder, batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """Embeddings ``[K, D]`` and 0/1 labels ``[K]`` of the yes/no marks (unsure dropped)."""
    z, y = marks.decided()
    x = generator.generate(z)
    return embed_all(embedder, x, batch_size), y


def fit_probe_from_marks(generator: Generator, marks: Marks, embedder, C: float = 0.1, seed: int = 0) -> ProbeFit:
    e, y = embed_marks(generator, marks, embedder)
    return train_probe(e.numpy(), y.numpy(), C=C, seed=seed)


def suggest(generator: Generator, marks: Marks, embedder, n_candidates: int, seed: int, k: int,
            C: float = 0.1, fit: ProbeFit | None = None) -> tuple[Tensor, Tensor, ProbeFit]:
    """The ``k`` fresh samples the probe is least sure of (score nearest 0.5): latents, scores, fit.

    Candidates are ``n_candidates`` prior samples drawn with ``seed`` (uncertainty sampling).
    ``fit``: a probe already trained on ``marks`` with ``embedder`` (the notebook keeps one), used as is.
    """
    from eraser.labelling.probe import ProbeHead

    fit = fit or fit_probe_from_marks(generator, marks, embedder, C=C, seed=seed)
    head = ProbeHead.from_fit(fit)
    z = generator.sample_latents(n_candidates, seed)
    with torch.no_grad():
        s = head(embed_all(embedder, generator.generate(z)))
    order = torch.argsort((s - 0.5).abs())[:k]
    return z[order], s[order], fit


@torch.no_grad()
def encode_marks(marks: Marks, source: Generator, target: Generator, batch_size: int = 256) -> Marks:
    """The same marks placed in ``target``'s latent space: each marked sample of ``source`` is decoded
    and encoded by ``target`` (a VAE, posterior mean), keeping its label and id.

    This is how a person's marks on one model's samples, or on their own images, label a VAE.
    """
    if not target.has_encoder:
        from eraser.errors import EraserError

        raise EraserError(f"{target.name} has no encoder, so marked images cannot be placed in its latent space")
    x = source.generate(marks.z, batch_size)
    z = torch.cat([target.encode(x[i : i + batch_size]).cpu() for i in range(0, len(x), batch_size)])
    return Marks(z.float(), list(marks.labels), marks.feature, target.name, list(marks.ids), dict(marks.meta))


def save_probe_from_marks(out: Path, generator: Generator, marks: Marks, embedder, marks_path: str,
                          C: float = 0.1, seed: int = 0) -> ProbeFit:
    fit = fit_probe_from_marks(generator, marks, embedder, C=C, seed=seed)
    save_probe(out, fit, embedder.spec(), marks.feature, provenance={
        "trained_from": {"marks": marks_path, "counts": marks.counts(), "generator": generator.name},
    })
    return fit


__all__ = ["embed_marks", "encode_marks", "fit_probe_from_marks", "save_probe_from_marks", "score_to_json", "suggest",
           "write_marking_grids"]
