"""course_lib.divergences against values worked out by hand, and against scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from course_lib import divergences as dv
from course_lib import losses

LOG2 = math.log(2)


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def normal(x: torch.Tensor, mu, sigma=1.0) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


@pytest.fixture()
def grid():
    x = torch.linspace(-15.0, 45.0, 6001, dtype=torch.float64)
    return x, (x[1] - x[0]).item()


# --- KL ---------------------------------------------------------------------------------


def test_kl_of_two_coins_by_hand():
    # 0.5 ln(0.5 / 0.25) + 0.5 ln(0.5 / 0.75) = 0.5 ln(4 / 3)
    assert dv.kl_divergence(t(0.5, 0.5), t(0.25, 0.75)).item() == pytest.approx(0.1438410362)
    # the other way round: 0.25 ln(0.5) + 0.75 ln(1.5): KL is not symmetric
    assert dv.kl_divergence(t(0.25, 0.75), t(0.5, 0.5)).item() == pytest.approx(0.1308120819)


def test_kl_zero_conventions():
    assert dv.kl_divergence(t(1.0, 0.0), t(0.5, 0.5)).item() == pytest.approx(LOG2)  # 0 log 0 = 0
    assert dv.kl_divergence(t(0.5, 0.5), t(1.0, 0.0)).item() == math.inf  # mass where q has none
    p = t(0.2, 0.0, 0.8)
    assert dv.kl_divergence(p, p).item() == 0.0


def test_kl_matches_scipy_on_random_batches():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(7, 5, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(7, 5, dtype=torch.float64), -1)
    got = dv.kl_divergence(p, q)
    assert got.shape == (7,)
    expected = [stats.entropy(a, b) for a, b in zip(p.numpy(), q.numpy(), strict=True)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert (got > 0).all()


def test_kl_gradient_is_finite_at_zero_probabilities():
    p = t(0.5, 0.5, 0.0).requires_grad_()
    q = t(0.25, 0.25, 0.5).requires_grad_()
    dv.kl_divergence(p, q).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
    # d/dq_i of sum p log(p / q) = -p_i / q_i
    np.testing.assert_allclose(q.grad.numpy(), [-2.0, -2.0, 0.0])


# --- JS ---------------------------------------------------------------------------------


def test_js_by_hand():
    # m = (0.75, 0.25): KL(p || m) = 0.5 ln(2/3) + 0.5 ln 2, KL(q || m) = ln(4/3)
    expected = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2) + math.log(4 / 3))
    assert dv.js_divergence(t(0.5, 0.5), t(1.0, 0.0)).item() == pytest.approx(expected)
    assert expected == pytest.approx(0.2157615543)


def test_js_bounds_disjoint_identical_and_symmetry():
    assert dv.js_divergence(t(1.0, 0.0), t(0.0, 1.0)).item() == pytest.approx(LOG2, abs=1e-15)
    assert dv.js_divergence(t(0.5, 0.5, 0, 0), t(0, 0, 0.3, 0.7)).item() == pytest.approx(LOG2)
    p = t(0.1, 0.0, 0.9)
    assert dv.js_divergence(p, p).item() == pytest.approx(0.0, abs=1e-15)
    torch.manual_seed(1)
    a = torch.softmax(3 * torch.randn(50, 4, dtype=torch.float64), -1)
    b = torch.softmax(3 * torch.randn(50, 4, dtype=torch.float64), -1)
    js = dv.js_divergence(a, b)
    torch.testing.assert_close(js, dv.js_divergence(b, a))
    assert (js >= 0).all() and (js <= LOG2).all()


def test_js_matches_scipy_and_broadcasts():
    torch.manual_seed(2)
    p = torch.softmax(torch.randn(6, 8, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(8, dtype=torch.float64), -1)  # one q for every row of p
    got = dv.js_divergence(p, q)
    expected = [jensenshannon(a, q.numpy()) ** 2 for a in p.numpy()]  # scipy: the square root
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_js_is_finite_where_the_smallest_float_would_round_the_mixture_to_zero():
    tiny = torch.finfo(torch.float64).smallest_normal * 2**-52  # the smallest subnormal
    p = t(1.0 - tiny, tiny)
    q = t(1.0, 0.0)
    assert 0.5 * tiny == 0.0  # the trap: m = (p + q) / 2 would be 0 where p is not
    assert dv.js_divergence(p, q).item() == pytest.approx(0.0, abs=1e-300)


def test_float32_inputs_give_float32():
    p = torch.tensor([0.5, 0.5])
    assert dv.js_divergence(p, torch.tensor([0.9, 0.1])).dtype == torch.float32


@pytest.mark.parametrize(
    ("p", "q", "words"),
    [
        (t(0.5, 0.6), t(0.5, 0.5), "p must sum to 1"),
        (t(0.5, 0.5), t(1.5, -0.5), "q must be non-negative"),
        (t(0.5, 0.5), t(0.2, 0.3, 0.5), "same number of outcomes"),
        ([0.5, 0.5], t(0.5, 0.5), "p must be a torch.Tensor"),
        (torch.tensor([1, 0]), t(0.5, 0.5), "floating-point"),
        (t(math.nan, 1.0), t(0.5, 0.5), "finite"),
    ],
)
def test_bad_distributions_are_named(p, q, words):
    for fn in (dv.kl_divergence, dv.js_divergence):
        with pytest.raises(ValueError, match=words):
            fn(p, q)


# --- densities on a grid ----------------------------------------------------------------


def test_kl_on_grid_matches_the_closed_form_of_chapter_01(grid):
    x, dx = grid
    x = x[(x > -14) & (x < 14)]  # keep N(0, 1) above float64 underflow
    got = dv.kl_on_grid(normal(x, 1.0, 2.0), normal(x, 0.0), dx).item()
    # KL(N(1, 2^2) || N(0, 1)) = -1/2 (1 + ln 4 - 1 - 4)
    by_hand = -0.5 * (1 + math.log(4) - 1 - 4)
    assert got == pytest.approx(by_hand, rel=1e-8)  # the grid stops 6.5 sigma out
    chapter_01 = losses.gaussian_kl(t(1.0)[None], t(math.log(4))[None]).item()
    assert got == pytest.approx(chapter_01, rel=1e-8)


def test_js_on_grid_matches_quadrature(grid):
    x, dx = grid
    for mu in (0.5, 2.0, 5.0):
        got = dv.js_on_grid(normal(x, 0.0), normal(x, mu), dx).item()

        def integrand(y, mu=mu):
            a, b = stats.norm.pdf(y), stats.norm.pdf(y, mu)
            return 0.5 * (a * np.log(2 * a / (a + b)) + b * np.log(2 * b / (a + b)))

        expected, _ = integrate.quad(integrand, -12, mu + 12, points=[0, mu / 2, mu], limit=200)
        assert got == pytest.approx(expected, rel=1e-8)


def test_js_saturates_at_log_2_and_its_gradient_vanishes(grid):
    x, dx = grid
    mus = torch.linspace(0, 30, 61, dtype=torch.float64)
    js = dv.js_on_grid(normal(x, 0.0), normal(x, mus[:, None]), dx)
    assert js[0].item() == pytest.approx(0.0, abs=1e-12)
    assert (js.diff() >= -1e-15).all()  # grows with the distance between the means
    assert js[-1].item() == pytest.approx(LOG2, abs=1e-12)

    def slope(mu: float) -> float:
        m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(dv.js_on_grid(normal(x, 0.0), normal(x, m), dx), m)
        return g.item()

    assert slope(2.0) > 0.2  # clearly informative while the densities overlap
    assert slope(20.0) == pytest.approx(0.0, abs=1e-15)  # gone once they are disjoint


def test_disjoint_uniforms_on_a_grid(grid):
    x, dx = grid
    step = torch.ones_like(x) / 1.0
    a = torch.where((x >= 0) & (x < 1), step, torch.zeros_like(x))
    b = torch.where((x >= 2) & (x < 3), step, torch.zeros_like(x))
    a, b = a / (a.sum() * dx), b / (b.sum() * dx)
    assert dv.js_on_grid(a, b, dx).item() == pytest.approx(LOG2, abs=1e-12)
    assert dv.kl_on_grid(a, b, dx).item() == math.inf
    assert dv.wasserstein_on_grid(a, b, dx).item() == pytest.approx(2.0, abs=2 * dx)


def test_grid_functions_check_the_mass_and_the_spacing(grid):
    x, dx = grid
    p = normal(x, 0.0)
    with pytest.raises(ValueError, match="integrate to 1"):
        dv.js_on_grid(p * dx, p, dx)  # probabilities passed where densities are expected
    with pytest.raises(ValueError, match="integrate to 1"):
        dv.kl_on_grid(p, normal(x, 50.0), dx)  # the grid misses most of N(50, 1)
    with pytest.raises(ValueError, match="dx must be a number > 0"):
        dv.wasserstein_on_grid(p, p, 0.0)


# --- Wasserstein ------------------------------------------------------------------------


def test_wasserstein_1d_by_hand_and_against_scipy():
    # sorted: (0, 1, 3) against (1, 2, 5): (1 + 1 + 2) / 3
    assert dv.wasserstein_1d(t(3.0, 0.0, 1.0), t(5.0, 2.0, 1.0)).item() == pytest.approx(4 / 3)
    g = torch.Generator().manual_seed(3)
    a = torch.randn(500, generator=g, dtype=torch.float64)
    b = 2 * torch.rand(500, generator=g, dtype=torch.float64) + 1
    expected = stats.wasserstein_distance(a.numpy(), b.numpy())
    assert dv.wasserstein_1d(a, b).item() == pytest.approx(expected, rel=1e-12)


def test_wasserstein_1d_rejects_unequal_sizes():
    with pytest.raises(ValueError, match="same shape"):
        dv.wasserstein_1d(t(1.0, 2.0), t(1.0, 2.0, 3.0))


def test_wasserstein_gaussians_closed_form(grid):
    x, dx = grid
    # equal variances: the distance between the means, whatever the variance
    assert dv.wasserstein_1d_gaussians(0.0, 7.5).item() == pytest.approx(7.5)
    assert dv.wasserstein_1d_gaussians(2.0, -1.0, 3.0, 3.0).item() == pytest.approx(3.0)
    # equal means: E|s Z| = s sqrt(2 / pi)
    assert dv.wasserstein_1d_gaussians(0.0, 0.0, 1.0, 3.0).item() == pytest.approx(
        2 * math.sqrt(2 / math.pi), rel=1e-6
    )
    # the general case against quadrature of |F_a - F_b|, and against the grid
    for mu_b, s_a, s_b in ((1.0, 1.0, 2.0), (3.0, 0.5, 1.5), (-2.0, 2.0, 1.0)):
        expected, _ = integrate.quad(
            lambda y, mu_b=mu_b, s_a=s_a, s_b=s_b: abs(
                stats.norm.cdf(y, 0, s_a) - stats.norm.cdf(y, mu_b, s_b)
            ),
            -30,
            30,
            limit=200,
        )
        got = dv.wasserstein_1d_gaussians(
            t(0.0), t(mu_b), t(s_a), t(s_b)
        ).item()  # float64 in, float64 out
        assert got == pytest.approx(expected, rel=1e-7)
        on_grid = dv.wasserstein_on_grid(normal(x, 0.0, s_a), normal(x, mu_b, s_b), dx).item()
        # the kink of |F_a - F_b| where the CDFs cross costs O(dx^2) on the grid
        assert on_grid == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="sigma_b must be > 0"):
        dv.wasserstein_1d_gaussians(0.0, 1.0, 1.0, 0.0)


def test_w1_grows_linearly_with_a_constant_gradient(grid):
    x, dx = grid
    for mu in (0.5, 5.0, 30.0):
        m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
        w = dv.wasserstein_on_grid(normal(x, 0.0), normal(x, m), dx)
        (g,) = torch.autograd.grad(w, m)
        assert w.item() == pytest.approx(mu, rel=1e-9)
        assert g.item() == pytest.approx(1.0, rel=1e-9)
        closed = dv.wasserstein_1d_gaussians(t(0.0), m)
        (g_closed,) = torch.autograd.grad(closed, m)
        assert g_closed.item() == pytest.approx(1.0)


# --- the GAN connection -----------------------------------------------------------------


def test_optimal_discriminator_by_hand():
    p_r, p_f = t(0.2, 0.0, 0.3, 0.0), t(0.6, 0.5, 0.0, 0.0)
    d = dv.optimal_discriminator(p_r, p_f)
    np.testing.assert_allclose(d.numpy(), [0.25, 0.0, 1.0, 0.5])  # 1/2 where neither has mass
    logits = dv.optimal_discriminator(p_r, p_f, logits=True)
    np.testing.assert_allclose(logits.numpy(), [math.log(1 / 3), -math.inf, math.inf, 0.0])
    torch.testing.assert_close(torch.sigmoid(logits), d)


def test_gan_value_by_hand():
    p_r, p_f = t(0.5, 0.5), t(0.25, 0.75)
    # D = 1/2 everywhere: log(1/2) from each expectation, whatever the densities
    assert dv.gan_value(p_r, p_f, t(0.5, 0.5), 1.0).item() == pytest.approx(-2 * LOG2)
    by_hand = (
        0.5 * math.log(0.8) + 0.5 * math.log(0.4) + 0.25 * math.log(0.2) + 0.75 * math.log(0.6)
    )
    assert dv.gan_value(p_r, p_f, t(0.8, 0.4), 1.0).item() == pytest.approx(by_hand)
    assert by_hand == pytest.approx(-1.355195, abs=1e-6)
    logit = torch.log(t(0.8, 0.4) / t(0.2, 0.6))
    assert dv.gan_value(p_r, p_f, logit, 1.0, logits=True).item() == pytest.approx(by_hand)
    # a discriminator that says 0 where real data lives pays -inf
    assert dv.gan_value(p_r, p_f, t(0.0, 0.5), 1.0).item() == -math.inf
    # ... but not where no real data lives (0 log 0 = 0)
    assert math.isfinite(dv.gan_value(t(0.0, 1.0), p_f, t(0.0, 0.5), 1.0).item())


def test_gan_value_checks_d():
    with pytest.raises(ValueError, match=r"d must hold the discriminator's outputs"):
        dv.gan_value(t(0.5, 0.5), t(0.5, 0.5), t(1.2, 0.5), 1.0)
    with pytest.raises(ValueError, match="same number of outcomes"):
        dv.gan_value(t(0.5, 0.5), t(0.5, 0.5), t(0.5, 0.5, 0.5), 1.0)


def test_optimal_discriminator_beats_every_perturbation(grid):
    x, dx = grid
    p_r = normal(x, 0.0)
    p_f = 0.5 * normal(x, -2.0, 0.5) + 0.5 * normal(x, 2.5)
    d_star = dv.optimal_discriminator(p_r, p_f, logits=True)  # exact in the far tails
    best = dv.gan_value(p_r, p_f, d_star, dx, logits=True)
    g = torch.Generator().manual_seed(4)
    for scale in (0.01, 0.1, 1.0):
        noisy = d_star + scale * torch.randn(x.shape, generator=g, dtype=x.dtype)
        assert dv.gan_value(p_r, p_f, noisy, dx, logits=True) < best
    # in probabilities, on discrete distributions: any move away from D* costs value
    p = torch.softmax(torch.randn(8, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(8, generator=g, dtype=torch.float64), -1)
    d_prob = dv.optimal_discriminator(p, q)
    for shift in (-0.05, 0.05):
        for i in range(8):
            moved = d_prob.clone()
            moved[i] += shift
            assert dv.gan_value(p, q, moved, 1.0) < dv.gan_value(p, q, d_prob, 1.0)


def test_value_at_the_optimal_discriminator_is_2_js_minus_2_log_2(grid):
    x, dx = grid
    # discrete distributions (dx = 1)
    g = torch.Generator().manual_seed(5)
    p = torch.softmax(torch.randn(10, 6, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(10, 6, generator=g, dtype=torch.float64), -1)
    v = dv.gan_value(p, q, dv.optimal_discriminator(p, q), 1.0)
    torch.testing.assert_close(v, 2 * dv.js_divergence(p, q) - 2 * LOG2)
    # densities: identical, overlapping, different widths, a mixture, far apart
    p_r = normal(x, 0.0)
    fakes = [
        p_r,
        normal(x, 1.0),
        normal(x, 3.0, 2.0),
        0.3 * normal(x, -2.0, 0.5) + 0.7 * normal(x, 4.0),
        normal(x, 30.0),
    ]
    for p_f in fakes:
        js = dv.js_on_grid(p_r, p_f, dx).item()
        v = dv.gan_value(p_r, p_f, dv.optimal_discriminator(p_r, p_f, logits=True), dx, True)
        assert v.item() == pytest.approx(2 * js - 2 * LOG2, abs=1e-12)
    # the minimum over the generator: -2 log 2, at p_f = p_r
    assert dv.gan_value(p_r, p_r, dv.optimal_discriminator(p_r, p_r), dx).item() == (
        pytest.approx(-2 * LOG2, abs=1e-12)
    )


def test_logits_keep_the_value_exact_where_d_rounds_to_0_or_1(grid):
    x, dx = grid
    p_r, p_f = normal(x, 0.0), normal(x, 10.0)
    d = dv.optimal_discriminator(p_r, p_f)
    assert ((d == 1.0) & (p_f > 0)).any()  # D* rounded to 1 where p_f is tiny but not 0
    assert dv.gan_value(p_r, p_f, d, dx).item() == -math.inf  # so log(1 - D*) = -inf there
    exact = dv.gan_value(p_r, p_f, dv.optimal_discriminator(p_r, p_f, True), dx, logits=True)
    js = dv.js_on_grid(p_r, p_f, dx).item()
    assert exact.item() == pytest.approx(2 * js - 2 * LOG2, abs=1e-12)
    assert -1e-5 < exact.item() < 0  # nearly 0 = 2 log 2 - 2 log 2: almost disjoint
