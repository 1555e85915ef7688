"""course_lib.widgets.LatentStepper, driven from Python as a notebook user would.

The networks are the toy's, untrained but fixed by a seed; every step the widget takes is
compared with Z's own prediction for the same code and condition.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.recipes import cgml
from course_lib.widgets import LatentStepper


@pytest.fixture(scope="module")
def networks():
    torch.manual_seed(0)
    nets = cgml.build_networks(cgml.CGMLSettings(), "toy")
    for net in nets:
        net.eval()
    return nets


def mode_fn(outputs, condition):
    return cgml.toy_on_mode(outputs, condition.expand(len(outputs), -1))


@pytest.fixture()
def stepper(networks):
    conditions = torch.tensor([[0.2], [0.5], [0.9]])
    return LatentStepper(*networks, conditions, mode_fn=mode_fn, mode_names=["+f(x)", "-f(x)"])


def z_step(networks, condition, z, correction=True):
    encoder, _, updater = networks
    with torch.no_grad():
        z_hat, rho_hat = updater(encoder(condition), z[None])
        return (cgml.inference_update(z[None], z_hat, rho_hat) if correction else z_hat)[0]


def test_a_step_follows_z_and_changes_the_picture_and_the_path(stepper, networks):
    assert stepper.path.shape == (1, 2)
    image, png = stepper.image.copy(), stepper.image_widget.value
    assert png[:4] == b"\x89PNG" and image.ndim == 3
    stepper.step()
    assert stepper.path.shape == (2, 2)
    want = z_step(networks, stepper.conditions[0:1], stepper.path[0])
    torch.testing.assert_close(stepper.path[1], want)
    assert stepper.image.shape == image.shape and not np.array_equal(stepper.image, image)
    assert stepper.image_widget.value != png
    stepper.step(3)
    assert stepper.path.shape == (5, 2)
    encoder, generator, _ = networks
    with torch.no_grad():
        want_output = generator(encoder(stepper.conditions[0:1]), stepper.path[-1:])[0]
    torch.testing.assert_close(stepper.output, want_output)


def test_without_the_correction_the_code_jumps_to_z_hat(stepper, networks):
    stepper.correction.value = False
    assert stepper.path.shape == (1, 2)  # switching resets the walk
    stepper.step_button.click()
    want = z_step(networks, stepper.conditions[0:1], stepper.path[0], correction=False)
    torch.testing.assert_close(stepper.path[1], want)


def test_the_start_sliders_and_the_condition_restart_the_walk(stepper, networks):
    stepper.step(2)
    stepper.sliders[0].value = 0.5
    stepper.sliders[1].value = -1.0
    torch.testing.assert_close(stepper.path, torch.tensor([[0.5, -1.0]]))
    stepper.step()
    stepper.condition.value = 2
    torch.testing.assert_close(stepper.path, torch.tensor([[0.5, -1.0]]))
    stepper.step()
    want = z_step(networks, stepper.conditions[2:3], torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(stepper.path[1], want)
    stepper.set_start(torch.tensor([1.0, 1.0]))
    assert stepper.sliders[0].value == 1.0 and stepper.path.shape == (1, 2)


def test_the_caption_names_the_mode_of_the_output(stepper, networks):
    encoder, generator, _ = networks
    x = stepper.conditions[0:1]
    mode = int(mode_fn(generator(encoder(x), stepper.path[-1:]).detach(), x)[0])
    expected = "no mode" if mode < 0 else ["+f(x)", "-f(x)"][mode]
    assert expected in stepper.caption.value


def test_images_are_shown_as_images():
    torch.manual_seed(0)
    nets = cgml.build_networks(cgml.CGMLSettings(), "stroke")
    stepper = LatentStepper(*nets, torch.rand(2, 1, 28, 28))
    assert stepper.output.shape == (1, 28, 28)
    stepper.run_button.click()
    assert stepper.path.shape == (9, 2)


def test_bad_inputs_are_refused(networks):
    with pytest.raises(ValueError, match="conditions must be a"):
        LatentStepper(*networks, torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="start must be a tensor of 2 entries"):
        LatentStepper(*networks, torch.rand(3, 1), start=torch.zeros(3))
    stepper = LatentStepper(*networks, torch.rand(3, 1))
    with pytest.raises(ValueError, match="n must be a positive int"):
        stepper.step(0)
