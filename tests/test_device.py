import pytest
import torch

from course_lib import (
    autocast,
    budget,
    describe_device,
    get_device,
    seed_everything,
    smoke_test,
)


def test_course_device_overrides(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "toaster")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device()


def test_seeding_repeats_the_same_numbers():
    seed_everything(3)
    a = torch.randn(4)
    seed_everything(3)
    assert torch.equal(a, torch.randn(4))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_autocast_is_a_no_op_on_cpu():
    with autocast(torch.device("cpu")):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_smoke_budget_switch(monkeypatch):
    monkeypatch.setenv("SMOKE_TEST", "1")
    assert smoke_test() and budget(1000, 5) == 5
    monkeypatch.setenv("SMOKE_TEST", "0")
    assert not smoke_test() and budget(1000, 5) == 1000
    monkeypatch.delenv("SMOKE_TEST")
    assert budget(1000, 5) == 1000


def test_the_cpu_is_described_with_its_thread_count():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "CPU (1 thread)"
        torch.set_num_threads(2)
        assert describe_device(torch.device("cpu")) == "CPU (2 threads)"
    finally:
        torch.set_num_threads(threads)
