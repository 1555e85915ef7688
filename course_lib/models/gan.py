"""MLP generator and discriminator for the 2-D mixtures of chapters 02-04.

G maps z ~ N(0, I) in R^latent_dim to a point in the plane; D maps a point to one logit
(a GAN) or one unbounded score (a WGAN critic: the same network, read without a sigmoid).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate as v

__all__ = ["MLPGenerator", "MLPDiscriminator"]


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_input(name: str, x, width: int, module: nn.Module) -> None:
    v.tensor(name, x, ndim=2, floating=True)
    if x.shape[1] != width:
        raise ValueError(f"{name} must have shape (B, {width}), got {tuple(x.shape)}")
    v.same_device(name, x, "the network", next(module.parameters()))


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> x (B, data_dim): ``depth`` hidden layers of ``width`` with ReLU."""

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, width: int = 256, depth: int = 3):
        super().__init__()
        _check_sizes(latent_dim=latent_dim, data_dim=data_dim, width=width, depth=depth)
        self.latent_dim, self.data_dim = latent_dim, data_dim
        layers: list[nn.Module] = []
        inputs = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.ReLU()]
            inputs = width
        layers.append(nn.Linear(inputs, data_dim))  # no output squashing: the plane is unbounded
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_input("z", z, self.latent_dim, self)
        return self.net(z)  # (B, data_dim)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points G(z), z ~ N(0, I) drawn on the CPU (reproducible with ``generator``)."""
        _check_sizes(n=n)
        device = next(self.parameters()).device
        return self(torch.randn(n, self.latent_dim, generator=generator).to(device))


class MLPDiscriminator(nn.Module):
    """x (B, data_dim) -> one logit per point (B,): ``depth`` hidden layers with LeakyReLU(0.2)."""

    def __init__(self, data_dim: int = 2, width: int = 256, depth: int = 3, slope: float = 0.2):
        super().__init__()
        _check_sizes(data_dim=data_dim, width=width, depth=depth)
        v.positive("slope", slope, allow_zero=True)
        self.data_dim = data_dim
        layers: list[nn.Module] = []
        inputs = data_dim
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.LeakyReLU(slope)]
            inputs = width
        layers.append(nn.Linear(inputs, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("x", x, self.data_dim, self)
        return self.net(x).squeeze(1)  # (B,)
