"""The real-data floor of the course's metrics: what real MNIST scores on them.

A generator cannot be expected to beat real digits, so these are the figures to read
generated samples against: the classifier's test accuracy, the classifier score of the
10,000 test digits (at most 10), and the FID between the first 10,000 training digits and
the 10,000 test digits (two real samples: FID's floor at this sample size).

    python benchmarks/metrics_floor.py            # on get_device(): the GPU when there is one
    python benchmarks/metrics_floor.py --n 2000   # a quicker, noisier floor
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.data import load_mnist  # noqa: E402
from course_lib.device import describe_device, get_device  # noqa: E402
from course_lib.metrics import (  # noqa: E402
    classifier_score,
    conditional_accuracy,
    fid,
    load_classifier,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="images per set (<= 10,000)")
    args = parser.parse_args(argv)
    if not 2 <= args.n <= 10_000:
        parser.error(f"--n must be in [2, 10000], got {args.n}")

    device = get_device()
    start = time.perf_counter()
    test = load_mnist("test", device=device, limit=args.n)
    train = load_mnist("train", device=device, limit=args.n)
    classifier = load_classifier(device)
    loaded = time.perf_counter()

    accuracy = conditional_accuracy(test.images, test.labels, classifier)
    score = classifier_score(test.images, classifier)
    floor = fid(train.images, test.images, classifier)
    done = time.perf_counter()

    rows = [
        ("device", describe_device(device)),
        (f"classifier accuracy, {args.n} test images", f"{accuracy:.4f}"),
        (f"classifier score, {args.n} test images", f"{score:.3f} (max 10)"),
        (f"FID, {args.n} train vs {args.n} test images", f"{floor:.3f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        f"wall time: {done - start:.1f} s ({loaded - start:.1f} s loading, "
        f"{done - loaded:.1f} s metrics)"
    )


if __name__ == "__main__":
    main()
