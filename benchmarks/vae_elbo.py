"""Chapter 01 at the lecture budget: test negative ELBO, wall time and device.

    python benchmarks/vae_elbo.py            # the lecture's VAE, seed 0
    python benchmarks/vae_elbo.py --seeds 0 1 2

It trains exactly what notebooks/01_vae.ipynb trains (course_lib.recipes.vae with the
lecture settings) on the 60,000 training images and evaluates the 10,000 test images:
negative ELBO in nats per image, summed BCE + KL with one z sample per image, the figure
pytorch/examples' VAE reports as its test loss. Goal: at most 100 nats in at most 5
minutes on a 2-core CPU. Record what it prints in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics

import torch

import course_lib as cl
from course_lib.recipes import vae as recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=float, default=recipe.LECTURE.epochs)
    args = parser.parse_args()
    device = cl.get_device()
    train = cl.load_mnist("train", device)
    test = cl.load_mnist("test", device)
    settings = recipe.lecture_settings(epochs=args.epochs)
    print(f"device: {cl.describe_device(device)}; torch {torch.__version__}; {settings}")
    results = []
    for seed in args.seeds:
        with cl.Timer() as timer:
            model, _ = recipe.train_vae(train.images, settings, seed=seed)  # bar: stderr
        torch.manual_seed(seed)
        scores = recipe.evaluate_vae(model, test.images)
        results.append((scores["negative_elbo"], timer.seconds))
        print(
            f"seed {seed}: test -ELBO {scores['negative_elbo']:.2f} nats "
            f"(BCE {scores['reconstruction']:.2f} + KL {scores['kl']:.2f}), "
            f"trained in {timer.seconds:.0f} s",
            flush=True,
        )
    if len(results) > 1:
        elbos, times = zip(*results, strict=True)
        print(
            f"mean over {len(results)} seeds: test -ELBO {statistics.mean(elbos):.2f} "
            f"± {statistics.stdev(elbos):.2f} nats, {statistics.mean(times):.0f} s per run"
        )


if __name__ == "__main__":
    main()
