"""DCGAN (Radford et al. 2015) sized for 28x28 MNIST, for chapters 02 and 04.

The paper's guidelines (sec. 3): strided (transposed) convolutions instead of pooling,
BatchNorm in both nets except G's output and D's input layer, ReLU in G with tanh at the
output (data in [-1, 1]), LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).

Chapter 05 options: ``num_classes`` conditions G(z, c) and D(x, c) on a label by one-hot
concatenation (cGAN, Mirza and Osindero 2014): to z for G, as constant channels for D;
``aux_classes`` gives D the auxiliary classifier head of AC-GAN (Odena et al. 2017).

Chapters 02 and 04 on MNIST: :class:`ClusterGenerator` is an unconditional generator made of
a conditional one: it draws a k-means cluster of the training digits in proportion to its
size, then an image of that cluster (see :mod:`course_lib.clusters`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate as v

__all__ = ["Generator", "ClusterGenerator", "Discriminator"]


def _check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_optional_classes(name: str, value) -> None:
    if value is not None:
        _check_positive_int(name, value)


def _check_labels(labels, batch: int, num_classes: int | None) -> torch.Tensor | None:
    """None for an unconditional net; else labels (B,) int64 in [0, num_classes)."""
    if num_classes is None:
        if labels is not None:
            raise ValueError("labels were given, but this network was built without num_classes")
        return None
    if labels is None:
        raise ValueError(
            f"labels must be given: this network is conditional (num_classes={num_classes})"
        )
    return v.labels(labels, batch, num_classes)


def _init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), BatchNorm scales ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, 1, 28, 28) in [-1, 1].

    (B, nz, 1, 1) -> (B, 4w, 7, 7) -> (B, 2w, 14, 14) -> (B, 1, 28, 28), w = ``width``.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, num_classes: int | None = None):
        super().__init__()
        _check_positive_int("latent_dim", latent_dim)
        _check_positive_int("width", width)
        _check_optional_classes("num_classes", num_classes)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        inputs = latent_dim + (num_classes or 0)  # z, then the one-hot label for a cGAN
        self.net = nn.Sequential(
            nn.ConvTranspose2d(inputs, 4 * width, 7, 1, 0, bias=False),  # (B, 4w, 7, 7)
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),  # (B, 2w, 14, 14)
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, 1, 4, 2, 1),  # (B, 1, 28, 28)
            nn.Tanh(),
        )
        _init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z), or G(z, c) with ``labels`` (B,) for a generator built with num_classes."""
        v.tensor("z", z, ndim=2, floating=True)
        if z.shape[1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}; this "
                f"generator was built with latent_dim={self.latent_dim}"
            )
        v.same_device("z", z, "the generator", next(self.parameters()))
        labels = _check_labels(labels, len(z), self.num_classes)
        if labels is not None:
            one_hot = F.one_hot(labels.to(z.device), self.num_classes).to(z.dtype)
            z = torch.cat([z, one_hot], dim=1)  # (B, latent_dim + num_classes)
        return self.net(z[:, :, None, None])

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n images in [-1, 1] from z ~ N(0, I) drawn on the CPU; (x + 1) / 2 maps to [0, 1].

        A conditional generator needs ``labels`` (n,), the digit asked of each image.
        """
        _check_positive_int("n", n)
        if labels is None:
            labels = self.default_labels(n, generator)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self(z, None if labels is None else labels.to(device))

    def default_labels(self, n: int, generator: torch.Generator | None = None):
        """The labels :meth:`sample` uses when none are given: None (G(z) needs none)."""
        return None


class ClusterGenerator(Generator):
    """An unconditional generator built on G(z, c): c is one of ``clusters`` pseudo-labels.

    ``G(z)`` and :meth:`sample` draw each image's cluster from ``shares`` (a buffer, saved
    with the weights: each cluster's share of the training digits, uniform until
    :meth:`set_shares`), then the image G(z, c). ``G(z, c)`` with clusters given is the
    conditional generator, as training uses it, so its discriminator is
    ``Discriminator(num_classes=clusters)``.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, clusters: int = 50):
        _check_positive_int("clusters", clusters)
        super().__init__(latent_dim, width, num_classes=clusters)
        self.register_buffer("shares", torch.full((clusters,), 1.0 / clusters))

    def set_shares(self, shares: torch.Tensor) -> None:
        """Each cluster's share of the training examples, (clusters,) >= 0, summing to 1."""
        v.tensor("shares", shares, ndim=1, floating=True)
        if len(shares) != self.num_classes:
            raise ValueError(
                f"shares must have one entry per cluster ({self.num_classes}), got {len(shares)}"
            )
        if (shares < 0).any() or abs(float(shares.sum()) - 1) > 1e-4:
            raise ValueError("shares must be >= 0 and sum to 1")
        self.shares.copy_(shares)

    def default_labels(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n cluster indices (n,) drawn from ``shares`` on the CPU (before z, in :meth:`sample`)."""
        _check_positive_int("n", n)
        shares = self.shares.float().cpu()
        return torch.multinomial(shares, n, replacement=True, generator=generator)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) with a cluster drawn for each code, or G(z, c) with the clusters ``labels``."""
        if labels is None:
            v.tensor("z", z, ndim=2, floating=True)
            labels = self.default_labels(len(z)).to(z.device)
        return super().forward(z, labels)


class Discriminator(nn.Module):
    """images (B, 1, 28, 28) in [-1, 1] -> one logit per image (B,).

    With ``num_classes``, D(x, c) sees the one-hot label as num_classes constant channels
    beside the image (cGAN). With ``aux_classes``, forward returns (source logits (B,),
    class logits (B, aux_classes)), the two heads of AC-GAN on shared features.

    (B, 1, 28, 28) -> (B, w, 14, 14) -> (B, 2w, 7, 7) -> (B,). No BatchNorm on the first
    layer; ``batch_norm=False`` removes it everywhere, as a WGAN-GP critic needs (the
    gradient penalty is per sample, which BatchNorm mixes; Gulrajani et al., sec. 4).
    """

    def __init__(
        self,
        width: int = 32,
        batch_norm: bool = True,
        slope: float = 0.2,
        num_classes: int | None = None,
        aux_classes: int | None = None,
    ):
        super().__init__()
        _check_positive_int("width", width)
        v.positive("slope", slope, allow_zero=True)
        _check_optional_classes("num_classes", num_classes)
        _check_optional_classes("aux_classes", aux_classes)
        self.num_classes, self.aux_classes = num_classes, aux_classes
        norm = nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(1 + (num_classes or 0), width, 4, 2, 1),  # (B, w, 14, 14)
            nn.LeakyReLU(slope),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),  # (B, 2w, 7, 7)
            norm,
            nn.LeakyReLU(slope),
        )
        self.source = nn.Conv2d(2 * width, 1, 7, 1, 0)  # (B, 1, 1, 1): real or fake
        self.classes = nn.Conv2d(2 * width, aux_classes, 7, 1, 0) if aux_classes else None
        _init_weights(self)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,); with aux_classes, (source logits (B,), class logits (B, K))."""
        v.tensor("x", x, floating=True)
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        v.same_device("x", x, "the discriminator", next(self.parameters()))
        labels = _check_labels(labels, len(x), self.num_classes)
        if labels is not None:
            one_hot = F.one_hot(labels.to(x.device), self.num_classes).to(x.dtype)
            planes = one_hot[:, :, None, None].expand(-1, -1, 28, 28)  # (B, K, 28, 28)
            x = torch.cat([x, planes], dim=1)
        h = self.features(x)  # (B, 2w, 7, 7)
        source = self.source(h).flatten()  # (B,)
        if self.classes is None:
            return source
        return source, self.classes(h).flatten(1)  # (B,), (B, aux_classes)
