"""The DCGAN generator architecture (Radford et al. 2016, PyTorch tutorial layout).

Layer names (``main.0`` … ``main.12``) match the PyTorch DCGAN tutorial and the
``gan-face-generate`` package, so their state dicts load unchanged.
"""

from __future__ import annotations

from torch import Tensor, nn


class DCGANGenerator(nn.Module):
    """z ``[N, nz, 1, 1]`` → image ``[N, nc, 64, 64]`` in [-1, 1] (tanh)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),  # [N, 8ngf, 4, 4]
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),  # [N, 4ngf, 8, 8]
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # [N, 2ngf, 16, 16]
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),  # [N, ngf, 32, 32]
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),  # [N, nc, 64, 64]
            nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.main(z)
