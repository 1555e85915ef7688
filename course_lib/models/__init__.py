"""The course's networks, one module per family."""

from .classifier import MnistClassifier
from .vae import VAE, reparameterize

__all__ = ["MnistClassifier", "VAE", "reparameterize"]
