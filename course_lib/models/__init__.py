"""The course's networks, one module per family."""

from .vae import VAE, reparameterize

__all__ = ["VAE", "reparameterize"]
