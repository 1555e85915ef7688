import numpy as np
import pytest
import torch

from course_lib.models import VAE
from course_lib.widgets import InterpolationExplorer, LatentExplorer


@pytest.fixture()
def decode():
    torch.manual_seed(0)
    vae = VAE(latent_dim=4, hidden=(32,)).eval()
    return lambda z: torch.sigmoid(vae.decode(z))


def test_moving_a_slider_changes_the_rendered_image(decode):
    explorer = LatentExplorer(decode, latent_dim=4, device=torch.device("cpu"))
    assert len(explorer.sliders) == 4
    before_png, before = explorer.image_widget.value, explorer.image.copy()
    explorer.sliders[2].value = 2.5
    assert explorer.code[2].item() == pytest.approx(2.5)
    assert explorer.image_widget.value != before_png
    assert np.abs(explorer.image - before).max() > 1e-3
    expected = decode(explorer.code.unsqueeze(0))[0, 0].detach().numpy()
    np.testing.assert_allclose(explorer.image, expected, atol=1e-6)


def test_set_code_moves_the_sliders_and_reset_returns(decode):
    start = torch.tensor([0.5, -0.5, 0.0, 1.0])
    explorer = LatentExplorer(decode, 4, start=start, dims=[0, 3], device=torch.device("cpu"))
    first = explorer.image.copy()
    explorer.set_code(torch.tensor([1.0, 1.0, 1.0, -2.0]))
    assert [s.value for s in explorer.sliders] == [1.0, -2.0]
    assert not np.allclose(explorer.image, first)
    explorer.reset_button.click()
    np.testing.assert_allclose(explorer.image, first, atol=1e-6)


def test_latent_explorer_rejects_bad_arguments(decode):
    with pytest.raises(ValueError, match="start must have 4 entries"):
        LatentExplorer(decode, 4, start=torch.zeros(3))
    with pytest.raises(ValueError, match="dims"):
        LatentExplorer(decode, 4, dims=[7])
    with pytest.raises(ValueError, match="decode must return images"):
        LatentExplorer(lambda z: z, 4, device=torch.device("cpu"))


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_goes_from_one_code_to_the_other(decode, method):
    z0, z1 = torch.randn(4), torch.randn(4)
    widget = InterpolationExplorer(
        decode, z0, z1, steps=5, method=method, device=torch.device("cpu")
    )
    at0 = widget.image.copy()
    np.testing.assert_allclose(at0, decode(z0[None])[0, 0].detach().numpy(), atol=1e-5)
    widget.slider.value = 1.0
    np.testing.assert_allclose(widget.image, decode(z1[None])[0, 0].detach().numpy(), atol=1e-5)
    widget.slider.value = 0.5
    assert not np.allclose(widget.image, at0)
    assert widget.strip.shape[1] > widget.strip.shape[0]  # the path shown as a row
