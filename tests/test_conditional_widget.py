"""course_lib.widgets.ConditionalExplorer, driven from Python as a notebook user would.

The generator is a fixed random linear map of (z, one-hot c) squashed into [0, 1], so every
code and every class gives a clearly different picture; every picture the widget shows is
compared with the generator's own output for the same code and class.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.recipes.cgan import concat_label
from course_lib.widgets import ConditionalExplorer

CPU = torch.device("cpu")


class TinyConditional(torch.nn.Module):
    """G(z, c) = tanh(W [z, one_hot(c)]) as (B, 1, 28, 28) images in [-1, 1]."""

    def __init__(self, latent_dim: int = 6, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.linear = torch.nn.Linear(latent_dim + num_classes, 784)
        with torch.no_grad():
            self.linear.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(concat_label(z, c, self.num_classes))).view(-1, 1, 28, 28)


@pytest.fixture(scope="module")
def generator():
    return TinyConditional().eval()


@pytest.fixture()
def generator_fn(generator):
    return lambda z, c: (generator(z, c) + 1) / 2


def expected(generator, code: torch.Tensor, digit: int) -> np.ndarray:
    with torch.no_grad():
        return ((generator(code[None], torch.tensor([digit])) + 1) / 2)[0, 0].numpy()


def tile(strip: np.ndarray, c: int, size: int = 28, padding: int = 2) -> np.ndarray:
    """Image c of a one-row grid made by plotting.image_grid (padding 2)."""
    x0 = padding + c * (size + padding)
    return strip[padding : padding + size, x0 : x0 + size]


def test_the_widget_shows_g_of_z_and_c_and_the_same_z_in_every_class(generator, generator_fn):
    explorer = ConditionalExplorer(generator_fn, 6, digit=3, device=CPU)
    assert explorer.digit.value == 3 and len(explorer.sliders) == 6
    np.testing.assert_allclose(explorer.image, expected(generator, explorer.code, 3), atol=1e-6)
    assert explorer.strip.shape == (32, 2 + 10 * 30)  # one row of ten 28x28 tiles
    for c in (0, 3, 9):
        np.testing.assert_allclose(
            tile(explorer.strip, c), expected(generator, explorer.code, c), atol=1e-6
        )
    assert explorer.image_widget.value[:4] == b"\x89PNG"
    assert explorer.strip_widget.value[:4] == b"\x89PNG"


def test_changing_the_class_changes_the_image_but_not_the_strip(generator, generator_fn):
    explorer = ConditionalExplorer(generator_fn, 6, digit=1, device=CPU)
    image, png, strip, code = (
        explorer.image.copy(),
        explorer.image_widget.value,
        explorer.strip.copy(),
        explorer.code.clone(),
    )
    renders = explorer.renders
    explorer.digit.value = 1  # the same class: nothing happens
    assert explorer.renders == renders
    explorer.digit.value = 7
    assert explorer.renders == renders + 1
    assert torch.equal(explorer.code, code)  # the code stays
    assert np.abs(explorer.image - image).max() > 1e-3 and explorer.image_widget.value != png
    np.testing.assert_array_equal(explorer.strip, strip)  # the same z: the same strip
    np.testing.assert_allclose(explorer.image, tile(strip, 7), atol=1e-6)
    explorer.digit.value = 1
    np.testing.assert_allclose(explorer.image, image, atol=1e-6)


def test_a_slider_moves_one_dimension_and_both_pictures_follow(generator, generator_fn):
    explorer = ConditionalExplorer(generator_fn, 6, digit=4, dims=[0, 5], device=CPU)
    assert [s.description for s in explorer.sliders] == ["z[0]", "z[5]"]
    before_code, before_image = explorer.code.clone(), explorer.image.copy()
    before_strip = explorer.strip.copy()
    explorer.sliders[1].value = 2.5
    assert explorer.code[5].item() == pytest.approx(2.5)
    changed = (explorer.code != before_code).nonzero().flatten().tolist()
    assert changed == [5]  # only the slider's dimension moved
    assert np.abs(explorer.image - before_image).max() > 1e-3
    assert np.abs(explorer.strip - before_strip).max() > 1e-3
    np.testing.assert_allclose(explorer.image, expected(generator, explorer.code, 4), atol=1e-6)


def test_the_random_button_draws_a_new_code_and_the_sliders_follow(generator, generator_fn):
    explorer = ConditionalExplorer(generator_fn, 6, seed=5, limit=10.0, device=CPU)
    stream = torch.Generator().manual_seed(5)
    assert torch.equal(explorer.start, torch.randn(6, generator=stream))  # default start
    first_image, first_code = explorer.image.copy(), explorer.code.clone()
    explorer.random_button.click()
    assert torch.equal(explorer.code, torch.randn(6, generator=stream))  # the next draw
    assert [s.value for s in explorer.sliders] == pytest.approx(explorer.code.tolist())
    assert not torch.equal(explorer.code, first_code)
    assert np.abs(explorer.image - first_image).max() > 1e-3
    np.testing.assert_allclose(explorer.image, expected(generator, explorer.code, 0), atol=1e-6)
    explorer.reset_button.click()
    assert torch.equal(explorer.code, first_code)
    np.testing.assert_allclose(explorer.image, first_image, atol=1e-6)


def test_set_code_keeps_values_beyond_the_slider_range(generator, generator_fn):
    explorer = ConditionalExplorer(generator_fn, 6, limit=1.0, device=CPU)
    z = torch.tensor([4.0, -0.5, 0.0, 0.0, 0.0, 0.0])
    explorer.set_code(z)
    assert explorer.sliders[0].value == 1.0  # the slider shows the end of its range
    assert torch.equal(explorer.code, z)  # the code keeps the true value
    np.testing.assert_allclose(explorer.image, expected(generator, z, 0), atol=1e-6)


def test_bad_arguments_raise_clear_errors(generator, generator_fn):
    with pytest.raises(ValueError, match="generator_fn must be a function"):
        ConditionalExplorer("G", 6)
    with pytest.raises(ValueError, match="latent_dim must be an int >= 1"):
        ConditionalExplorer(generator_fn, 0)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        ConditionalExplorer(generator_fn, 6, num_classes=1)
    with pytest.raises(ValueError, match=r"digit must be a class in \[0, 9\]"):
        ConditionalExplorer(generator_fn, 6, digit=10)
    with pytest.raises(ValueError, match="dims must be indices"):
        ConditionalExplorer(generator_fn, 6, dims=[6])
    with pytest.raises(ValueError, match="start must be a tensor of 6 entries"):
        ConditionalExplorer(generator_fn, 6, start=torch.zeros(5))
    with pytest.raises(ValueError, match="class_names must name 10 classes"):
        ConditionalExplorer(generator_fn, 6, class_names=["a", "b"])
    # a tanh generator passed without (x + 1) / 2: the values reach below 0
    with pytest.raises(ValueError, match=r"\(G\(z, c\) \+ 1\) / 2"):
        ConditionalExplorer(lambda z, c: generator(z, c), 6, limit=3.0, device=CPU)
    with pytest.raises(ValueError, match="grey images"):
        ConditionalExplorer(lambda z, c: torch.rand(len(z), 28, 28), 6, device=CPU)
    explorer = ConditionalExplorer(generator_fn, 6, device=CPU)
    with pytest.raises(ValueError, match="z must be a tensor of 6 entries"):
        explorer.set_code(torch.zeros(3))
