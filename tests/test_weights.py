"""Shipped weights: verified before loading, reproducing what the manifest records."""

import math

import pytest
import torch
from torch import nn

from course_lib import weights
from course_lib.lecture_models import LECTURE_MODELS
from course_lib.training import History, Trainer


def _tiny_run(seed: int = 0) -> Trainer:
    """A trained-for-3-steps linear model with a history and two snapshots."""
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(8, 3)

    def step(batch):
        loss = model(batch).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}

    trainer = Trainer(
        step,
        {"net": model},
        {"sgd": opt},
        iter(lambda: (x,), None),
        log_every=1,
        snapshot_fn=lambda: model(x),
        snapshot_every=2,
        progress=False,
    )
    trainer.fit(4)
    return trainer


@pytest.fixture
def shipped(tmp_path):
    run = _tiny_run()
    path = weights.save_run("tiny", run, {"seconds": 1.5, "device": "test"}, tmp_path)
    return run, path


def test_a_saved_run_loads_back_with_its_history_and_snapshots(shipped, tmp_path):
    run, _ = shipped
    fresh = nn.Linear(3, 2)
    loaded = weights.load_run("tiny", {"net": fresh}, tmp_path)
    assert loaded.step == 4
    assert loaded.history.steps == run.history.steps == [1, 2, 3, 4]
    assert loaded.history["loss"] == run.history["loss"]
    assert [s for s, _ in loaded.history.snapshots] == [2, 4]
    for (_, got), (_, want) in zip(loaded.history.snapshots, run.history.snapshots, strict=True):
        # uint8 over the snapshot's own range: at most half a level off
        span = float(want.max() - want.min())
        assert (got - want).abs().max() <= span / 255 / 2 + 1e-6
    # float16 storage: the weights agree to float16's precision, and the model is in eval mode
    torch.testing.assert_close(fresh.weight, run.models["net"].weight, rtol=1e-3, atol=1e-3)
    assert not fresh.training
    assert loaded.record["device"] == "test" and len(loaded.record["sha256"]) == 64


def test_a_damaged_file_is_refused_with_what_to_do(shipped, tmp_path):
    _, path = shipped
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="does not match its sha256") as info:
        weights.load_run("tiny", {"net": nn.Linear(3, 2)}, tmp_path)
    assert "mode='train'" in str(info.value) and "train_weights.py tiny" in str(info.value)


def test_a_missing_file_or_entry_is_refused(shipped, tmp_path):
    with pytest.raises(weights.WeightsError, match="missing.*mode='train'"):
        weights.load_run("other", {"net": nn.Linear(3, 2)}, tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(weights.WeightsError, match="no sha256"):
        weights.load_run("tiny", {"net": nn.Linear(3, 2)}, tmp_path)


def test_weights_that_do_not_fit_the_model_are_refused(shipped, tmp_path):
    with pytest.raises(weights.WeightsError, match="does not fit the Linear"):
        weights.load_run("tiny", {"net": nn.Linear(4, 2)}, tmp_path)
    with pytest.raises(weights.WeightsError, match=r"holds the models \['net'\]"):
        weights.load_run("tiny", {"generator": nn.Linear(3, 2)}, tmp_path)


def test_load_or_train_follows_the_mode(shipped, tmp_path, monkeypatch, capsys):
    calls = []

    def train():
        calls.append(1)
        return "trained"

    net = nn.Linear(3, 2)
    assert weights.load_or_train("tiny", {"net": net}, train, "train", tmp_path) == "trained"
    assert "training now (asked to)" in capsys.readouterr().out
    loaded = weights.load_or_train("tiny", {"net": net}, train, "auto", tmp_path)  # CPU: load
    assert isinstance(loaded, weights.LoadedRun) and calls == [1]
    out = capsys.readouterr().out
    assert "loaded the shipped weights (no GPU here" in out and "in 2 s" in out
    weights.load_or_train("tiny", {"net": net}, train, "load", tmp_path)
    assert "loaded the shipped weights (asked to;" in capsys.readouterr().out
    # "auto" on an accelerator that is not CUDA (Apple MPS) loads too, and says why
    monkeypatch.setattr(weights, "_device_of", lambda models: torch.device("mps"))
    weights.load_or_train("tiny", {"net": net}, train, "auto", tmp_path)
    assert "auto trains on a CUDA GPU only; this is mps" in capsys.readouterr().out
    assert calls == [1]
    monkeypatch.setenv("COURSE_WEIGHTS", "train")
    assert weights.load_or_train("tiny", {"net": net}, train, directory=tmp_path) == "trained"
    monkeypatch.setenv("COURSE_WEIGHTS", "fast")
    with pytest.raises(ValueError, match="COURSE_WEIGHTS must be one of"):
        weights.load_or_train("tiny", {"net": net}, train, directory=tmp_path)
    with pytest.raises(ValueError, match="mode must be one of"):
        weights.load_or_train("tiny", {"net": net}, train, "maybe", tmp_path)


def test_a_history_without_snapshots_round_trips(tmp_path):
    run = _tiny_run()
    run.history.snapshots = []
    weights.save_run("plain", run, directory=tmp_path)
    loaded = weights.load_run("plain", {"net": nn.Linear(3, 2)}, tmp_path)
    assert loaded.history.snapshots == [] and isinstance(loaded.history, History)


# --- the files the course ships -----------------------------------------------------------


def test_every_lecture_model_ships_within_the_size_budget():
    manifest = weights.manifest()
    names = [f"{name}.pt" for name in LECTURE_MODELS]
    missing = [n for n in names if n not in manifest]
    assert not missing, f"not shipped: {missing}; run python tools/train_weights.py"
    total = sum((weights.WEIGHTS_DIR / n).stat().st_size for n in manifest)
    assert total <= 20e6, f"{total / 1e6:.1f} MB of weights, over 20 MB"


@pytest.mark.parametrize("name", list(LECTURE_MODELS))
def test_shipped_weights_were_trained_with_the_current_lecture_settings(name, monkeypatch):
    monkeypatch.delenv("SMOKE_TEST", raising=False)  # the lecture budget, as the script ran
    record = weights.manifest()[f"{name}.pt"]
    assert record["settings"] == repr(LECTURE_MODELS[name].settings()), (
        f"{name}: the lecture's settings changed since its weights were trained; run "
        f"python tools/train_weights.py {name}"
    )


@pytest.mark.parametrize("name", list(LECTURE_MODELS))
def test_a_shipped_model_reproduces_the_figure_its_manifest_records(name, mnist_test):
    entry = LECTURE_MODELS[name]
    device = torch.device("cpu")
    loaded = weights.load_run(name, entry.build(device))
    measured = entry.measure(loaded.models, device)
    recorded = loaded.record["measured"]
    assert set(measured) == set(recorded)
    for key, value in measured.items():
        assert math.isclose(value, recorded[key], rel_tol=2e-3, abs_tol=2e-3), (key, value)
