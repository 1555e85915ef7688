"""The course's data: MNIST as tensors on the training device, and a shuffling batch iterator.

MNIST is read by torchvision from ``COURSE_DATA_DIR`` (default: ``data/`` in the course's
folder) and downloaded there when missing. The whole split is held as one tensor on the
device, so a training step draws its batch by indexing, with no loader in between.

The 2-D mixtures of chapters 02-07 (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018):
a :class:`Mixture` knows its mode centres and std, so the same object samples the data and
scores a generator (:func:`course_lib.metrics.mode_statistics`).
"""

from __future__ import annotations

import math
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from . import _validate as v
from .device import get_device

__all__ = [
    "MnistSplit",
    "MnistNotFoundError",
    "data_dir",
    "load_mnist",
    "BatchIterator",
    "Mixture",
    "ring_mixture",
    "grid_mixture",
    "toy_modes",
    "cgml_toy",
    "STROKE_ROWS",
    "STROKE_COLS",
    "stroke_mask",
    "add_stroke",
    "stroke_targets",
    "has_stroke",
    "StrokeBatches",
]

_COURSE_ROOT = Path(__file__).resolve().parent.parent
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MnistNotFoundError(FileNotFoundError):
    """MNIST is not on disk and could not be downloaded."""


class MnistSplit(NamedTuple):
    """One split of MNIST: ``images`` (N, 1, 28, 28) float in [0, 1], ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor


def data_dir() -> Path:
    """The folder that holds ``MNIST/raw``: ``COURSE_DATA_DIR``, else ``data/`` of the course.

    Outside a clone of the course (an installed package, Colab) the default is ``./data``.
    """
    env = os.environ.get("COURSE_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    if (_COURSE_ROOT / "pyproject.toml").exists():
        return _COURSE_ROOT / "data"
    return Path("data").resolve()


def _missing_message(root: Path, reason: str) -> str:
    raw = root / "MNIST" / "raw"
    return (
        f"MNIST was not found in {raw} and {reason}.\n"
        f"Either connect to the internet and run again (torchvision downloads it there), or copy "
        f"the four files {', '.join(_MNIST_FILES)} (optionally .gz) into {raw}, or set the "
        f"environment variable COURSE_DATA_DIR to the folder that holds MNIST/raw."
    )


def _torchvision_mnist(root: Path, train: bool, download: bool):
    from torchvision.datasets import MNIST

    try:
        return MNIST(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise MnistNotFoundError(_missing_message(root, "download=False")) from None
    try:
        return MNIST(str(root), train=train, download=True)
    except (RuntimeError, OSError, urllib.error.URLError) as err:
        raise MnistNotFoundError(
            _missing_message(root, f"the download failed ({type(err).__name__}: {err})")
        ) from err


def load_mnist(
    split: str = "train",
    device: torch.device | str | None = None,
    limit: int | None = None,
    download: bool = True,
) -> MnistSplit:
    """MNIST ``split`` ("train": 60,000 images, "test": 10,000) as tensors on ``device``.

    ``limit`` keeps the first ``limit`` images (smoke runs). Pixels are floats in [0, 1];
    chapters that want [-1, 1] rescale with ``2 * x - 1``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    device = torch.device(device) if device is not None else get_device()
    dataset = _torchvision_mnist(data_dir(), train=split == "train", download=download)
    images, labels = dataset.data, dataset.targets
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = (images.to(device=device, dtype=torch.float32) / 255.0).unsqueeze(1)
    return MnistSplit(images, labels.to(device=device, dtype=torch.int64))


class BatchIterator:
    """An endless stream of shuffled mini-batches drawn by index from tensors on the device.

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``, so the stream is the
    same on every run, and :meth:`state_dict` / :meth:`load_state_dict` let a resumed
    training run continue with exactly the batch it would have drawn next.
    Incomplete last batches are dropped, so every batch has ``batch_size`` rows.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0):
        if not tensors:
            raise ValueError("BatchIterator needs at least one tensor")
        n = len(tensors[0])
        for i, t in enumerate(tensors):
            if len(t) != n:
                raise ValueError(
                    f"tensors must have the same length: tensor 0 has {n} rows, "
                    f"tensor {i} has {len(t)}"
                )
            if t.device != tensors[0].device:
                raise ValueError(
                    f"tensors must be on one device: tensor 0 is on {tensors[0].device}, "
                    f"tensor {i} on {t.device}"
                )
        if not isinstance(batch_size, int) or not 0 < batch_size <= n:
            raise ValueError(f"batch_size must be an int in [1, {n}], got {batch_size!r}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.seed = seed
        self.batches_per_epoch = n // batch_size
        self.epoch = 0
        self.position = 0
        self._order: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.tensors[0]), generator=g)
        return perm.to(self.tensors[0].device)

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = None
        if self._order is None:
            self._order = self._permutation()
        start = self.position * self.batch_size
        index = self._order[start : start + self.batch_size]
        self.position += 1
        return tuple(t[index] for t in self.tensors)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        self._order = None


# --- 2-D Gaussian mixtures ---------------------------------------------------------------


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians N(centre_k, std^2 I) in the plane.

    ``centres``: (K, 2) float32 on the CPU; ``std``: the standard deviation of every mode.
    """

    centres: torch.Tensor
    std: float

    def __post_init__(self) -> None:
        v.tensor("centres", self.centres, ndim=2, floating=True)
        if self.centres.shape[1] != 2 or len(self.centres) == 0:
            raise ValueError(f"centres must have shape (K, 2), got {tuple(self.centres.shape)}")
        v.positive("std", self.std)

    @property
    def modes(self) -> int:
        return len(self.centres)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """n points (n, 2): a mode drawn uniformly, then centre + std * N(0, I).

        Drawn on the CPU (so a seeded ``generator`` gives the same points on every device),
        then moved to ``device`` (default: the CPU).
        """
        _positive_int("n", n)
        k = torch.randint(self.modes, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        x = self.centres[k] + self.std * noise  # (n, 2)
        return x.to(device) if device is not None else x


def ring_mixture(modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
    """``modes`` Gaussians evenly spaced on a circle of ``radius`` (VEEGAN's ring of 8)."""
    _positive_int("modes", modes)
    v.positive("radius", radius)
    angle = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return Mixture(centres.float(), float(std))


def grid_mixture(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """side x side Gaussians on a centred square grid; the default is {-4, -2, 0, 2, 4}^2."""
    _positive_int("side", side)
    v.positive("spacing", spacing)
    axis = spacing * (torch.arange(side, dtype=torch.float64) - (side - 1) / 2)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    centres = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return Mixture(centres.float(), float(std))


# --- chapter 07: cGML's data ------------------------------------------------------------
# The 3-D toy and stroke-MNIST of the cGML poster (Ramasinghe et al., ICLR 2021): each
# condition has two targets, so a regression can only average them or pick one.


def toy_modes(x: torch.Tensor) -> torch.Tensor:
    """The two modes of the toy for conditions x (B, 1): (B, 2, 3), +f(x) then -f(x), with
    f(x) = (4x, 4x^2, 4x^3)."""
    v.tensor("x", x, ndim=2, floating=True)
    if x.shape[1] != 1:
        raise ValueError(f"x must have shape (B, 1), one number per condition, got {x.shape}")
    f = 4 * torch.cat([x, x**2, x**3], dim=1)  # (B, 3)
    return torch.stack([f, -f], dim=1)


def cgml_toy(
    n: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    low: float = 0.1,
    high: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n pairs of the cGML toy: x ~ U[low, high] (n, 1), y = s (4x, 4x^2, 4x^3) (n, 3) with a
    fair random sign s, and the mode index (n,) (0 for +, 1 for -).

    Drawn on the CPU (seeded by ``generator``), then moved to ``device``.
    """
    _positive_int("n", n)
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
        raise ValueError(f"low < high must be numbers, got low={low!r}, high={high!r}")
    x = low + (high - low) * torch.rand(n, 1, generator=generator)
    mode = torch.randint(2, (n,), generator=generator)
    y = toy_modes(x)[torch.arange(n), mode]
    if device is not None:
        x, y, mode = x.to(device), y.to(device), mode.to(device)
    return x, y, mode


# The stroke: a white bar two pixels high across the top of the image, rows 1-2 and
# columns 4-23, where MNIST's centred digits (rows ~4-23) almost never reach.
STROKE_ROWS = (1, 3)  # [start, stop)
STROKE_COLS = (4, 24)


def stroke_mask(device: torch.device | str | None = None) -> torch.Tensor:
    """(1, 28, 28) bool: True on the stroke's pixels."""
    mask = torch.zeros(1, 28, 28, dtype=torch.bool)
    mask[:, STROKE_ROWS[0] : STROKE_ROWS[1], STROKE_COLS[0] : STROKE_COLS[1]] = True
    return mask.to(device) if device is not None else mask


def add_stroke(images: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
    """A copy of ``images`` (B, 1, 28, 28) in [0, 1] with the white stroke drawn on the
    images where ``which`` (B,) bool is True (all of them by default)."""
    v.tensor("images", images, ndim=4, floating=True)
    if tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must be (B, 1, 28, 28), got {tuple(images.shape)}")
    mask = stroke_mask(images.device)
    if which is None:
        return images.masked_fill(mask, 1.0)
    if not isinstance(which, torch.Tensor) or which.shape != (len(images),):
        raise ValueError(f"which must be a (B,) = ({len(images)},) bool tensor")
    full = mask & which.to(images.device, torch.bool)[:, None, None, None]
    return images.masked_fill(full, 1.0)


def stroke_targets(
    images: torch.Tensor, share: float = 0.3, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stroke-MNIST's targets for the inputs ``images``: each image itself, with the stroke
    drawn on a random ``share`` of them. Returns (targets, which (B,) bool)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ValueError(f"share must be a number in [0, 1], got {share!r}")
    which = torch.rand(len(images), generator=generator) < share
    return add_stroke(images, which), which.to(images.device)


def has_stroke(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(B,) bool: the mean brightness of the stroke's pixels is above ``threshold``."""
    v.tensor("images", images, ndim=4, floating=True)
    r0, r1 = STROKE_ROWS
    c0, c1 = STROKE_COLS
    return images[:, 0, r0:r1, c0:c1].flatten(1).mean(dim=1) > threshold


class StrokeBatches:
    """Endless (input, target) batches of stroke-MNIST: the inputs are ``images`` shuffled
    by a :class:`BatchIterator`, each target is its input with the stroke drawn with
    probability ``share``, drawn afresh every time (so one digit is seen with both targets).
    """

    def __init__(self, images: torch.Tensor, batch_size: int, share: float = 0.3, seed: int = 0):
        self.inputs = BatchIterator(images, batch_size=batch_size, seed=seed)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ValueError(f"share must be a number in [0, 1], got {share!r}")
        self.share = float(share)
        self.rng = torch.Generator().manual_seed(seed + 7)

    def __iter__(self) -> StrokeBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        (x,) = next(self.inputs)
        y, _ = stroke_targets(x, self.share, self.rng)
        return x, y

    def state_dict(self) -> dict:
        return {**self.inputs.state_dict(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.inputs.load_state_dict(state)
        self.rng.set_state(state["rng"])
