"""Train the course's MNIST classifier and ship its weights with a manifest entry.

The classifier (:class:`course_lib.models.classifier.MnistClassifier`) is the judge behind
:mod:`course_lib.metrics`: its p(y|x) gives the classifier score, its 128 penultimate
features give the FID. This script trains it on the 60,000 real training digits (with
small random shifts as augmentation), reports its accuracy on the 10,000 test digits,
writes the state dict and records the file's sha256 in ``manifest.json`` beside it, which
:func:`course_lib.metrics.load_classifier` checks before loading.

    python tools/train_classifier.py                       # 3 epochs, seed 0
    python tools/train_classifier.py --epochs 5 --seed 1 --out /tmp/clf.pt

The test split is used once, at the end, to report the accuracy; nothing is tuned on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.data import BatchIterator, load_mnist  # noqa: E402
from course_lib.device import describe_device, get_device, seed_everything  # noqa: E402
from course_lib.models.classifier import MnistClassifier  # noqa: E402
from course_lib.weights import update_manifest  # noqa: E402

DEFAULT_OUT = ROOT / "course_lib" / "weights" / "mnist_classifier.pt"
BATCH_SIZE = 128
MAX_LR = 3e-3
MAX_SHIFT = 2  # pixels


def random_shift(x: torch.Tensor, max_shift: int = MAX_SHIFT) -> torch.Tensor:
    """Move each image by its own random (dy, dx) in [-max_shift, max_shift]^2, zero filled."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)  # (B, 1, h + 2m, w + 2m)
    oy = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    ox = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, h, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, w)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, 0, rows, cols].unsqueeze(1)  # (B, 1, h, w)


@torch.no_grad()
def accuracy(model: MnistClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        logits = model(images[start : start + 1000])
        correct += (logits.argmax(1) == labels[start : start + 1000]).sum().item()
    return correct / len(images)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="passes over the 60,000 digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the weights go")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")

    device = get_device()
    seed_everything(args.seed)
    train = load_mnist("train", device=device)
    test = load_mnist("test", device=device)
    print(
        f"training on {describe_device(device)}: {len(train.images)} images, "
        f"{args.epochs} epochs, seed {args.seed}"
    )

    model = MnistClassifier().to(device)
    batches = BatchIterator(train.images, train.labels, batch_size=BATCH_SIZE, seed=args.seed)
    steps = args.epochs * batches.batches_per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=MAX_LR)
    # One-cycle: warm up, then anneal to ~0, which gets the most out of a few epochs.
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=MAX_LR, total_steps=steps, pct_start=0.15
    )
    start = time.perf_counter()
    model.train()
    running = torch.zeros((), device=device)
    bar = tqdm(range(1, steps + 1), desc="classifier", unit="step", dynamic_ncols=True)
    for step in bar:
        x, y = next(batches)
        loss = F.cross_entropy(model(random_shift(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.detach()
        if step % batches.batches_per_epoch == 0:
            epoch = step // batches.batches_per_epoch
            mean = running.item() / batches.batches_per_epoch
            running.zero_()
            bar.set_postfix(epoch=epoch, loss=f"{mean:.4f}")
            bar.write(
                f"epoch {epoch}/{args.epochs}: train loss {mean:.4f}, "
                f"{time.perf_counter() - start:.0f} s"
            )
    bar.close()
    train_seconds = time.perf_counter() - start

    test_accuracy = accuracy(model, test.images, test.labels)
    print(
        f"test accuracy: {test_accuracy:.4f} ({len(test.images)} images), "
        f"trained in {train_seconds:.0f} s"
    )

    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: t.detach().cpu() for k, t in model.state_dict().items()}
    torch.save(state, out)
    manifest = update_manifest(
        out,
        {
            "test_accuracy": round(test_accuracy, 4),
            "trained_by": f"tools/train_classifier.py --epochs {args.epochs} --seed {args.seed}",
            "device": describe_device(device),
            "train_seconds": round(train_seconds, 1),
        },
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and its entry in {manifest}")


if __name__ == "__main__":
    main()
