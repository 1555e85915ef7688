"""The encoders of GN-GAN (chapter 06): E maps a sample back to a latent code, and the
generator is the decoder of the auto-encoder x -> E(x) -> G(E(x)) (Tran, Bui and Cheung 2018).

- :class:`MLPEncoder` for the 2-D mixtures: the mirror of the generator
  :class:`~course_lib.models.gan.MLPGenerator` (``depth`` hidden layers of ``width`` with
  LeakyReLU), x (B, data_dim) -> z (B, latent_dim);
- :class:`ConvEncoder` for MNIST: the DCGAN discriminator's convolutions (no BatchNorm, so that
  every code depends on its own image only), then a linear layer to z (B, latent_dim).

Neither squashes its output: the codes live where z ~ N(0, I) lives.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate as v

__all__ = ["MLPEncoder", "ConvEncoder"]


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class MLPEncoder(nn.Module):
    """x (B, data_dim) -> z (B, latent_dim): ``depth`` hidden layers of ``width``, LeakyReLU."""

    def __init__(self, data_dim: int = 2, latent_dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        for name, value in (
            ("data_dim", data_dim),
            ("latent_dim", latent_dim),
            ("width", width),
            ("depth", depth),
        ):
            _check_positive_int(name, value)
        self.data_dim, self.latent_dim = data_dim, latent_dim
        layers: list[nn.Module] = []
        inputs = data_dim
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.LeakyReLU(0.2)]
            inputs = width
        layers.append(nn.Linear(inputs, latent_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.data_dim:
            raise ValueError(f"x must have shape (B, {self.data_dim}), got {tuple(x.shape)}")
        v.same_device("x", x, "the encoder", next(self.parameters()))
        return self.net(x)  # (B, latent_dim)


class ConvEncoder(nn.Module):
    """images (B, 1, 28, 28) in [-1, 1] -> z (B, latent_dim).

    (B, 1, 28, 28) -> (B, w, 14, 14) -> (B, 2w, 7, 7) -> (B, latent_dim), w = ``width``,
    LeakyReLU(0.2), no BatchNorm.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32):
        super().__init__()
        _check_positive_int("latent_dim", latent_dim)
        _check_positive_int("width", width)
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),  # (B, w, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # (B, 2w, 7, 7)
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.tensor("x", x, floating=True)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        v.same_device("x", x, "the encoder", next(self.parameters()))
        return self.net(x)  # (B, latent_dim)
