import math

import pytest
import torch

from course_lib import data, metrics


def test_ring_centres_are_on_the_circle_evenly_spaced():
    ring = data.ring_mixture()
    assert ring.centres.shape == (8, 2) and ring.std == 0.01
    assert torch.allclose(ring.centres.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.allclose(ring.centres[0], torch.tensor([1.0, 0.0]))
    gaps = torch.cdist(ring.centres, ring.centres)[torch.arange(8), (torch.arange(8) + 1) % 8]
    assert torch.allclose(gaps, torch.full((8,), 2 * math.sin(math.pi / 8)), atol=1e-6)


def test_grid_centres_are_the_25_points_of_the_paper():
    grid = data.grid_mixture()
    assert grid.std == 0.05
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in grid.centres.tolist()} == expected


def test_samples_are_reproducible_and_spread_like_the_mixture():
    x = data.ring_mixture().sample(4000, generator=torch.Generator().manual_seed(1))
    y = data.ring_mixture().sample(4000, generator=torch.Generator().manual_seed(1))
    assert x.shape == (4000, 2) and torch.equal(x, y)
    d = torch.cdist(x, data.ring_mixture().centres).min(dim=1).values
    assert d.max() < 0.06  # within 6 std of a centre
    assert (x.norm(dim=1) - 1).std().item() == pytest.approx(0.01, rel=0.1)
    g = data.grid_mixture().sample(5000, generator=torch.Generator().manual_seed(2))
    counts = metrics.mode_statistics(g, data.grid_mixture().centres, 0.05).counts
    assert counts.min() > 120 and counts.max() < 280  # about 200 per mode


def test_mixture_inputs_are_checked():
    with pytest.raises(ValueError, match="n must"):
        data.ring_mixture().sample(0)
    with pytest.raises(ValueError, match="std"):
        data.grid_mixture(std=-1.0)
    with pytest.raises(ValueError, match="centres"):
        data.Mixture(torch.zeros(3, 3), 0.1)


def test_samples_at_the_centres_cover_every_mode_with_no_kl():
    ring = data.ring_mixture()
    stats = metrics.mode_statistics(ring.centres.repeat(3, 1), ring.centres, ring.std)
    assert stats.modes_covered == 8 and stats.high_quality == 1.0
    assert stats.reverse_kl == pytest.approx(0.0, abs=1e-12)
    assert stats.counts.tolist() == [3] * 8


def test_all_samples_at_one_mode():
    grid = data.grid_mixture()
    samples = grid.centres[7] + 0.01 * torch.randn(100, 2)
    stats = metrics.mode_statistics(samples, grid.centres, grid.std)
    assert stats.modes_covered == 1 and stats.high_quality == 1.0
    assert stats.reverse_kl == pytest.approx(math.log(25))


def test_far_samples_are_not_high_quality_and_do_not_cover_modes():
    ring = data.ring_mixture()
    far = torch.tensor([[0.0, 0.0], [5.0, 5.0], [1.04, 0.0]])  # 0.04 > 3 std from (1, 0)
    stats = metrics.mode_statistics(far, ring.centres, ring.std)
    assert stats.modes_covered == 0 and stats.high_quality == 0.0
    assert math.isinf(stats.reverse_kl)
    mixed = torch.cat([far, ring.centres[:2], torch.tensor([[1.02, 0.0]])])  # 3 good of 6
    stats = metrics.mode_statistics(mixed, ring.centres, ring.std)
    assert stats.modes_covered == 2 and stats.high_quality == pytest.approx(0.5)
    # the histogram of the good samples is (2/3, 1/3): KL to uniform over 8
    p = torch.tensor([2 / 3, 1 / 3])
    assert stats.reverse_kl == pytest.approx((p * (p * 8).log()).sum().item())


def test_mode_statistics_checks_its_inputs():
    with pytest.raises(ValueError, match="samples"):
        metrics.mode_statistics(torch.zeros(4, 3), torch.zeros(2, 2), 0.1)
    with pytest.raises(ValueError, match="std"):
        metrics.mode_statistics(torch.zeros(4, 2), torch.zeros(2, 2), 0.0)
