"""Chapters 02 and 04's recipe: the alternating GAN / WGAN training step, written once.

One generator update follows ``d_steps`` (k) discriminator or critic updates, each on its own
real batch (Goodfellow et al. 2014, Algorithm 1; Arjovsky et al. 2017, Algorithm 1;
Gulrajani et al. 2017, Algorithm 1). The losses are those of :mod:`course_lib.losses`:

- ``"gan"``: D minimises -V(G, D); G minimises -E log D(G(z)) (non-saturating);
- ``"saturating"``: the same D, and G minimises E log(1 - D(G(z))) (the minimax form);
- ``"wgan-clip"``: the critic minimises E f(G(z)) - E f(x), its weights clipped to [-c, c];
- ``"wgan-gp"``: the same critic loss plus lambda * E(||grad f(x_hat)|| - 1)^2.

The same function trains the MLPs on the 2-D mixtures and the DCGAN on MNIST: the real data
is a tensor of examples on the device, drawn by a :class:`~course_lib.data.BatchIterator`.
With ``clusters`` = k (the MNIST runs of :func:`mnist_cluster_settings`), both networks are
conditioned on k-means pseudo-labels of the real data (:mod:`course_lib.clusters`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from .. import _validate as v
from ..clusters import kmeans
from ..config import budget
from ..data import BatchIterator
from ..device import autocast
from ..losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from ..models import dcgan
from ..training import Trainer

__all__ = [
    "LOSSES",
    "GANSettings",
    "mixture_settings",
    "mnist_settings",
    "mnist_cluster_settings",
    "mnist_discriminator",
    "make_gan_step",
    "train_gan",
    "fit_adversarial",
    "snapshot_every",
    "check_training_data",
    "log_every",
]

LOSSES = ("gan", "saturating", "wgan-clip", "wgan-gp")


@dataclass(frozen=True)
class GANSettings:
    """Everything that defines a GAN / WGAN training run (the networks are built apart)."""

    loss: str = "gan"  # one of LOSSES
    steps: int = 20_000  # generator updates
    d_steps: int = 1  # k: discriminator (critic) updates per generator update
    batch_size: int = 256
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay: bool = True  # cosine decay of both learning rates to 0 over the run
    label_smoothing: float = 0.0  # one-sided: real target 1 - s (GAN losses only)
    instance_noise: float = 0.0  # std of Gaussian noise added to D's real and fake inputs
    clip: float = 0.01  # weight clipping bound c ("wgan-clip")
    gp_weight: float = 10.0  # lambda ("wgan-gp")
    pack: int = 1  # PacGAN: D judges ``pack`` samples at once, concatenated (Lin et al. 2018)
    r1_gamma: float = 0.0  # R1: D's loss + gamma / 2 * E||grad D(x)||^2 (Mescheder et al. 2018)
    clusters: int = 0  # k-means pseudo-labels: D judges D(x, c), G draws G(z, c) (0: off)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("steps", "d_steps", "batch_size", "pack"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("lr_g", "lr_d", "clip", "gp_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        v.adam_betas(self.betas)
        v.flag("decay", self.decay)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not self.r1_gamma >= 0:
            raise ValueError(f"r1_gamma must be >= 0, got {self.r1_gamma!r}")
        if self.r1_gamma > 0 and self.wasserstein:
            raise ValueError("r1_gamma is for the GAN losses; a WGAN critic has its own constraint")
        if not self.instance_noise >= 0:
            raise ValueError(f"instance_noise must be >= 0, got {self.instance_noise!r}")
        if (
            not isinstance(self.clusters, int)
            or isinstance(self.clusters, bool)
            or self.clusters < 0
        ):
            raise ValueError(f"clusters must be an int >= 0, got {self.clusters!r}")
        if self.clusters and self.pack > 1:
            raise ValueError("clusters and pack > 1 do not combine: a pack mixes clusters")
        if self.batch_size % self.pack:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack})"
            )

    @property
    def wasserstein(self) -> bool:
        return self.loss.startswith("wgan")


# The lecture's settings for the 2-D mixtures and for MNIST, per loss; benchmarks/gan_*.py
# measure exactly these. Smoke mode keeps every field and cuts the steps.
_MIXTURE = {
    "gan": GANSettings(steps=10_000, lr_g=1e-3, lr_d=1e-3),
    "saturating": GANSettings(loss="saturating", steps=10_000, lr_g=1e-3, lr_d=1e-3),
    "wgan-clip": GANSettings(loss="wgan-clip", steps=4000, d_steps=5, lr_g=5e-5, lr_d=5e-5),
    "wgan-gp": GANSettings(
        loss="wgan-gp", steps=4000, d_steps=5, lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.9)
    ),
}
_MNIST = {
    "gan": GANSettings(steps=3000, batch_size=128, lr_g=2e-4, lr_d=2e-4),
    # 1000 generator steps are 5000 critic steps, each with a second backward pass for the
    # penalty: about as long as the DCGAN's 3000 steps.
    "wgan-gp": GANSettings(
        loss="wgan-gp",
        steps=1000,
        d_steps=5,
        batch_size=128,
        lr_g=2e-4,
        lr_d=2e-4,
        betas=(0.5, 0.9),
    ),
}


# The stabiliser chapters 02 and 04 add on MNIST: the same networks and losses, D and G
# conditioned on 50 k-means clusters of the training digits (:mod:`course_lib.clusters`),
# trained longer than the plain runs (the notebooks train on a GPU and load the shipped runs
# on a CPU). The plain runs stay far under issue #3's classifier score of 9 at any budget
# measured on a CPU; see benchmarks/RESULTS.md. The WGAN-GP with clusters takes two critic
# updates per generator step, not five, over 12,000 generator steps, against a critic twice as
# wide (:func:`mnist_discriminator`) that learns at twice the generator's rate (two time-scale
# updates, TTUR; benchmarks/RESULTS.md, "The faster critic" sections).
_MNIST_CLUSTERS = {
    "gan": replace(_MNIST["gan"], clusters=50, steps=9000),
    "wgan-gp": replace(_MNIST["wgan-gp"], clusters=50, steps=12000, d_steps=2, lr_d=4e-4),
}


def _preset(table: dict[str, GANSettings], what: str, loss: str, smoke_steps: int, changes):
    if loss not in table:
        raise ValueError(f"{what} settings exist for losses {sorted(table)}, got {loss!r}")
    settings = replace(table[loss], **changes)
    return budget(settings, replace(settings, steps=min(settings.steps, smoke_steps)))


def mixture_settings(loss: str = "gan", **changes) -> GANSettings:
    """The lecture's settings for the MLPs on the ring and the grid (``changes`` override)."""
    return _preset(_MIXTURE, "2-D mixture", loss, 40, changes)


def mnist_settings(loss: str = "gan", **changes) -> GANSettings:
    """The lecture's settings for the DCGAN on MNIST (``changes`` override)."""
    return _preset(_MNIST, "MNIST", loss, 5, changes)


def mnist_cluster_settings(loss: str = "gan", **changes) -> GANSettings:
    """The lecture's settings for the DCGAN on MNIST with k-means pseudo-labels."""
    return _preset(_MNIST_CLUSTERS, "MNIST (clusters)", loss, 5, changes)


def mnist_discriminator(settings: GANSettings, width: int | None = None) -> dcgan.Discriminator:
    """The lecture's MNIST discriminator (or critic) for a run with ``settings``, untrained:

    - no BatchNorm where a per-sample gradient penalty constrains it (WGAN-GP, R1): BatchNorm
      mixes the samples of a batch;
    - with ``settings.clusters`` = k, it judges D(x, c) with the cluster as k constant planes;
    - ``width`` (first-layer channels) 32, and 64 for the WGAN-GP with clusters; a ``width``
      given overrides it. A critic held to slope 1 that also judges 50 clusters needs the
      capacity: halfway through the same 12,000-step run on a GPU the WGAN-GP with clusters
      scored 8.18 with 32 channels and 8.88 with 64 (benchmarks/RESULTS.md, "A wider critic").
    """
    if not isinstance(settings, GANSettings):
        raise ValueError(f"settings must be a GANSettings, got {type(settings).__name__}")
    if width is None:
        width = 64 if settings.wasserstein and settings.clusters else 32
    return dcgan.Discriminator(
        width=width,
        batch_norm=not settings.wasserstein and settings.r1_gamma == 0,
        num_classes=settings.clusters or None,
    )


def make_gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    settings: GANSettings,
):
    """One GAN step: k updates of D (one per chunk of the real batch), then one of G.

    With ``settings.pack`` = m > 1, D judges m samples at a time, concatenated along the
    first feature axis, so it must be built for m times the input features (PacGAN).
    The step takes ``real`` of k * batch_size examples and returns the losses to log:
    ``d`` and ``g`` (what each network minimised), and for a WGAN ``wasserstein``, the
    critic's estimate E f(x) - E f(G(z)) of (K times) the earth mover's distance.

    With ``settings.clusters`` the step also takes ``clusters``, the pseudo-label of each
    real example: D judges each real image with its cluster, D(x, c), and each fake with the
    cluster G drew it from, G(z, c), taken from the same real batch (so fakes come from the
    clusters in proportion to their sizes, and the gradient penalty's interpolates pair a real
    and a fake image of one cluster).
    """
    s = settings
    latent_dim = generator.latent_dim
    device = next(generator.parameters()).device

    def judged(x: torch.Tensor) -> torch.Tensor:
        """What D sees: x with instance noise, and packed: (B, C, ...) -> (B / m, m C, ...)."""
        if s.instance_noise > 0:
            x = x + s.instance_noise * torch.randn_like(x)
        if s.pack > 1:
            x = x.reshape(len(x) // s.pack, s.pack * x.shape[1], *x.shape[2:])
        return x

    def d_of(c: torch.Tensor | None):
        """D as a function of the image alone: D(x), or D(x, c) for the clusters c."""
        return discriminator if c is None else lambda h: discriminator(h, c)

    def judge(x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return d_of(c)(judged(x))

    def generate(z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return generator(z) if c is None else generator(z, c)

    def gan_step(
        real: torch.Tensor, clusters: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        logs: dict[str, torch.Tensor] = {}
        chunks = [None] * s.d_steps if clusters is None else clusters.chunk(s.d_steps)
        for x, c in zip(real.chunk(s.d_steps), chunks, strict=True):
            z = torch.randn(len(x), latent_dim, device=device)
            with torch.no_grad(), autocast(device):
                fake = generate(z, c)
            fake = fake.float()
            with autocast(device):
                real_out = judge(x, c)
                fake_out = judge(fake, c)
            if s.wasserstein:
                critic = wasserstein_critic_loss(real_out, fake_out)
                d_loss = critic
                if s.loss == "wgan-gp":
                    penalty = gradient_penalty(d_of(c), judged(x), judged(fake))
                    d_loss = d_loss + s.gp_weight * penalty
                logs["wasserstein"] = -critic.detach()
            else:
                d_loss = discriminator_loss(real_out, fake_out, s.label_smoothing)
                if s.r1_gamma > 0:
                    d_loss = d_loss + s.r1_gamma / 2 * r1_penalty(d_of(c), judged(x))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if s.loss == "wgan-clip":
                with torch.no_grad():
                    for p in discriminator.parameters():
                        p.clamp_(-s.clip, s.clip)
        z = torch.randn(len(x), latent_dim, device=device)
        with autocast(device):
            fake_out = judge(generate(z, c), c)
        if s.wasserstein:
            g_loss = wasserstein_generator_loss(fake_out)
        else:
            g_loss = generator_loss(fake_out, saturating=s.loss == "saturating")
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"d": d_loss.detach(), "g": g_loss.detach(), **logs}

    return gan_step


def train_gan(
    real: torch.Tensor,
    generator: nn.Module,
    discriminator: nn.Module,
    settings: GANSettings,
    seed: int = 0,
    snapshot_fn=None,
    snapshots: int = 6,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
) -> Trainer:
    """Train ``generator`` against ``discriminator`` on ``real`` (N, ...) examples.

    The networks and the data must be on the same device (the one training runs on). Returns
    the trainer: ``trainer.history`` holds the curves and the snapshots of ``snapshot_fn()``;
    ``trainer.fit(more_steps)`` goes on. With ``checkpoint_path`` an existing checkpoint is
    resumed.

    With ``settings.clusters`` = k, k-means (seeded by ``seed``) first splits ``real`` into k
    clusters, the pseudo-labels D and G are conditioned on: the generator must be a
    :class:`~course_lib.models.dcgan.ClusterGenerator` with k clusters (its ``shares`` are set
    to the clusters' sizes here) and the discriminator built with ``num_classes=k``.
    """
    if not isinstance(settings, GANSettings):
        raise ValueError(f"settings must be a GANSettings, got {type(settings).__name__}")
    need = settings.d_steps * settings.batch_size
    check_training_data(
        "real",
        real,
        {"generator": generator, "discriminator": discriminator},
        need,
        f"step needs (d_steps * batch_size = {need})",
    )
    data = (real,)
    if settings.clusters:
        data = (real, _pseudo_labels(real, generator, discriminator, settings.clusters, seed))
    return fit_adversarial(
        lambda opt_g, opt_d: make_gan_step(generator, discriminator, opt_g, opt_d, settings),
        generator,
        discriminator,
        settings,
        BatchIterator(*data, batch_size=need, seed=seed),
        snapshot_fn=snapshot_fn,
        snapshots=snapshots,
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc=f"{settings.loss} (k={settings.d_steps})",
    )


def _pseudo_labels(
    real: torch.Tensor, generator: nn.Module, discriminator: nn.Module, k: int, seed: int
) -> torch.Tensor:
    """The k-means cluster of each real example; sets the generator's cluster shares."""
    if not hasattr(generator, "set_shares") or generator.num_classes != k:
        raise ValueError(
            f"settings.clusters={k} needs a generator that draws a cluster first: build it "
            f"with dcgan.ClusterGenerator(clusters={k})"
        )
    if getattr(discriminator, "num_classes", None) != k:
        raise ValueError(
            f"settings.clusters={k} needs a discriminator that judges D(x, c): build it with "
            f"dcgan.Discriminator(num_classes={k})"
        )
    found = kmeans(real, k, seed=seed)
    generator.set_shares(found.shares.to(generator.shares.device))
    return found.assignments


def check_training_data(
    name: str, data: torch.Tensor, networks: dict[str, nn.Module], need: int, unit: str
) -> torch.device:
    """What every GAN run checks before it trains: ``data`` is a float tensor of examples
    (N, ...) holding at least ``need`` of them (one ``unit``), and each network is on its
    device, which is returned."""
    if not isinstance(data, torch.Tensor) or not data.is_floating_point() or data.ndim < 2:
        raise ValueError(f"{name} must be a float tensor of examples, shape (N, ...)")
    device = data.device
    for net_name, net in networks.items():
        net_device = next(net.parameters()).device
        if net_device != device:
            raise ValueError(
                f"the {net_name} is on {net_device} but the data is on {device}; move both "
                f"with .to(device)"
            )
    if len(data) < need:
        raise ValueError(f"{name} holds {len(data)} examples, fewer than one {unit}")
    return device


def log_every(steps: int) -> int:
    """How often a run of ``steps`` steps reads its losses back: about 50 times, at most
    every 100 steps (each read waits for the device)."""
    return max(1, min(100, steps // 50))


def snapshot_every(steps: int, snapshots: int) -> int:
    """The steps between two snapshots of a run of ``steps`` that takes about ``snapshots``."""
    return max(1, steps // snapshots)


def fit_adversarial(
    make_step,
    generator: nn.Module,
    discriminator: nn.Module,
    settings,
    batches,
    snapshot_fn=None,
    snapshots: int = 6,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    desc: str = "",
    encoder: nn.Module | None = None,
) -> Trainer:
    """The training run shared by every GAN of the course (chapters 02, 04, 05 and 06).

    Two Adam optimizers with ``settings.lr_g`` / ``lr_d`` and ``betas`` (fused on CUDA), an
    optional cosine decay of both to 0 over ``settings.steps``, and a
    :class:`~course_lib.Trainer` around ``make_step(opt_g, opt_d)`` fed by ``batches``; an
    existing ``checkpoint_path`` is resumed. Leaves both networks in eval mode.

    With an ``encoder`` (GN-GAN, chapter 06) a third Adam at ``settings.lr_ae`` updates the
    encoder and the generator together (the auto-encoder x -> G(E(x))); the step is then
    built by ``make_step(opt_g, opt_d, opt_ae)``, and the encoder is checkpointed too.
    """
    fused = next(generator.parameters()).device.type == "cuda"
    for net in (generator, discriminator, encoder):
        if net is not None:
            # Convolutions run faster on channels-last tensors (oneDNN on CPUs, tensor cores
            # on GPUs); a no-op for MLPs. Same values, another layout in memory.
            net.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(
        generator.parameters(), lr=settings.lr_g, betas=settings.betas, fused=fused
    )
    opt_d = torch.optim.Adam(
        discriminator.parameters(), lr=settings.lr_d, betas=settings.betas, fused=fused
    )
    models = {"generator": generator, "discriminator": discriminator}
    optimizers = {"g": opt_g, "d": opt_d}
    if encoder is not None:
        models["encoder"] = encoder
        optimizers["ae"] = torch.optim.Adam(
            [*encoder.parameters(), *generator.parameters()],
            lr=settings.lr_ae,
            betas=settings.betas,
            fused=fused,
        )
    steps = settings.steps
    schedulers = {}
    if settings.decay:
        schedulers = {
            name: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
            for name, opt in optimizers.items()
        }
    trainer = Trainer(
        make_step(*optimizers.values()),
        models=models,
        optimizers=optimizers,
        schedulers=schedulers,
        batches=batches,
        log_every=log_every(steps),
        snapshot_fn=snapshot_fn,
        snapshot_every=snapshot_every(steps, snapshots) if snapshot_fn is not None else None,
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc=desc,
    )
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        trainer.load_checkpoint()
    trainer.fit(steps)
    for net in models.values():
        net.eval()
    return trainer
