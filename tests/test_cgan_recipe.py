"""course_lib.recipes.cgan: settings, the one-hot conditioning, the cGAN / AC-GAN step,
train_conditional and the evaluation helpers; and chapter 05's exercise checks.

The step's losses are recomputed by hand from the networks' outputs on the same batch (the
random codes and digits replayed from the same RNG state), with the log-likelihoods written
from log-sigmoid and log-softmax rather than with the course's loss functions.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import checks
from course_lib.checks import CheckFailed
from course_lib.models import dcgan
from course_lib.recipes import cgan
from course_lib.recipes.cgan import ConditionalSettings, make_conditional_step, train_conditional


def adam_steps(optimizer: torch.optim.Optimizer) -> set[int]:
    return {int(state["step"]) for state in optimizer.state.values()}


def tiny_pair(kind: str, seed: int = 0, latent_dim: int = 8):
    torch.manual_seed(seed)
    generator = dcgan.Generator(latent_dim=latent_dim, width=4, num_classes=10)
    if kind == "cgan":
        discriminator = dcgan.Discriminator(width=4, num_classes=10)
    else:
        discriminator = dcgan.Discriminator(width=4, aux_classes=10)
    return generator, discriminator


def fake_mnist(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=g) * 2 - 1
    return images, torch.randint(10, (n,), generator=g)


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", "wgan"),
        ("steps", 0),
        ("steps", 2.5),
        ("batch_size", -8),
        ("batch_size", True),
        ("lr_g", 0.0),
        ("lr_d", -1e-4),
        ("betas", (0.5,)),
        ("betas", (0.5, 1.0)),
        ("decay", "yes"),
    ],
)
def test_settings_reject_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ConditionalSettings(**{field: value})


def test_lecture_settings_per_kind_with_changes_and_a_smaller_smoke_budget(monkeypatch):
    monkeypatch.delenv("SMOKE_TEST", raising=False)
    full = cgan.lecture_settings("acgan", lr_g=1e-4)
    assert full.kind == "acgan" and full.lr_g == 1e-4
    assert cgan.lecture_settings("cgan").kind == "cgan"
    with pytest.raises(ValueError, match="kind must be one of"):
        cgan.lecture_settings("gan")
    monkeypatch.setenv("SMOKE_TEST", "1")
    smoke = cgan.lecture_settings("acgan", lr_g=1e-4)
    assert smoke.steps == min(full.steps, 20) and smoke.batch_size == min(full.batch_size, 64)
    assert (smoke.kind, smoke.lr_g, smoke.lr_d, smoke.betas, smoke.decay) == (
        full.kind,
        full.lr_g,
        full.lr_d,
        full.betas,
        full.decay,
    )


# --- one-hot conditioning ------------------------------------------------------------------


def test_concat_label_and_label_planes_by_hand_and_as_the_models_do_it():
    z = torch.randn(3, 4)
    labels = torch.tensor([2, 0, 9])
    joined = cgan.concat_label(z, labels, 10)
    assert joined.shape == (3, 14)
    assert torch.equal(joined[:, :4], z)
    expected = torch.zeros(3, 10)
    expected[0, 2] = expected[1, 0] = expected[2, 9] = 1.0
    assert torch.equal(joined[:, 4:], expected)

    x = torch.randn(3, 1, 28, 28)
    planes = cgan.label_planes(x, labels, 10)
    assert planes.shape == (3, 11, 28, 28)
    assert torch.equal(planes[:, :1], x)
    assert torch.equal(planes[:, 1:], expected[:, :, None, None].expand(-1, -1, 28, 28))

    # The DCGAN's conditional forward passes are exactly these inputs through its layers.
    generator, discriminator = tiny_pair("cgan")
    generator.eval(), discriminator.eval()
    z = torch.randn(5, 8)
    c = torch.randint(10, (5,))
    assert torch.equal(
        generator.net(cgan.concat_label(z, c, 10)[:, :, None, None]), generator(z, c)
    )
    x = torch.randn(5, 1, 28, 28)
    h = discriminator.features(cgan.label_planes(x, c, 10))
    assert torch.equal(discriminator.source(h).flatten(), discriminator(x, c))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        cgan.concat_label(z, torch.tensor([0, 1, 2, 3, 10]), 10)


# --- one step ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cgan", "acgan"])
def test_one_step_updates_each_network_once(kind):
    generator, discriminator = tiny_pair(kind)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    step = make_conditional_step(generator, discriminator, opt_g, opt_d, kind)
    g_before = copy.deepcopy(generator.state_dict())
    d_before = copy.deepcopy(discriminator.state_dict())
    x, y = fake_mnist(16)
    logs = step(x, y)
    assert adam_steps(opt_d) == {1} and adam_steps(opt_g) == {1}
    expected = {"d", "g"} | ({"class_real", "class_fake"} if kind == "acgan" else set())
    assert set(logs) == expected
    for net, before in ((generator, g_before), (discriminator, d_before)):
        changed = [n for n, p in net.named_parameters() if not torch.equal(p, before[n])]
        assert len(changed) == len(list(net.parameters()))  # every weight moved
    step(x, y)
    assert adam_steps(opt_d) == {2} and adam_steps(opt_g) == {2}


def _log_likelihoods(source_real, source_fake, class_real, y, class_fake, c):
    """L_S and L_C of Odena et al. from the heads' logits, written out."""
    l_s = F.logsigmoid(source_real).mean() + F.logsigmoid(-source_fake).mean()
    l_c = (
        F.log_softmax(class_real, 1).gather(1, y[:, None]).mean()
        + F.log_softmax(class_fake, 1).gather(1, c[:, None]).mean()
    )
    return l_s, l_c


def _acgan_g_loss(g_copy, discriminator):
    """G's AC-GAN loss, taken against D after its update, on fresh codes and digits: the
    non-saturating source term -E log P(S=real | G(z, c)) plus -E log P(C=c | G(z, c));
    returns (that loss, its class term)."""
    z, c = torch.randn(16, 8), torch.randint(10, (16,))
    fake_s, fake_c = discriminator(g_copy(z, c))
    class_fake = -F.log_softmax(fake_c, 1).gather(1, c[:, None]).mean()
    return -F.logsigmoid(fake_s).mean() + class_fake, class_fake


def _one_step(kind, net_seed, data_seed, draw_seed, classify_fakes=True):
    """One step of ``kind`` (Adam 1e-2 for both nets) on 16 fake digits, torch seeded with
    ``draw_seed`` before it and again after it, so the caller replays the step's draws (z, c
    for D, then z, c for G); returns the logs, copies of G and D from before the step, D after
    it, and the digits (x, y)."""
    generator, discriminator = tiny_pair(kind, seed=net_seed)
    g_copy, d_copy = copy.deepcopy(generator), copy.deepcopy(discriminator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    step = make_conditional_step(generator, discriminator, opt_g, opt_d, kind, classify_fakes)
    x, y = fake_mnist(16, seed=data_seed)
    torch.manual_seed(draw_seed)
    logs = step(x, y)
    torch.manual_seed(draw_seed)
    return logs, g_copy, d_copy, discriminator, x, y


def test_acgan_losses_of_the_step_equal_the_log_likelihoods_recomputed_by_hand():
    logs, g_copy, d_copy, discriminator, x, y = _one_step("acgan", 3, 1, 123)
    with torch.no_grad():
        z, c = torch.randn(16, 8), torch.randint(10, (16,))
        fake = g_copy(z, c)
        real_s, real_c = d_copy(x)
        fake_s, fake_c = d_copy(fake)
        l_s, l_c = _log_likelihoods(real_s, fake_s, real_c, y, fake_c, c)
        assert logs["d"].item() == pytest.approx((-l_s - l_c).item(), rel=1e-5)
        assert logs["class_real"].item() == pytest.approx(F.cross_entropy(real_c, y).item())

        g_expected, class_fake = _acgan_g_loss(g_copy, discriminator)
        assert logs["g"].item() == pytest.approx(g_expected.item(), rel=1e-5)
        assert logs["class_fake"].item() == pytest.approx(class_fake.item(), rel=1e-5)


def test_acgan_with_classify_fakes_false_gives_d_the_real_half_of_l_c_only():
    logs, g_copy, d_copy, discriminator, x, y = _one_step("acgan", 5, 3, 321, False)
    with torch.no_grad():
        z, c = torch.randn(16, 8), torch.randint(10, (16,))
        real_s, real_c = d_copy(x)
        fake_s, fake_c = d_copy(g_copy(z, c))
        l_s, l_c = _log_likelihoods(real_s, fake_s, real_c, y, fake_c, c)
        l_c_real = F.log_softmax(real_c, 1).gather(1, y[:, None]).mean()
        assert logs["d"].item() == pytest.approx((-l_s - l_c_real).item(), rel=1e-5)
        assert abs((l_c - l_c_real).item()) > 0.1  # the paper's fake term was left out
        g_expected, _ = _acgan_g_loss(g_copy, discriminator)  # G's update is the paper's
        assert logs["g"].item() == pytest.approx(g_expected.item(), rel=1e-5)


def test_classify_fakes_is_an_acgan_setting_and_a_bool():
    assert ConditionalSettings(kind="acgan", classify_fakes=False).classify_fakes is False
    with pytest.raises(ValueError, match="AC-GAN setting"):
        ConditionalSettings(kind="cgan", classify_fakes=False)
    with pytest.raises(ValueError, match="classify_fakes"):
        ConditionalSettings(kind="acgan", classify_fakes="no")
    generator, discriminator = tiny_pair("acgan")
    opt = torch.optim.Adam(generator.parameters())
    with pytest.raises(ValueError, match="classify_fakes must be True or False"):
        make_conditional_step(generator, discriminator, opt, opt, "acgan", 0)


def test_cgan_losses_of_the_step_are_the_gan_losses_with_the_label_given_to_d():
    logs, g_copy, d_copy, discriminator, x, y = _one_step("cgan", 4, 2, 7)
    with torch.no_grad():
        z, c = torch.randn(16, 8), torch.randint(10, (16,))
        real, fake = d_copy(x, y), d_copy(g_copy(z, c), c)
        d_expected = -(F.logsigmoid(real).mean() + F.logsigmoid(-fake).mean())
        assert logs["d"].item() == pytest.approx(d_expected.item(), rel=1e-5)
        z2, c2 = torch.randn(16, 8), torch.randint(10, (16,))
        g_expected = -F.logsigmoid(discriminator(g_copy(z2, c2), c2)).mean()
        assert logs["g"].item() == pytest.approx(g_expected.item(), rel=1e-5)


def test_the_step_rejects_networks_that_do_not_fit_the_kind():
    generator, cgan_d = tiny_pair("cgan")
    _, acgan_d = tiny_pair("acgan")
    opt = torch.optim.SGD(generator.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="aux_classes=10"):
        make_conditional_step(generator, cgan_d, opt, opt, "acgan")
    with pytest.raises(ValueError, match="num_classes=10"):
        make_conditional_step(generator, acgan_d, opt, opt, "cgan")
    with pytest.raises(ValueError, match="the generator must be conditional"):
        make_conditional_step(dcgan.Generator(width=4), cgan_d, opt, opt, "cgan")
    with pytest.raises(ValueError, match="kind must be one of"):
        make_conditional_step(generator, cgan_d, opt, opt, "gan")


# --- train_conditional -------------------------------------------------------------------


def test_train_conditional_rejects_images_in_zero_one_and_bad_labels():
    generator, discriminator = tiny_pair("cgan")
    x, y = fake_mnist(32)
    settings = ConditionalSettings(steps=2, batch_size=8)
    with pytest.raises(ValueError, match=r"scaled to \[-1, 1\].*2 \* x - 1"):
        train_conditional((x + 1) / 2, y, generator, discriminator, settings, progress=False)
    with pytest.raises(ValueError, match="integer digits"):
        train_conditional(x, y.float(), generator, discriminator, settings, progress=False)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        train_conditional(x, y + 5, generator, discriminator, settings, progress=False)
    with pytest.raises(ValueError, match="one per image"):
        train_conditional(x, y[:-1], generator, discriminator, settings, progress=False)
    with pytest.raises(ValueError, match="ConditionalSettings"):
        train_conditional(x, y, generator, discriminator, {"steps": 2}, progress=False)


@pytest.mark.parametrize("kind", ["cgan", "acgan"])
def test_a_ten_step_run_trains_logs_and_takes_snapshots(kind):
    generator, discriminator = tiny_pair(kind)
    x, y = fake_mnist(32)
    settings = ConditionalSettings(kind=kind, steps=10, batch_size=8)
    trainer = train_conditional(
        x,
        y,
        generator,
        discriminator,
        settings,
        snapshot_fn=lambda: cgan.class_grid(generator, per_class=1),
        snapshots=5,
        progress=False,
    )
    assert trainer.step == 10
    names = {"d", "g"} | ({"class_real", "class_fake"} if kind == "acgan" else set())
    assert set(trainer.history.losses) == names
    assert all(torch.isfinite(torch.tensor(trainer.history[n])).all() for n in names)
    assert [s for s, _ in trainer.history.snapshots] == [2, 4, 6, 8, 10]
    assert trainer.history.snapshots[-1][1].shape == (10, 1, 28, 28)
    assert not generator.training and not discriminator.training
    assert trainer.optimizers["g"].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


# --- looking at the generator ------------------------------------------------------------


def test_class_grid_rows_are_digits_and_columns_share_a_code():
    generator, _ = tiny_pair("cgan")
    generator.eval()
    grid = cgan.class_grid(generator, per_class=3, seed=5)
    assert grid.shape == (30, 1, 28, 28)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for digit in (0, 4, 9):
            row = generator(z, torch.full((3,), digit))
            assert torch.allclose(grid[3 * digit : 3 * digit + 3], row, atol=1e-6)


class LookupGenerator(nn.Module):
    """A "generator" that returns real test digits: of the digit asked, or ignoring it."""

    latent_dim, num_classes = 4, 10

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, obey: bool):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the module a device
        self.bank = [images[labels == d] for d in range(10)]
        self.images, self.obey = images, obey

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        k = (z[:, 0].abs() * 1000).long()
        if self.obey:
            x = torch.stack(
                [self.bank[d][i % len(self.bank[d])] for d, i in zip(labels, k, strict=True)]
            )
        else:
            x = self.images[k % len(self.images)]
        return 2 * x - 1


def test_evaluate_conditional_tells_a_generator_that_obeys_from_one_that_does_not(mnist_test):
    images, labels = mnist_test.images, mnist_test.labels
    obeys = cgan.evaluate_conditional(LookupGenerator(images, labels, True), n=300, seed=1)
    ignores = cgan.evaluate_conditional(LookupGenerator(images, labels, False), n=300, seed=1)
    assert obeys["accuracy"] > 0.95 and ignores["accuracy"] < 0.25
    assert obeys["per_digit"].shape == (10,) and obeys["per_digit"].min() > 0.8
    assert obeys["accuracy"] == pytest.approx(obeys["per_digit"].mean().item(), abs=1e-9)
    assert obeys["classifier_score"] > 8.0  # real digits, all ten classes


def test_sample_digits_asks_for_uniform_digits_in_zero_one():
    generator, _ = tiny_pair("cgan")
    images, labels = cgan.sample_digits(generator.eval(), 25, seed=0, batch_size=10)
    assert images.shape == (25, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert labels.tolist() == [i % 10 for i in range(25)]


# --- chapter 05's exercise checks ----------------------------------------------------------


def test_the_conditioning_checks_pass_the_reference_and_name_known_mistakes():
    assert checks.check_concat_label(cgan.concat_label).passed
    assert checks.check_label_planes(cgan.label_planes).passed

    def label_first(z, labels, k):
        return torch.cat([F.one_hot(labels, k).float(), z], 1)

    def raw_label(z, labels, k):
        return torch.cat([z, labels[:, None].float()], 1)

    with pytest.raises(CheckFailed, match="one-hot label after z"):
        checks.check_concat_label(label_first)
    with pytest.raises(CheckFailed, match="one-hot"):
        checks.check_concat_label(raw_label)

    def planes_first(x, labels, k):
        planes = F.one_hot(labels, k).float()[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return torch.cat([planes, x], 1)

    def one_plane(x, labels, k):
        return torch.cat([x, labels.float()[:, None, None, None].expand_as(x)], 1)

    with pytest.raises(CheckFailed, match="image first"):
        checks.check_label_planes(planes_first)
    with pytest.raises(CheckFailed, match="one plane per class"):
        checks.check_label_planes(one_plane)


def test_the_acgan_check_rejects_the_swapped_and_the_non_saturating_losses():
    from course_lib import losses

    assert checks.check_acgan_losses(losses.acgan_losses).passed

    def swapped(*args):
        d, g = losses.acgan_losses(*args)
        return g, d

    def non_saturating(rs, fs, rc, ry, fc, fy):
        d, _ = losses.acgan_losses(rs, fs, rc, ry, fc, fy)
        return d, losses.generator_loss(fs) + F.cross_entropy(fc, fy)

    with pytest.raises(CheckFailed, match="loss of G"):
        checks.check_acgan_losses(swapped)
    with pytest.raises(CheckFailed, match="non-saturating"):
        checks.check_acgan_losses(non_saturating)


def test_train_conditional_says_which_network_is_not_with_the_images():
    torch.manual_seed(0)
    gen = dcgan.Generator(latent_dim=8, width=4, num_classes=10)
    disc = dcgan.Discriminator(width=4, num_classes=10).to("meta")
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    labels = torch.arange(64) % 10
    settings = ConditionalSettings(steps=1, batch_size=32)
    with pytest.raises(ValueError, match="discriminator is on meta but the data is on cpu"):
        train_conditional(images, labels, gen, disc, settings, progress=False)
    with pytest.raises(ValueError, match=r"images holds 16 examples, fewer than one batch \(32\)"):
        cpu_disc = dcgan.Discriminator(width=4, num_classes=10)
        train_conditional(images[:16], labels[:16], gen, cpu_disc, settings, progress=False)
