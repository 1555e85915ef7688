"""k-means pseudo-labels: clusters of the training images, found without their labels.

Chapter 05 shows that a discriminator that judges each digit together with its label,
D(x, c), trains a far better generator than one that sees the image alone. Labels found by
k-means on the pixels cost nothing, and a GAN conditioned on them stays unconditional: it
draws a cluster in proportion to its size, then an image of that cluster. This is the
stabiliser chapters 02 and 04 add to the DCGAN and the WGAN-GP on MNIST, in the spirit of
Lucic et al. 2019 (who cluster learned features) and of the self-conditioned GAN of Liu et
al. 2020 (who cluster the discriminator's features as training goes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _validate as v

__all__ = ["KMeans", "kmeans", "purity"]


@dataclass(frozen=True)
class KMeans:
    """The result of :func:`kmeans`: ``centres`` (k, D), ``assignments`` (N,) int64 in [0, k),
    ``sizes`` (k,) int64, and ``inertia``, the mean squared distance to the nearest centre."""

    centres: torch.Tensor
    assignments: torch.Tensor
    sizes: torch.Tensor
    inertia: float

    @property
    def shares(self) -> torch.Tensor:
        """Each cluster's share of the examples, (k,) float32 summing to 1."""
        return (self.sizes.float() / self.sizes.sum()).to(torch.float32)


def _nearest(x: torch.Tensor, centres: torch.Tensor, chunk: int = 8192):
    """Index of the nearest centre of each row of x and its squared distance, chunk by chunk."""
    index, distance = [], []
    c2 = centres.pow(2).sum(1)  # (k,)
    for part in x.split(chunk):
        d = part.pow(2).sum(1, keepdim=True) - 2 * part @ centres.T + c2  # (n, k)
        best, i = d.min(1)
        index.append(i)
        distance.append(best.clamp_min(0))
    return torch.cat(index), torch.cat(distance)


def _kmeans_plus_plus(flat: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k starting centres (k, D): D^2 sampling, the draws made on the CPU."""
    first = int(torch.randint(len(flat), (1,), generator=generator))
    chosen = [first]
    nearest = (flat - flat[first]).pow(2).sum(1)  # squared distance to the nearest chosen
    for _ in range(k - 1):
        weights = nearest.double().cpu()
        if weights.sum() <= 0:  # every example sits on a chosen one: any other will do
            weights = torch.ones_like(weights)
            weights[chosen] = 0
        pick = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(pick)
        nearest = torch.minimum(nearest, (flat - flat[pick]).pow(2).sum(1))
    return flat[chosen].clone()


@torch.no_grad()
def kmeans(x: torch.Tensor, k: int, iterations: int = 30, seed: int = 0) -> KMeans:
    """Lloyd's k-means on the rows of ``x`` (N, ...), flattened to (N, D).

    Starts from k examples chosen as k-means++ does (Arthur and Vassilvitskii 2007: the first
    at random, each next one with probability proportional to its squared distance to the
    nearest chosen so far), drawn with ``seed`` on the CPU so every device finds the same
    clusters; then alternates "assign each example to its nearest centre" and "move
    each centre to the mean of its examples" for ``iterations`` rounds or until no example
    changes cluster. A cluster left empty takes the example farthest from its centre.
    """
    v.tensor("x", x, min_ndim=2, floating=True)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > len(x):
        raise ValueError(f"k ({k}) must be at most the number of examples ({len(x)})")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    flat = x.reshape(len(x), -1).float()
    centres = _kmeans_plus_plus(flat, k, torch.Generator().manual_seed(seed))
    assignments = None
    for _ in range(iterations):
        new, distance = _nearest(flat, centres)
        if assignments is not None and torch.equal(new, assignments):
            break
        assignments = new
        sizes = torch.bincount(assignments, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, assignments, flat)
        centres = sums / sizes.clamp_min(1)[:, None].to(sums.dtype)
        for empty in (sizes == 0).nonzero().flatten().tolist():
            far = int(distance.argmax())
            centres[empty] = flat[far]
            distance[far] = 0
    assignments, distance = _nearest(flat, centres)
    sizes = torch.bincount(assignments, minlength=k)
    return KMeans(centres, assignments, sizes, float(distance.mean()))


def purity(assignments: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of examples whose label is their cluster's most common label, in (0, 1].

    1 when each cluster holds one label only; it says how much of the true labels the
    clusters found (used to report, never to train).
    """
    for name, t in (("assignments", assignments), ("labels", labels)):
        v.tensor(name, t, ndim=1)
        if t.is_floating_point() or t.dtype == torch.bool or not len(t) or t.min() < 0:
            raise ValueError(f"{name} must be a non-empty tensor of indices >= 0 (N,)")
    if len(labels) != len(assignments):
        raise ValueError(
            f"labels ({len(labels)}) and assignments ({len(assignments)}) must have one "
            f"entry per example"
        )
    k, classes = int(assignments.max()) + 1, int(labels.max()) + 1
    counts = torch.zeros(k * classes, dtype=torch.int64, device=assignments.device)
    counts.index_add_(
        0,
        assignments.long() * classes + labels.long().to(counts.device),
        torch.ones(len(labels), dtype=torch.int64, device=counts.device),
    )
    return float(counts.view(k, classes).max(1).values.sum()) / len(assignments)
