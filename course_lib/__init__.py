"""course_lib: the shared library of the deep generative models course.

Import what a chapter needs, e.g. ``from course_lib import get_device, load_mnist, Trainer``.
"""

from .config import budget, smoke_test
from .data import BatchIterator, MnistNotFoundError, load_mnist
from .device import autocast, describe_device, get_device, seed_everything
from .timing import Timer
from .training import History, Trainer, TrainingDiverged

__all__ = [
    "BatchIterator",
    "History",
    "MnistNotFoundError",
    "Trainer",
    "Timer",
    "TrainingDiverged",
    "autocast",
    "budget",
    "describe_device",
    "get_device",
    "load_mnist",
    "seed_everything",
    "smoke_test",
]
__version__ = "0.1.0"
