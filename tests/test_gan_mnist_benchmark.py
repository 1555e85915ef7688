"""benchmarks/gan_mnist.py: --shipped measures the runs as shipped, so it refuses the options
that would change a training run instead of measuring something else in silence."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gan_mnist.py"


@pytest.fixture
def gan_mnist():
    """The benchmark script, imported as a module."""
    sys.path.insert(0, str(SCRIPT.parent))
    import gan_mnist

    return gan_mnist


@pytest.fixture
def train():
    """256 random images with labels, in the shape of course_lib's MNIST split."""
    import torch

    return SimpleNamespace(images=torch.rand(256, 1, 28, 28), labels=torch.zeros(256).long())


@pytest.mark.parametrize(
    "extra", [["--set", "steps=10"], ["--during", "3"], ["--d-width", "64"], ["--seeds", "1"]]
)
def test_shipped_refuses_training_options(extra):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--shipped", "--model", "cgan", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--shipped measures the shipped runs as trained; drop " + extra[0] in done.stderr
    assert extra[0] in done.stderr


def test_every_model_has_a_shipped_run(gan_mnist):
    from course_lib.lecture_models import LECTURE_MODELS

    assert set(gan_mnist.SHIPPED) == set(gan_mnist.MODELS)
    assert set(gan_mnist.SHIPPED.values()) <= set(LECTURE_MODELS)


def test_during_prints_each_snapshot_as_it_is_taken(gan_mnist, train, monkeypatch, capsys):
    """--during K: the figures of each snapshot are printed while the run trains, labelled with
    the step the Trainer took it at, and the end of the run is measured once more (not printed
    as a snapshot). The metrics are stubbed; the training is real (4 steps on random images)."""
    import torch

    events = []

    def fake_measure(samples, asked, classifier, test_stats):
        events.append(len(samples))
        return {"score": float(len(events)), "fid": 0.0, "min_share": 0.1}

    monkeypatch.setattr(gan_mnist, "measure", fake_measure)
    monkeypatch.setattr(gan_mnist, "draw", lambda g, n, seed, asked: torch.zeros(3, 1, 28, 28))
    args = SimpleNamespace(set=["steps=4"], during=4, d_width=None, seeds=[0])
    result = gan_mnist.run("gan", 0, args, train, torch.device("cpu"), None, None)
    lines = [line for line in capsys.readouterr().out.splitlines() if "seed 0, step" in line]
    assert [line.split(":")[0].strip() for line in lines] == [
        "seed 0, step 1 of 4",
        "seed 0, step 2 of 4",
        "seed 0, step 3 of 4",
    ]
    assert [f"classifier score {k}.00" in line for k, line in enumerate(lines, 1)] == [True] * 3
    assert len(events) == 4 and result["score"] == 4.0  # three snapshots, then the end


def test_d_width_reaches_the_critic_and_is_printed(gan_mnist, train, monkeypatch, capsys):
    """--d-width W: the critic that trains has W channels in its first layer (the lecture's
    WGAN-GP critic has 32, or 64 with clusters), and the settings line names the width."""
    import torch

    trained = []

    def fake_train_gan(real, generator, critic, settings, seed, **during):
        trained.append(critic)
        raise KeyboardInterrupt  # the critic is all this test needs

    monkeypatch.setattr(gan_mnist.recipe, "train_gan", fake_train_gan)
    args = SimpleNamespace(set=["steps=2"], during=1, d_width=16, seeds=[0])
    with pytest.raises(KeyboardInterrupt):
        gan_mnist.run("wgan-gp", 0, args, train, torch.device("cpu"), None, None)
    first = next(m for m in trained[0].modules() if isinstance(m, torch.nn.Conv2d))
    assert first.out_channels == 16
    assert "D of width 16" in capsys.readouterr().out
