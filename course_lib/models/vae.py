"""The variational auto-encoder of chapter 01 (Kingma and Welling 2013).

The encoder maps an image to the mean and log-variance of q(z|x) = N(mu, diag(sigma^2));
the decoder maps a code z to the logits of a Bernoulli distribution over the 784 pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate as v

__all__ = ["VAE", "reparameterize"]


def _image_shape_hint(x: torch.Tensor) -> str:
    """What to do about images of the wrong shape, for the common mistakes."""
    shape = tuple(x.shape)
    if shape == (1, 28, 28):
        return "; one image needs the batch dimension: x.unsqueeze(0)"
    if shape == (28, 28):
        return "; one image needs the batch and channel dimensions: x.view(1, 1, 28, 28)"
    if x.ndim == 3 and shape[1:] == (28, 28):
        return "; add the channel dimension: x.unsqueeze(1)"
    if x.ndim == 2 and shape[1] == 28 * 28:
        return "; flat images: x.view(-1, 1, 28, 28)"
    return ""


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The reparameterization trick: z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2).

    The noise is drawn outside the network, so gradients flow to mu and logvar.
    """
    v.tensor("mu", mu, floating=True)
    v.tensor("logvar", logvar, floating=True)
    v.same_shape("mu", mu, "logvar", logvar)
    v.same_device("mu", mu, "logvar", logvar)
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """An MLP VAE for 28x28 images: 784 -> hidden -> (mu, logvar) in R^latent_dim -> 784."""

    def __init__(self, latent_dim: int = 16, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive ints, got {hidden!r}")
        self.latent_dim = latent_dim
        layers: list[nn.Module] = [nn.Flatten()]
        width = 28 * 28
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.encoder = nn.Sequential(*layers)
        self.to_mu = nn.Linear(width, latent_dim)
        self.to_logvar = nn.Linear(width, latent_dim)
        layers = []
        width = latent_dim
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers += [nn.Linear(width, 28 * 28), nn.Unflatten(1, (1, 28, 28))]
        self.decoder = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, 28, 28) in [0, 1] -> mu, logvar, each (B, latent_dim)."""
        v.tensor("x", x, floating=True)
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(
                f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}{_image_shape_hint(x)}"
            )
        v.same_device("x", x, "the VAE", next(self.parameters()))
        h = self.encoder(x)  # (B, hidden[-1])
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> pixel logits (B, 1, 28, 28); apply sigmoid for images."""
        v.tensor("z", z, floating=True)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            if z.ndim == 1 and len(z) == self.latent_dim:
                hint = "; one code needs the batch dimension: z.unsqueeze(0)"
            else:
                hint = f"; this VAE was built with latent_dim={self.latent_dim}"
            raise ValueError(
                f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}{hint}"
            )
        v.same_device("z", z, "the VAE", next(self.parameters()))
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (logits, mu, logvar) for a batch of images."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images decoded from z ~ N(0, I), as probabilities in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device="cpu").to(device)
        return torch.sigmoid(self.decode(z))
