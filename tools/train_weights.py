"""Train each chapter's main model at the lecture budget and ship its weights.

Every model of :data:`course_lib.lecture_models.LECTURE_MODELS` is trained exactly as its
lecture notebook trains it, saved to ``course_lib/weights/NAME.pt`` (float16 state dicts,
the training history with uint8 snapshots), loaded back, measured on a fixed sample, and
recorded in ``course_lib/weights/manifest.json`` with its sha256, settings, device and time.
Notebooks then load these files when they do not train (:func:`course_lib.weights.load_or_train`).

    python tools/train_weights.py                 # every model
    python tools/train_weights.py 02_dcgan 05_cgan
    python tools/train_weights.py --list
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import weights  # noqa: E402
from course_lib.config import smoke_test  # noqa: E402
from course_lib.device import describe_device, get_device  # noqa: E402
from course_lib.lecture_models import LECTURE_MODELS  # noqa: E402

BUDGET_MB = 20.0


def train_one(name: str, directory: Path) -> dict:
    entry = LECTURE_MODELS[name]
    device = get_device()
    models = entry.build(device)
    start = time.perf_counter()
    run = entry.train(models, device)
    seconds = time.perf_counter() - start
    record = {
        "chapter": entry.chapter,
        "settings": repr(entry.settings()),
        "device": describe_device(device),
        "seconds": round(seconds, 1),
        "trained_by": f"tools/train_weights.py {name}",
    }
    path = weights.save_run(name, run, record, directory)
    loaded = weights.load_run(name, entry.build(device), directory)  # measure what ships
    record["measured"] = {k: round(v, 4) for k, v in entry.measure(loaded.models, device).items()}
    weights.update_manifest(path, record)
    print(
        f"{name}: {run.step} steps in {seconds:.0f} s on {record['device']}; {record['measured']}"
    )
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", help=f"which models (default all): {list(LECTURE_MODELS)}"
    )
    parser.add_argument("--list", action="store_true", help="list the models and stop")
    parser.add_argument("--out", type=Path, default=weights.WEIGHTS_DIR, help="where files go")
    args = parser.parse_args(argv)
    if args.list:
        for name, entry in LECTURE_MODELS.items():
            print(f"{name}: chapter {entry.chapter}, {entry.settings()}")
        return
    if smoke_test():
        parser.error("SMOKE_TEST is set: shipped weights must be trained at the lecture budget")
    unknown = [n for n in args.names if n not in LECTURE_MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(LECTURE_MODELS)}")
    for name in args.names or list(LECTURE_MODELS):
        train_one(name, args.out)
    total = sum(p.stat().st_size for p in args.out.glob("*.pt")) / 1e6
    print(f"{args.out}: {total:.1f} MB of weights (budget {BUDGET_MB:.0f} MB)")
    if total > BUDGET_MB:
        sys.exit(f"the shipped weights take {total:.1f} MB, over the {BUDGET_MB:.0f} MB budget")


if __name__ == "__main__":
    main()
