"""The recipe that trains ``faces-vae64``: a ConvVAE on samples of a generator (by default digiface-dcgan64).

No face photographs exist on these machines, so the training images are samples of the shipped
DCGAN. The same recipe, with a classifier filtering the feature out of the training images, is the
retraining baseline that an erase is compared against (``scripts/erase_vs_retrain_vae.py``).

Everything is seeded: the dataset is the first ``n`` accepted samples of the generator at
``data_seed``; batches and the reparameterisation noise come from ``seed``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from eraser.generators.base import Generator
from eraser.labelling.base import Labeller
from eraser.nets.vae import ConvVAE, elbo_terms, kl_weight_for, parameter_count


@dataclass
class VAERecipe:
    latent_dim: int = 128
    ch: int = 32
    n_train: int = 20000
    data_seed: int = 7
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    #: β of the β-VAE objective Σ|x − x̂| + β·KL (in the per-pixel form of ``kl_weight_for``)
    beta: float = 1.0
    #: weight of an LPIPS-alex term on the reconstruction (sharper details, e.g. eyeglass frames); 0 = off
    lpips_weight: float = 1.0
    #: after training, fit the prior to the posterior means of this many training images (0 = keep N(0, I))
    prior_fit_samples: int = 10000
    seed: int = 0


@torch.no_grad()
def build_dataset(source: Generator, n: int, seed: int, exclude: Labeller | None = None,
                  exclude_threshold: float | None = None, chunk: int = 1024) -> tuple[Tensor, dict[str, Any]]:
    """The first ``n`` samples of ``source`` at ``seed`` (uint8 ``[n, 3, H, W]``) that ``exclude`` does not flag.

    With ``exclude``, samples scoring ≥ ``exclude_threshold`` (default: its threshold) are dropped and
    more are drawn until ``n`` are kept; the returned record says how many were drawn and dropped.
    """
    kept, drawn, dropped, offset = [], 0, 0, 0
    total = 0
    while total < n:
        g = torch.Generator().manual_seed(seed + offset)
        z = torch.randn(chunk, source.latent_dim, generator=g)
        offset += 1
        x = source.generate(z)
        drawn += len(x)
        if exclude is not None:
            thr = exclude.threshold if exclude_threshold is None else exclude_threshold
            keep = exclude.score_images(x.to(source.device)).cpu() < thr
            dropped += int((~keep).sum())
            x = x[keep]
        x = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        kept.append(x)
        total += len(x)
    data = torch.cat(kept)[:n]
    return data, {"n": n, "drawn": drawn, "dropped": dropped, "seed": seed,
                  "filter": None if exclude is None else {"labeller": exclude.name,
                                                          "threshold": exclude.threshold if exclude_threshold is None else exclude_threshold}}


def train_vae(data: Tensor, recipe: VAERecipe, device: str = "cpu", progress: bool = True,
              log_every: int = 50) -> tuple[ConvVAE, dict[str, Any]]:
    """Train a ``ConvVAE`` on uint8 images ``data`` by ``recipe``; return it (eval mode) and a training record."""
    torch.manual_seed(recipe.seed)
    model = ConvVAE(recipe.latent_dim, recipe.ch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.05)
    w_kl = kl_weight_for(recipe.beta, recipe.latent_dim)
    g_batch = torch.Generator().manual_seed(recipe.seed)
    g_noise = torch.Generator().manual_seed(recipe.seed + 1)
    history: list[dict[str, float]] = []
    perceptual = None
    if recipe.lpips_weight > 0:
        from eraser.metrics.lpips import load_lpips

        perceptual = load_lpips(device)
    model.train()
    t0 = time.time()
    for step in tqdm(range(1, recipe.steps + 1), desc="train VAE", disable=not progress):
        idx = torch.randint(len(data), (recipe.batch_size,), generator=g_batch)
        x = data[idx].to(device, torch.float32) / 127.5 - 1.0
        rec, kl, recon = elbo_terms(model, x, g_noise)
        loss = rec + w_kl * kl
        if perceptual is not None:
            loss = loss + recipe.lpips_weight * perceptual(recon, x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == recipe.steps:
            history.append({"step": step, "l1": rec.item(), "kl_per_dim": kl.item(), "loss": loss.item(),
                            "elapsed_s": round(time.time() - t0, 1)})
    model.eval()
    prior = "N(0, I)"
    if recipe.prior_fit_samples > 0:
        with torch.no_grad():
            xs = data[: recipe.prior_fit_samples]
            mu = torch.cat([model.encode(xs[i : i + 500].to(device, torch.float32) / 127.5 - 1.0)[0]
                            for i in range(0, len(xs), 500)])
        model.fit_prior(mu)
        prior = (f"Gaussian fitted to the posterior means of {len(xs)} training images (ex-post density "
                 "estimate, Ghosh et al. 2020); latents stay standard normal, decode(z) = decoder(m + L z)")
    record = {
        "recipe": asdict(recipe),
        "parameters": parameter_count(model),
        "training_time_s": round(time.time() - t0, 1),
        "steps": recipe.steps,
        "images_seen": recipe.steps * recipe.batch_size,
        "prior": prior,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "final": history[-1] if history else None,
        "history": history,
    }
    return model, record
