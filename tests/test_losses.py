import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_lib.losses import gaussian_kl, negative_elbo, reconstruction_bce
from course_lib.models.vae import reparameterize


def test_gaussian_kl_hand_computed():
    # mu = (1, 0), sigma^2 = (1, 2):
    # KL = -1/2 [(1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)] = 1 - ln(2) / 2
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    assert gaussian_kl(mu, logvar).item() == pytest.approx(1 - math.log(2) / 2, abs=1e-6)


def test_gaussian_kl_is_zero_at_the_prior_and_matches_torch_distributions():
    assert gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max() < 1e-7
    mu, logvar = torch.randn(5, 6), torch.randn(5, 6)
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = kl_divergence(q, p).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-5, atol=1e-5)


def test_reconstruction_bce_of_a_coin_flip_decoder_is_784_ln2():
    logits = torch.zeros(2, 1, 28, 28)  # p = 1/2 for every pixel
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(reconstruction_bce(logits, x), torch.full((2,), 784 * math.log(2)))


def test_negative_elbo_is_mean_of_reconstruction_plus_beta_kl():
    logits = torch.zeros(2, 1, 28, 28)
    x = torch.full((2, 1, 28, 28), 0.5)
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.zeros(2, 2)
    # KL per row: 0.5 and 0; reconstruction 784 ln 2 each; beta = 3
    expected = 784 * math.log(2) + 3 * (0.5 + 0) / 2
    assert negative_elbo(logits, x, mu, logvar, beta=3.0).item() == pytest.approx(expected)


def test_reparameterization_gradient_flows_to_mu_and_logvar():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
    torch.manual_seed(1)
    z = reparameterize(mu, logvar)
    torch.manual_seed(1)
    eps = torch.randn(1, 2)
    z.sum().backward()
    # dz/dmu = 1, dz/dlogvar = eps * sigma / 2
    torch.testing.assert_close(mu.grad, torch.ones(1, 2))
    torch.testing.assert_close(logvar.grad, eps * (0.5 * logvar.detach()).exp() / 2)


def test_reparameterize_has_the_right_distribution():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([2.0, -1.0]), torch.tensor([0.0, math.log(4.0)])
    z = reparameterize(mu.expand(50_000, 2), logvar.expand(50_000, 2))
    torch.testing.assert_close(z.mean(0), mu, atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 4)), "same shape"),
        (lambda: gaussian_kl(torch.zeros(3), torch.zeros(3)), "mu must have 2 dimensions"),
        (lambda: gaussian_kl(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2)), "floating"),
        (lambda: reconstruction_bce(torch.zeros(2, 784), torch.full((2, 784), 2.0)), "[0, 1]"),
        (lambda: reconstruction_bce(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28)), "same shape"),
        (
            lambda: negative_elbo(
                torch.zeros(2, 4),
                torch.zeros(2, 4),
                torch.zeros(2, 2),
                torch.zeros(2, 2),
                beta=-1.0,
            ),
            "beta",
        ),
        (
            lambda: negative_elbo(
                torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(3, 2), torch.zeros(3, 2)
            ),
            "mu must be (B, D)",
        ),
        (lambda: reparameterize(torch.zeros(2, 3), torch.zeros(2, 2)), "same shape"),
        (lambda: gaussian_kl([[0.0]], [[0.0]]), "torch.Tensor"),
    ],
)
def test_bad_inputs_raise_a_value_error_that_names_the_problem(call, words):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert words in str(info.value)


def test_gaussian_kl_per_dimension_sums_to_the_total():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    terms = gaussian_kl(mu, logvar, per_dimension=True)
    # dimension 0: -1/2 (1 + 0 - 1 - 1) = 1/2; dimension 1: -1/2 (1 + ln 2 - 2) = (1 - ln 2) / 2
    torch.testing.assert_close(terms, torch.tensor([[0.5, (1 - math.log(2)) / 2]]))
