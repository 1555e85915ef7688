"""course_lib.recipes.gan: the settings, the alternating step and train_gan.

Each test compares the step with something computed by hand: optimizer step counters, the
chunks of the real batch D sees, the weight-clipping bound, the gradient penalty of a linear
critic (its gradient is its weight vector everywhere, so the penalty is (||w|| - 1)^2 exactly),
and the generator's gradient against a fixed discriminator in closed form.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.gan import MLPDiscriminator, MLPGenerator
from course_lib.recipes import gan as recipe
from course_lib.recipes.gan import GANSettings, make_gan_step, train_gan


class Recorder(nn.Module):
    """Wraps a discriminator and keeps a copy of every batch it is shown."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return self.inner(x)


class ConstantGenerator(nn.Module):
    """G(z) = b for every z: its gradient is d loss / d x, summed over the batch."""

    latent_dim = 2

    def __init__(self, b: torch.Tensor):
        super().__init__()
        self.b = nn.Parameter(b.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.b.expand(len(z), -1)


class LinearCritic(nn.Module):
    """f(x) = w . x + c, one score per point (B,)."""

    def __init__(self, w: torch.Tensor, c: float = 0.0):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w + self.c


def adam_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    """The step counter of every parameter's Adam state (empty set: never stepped)."""
    return {int(state["step"]) for state in optimizer.state.values()}


def tiny_nets(seed: int = 0, width: int = 16):
    torch.manual_seed(seed)
    return MLPGenerator(2, 2, width, 2), MLPDiscriminator(2, width, 2)


def ring_points(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    angle = 2 * math.pi * torch.randint(8, (n,), generator=g) / 8
    return torch.stack([angle.cos(), angle.sin()], 1) + 0.01 * torch.randn(n, 2, generator=g)


# --- GANSettings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("loss", "wgan"),
        ("steps", 0),
        ("steps", 2.5),
        ("d_steps", 0),
        ("d_steps", True),
        ("batch_size", -8),
        ("pack", 0),
        ("lr_g", 0.0),
        ("lr_d", -1e-4),
        ("clip", 0.0),
        ("gp_weight", -10.0),
        ("label_smoothing", 1.0),
        ("label_smoothing", -0.1),
        ("instance_noise", -0.5),
        ("r1_gamma", -1.0),
    ],
)
def test_settings_reject_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GANSettings(**{field: value})


def test_settings_reject_a_batch_that_pack_does_not_divide():
    with pytest.raises(ValueError, match=r"batch_size \(10\) must be a multiple of pack \(3\)"):
        GANSettings(batch_size=10, pack=3)


def test_presets_keep_every_field_and_take_changes():
    s = recipe.mixture_settings("wgan-gp", lr_g=3e-4)
    assert s.loss == "wgan-gp" and s.d_steps == 5 and s.lr_g == 3e-4 and s.wasserstein
    assert recipe.mnist_settings("gan").batch_size == 128
    with pytest.raises(ValueError, match="MNIST settings exist for losses"):
        recipe.mnist_settings("wgan-clip")


def _width_norm_planes(d):
    first = d.features[0]
    has_norm = any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    return first.out_channels, has_norm, first.in_channels - 1


def test_only_the_wgan_gp_with_clusters_gets_the_wider_mnist_critic():
    wider = recipe.mnist_cluster_settings("wgan-gp")
    assert _width_norm_planes(recipe.mnist_discriminator(wider)) == (64, False, 50)
    for lecture, built in (
        (recipe.mnist_settings("gan"), (32, True, 0)),
        (recipe.mnist_settings("wgan-gp"), (32, False, 0)),
        (recipe.mnist_cluster_settings("gan"), (32, True, 50)),
        (recipe.mnist_settings("gan", r1_gamma=1.0), (32, False, 0)),  # R1: per-sample too
    ):
        assert _width_norm_planes(recipe.mnist_discriminator(lecture)) == built, lecture
    assert _width_norm_planes(recipe.mnist_discriminator(wider, 16)) == (16, False, 50)
    with pytest.raises(ValueError, match="settings must be a GANSettings, got str"):
        recipe.mnist_discriminator("wgan-gp")


# --- one step ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
def test_one_step_makes_k_discriminator_updates_and_one_generator_update(k):
    generator, inner = tiny_nets()
    discriminator = Recorder(inner)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    settings = GANSettings(d_steps=k, batch_size=8)
    step = make_gan_step(generator, discriminator, opt_g, opt_d, settings)
    real = torch.randn(k * 8, 2)
    logs = step(real)
    assert adam_steps(opt_d) == {k}
    assert adam_steps(opt_g) == {1}
    assert set(logs) == {"d", "g"}
    # D saw each chunk of 8 real points once, in order, each followed by 8 fakes; then G's
    # fakes: 2k + 1 batches of 8.
    assert len(discriminator.inputs) == 2 * k + 1
    for i, chunk in enumerate(real.chunk(k)):
        assert torch.equal(discriminator.inputs[2 * i], chunk)
    assert all(x.shape == (8, 2) for x in discriminator.inputs)
    step(real)
    assert adam_steps(opt_d) == {2 * k} and adam_steps(opt_g) == {2}


def test_weight_clipping_keeps_every_critic_weight_in_the_box():
    generator, critic = tiny_nets(width=32)
    c = 0.01
    assert max(p.abs().max().item() for p in critic.parameters()) > 10 * c  # not yet clipped
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(critic.parameters(), lr=0.5)  # big steps push weights out
    settings = GANSettings(loss="wgan-clip", d_steps=5, batch_size=16, clip=c)
    step = make_gan_step(generator, critic, opt_g, opt_d, settings)
    for _ in range(3):
        logs = step(torch.randn(80, 2))
        largest = max(p.abs().max().item() for p in critic.parameters())
        assert largest <= c
    assert largest == pytest.approx(c)  # the bound is reached: the clamp did the work
    assert set(logs) == {"d", "g", "wasserstein"}
    assert logs["wasserstein"].item() == pytest.approx(-logs["d"].item())  # no penalty term


@pytest.mark.parametrize("gp_weight", [10.0, 2.5])
def test_gradient_penalty_adds_exactly_its_weight_times_the_penalty(gp_weight):
    torch.manual_seed(3)
    w = torch.tensor([1.5, -2.0])  # ||w|| = 2.5: the penalty is (2.5 - 1)^2 = 2.25 anywhere
    critic = LinearCritic(w, 0.3)
    generator = MLPGenerator(2, 2, 16, 2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3)
    settings = GANSettings(loss="wgan-gp", batch_size=16, gp_weight=gp_weight)
    step = make_gan_step(generator, critic, opt_g, opt_d, settings)
    real = torch.randn(16, 2) + 3
    logs = step(real)
    # d = E f(G(z)) - E f(x) + lambda * penalty, and wasserstein = E f(x) - E f(G(z)).
    penalty = (w.norm() - 1) ** 2
    assert (logs["d"] + logs["wasserstein"]).item() == pytest.approx(
        gp_weight * penalty.item(), rel=1e-5
    )
    assert logs["wasserstein"].item() != pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("gamma", [1.0, 0.2])
def test_r1_adds_exactly_gamma_over_two_times_the_squared_gradient_on_real_data(gamma):
    w = torch.tensor([1.5, -2.0])  # a linear D: grad_x D = w, |w|^2 = 6.25 at every x
    losses_d = []
    for r1_gamma in (0.0, gamma):
        torch.manual_seed(3)  # the same codes for both runs; R1 itself draws nothing
        critic = LinearCritic(w, 0.3)
        generator = MLPGenerator(2, 2, 16, 2)
        opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
        opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3)
        settings = GANSettings(batch_size=16, r1_gamma=r1_gamma)
        step = make_gan_step(generator, critic, opt_g, opt_d, settings)
        losses_d.append(step(torch.randn(16, 2, generator=torch.Generator().manual_seed(0)))["d"])
    assert (losses_d[1] - losses_d[0]).item() == pytest.approx(gamma / 2 * 6.25, rel=1e-5)


def test_r1_is_refused_for_a_wasserstein_critic():
    with pytest.raises(ValueError, match="r1_gamma is for the GAN losses"):
        GANSettings(loss="wgan-gp", r1_gamma=1.0)


def test_the_generator_gradient_follows_the_closed_form_for_a_fixed_discriminator():
    # D(x) = sigmoid(w . x + c) stays fixed (its optimizer has lr 0); G(z) = b for every z.
    # With l = w . b + c: d/db log(1 - D) = -sigmoid(l) w (saturating),
    # d/db [-log D] = -(1 - sigmoid(l)) w (non-saturating).
    w = torch.tensor([2.0, -1.0])
    c = -1.0
    b = torch.tensor([-1.5, 1.0])  # l = -5: D(G(z)) = 0.0067, the generator is caught
    logit = (w @ b + c).item()
    grads, g_losses = {}, {}
    for loss in ("saturating", "gan"):
        generator = ConstantGenerator(b)
        critic = LinearCritic(w, c)
        opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)
        opt_d = torch.optim.SGD(critic.parameters(), lr=0.0)
        step = make_gan_step(generator, critic, opt_g, opt_d, GANSettings(loss=loss, batch_size=4))
        logs = step(torch.randn(4, 2))
        grads[loss] = generator.b.grad.clone()
        g_losses[loss] = logs["g"].item()
    sig = torch.sigmoid(torch.tensor(logit))
    assert torch.allclose(grads["saturating"], -sig * w, rtol=1e-5, atol=1e-7)
    assert torch.allclose(grads["gan"], -(1 - sig) * w, rtol=1e-5, atol=1e-7)
    assert grads["gan"].norm() / grads["saturating"].norm() == pytest.approx(
        math.exp(-logit), rel=1e-4
    )  # (1 - D) / D = e^{-l}: about 148 times larger here
    assert g_losses["saturating"] == pytest.approx(-F.softplus(torch.tensor(logit)).item())
    assert g_losses["gan"] == pytest.approx(F.softplus(torch.tensor(-logit)).item())


def test_label_smoothing_and_instance_noise_reach_the_discriminator():
    torch.manual_seed(0)
    critic = Recorder(LinearCritic(torch.tensor([1.0, 0.5]), 0.2))
    generator = ConstantGenerator(torch.tensor([0.3, -0.4]))
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)
    opt_d = torch.optim.SGD(critic.parameters(), lr=0.0)
    settings = GANSettings(batch_size=4000, label_smoothing=0.2, instance_noise=0.5)
    real = torch.randn(4000, 2)
    logs = make_gan_step(generator, critic, opt_g, opt_d, settings)(real)
    seen_real, seen_fake = critic.inputs[0], critic.inputs[1]
    noise = seen_real - real
    assert noise.std().item() == pytest.approx(0.5, rel=0.05)
    assert (seen_fake - torch.tensor([0.3, -0.4])).std().item() == pytest.approx(0.5, rel=0.05)
    # The returned d loss is that of the smoothed labels, on what D saw.
    real_logits = seen_real @ torch.tensor([1.0, 0.5]) + 0.2
    fake_logits = seen_fake @ torch.tensor([1.0, 0.5]) + 0.2
    expected = (0.8 * F.softplus(-real_logits) + 0.2 * F.softplus(real_logits)).mean() + F.softplus(
        fake_logits
    ).mean()
    assert logs["d"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["d"].item() != pytest.approx(
        (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()).item(), rel=1e-3
    )


def test_packing_shows_the_discriminator_m_samples_at_once():
    generator, _ = tiny_nets()
    critic = Recorder(MLPDiscriminator(2 * 4, 16, 2))
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3)
    step = make_gan_step(generator, critic, opt_g, opt_d, GANSettings(batch_size=16, pack=4))
    real = torch.randn(16, 2)
    step(real)
    assert critic.inputs[0].shape == (4, 8)
    assert torch.equal(critic.inputs[0], real.reshape(4, 8))  # 4 consecutive points per row


# --- train_gan ---------------------------------------------------------------------------


def test_train_gan_says_when_the_networks_and_the_data_are_on_different_devices():
    generator, discriminator = tiny_nets()
    real = torch.empty(1000, 2, device="meta")
    with pytest.raises(ValueError, match="generator is on cpu but the data is on meta"):
        train_gan(real, generator, discriminator, GANSettings(steps=1), progress=False)


def test_train_gan_says_when_there_is_too_little_data():
    generator, discriminator = tiny_nets()
    settings = GANSettings(steps=1, d_steps=5, batch_size=64)
    with pytest.raises(
        ValueError, match=r"fewer than one step needs \(d_steps \* batch_size = 320"
    ):
        train_gan(torch.randn(300, 2), generator, discriminator, settings, progress=False)


def test_train_gan_rejects_what_is_not_settings_or_data():
    generator, discriminator = tiny_nets()
    with pytest.raises(ValueError, match="settings must be a GANSettings"):
        train_gan(torch.randn(300, 2), generator, discriminator, {"steps": 1}, progress=False)
    with pytest.raises(ValueError, match="real must be a float tensor"):
        train_gan(torch.arange(300), generator, discriminator, GANSettings(), progress=False)


@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_a_tiny_run_returns_a_trainer_with_its_history(loss):
    generator, discriminator = tiny_nets()
    settings = GANSettings(loss=loss, steps=30, batch_size=32, d_steps=2)
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    trainer = train_gan(
        ring_points(2000),
        generator,
        discriminator,
        settings,
        snapshot_fn=lambda: generator(z),
        progress=False,
    )
    history = trainer.history
    assert trainer.step == 30 and history.steps[-1] == 30
    assert len(history.steps) == 30  # logged every step for so short a run
    expected = {"d", "g"} | ({"wasserstein"} if loss == "wgan-gp" else set())
    assert set(history.losses) == expected
    assert all(math.isfinite(x) for values in history.losses.values() for x in values)
    assert [s for s, _ in history.snapshots] == [5, 10, 15, 20, 25, 30]
    assert history.snapshots[-1][1].shape == (50, 2)
    assert adam_steps(trainer.optimizers["d"]) == {60} and adam_steps(trainer.optimizers["g"]) == {
        30
    }
    # the cosine schedule has brought both learning rates to 0; the nets are left in eval mode
    assert trainer.optimizers["g"].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert not generator.training and not discriminator.training


def test_without_decay_the_learning_rate_stays():
    generator, discriminator = tiny_nets()
    settings = GANSettings(steps=5, batch_size=32, lr_d=3e-4, decay=False)
    trainer = train_gan(ring_points(500), generator, discriminator, settings, progress=False)
    assert trainer.optimizers["d"].param_groups[0]["lr"] == 3e-4


@pytest.mark.parametrize("betas", [(0.5, 1.0), (0.5,), [0.5, 0.9], (True, 0.9), (-0.1, 0.9)])
def test_settings_refuse_betas_adam_cannot_use(betas):
    with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\) in \[0, 1\)"):
        GANSettings(betas=betas)


def test_settings_refuse_a_decay_that_is_not_a_bool():
    with pytest.raises(ValueError, match="decay must be True or False, got 1"):
        GANSettings(decay=1)
