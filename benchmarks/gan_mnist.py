"""Chapters 02, 04 and 05 on MNIST: classifier score, FID, digit shares, conditional accuracy.

    python benchmarks/gan_mnist.py                         # DCGAN, WGAN-GP, cGAN, AC-GAN, seed 0
    python benchmarks/gan_mnist.py --model gan wgan-gp --seeds 0 1 2 3 4
    python benchmarks/gan_mnist.py --model cgan --set steps=6000
    python benchmarks/gan_mnist.py --model gan --set steps=12000 --during 4   # how it grows
    python benchmarks/gan_mnist.py --model gan --d-width 64                  # a wider D
    python benchmarks/gan_mnist.py --model gan-clusters   # with k-means pseudo-labels
    python benchmarks/gan_mnist.py --shipped     # measure the shipped weights, no training

It trains what the notebooks train: course_lib.models.dcgan with
course_lib.recipes.gan.mnist_settings ("gan": DCGAN; "wgan-gp": the same generator against a
critic without BatchNorm), course_lib.recipes.gan.mnist_cluster_settings ("gan-clusters",
"wgan-gp-clusters": the same conditioned on k-means clusters of the training digits, see
course_lib.clusters) or course_lib.recipes.cgan.lecture_settings ("cgan", "acgan"), on
the 60,000 training digits scaled to [-1, 1]. It then draws 10,000 samples and measures them
with the course's classifier (course_lib.metrics): the classifier score (real test digits:
9.75), FID against the 10,000 test digits (real train vs test: 3.1), the smallest digit share
of the class histogram, and for conditional models the share labelled as the digit asked.
Goals (issue #3): score >= 9.0 with every digit >= 5%; conditional accuracy >= 97%.
``--shipped`` measures the weights in course_lib/weights (what the notebooks load where they do
not train) with the same protocol, instead of training.
``--during K`` also measures the samples drawn at K - 1 evenly spaced steps of the same run
(with the learning-rate decay of the whole run, so not what a shorter run would reach) and
prints each as it is taken, so a run stopped early keeps them in its log; the train time then
includes drawing and measuring them.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from settings_cli import parse_changes

import course_lib as cl
from course_lib import metrics, weights
from course_lib.lecture_models import LECTURE_MODELS
from course_lib.models import dcgan
from course_lib.recipes import cgan as conditional
from course_lib.recipes import gan as recipe

MODELS = ("gan", "wgan-gp", "gan-clusters", "wgan-gp-clusters", "cgan", "acgan")
SHIPPED = {
    "gan": "02_dcgan",
    "wgan-gp": "04_wgan_gp",
    "gan-clusters": "02_dcgan_clusters",
    "wgan-gp-clusters": "04_wgan_gp_clusters",
    "cgan": "05_cgan",
    "acgan": "05_acgan",
}


@torch.no_grad()
def draw(generator, n: int, seed: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    """n samples in [0, 1] on the CPU, drawn in batches from seeded codes."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, 1000):
        batch = None if labels is None else labels[start : start + 1000]
        out.append(((generator.sample(min(1000, n - start), g, batch) + 1) / 2).cpu())
    return torch.cat(out)


def asked_digits(model: str) -> torch.Tensor | None:
    """The digits asked of the 10,000 samples of a conditional ``model`` (None otherwise)."""
    return torch.arange(10_000) % 10 if model in conditional.KINDS else None


def measure(samples: torch.Tensor, asked, classifier, test_stats) -> dict[str, float]:
    """The metrics of 10,000 samples in [0, 1] (``asked``: the digits asked, or None)."""
    mu, cov = metrics.feature_statistics(samples, classifier)
    result = {
        "score": metrics.classifier_score(samples, classifier),
        "fid": metrics.frechet_distance(mu, cov, *test_stats),
        "min_share": metrics.class_histogram(samples, classifier).min().item(),
    }
    if asked is not None:
        result["accuracy"] = metrics.conditional_accuracy(samples, asked, classifier)
    return result


def run(model, seed, args, train, device, classifier, test_stats):
    """Train ``model`` with ``seed`` and the command line's ``args`` and return the final metrics;
    prints the settings (first seed) and, with ``--during K`` > 1, the metrics of the samples
    drawn at K - 1 evenly spaced steps of the run as they are taken."""
    cl.seed_everything(seed)
    real = train.images * 2 - 1
    asked = asked_digits(model)
    if model in conditional.KINDS:
        changes = parse_changes(args.set, conditional.ConditionalSettings)[0]
        settings = conditional.lecture_settings(model, **changes)
        generator = dcgan.Generator(num_classes=10).to(device)
    else:
        preset = (
            recipe.mnist_cluster_settings if model.endswith("-clusters") else recipe.mnist_settings
        )
        changes = parse_changes(args.set, recipe.GANSettings)[0]
        settings = preset(model.removesuffix("-clusters"), **changes)
        k = settings.clusters
        generator = (dcgan.ClusterGenerator(clusters=k) if k else dcgan.Generator()).to(device)

    if seed == args.seeds[0]:
        width = "" if args.d_width is None else f", D of width {args.d_width}"
        print(f"\n{model}: {settings}{width}", flush=True)
    along = []  # (step, metrics) of each snapshot, printed as it is taken
    every = recipe.snapshot_every(settings.steps, args.during)  # as the run's Trainer takes them

    def snapshot():  # the Trainer calls it with the networks in eval mode
        samples = draw(generator, 10_000, 10_000 + seed, asked)
        step = every * (len(along) + 1)
        if step < settings.steps:  # the last one is the final result, measured below
            along.append((step, measure(samples, asked, classifier, test_stats)))
            print(
                f"  seed {seed}, step {step:,} of {settings.steps:,}: {describe(along[-1][1])}",
                flush=True,
            )
        return samples[:1]  # the figures are kept in ``along``; the history keeps one image

    wide = {} if args.d_width is None else {"width": args.d_width}  # else the lecture's D
    during = {"snapshot_fn": snapshot, "snapshots": args.during} if args.during > 1 else {}
    with cl.Timer() as timer:
        if model not in conditional.KINDS:
            critic = recipe.mnist_discriminator(settings, args.d_width).to(device)
            trainer = recipe.train_gan(real, generator, critic, settings, seed=seed, **during)
        else:
            heads = {"num_classes": 10} if model == "cgan" else {"aux_classes": 10}
            critic = dcgan.Discriminator(**wide, **heads).to(device)
            trainer = conditional.train_conditional(
                real, train.labels, generator, critic, settings, seed=seed, **during
            )
    taken = [step for step, _ in trainer.history.snapshots if step < settings.steps]
    printed = [step for step, _ in along]
    if printed != taken:  # the labels printed above were wrong
        raise RuntimeError(f"snapshots were taken at steps {taken}, printed as {printed}")
    result = measure(draw(generator, 10_000, 10_000 + seed, asked), asked, classifier, test_stats)
    result["seconds"] = timer.seconds
    return result


def measure_shipped(model, device, classifier, test_stats):
    """The shipped run of ``model``: its settings (from the manifest) and its metrics."""
    name = SHIPPED[model]
    run = weights.load_run(name, LECTURE_MODELS[name].build(device))
    asked = asked_digits(model)
    samples = draw(run.models["generator"], 10_000, 10_000, asked)  # as run() draws for seed 0
    result = measure(samples, asked, classifier, test_stats)
    result["seconds"] = run.record.get("seconds", float("nan"))
    return run.record["settings"], result


def describe(r: dict[str, float]) -> str:
    # Two decimals: on 10,000 samples they are exact, and they tell 96.96% from the goal's 97%.
    extra = f", labelled as asked {100 * r['accuracy']:.2f}%" if "accuracy" in r else ""
    return (
        f"classifier score {r['score']:.2f}, FID {r['fid']:.1f}, rarest digit "
        f"{100 * r['min_share']:.1f}%{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, nargs="+", default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--during", type=int, default=1, metavar="K", help="measure K times along each run"
    )
    parser.add_argument(
        "--d-width", type=int, default=None, metavar="W", help="D's width (default: the lecture's)"
    )
    parser.add_argument(
        "--shipped", action="store_true", help="measure the shipped weights instead of training"
    )
    args = parser.parse_args()
    given = {
        "--set": bool(args.set),
        "--during": args.during > 1,
        "--d-width": args.d_width is not None,
        "--seeds": args.seeds != [0],
    }
    if args.shipped and any(given.values()):
        options = ", ".join(name for name, used in given.items() if used)
        parser.error(f"--shipped measures the shipped runs as trained; drop {options}")
    if args.d_width is not None and args.d_width < 1:
        parser.error(f"--d-width must be at least 1, got {args.d_width}")
    if args.during < 1:
        parser.error(f"--during must be at least 1, got {args.during}")
    device = cl.get_device()
    train = None if args.shipped else cl.load_mnist("train", device)  # --shipped trains nothing
    test = cl.load_mnist("test", device)
    classifier = metrics.load_classifier(device=device)
    test_stats = metrics.feature_statistics(test.images, classifier)
    print(f"device: {cl.describe_device(device)}; torch {torch.__version__}")
    for model in args.model:
        if args.shipped:
            settings, r = measure_shipped(model, device, classifier, test_stats)
            print(f"\n{model} (shipped {SHIPPED[model]}.pt): {settings}")
            print(f"  {describe(r)}, trained in {r['seconds']:.0f} s", flush=True)
            continue
        rows = []
        for seed in args.seeds:
            r = run(model, seed, args, train, device, classifier, test_stats)
            rows.append(r)
            print(f"  seed {seed}: {describe(r)}, trained in {r['seconds']:.0f} s", flush=True)
        if len(rows) > 1:
            parts = []
            for key, scale, fmt in (
                ("score", 1, ".2f"),
                ("fid", 1, ".1f"),
                ("min_share", 100, ".1f"),
                ("accuracy", 100, ".1f"),
                ("seconds", 1, ".0f"),
            ):
                if key in rows[0]:
                    values = [scale * r[key] for r in rows]
                    mean, spread = statistics.mean(values), statistics.stdev(values)
                    parts.append(f"{key} {mean:{fmt}} ± {spread:{fmt}}")
            print(f"  {model} over {len(rows)} seeds: " + ", ".join(parts), flush=True)


if __name__ == "__main__":
    main()
