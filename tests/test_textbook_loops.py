"""The speed benchmark compares like with like: the textbook loop and course_lib's step
compute the same losses from the same weights, batch and seed."""

import copy
import sys
from pathlib import Path

import pytest
import torch

from course_lib.models import dcgan
from course_lib.recipes import gan as recipe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import textbook_loops as textbook  # noqa: E402


def _pair(loss: str):
    torch.manual_seed(0)
    g = dcgan.Generator(width=8)
    d = dcgan.Discriminator(width=8, batch_norm=loss == "gan")
    return g, d


def _adam(net, settings):
    return torch.optim.Adam(net.parameters(), lr=settings.lr_g, betas=settings.betas)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_textbook_and_course_steps_compute_the_same_losses(loss, channels_last):
    settings = recipe.mnist_settings(loss, batch_size=16)
    g, d = _pair(loss)
    g2, d2 = copy.deepcopy(g), copy.deepcopy(d)
    if channels_last:  # as fit_adversarial lays the course's networks out
        g.to(memory_format=torch.channels_last)
        d.to(memory_format=torch.channels_last)
    real = torch.rand(
        3, settings.d_steps * 16, 1, 28, 28, generator=torch.Generator().manual_seed(1)
    )
    real = real * 2 - 1
    course_step = recipe.make_gan_step(g, d, _adam(g, settings), _adam(d, settings), settings)
    opt_g2, opt_d2 = _adam(g2, settings), _adam(d2, settings)
    for batch in real:  # three steps: the second and third start from updated weights
        torch.manual_seed(7)
        course = course_step(batch)
        torch.manual_seed(7)
        if loss == "gan":
            d_loss, g_loss = textbook.gan_step(g2, d2, opt_g2, opt_d2, batch, fresh_noise=True)
        else:
            d_loss, g_loss = textbook.wgan_gp_step(
                g2, d2, opt_g2, opt_d2, batch.chunk(settings.d_steps), settings.gp_weight
            )
        assert course["d"].item() == pytest.approx(d_loss, rel=1e-4, abs=1e-5)
        assert course["g"].item() == pytest.approx(g_loss, rel=1e-4, abs=1e-5)
    for a, b in zip(g.parameters(), g2.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_reusing_the_fakes_changes_the_generator_loss_only():
    settings = recipe.mnist_settings("gan", batch_size=16)
    g, d = _pair("gan")
    batch = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    results = []
    for fresh in (True, False):
        g2, d2 = copy.deepcopy(g), copy.deepcopy(d)
        torch.manual_seed(7)
        results.append(
            textbook.gan_step(g2, d2, _adam(g2, settings), _adam(d2, settings), batch, fresh)
        )
    (d_fresh, g_fresh), (d_reuse, g_reuse) = results
    assert d_fresh == pytest.approx(d_reuse, rel=1e-6)
    assert g_fresh != pytest.approx(g_reuse, rel=1e-3)
