"""Chapter 01's recipe: train the MNIST VAE and measure its negative ELBO."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..config import budget
from ..data import BatchIterator
from ..device import autocast
from ..losses import gaussian_kl, reconstruction_bce
from ..models.vae import VAE
from ..training import Trainer

__all__ = [
    "VAESettings",
    "LECTURE",
    "lecture_settings",
    "make_vae_step",
    "train_vae",
    "evaluate_vae",
]


@dataclass(frozen=True)
class VAESettings:
    latent_dim: int = 24
    hidden: tuple[int, ...] = (512, 256)
    batch_size: int = 128
    lr: float = 1e-3
    epochs: float = 30.0  # passes over the training images; the learning rate decays to 0
    beta: float = 1.0


LECTURE = VAESettings()


def lecture_settings(**changes) -> VAESettings:
    """The lecture's settings (``changes`` override fields); one epoch in smoke mode."""
    settings = replace(LECTURE, **changes)
    return budget(settings, replace(settings, epochs=min(settings.epochs, 1.0)))


def make_vae_step(model: VAE, optimizer: torch.optim.Optimizer, beta: float = 1.0):
    """One step of VAE training, the loop of pytorch/examples: loss, backward, step.

    loss = E[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)), averaged over the batch.
    """
    device = next(model.parameters()).device

    def vae_step(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(device):
            logits, mu, logvar = model(x)
        reconstruction = reconstruction_bce(logits, x).mean()
        kl = gaussian_kl(mu.float(), logvar.float()).mean()
        loss = reconstruction + beta * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl}

    return vae_step


def train_vae(
    train_images: torch.Tensor,
    settings: VAESettings = LECTURE,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    snapshot_codes: torch.Tensor | None = None,
    model: VAE | None = None,
) -> tuple[VAE, Trainer]:
    """Train a VAE on ``train_images`` (N, 1, 28, 28) in [0, 1], on their device.

    Returns the model and its trainer (``trainer.history`` holds the curves; call
    ``trainer.fit(more_steps)`` to go on). With ``checkpoint_path`` an existing
    checkpoint is resumed. ``model``: a VAE to train (built from ``settings`` if not given),
    e.g. one that :func:`course_lib.weights.load_or_train` may load instead.
    """
    if train_images.ndim != 4 or train_images.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"train_images must be (N, 1, 28, 28), got shape {tuple(train_images.shape)}"
        )
    device = train_images.device
    torch.manual_seed(seed)
    if model is None:
        model = VAE(settings.latent_dim, settings.hidden).to(device)
    elif model.latent_dim != settings.latent_dim or next(model.parameters()).device != device:
        raise ValueError(
            f"model has z in R^{model.latent_dim} on {next(model.parameters()).device}; the "
            f"settings ask for R^{settings.latent_dim} and the images are on {device}"
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, fused=device.type == "cuda")
    steps = max(1, round(settings.epochs * len(train_images) / settings.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    if snapshot_codes is None:
        snapshot_codes = torch.randn(
            16, settings.latent_dim, generator=torch.Generator().manual_seed(seed)
        )
    codes = snapshot_codes.to(device)
    trainer = Trainer(
        make_vae_step(model, optimizer, settings.beta),
        models={"vae": model},
        optimizers={"adam": optimizer},
        schedulers={"cosine": schedule},
        batches=BatchIterator(train_images, batch_size=settings.batch_size, seed=seed),
        log_every=max(1, min(100, steps // 20)),
        snapshot_fn=lambda: torch.sigmoid(model.decode(codes)),
        snapshot_every=max(1, steps // 6),
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc=f"VAE (z in R^{settings.latent_dim}, beta={settings.beta:g})",
    )
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        trainer.load_checkpoint()
    trainer.fit(steps)
    model.eval()
    return model, trainer


@torch.no_grad()
def evaluate_vae(
    model: VAE, images: torch.Tensor, beta: float = 1.0, batch_size: int = 1000
) -> dict[str, float]:
    """Mean negative ELBO, reconstruction and KL in nats per image, one z sample per image.

    The figure pytorch/examples' VAE reports as its test loss (summed BCE + KL).
    """
    model.eval()
    totals = torch.zeros(2, device=images.device)
    for x in images.split(batch_size):
        logits, mu, logvar = model(x)
        totals[0] += reconstruction_bce(logits, x).sum()
        totals[1] += gaussian_kl(mu.float(), logvar.float()).sum()
    rec, kl = (totals / len(images)).tolist()
    return {"negative_elbo": rec + beta * kl, "reconstruction": rec, "kl": kl}
