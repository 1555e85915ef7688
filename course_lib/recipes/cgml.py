"""Chapter 07's recipe: cGML, conditional generation by learning the latent space.

Ramasinghe et al. (ICLR 2021), Algorithm 1, for one batch of conditions x and targets y:

1. h = H(x); z_0 drawn uniformly from the unit ball of R^d; m_0 = 0.
2. M momentum steps on z with G and H frozen (:func:`latent_descent`):
   m_t = gamma m_{t-1} + beta grad_z L(G(h, z_t), y),  z_{t+1} = z_t - m_t,
   rho_t = ||z_{t+1} - z_t||.
3. After each inner step, one update of Z on (h, z_t) -> (z_{t+1}, rho_t), with the codes
   and h detached (Z learns to *imitate* the step without seeing y).
4. One update of G and H on the final code z_M (detached), Z frozen.

L is the L1 loss. Both G and Z carry a Lipschitz penalty (:func:`lipschitz_penalty`): their
inputs are perturbed by small Gaussian noise and the change of the output is penalised.

At inference y is unknown, so Z drives the code (:func:`infer`):
(z_hat, rho_hat) = Z(H(x), z_t), z_{t+1} = z_t + rho_hat (z_hat - z_t) / ||z_hat - z_t||.

The per-example loss in the inner loop is the mean absolute error over the output's
entries; ``beta`` is the step size for that scale. (Summing over the entries instead is the
same as multiplying ``beta`` by their number: 3 for the toy, 784 for MNIST.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import _validate as v
from ..config import budget
from ..data import STROKE_COLS, STROKE_ROWS, add_stroke, has_stroke, toy_modes
from ..training import Trainer
from .gan import log_every

__all__ = [
    "CGMLSettings",
    "toy_settings",
    "stroke_settings",
    "TOY_NETWORKS",
    "STROKE_NETWORKS",
    "build_networks",
    "sample_unit_ball",
    "LOSSES",
    "per_example_l1",
    "per_example_mse",
    "per_example_loss",
    "latent_descent",
    "lipschitz_penalty",
    "updater_loss",
    "Z_UPDATES",
    "make_cgml_step",
    "train_cgml",
    "inference_update",
    "InferenceResult",
    "infer",
    "toy_on_mode",
    "evaluate_toy",
    "phantom_starts",
    "evaluate_phantom",
    "nearest_mode_l1",
    "evaluate_stroke",
    "evaluate_regression",
    "make_regression_step",
    "train_regression",
]


LOSSES = ("l1", "mse")
Z_UPDATES = ("each", "once")


@dataclass(frozen=True)
class CGMLSettings:
    """Everything that defines a cGML training run (the networks are built apart).

    alpha of Algorithm 1 is ``lr`` (G and H) and ``lr_z`` (Z), used by Adam here.
    """

    steps: int = 3000  # outer updates of G and H
    batch_size: int = 256
    latent_dim: int = 2  # d, the size of z
    inner_steps: int = 8  # M
    beta: float = 0.5  # inner step size
    gamma: float = 0.5  # inner momentum
    lr: float = 1e-3  # alpha for G and H
    lr_z: float = 1e-3  # alpha for Z
    lipschitz_weight: float = 0.01
    lipschitz_noise: float = 0.01  # std of the input perturbation
    inference_steps: int = 8  # steps of Z at inference
    decay: bool = True  # cosine decay of both learning rates to 0
    loss: str = "l1"  # the regression loss L of G and H: "l1" (the poster's) or "mse"
    inner_loss: str = "l1"  # the loss whose gradient moves z in the inner loop
    z_loss: str = "l1"  # Z's imitation loss: "l1" (the poster's, a median) or "mse" (a mean)
    # "each": one update of Z after every inner step (Algorithm 1 as written); "once": one
    # update on the M pairs of the batch stacked (the same pairs, M times fewer updates).
    z_updates: str = "each"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "latent_dim", "inner_steps", "inference_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("beta", "lr", "lr_z", "lipschitz_noise"):
            v.positive(name, getattr(self, name))
        v.positive("lipschitz_weight", self.lipschitz_weight, allow_zero=True)
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)):
            raise ValueError(f"gamma must be a number in [0, 1), got {self.gamma!r}")
        if not 0 <= self.gamma < 1:
            raise ValueError(f"gamma must be in [0, 1) (a momentum), got {self.gamma!r}")
        v.flag("decay", self.decay)
        for name in ("loss", "inner_loss", "z_loss"):
            if getattr(self, name) not in LOSSES:
                raise ValueError(f"{name} must be one of {LOSSES}, got {getattr(self, name)!r}")
        if self.z_updates not in Z_UPDATES:
            raise ValueError(f"z_updates must be one of {Z_UPDATES}, got {self.z_updates!r}")


# The lecture's presets; benchmarks/cgml.py measures exactly these. The structure (L1 loss,
# z from the unit ball, momentum steps on z, Z imitating them, Lipschitz by perturbation) is
# the paper's; every number below is ours (the poster gives none), chosen by the short runs
# the chapter reports.
_TOY = CGMLSettings(
    steps=2000,
    batch_size=128,
    latent_dim=2,
    inner_steps=16,  # 8 leaves the small-x conditions short of their mode
    beta=0.5,
    gamma=0.5,
    lr=1e-3,
    lr_z=3e-3,
    lipschitz_weight=1e-3,
    lipschitz_noise=0.01,
    # Z's steps at inference (free: no retraining). On the shipped model, 1,000 x 8 starts:
    # 16 steps leave 2% of the outputs, at small x where the modes are close, short of a
    # mode (97.8% on one); 64 steps reach 99.7%.
    inference_steps=64,
    z_updates="once",  # the same pairs as "each", ~6 times faster on a CPU
)
_STROKE = CGMLSettings(
    steps=1000,
    batch_size=128,
    latent_dim=2,
    inner_steps=8,
    beta=50.0,  # the squared error of 784 pixels has small gradients: a large step
    gamma=0.5,
    lr=1e-3,
    lr_z=3e-3,
    lipschitz_weight=0.05,  # 0 and 0.2 both gave far fewer strokes (section 8)
    lipschitz_noise=0.01,
    inference_steps=8,
    loss="mse",
    inner_loss="mse",  # with L1, z learns the digit's details, never the stroke (section 8)
    z_loss="mse",  # a mean leans less to the majority mode than L1's median
    z_updates="once",
)
# The networks of each preset: (H, G, Z) sizes.
TOY_NETWORKS = {
    "cond_dim": 32,
    "width": 64,
    "encoder_width": 64,
    "inject": "input",
    "output": "linear",
}
STROKE_NETWORKS = {
    "cond_dim": 64,
    "width": 256,
    "encoder_width": 256,
    "inject": "every",
    "output": "linear",  # a sigmoid saturates at the stroke's 0 and stops z's gradient
}
SMOKE_STEPS = 30


def _preset(base: CGMLSettings, changes) -> CGMLSettings:
    settings = replace(base, **changes)
    return budget(settings, replace(settings, steps=min(settings.steps, SMOKE_STEPS)))


def toy_settings(**changes) -> CGMLSettings:
    """The lecture's settings for the 3-D toy (``changes`` override); 30 steps in smoke mode."""
    return _preset(_TOY, changes)


def stroke_settings(**changes) -> CGMLSettings:
    """The lecture's settings for stroke-MNIST (``changes`` override); 30 steps in smoke mode."""
    return _preset(_STROKE, changes)


def build_networks(settings: CGMLSettings, kind: str = "toy", **changes):
    """Fresh (H, G, Z) for ``kind`` "toy" (x (B, 1) -> y (B, 3)) or "stroke" (digits ->
    digits in [0, 1]), sized by TOY_NETWORKS / STROKE_NETWORKS (``changes`` override)."""
    from ..models.cgml import Encoder, Generator, LatentUpdater

    if kind not in ("toy", "stroke"):
        raise ValueError(f"kind must be 'toy' or 'stroke', got {kind!r}")
    net = {**(TOY_NETWORKS if kind == "toy" else STROKE_NETWORKS), **changes}
    d, c, w = settings.latent_dim, net["cond_dim"], net["width"]
    if kind == "toy":
        encoder = Encoder(1, c, net["encoder_width"], 2)
        generator = Generator(c, d, 3, w, 3, net["inject"], net["output"])
        updater = LatentUpdater(c, d, w, 3)
    else:
        encoder = Encoder((1, 28, 28), c, net["encoder_width"], 2)
        generator = Generator(c, d, (1, 28, 28), w, 3, net["inject"], net["output"])
        updater = LatentUpdater(c, d, 128, 3)
    return encoder, generator, updater


# --- the pieces of Algorithm 1 ---------------------------------------------------------


def sample_unit_ball(
    n: int, dim: int, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """n points drawn uniformly from the unit ball of R^dim, (n, dim).

    A uniform direction (a normalised Gaussian) times a radius U^(1/dim): the volume inside
    radius r grows like r^dim. Drawn on the CPU (seeded by ``generator``), then moved.
    """
    for name, value in (("n", n), ("dim", dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    direction = torch.randn(n, dim, generator=generator)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    radius = torch.rand(n, 1, generator=generator) ** (1.0 / dim)
    z = direction * radius
    return z.to(device) if device is not None else z


def per_example_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The L1 loss of each example: mean |output - target| over all but the first axis, (B,)."""
    v.same_shape("output", output, "target", target)
    return (output - target).abs().flatten(1).mean(dim=1)


def per_example_mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The squared error of each example: mean (output - target)^2 over all but the first
    axis, (B,)."""
    v.same_shape("output", output, "target", target)
    return (output - target).square().flatten(1).mean(dim=1)


def per_example_loss(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """:func:`per_example_l1` or :func:`per_example_mse`, by name."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return (per_example_l1 if loss == "l1" else per_example_mse)(output, target)


def latent_descent(
    objective: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    steps: int,
    beta: float,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """M momentum steps on the codes z, the networks untouched.

    objective: z (B, d) -> the loss of each example (B,); the codes of different examples
        do not interact, so the gradient of the sum gives each code its own gradient.
    Returns ``zs`` (steps + 1, B, d), the codes z_0 ... z_M, and ``rhos`` (steps, B), the
    step lengths ||z_{t+1} - z_t||; both detached.

        m_t = gamma m_{t-1} + beta grad_z L(z_t),   z_{t+1} = z_t - m_t,   rho_t = ||m_t||
    """
    v.tensor("z0", z0, ndim=2, floating=True)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    z = z0.detach()
    m = torch.zeros_like(z)
    zs, rhos = [z], []
    for _ in range(steps):
        z = z.detach().requires_grad_(True)
        losses = objective(z)
        if not isinstance(losses, torch.Tensor) or losses.shape != (len(z),):
            got = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses)
            raise ValueError(
                f"objective must return one loss per code, shape ({len(z)},), got {got}"
            )
        (grad,) = torch.autograd.grad(losses.sum(), z)
        m = gamma * m + beta * grad
        z = (z - m).detach()
        zs.append(z)
        rhos.append(m.norm(dim=1))
    return torch.stack(zs), torch.stack(rhos)


def lipschitz_penalty(
    net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | tuple],
    h: torch.Tensor,
    z: torch.Tensor,
    noise: float,
) -> torch.Tensor:
    """Mean |net(h + e_h, z + e_z) - net(h, z)| / noise, e ~ N(0, noise^2 I): the finite-
    difference slope of ``net`` around its inputs, the quantity the Lipschitz term keeps small.

    For Z, whose output is a pair (z_hat, rho_hat), both parts are compared.
    """

    def flat(out) -> torch.Tensor:
        parts = out if isinstance(out, tuple) else (out,)
        return torch.cat([p.reshape(len(h), -1) for p in parts], dim=1)

    clean = flat(net(h, z))
    moved = flat(net(h + noise * torch.randn_like(h), z + noise * torch.randn_like(z)))
    return (moved - clean).abs().mean() / noise


def updater_loss(
    updater: nn.Module,
    h: torch.Tensor,
    z_t: torch.Tensor,
    z_next: torch.Tensor,
    rho: torch.Tensor,
    kind: str = "l1",
) -> torch.Tensor:
    """Z's loss for imitating one inner step: |z_hat - z_{t+1}| + |rho_hat - rho_t| (``kind``
    "l1"), or the same with squares ("mse"), each averaged over the batch (and z's entries)."""
    if kind not in LOSSES:
        raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}")
    z_hat, rho_hat = updater(h, z_t)
    if kind == "l1":
        return (z_hat - z_next).abs().mean() + (rho_hat - rho).abs().mean()
    return (z_hat - z_next).square().mean() + (rho_hat - rho).square().mean()


def _frozen(module: nn.Module):
    """Context: ``module``'s parameters do not collect gradients inside the block."""

    class _Freeze:
        def __enter__(self):
            self.flags = [p.requires_grad for p in module.parameters()]
            for p in module.parameters():
                p.requires_grad_(False)

        def __exit__(self, *exc):
            for p, flag in zip(module.parameters(), self.flags, strict=True):
                p.requires_grad_(flag)

    return _Freeze()


def make_cgml_step(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    opt_gh: torch.optim.Optimizer,
    opt_z: torch.optim.Optimizer,
    settings: CGMLSettings,
    seed: int = 0,
):
    """One step of Algorithm 1 on a batch (x, y).

    Returns the losses to log: ``g`` (L1 of G at the final code, what G and H minimised),
    ``z`` (Z's L1 on its targets, averaged over the M inner steps), ``inner_start`` and
    ``inner_end`` (the L1 at z_0 and at z_M: what the inner loop gained), ``rho`` (the mean
    step length) and ``lip_g`` (G's Lipschitz term, unweighted).
    """
    s = settings
    if generator.latent_dim != s.latent_dim or updater.latent_dim != s.latent_dim:
        raise ValueError(
            f"settings.latent_dim is {s.latent_dim} but G has latent_dim {generator.latent_dim} "
            f"and Z {updater.latent_dim}; build them with the settings' latent_dim"
        )
    if not encoder.cond_dim == generator.cond_dim == updater.cond_dim:
        raise ValueError(
            f"H, G and Z must agree on cond_dim, got {encoder.cond_dim}, {generator.cond_dim} "
            f"and {updater.cond_dim}"
        )
    device = next(generator.parameters()).device
    codes = torch.Generator().manual_seed(seed)

    def cgml_step(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        h = encoder(x)
        z0 = sample_unit_ball(len(x), s.latent_dim, codes, device)

        # 2. the inner loop: M momentum steps on z, G and H frozen.
        h_fixed = h.detach()

        def objective(z: torch.Tensor) -> torch.Tensor:  # the loss of each code, (B,)
            return per_example_loss(generator(h_fixed, z), y, s.inner_loss)

        with _frozen(generator):
            zs, rhos = latent_descent(objective, z0, s.inner_steps, s.beta, s.gamma)

        # 3. Z imitates each step (z_t -> z_{t+1}, rho_t), h and the codes detached.
        if s.z_updates == "each":  # one update of Z after every inner step
            pairs = [(zs[t], zs[t + 1], rhos[t], h_fixed) for t in range(s.inner_steps)]
        else:  # one update on the M pairs stacked
            d = s.latent_dim
            pairs = [
                (
                    zs[:-1].reshape(-1, d),
                    zs[1:].reshape(-1, d),
                    rhos.reshape(-1),
                    h_fixed.repeat(s.inner_steps, 1),
                )
            ]
        z_losses = []
        for z_t, z_next, rho, h_t in pairs:
            z_loss = updater_loss(updater, h_t, z_t, z_next, rho, s.z_loss)
            if s.lipschitz_weight > 0:
                z_loss = z_loss + s.lipschitz_weight * lipschitz_penalty(
                    updater, h_t, z_t, s.lipschitz_noise
                )
            opt_z.zero_grad(set_to_none=True)
            z_loss.backward()
            opt_z.step()
            z_losses.append(z_loss.detach())

        # 4. G and H on the final code, Z frozen (it is not in this graph at all).
        z_final = zs[-1]
        y_hat = generator(h, z_final)
        g_loss = per_example_loss(y_hat, y, s.loss).mean()
        loss = g_loss
        lip = torch.zeros((), device=device)
        if s.lipschitz_weight > 0:
            lip = lipschitz_penalty(generator, h, z_final, s.lipschitz_noise)
            loss = loss + s.lipschitz_weight * lip
        opt_gh.zero_grad(set_to_none=True)
        loss.backward()
        opt_gh.step()
        with torch.no_grad():
            start = per_example_loss(generator(h_fixed, zs[0]), y, s.inner_loss).mean()
            end = per_example_loss(generator(h_fixed, zs[-1]), y, s.inner_loss).mean()
        return {
            "g": g_loss.detach(),
            "z": torch.stack(z_losses).mean(),
            "inner_start": start,
            "inner_end": end,
            "rho": rhos.mean(),
            "lip_g": lip.detach(),
        }

    return cgml_step


def _adam_run(params, lr, steps, decay, device):
    opt = torch.optim.Adam(params, lr=lr, fused=device.type == "cuda")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if decay else None
    return opt, sched


def train_cgml(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    batches: Iterator,
    settings: CGMLSettings,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
) -> Trainer:
    """Train H, G and Z by Algorithm 1 on ``batches`` of (x, y), e.g.
    ``BatchIterator(x, y, batch_size=settings.batch_size)`` or a
    :class:`~course_lib.data.StrokeBatches`.

    Adam for G and H (``settings.lr``) and for Z (``settings.lr_z``), cosine decay to 0 when
    ``settings.decay``. Returns the trainer (history; ``fit(more_steps)`` goes on); an
    existing ``checkpoint_path`` is resumed. Leaves the three networks in eval mode.
    """
    if not isinstance(settings, CGMLSettings):
        raise ValueError(f"settings must be a CGMLSettings, got {type(settings).__name__}")
    if not isinstance(batches, Iterator):
        raise ValueError(
            f"batches must be an iterator of (x, y) batches, got {type(batches).__name__}; "
            "use course_lib.BatchIterator(x, y, batch_size=settings.batch_size)"
        )
    device = next(generator.parameters()).device
    for name, net in (("encoder", encoder), ("updater", updater)):
        if next(net.parameters()).device != device:
            raise ValueError(f"the {name} is not on {device}, where G is; use .to(device)")
    gh_params = list(encoder.parameters()) + list(generator.parameters())
    opt_gh, sched_gh = _adam_run(gh_params, settings.lr, settings.steps, settings.decay, device)
    opt_z, _ = _adam_run(updater.parameters(), settings.lr_z, 1, False, device)
    schedulers = {"gh": sched_gh} if sched_gh is not None else {}
    trainer = Trainer(
        make_cgml_step(encoder, generator, updater, opt_gh, opt_z, settings, seed=seed),
        models={"encoder": encoder, "generator": generator, "updater": updater},
        optimizers={"gh": opt_gh, "z": opt_z},
        schedulers=schedulers,
        batches=batches,
        log_every=log_every(settings.steps),
        checkpoint_path=checkpoint_path,
        progress=progress,
        desc="cGML",
    )
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        trainer.load_checkpoint()
    trainer.fit(settings.steps)
    for net in (encoder, generator, updater):
        net.eval()
    return trainer


# --- inference with Z alone ----------------------------------------------------------


def inference_update(
    z: torch.Tensor, z_hat: torch.Tensor, rho_hat: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """One step of cGML's inference: z + rho_hat (z_hat - z) / ||z_hat - z||, row by row.

    z, z_hat: (B, d); rho_hat: (B,). The step has length exactly rho_hat, in the direction Z
    points; ``eps`` guards the division when z_hat = z (then the code stays put).
    """
    v.tensor("z", z, ndim=2, floating=True)
    v.same_shape("z", z, "z_hat", z_hat)
    v.tensor("rho_hat", rho_hat, ndim=1, floating=True)
    if len(rho_hat) != len(z):
        raise ValueError(f"rho_hat must have shape ({len(z)},), one per code, got {rho_hat.shape}")
    delta = z_hat - z
    norm = delta.norm(dim=1, keepdim=True)
    return z + rho_hat[:, None] * delta / norm.clamp_min(eps)


class InferenceResult(NamedTuple):
    """``path`` (steps + 1, B, d): the codes z_0 ... z_T; ``outputs``: G(H(x), z_T)."""

    path: torch.Tensor
    outputs: torch.Tensor


@torch.no_grad()
def infer(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    x: torch.Tensor,
    z0: torch.Tensor,
    steps: int,
    correction: bool = True,
) -> InferenceResult:
    """Walk the codes z0 (B, d) for ``steps`` steps of Z for the conditions x (B, ...).

    correction=True: the paper's rule, a step of length rho_hat toward z_hat
    (:func:`inference_update`). correction=False: jump to z_hat, z_{t+1} = z_hat (Z's mean
    guess alone, which stalls at phantom modes).
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    v.tensor("z0", z0, ndim=2, floating=True)
    if len(z0) != len(x):
        raise ValueError(f"z0 has {len(z0)} codes but x has {len(x)} conditions; give one each")
    h = encoder(x)
    z = z0.to(h.device)
    path = [z]
    for _ in range(steps):
        z_hat, rho_hat = updater(h, z)
        z = inference_update(z, z_hat, rho_hat) if correction else z_hat
        path.append(z)
    return InferenceResult(torch.stack(path), generator(h, z))


# --- measuring the toy -----------------------------------------------------------------


def toy_on_mode(outputs: torch.Tensor, x: torch.Tensor, tol: float = 0.1) -> torch.Tensor:
    """Which mode each output sits on: (B,) int, 0 for +f(x), 1 for -f(x), -1 for neither.

    An output is on a mode when its L2 distance to it is below ``tol`` times the mode's norm.
    """
    modes = toy_modes(x)  # (B, 2, 3)
    dist = (outputs[:, None, :] - modes).norm(dim=2) / modes.norm(dim=2)  # (B, 2)
    best = dist.argmin(dim=1)
    return torch.where(dist.min(dim=1).values < tol, best, torch.full_like(best, -1))


@torch.no_grad()
def evaluate_toy(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    conditions: int = 1000,
    starts: int = 8,
    steps: int = 8,
    correction: bool = True,
    tol: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """``conditions`` x in [0.1, 1] (evenly spaced) times ``starts`` codes from the unit ball:
    ``on_mode`` (share of outputs within ``tol`` of a mode), ``both_modes`` (share of
    conditions where both modes were reached) and ``plus_share`` (share of on-mode outputs
    on +f(x)).
    """
    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.1, 1.0, conditions).repeat_interleave(starts)[:, None].to(device)
    z0 = sample_unit_ball(len(x), generator.latent_dim, g, device)
    result = infer(encoder, generator, updater, x, z0, steps, correction)
    mode = toy_on_mode(result.outputs, x, tol).view(conditions, starts)
    on = mode >= 0
    both = ((mode == 0).any(dim=1) & (mode == 1).any(dim=1)).float().mean().item()
    plus = ((mode == 0).sum() / on.sum().clamp_min(1)).item()
    return {"on_mode": on.float().mean().item(), "both_modes": both, "plus_share": plus}


@torch.no_grad()
def phantom_starts(
    encoder: nn.Module,
    generator: nn.Module,
    x: torch.Tensor,
    updater: nn.Module | None = None,
    candidates: int = 256,
    bisections: int = 30,
    points: int = 201,
    seed: int = 0,
) -> torch.Tensor:
    """For each condition x (B, 1), a code between the two modes where they pull equally.

    Among ``candidates`` codes from the unit ball, take the one nearest to +f(x) and the one
    nearest to -f(x) (L1), and search the segment between them. Without ``updater``: bisect
    for the code whose output is as far from both modes (the border of G's two regions).
    With ``updater``: take, among ``points`` codes of the segment, the one where Z's average
    step ||z_hat - z|| is smallest (the phantom mode of Z). Conditions for which G reaches
    only one mode get NaN codes.
    """
    device = next(generator.parameters()).device
    d = generator.latent_dim
    g = torch.Generator().manual_seed(seed)
    h = encoder(x)
    b = len(x)
    cand = sample_unit_ball(candidates, d, g, device)  # the same candidates for every x
    hh = h.repeat_interleave(candidates, 0)
    out = generator(hh, cand.repeat(b, 1)).view(b, candidates, -1)
    modes = toy_modes(x)  # (B, 2, 3)
    gap = (out[:, :, None, :] - modes[:, None]).abs().mean(dim=3)  # (B, cand, 2)
    side = gap[..., 0] - gap[..., 1]  # < 0: nearer +f(x)
    a = cand[side.argmin(dim=1)]  # (B, d): the code most on the + side
    c = cand[side.argmax(dim=1)]
    ok = (side.min(dim=1).values < 0) & (side.max(dim=1).values > 0)
    if updater is not None:
        ts = torch.linspace(0, 1, points, device=device)  # (P,)
        line = a[:, None] + ts[None, :, None] * (c - a)[:, None]  # (B, P, d)
        z_hat, _ = updater(h.repeat_interleave(points, 0), line.reshape(-1, d))
        still = (z_hat.view(b, points, d) - line).norm(dim=2)  # (B, P)
        z = line[torch.arange(b), still.argmin(dim=1)]
        return torch.where(ok[:, None], z, torch.full_like(z, float("nan")))
    lo, hi = torch.zeros(b, 1, device=device), torch.ones(b, 1, device=device)
    for _ in range(bisections):
        mid = (lo + hi) / 2
        zm = a + mid * (c - a)
        gm = (generator(h, zm)[:, None, :] - modes).abs().mean(dim=2)
        plus_side = (gm[:, 0] - gm[:, 1] < 0)[:, None]
        lo = torch.where(plus_side, mid, lo)
        hi = torch.where(plus_side, hi, mid)
    z = a + (lo + hi) / 2 * (c - a)
    return torch.where(ok[:, None], z, torch.full_like(z, float("nan")))


@torch.no_grad()
def evaluate_phantom(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    conditions: int = 200,
    steps: int = 8,
    tol: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """Start at Z's phantom mode (:func:`phantom_starts` with the updater: the code between
    the two modes where Z's average step vanishes) for ``conditions`` x in [0.1, 1]; the share
    of outputs that end on a mode with the rho correction (``corrected``) and without it
    (``uncorrected``), ``found`` (the share of conditions where G reaches both modes from
    the unit ball) and ``first_step`` (the mean length of the first step, corrected and not).
    """
    device = next(generator.parameters()).device
    x = torch.linspace(0.1, 1.0, conditions)[:, None].to(device)
    z0 = phantom_starts(encoder, generator, x, updater, seed=seed)
    found = ~z0.isnan().any(dim=1)
    out = {"found": found.float().mean().item()}
    for name, correction in (("corrected", True), ("uncorrected", False)):
        if not found.any():
            out[name] = out[f"first_step_{name}"] = float("nan")
            continue
        res = infer(encoder, generator, updater, x[found], z0[found], steps, correction)
        out[name] = (toy_on_mode(res.outputs, x[found], tol) >= 0).float().mean().item()
        out[f"first_step_{name}"] = (res.path[1] - res.path[0]).norm(dim=1).mean().item()
    return out


# --- the plain regressions it is compared with --------------------------------------------


def make_regression_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: str):
    """One step of plain regression x -> y with ``loss`` "mse" or "l1" (no latent code)."""
    if loss not in ("mse", "l1"):
        raise ValueError(f"loss must be 'mse' or 'l1', got {loss!r}")
    criterion = F.mse_loss if loss == "mse" else F.l1_loss

    def regression_step(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        value = criterion(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return {loss: value.detach()}

    return regression_step


def train_regression(
    model: nn.Module,
    batches: Iterator,
    steps: int,
    loss: str = "mse",
    lr: float = 1e-3,
    progress: bool = True,
) -> Trainer:
    """Fit ``model`` x -> y on ``batches`` of (x, y) for ``steps`` Adam steps (cosine decay)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    device = next(model.parameters()).device
    opt, sched = _adam_run(model.parameters(), lr, steps, True, device)
    trainer = Trainer(
        make_regression_step(model, opt, loss),
        models={"model": model},
        optimizers={"opt": opt},
        schedulers={"opt": sched},
        batches=batches,
        log_every=log_every(steps),
        progress=progress,
        desc=f"regression ({loss})",
    )
    trainer.fit(steps)
    model.eval()
    return trainer


# --- measuring stroke-MNIST ------------------------------------------------------------


def nearest_mode_l1(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """(B,): the mean |output - mode| to the nearer of the two true modes of each input, the
    digit itself and the digit with the stroke.

    The outputs are measured as the images they are shown as: clipped to the pixel range
    [0, 1] first (a linear output layer overshoots on both sides; the same for every model)."""
    outputs = outputs.clamp(0, 1)
    plain = per_example_l1(outputs, inputs)
    stroked = per_example_l1(outputs, add_stroke(inputs))
    return torch.minimum(plain, stroked)


@torch.no_grad()
def evaluate_stroke(
    encoder: nn.Module,
    generator: nn.Module,
    updater: nn.Module,
    images: torch.Tensor,
    starts: int = 16,
    steps: int = 8,
    correction: bool = True,
    seed: int = 0,
    batch_size: int = 2000,
) -> dict[str, float]:
    """For each digit of ``images`` (N, 1, 28, 28) and ``starts`` codes from the unit ball:
    ``stroke_share`` (share of outputs with the stroke), ``both_modes`` (share of digits
    with outputs with and without it) and ``l1_nearest`` (mean L1 to the nearer true mode).
    """
    device = next(generator.parameters()).device
    g = torch.Generator().manual_seed(seed)
    x = images.repeat_interleave(starts, 0)
    z0 = sample_unit_ball(len(x), generator.latent_dim, g, device)
    strokes, l1 = [], []
    for i in range(0, len(x), batch_size):
        res = infer(encoder, generator, updater, x[i : i + batch_size], z0[i : i + batch_size],
                    steps, correction)  # fmt: skip
        strokes.append(has_stroke(res.outputs))
        l1.append(nearest_mode_l1(res.outputs, x[i : i + batch_size]))
    stroke = torch.cat(strokes).view(len(images), starts)
    both = (stroke.any(dim=1) & (~stroke).any(dim=1)).float().mean().item()
    return {
        "stroke_share": stroke.float().mean().item(),
        "both_modes": both,
        "l1_nearest": torch.cat(l1).mean().item(),
    }


@torch.no_grad()
def evaluate_regression(model: nn.Module, images: torch.Tensor) -> dict[str, float]:
    """A plain regression on the same digits: its stroke share, and its mean L1 to the nearer
    true mode, and the mean brightness of its stroke pixels (0.3 is the average of the modes)."""
    out = model(images)
    r0, r1 = STROKE_ROWS
    c0, c1 = STROKE_COLS
    return {
        "stroke_share": has_stroke(out).float().mean().item(),
        "l1_nearest": nearest_mode_l1(out, images).mean().item(),
        "stroke_brightness": out[:, 0, r0:r1, c0:c1].mean().item(),
    }
