import math

import pytest
import torch

from course_lib import losses

LOG2 = math.log(2)


def test_discriminator_loss_is_two_log_two_when_d_is_one_half():
    zeros = torch.zeros(5)
    assert losses.discriminator_loss(zeros, zeros).item() == pytest.approx(2 * LOG2)


def test_discriminator_loss_on_known_logits():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(d_real.log().mean() + (1 - d_fake).log().mean())
    assert losses.discriminator_loss(real, fake).item() == pytest.approx(expected.item(), 1e-6)
    # (B, 1) logits give the same value as (B,)
    assert losses.discriminator_loss(real[:, None], fake[:, None]).item() == pytest.approx(
        expected.item(), 1e-6
    )


def test_discriminator_loss_is_finite_for_confident_logits():
    real, fake = torch.tensor([-200.0]), torch.tensor([200.0])  # D wrong with certainty
    loss = losses.discriminator_loss(real, fake)
    assert loss.item() == pytest.approx(400.0)


def test_one_sided_label_smoothing_changes_only_the_real_target():
    real, fake = torch.tensor([1.5, -0.5]), torch.tensor([0.3, 2.0])
    s = 0.1
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    real_term = -((1 - s) * d_real.log() + s * (1 - d_real).log()).mean()
    expected = real_term - (1 - d_fake).log().mean()
    got = losses.discriminator_loss(real, fake, label_smoothing=s)
    assert got.item() == pytest.approx(expected.item(), 1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.discriminator_loss(real, fake, label_smoothing=1.0)


def test_generator_losses_on_known_logits():
    fake = torch.tensor([0.0, 0.0])
    assert losses.generator_loss(fake).item() == pytest.approx(LOG2)  # -log 1/2
    assert losses.generator_loss(fake, saturating=True).item() == pytest.approx(-LOG2)
    fake = torch.tensor([-2.0, 1.0])
    d = torch.sigmoid(fake)
    assert losses.generator_loss(fake).item() == pytest.approx(-d.log().mean().item(), 1e-6)
    saturating = (1 - d).log().mean().item()
    assert losses.generator_loss(fake, saturating=True).item() == pytest.approx(saturating, 1e-6)


def test_saturating_gradient_vanishes_where_d_of_g_is_near_zero():
    fake = torch.tensor([-8.0], requires_grad=True)  # D(G(z)) = 3e-4
    (g_sat,) = torch.autograd.grad(losses.generator_loss(fake, saturating=True), fake)
    (g_ns,) = torch.autograd.grad(losses.generator_loss(fake), fake)
    assert abs(g_sat.item()) < 1e-3 < 0.99 < abs(g_ns.item())


def test_wasserstein_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0, 4.0])
    assert losses.wasserstein_critic_loss(real, fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(-1.0)


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 1, 2, 2)  # ||w|| = 5

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)


def test_gradient_penalty_norm_is_per_sample_not_per_element():
    w = torch.full((1, 2, 3, 3), 0.5)  # ||w|| = sqrt(18) * 0.5; per element |w_i| = 0.5

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    got = losses.gradient_penalty(critic, real, fake).item()
    per_sample = (math.sqrt(18) * 0.5 - 1) ** 2
    per_element = (0.5 - 1) ** 2
    assert got == pytest.approx(per_sample)
    assert abs(per_sample - per_element) > 0.1


def test_gradient_penalty_uses_one_eps_per_sample_on_the_segment():
    seen = []

    def critic(x):
        seen.append(x.detach())
        return x.pow(2).flatten(1).sum(1)

    real, fake = torch.ones(64, 3), torch.zeros(64, 3)
    g = torch.Generator().manual_seed(0)
    penalty = losses.gradient_penalty(critic, real, fake, generator=g)
    x_hat = seen[0]
    eps = x_hat[:, 0]
    assert torch.allclose(x_hat, eps[:, None].expand(64, 3))  # same eps in a sample
    assert 0 <= eps.min() and eps.max() <= 1 and eps.std() > 0.1  # varies across samples
    expected = ((2 * x_hat).norm(dim=1) - 1).pow(2).mean()
    assert penalty.item() == pytest.approx(expected.item(), 1e-5)


def test_gradient_penalty_reaches_the_critic_parameters():
    critic = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    penalty = losses.gradient_penalty(critic, torch.randn(5, 2), torch.randn(5, 2))
    penalty.backward()
    for p in (critic[0].weight, critic[0].bias, critic[2].weight):  # the last bias has no say
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_gradient_penalty_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="real and fake"):
        losses.gradient_penalty(lambda x: x.sum(1), torch.randn(3, 2), torch.randn(4, 2))


def test_r1_penalty_on_a_hand_computed_discriminator():
    # D(x) = x1^2 + 3 x2: grad = (2 x1, 3); at (1, 2) |grad|^2 = 4 + 9, at (0, 5) 0 + 9
    def discriminator(x):
        return x[:, 0] ** 2 + 3 * x[:, 1]

    real = torch.tensor([[1.0, 2.0], [0.0, 5.0]])
    assert losses.r1_penalty(discriminator, real).item() == pytest.approx(11.0)


def test_r1_penalty_sums_over_all_dimensions_of_an_example():
    w = torch.full((1, 2, 3, 3), 0.5)  # grad = w everywhere: |grad|^2 = 18 * 0.25

    def discriminator(x):
        return (x * w).flatten(1).sum(1)

    assert losses.r1_penalty(discriminator, torch.randn(4, 2, 3, 3)).item() == pytest.approx(4.5)


def test_r1_penalty_reaches_the_discriminator_and_not_the_data():
    disc = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real = torch.randn(5, 2, requires_grad=True)
    losses.r1_penalty(disc, real).backward()
    for p in (disc[0].weight, disc[0].bias, disc[2].weight):  # the last bias has no say
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert real.grad is None  # a penalty on D, computed at detached real examples


def test_r1_penalty_rejects_what_is_not_a_network_or_a_batch():
    with pytest.raises(ValueError, match="discriminator"):
        losses.r1_penalty("D", torch.randn(3, 2))
    with pytest.raises(ValueError, match="real"):
        losses.r1_penalty(lambda x: x.sum(1), torch.randn(3))


def test_acgan_losses_signs_and_values():
    real_s, fake_s = torch.tensor([1.0, -0.5]), torch.tensor([0.2, -2.0])
    real_c = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    fake_c = torch.tensor([[0.5, 0.5, 0.0], [1.0, -1.0, 3.0]])
    real_y, fake_y = torch.tensor([0, 1]), torch.tensor([1, 2])
    l_s = (torch.sigmoid(real_s).log().mean() + (1 - torch.sigmoid(fake_s)).log().mean()).item()
    log_p_real = real_c.log_softmax(1)[torch.arange(2), real_y]
    log_p_fake = fake_c.log_softmax(1)[torch.arange(2), fake_y]
    l_c = (log_p_real.mean() + log_p_fake.mean()).item()
    assert losses.acgan_source_loss(real_s, fake_s).item() == pytest.approx(-l_s, 1e-6)
    got = losses.acgan_class_loss(real_c, real_y, fake_c, fake_y).item()
    assert got == pytest.approx(-l_c, 1e-6)
    d_loss, g_loss = losses.acgan_losses(real_s, fake_s, real_c, real_y, fake_c, fake_y)
    assert d_loss.item() == pytest.approx(-(l_s + l_c), 1e-6)  # D maximises L_S + L_C
    assert g_loss.item() == pytest.approx(-(l_c - l_s), 1e-6)  # G maximises L_C - L_S


def test_acgan_class_loss_rejects_labels_out_of_range():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="fake_labels"):
        losses.acgan_class_loss(logits, torch.tensor([0, 1]), logits, torch.tensor([0, 3]))


@pytest.mark.parametrize("bad", [torch.zeros(3, 2), torch.zeros(0), [0.0, 1.0]])
def test_logit_shapes_are_checked(bad):
    with pytest.raises(ValueError, match="fake_logits"):
        losses.generator_loss(bad)
