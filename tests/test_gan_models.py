import pytest
import torch

from course_lib import losses
from course_lib.models import MLPDiscriminator, MLPGenerator, dcgan


def test_mlp_shapes_and_depth():
    g = MLPGenerator(latent_dim=3, width=16, depth=2)
    d = MLPDiscriminator(width=16, depth=4)
    x = g(torch.randn(5, 3))
    assert x.shape == (5, 2) and d(x).shape == (5,)
    assert sum(isinstance(m, torch.nn.Linear) for m in g.modules()) == 3
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in d.modules()) == 4
    assert g.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 2)


def test_mlp_inputs_are_checked():
    with pytest.raises(ValueError, match=r"z must have shape \(B, 2\)"):
        MLPGenerator()(torch.randn(4, 3))
    with pytest.raises(ValueError, match="width"):
        MLPDiscriminator(width=0)


def test_dcgan_generator_gives_28x28_images_in_minus_one_one():
    g = dcgan.Generator(latent_dim=8, width=4)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1
    assert isinstance(g.net[-1], torch.nn.Tanh)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules())


def test_dcgan_discriminator_gives_one_logit_per_image():
    d = dcgan.Discriminator(width=4)
    logits = d(torch.rand(5, 1, 28, 28) * 2 - 1)
    assert logits.shape == (5,)
    first, activation = d.features[0], d.features[1]
    assert isinstance(first, torch.nn.Conv2d) and isinstance(activation, torch.nn.LeakyReLU)
    assert activation.negative_slope == 0.2
    assert not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in dcgan.Discriminator(4, False).modules()
    )


def test_dcgan_gradients_reach_the_generator_through_the_discriminator():
    g, d = dcgan.Generator(latent_dim=8, width=4), dcgan.Discriminator(width=4)
    losses.generator_loss(d(g(torch.randn(4, 8)))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_dcgan_critic_without_batch_norm_supports_the_gradient_penalty():
    critic = dcgan.Discriminator(width=4, batch_norm=False)
    real, fake = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    losses.gradient_penalty(critic, real, fake).backward()
    assert critic.features[0].weight.grad.abs().sum() > 0


def test_dcgan_inputs_are_checked():
    with pytest.raises(ValueError, match=r"z must have shape \(B, 8\)"):
        dcgan.Generator(latent_dim=8, width=4)(torch.randn(2, 9))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        dcgan.Discriminator(width=4)(torch.rand(2, 784))


def test_conditional_dcgan_uses_the_label():
    torch.manual_seed(0)
    g = dcgan.Generator(latent_dim=8, width=4, num_classes=10).eval()
    d = dcgan.Discriminator(width=4, num_classes=10).eval()
    z = torch.randn(1, 8).expand(2, 8)  # the same code, two different digits
    x = g(z, torch.tensor([3, 7]))
    assert x.shape == (2, 1, 28, 28)
    assert not torch.allclose(x[0], x[1])
    same = x[:1].expand(2, 1, 28, 28)
    logits = d(same, torch.tensor([3, 7]))
    assert logits.shape == (2,) and logits[0] != logits[1]
    assert g.sample(4, labels=torch.tensor([0, 1, 2, 3])).shape == (4, 1, 28, 28)


def test_conditional_dcgan_checks_its_labels():
    g = dcgan.Generator(latent_dim=8, width=4, num_classes=10)
    with pytest.raises(ValueError, match="labels must be given"):
        g(torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        g(torch.randn(2, 8), torch.tensor([1, 10]))
    with pytest.raises(ValueError, match="integer tensor of shape"):
        g(torch.randn(2, 8), torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="without num_classes"):
        dcgan.Discriminator(width=4)(torch.rand(2, 1, 28, 28), torch.tensor([1, 2]))


def test_acgan_discriminator_has_two_heads_that_train_with_the_acgan_losses():
    g = dcgan.Generator(latent_dim=8, width=4, num_classes=10)
    d = dcgan.Discriminator(width=4, aux_classes=10)
    real, real_y = torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 3])
    fake_y = torch.tensor([4, 5, 6, 7])
    fake = g(torch.randn(4, 8), fake_y)
    real_s, real_c = d(real)
    fake_s, fake_c = d(fake)
    assert real_s.shape == (4,) and real_c.shape == (4, 10)
    d_loss, g_loss = losses.acgan_losses(real_s, fake_s, real_c, real_y, fake_c, fake_y)
    g_loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
