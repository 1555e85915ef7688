"""The one training loop of the course.

A chapter writes its own *step*: the few lines that compute its loss, call ``backward``
and step its optimizers, exactly as in pytorch/examples. :class:`Trainer` runs that step
and adds the comforts: a progress bar, a :class:`History` of the losses, sample
snapshots, checkpoints that resume to the same state, a clear stop on NaN/inf that keeps
the last good weights, and Ctrl-C (or the notebook's stop button) that keeps what was
trained so far.

Losses are averaged on the device and read back only every ``log_every`` steps, so the
step itself never waits for the host.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["History", "Trainer", "TrainingDiverged", "StepFn"]

StepFn = Callable[..., Mapping[str, torch.Tensor]]


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the trainer has restored the last good state."""


def _check_losses(losses) -> None:
    """A step must return {"name": 0-d tensor}; say how to fix what it returned instead."""
    if not isinstance(losses, Mapping):
        raise ValueError(
            f"step_fn must return a dict of losses such as {{'loss': loss}}, got "
            f"{type(losses).__name__}; end the step with: return {{'loss': loss}}"
        )
    for name, value in losses.items():
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"step_fn returned {name!r} = {got}; each loss must be a one-number tensor: "
                "return the loss itself (not loss.item()), averaged over the batch (.mean())"
            )


@dataclass
class History:
    """Losses logged during training (one mean per ``log_every`` steps) and snapshots."""

    steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)

    def record(self, step: int, means: Mapping[str, float]) -> None:
        if self.steps and set(means) != set(self.losses):
            raise ValueError(
                f"a step returned losses {sorted(means)}, earlier steps returned "
                f"{sorted(self.losses)}; a step must always return the same names"
            )
        self.steps.append(step)
        for name, value in means.items():
            self.losses.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.losses:
            raise KeyError(f"no loss named {name!r}; logged: {sorted(self.losses)}")
        return self.losses[name]

    def last(self) -> dict[str, float]:
        """The most recent logged value of each loss."""
        return {name: values[-1] for name, values in self.losses.items() if values}

    def plot(self, names: list[str] | None = None, ax=None, logy: bool = False):
        """Loss curves against the training step (see :func:`course_lib.plotting.plot_history`)."""
        from .plotting import plot_history

        return plot_history(self, names=names, ax=ax, logy=logy)

    def state_dict(self) -> dict:
        return {
            "steps": list(self.steps),
            "losses": {k: list(v) for k, v in self.losses.items()},
            "snapshot_steps": [s for s, _ in self.snapshots],
            "snapshot_images": [img for _, img in self.snapshots],
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.steps = list(state["steps"])
        self.losses = {k: list(v) for k, v in state["losses"].items()}
        self.snapshots = list(zip(state["snapshot_steps"], state["snapshot_images"], strict=True))


class Trainer:
    """Runs ``step_fn(*batch) -> {"name": scalar loss, ...}`` for a number of steps.

    Parameters
    ----------
    step_fn: one training step: zero_grad, loss, backward, optimizer step; returns the
        losses to log as 0-d tensors (detached or not).
    models, optimizers: named modules and optimizers, saved in checkpoints and restored
        on divergence.
    schedulers: learning-rate schedulers, stepped once after every step and checkpointed.
    batches: an iterator of batches (tuples of tensors), usually a
        :class:`course_lib.data.BatchIterator`; its position is checkpointed when it can be.
    log_every: how often (in steps) losses are read back, checked and recorded.
    snapshot_fn, snapshot_every: a function returning images (e.g. decoded samples from
        fixed codes) stored in the history every ``snapshot_every`` steps.
    checkpoint_path, checkpoint_every: where and how often to save; the end of
        :meth:`fit`, an interruption and a divergence also save there.
    """

    def __init__(
        self,
        step_fn: StepFn,
        models: Mapping[str, nn.Module],
        optimizers: Mapping[str, torch.optim.Optimizer],
        batches: Iterator,
        *,
        schedulers: Mapping[str, torch.optim.lr_scheduler.LRScheduler] | None = None,
        log_every: int = 50,
        snapshot_fn: Callable[[], torch.Tensor] | None = None,
        snapshot_every: int | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int | None = None,
        progress: bool = True,
        desc: str = "training",
    ):
        if not callable(step_fn):
            raise ValueError(f"step_fn must be callable, got {type(step_fn).__name__}")
        if not models:
            raise ValueError("models must name at least one nn.Module")
        for name, m in models.items():
            if not isinstance(m, nn.Module):
                raise ValueError(f"models[{name!r}] must be an nn.Module, got {type(m).__name__}")
        for name, opt in optimizers.items():
            if not isinstance(opt, torch.optim.Optimizer):
                raise ValueError(
                    f"optimizers[{name!r}] must be a torch.optim.Optimizer, "
                    f"got {type(opt).__name__}"
                )
        for arg, value in (
            ("log_every", log_every),
            ("snapshot_every", snapshot_every),
            ("checkpoint_every", checkpoint_every),
        ):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        if not isinstance(batches, Iterator):
            raise ValueError(
                f"batches must be an iterator of batches, got {type(batches).__name__}; use "
                "course_lib.BatchIterator(images, batch_size=...) (endless), or wrap a list or "
                "DataLoader in itertools.cycle(...)"
            )
        if snapshot_fn is not None and snapshot_every is None:
            raise ValueError("snapshot_fn needs snapshot_every (how many steps between snapshots)")
        self.step_fn = step_fn
        self.models = dict(models)
        self.optimizers = dict(optimizers)
        self.schedulers = dict(schedulers or {})
        self.batches = batches
        self.log_every = log_every
        self.snapshot_fn = snapshot_fn
        self.snapshot_every = snapshot_every
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.desc = desc
        self.step = 0
        self.history = History()
        self._last_good = self._capture(with_history=False)

    # -- state -----------------------------------------------------------------------
    def _capture(self, with_history: bool = True) -> dict:
        """A copy of everything a resumed or restored run needs.

        The in-memory "last good" copy leaves the history out: nothing is recorded in it
        after the last good step, so a divergence has nothing there to undo.
        """
        state = {
            "step": self.step,
            "models": {k: copy.deepcopy(m.state_dict()) for k, m in self.models.items()},
            "optimizers": {k: copy.deepcopy(o.state_dict()) for k, o in self.optimizers.items()},
            "schedulers": {k: copy.deepcopy(s.state_dict()) for k, s in self.schedulers.items()},
            "rng_cpu": torch.get_rng_state(),
        }
        if with_history:
            state["history"] = self.history.state_dict()
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        if hasattr(self.batches, "state_dict"):
            state["batches"] = dict(self.batches.state_dict())
        return state

    def _restore(self, state: Mapping) -> None:
        self.step = int(state["step"])
        for k, m in self.models.items():
            m.load_state_dict(state["models"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        if "history" in state:
            self.history.load_state_dict(state["history"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        if "batches" in state and hasattr(self.batches, "load_state_dict"):
            self.batches.load_state_dict(state["batches"])

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        """Save models, optimizers, step, history, RNG and data position to ``path``."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("save_checkpoint needs a path (or checkpoint_path on the Trainer)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self._capture(), tmp)
        tmp.replace(path)  # never leave a half-written checkpoint behind
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> int:
        """Resume from ``path`` (loaded with ``weights_only=True``); returns the step reached."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            raise FileNotFoundError(f"no checkpoint at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing = {"step", "models", "optimizers", "history"} - set(state)
        if missing:
            raise ValueError(f"{path} is not a course_lib checkpoint (missing {sorted(missing)})")
        if set(state["models"]) != set(self.models):
            raise ValueError(
                f"{path} holds models {sorted(state['models'])}, this trainer has "
                f"{sorted(self.models)}"
            )
        self._restore(state)
        self._last_good = self._capture(with_history=False)
        return self.step

    # -- the loop --------------------------------------------------------------------
    def _take_snapshot(self) -> None:
        modes = {k: m.training for k, m in self.models.items()}
        for m in self.models.values():
            m.eval()
        with torch.no_grad():
            images = self.snapshot_fn().detach().float().cpu()
        for k, m in self.models.items():
            m.train(modes[k])
        self.history.snapshots.append((self.step, images))

    def _log(self, sums: dict[str, torch.Tensor], count: int, bar) -> None:
        """Read the averaged losses back (one host sync), check them, record them."""
        names = list(sums)
        values = torch.stack([sums[n] for n in names]).div(count).tolist()
        means = dict(zip(names, values, strict=True))
        bad = {n: v for n, v in means.items() if not math.isfinite(v)}
        if bad:
            good_step = self._last_good["step"]
            self._restore(self._last_good)
            if self.checkpoint_path is not None:
                self.save_checkpoint()
            if bar is not None:
                bar.close()
            what = ", ".join(f"{n} = {v}" for n, v in bad.items())
            raise TrainingDiverged(
                f"training diverged: {what} in the steps after step {good_step}. "
                f"The models, optimizers and history were restored to step {good_step}, the last "
                f"step whose losses were finite"
                + (f" (also saved to {self.checkpoint_path})" if self.checkpoint_path else "")
                + ". Lower the learning rate or check the loss for log(0) or a division by "
                "zero, then call fit() again to continue."
            )
        self.history.record(self.step, means)
        self._last_good = self._capture(with_history=False)
        if bar is not None:
            bar.set_postfix({n: f"{v:.4g}" for n, v in means.items()}, refresh=False)

    def fit(self, steps: int) -> History:
        """Train until the step counter reaches ``steps`` (so a resumed run continues)."""
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative int, got {steps!r}")
        for m in self.models.values():
            m.train()
        bar = (
            tqdm(total=steps, initial=min(self.step, steps), desc=self.desc, dynamic_ncols=True)
            if self.progress
            else None
        )
        sums: dict[str, torch.Tensor] = {}
        count = 0
        try:
            while self.step < steps:
                try:
                    batch = next(self.batches)
                except StopIteration:
                    raise ValueError(
                        f"the batches ran out at step {self.step} of {steps}; give the Trainer "
                        "an endless stream: course_lib.BatchIterator(images, batch_size=...), "
                        "or itertools.cycle(...) around a list or DataLoader"
                    ) from None
                losses = self.step_fn(*batch) if isinstance(batch, tuple) else self.step_fn(batch)
                _check_losses(losses)
                for sched in self.schedulers.values():
                    sched.step()
                for name, value in losses.items():
                    value = value.detach().float()
                    sums[name] = sums[name] + value if name in sums else value
                count += 1
                self.step += 1
                if bar is not None:
                    bar.update(1)
                if self.step % self.log_every == 0 or self.step == steps:
                    self._log(sums, count, bar)
                    sums, count = {}, 0
                if self.snapshot_fn is not None and self.step % self.snapshot_every == 0:
                    self._take_snapshot()
                if self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            if count:
                self._log(sums, count, None)
            if self.checkpoint_path is not None:
                self.save_checkpoint()
            if bar is not None:
                bar.close()
            print(
                f"Interrupted at step {self.step}: the models and the history so far are kept"
                + (f" and saved to {self.checkpoint_path}" if self.checkpoint_path else "")
                + ". Call fit() again to continue."
            )
            return self.history
        if bar is not None:
            bar.close()
        if self.checkpoint_path is not None:
            self.save_checkpoint()
        return self.history
