"""benchmarks/gan_mnist.py: --shipped measures the runs as shipped, so it refuses the options
that would change a training run instead of measuring something else in silence."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gan_mnist.py"


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


def test_every_model_has_a_shipped_run():
    sys.path.insert(0, str(SCRIPT.parent))
    import gan_mnist

    from course_lib.lecture_models import LECTURE_MODELS

    assert set(gan_mnist.SHIPPED) == set(gan_mnist.MODELS)
    assert set(gan_mnist.SHIPPED.values()) <= set(LECTURE_MODELS)
