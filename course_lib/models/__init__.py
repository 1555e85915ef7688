"""The course's networks, one module per family."""

from . import dcgan
from .classifier import MnistClassifier
from .gan import MLPDiscriminator, MLPGenerator
from .vae import VAE, reparameterize

__all__ = [
    "MnistClassifier",
    "VAE",
    "reparameterize",
    "dcgan",
    "MLPGenerator",
    "MLPDiscriminator",
]
