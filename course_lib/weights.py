"""Trained weights shipped with the course: verify, load, or train now.

A student on a laptop should not wait half an hour for a DCGAN, and a lecturer with a GPU
should train live. Each chapter's main model is shipped in ``course_lib/weights/`` as a
small state dict, trained at the lecture budget by ``python tools/train_weights.py``;
``manifest.json`` beside it records the file's sha256, the settings, the device, the time
and a metric measured on the saved model. Before loading, the file's sha256 is checked
against the manifest, and it is read with ``torch.load(..., weights_only=True)``.

In a notebook::

    trainer = weights.load_or_train(
        "02_dcgan", {"generator": generator, "discriminator": discriminator},
        train=lambda: recipe.train_gan(...), mode=WEIGHTS,
    )

``mode`` is ``"train"`` (train now), ``"load"`` (the shipped weights) or ``"auto"``: train
when a CUDA GPU is present, load otherwise. Notebooks start from :func:`default_mode`, which
reads the ``COURSE_WEIGHTS`` environment variable, so one setting can serve every notebook.
Either way the result has ``models``, ``history`` and ``step``, so the cells after it do not
care which it was.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .device import get_device
from .training import History, Trainer

__all__ = [
    "WEIGHTS_DIR",
    "MODES",
    "WeightsError",
    "LoadedRun",
    "sha256",
    "manifest",
    "verified_path",
    "update_manifest",
    "save_run",
    "load_run",
    "load_or_train",
    "default_mode",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODES = ("auto", "train", "load")
_TRAIN_HINT = (
    "train it now instead with mode='train' (or COURSE_WEIGHTS=train), or recreate the file "
    "with `python tools/train_weights.py {name}`"
)


class WeightsError(RuntimeError):
    """A shipped weights file is missing, damaged, or does not fit the model it is loaded into."""


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(directory: Path = WEIGHTS_DIR) -> dict:
    """The manifest of ``directory``: {file name: {"sha256": ..., ...}}; {} if there is none."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise WeightsError(f"{path} is not valid JSON ({err}); restore it from git") from None


def update_manifest(weights_file: Path, entry: Mapping) -> Path:
    """Record ``entry`` plus the file's sha256 and size under its name in its folder's manifest."""
    weights_file = Path(weights_file)
    path = weights_file.parent / "manifest.json"
    data = manifest(weights_file.parent)
    data[weights_file.name] = {
        **entry,
        "sha256": sha256(weights_file),
        "bytes": weights_file.stat().st_size,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def verified_path(file_name: str, directory: Path = WEIGHTS_DIR, hint: str = "") -> Path:
    """The path of ``file_name`` in ``directory`` after checking its sha256 against the manifest.

    Raises :class:`WeightsError` naming what is wrong (missing file, no manifest entry, hash
    mismatch) followed by ``hint``, what to do about it.
    """
    path = Path(directory) / file_name
    hint = f"; {hint}" if hint else ""
    if not path.is_file():
        raise WeightsError(f"the weights file {path} is missing{hint}")
    entry = manifest(directory).get(file_name)
    if not isinstance(entry, Mapping) or "sha256" not in entry:
        raise WeightsError(
            f"{Path(directory) / 'manifest.json'} has no sha256 for {file_name}, so it cannot be "
            f"verified{hint}"
        )
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise WeightsError(
            f"{path} does not match its sha256 in the manifest (expected "
            f"{entry['sha256'][:12]}..., got {actual[:12]}...): the file is damaged or was "
            f"changed{hint}"
        )
    return path


@dataclass
class LoadedRun:
    """What :func:`load_run` gives back: the same ``models``, ``history`` and ``step`` as a
    :class:`~course_lib.Trainer`, plus the manifest entry of the file it came from."""

    models: dict[str, nn.Module]
    history: History
    step: int
    record: dict = field(default_factory=dict)


def _file_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.endswith(".pt"):
        raise ValueError(f"a weights name is a bare name such as '02_dcgan', got {name!r}")
    return f"{name}.pt"


def _small_history(history: History) -> dict:
    """The history without its snapshots' bulk: images are kept as uint8 (0..255 of [lo, hi])."""
    state = history.state_dict()
    packed = []
    for images in state.pop("snapshot_images"):
        lo, hi = float(images.min()), float(images.max())
        scale = (hi - lo) or 1.0
        packed.append(
            {
                "bytes": ((images - lo) / scale * 255).round().to(torch.uint8),
                "range": torch.tensor([lo, hi]),
            }
        )
    state["snapshot_images"] = packed
    return state


def _full_history(state: Mapping) -> History:
    state = dict(state)
    images = []
    for packed in state["snapshot_images"]:
        lo, hi = packed["range"].tolist()
        images.append(packed["bytes"].float() / 255 * ((hi - lo) or 1.0) + lo)
    state["snapshot_images"] = images
    history = History()
    history.load_state_dict(state)
    return history


def _half(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors stored as float16 (half the bytes; load_state_dict converts back)."""
    return {
        n: t.detach().cpu().half() if t.dtype == torch.float32 else t.detach().cpu()
        for n, t in state.items()
    }


def save_run(
    name: str,
    run: Trainer | LoadedRun,
    record: Mapping | None = None,
    directory: Path = WEIGHTS_DIR,
) -> Path:
    """Write ``run``'s models (state dicts, float32 stored as float16), step and history to
    ``directory/name.pt``.

    ``record`` (settings, device, time, a metric...) goes into the manifest with the file's
    sha256. Returns the file's path.
    """
    path = Path(directory) / _file_name(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "step": int(run.step),
        "models": {k: _half(m.state_dict()) for k, m in run.models.items()},
        "history": _small_history(run.history),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    update_manifest(path, dict(record or {}))
    return path


def load_run(
    name: str, models: Mapping[str, nn.Module], directory: Path = WEIGHTS_DIR
) -> LoadedRun:
    """Load the shipped run ``name`` into ``models`` (left in eval mode) after checking it.

    Raises :class:`WeightsError` if the file is missing, does not match its sha256, or holds
    other models or shapes than ``models``; the message says how to train instead.
    """
    file_name = _file_name(name)
    hint = _TRAIN_HINT.format(name=name)
    path = verified_path(file_name, directory, hint)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if set(state["models"]) != set(models):
        raise WeightsError(
            f"{path} holds the models {sorted(state['models'])}, but {sorted(models)} were "
            f"given to load into; {hint}"
        )
    for key, model in models.items():
        try:
            model.load_state_dict(state["models"][key])
        except RuntimeError as err:
            raise WeightsError(
                f"the {key} in {path} does not fit the {type(model).__name__} given "
                f"(built with other settings?): {str(err).splitlines()[0]}; {hint}"
            ) from None
        model.eval()
    record = dict(manifest(directory)[file_name])
    return LoadedRun(dict(models), _full_history(state["history"]), int(state["step"]), record)


def default_mode() -> str:
    """``COURSE_WEIGHTS`` if it is set (``"train"``, ``"load"`` or ``"auto"``), else ``"auto"``."""
    return _mode(None)


def _mode(mode: str | None) -> str:
    chosen = mode if mode is not None else os.environ.get("COURSE_WEIGHTS", "auto").strip()
    if chosen not in MODES:
        source = "mode" if mode is not None else "COURSE_WEIGHTS"
        raise ValueError(f"{source} must be one of {MODES}, got {chosen!r}")
    return chosen


def load_or_train(
    name: str,
    models: Mapping[str, nn.Module],
    train: Callable[[], Trainer],
    mode: str | None = None,
    directory: Path = WEIGHTS_DIR,
) -> Trainer | LoadedRun:
    """Train now (``train()``, which must train ``models``) or load the shipped run ``name``.

    ``mode``: ``"train"``, ``"load"`` or ``"auto"`` (train on a CUDA GPU, load elsewhere);
    ``None`` reads ``COURSE_WEIGHTS`` (default ``"auto"``). Prints which it did. A missing or
    damaged file raises :class:`WeightsError`, whose message says how to train instead.
    """
    if not callable(train):
        raise ValueError(f"train must be a function that trains the models, got {train!r}")
    chosen = _mode(mode)
    if not models:
        raise ValueError("models must name the networks that train() trains")
    device = _device_of(models)
    if chosen == "train" or (chosen == "auto" and device.type == "cuda"):
        why = "asked to" if chosen == "train" else f"a GPU is here ({device})"
        print(f"{name}: training now ({why}).")
        return train()
    run = load_run(name, models, directory)
    r = run.record
    trained = f"trained {run.step} steps"
    if "device" in r:
        trained += f" on {r['device']}"
    if "seconds" in r:
        trained += f" in {r['seconds']:.0f} s"
    if chosen == "load":
        where = "asked to"
    elif device.type == "cpu":
        where = "no GPU here"
    else:  # "auto" on another accelerator (Apple MPS, ...): the lecture trains on CUDA only
        where = f"auto trains on a CUDA GPU only; this is {device.type}"
    print(
        f"{name}: loaded the shipped weights ({where}; {trained}; sha256 checked). "
        "mode='train' trains them here."
    )
    return run


def _device_of(models: Mapping[str, nn.Module]) -> torch.device:
    for model in models.values():
        for p in model.parameters():
            return p.device
    return get_device()
