import math

import pytest
import torch
from torch import nn

from course_lib.data import BatchIterator
from course_lib.training import Trainer, TrainingDiverged


def make_run(tmp_path=None, seed=0, poison_at=None, interrupt_at=None, log_every=5):
    """A small regression with noise in the step (so RNG state matters for resuming)."""
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))  # the same data always
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    y = x.sum(1, keepdim=True)
    batches = BatchIterator(x, y, batch_size=16, seed=seed)
    calls = {"n": 0}

    def step(xb, yb):
        calls["n"] += 1
        if interrupt_at is not None and calls["n"] == interrupt_at:
            raise KeyboardInterrupt
        noisy = xb + 0.1 * torch.randn_like(xb)
        loss = (model(noisy) - yb).pow(2).mean()
        if poison_at is not None and calls["n"] >= poison_at:
            loss = loss * float("nan")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss}

    trainer = Trainer(
        step,
        {"model": model},
        {"opt": opt},
        batches,
        log_every=log_every,
        progress=False,
        checkpoint_path=None if tmp_path is None else tmp_path / "ckpt.pt",
        snapshot_fn=lambda: model(torch.ones(2, 3)),
        snapshot_every=10,
    )
    return trainer, model


def test_resuming_from_a_checkpoint_reaches_the_same_state(tmp_path):
    straight, model_a = make_run()
    straight.fit(30)

    first, _ = make_run(tmp_path, seed=0)
    first.fit(15)  # saves tmp_path / ckpt.pt at the end
    second, model_b = make_run(tmp_path, seed=123)  # different init and RNG: all must be loaded
    assert second.load_checkpoint() == 15
    second.fit(30)

    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert second.history.steps == straight.history.steps
    assert second.history["mse"] == straight.history["mse"]
    assert [s for s, _ in second.history.snapshots] == [10, 20, 30]


def test_checkpoints_load_with_weights_only(tmp_path):
    trainer, _ = make_run(tmp_path)
    trainer.fit(5)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["step"] == 5 and "model" in state["models"]


def test_nan_stops_with_a_message_and_keeps_the_last_good_state(tmp_path):
    trainer, model = make_run(tmp_path, poison_at=8)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(30)
    message = str(info.value)
    assert "mse = nan" in message and "restored to step 5" in message
    assert trainer.step == 5
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert trainer.history.steps == [5] and math.isfinite(trainer.history["mse"][0])
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert saved["step"] == 5  # what it had is also on disk, ready to resume


def test_the_last_good_state_equals_an_uninterrupted_run_up_to_that_step(tmp_path):
    good, model_good = make_run()
    good.fit(5)
    bad, model_bad = make_run(poison_at=8)
    with pytest.raises(TrainingDiverged):
        bad.fit(30)
    for pa, pb in zip(model_good.parameters(), model_bad.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_keyboard_interrupt_keeps_the_model_and_history(capsys):
    trainer, model = make_run(interrupt_at=13)
    history = trainer.fit(30)  # returns instead of raising
    assert trainer.step == 12
    assert history.steps == [5, 10, 12]
    assert "Interrupted at step 12" in capsys.readouterr().out
    before = [p.clone() for p in model.parameters()]
    trainer.fit(20)  # and it can go on
    assert trainer.step == 20
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_trainer_rejects_bad_arguments():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = iter([])
    with pytest.raises(ValueError, match="models\\['m'\\] must be an nn.Module"):
        Trainer(lambda x: {}, {"m": "model"}, {"o": opt}, batches)
    with pytest.raises(ValueError, match="log_every"):
        Trainer(lambda x: {}, {"m": model}, {"o": opt}, batches, log_every=0)
    with pytest.raises(ValueError, match="snapshot_every"):
        Trainer(lambda x: {}, {"m": model}, {"o": opt}, batches, snapshot_fn=lambda: None)
    with pytest.raises(ValueError, match="steps"):
        Trainer(lambda x: {}, {"m": model}, {"o": opt}, batches).fit(-1)


def test_history_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    trainer, _ = make_run()
    trainer.fit(20)
    ax = trainer.history.plot()
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == [5, 10, 15, 20]
