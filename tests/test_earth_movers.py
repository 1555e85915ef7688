"""divergences.earth_movers_plan (chapter 04) against plans and costs worked out by hand."""

import matplotlib
import pytest
import torch

from course_lib import divergences as dv
from course_lib import plotting

matplotlib.use("Agg")


def test_the_lecture_boxes_by_hand():
    # P = (4, 2, 1, 3) and Q = (2, 2, 4, 2) boxes at positions 1..4. Cumulative piles
    # F_P = 4, 6, 7, 10 and F_Q = 2, 4, 8, 10: |F_P - F_Q| = 2, 2, 1 over gaps of 1, so 5.
    # Left to right: 2 boxes 1 -> 2, 2 boxes 2 -> 3, 1 box 4 -> 3; the rest stays.
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = dv.earth_movers_plan(x, torch.tensor([4.0, 2, 1, 3]), x, torch.tensor([2.0, 2, 4, 2]))
    expected = torch.tensor(
        [[2.0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 1, 0], [0, 0, 1, 2]], dtype=torch.float64
    )
    assert torch.equal(out.plan, expected)
    assert out.cost.item() == pytest.approx(5.0)
    assert out.wasserstein.item() == pytest.approx(0.5)  # 5 box-units over 10 boxes


def test_unsorted_positions_and_different_supports():
    # One unit at 0 goes half to 3 and half to 1: cost 0.5 * 3 + 0.5 * 1 = 2.
    out = dv.earth_movers_plan(
        torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([3.0, 1.0]), torch.tensor([0.5, 0.5])
    )
    assert torch.equal(out.plan, torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    assert out.cost.item() == pytest.approx(2.0)


def test_equal_weight_samples_agree_with_the_sorted_sample_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, generator=g, dtype=torch.float64), 2 + torch.rand(7, generator=g)
    ones = torch.ones(7, dtype=torch.float64)
    plan = dv.earth_movers_plan(a, ones, b.double(), ones)
    by_hand = (a.sort().values - b.double().sort().values).abs().mean()
    assert plan.wasserstein.item() == pytest.approx(by_hand.item())
    assert plan.wasserstein.item() == pytest.approx(dv.wasserstein_1d(a, b.double()).item())


@pytest.mark.parametrize(
    ("mass_q", "match"),
    [
        (torch.tensor([1.0, 2.0]), "same total"),
        (torch.tensor([2.0, -0.5]), "mass_q"),
        (torch.tensor([2.0]), "one mass per position"),
    ],
)
def test_bad_piles_are_named(mass_q, match):
    with pytest.raises(ValueError, match=match):
        dv.earth_movers_plan(
            torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), mass_q
        )


def test_plot_points_draws_the_samples_and_a_three_std_circle_per_mode():
    centres = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    ax = plotting.plot_points(torch.zeros(5, 2), centres, std=0.1)
    radii = sorted(p.radius for p in ax.patches)
    assert radii == pytest.approx([0.3, 0.3])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plotting.plot_points(torch.zeros(5, 3))


def test_plot_point_snapshots_spreads_its_panels_over_the_run_first_and_last_included():
    class History:
        snapshots = [(10 * k, torch.zeros(4, 2) + k) for k in range(10)]

    fig = plotting.plot_point_snapshots(History(), max_snapshots=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["step 0", "step 30", "step 60", "step 90"]
    History.snapshots = []
    with pytest.raises(ValueError, match="no snapshots"):
        plotting.plot_point_snapshots(History())
