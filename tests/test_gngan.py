"""Chapter 06, GN-GAN: the losses against values worked out by hand, the checks against
typical wrong answers, the recipe on a few CPU steps, and clear errors on bad input."""

import math

import pytest
import torch

from course_lib import checks, losses
from course_lib.checks import CheckFailed
from course_lib.models.dcgan import Discriminator, Generator
from course_lib.models.gan import MLPDiscriminator, MLPGenerator
from course_lib.models.gngan import ConvEncoder, MLPEncoder
from course_lib.recipes import gngan

# --- V_R, the neighbours embedding ---------------------------------------------------------


def _hand_affinities(points, sigma):
    """Symmetrised Student-t neighbour probabilities, in plain Python (lists of floats)."""
    n = len(points)

    def kernel(a, b):
        d2 = sum((u - v) ** 2 for u, v in zip(a, b, strict=True))
        return 1.0 / (1.0 + d2 / (2 * sigma**2))

    cond = [[0.0] * n for _ in range(n)]
    for i in range(n):
        row = {j: kernel(points[i], points[j]) for j in range(n) if j != i}
        total = sum(row.values())
        for j, k in row.items():
            cond[i][j] = k / total  # p_{j|i}
    return [[(cond[i][j] + cond[j][i]) / (2 * n) for j in range(n)] for i in range(n)]


def test_neighbour_embedding_matches_a_three_point_case_worked_by_hand():
    z = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
    x = [[0.0], [3.0], [1.0]]
    sigma_z, sigma_x = 1.0, 0.5
    # By hand, kernel 1 / (1 + d^2 / 2): k01 = 2/3, k02 = 1/3, k12 = 1 / (1 + 5/2) = 2/7, so
    # p_{1|0} = 2/3, p_{0|1} = (2/3) / (2/3 + 2/7) = 0.7, p_{2|0} = 1/3, p_{0|2} = 7/13,
    # p_{2|1} = 0.3, p_{1|2} = 6/13, and p_ij = (p_{j|i} + p_{i|j}) / 6.
    p = _hand_affinities(z, sigma_z)
    assert p[0][1] == pytest.approx((2 / 3 + 0.7) / 6)
    assert p[0][2] == pytest.approx((1 / 3 + 7 / 13) / 6)
    assert p[1][2] == pytest.approx((0.3 + 6 / 13) / 6)
    q = _hand_affinities(x, sigma_x)
    expected = sum(
        p[i][j] * math.log(p[i][j] / q[i][j]) for i in range(3) for j in range(3) if i != j
    )
    got = losses.neighbour_embedding(torch.tensor(z), torch.tensor(x), sigma_z, sigma_x)
    assert got.shape == ()
    assert got.item() == pytest.approx(expected, rel=1e-5)
    assert expected > 0.01  # a case where the neighbourhoods do differ


def test_affinities_are_symmetric_sum_to_one_and_ignore_the_pair_i_i():
    points = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    p = losses.student_t_affinities(points, 0.8)
    assert torch.allclose(p, p.T)
    assert p.sum().item() == pytest.approx(1.0, rel=1e-6)
    assert torch.all(p.diagonal() == 0)
    assert torch.allclose(p, torch.tensor(_hand_affinities(points.tolist(), 0.8)), atol=1e-7)


def test_neighbour_embedding_is_zero_for_a_rescaling_and_positive_for_a_collapse():
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(1))
    assert losses.neighbour_embedding(z, 4 * z, 1.0, 4.0).item() == pytest.approx(0, abs=1e-6)
    collapsed = torch.zeros(10, 2)
    collapsed[5:] = 1.0  # two points for ten codes: mode collapse
    assert losses.neighbour_embedding(z, collapsed, 1.0, 1.0).item() > 0.1


def test_neighbour_embedding_flattens_images_and_trains_the_samples():
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    images = torch.randn(5, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    images.requires_grad_(True)
    value = losses.neighbour_embedding(z, images, 1.0, 2.0)
    assert value.item() == pytest.approx(
        losses.neighbour_embedding(z, images.detach().flatten(1), 1.0, 2.0).item(), rel=1e-6
    )
    value.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


# --- the gradient-matching terms -----------------------------------------------------------


def test_gradient_matching_of_a_linear_d_in_closed_form():
    g = torch.Generator().manual_seed(4)
    w, bias = torch.randn(3, generator=g), 0.7
    real, fake = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)

    def d(x):
        return x @ w + bias

    terms = losses.gradient_matching(d, real, fake)
    # grad D = w everywhere: the first term is 0; grad D . x = w . x = D(x) - bias.
    gap = (real @ w).mean() - (fake @ w).mean()
    assert terms.score.item() == pytest.approx(gap.abs().item(), rel=1e-5)
    assert terms.first.item() == pytest.approx(0.0, abs=1e-10)
    assert terms.second.item() == pytest.approx(gap.pow(2).item(), rel=1e-5)


def test_gradient_matching_of_a_quadratic_d_and_the_gradient_that_reaches_g():
    g = torch.Generator().manual_seed(5)
    m = torch.randn(3, 3, generator=g)
    a = m + m.T  # symmetric
    b = torch.randn(3, generator=g)
    real = torch.randn(8, 3, generator=g)
    fake = torch.randn(8, 3, generator=g).requires_grad_(True)

    def d(x):  # D(x) = x^T A x / 2 + b . x, grad D(x) = A x + b
        return 0.5 * ((x @ a) * x).sum(1) + x @ b

    terms = losses.gradient_matching(d, real, fake)
    f = fake.detach()
    grad_r, grad_f = real @ a + b, f @ a + b  # by hand, no autograd
    expected_first = (grad_r.mean(0) - grad_f.mean(0)).pow(2).sum()
    dots_r, dots_f = (grad_r * real).sum(1), (grad_f * f).sum(1)
    expected_second = (dots_r.mean() - dots_f.mean()).pow(2)
    d_r = 0.5 * ((real @ a) * real).sum(1) + real @ b
    d_f = 0.5 * ((f @ a) * f).sum(1) + f @ b
    assert terms.score.item() == pytest.approx((d_r.mean() - d_f.mean()).abs().item(), rel=1e-5)
    assert terms.first.item() == pytest.approx(expected_first.item(), rel=1e-5)
    assert terms.second.item() == pytest.approx(expected_second.item(), rel=1e-5)
    # first = ||A (mean real - mean fake)||^2, so d first / d fake_j = -(2 / B) A^T A (m_r - m_f).
    (grad,) = torch.autograd.grad(terms.first, fake)
    diff = real.mean(0) - f.mean(0)
    expected_grad = -(2 / len(f)) * (a.T @ a @ diff)
    assert torch.allclose(grad, expected_grad.expand_as(grad), rtol=1e-4, atol=1e-6)


def test_generator_loss_weights_the_three_terms():
    g = torch.Generator().manual_seed(6)
    real, fake = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)

    def d(x):
        return torch.tanh(x).pow(3).sum(1)

    t = losses.gradient_matching(d, real, fake)
    got = losses.gngan_generator_loss(d, real, fake, lambda_m1=2.0, lambda_m2=0.5)
    assert got.item() == pytest.approx((t.score + 2 * t.first + 0.5 * t.second).item(), rel=1e-6)


# --- the discriminator objective -----------------------------------------------------------


def test_discriminator_loss_parts_on_known_values():
    zeros = torch.zeros(4)
    # D = 1/2 everywhere: every log is log(1/2), whatever alpha.
    for alpha in (0.0, 0.3, 1.0):
        got = losses.gngan_discriminator_loss(zeros, zeros, zeros, alpha)
        assert got.item() == pytest.approx(2 * math.log(2), rel=1e-6)
    # D(x) = sigmoid(log 3) = 3/4, D(G(E(x))) = 1/2, D(G(z)) = sigmoid(-log 3) = 1/4.
    real = torch.full((4,), math.log(3))
    recon = torch.zeros(4)
    fake = torch.full((4,), -math.log(3))
    alpha = 0.25
    expected = -((1 - alpha) * math.log(3 / 4) + alpha * math.log(1 / 2) + math.log(3 / 4))
    got = losses.gngan_discriminator_loss(real, recon, fake, alpha)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # alpha = 0 ignores the reconstructions entirely; alpha = 1 ignores the data.
    huge = torch.full((4,), -30.0)
    assert losses.gngan_discriminator_loss(real, huge, fake, 0.0).item() == pytest.approx(
        -2 * math.log(3 / 4), rel=1e-6
    )
    assert losses.gngan_discriminator_loss(huge, recon, fake, 1.0).item() == pytest.approx(
        math.log(2) - math.log(3 / 4), rel=1e-6
    )


# --- the checks reject typical wrong answers -----------------------------------------------


def _unsymmetrised(z, x, sz, sx):
    def cond(points, s):
        flat = points.flatten(1)
        k = 1 / (1 + torch.cdist(flat, flat).pow(2) / (2 * s**2))
        k = k * (1 - torch.eye(len(k)))
        return k / k.sum(1, keepdim=True) / len(k)

    p, q = cond(z, sz), cond(x, sx)
    off = ~torch.eye(len(p), dtype=torch.bool)
    return (p[off] * (p[off] / q[off]).log()).sum()


def _gaussian(z, x, sz, sx):
    def joint(points, s):
        flat = points.flatten(1)
        k = torch.exp(-torch.cdist(flat, flat).pow(2) / (2 * s**2)) * (1 - torch.eye(len(flat)))
        c = k / k.sum(1, keepdim=True)
        return (c + c.T) / (2 * len(c))

    p, q = joint(z, sz), joint(x, sx)
    off = ~torch.eye(len(p), dtype=torch.bool)
    return (p[off] * (p[off] / q[off]).log()).sum()


def _reversed(z, x, sz, sx):
    return losses.neighbour_embedding(x, z, sx, sz)  # KL(Q || P)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (_unsymmetrised, "not symmetrised"),
        (_gaussian, "Gaussian kernel"),
        (_reversed, "KL(Q || P)"),
        (lambda z, x, sz, sx: losses.neighbour_embedding(z, x, sx, sz), "swapped"),
        (lambda z, x, sz, sx: losses.neighbour_embedding(z, x, sz, sx).reshape(1), "shape"),
    ],
)
def test_check_neighbour_embedding_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        checks.check_neighbour_embedding(wrong)


def test_check_neighbour_embedding_passes_the_reference_and_waits_for_a_blank(capsys):
    assert checks.check_neighbour_embedding(losses.neighbour_embedding).passed

    def blank(z, x, sz, sx):
        raise NotImplementedError

    result = checks.check_neighbour_embedding(blank)
    assert not result.done and "not done yet" in capsys.readouterr().out


def _per_sample_gradients(score, x, keep):
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    values = score(x)
    (grad,) = torch.autograd.grad(values.sum(), x, create_graph=keep)
    return values, grad, x


def _matching(
    score,
    real,
    fake,
    *,
    at_mean=False,
    paired=False,
    keep=True,
    no_abs=False,
    element_mean=False,
    element_dot=False,
):
    d_r, g_r, x_r = _per_sample_gradients(score, real, False)
    d_f, g_f, x_f = _per_sample_gradients(score, fake, keep)
    if at_mean:  # gradient of D at the mean sample
        _, g_r, _ = _per_sample_gradients(score, real.mean(0, keepdim=True), False)
        _, g_f, _ = _per_sample_gradients(score, fake.mean(0, keepdim=True), keep)
    diff = d_r.detach().mean() - d_f.mean()
    score_term = diff if no_abs else diff.abs()
    if paired:
        first = (g_r.detach() - g_f).pow(2).sum(1).mean()
    elif element_mean:  # the squares averaged over the dimensions, not summed
        first = (g_r.detach().mean(0) - g_f.mean(0)).pow(2).mean()
    else:
        first = (g_r.detach().mean(0) - g_f.mean(0)).pow(2).sum()
    if element_dot:  # grad * x kept per element: no dot product
        second = ((g_r.detach() * real).mean(0) - (g_f * x_f).mean(0)).pow(2).sum()
    else:
        dots_r, dots_f = (g_r.detach() * real).sum(1), (g_f * x_f).sum(1)
        second = (dots_r.mean() - dots_f.mean()).pow(2)
    return score_term, first, second


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"at_mean": True}, "gradient at the mean sample"),
        ({"paired": True}, "paired one by one"),
        ({"no_abs": True}, "absolute value is missing"),
        ({"keep": False}, "create_graph=True"),
        ({"element_mean": True}, "averaged over the elements"),
        ({"element_dot": True}, "element-wise product"),
    ],
)
def test_check_gradient_matching_rejects_typical_mistakes(options, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_gradient_matching(lambda s, r, f: _matching(s, r, f, **options))


def test_check_gradient_matching_passes_a_correct_answer():
    assert checks.check_gradient_matching(_matching).passed
    assert checks.check_gradient_matching(
        lambda s, r, f: tuple(losses.gradient_matching(s, r, f))
    ).passed


def test_use_or_reference_knows_the_chapter_06_exercises(capsys):
    def blank(*args):
        raise NotImplementedError

    assert checks.use_or_reference(blank, "neighbour_embedding") is losses.neighbour_embedding
    fallback = checks.use_or_reference(blank, "gradient_matching")
    assert "reference" in capsys.readouterr().out
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    assert len(fallback(lambda x: x.sum(1), real, fake)) == 3


# --- the recipe ----------------------------------------------------------------------------


def _grid_networks():
    torch.manual_seed(0)
    return MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2), MLPEncoder(2, 2, 16, 2)


def test_recipe_runs_a_few_steps_on_the_plane_with_finite_losses(tmp_path):
    generator, discriminator, encoder = _grid_networks()
    real = torch.randn(500, 2)
    settings = gngan.GNGANSettings(steps=4, batch_size=32)
    before = [p.detach().clone() for p in encoder.parameters()]
    trainer = gngan.train_gngan(
        real,
        generator,
        discriminator,
        encoder,
        settings,
        progress=False,
        checkpoint_path=tmp_path / "gngan.pt",
    )
    last = trainer.history.last()
    for name in ("ae", "recon", "v_r", "d", "v_p", "g", "score", "first", "second"):
        assert math.isfinite(last[name]), name
    assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters(), strict=True))
    state = torch.load(tmp_path / "gngan.pt", weights_only=True)
    assert set(state["models"]) == {"generator", "discriminator", "encoder"}
    assert set(state["optimizers"]) == {"g", "d", "ae"}
    assert not encoder.training and not generator.training


def test_recipe_runs_on_mnist_shaped_images():
    torch.manual_seed(0)
    generator = Generator(latent_dim=8, width=4)
    discriminator = Discriminator(width=4, batch_norm=False)
    encoder = ConvEncoder(latent_dim=8, width=4)
    real = torch.rand(40, 1, 28, 28) * 2 - 1
    settings = gngan.GNGANSettings(steps=2, batch_size=16, sigma_x=8.0)
    trainer = gngan.train_gngan(real, generator, discriminator, encoder, settings, progress=False)
    assert all(math.isfinite(v) for v in trainer.history.last().values())


def test_presets_follow_chapter_02_budget(monkeypatch):
    from course_lib.recipes import gan

    monkeypatch.delenv("SMOKE_TEST", raising=False)  # the lecture budgets, not the smoke ones

    grid, plain = gngan.grid_settings(), gan.mixture_settings("gan")
    for field in ("steps", "batch_size", "lr_g", "lr_d", "betas", "decay"):
        assert getattr(grid, field) == getattr(plain, field), field
    mnist, plain = gngan.mnist_settings(), gan.mnist_settings("gan")
    for field in ("steps", "batch_size", "lr_g", "lr_d", "betas", "decay"):
        assert getattr(mnist, field) == getattr(plain, field), field


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha": 1.5}, "alpha must be in"),
        ({"batch_size": 1}, "at least 2"),
        ({"sigma_x": 0.0}, "sigma_x must be a positive"),
        ({"lambda_m1": -1.0}, "lambda_m1 must be a number >= 0"),
        ({"score": "log"}, "score must be one of"),
    ],
)
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        gngan.GNGANSettings(**changes)


def test_train_gngan_says_what_is_wrong():
    generator, discriminator, encoder = _grid_networks()
    settings = gngan.GNGANSettings(steps=1, batch_size=8)
    with pytest.raises(ValueError, match="latent_dim=2"):
        gngan.train_gngan(
            torch.randn(20, 2), generator, discriminator, MLPEncoder(2, 3, 8, 1), settings
        )
    with pytest.raises(ValueError, match="BatchNorm"):
        gngan.train_gngan(
            torch.rand(20, 1, 28, 28),
            Generator(latent_dim=8, width=4),
            Discriminator(width=4),
            ConvEncoder(latent_dim=8, width=4),
            settings,
        )
    with pytest.raises(ValueError, match="fewer than one batch"):
        gngan.train_gngan(torch.randn(5, 2), generator, discriminator, encoder, settings)
    with pytest.raises(ValueError, match="GNGANSettings"):
        gngan.train_gngan(torch.randn(20, 2), generator, discriminator, encoder, object())


def test_losses_say_what_is_wrong():
    with pytest.raises(ValueError, match="at least 2 samples"):
        losses.neighbour_embedding(torch.randn(1, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match="one row per sample"):
        losses.neighbour_embedding(torch.randn(4, 2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="sigma must be"):
        losses.student_t_affinities(torch.randn(4, 2), -1.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        losses.gngan_discriminator_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), 2.0)
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_matching(lambda x: x.sum(1), torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match="one value per sample"):
        losses.gradient_matching(lambda x: x, torch.randn(4, 2), torch.randn(4, 2))


def test_recipe_resumes_from_its_checkpoint_with_the_encoder(tmp_path):
    path = tmp_path / "gngan.pt"
    generator, discriminator, encoder = _grid_networks()
    real = torch.randn(300, 2)
    gngan.train_gngan(
        real,
        generator,
        discriminator,
        encoder,
        gngan.GNGANSettings(steps=2, batch_size=16),
        progress=False,
        checkpoint_path=path,
    )
    saved = {k: v.clone() for k, v in encoder.state_dict().items()}
    generator, discriminator, encoder = _grid_networks()  # fresh weights, then resumed
    trainer = gngan.train_gngan(
        real,
        generator,
        discriminator,
        encoder,
        gngan.GNGANSettings(steps=2, batch_size=16),
        progress=False,
        checkpoint_path=path,
    )
    assert trainer.step == 2  # nothing left to do: the checkpoint was at step 2
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, saved[name]), name
