"""Chapters 02 and 04 on the 2-D mixtures: modes covered, high-quality share, reverse KL.

    python benchmarks/gan_mixtures.py                          # every loss, both mixtures, 5 seeds
    python benchmarks/gan_mixtures.py --mixture grid --loss wgan-gp --seeds 0 1
    python benchmarks/gan_mixtures.py --loss gan --set steps=30000 latent_dim=8
    python benchmarks/gan_mixtures.py --mixture grid --loss gan --set r1_gamma=1   # with R1

It trains what notebooks/02_gan.ipynb and notebooks/04_wgan.ipynb train: the MLPs of
course_lib.models.gan with course_lib.recipes.gan.mixture_settings, on 100,000 points of
the ring of 8 (radius 1, std 0.01) or the grid of 25 ({-4,...,4}^2, std 0.05), then draws
2,500 samples and measures them as VEEGAN and PacGAN do (course_lib.metrics.mode_statistics).
Record what it prints in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from settings_cli import parse_changes

import course_lib as cl
from course_lib.data import grid_mixture, ring_mixture
from course_lib.metrics import mode_statistics
from course_lib.models.gan import MLPDiscriminator, MLPGenerator
from course_lib.recipes import gan as recipe

MIXTURES = {"ring": ring_mixture, "grid": grid_mixture}
NETWORK = {"latent_dim": 2, "width": 128, "depth": 3}  # the chapter's MLPs


def run(mixture_name: str, loss: str, seed: int, changes: dict, network: dict, device):
    mixture = MIXTURES[mixture_name]()
    g = cl.seed_everything(seed)
    real = mixture.sample(100_000, generator=g, device=device)
    generator = MLPGenerator(network["latent_dim"], 2, network["width"], network["depth"])
    settings = recipe.mixture_settings(loss, **changes)
    discriminator = MLPDiscriminator(2 * settings.pack, network["width"], network["depth"])
    with cl.Timer() as timer:
        recipe.train_gan(
            real,
            generator.to(device),
            discriminator.to(device),
            settings,
            seed=seed,
        )
    samples = generator.sample(2500, generator=torch.Generator().manual_seed(10_000 + seed))
    stats = mode_statistics(samples, mixture.centres, mixture.std)
    return stats, timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixture", choices=list(MIXTURES), nargs="+", default=list(MIXTURES))
    parser.add_argument("--loss", choices=recipe.LOSSES, nargs="+", default=["gan", "wgan-gp"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    changes, network = parse_changes(args.set, recipe.GANSettings, NETWORK)
    device = cl.get_device()
    print(f"device: {cl.describe_device(device)}; torch {torch.__version__}; network {network}")
    for mixture_name in args.mixture:
        for loss in args.loss:
            settings = recipe.mixture_settings(loss, **changes)
            print(f"\n{mixture_name}, {settings}", flush=True)
            rows = []
            for seed in args.seeds:
                stats, seconds = run(mixture_name, loss, seed, changes, network, device)
                rows.append((stats.modes_covered, stats.high_quality, stats.reverse_kl, seconds))
                print(
                    f"  seed {seed}: {stats.modes_covered} modes, "
                    f"{100 * stats.high_quality:.1f}% high quality, "
                    f"reverse KL {stats.reverse_kl:.3f}, {seconds:.0f} s",
                    flush=True,
                )
            if len(rows) > 1:
                modes, quality, kl, seconds = zip(*rows, strict=True)
                print(
                    f"  {mixture_name} {loss}: {statistics.mean(modes):.1f} ± "
                    f"{statistics.stdev(modes):.1f} modes, {100 * statistics.mean(quality):.1f} "
                    f"± {100 * statistics.stdev(quality):.1f}% high quality, reverse KL "
                    f"{statistics.mean(kl):.3f}, {statistics.mean(seconds):.0f} s per run",
                    flush=True,
                )


if __name__ == "__main__":
    main()
