import pytest
import torch
import torch.nn.functional as F

from course_lib import checks, losses


def blank(*args):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_the_references_pass(capsys):
    assert checks.check_discriminator_loss(losses.discriminator_loss).passed
    assert checks.check_generator_loss(losses.generator_loss).passed
    saturating = lambda f: losses.generator_loss(f, saturating=True)  # noqa: E731
    assert checks.check_generator_loss(saturating, saturating=True).passed
    assert checks.check_gradient_penalty(losses.gradient_penalty).passed
    assert capsys.readouterr().out.count("✅") == 4


def test_blank_exercises_are_not_done_yet(capsys):
    for check in (
        checks.check_discriminator_loss,
        checks.check_generator_loss,
        checks.check_gradient_penalty,
    ):
        result = check(blank)
        assert not result.done and not result.passed
    assert capsys.readouterr().out.count("not done yet") == 3


def test_discriminator_loss_with_swapped_labels_is_named():
    def swapped(real, fake):
        return F.softplus(real).mean() + F.softplus(-fake).mean()

    with pytest.raises(checks.CheckFailed, match="real and fake are swapped"):
        checks.check_discriminator_loss(swapped)


def test_discriminator_loss_missing_fake_term_is_named():
    with pytest.raises(checks.CheckFailed, match="the fake term is missing"):
        checks.check_discriminator_loss(lambda real, fake: F.softplus(-real).mean())


def test_discriminator_loss_with_the_sigmoid_twice_is_named():
    def twice(real, fake):
        bce = F.binary_cross_entropy_with_logits
        p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
        return bce(p_real, torch.ones_like(p_real)) + bce(p_fake, torch.zeros_like(p_fake))

    with pytest.raises(checks.CheckFailed, match="sigmoid is applied twice"):
        checks.check_discriminator_loss(twice)


def test_discriminator_loss_with_the_wrong_sign_gives_numbers():
    with pytest.raises(checks.CheckFailed, match=r"wrong sign: expected \[[0-9.]+\], got \[-"):
        checks.check_discriminator_loss(lambda r, f: -losses.discriminator_loss(r, f))


def test_generator_loss_forms_are_told_apart():
    with pytest.raises(checks.CheckFailed, match="that is the saturating loss"):
        checks.check_generator_loss(lambda f: losses.generator_loss(f, saturating=True))
    with pytest.raises(checks.CheckFailed, match="that is the non-saturating loss"):
        checks.check_generator_loss(losses.generator_loss, saturating=True)
    with pytest.raises(checks.CheckFailed, match="not a value per example"):
        checks.check_generator_loss(lambda f: F.softplus(-f))


def _penalty(norm_of):
    """A gradient penalty whose per-sample reduction is ``norm_of(grad) -> penalty``."""

    def fn(critic, real, fake):
        eps = torch.rand(len(real), *([1] * (real.ndim - 1)))
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return norm_of(grad)

    return fn


def test_gradient_penalty_per_element_norm_is_caught():
    per_element = _penalty(lambda g: (g.abs() - 1).pow(2).mean())
    with pytest.raises(checks.CheckFailed, match="norm is taken per element"):
        checks.check_gradient_penalty(per_element)


def test_gradient_penalty_channel_norm_is_caught():
    over_channels = _penalty(lambda g: (g.norm(dim=1) - 1).pow(2).mean())
    with pytest.raises(checks.CheckFailed, match="over dim=1"):
        checks.check_gradient_penalty(over_channels)


def test_gradient_penalty_missing_square_is_caught():
    no_square = _penalty(lambda g: (g.flatten(1).norm(dim=1) - 1).mean())
    with pytest.raises(checks.CheckFailed, match="the square is missing"):
        checks.check_gradient_penalty(no_square)


def test_gradient_penalty_without_create_graph_is_caught():
    def detached(critic, real, fake):
        eps = torch.rand(len(real), *([1] * (real.ndim - 1)))
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    with pytest.raises(checks.CheckFailed, match="create_graph=True"):
        checks.check_gradient_penalty(detached)


def test_gradient_penalty_with_one_eps_for_the_batch_is_caught():
    def one_eps(critic, real, fake):
        eps = torch.rand(1).item()
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    with pytest.raises(checks.CheckFailed, match="same eps"):
        checks.check_gradient_penalty(one_eps)


def test_gradient_penalty_at_the_real_points_is_caught():
    def at_real(critic, real, fake):
        x = real.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    with pytest.raises(checks.CheckFailed, match="at the real \\(or fake\\) samples"):
        checks.check_gradient_penalty(at_real)


def test_use_or_reference_knows_the_gan_exercises(capsys):
    assert checks.use_or_reference(blank, "gradient_penalty") is losses.gradient_penalty
    assert checks.use_or_reference(losses.generator_loss) is losses.generator_loss
    assert checks.use_or_reference(blank, "discriminator_loss") is losses.discriminator_loss
    out = capsys.readouterr().out
    assert "Using your generator_loss" in out and out.count("Notice") == 2


def _acgan_parts(rs, fs, rc, ry, fc, fy):
    return losses.acgan_source_loss(rs, fs), losses.acgan_class_loss(rc, ry, fc, fy)


def test_acgan_reference_passes_and_blank_is_not_done(capsys):
    assert checks.check_acgan_losses(losses.acgan_losses).passed
    assert not checks.check_acgan_losses(blank).done
    out = capsys.readouterr().out
    assert "✅" in out and "not done yet" in out


def test_acgan_generator_with_the_discriminator_sign_is_named():
    def same_sign(*args):
        minus_l_s, minus_l_c = _acgan_parts(*args)
        return minus_l_s + minus_l_c, minus_l_s + minus_l_c

    with pytest.raises(checks.CheckFailed, match="that is the loss of D"):
        checks.check_acgan_losses(same_sign)


def test_acgan_discriminator_without_the_class_term_is_named():
    def no_class(*args):
        minus_l_s, minus_l_c = _acgan_parts(*args)
        return minus_l_s, -minus_l_s + minus_l_c

    with pytest.raises(checks.CheckFailed, match="the class term -L_C is missing"):
        checks.check_acgan_losses(no_class)


def test_acgan_returning_one_value_is_named():
    with pytest.raises(checks.CheckFailed, match="should return two scalars"):
        checks.check_acgan_losses(lambda *args: sum(_acgan_parts(*args)))


def test_use_or_reference_knows_the_saturating_generator_loss(capsys):
    fake = torch.tensor([-6.0, -1.0, 0.5, 3.0])

    def saturating(f):
        return -F.softplus(f).mean()  # E log(1 - D(G(z))), right

    def non_saturating(f):
        return F.softplus(-f).mean()  # the other form: wrong for this exercise

    assert checks.use_or_reference(saturating, "saturating_generator_loss") is saturating
    for wrong in (non_saturating, blank):
        used = checks.use_or_reference(wrong, "saturating_generator_loss")
        assert used is not wrong
        assert torch.allclose(used(fake), losses.generator_loss(fake, saturating=True))
        assert not torch.allclose(used(fake), losses.generator_loss(fake))
    out = capsys.readouterr().out
    assert "Using your saturating_generator_loss" in out
    assert out.count("Notice") == 2
    assert "does not pass its check yet" in out and "is not done yet" in out
    assert "course_lib.losses.generator_loss(saturating=True)" in out


# --- chapter 04: the WGAN losses and the earth mover's distance ----------------------------


def critic_loss_right(real, fake):
    return fake.mean() - real.mean()


def generator_loss_right(fake):
    return -fake.mean()


def test_wasserstein_losses_accept_the_right_answers_and_match_the_hand_values(capsys):
    real = torch.tensor([2.0, 0.5, -1.0, 3.5])
    fake = torch.tensor([-2.0, 1.0, -0.5, 0.5])
    assert critic_loss_right(real, fake).item() == -1.5  # the check's hand-worked values
    assert generator_loss_right(fake).item() == 0.25
    assert checks.check_wasserstein_losses(critic_loss_right, generator_loss_right).passed
    assert checks.check_wasserstein_losses(critic_loss=critic_loss_right).passed
    assert checks.check_wasserstein_losses(generator_loss=generator_loss_right).passed
    ref = (losses.wasserstein_critic_loss, losses.wasserstein_generator_loss)
    assert checks.check_wasserstein_losses(*ref).passed
    out = capsys.readouterr().out
    assert out.count("✅") == 4 and "-1.5" in out and "0.25" in out


def test_wasserstein_losses_blank_is_not_done_yet(capsys):
    assert not checks.check_wasserstein_losses(blank, blank).done
    assert not checks.check_wasserstein_losses(critic_loss_right, blank).done
    assert capsys.readouterr().out.count("not done yet") == 2
    with pytest.raises(ValueError, match="pass critic_loss"):
        checks.check_wasserstein_losses()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda r, f: r.mean() - f.mean(), "sign is flipped"),
        (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), "GAN discriminator's loss"),
        (lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(), "no sigmoid"),
        (lambda r, f: torch.log(f).mean() - torch.log(r).mean(), "no log"),
        (lambda r, f: f.sum() - r.sum(), "summed over the batch"),
        (lambda r, f: f.mean(), "real term is missing"),
        (lambda r, f: f - r, "not a value per example"),
        (lambda r, f: torch.tensor((f.mean() - r.mean()).item()), "carries no gradient"),
    ],
)
def test_wasserstein_critic_loss_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_wasserstein_losses(critic_loss=wrong)
    with pytest.raises(checks.CheckFailed, match=message):  # also when G's loss is right
        checks.check_wasserstein_losses(wrong, generator_loss_right)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda f: f.mean(), "sign is flipped"),
        (lambda f: F.softplus(-f).mean(), "non-saturating loss"),
        (lambda f: -torch.sigmoid(f).mean(), "no sigmoid"),
        (lambda f: -torch.log(f).mean(), "no log"),
        (lambda f: -f.sum(), "summed over the batch"),
        (lambda f: -f, "not a value per example"),
    ],
)
def test_wasserstein_generator_loss_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_wasserstein_losses(generator_loss=wrong)


def test_use_or_reference_knows_the_wasserstein_losses(capsys):
    real, fake = torch.randn(8), torch.randn(8)
    assert (
        checks.use_or_reference(critic_loss_right, "wasserstein_critic_loss") is critic_loss_right
    )
    used = checks.use_or_reference(lambda r, f: r.mean() - f.mean(), "wasserstein_critic_loss")
    assert used is losses.wasserstein_critic_loss
    assert torch.allclose(used(real, fake), fake.mean() - real.mean())
    used = checks.use_or_reference(blank, "wasserstein_generator_loss")
    assert used is losses.wasserstein_generator_loss
    out = capsys.readouterr().out
    assert out.count("Notice") == 2 and "course_lib.losses.wasserstein_generator_loss" in out


def emd_right(p, q):
    return (p - q).cumsum(0).abs().sum()


def test_earth_movers_distance_by_cumulative_sums(capsys):
    p, q = torch.tensor([4.0, 2.0, 1.0, 3.0]), torch.tensor([2.0, 2.0, 4.0, 2.0])
    assert emd_right(p, q).item() == 5.0  # 2 boxes over gap 1-2, 2 over 2-3, 1 over 3-4
    assert checks.check_earth_movers_distance(emd_right).passed
    assert not checks.check_earth_movers_distance(blank).done
    out = capsys.readouterr().out
    assert "✅" in out and "not done yet" in out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda p, q: (p - q).cumsum(0).sum(), "absolute value"),
        (lambda p, q: (p - q).abs().sum(), "out of place"),
        (lambda p, q: 0.5 * (p - q).abs().sum(), "number of boxes that must move"),
        (lambda p, q: (p - q).cumsum(0).abs().sum() / p.sum(), "work per box"),
        (lambda p, q: (p.cumsum(0) - q).abs().sum(), "not P.cumsum"),
        (lambda p, q: (p - q).cumsum(0).abs(), "shape"),
    ],
)
def test_earth_movers_distance_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_earth_movers_distance(wrong)
