"""Wall-clock timing that waits for the GPU, for benchmarks and notebooks."""

from __future__ import annotations

import time

import torch

__all__ = ["Timer"]


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``; waits for queued CUDA work at both ends."""

    def __init__(self) -> None:
        self.seconds = float("nan")

    def __enter__(self) -> Timer:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self._start
