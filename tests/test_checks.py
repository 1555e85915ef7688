import pytest
import torch

from course_lib import checks, losses
from course_lib.models.vae import reparameterize


def blank(*args):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_the_references_pass(capsys):
    assert checks.check_gaussian_kl(losses.gaussian_kl).passed
    assert checks.check_reparameterize(reparameterize).passed
    assert checks.check_negative_elbo(losses.negative_elbo).passed
    assert capsys.readouterr().out.count("✅") == 3


def test_a_blank_exercise_is_not_done_yet_and_does_not_raise(capsys):
    for check in (
        checks.check_gaussian_kl,
        checks.check_reparameterize,
        checks.check_negative_elbo,
    ):
        result = check(blank)
        assert not result.done and not result.passed
    assert capsys.readouterr().out.count("not done yet") == 3


def test_kl_sign_error_is_named_with_numbers():
    def wrong_sign(mu, logvar):  # +1/2 where the formula has -1/2
        return 0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1)

    with pytest.raises(checks.CheckFailed) as info:
        checks.check_gaussian_kl(wrong_sign)
    message = str(info.value)
    assert "wrong sign: expected [" in message
    expected = message.split("expected [")[1].split(",")[0]
    got = message.split("got [")[1].split(",")[0]
    assert float(got) == pytest.approx(-float(expected), rel=1e-3)


def test_kl_missing_sum_is_named():
    def no_sum(mu, logvar):
        return -0.5 * (1 + logvar - mu**2 - logvar.exp())

    with pytest.raises(checks.CheckFailed, match=r"shape \(6,\), got \(6, 5\).*sum\(dim=1\)"):
        checks.check_gaussian_kl(no_sum)


def test_kl_batch_mean_instead_of_per_row_is_named():
    with pytest.raises(checks.CheckFailed, match="not the batch mean"):
        checks.check_gaussian_kl(lambda mu, lv: losses.gaussian_kl(mu, lv).mean())


def test_reparameterize_with_the_variance_instead_of_sigma_is_named():
    def uses_variance(mu, logvar):
        return mu + logvar.exp() * torch.randn_like(mu)

    with pytest.raises(checks.CheckFailed, match="that is the variance"):
        checks.check_reparameterize(uses_variance)


def test_reparameterize_without_gradient_is_named():
    def sampled(mu, logvar):
        return torch.distributions.Normal(mu, (0.5 * logvar).exp()).sample()

    with pytest.raises(checks.CheckFailed, match="no gradient"):
        checks.check_reparameterize(sampled)


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        (lambda lo, x, mu, lv, beta: losses.reconstruction_bce(lo, x).mean(), "KL term is missing"),
        (
            lambda lo, x, mu, lv, beta: (
                losses.reconstruction_bce(lo, x) - beta * losses.gaussian_kl(mu, lv)
            ).mean(),
            "wrong sign",
        ),
        (
            lambda lo, x, mu, lv, beta: losses.negative_elbo(lo, x, mu, lv, 1.0),
            "beta does not multiply",
        ),
        (
            lambda lo, x, mu, lv, beta: losses.negative_elbo(lo, x, mu, lv, beta) * len(x),
            "summed over the batch",
        ),
        (
            lambda lo, x, mu, lv, beta: (
                losses.reconstruction_bce(lo, x) / 784 + beta * losses.gaussian_kl(mu, lv)
            ).mean(),
            "averaged over pixels",
        ),
    ],
)
def test_elbo_mistakes_are_named(wrong, words):
    with pytest.raises(checks.CheckFailed, match=words):
        checks.check_negative_elbo(wrong)


def test_an_exception_in_the_students_code_is_reported_not_a_crash():
    def broken(mu, logvar):
        return mu @ logvar  # shapes do not multiply

    with pytest.raises(checks.CheckFailed, match="gaussian_kl raised RuntimeError"):
        checks.check_gaussian_kl(broken)


def test_use_or_reference_falls_back_with_a_notice(capsys):
    assert checks.use_or_reference(blank, "gaussian_kl") is losses.gaussian_kl
    assert "not done yet" in capsys.readouterr().out
    negated = lambda mu, lv: -losses.gaussian_kl(mu, lv)  # noqa: E731
    assert checks.use_or_reference(negated, "gaussian_kl") is losses.gaussian_kl
    assert "does not pass its check" in capsys.readouterr().out

    def gaussian_kl(mu, logvar):
        return losses.gaussian_kl(mu, logvar)

    assert checks.use_or_reference(gaussian_kl) is gaussian_kl
    with pytest.raises(ValueError, match="no check named"):
        checks.use_or_reference(blank, "nope")
