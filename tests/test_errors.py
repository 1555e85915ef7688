"""A student's usual mistakes end in an error that says what to do next.

Wrong shapes, tensors on two devices (tested with PyTorch's "meta" device, so no GPU is
needed), a widget on another device than its model, a training step that returns the wrong
thing, and MNIST missing from disk.
"""

import numpy as np
import pytest
import torch

from course_lib import Trainer, losses
from course_lib.data import MnistNotFoundError, load_mnist
from course_lib.models import VAE
from course_lib.models.vae import reparameterize
from course_lib.widgets import InterpolationExplorer, LatentExplorer

META = torch.device("meta")  # a second device that every machine has


@pytest.fixture()
def vae():
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=(16,)).eval()


@pytest.mark.parametrize(
    "x, advice",
    [
        (torch.rand(1, 28, 28), "x.unsqueeze(0)"),
        (torch.rand(28, 28), "x.view(1, 1, 28, 28)"),
        (torch.rand(5, 28, 28), "x.unsqueeze(1)"),
        (torch.rand(5, 784), "x.view(-1, 1, 28, 28)"),
        (np.zeros((5, 1, 28, 28), dtype=np.float32), "torch.as_tensor(x, dtype=torch.float32)"),
        (torch.zeros(5, 1, 28, 28, dtype=torch.uint8), "x.float()"),
    ],
)
def test_images_of_the_wrong_shape_or_type_say_how_to_fix_them(vae, x, advice):
    with pytest.raises(ValueError) as info:
        vae.encode(x)
    assert advice in str(info.value)


def test_codes_of_the_wrong_shape_say_how_to_fix_them(vae):
    with pytest.raises(ValueError, match=r"z\.unsqueeze\(0\)"):
        vae.decode(torch.zeros(3))
    with pytest.raises(ValueError, match="built with latent_dim=3"):
        vae.decode(torch.zeros(2, 16))
    with pytest.raises(ValueError, match=r"mu\.unsqueeze\(0\)"):
        losses.gaussian_kl(torch.zeros(4), torch.zeros(4))


def test_tensors_on_two_devices_say_to_move_them_to_one(vae):
    cases = [
        lambda: vae.encode(torch.zeros(2, 1, 28, 28, device=META)),
        lambda: vae.decode(torch.zeros(2, 3, device=META)),
        lambda: losses.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3, device=META)),
        lambda: reparameterize(torch.zeros(2, 3), torch.zeros(2, 3, device=META)),
        lambda: losses.reconstruction_bce(torch.zeros(2, 4), torch.zeros(2, 4, device=META)),
    ]
    for call in cases:
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "meta" in message and "cpu" in message, message
        assert ".to(device)" in message and "course_lib.get_device()" in message, message


def test_a_widget_on_another_device_than_its_model_says_which_device_to_give(vae):
    with pytest.raises(ValueError) as info:
        LatentExplorer(lambda z: torch.sigmoid(vae.decode(z)), 3, device=META)
    assert "device=next(model.parameters()).device" in str(info.value)


def test_widget_arguments_that_do_not_fit_say_what_fits(vae):
    decode = lambda z: torch.sigmoid(vae.decode(z))  # noqa: E731
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match=r"torch\.sigmoid\(vae\.decode\(z\)\)"):
        LatentExplorer(lambda z: vae.decode(z).flatten(1), 3, device=cpu)
    with pytest.raises(ValueError, match=r"vae\.encode\(x\[:1\]\)\[0\]"):
        LatentExplorer(decode, 3, start=torch.zeros(2, 3), device=cpu)
    with pytest.raises(ValueError, match="same size"):
        InterpolationExplorer(decode, torch.zeros(3), torch.zeros(4), device=cpu)


def _trainer(step, batches):
    model = torch.nn.Linear(2, 1)
    return Trainer(step, {"m": model}, {"o": torch.optim.SGD(model.parameters(), lr=0.1)}, batches)


def test_training_mistakes_say_how_to_write_the_step_and_the_batches():
    batch = (torch.zeros(4, 2),)
    with pytest.raises(ValueError, match="BatchIterator"):
        _trainer(lambda x: {"loss": x.sum()}, [batch, batch])  # a list, not an iterator
    with pytest.raises(ValueError, match="ran out at step 2 of 5.*BatchIterator"):
        _trainer(lambda x: {"loss": x.sum()}, iter([batch, batch])).fit(5)
    with pytest.raises(ValueError, match=r"return \{'loss': loss\}"):
        _trainer(lambda x: x.sum(), iter([batch])).fit(1)
    with pytest.raises(ValueError, match=r"not loss\.item\(\)"):
        _trainer(lambda x: {"loss": x.sum().item()}, iter([batch])).fit(1)
    with pytest.raises(ValueError, match=r"\.mean\(\)"):
        _trainer(lambda x: {"loss": x.sum(1)}, iter([batch])).fit(1)


def test_missing_mnist_says_where_it_is_expected_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(MnistNotFoundError) as info:
        load_mnist("test", device="cpu", download=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "COURSE_DATA_DIR" in message and "t10k-images-idx3-ubyte" in message
