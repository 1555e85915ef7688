import urllib.error

import pytest
import torch

from course_lib.data import BatchIterator, MnistNotFoundError, data_dir, load_mnist


def test_real_mnist_test_split_through_torchvision(mnist_test):
    images, labels = mnist_test
    assert images.shape == (2000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (2000,) and labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(labels.tolist()) == set(range(10))
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's first test digits


def test_missing_data_offline_names_the_folder_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    with pytest.raises(MnistNotFoundError) as info:
        load_mnist("test", device="cpu", download=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "COURSE_DATA_DIR" in message


def test_a_failed_download_gives_the_same_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(MnistNotFoundError, match="the download failed .*no network"):
        load_mnist("train", device="cpu")


def test_load_mnist_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")
    with pytest.raises(ValueError, match="limit"):
        load_mnist("test", limit=0)


def test_batch_iterator_visits_every_row_once_per_epoch():
    x = torch.arange(10)
    it = BatchIterator(x, x * 10, batch_size=3, seed=1)
    first_epoch = torch.cat([next(it)[0] for _ in range(3)])  # 3 full batches, 1 row dropped
    assert len(set(first_epoch.tolist())) == 9
    a, b = next(it)  # second epoch starts with a new order
    assert torch.equal(b, a * 10) and it.epoch == 1


def test_batch_iterator_resumes_with_the_batch_it_would_have_drawn():
    x = torch.arange(100)
    it = BatchIterator(x, batch_size=8, seed=5)
    for _ in range(17):
        next(it)
    state = it.state_dict()
    expected = [next(it)[0] for _ in range(5)]
    resumed = BatchIterator(x, batch_size=8, seed=0)
    resumed.load_state_dict(state)
    for want in expected:
        assert torch.equal(next(resumed)[0], want)


def test_batch_iterator_rejects_mismatched_tensors():
    with pytest.raises(ValueError, match="same length"):
        BatchIterator(torch.zeros(5), torch.zeros(6), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        BatchIterator(torch.zeros(5), batch_size=6)
