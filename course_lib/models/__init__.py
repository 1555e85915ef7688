"""The course's networks, one module per family."""

from . import cgml, dcgan
from .classifier import MnistClassifier
from .gan import MLPDiscriminator, MLPGenerator
from .gngan import ConvEncoder, MLPEncoder
from .vae import VAE, reparameterize

__all__ = [
    "MnistClassifier",
    "VAE",
    "reparameterize",
    "dcgan",
    "cgml",
    "MLPGenerator",
    "MLPDiscriminator",
    "MLPEncoder",
    "ConvEncoder",
]
