"""Chapter 06's recipe: GN-GAN (Tran, Bui and Cheung 2018), one step of its Algorithm 1.

Each step takes one real batch x and makes three updates, in this order:

1. the auto-encoder (E and G together) minimises
   V_AE = ||x - G(E(x))||^2 + lambda_r V_R, with V_R the neighbours embedding of a batch of
   codes z ~ N(0, I) and their samples G(z) (:func:`~course_lib.losses.neighbour_embedding`);
2. D maximises (1 - alpha) E log D(x) + alpha E log D(G(E(x))) + E log(1 - D(G(z)))
   - lambda_p V_P (:func:`~course_lib.losses.gngan_discriminator_loss` and the gradient
   penalty of chapter 04 on D's logit at points between x and G(z));
3. G minimises |E D(x) - E D(G(z))| + lambda_m1 ||E grad D(x) - E grad D(G(z))||^2
   + lambda_m2 (E grad D(x)^T x - E grad D(G(z))^T G(z))^2
   (:func:`~course_lib.losses.gngan_generator_loss`), with D = sigmoid(logit), the same D
   as in step 2; ``score="logit"`` matches the logit instead (not the paper's choice).

The reconstruction error is the mean squared error per coordinate (the paper writes the
squared norm; the two differ by the constant factor of the data's dimension, which
lambda_r absorbs). The training run is chapter 02's :func:`~course_lib.recipes.gan.fit_adversarial`
with the encoder's optimizer added. Everything runs in float32: the gradient-matching terms
differentiate D's gradient (a double backward pass), where bf16 autocast would cost accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .. import _validate as v
from ..config import budget
from ..data import BatchIterator
from ..losses import (
    gngan_discriminator_loss,
    gradient_matching,
    gradient_penalty,
    neighbour_embedding,
)
from ..training import Trainer
from .gan import check_training_data, fit_adversarial

__all__ = [
    "SCORES",
    "GNGANSettings",
    "grid_settings",
    "mnist_settings",
    "make_gngan_step",
    "train_gngan",
]

SCORES = ("probability", "logit")


@dataclass(frozen=True)
class GNGANSettings:
    """Everything that defines a GN-GAN run (the networks are built apart).

    The optimisation fields mean what they mean in :class:`~course_lib.recipes.gan.GANSettings`;
    ``lr_ae`` is the auto-encoder's (E and G) learning rate.
    """

    steps: int = 10_000  # iterations of Algorithm 1 (one update of E+G, D and G each)
    batch_size: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    lr_ae: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    decay: bool = True  # cosine decay of every learning rate to 0 over the run
    alpha: float = 0.5  # weight of V_C (reconstructions judged as real)
    lambda_r: float = 1.0  # weight of the neighbours embedding V_R in V_AE
    lambda_p: float = 1.0  # weight of the gradient penalty V_P in D's objective
    lambda_m1: float = 1.0  # weight of the first gradient-matching term
    lambda_m2: float = 1.0  # weight of the second gradient-matching term
    sigma_z: float = 1.0  # scale of the Student-t kernel on the codes z
    sigma_x: float = 1.0  # scale of the Student-t kernel on the samples G(z)
    score: str = "probability"  # what the generator matches: "probability" (the paper) or "logit"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be at least 2 (V_R needs pairs), got {self.batch_size}"
            )
        for name in ("lr_g", "lr_d", "lr_ae", "sigma_z", "sigma_x"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("lambda_r", "lambda_p", "lambda_m1", "lambda_m2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise ValueError(f"alpha must be a number in [0, 1], got {self.alpha!r}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        v.adam_betas(self.betas)
        v.flag("decay", self.decay)
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")


# The lecture's settings. The optimisation (steps, batch, Adam, decay) is that of chapter 02's
# mixture_settings("gan") / mnist_settings("gan"), so that GN-GAN and the GAN get the same
# budget. The GN-GAN weights are the course's choices (see notebooks/06_gngan.ipynb): on the
# grid the data spread about 2.8 times wider than z ~ N(0, I) per axis, hence sigma_x; a
# 2,000-step trial on the grid (seed 0) gave 22 modes / 13% high quality with lambda_r = 0.1
# against 21 modes / 6% with lambda_r = 1.
_GRID = GNGANSettings(sigma_x=2.0, lambda_r=0.1)
_MNIST = GNGANSettings(
    steps=3000,
    batch_size=128,
    lr_g=2e-4,
    lr_d=2e-4,
    lr_ae=2e-4,
    # Scales at which a typical pair has ||.||^2 / (2 sigma^2) near 1: the median squared
    # distance is about 128 between two codes z ~ N(0, I_64) and about 410 between two
    # training digits in [-1, 1] (measured on 500 pairs).
    sigma_z=8.0,
    sigma_x=14.0,
)


def grid_settings(**changes) -> GNGANSettings:
    """The lecture's settings for the MLPs on the 2-D mixtures (``changes`` override).

    Smoke mode keeps every field and cuts the steps to at most 40.
    """
    settings = replace(_GRID, **changes)
    return budget(settings, replace(settings, steps=min(settings.steps, 40)))


def mnist_settings(**changes) -> GNGANSettings:
    """The lecture's settings for the DCGAN networks on MNIST (``changes`` override).

    Smoke mode keeps every field but the budget: at most 5 steps of at most 64 images.
    """
    settings = replace(_MNIST, **changes)
    smoke = replace(settings, steps=min(settings.steps, 5), batch_size=min(settings.batch_size, 64))
    return budget(settings, smoke)


def _check_networks(generator: nn.Module, discriminator: nn.Module, encoder: nn.Module) -> int:
    for name, net in (
        ("generator", generator),
        ("discriminator", discriminator),
        ("encoder", encoder),
    ):
        if not isinstance(net, nn.Module):
            raise ValueError(f"the {name} must be an nn.Module, got {type(net).__name__}")
    latent_dim = getattr(generator, "latent_dim", None)
    if not isinstance(latent_dim, int):
        raise ValueError("the generator must have an int attribute latent_dim (the size of z)")
    if getattr(encoder, "latent_dim", None) != latent_dim:
        raise ValueError(
            f"the encoder must map to the generator's latent space: build it with "
            f"latent_dim={latent_dim}, got {getattr(encoder, 'latent_dim', None)!r}"
        )
    devices = {next(net.parameters()).device for net in (generator, discriminator, encoder)}
    if len(devices) > 1:
        raise ValueError(
            f"the three networks must be on one device, got {sorted(map(str, devices))}"
        )
    return latent_dim


def make_gngan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    encoder: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    opt_ae: torch.optim.Optimizer,
    settings: GNGANSettings,
):
    """One iteration of GN-GAN's Algorithm 1 on a real batch: E+G, then D, then G.

    ``opt_ae`` must hold the encoder's and the generator's parameters. The step returns the
    losses to log: ``ae`` (V_AE), ``recon`` (the reconstruction error), ``v_r`` (V_R), ``d``
    (what D minimised, penalty included), ``v_p`` (the penalty), ``g`` (V_G) and its terms
    ``score``, ``first`` and ``second``.
    """
    s = settings
    if not isinstance(s, GNGANSettings):
        raise ValueError(f"settings must be a GNGANSettings, got {type(s).__name__}")
    latent_dim = _check_networks(generator, discriminator, encoder)
    device = next(generator.parameters()).device

    def score(x: torch.Tensor) -> torch.Tensor:
        logits = discriminator(x).reshape(-1).float()
        return torch.sigmoid(logits) if s.score == "probability" else logits

    def gngan_step(real: torch.Tensor) -> dict[str, torch.Tensor]:
        x = real
        # 1. The auto-encoder: E and G minimise V_AE = ||x - G(E(x))||^2 + lambda_r V_R.
        z = torch.randn(len(x), latent_dim, device=device)
        recon_error = (generator(encoder(x)) - x).pow(2).mean()
        v_r = neighbour_embedding(z, generator(z), s.sigma_z, s.sigma_x)
        ae_loss = recon_error + s.lambda_r * v_r
        opt_ae.zero_grad(set_to_none=True)
        ae_loss.backward()
        opt_ae.step()

        # 2. D maximises (1 - alpha) E log D(x) + alpha V_C + E log(1 - D(G(z))) - lambda_p V_P.
        z = torch.randn(len(x), latent_dim, device=device)
        with torch.no_grad():
            fake = generator(z)
            recon = generator(encoder(x))
        d_loss = gngan_discriminator_loss(
            discriminator(x), discriminator(recon), discriminator(fake), s.alpha
        )
        v_p = gradient_penalty(discriminator, x, fake)
        d_total = d_loss + s.lambda_p * v_p
        opt_d.zero_grad(set_to_none=True)
        d_total.backward()
        opt_d.step()

        # 3. G minimises the score difference and the two gradient-matching terms.
        z = torch.randn(len(x), latent_dim, device=device)
        discriminator.requires_grad_(False)  # only G learns here: skip D's weight gradients
        try:
            terms = gradient_matching(score, x, generator(z))
            g_loss = terms.score + s.lambda_m1 * terms.first + s.lambda_m2 * terms.second
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            discriminator.requires_grad_(True)
        opt_g.step()
        return {
            "ae": ae_loss.detach(),
            "recon": recon_error.detach(),
            "v_r": v_r.detach(),
            "d": d_total.detach(),
            "v_p": v_p.detach(),
            "g": g_loss.detach(),
            "score": terms.score.detach(),
            "first": terms.first.detach(),
            "second": terms.second.detach(),
        }

    return gngan_step


def train_gngan(
    real: torch.Tensor,
    generator: nn.Module,
    discriminator: nn.Module,
    encoder: nn.Module,
    settings: GNGANSettings,
    seed: int = 0,
    snapshot_fn=None,
    snapshots: int = 6,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
) -> Trainer:
    """Train GN-GAN's ``generator``, ``discriminator`` and ``encoder`` on ``real`` (N, ...).

    The networks and the data must be on one device. D must treat the samples of a batch
    independently (no BatchNorm: build the DCGAN's with ``batch_norm=False``), since the
    penalty and the gradient matching use each sample's own gradient. Returns the trainer:
    ``trainer.history`` holds the curves and the snapshots of ``snapshot_fn()``;
    ``trainer.fit(more_steps)`` goes on; an existing ``checkpoint_path`` is resumed.
    """
    if not isinstance(settings, GNGANSettings):
        raise ValueError(f"settings must be a GNGANSettings, got {type(settings).__name__}")
    _check_networks(generator, discriminator, encoder)
    nets = {"generator": generator, "discriminator": discriminator, "encoder": encoder}
    check_training_data("real", real, nets, settings.batch_size, f"batch ({settings.batch_size})")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules()):
        raise ValueError(
            "the discriminator has BatchNorm, which mixes the samples of a batch: GN-GAN's "
            "gradient penalty and gradient matching need per-sample gradients; build it "
            "without (dcgan.Discriminator(batch_norm=False))"
        )
    return fit_adversarial(
        lambda opt_g, opt_d, opt_ae: make_gngan_step(
            generator, discriminator, encoder, opt_g, opt_d, opt_ae, settings
        ),
        generator,
        discriminator,
        settings,
        BatchIterator(real, batch_size=settings.batch_size, seed=seed),
        snapshot_fn=snapshot_fn,
        snapshots=snapshots,
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc="GN-GAN",
        encoder=encoder,
    )
