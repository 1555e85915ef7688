"""Figures of the course: image grids, loss curves, 2-D latent maps and 2-D samples."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid

from . import _validate as v

__all__ = [
    "image_grid",
    "show_images",
    "plot_history",
    "plot_latent_map",
    "plot_snapshots",
    "plot_points",
    "plot_point_snapshots",
]


def image_grid(
    images: torch.Tensor,
    nrow: int = 8,
    value_range: tuple[float, float] = (0.0, 1.0),
    padding: int = 2,
) -> np.ndarray:
    """Tile images (B, C, H, W) into one (H', W') grey or (H', W', 3) colour array in [0, 1].

    ``value_range`` is the range of the input: (0, 1) for VAE outputs, (-1, 1) for tanh GANs.
    """
    v.tensor("images", images, ndim=4)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    x = ((images.detach().float().cpu() - lo) / (hi - lo)).clamp(0, 1)
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)  # (3, H', W')
    grid = grid.permute(1, 2, 0).numpy()
    return grid[..., 0] if images.shape[1] == 1 else grid


def show_images(
    images: torch.Tensor,
    nrow: int = 8,
    title: str | None = None,
    ax=None,
    value_range: tuple[float, float] = (0.0, 1.0),
):
    """Show a grid of images on ``ax`` (a new figure when None); returns the axes."""
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    if ax is None:
        cols = min(nrow, len(images))
        rows = -(-len(images) // nrow)
        _, ax = plt.subplots(figsize=(max(2.0, 0.6 * cols), max(2.0, 0.6 * rows + 0.4)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, names: list[str] | None = None, ax=None, logy: bool = False):
    """Loss curves of a :class:`course_lib.training.History` against the training step."""
    if not history.steps:
        raise ValueError("the history is empty: train for at least log_every steps first")
    names = names or list(history.losses)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name in names:
        ax.plot(history.steps, history[name], label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_latent_map(z: torch.Tensor, labels: torch.Tensor, ax=None, title: str | None = None):
    """Scatter 2-D codes coloured by digit label (a legend maps colours to digits)."""
    v.tensor("z", z, ndim=2)
    if z.shape[1] != 2:
        raise ValueError(f"z must be (N, 2) codes, got shape {tuple(z.shape)}")
    if len(labels) != len(z):
        raise ValueError(f"labels must have one entry per code: {len(labels)} vs {len(z)}")
    z, labels = z.detach().float().cpu().numpy(), labels.detach().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    cmap = plt.get_cmap("tab10")
    for digit in range(10):
        sel = labels == digit
        ax.scatter(z[sel, 0], z[sel, 1], s=3, color=cmap(digit), label=str(digit), alpha=0.6)
    ax.legend(markerscale=4, title="digit", loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def _snapshot_panels(history, max_snapshots: int):
    """A row of axes for up to ``max_snapshots`` snapshots spread over the run (first and last
    included): the figure and its (ax, step, snapshot) triples."""
    snaps = history.snapshots
    if not snaps:
        raise ValueError("the history holds no snapshots: pass snapshot_fn to the Trainer")
    pick = np.linspace(0, len(snaps) - 1, min(max_snapshots, len(snaps))).round().astype(int)
    fig, axes = plt.subplots(1, len(pick), figsize=(2.6 * len(pick), 2.8), squeeze=False)
    return fig, [(ax, *snaps[i]) for ax, i in zip(axes[0], pick, strict=True)]


def plot_snapshots(
    history, nrow: int = 8, max_snapshots: int = 6, value_range: tuple[float, float] = (0.0, 1.0)
):
    """The sample snapshots of a history side by side: how the samples improved."""
    fig, panels = _snapshot_panels(history, max_snapshots)
    for ax, step, images in panels:
        show_images(images, nrow=nrow, ax=ax, title=f"step {step}", value_range=value_range)
    fig.tight_layout()
    return fig


def plot_points(
    samples: torch.Tensor,
    centres: torch.Tensor | None = None,
    ax=None,
    title: str | None = None,
    std: float | None = None,
):
    """Scatter 2-D samples (N, 2); with ``centres`` (K, 2), mark the modes of the mixture.

    With ``std`` too, each mode gets a circle of radius 3 std: a sample inside it is "high
    quality" in the sense of :func:`course_lib.metrics.mode_statistics`.
    """
    v.tensor("samples", samples, ndim=2)
    if samples.shape[1] != 2:
        raise ValueError(f"samples must be (N, 2) points, got shape {tuple(samples.shape)}")
    x = samples.detach().float().cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
    if centres is not None:
        c = centres.detach().float().cpu().numpy()
        ax.scatter(c[:, 0], c[:, 1], s=25, marker="x", color="tab:red", label="modes")
        if std is not None:
            for cx, cy in c:
                ax.add_patch(plt.Circle((cx, cy), 3 * std, fill=False, color="tab:red", lw=0.6))
        span = np.abs(c).max() * 1.5 + 3 * (std or 0)
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.grid(alpha=0.2)
    if title:
        ax.set_title(title)
    return ax


def plot_point_snapshots(history, centres: torch.Tensor | None = None, max_snapshots: int = 6):
    """The 2-D sample snapshots of a history side by side: modes found, and modes dropped."""
    fig, panels = _snapshot_panels(history, max_snapshots)
    for ax, step, points in panels:
        plot_points(points, centres, ax=ax, title=f"step {step}")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
