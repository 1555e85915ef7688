"""Paths through a latent space: linear and spherical interpolation."""

from __future__ import annotations

import torch

from . import _validate as v

__all__ = ["lerp", "slerp", "interpolate"]


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1."""
    return z0 + (z1 - z0) * t


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation along the great circle from z0 to z1 (White 2016), row-wise.

    slerp = sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1,
    omega the angle between z0 and z1. Falls back to lerp where the two are parallel.
    """
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=-1).clamp(-1, 1).unsqueeze(-1)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    out = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / so.clamp_min(1e-7)
    return torch.where(so.abs() < 1e-6, lerp(z0, z1, t), out)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "linear"):
    """``steps`` codes from z0 to z1 (both (D,) or (1, D)) as a (steps, D) tensor."""
    v.tensor("z0", z0, floating=True)
    v.tensor("z1", z1, floating=True)
    v.same_shape("z0", z0, "z1", z1)
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int >= 2, got {steps!r}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    z0, z1 = z0.reshape(1, -1), z1.reshape(1, -1)
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype).unsqueeze(1)  # (steps, 1)
    return lerp(z0, z1, t) if method == "linear" else slerp(z0, z1, t)
