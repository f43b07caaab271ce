"""A convolutional VAE of 64×64 RGB images with a vector latent (the shipped ``faces-vae64``).

The encoder maps an image in [-1, 1] to the mean and log-variance of a diagonal Gaussian over
``z`` ``[N, latent_dim]``; the decoder maps ``z`` back to an image in [-1, 1] (tanh). The prior is
N(0, I), so ``decode`` on prior samples generates. Any module with this ``encode``/``decode``
contract and a ``decoder`` attribute loads through ``eraser.generators.adapters.VAEGenerator``.
"""

from __future__ import annotations


import torch
from torch import Tensor, nn


def _down(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ConvVAE(nn.Module):
    """Encoder 64→32→16→8→4 (channels ``ch``·1, 2, 4, 8), a linear bottleneck, and a mirrored decoder.

    Args:
        latent_dim: length of the latent vector.
        ch: channels of the first encoder stage (the decoder mirrors them).
        image_size: side of the square images; must be 64 (four stride-2 stages down to 4×4).
    """

    def __init__(self, latent_dim: int = 128, ch: int = 32, image_size: int = 64) -> None:
        super().__init__()
        if image_size != 64:
            raise ValueError(f"ConvVAE is built for 64x64 images, got {image_size}")
        self.latent_dim, self.ch = latent_dim, ch
        top = ch * 8
        self.encoder = nn.Sequential(
            nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),  # [N, ch, 32, 32]
            *_down(ch, ch * 2),  # 16
            *_down(ch * 2, ch * 4),  # 8
            *_down(ch * 4, top),  # 4
            nn.Flatten(),
            nn.Linear(top * 16, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, top * 16),
            nn.Unflatten(1, (top, 4, 4)),
            nn.BatchNorm2d(top), nn.ReLU(inplace=True),
            *_up(top, ch * 4),  # 8
            *_up(ch * 4, ch * 2),  # 16
            *_up(ch * 2, ch),  # 32
            nn.ConvTranspose2d(ch, 3, 4, 2, 1),  # 64
            nn.Tanh(),
        )

        # The prior over the decoder's input: N(prior_mean, L Lᵀ) with L = prior_tril. It is N(0, I)
        # while training the ELBO; ``fit_prior`` then sets it to a Gaussian fitted to the posterior means
        # (an ex-post density estimate, Ghosh et al. 2020), whose samples look far more like the data.
        # ``z`` in ``decode``/``encode`` is always the standard-normal coordinate: decode(z) runs the
        # decoder on prior_mean + L z.
        self.register_buffer("prior_mean", torch.zeros(latent_dim))
        self.register_buffer("prior_tril", torch.eye(latent_dim))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance ``[N, latent_dim]``, in the prior's standard coordinates.

        After ``fit_prior`` the mean is mapped exactly (``L⁻¹(μ − m)``) and the log-variance only
        approximately (its diagonal rescaled by L's diagonal).
        """
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        mu = torch.linalg.solve_triangular(self.prior_tril, (mu - self.prior_mean).T, upper=False).T
        logvar = logvar.clamp(-30.0, 20.0) - 2 * torch.log(torch.diagonal(self.prior_tril))
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Images ``[N, 3, 64, 64]`` in [-1, 1] for latents ``[N, latent_dim]``."""
        h = self.prior_mean + z.reshape(z.shape[0], -1) @ self.prior_tril.T
        return self.decoder(h)

    @torch.no_grad()
    def fit_prior(self, mu: Tensor, jitter: float = 1e-4) -> None:
        """Set the prior to the Gaussian of posterior means ``mu`` ``[N, latent_dim]`` (decoder coordinates)."""
        m = mu.mean(0)
        cov = torch.cov(mu.T)
        cov = cov + jitter * cov.diagonal().mean() * torch.eye(mu.shape[1], device=mu.device)  # relative jitter
        self.prior_mean.copy_(m)
        self.prior_tril.copy_(torch.linalg.cholesky(cov))

    def forward(self, z: Tensor) -> Tensor:
        return self.decode(z)


def elbo_terms(model: ConvVAE, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-batch means of (reconstruction L1 per pixel, KL per latent dim, reconstruction) for images ``x``.

    The reparameterised sample uses ``generator`` for its noise, so a seeded run is repeatable.
    """
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device)
    z = mu + eps * torch.exp(0.5 * logvar)
    recon = model.decode(z)
    rec = (recon - x).abs().mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
    return rec, kl, recon


def kl_weight_for(beta: float, latent_dim: int, image_size: int = 64) -> float:
    """Weight of the per-dim KL mean against the per-pixel L1 mean giving a β-VAE with ``beta``.

    With sums instead of means the objective is Σ|x − x̂| + β·KL; dividing both by the pixel count
    turns it into mean L1 + β·(latent_dim / pixels)·mean KL.
    """
    return beta * latent_dim / (3 * image_size * image_size)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["ConvVAE", "elbo_terms", "kl_weight_for", "parameter_count"]
