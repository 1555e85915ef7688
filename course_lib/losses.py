"""The losses of the course, each written as its paper writes it.

Chapter 01 (VAE, Kingma and Welling 2013; beta-VAE, Higgins et al. 2017):
the negative ELBO  -ELBO(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _validate as v

__all__ = ["gaussian_kl", "reconstruction_bce", "negative_elbo"]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, one value per row.

    KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (Kingma and Welling, App. B)

    mu, logvar: (B, D). Returns (B,), in nats.
    """
    v.tensor("mu", mu, ndim=2, floating=True)
    v.tensor("logvar", logvar, ndim=2, floating=True)
    v.same_shape("mu", mu, "logvar", logvar)
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder: binary cross-entropy summed over pixels, per image.

    logits: the decoder's output before the sigmoid, (B, ...); x: targets in [0, 1], same shape.
    Returns (B,), in nats.
    """
    v.tensor("logits", logits, min_ndim=2, floating=True)
    v.tensor("x", x, min_ndim=2, floating=True)
    v.same_shape("logits", logits, "x", x)
    v.same_device("logits", logits, "x", x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"x must hold pixel values in [0, 1] for the Bernoulli likelihood, got values in "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]"
        )
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
    return bce.flatten(1).sum(dim=1)


def negative_elbo(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
) -> torch.Tensor:
    """The VAE loss: mean over the batch of  BCE(x, decoder logits) + beta * KL(q(z|x) || p(z)).

    beta = 1 is the ELBO of Kingma and Welling; beta > 1 is the beta-VAE of Higgins et al.
    Returns a scalar in nats per image.
    """
    v.positive("beta", beta, allow_zero=True)
    if mu.ndim != 2 or len(mu) != len(x):
        raise ValueError(
            f"mu must be (B, D) with B = {len(x)} rows like x, got shape {tuple(mu.shape)}"
        )
    return (reconstruction_bce(logits, x) + beta * gaussian_kl(mu, logvar)).mean()
