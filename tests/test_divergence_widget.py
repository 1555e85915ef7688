"""The chapter 03 widget, driven from Python as a lecturer's slider would drive it."""

import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_lib import divergences as dv
from course_lib.widgets import DivergenceExplorer

LOG2 = math.log(2)


@pytest.fixture(scope="module")
def explorer():
    return DivergenceExplorer(mu=3.0)


def test_moving_the_mean_changes_the_values_and_the_picture(explorer):
    explorer.slider.value = 3.0
    before_png, before = explorer.image_widget.value, explorer.image.copy()
    assert explorer.values["mu"] == 3.0
    explorer.slider.value = 12.5
    assert explorer.values["mu"] == 12.5
    assert explorer.image_widget.value != before_png
    assert explorer.image.shape == before.shape and explorer.image.shape[2] == 3
    assert np.abs(explorer.image - before).max() > 0.1
    assert "12.5" in explorer.label.value


def test_the_png_shows_the_image_array(explorer):
    explorer.slider.value = 7.0
    png = explorer.image_widget.value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = plt.imread(io.BytesIO(png), format="png")[..., :3]
    assert decoded.shape == explorer.image.shape
    np.testing.assert_allclose(decoded, explorer.image, atol=1 / 255 + 1e-6)


def test_far_apart_js_is_log_2_with_no_gradient_and_w1_is_the_distance(explorer):
    explorer.slider.value = 30.0
    val = explorer.values
    assert val["js"] == pytest.approx(LOG2, abs=1e-12)
    assert abs(val["djs_dmu"]) < 1e-12
    assert val["w1"] == pytest.approx(30.0, rel=1e-9)
    assert val["dw1_dmu"] == pytest.approx(1.0, rel=1e-9)


def test_on_top_of_each_other_both_are_zero(explorer):
    explorer.slider.value = 0.0
    assert explorer.values["js"] == pytest.approx(0.0, abs=1e-12)
    assert explorer.values["w1"] == pytest.approx(0.0, abs=1e-12)
    assert explorer.values["djs_dmu"] == pytest.approx(0.0, abs=1e-12)  # JS has its minimum


def test_gradients_agree_with_finite_differences(explorer):
    x, dx = explorer.x, explorer.dx

    def js(mu):
        return dv.js_on_grid(
            explorer.p_r, torch.exp(-0.5 * (x - mu) ** 2) / (2 * math.pi) ** 0.5, dx
        )

    for mu in (1.0, 2.0, 6.0):
        explorer.slider.value = mu
        h = 1e-4
        fd = (js(mu + h) - js(mu - h)).item() / (2 * h)
        assert explorer.values["djs_dmu"] == pytest.approx(fd, rel=1e-5)
        assert explorer.values["js"] == pytest.approx(js(mu).item(), rel=1e-12)
        assert explorer.values["dw1_dmu"] == pytest.approx(1.0, rel=1e-9)
    # the JS gradient is largest near mu = 2 and has fallen by orders of magnitude at 10
    assert explorer.measure(10.0)["djs_dmu"] < 1e-3 * explorer.measure(2.0)["djs_dmu"]


def test_the_curves_drawn_are_js_and_w1(explorer):
    assert explorer.curve_js[0] == pytest.approx(0.0, abs=1e-12)
    assert explorer.curve_js[-1] == pytest.approx(LOG2, abs=1e-12)
    np.testing.assert_allclose(explorer.curve_w1, explorer.curve_mu.numpy(), atol=1e-9)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="mu must be a number in"):
        DivergenceExplorer(mu=40.0)
    with pytest.raises(ValueError, match="mu_max"):
        DivergenceExplorer(mu_max=-1.0)
    with pytest.raises(ValueError, match="points"):
        DivergenceExplorer(points=10)
