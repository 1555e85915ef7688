"""The course's MNIST classifier: the judge of generated digits in :mod:`course_lib.metrics`.

A small CNN, trained once by ``tools/train_classifier.py`` and shipped in
``course_lib/weights/``. Its softmax gives p(y|x) for the classifier score, its 128
penultimate activations are the feature space of the course's FID.

    (B, 1, 28, 28) -> conv 32 -> pool -> conv 64 -> pool -> fc 128 -> fc 10
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MnistClassifier"]


class MnistClassifier(nn.Module):
    """A two-block CNN for 28x28 digits in [0, 1]; ``forward`` gives logits over the 10 digits."""

    feature_dim = 128
    num_classes = 10

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.body = nn.Sequential(
            # Pooling before the normalization and the ReLU does the same job on a
            # quarter of the pixels, which matters on a laptop CPU.
            nn.Conv2d(1, 32, kernel_size=3, padding=1),  # (B, 32, 28, 28)
            nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),  # (B, 64, 14, 14)
            nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Flatten(),  # (B, 3136)
            nn.Dropout(dropout / 2),
            nn.Linear(64 * 7 * 7, self.feature_dim),
            nn.ReLU(),  # (B, 128): the features of the FID
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, 10))

    @staticmethod
    def _check(x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must have shape (B, 1, 28, 28), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating-point tensor in [0, 1], got dtype {x.dtype}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate activations, (B, 128): the space in which FID fits its Gaussians."""
        self._check(x)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 10); ``softmax`` of them is the classifier's p(y|x)."""
        return self.head(self.features(x))
