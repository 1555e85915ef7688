"""Input checks shared by the public functions: each raises a ValueError naming the argument."""

from __future__ import annotations

import torch


def tensor(
    name: str,
    value,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    floating: bool = False,
) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        dtype = ", dtype=torch.float32" if floating else ""
        raise ValueError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}; "
            f"convert it with torch.as_tensor({name}{dtype})"
        )
    wanted = ndim if ndim is not None else min_ndim
    if (ndim is not None and value.ndim != ndim) or (
        min_ndim is not None and value.ndim < min_ndim
    ):
        at_least = "" if ndim is not None else "at least "
        hint = ""
        if value.ndim == wanted - 1:  # one example where a batch of them was expected
            hint = f"; if {name} is one example, add the batch dimension: {name}.unsqueeze(0)"
        raise ValueError(
            f"{name} must have {at_least}{wanted} dimensions, got shape {tuple(value.shape)}{hint}"
        )
    if floating and not value.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype}; "
            f"convert it with {name}.float()"
        )
    return value


def same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        )


def same_device(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.device != b.device:
        raise ValueError(
            f"{name_a} is on {a.device} but {name_b} is on {b.device}; move both to one device "
            f"(course_lib.get_device()) with .to(device)"
        )


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


def adam_betas(value) -> tuple[float, float]:
    """Adam's (beta1, beta2): a pair of numbers in [0, 1)."""
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in value)
        or not all(0 <= b < 1 for b in value)
    ):
        raise ValueError(f"betas must be a pair (beta1, beta2) in [0, 1), got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """A setting that must be True or False (not 1, not "yes")."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def labels(value, batch: int, num_classes: int, name: str = "labels") -> torch.Tensor:
    """Class indices for a batch: an integer tensor (batch,) with values in [0, num_classes)."""
    tensor(name, value, ndim=1)
    if value.is_floating_point() or value.dtype == torch.bool or len(value) != batch:
        raise ValueError(
            f"{name} must be an integer tensor of shape ({batch},), got dtype {value.dtype} "
            f"and shape {tuple(value.shape)}"
        )
    if len(value) and (value.min() < 0 or value.max() >= num_classes):
        raise ValueError(
            f"{name} must be in [0, {num_classes - 1}], got values in "
            f"[{value.min().item()}, {value.max().item()}]"
        )
    return value.long()
