"""Smoke mode: one switch that shrinks every budget of the course.

``SMOKE_TEST=1`` (any of 1, true, yes) makes :func:`budget` return the smoke value, so the
test suite runs every notebook in minutes on two CPU cores. Code paths stay the same; only
the numbers (steps, epochs, samples) change.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

__all__ = ["smoke_test", "budget"]


def smoke_test() -> bool:
    """True when the ``SMOKE_TEST`` environment variable asks for tiny budgets."""
    return os.environ.get("SMOKE_TEST", "").strip().lower() in {"1", "true", "yes", "on"}


def budget(full: T, smoke: T) -> T:
    """The lecture budget ``full``, or ``smoke`` when the suite runs in smoke mode."""
    return smoke if smoke_test() else full
