"""Chapter 07, cGML: the networks, the inner loop, inference, the data and the checks.

Every expected value is computed by hand or in closed form, so each test fails when the
code it covers is wrong.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import checks
from course_lib.data import (
    STROKE_COLS,
    STROKE_ROWS,
    BatchIterator,
    StrokeBatches,
    add_stroke,
    cgml_toy,
    has_stroke,
    stroke_mask,
    stroke_targets,
    toy_modes,
)
from course_lib.models.cgml import Encoder, Generator, LatentUpdater
from course_lib.recipes import cgml

# --- the inner loop ----------------------------------------------------------------------


def test_the_momentum_recursion_matches_a_hand_computation():
    # L(z) = z^2 (a = 2 in 1/2 a z^2), z0 = 1, beta = 0.1, gamma = 0.5:
    # g0 = 2.0, m1 = 0.2, z1 = 0.8; g1 = 1.6, m2 = 0.1 + 0.16 = 0.26, z2 = 0.54;
    # g2 = 1.08, m3 = 0.13 + 0.108 = 0.238, z3 = 0.302.
    zs, rhos = cgml.latent_descent(
        lambda z: (z**2).sum(dim=1), torch.tensor([[1.0]]), steps=3, beta=0.1, gamma=0.5
    )
    torch.testing.assert_close(zs[:, 0, 0], torch.tensor([1.0, 0.8, 0.54, 0.302]))
    torch.testing.assert_close(rhos[:, 0], torch.tensor([0.2, 0.26, 0.238]))


def test_rho_is_the_norm_of_the_whole_step_in_several_dimensions():
    # L(z) = 1/2 ||z||^2, so grad = z; from z0 = (3, 4) with beta 0.1: m1 = (0.3, 0.4).
    zs, rhos = cgml.latent_descent(
        lambda z: 0.5 * (z**2).sum(dim=1), torch.tensor([[3.0, 4.0]]), 1, 0.1, 0.9
    )
    torch.testing.assert_close(zs[1, 0], torch.tensor([2.7, 3.6]))
    torch.testing.assert_close(rhos[0, 0], torch.tensor(0.5))


def test_the_inner_loop_reduces_the_loss_on_a_fixed_generator_and_leaves_it_untouched():
    torch.manual_seed(0)
    generator = Generator(cond_dim=4, latent_dim=2, out_shape=3, width=32, depth=2)
    h = torch.randn(64, 4)
    with torch.no_grad():
        y = generator(h, cgml.sample_unit_ball(64, 2, torch.Generator().manual_seed(1)))
    before = [p.clone() for p in generator.parameters()]

    def objective(z):
        return cgml.per_example_l1(generator(h, z), y)

    z0 = cgml.sample_unit_ball(64, 2, torch.Generator().manual_seed(2))
    zs, _ = cgml.latent_descent(objective, z0, steps=30, beta=1.0, gamma=0.5)
    start, end = objective(zs[0]).mean().item(), objective(zs[-1]).mean().item()
    assert end < 0.25 * start, (start, end)
    for p, q in zip(generator.parameters(), before, strict=True):
        assert torch.equal(p, q) and p.grad is None


def test_codes_from_the_unit_ball_are_uniform_in_volume():
    z = cgml.sample_unit_ball(20_000, 3, torch.Generator().manual_seed(0))
    radius = z.norm(dim=1)
    assert radius.max() <= 1.0 + 1e-6
    # Uniform in the ball: P(|z| < r) = r^3, so 1/8 inside radius 1/2.
    assert abs((radius < 0.5).float().mean().item() - 0.125) < 0.01
    assert z.mean(dim=0).abs().max() < 0.02  # no direction preferred


def test_the_lipschitz_term_of_a_linear_map_is_its_slope_times_e_abs_noise():
    # net(h, z) = 3 z in 1-D: |3 e| / noise averages to 3 E|N(0, 1)| = 3 sqrt(2 / pi).
    torch.manual_seed(0)
    h, z = torch.zeros(200_000, 1), torch.zeros(200_000, 1)
    value = cgml.lipschitz_penalty(lambda h_, z_: 3 * z_, h, z, noise=0.01)
    assert abs(value.item() - 3 * math.sqrt(2 / math.pi)) < 0.02


# --- inference ---------------------------------------------------------------------------


def test_the_inference_update_moves_by_exactly_rho_hat_toward_z_hat():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    z_hat = torch.tensor([[3.0, 4.0], [1.0, -1.0]])
    rho_hat = torch.tensor([0.5, 3.0])
    z_next = cgml.inference_update(z, z_hat, rho_hat)
    # Row 0: the unit direction (0.6, 0.8) times 0.5; row 1: (0, -1) times 3 (past z_hat).
    torch.testing.assert_close(z_next, torch.tensor([[0.3, 0.4], [1.0, -2.0]]))
    torch.testing.assert_close((z_next - z).norm(dim=1), rho_hat)


def test_the_inference_update_stays_put_when_z_hat_is_z():
    z = torch.tensor([[0.5, -0.5]])
    assert torch.equal(cgml.inference_update(z, z.clone(), torch.tensor([1.0])), z)


def test_infer_with_and_without_the_correction():
    torch.manual_seed(0)
    settings = cgml.CGMLSettings()
    encoder, generator, updater = cgml.build_networks(settings, "toy")
    x = torch.rand(5, 1)
    z0 = cgml.sample_unit_ball(5, 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        z_hat, rho_hat = updater(encoder(x), z0)
    corrected = cgml.infer(encoder, generator, updater, x, z0, steps=1)
    plain = cgml.infer(encoder, generator, updater, x, z0, steps=1, correction=False)
    assert corrected.path.shape == (2, 5, 2) and corrected.outputs.shape == (5, 3)
    torch.testing.assert_close((corrected.path[1] - z0).norm(dim=1), rho_hat)
    torch.testing.assert_close(plain.path[1], z_hat)


# --- the data ----------------------------------------------------------------------------


def test_the_toy_has_its_two_modes():
    x = torch.tensor([[0.5], [1.0]])
    modes = toy_modes(x)
    torch.testing.assert_close(modes[0, 0], torch.tensor([2.0, 1.0, 0.5]))
    torch.testing.assert_close(modes[1, 1], torch.tensor([-4.0, -4.0, -4.0]))
    x, y, mode = cgml_toy(10_000, torch.Generator().manual_seed(0))
    assert x.min() >= 0.1 and x.max() <= 1.0
    sign = 1 - 2 * mode.float()
    torch.testing.assert_close(y, sign[:, None] * 4 * torch.cat([x, x**2, x**3], dim=1))
    assert abs(mode.float().mean().item() - 0.5) < 0.02


def test_the_stroke_is_white_at_its_fixed_place_and_nowhere_else():
    images = torch.rand(4, 1, 28, 28) * 0.5
    which = torch.tensor([True, False, True, False])
    out = add_stroke(images, which)
    r0, r1 = STROKE_ROWS
    c0, c1 = STROKE_COLS
    assert (r0, r1, c0, c1) == (1, 3, 4, 24)
    assert torch.all(out[which][:, :, r0:r1, c0:c1] == 1.0)
    assert torch.equal(out[~which], images[~which])
    mask = stroke_mask()
    assert mask.sum() == 2 * 20
    assert torch.equal(out[which][:, ~mask], images[which][:, ~mask])
    assert has_stroke(out).tolist() == [True, False, True, False]


def test_stroke_targets_have_the_right_share_and_fresh_draws():
    images = torch.zeros(20_000, 1, 28, 28)
    targets, which = stroke_targets(images, 0.3, torch.Generator().manual_seed(0))
    assert abs(which.float().mean().item() - 0.3) < 0.01
    assert torch.equal(has_stroke(targets), which)
    batches = StrokeBatches(torch.zeros(64, 1, 28, 28), batch_size=64, share=0.3)
    first = [has_stroke(next(batches)[1]) for _ in range(2)]
    assert not torch.equal(first[0], first[1])  # the same digits, drawn again


def test_the_l1_to_the_nearer_mode_by_hand_on_clipped_outputs():
    digits = torch.zeros(5, 1, 28, 28)
    outputs = torch.zeros(5, 1, 28, 28)
    outputs[1] = add_stroke(digits[1:2])[0]  # exactly the stroked mode
    outputs[2] = 0.5  # 0.5 from both modes at every pixel
    outputs[3] = -1.0  # below the pixel range: shown (and measured) as black, the plain mode
    outputs[4][stroke_mask()] = 2.0  # a stroke brighter than white: shown as the stroke
    outputs[4][~stroke_mask()] = 0.25  # ... on a grey background
    got = cgml.nearest_mode_l1(outputs, digits)
    want = torch.tensor([0.0, 0.0, 0.5, 0.0, 0.25 * (784 - 40) / 784])
    torch.testing.assert_close(got, want)


# --- training ----------------------------------------------------------------------------


def test_a_short_toy_run_trains_all_three_networks():
    torch.manual_seed(0)
    settings = cgml.CGMLSettings(steps=40, batch_size=32, inner_steps=4, lipschitz_weight=0.01)
    encoder, generator, updater = cgml.build_networks(settings, "toy")
    before = {
        n: [p.clone() for p in m.parameters()]
        for n, m in (("H", encoder), ("G", generator), ("Z", updater))
    }
    x, y, _ = cgml_toy(512, torch.Generator().manual_seed(0))
    trainer = cgml.train_cgml(
        encoder, generator, updater, BatchIterator(x, y, batch_size=32), settings, progress=False
    )
    logged = trainer.history.last()
    assert set(logged) == {"g", "z", "inner_start", "inner_end", "rho", "lip_g"}
    assert all(math.isfinite(value) for value in logged.values())
    for name, module in (("H", encoder), ("G", generator), ("Z", updater)):
        moved = any(
            not torch.equal(p, q) for p, q in zip(module.parameters(), before[name], strict=True)
        )
        assert moved, f"{name} was not trained"
    assert logged["inner_end"] < logged["inner_start"]


def test_toy_on_mode_tells_modes_from_the_middle():
    x = torch.tensor([[0.5], [0.5], [0.5]])
    modes = toy_modes(x)
    outputs = torch.stack([modes[0, 0], modes[1, 1] * 1.05, torch.zeros(3)])
    assert cgml.toy_on_mode(outputs, x).tolist() == [0, 1, -1]


# --- bad inputs give clear errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gamma": 1.0}, "gamma must be in"),
        ({"inner_steps": 0}, "inner_steps must be a positive int"),
        ({"beta": -1.0}, "beta must be a number > 0"),
        ({"loss": "huber"}, "loss must be one of"),
        ({"inner_loss": "l2"}, "inner_loss must be one of"),
        ({"z_updates": "twice"}, "z_updates must be one of"),
    ],
)
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        cgml.CGMLSettings(**changes)


def test_bad_network_inputs_are_refused():
    with pytest.raises(ValueError, match="inject must be one of"):
        Generator(inject="sum")
    generator = Generator(cond_dim=4, latent_dim=2)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 2\)"):
        generator(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="one code per condition"):
        generator(torch.zeros(3, 4), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        Encoder((1, 28, 28))(torch.zeros(2, 784))
    with pytest.raises(ValueError, match="one per code"):
        cgml.inference_update(torch.zeros(3, 2), torch.ones(3, 2), torch.ones(2))
    with pytest.raises(ValueError, match="one loss per code"):
        cgml.latent_descent(lambda z: z.sum(), torch.zeros(3, 2), 1, 0.1, 0.5)
    updater = LatentUpdater(cond_dim=4, latent_dim=2)
    with pytest.raises(ValueError, match="z0 has 2 codes but x has 3"):
        cgml.infer(Encoder(1, 4), generator, updater, torch.zeros(3, 1), torch.zeros(2, 2), 1)


def test_train_cgml_refuses_mismatched_networks():
    settings = cgml.CGMLSettings(latent_dim=3)
    encoder, generator, updater = cgml.build_networks(cgml.CGMLSettings(), "toy")
    x, y, _ = cgml_toy(64)
    with pytest.raises(ValueError, match="settings.latent_dim is 3"):
        cgml.train_cgml(encoder, generator, updater, BatchIterator(x, y, batch_size=32), settings)


# --- the exercise checks reject typical wrong answers --------------------------------------


def _descent(variant: str):
    def latent_descent(objective, z0, steps, beta, gamma):
        z, m = z0.detach(), torch.zeros_like(z0)
        zs, rhos = [z], []
        for _ in range(steps):
            z = z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(z).sum(), z)
            if variant == "no momentum":
                m = beta * grad
            elif variant == "swapped":
                m = beta * m + gamma * grad
            else:
                m = gamma * m + beta * grad
            z_next = (z + m if variant == "ascent" else z - m).detach()
            step = beta * grad if variant == "rho of grad" else m
            rho = step.norm(dim=1)
            rhos.append(rho.mean() if variant == "batch rho" else rho)
            z = z_next
            zs.append(z)
        if variant == "no start":
            zs = zs[1:]
        return torch.stack(zs), torch.stack(rhos)

    return latent_descent


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("no momentum", "no momentum"),
        ("swapped", "swapped"),
        ("ascent", "against the gradient"),
        ("rho of grad", "momentum included"),
        ("batch rho", "one step length per"),
        ("no start", "must hold the start too"),
    ],
)
def test_check_latent_descent_rejects_typical_mistakes(variant, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_latent_descent(_descent(variant))


def test_check_latent_descent_accepts_the_right_answer_and_waits_for_a_blank(capsys):
    assert checks.check_latent_descent(_descent("right")).passed

    def blank(*args):
        raise NotImplementedError

    result = checks.check_latent_descent(blank)
    assert not result.done and "not done yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda z, zh, r: z + r[:, None] * (zh - z), "divide by"),
        (lambda z, zh, r: zh, "does not\\s+jump"),
        (lambda z, zh, r: z - r[:, None] * (zh - z) / (zh - z).norm(dim=1, keepdim=True), "toward"),
        (lambda z, zh, r: z + r[:, None] * (zh - z) / (zh - z).norm(), "its own norm"),
        (lambda z, zh, r: z + (zh - z) / (zh - z).norm(dim=1, keepdim=True), "rho_hat is missing"),
        (lambda z, zh, r: z + r * (zh - z), "raised RuntimeError"),
    ],
)
def test_check_inference_update_rejects_typical_mistakes(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_inference_update(wrong)


def test_use_or_reference_falls_back_to_the_course_functions():
    def latent_descent(*args):
        raise NotImplementedError

    assert checks.use_or_reference(latent_descent) is cgml.latent_descent
    assert checks.use_or_reference(cgml.inference_update) is cgml.inference_update


def test_evaluate_phantom_reports_every_figure_even_for_an_untrained_model():
    torch.manual_seed(0)
    encoder, generator, updater = cgml.build_networks(cgml.CGMLSettings(), "toy")
    result = cgml.evaluate_phantom(encoder, generator, updater, conditions=10, steps=2)
    assert set(result) == {
        "found",
        "corrected",
        "uncorrected",
        "first_step_corrected",
        "first_step_uncorrected",
    }
    assert 0.0 <= result["found"] <= 1.0
