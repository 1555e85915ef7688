"""The three networks of cGML (Ramasinghe et al., ICLR 2021), chapter 07.

* :class:`Encoder` H: the condition x -> its encoding h = H(x) (B, cond_dim).
* :class:`Generator` G: (h, z) -> the output y_hat. How z enters G is a choice
  (``inject``): ``"input"`` concatenates z to h once, before the first layer; ``"every"``
  concatenates z again to the input of every hidden layer, so that no layer can forget it.
* :class:`LatentUpdater` Z: (h, z_t) -> (z_hat, rho_hat), where z_hat is Z's guess of the
  next code z_{t+1} and rho_hat >= 0 its guess of the step length ||z_{t+1} - z_t||.

All three are MLPs, small enough to train on a laptop CPU: the 3-D toy uses conditions of
one number and outputs of three; stroke-MNIST flattens 28 x 28 digits (``out_shape`` and
``output="sigmoid"`` give G images in [0, 1]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate as v

__all__ = ["INJECTIONS", "OUTPUTS", "Encoder", "Generator", "LatentUpdater", "Regressor"]

INJECTIONS = ("input", "every")
OUTPUTS = ("linear", "sigmoid")


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_code(name: str, t, width: int, batch: int | None, module: nn.Module) -> None:
    v.tensor(name, t, ndim=2, floating=True)
    if t.shape[1] != width:
        raise ValueError(f"{name} must have shape (B, {width}), got {tuple(t.shape)}")
    if batch is not None and len(t) != batch:
        raise ValueError(f"{name} has {len(t)} rows but h has {batch}; give one code per condition")
    v.same_device(name, t, "the network", next(module.parameters()))


class Encoder(nn.Module):
    """H: x (B, *in_shape) -> h (B, cond_dim); ``depth`` hidden layers of ``width`` (SiLU)."""

    def __init__(
        self,
        in_shape: tuple[int, ...] | int = 1,
        cond_dim: int = 32,
        width: int = 64,
        depth: int = 2,
    ):
        super().__init__()
        in_shape = (in_shape,) if isinstance(in_shape, int) else tuple(in_shape)
        _check_sizes(cond_dim=cond_dim, width=width, depth=depth)
        _check_sizes(**{f"in_shape[{i}]": s for i, s in enumerate(in_shape)})
        self.in_shape, self.cond_dim = in_shape, cond_dim
        layers: list[nn.Module] = [nn.Flatten()]
        inputs = math.prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.SiLU()]
            inputs = width
        layers.append(nn.Linear(inputs, cond_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v.tensor("x", x, min_ndim=2, floating=True)
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}"
            )
        v.same_device("x", x, "the encoder", next(self.parameters()))
        return self.net(x)


class Generator(nn.Module):
    """G: (h (B, cond_dim), z (B, latent_dim)) -> y_hat (B, *out_shape).

    inject: ``"input"`` (z joins h before the first layer) or ``"every"`` (z joins the
        input of every layer, as in the stroke-MNIST preset: see the chapter for why).
    output: ``"linear"`` (unbounded, the toy) or ``"sigmoid"`` (images in [0, 1]).
    """

    def __init__(
        self,
        cond_dim: int = 32,
        latent_dim: int = 2,
        out_shape: tuple[int, ...] | int = 3,
        width: int = 128,
        depth: int = 3,
        inject: str = "input",
        output: str = "linear",
    ):
        super().__init__()
        out_shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
        _check_sizes(cond_dim=cond_dim, latent_dim=latent_dim, width=width, depth=depth)
        _check_sizes(**{f"out_shape[{i}]": s for i, s in enumerate(out_shape)})
        if inject not in INJECTIONS:
            raise ValueError(f"inject must be one of {INJECTIONS}, got {inject!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.cond_dim, self.latent_dim, self.out_shape = cond_dim, latent_dim, out_shape
        self.inject, self.output = inject, output
        extra = latent_dim if inject == "every" else 0
        sizes = [cond_dim + latent_dim] + [width + extra] * (depth - 1)
        self.hidden = nn.ModuleList(nn.Linear(n, width) for n in sizes)
        self.last = nn.Linear(width + extra, math.prod(out_shape))

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        _check_code("h", h, self.cond_dim, None, self)
        _check_code("z", z, self.latent_dim, len(h), self)
        a = torch.cat([h, z], dim=1)
        for i, layer in enumerate(self.hidden):
            if i > 0 and self.inject == "every":
                a = torch.cat([a, z], dim=1)
            a = F.silu(layer(a))
        if self.inject == "every":
            a = torch.cat([a, z], dim=1)
        y = self.last(a)
        if self.output == "sigmoid":
            y = torch.sigmoid(y)
        return y.view(len(h), *self.out_shape)


class LatentUpdater(nn.Module):
    """Z: (h (B, cond_dim), z_t (B, latent_dim)) -> (z_hat (B, latent_dim), rho_hat (B,)).

    z_hat is predicted as z_t plus a learned change (a residual), and rho_hat >= 0 through a
    softplus.
    """

    def __init__(self, cond_dim: int = 32, latent_dim: int = 2, width: int = 128, depth: int = 3):
        super().__init__()
        _check_sizes(cond_dim=cond_dim, latent_dim=latent_dim, width=width, depth=depth)
        self.cond_dim, self.latent_dim = cond_dim, latent_dim
        layers: list[nn.Module] = []
        inputs = cond_dim + latent_dim
        for _ in range(depth):
            layers += [nn.Linear(inputs, width), nn.SiLU()]
            inputs = width
        layers.append(nn.Linear(inputs, latent_dim + 1))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_code("h", h, self.cond_dim, None, self)
        _check_code("z", z, self.latent_dim, len(h), self)
        out = self.net(torch.cat([h, z], dim=1))
        return z + out[:, :-1], F.softplus(out[:, -1])


class Regressor(nn.Module):
    """A plain regression x -> y_hat with no latent code: H followed by G's layers, for the
    comparison with cGML (trained with MSE it averages the modes, with L1 it takes the
    median). Built like :class:`Encoder` and :class:`Generator` with the same sizes."""

    def __init__(
        self,
        in_shape: tuple[int, ...] | int = (1, 28, 28),
        out_shape: tuple[int, ...] | int = (1, 28, 28),
        cond_dim: int = 64,
        width: int = 256,
        depth: int = 3,
        output: str = "linear",
    ):
        super().__init__()
        self.encoder = Encoder(in_shape, cond_dim, width, 2)
        self.head = Generator(cond_dim, 1, out_shape, width, depth, "input", output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        return self.head(h, torch.zeros(len(h), 1, device=h.device))
