import os

import pytest
import torch

# The unit tests run on the CPU whatever the machine has, so CI and a laptop agree.
os.environ.setdefault("COURSE_DEVICE", "cpu")
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def mnist_test():
    """The first 2,000 real MNIST test images (skips with the loader's message if absent)."""
    from course_lib.data import MnistNotFoundError, load_mnist

    try:
        return load_mnist("test", device="cpu", limit=2000, download=False)
    except MnistNotFoundError as err:
        pytest.skip(f"real MNIST is not available: {err}")
