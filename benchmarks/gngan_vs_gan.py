"""Chapter 06: GN-GAN against the plain GAN, same networks and iterations, on the grid and MNIST.

    python benchmarks/gngan_vs_gan.py                              # the grid, seeds 0-4
    python benchmarks/gngan_vs_gan.py --seeds 0 --set steps=3000   # a shorter run
    python benchmarks/gngan_vs_gan.py --data mnist --seeds 0       # MNIST (long on a CPU)
    python benchmarks/gngan_vs_gan.py --model gngan --set lambda_r=1.0 sigma_x=3.0

It trains what notebooks/06_gngan.ipynb trains. Grid: the MLPs of chapter 02 (z in R^2, three
hidden layers of 128) on 100,000 points of the grid of 25 ({-4, ..., 4}^2, std 0.05); the GAN
with course_lib.recipes.gan.mixture_settings("gan"), GN-GAN with
course_lib.recipes.gngan.grid_settings() (the same steps, batch, Adam and decay) and an
encoder of the same size; 2,500 samples measured as VEEGAN and PacGAN do (modes covered,
high-quality share, reverse KL). MNIST: the DCGAN generator, the DCGAN discriminator without
BatchNorm for both models (GN-GAN needs per-sample gradients), a convolutional encoder for
GN-GAN; mnist_settings of each recipe; 10,000 samples, classifier score and FID against the
10,000 test digits. ``--set`` changes fields of both settings where they exist (steps, batch_size,
lr_g, ...) and GN-GAN's own fields (alpha, lambda_r, sigma_x, ...) for GN-GAN only. Record
what it prints in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import fields

import torch
from settings_cli import parse_changes

import course_lib as cl
from course_lib import metrics
from course_lib.data import grid_mixture
from course_lib.models import dcgan
from course_lib.models.gan import MLPDiscriminator, MLPGenerator
from course_lib.models.gngan import ConvEncoder, MLPEncoder
from course_lib.recipes import gan as gan_recipe
from course_lib.recipes import gngan

NETWORK = {"latent_dim": 2, "width": 128, "depth": 3}  # chapter 02's MLPs
MODELS = ("gan", "gngan")


def split_changes(pairs: list[str]):
    """--set pairs -> (changes for GANSettings, changes for GNGANSettings, network)."""
    gn_changes, network = parse_changes(pairs, gngan.GNGANSettings, NETWORK)
    gan_fields = {f.name for f in fields(gan_recipe.GANSettings)}
    gan_changes = {k: v for k, v in gn_changes.items() if k in gan_fields}
    return gan_changes, gn_changes, network


def run_grid(model: str, seed: int, gan_changes, gn_changes, network, device):
    mixture = grid_mixture()
    g = cl.seed_everything(seed)
    real = mixture.sample(100_000, generator=g, device=device)
    width, depth, latent = network["width"], network["depth"], network["latent_dim"]
    generator = MLPGenerator(latent, 2, width, depth).to(device)
    discriminator = MLPDiscriminator(2, width, depth).to(device)
    with cl.Timer() as timer:
        if model == "gan":
            settings = gan_recipe.mixture_settings("gan", **gan_changes)
            gan_recipe.train_gan(real, generator, discriminator, settings, seed)
        else:
            settings = gngan.grid_settings(**gn_changes)
            encoder = MLPEncoder(2, latent, width, depth).to(device)
            gngan.train_gngan(real, generator, discriminator, encoder, settings, seed)
    samples = generator.sample(2500, generator=torch.Generator().manual_seed(10_000 + seed))
    stats = metrics.mode_statistics(samples, mixture.centres, mixture.std)
    row = {
        "modes": stats.modes_covered,
        "quality": stats.high_quality,
        "kl": stats.reverse_kl,
        "seconds": timer.seconds,
    }
    return settings, row


@torch.no_grad()
def draw(generator, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = [((generator.sample(min(1000, n - i), g) + 1) / 2).cpu() for i in range(0, n, 1000)]
    return torch.cat(out)


def run_mnist(model: str, seed: int, gan_changes, gn_changes, data, device):
    train, classifier, test_stats = data
    cl.seed_everything(seed)
    real = train.images * 2 - 1
    generator = dcgan.Generator().to(device)
    discriminator = dcgan.Discriminator(batch_norm=False).to(device)
    with cl.Timer() as timer:
        if model == "gan":
            settings = gan_recipe.mnist_settings("gan", **gan_changes)
            gan_recipe.train_gan(real, generator, discriminator, settings, seed)
        else:
            settings = gngan.mnist_settings(**gn_changes)
            encoder = ConvEncoder(latent_dim=generator.latent_dim).to(device)
            gngan.train_gngan(real, generator, discriminator, encoder, settings, seed)
    samples = draw(generator, 10_000, 10_000 + seed)
    mu, cov = metrics.feature_statistics(samples, classifier)
    row = {
        "score": metrics.classifier_score(samples, classifier),
        "fid": metrics.frechet_distance(mu, cov, *test_stats),
        "seconds": timer.seconds,
    }
    return settings, row


def describe(data: str, row: dict) -> str:
    if data == "grid":
        return (
            f"{row['modes']} modes, {100 * row['quality']:.1f}% high quality, "
            f"reverse KL {row['kl']:.3f}, {row['seconds']:.0f} s"
        )
    return f"classifier score {row['score']:.2f}, FID {row['fid']:.1f}, {row['seconds']:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["grid", "mnist"], nargs="+", default=["grid"])
    parser.add_argument("--model", choices=MODELS, nargs="+", default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    gan_changes, gn_changes, network = split_changes(args.set)
    device = cl.get_device()
    print(f"device: {cl.describe_device(device)}; torch {torch.__version__}; network {network}")
    for data in args.data:
        mnist_data = None
        if data == "mnist":
            classifier = metrics.load_classifier(device=device)
            test = cl.load_mnist("test", device)
            mnist_data = (
                cl.load_mnist("train", device),
                classifier,
                metrics.feature_statistics(test.images, classifier),
            )
        for model in args.model:
            rows = []
            for seed in args.seeds:
                if data == "grid":
                    settings, row = run_grid(model, seed, gan_changes, gn_changes, network, device)
                else:
                    settings, row = run_mnist(
                        model, seed, gan_changes, gn_changes, mnist_data, device
                    )
                if not rows:
                    print(f"\n{data}, {model}: {settings}", flush=True)
                rows.append(row)
                print(f"  seed {seed}: {describe(data, row)}", flush=True)
            if len(rows) > 1:
                means = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
                sds = {k: statistics.stdev(r[k] for r in rows) for k in rows[0]}
                if data == "grid":
                    print(
                        f"  {data} {model}: {means['modes']:.1f} ± {sds['modes']:.1f} modes, "
                        f"{100 * means['quality']:.1f} ± {100 * sds['quality']:.1f}% high "
                        f"quality, reverse KL {means['kl']:.3f}, {means['seconds']:.0f} s per run",
                        flush=True,
                    )
                else:
                    print(
                        f"  {data} {model}: score {means['score']:.2f} ± {sds['score']:.2f}, "
                        f"FID {means['fid']:.1f} ± {sds['fid']:.1f}, {means['seconds']:.0f} s "
                        "per run",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
