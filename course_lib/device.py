"""Where the course's tensors live: device choice, seeding and mixed precision.

The device is chosen once, in this order: the ``COURSE_DEVICE`` environment variable
(``cpu``, ``cuda``, ``cuda:1``, ``mps``), else the available accelerator (CUDA or MPS),
else the CPU. Notebooks call :func:`get_device` and never name a device themselves.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "autocast", "describe_device"]


def get_device() -> torch.device:
    """The device every model and tensor of the course should use."""
    requested = os.environ.get("COURSE_DEVICE", "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"COURSE_DEVICE={requested!r} is not a device name; use cpu, cuda, cuda:N or mps"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("COURSE_DEVICE asks for CUDA, but torch sees no CUDA GPU here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("COURSE_DEVICE asks for MPS, but this machine has no MPS backend")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A readable name of the device for printed results: "NVIDIA H100", "CPU (2 threads)"."""
    device = device or get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) so that a run can be repeated.

    Returns a CPU ``torch.Generator`` seeded the same way, for code that wants its own stream.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeds the global stream older code uses)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def autocast(device: torch.device | None = None, enabled: bool = True):
    """bf16 autocast on CUDA (where it speeds up matrix work), a no-op elsewhere.

    Use as ``with autocast(device): loss = model(x)``; the backward pass stays outside.
    """
    device = device or get_device()
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
