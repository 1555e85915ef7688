"""Chapter 07, cGML: both modes from different starts, on the 3-D toy and on stroke-MNIST.

    python benchmarks/cgml.py                         # the toy and stroke-MNIST, seed 0
    python benchmarks/cgml.py --task toy --seeds 0 1 2
    python benchmarks/cgml.py --task toy --set z_updates=each inner_steps=8
    python benchmarks/cgml.py --task stroke --set steps=3000

It trains what notebooks/07_cgml.ipynb trains, with course_lib.recipes.cgml's presets
(toy_settings, stroke_settings) and networks (build_networks), then measures:

* toy: 100,000 pairs (x, y = +/-(4x, 4x^2, 4x^3)), x in [0.1, 1]; over 1,000 conditions x 8
  starts from the unit ball, the share of outputs within 0.1 (relative L2) of a mode and the
  share of conditions with both modes reached, with and without the rho correction; and the
  phantom case: from codes between the modes where Z's average step vanishes (the two modes
  pull equally), the share that ends on a mode, with and without the correction.
* stroke: MNIST's training digits as inputs, each target the digit itself with a white
  stroke drawn on 30% of them (afresh at every draw); over 500 test digits x 16 starts: the
  share of outputs with the stroke, the share of digits with both modes reached, and the L1
  distance to the nearer true mode, beside plain regressions (MSE and L1) on the same data.

Record what it prints in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse

import torch
from settings_cli import parse_changes

import course_lib as cl
from course_lib.data import StrokeBatches, cgml_toy
from course_lib.models.cgml import Regressor
from course_lib.recipes import cgml as recipe


def toy(seed: int, changes: dict, device) -> None:
    settings = recipe.toy_settings(**changes)
    g = cl.seed_everything(seed)
    x, y, _ = cgml_toy(100_000, g, device)
    encoder, generator, updater = (n.to(device) for n in recipe.build_networks(settings, "toy"))
    with cl.Timer() as timer:
        recipe.train_cgml(
            encoder,
            generator,
            updater,
            cl.BatchIterator(x, y, batch_size=settings.batch_size, seed=seed),
            settings,
            seed=seed,
        )
    print(f"  seed {seed}: trained in {timer.seconds:.0f} s", flush=True)
    steps = settings.inference_steps
    for correction in (True, False):
        r = recipe.evaluate_toy(
            encoder, generator, updater, 1000, 8, steps, correction, seed=10_000 + seed
        )
        print(
            f"    {'with' if correction else 'without'} the rho correction: "
            f"{100 * r['on_mode']:.1f}% of outputs on a mode, both modes for "
            f"{100 * r['both_modes']:.1f}% of conditions, {100 * r['plus_share']:.1f}% on +f(x)",
            flush=True,
        )
    for t in sorted({1, steps // 4, steps // 2, steps}):
        p = recipe.evaluate_phantom(encoder, generator, updater, 200, t, seed=seed)
        print(
            f"    phantom starts (Z's average step ~ 0; both modes reachable for "
            f"{100 * p['found']:.0f}% of 200 conditions), after {t} steps: "
            f"{100 * p['corrected']:.1f}% on a mode with the correction, "
            f"{100 * p['uncorrected']:.1f}% without; first step {p['first_step_corrected']:.3f} "
            f"vs {p['first_step_uncorrected']:.4f}",
            flush=True,
        )


def stroke(seed: int, changes: dict, device, regression_steps: int) -> None:
    settings = recipe.stroke_settings(**changes)
    cl.seed_everything(seed)
    train = cl.load_mnist("train", device)
    test = cl.load_mnist("test", device, limit=500)
    encoder, generator, updater = (n.to(device) for n in recipe.build_networks(settings, "stroke"))
    with cl.Timer() as timer:
        recipe.train_cgml(
            encoder,
            generator,
            updater,
            StrokeBatches(train.images, settings.batch_size, 0.3, seed=seed),
            settings,
            seed=seed,
        )
    print(f"  seed {seed}: cGML trained in {timer.seconds:.0f} s", flush=True)
    for correction in (True, False):
        r = recipe.evaluate_stroke(
            encoder, generator, updater, test.images, 16, settings.inference_steps, correction,
            seed=10_000 + seed,
        )  # fmt: skip
        print(
            f"    cGML {'with' if correction else 'without'} the rho correction: "
            f"{100 * r['stroke_share']:.1f}% of outputs with the stroke, both modes for "
            f"{100 * r['both_modes']:.1f}% of digits, L1 to the nearer mode "
            f"{r['l1_nearest']:.4f}",
            flush=True,
        )
    net = recipe.STROKE_NETWORKS
    for loss in ("mse", "l1"):
        torch.manual_seed(seed)
        model = Regressor(cond_dim=net["cond_dim"], width=net["width"], output=net["output"])
        model = model.to(device)
        with cl.Timer() as timer:
            recipe.train_regression(
                model,
                StrokeBatches(train.images, settings.batch_size, 0.3, seed=seed),
                regression_steps,
                loss,
            )
        r = recipe.evaluate_regression(model, test.images)
        print(
            f"    regression ({loss}, {regression_steps} steps, {timer.seconds:.0f} s): "
            f"{100 * r['stroke_share']:.1f}% with the stroke, stroke pixels at "
            f"{r['stroke_brightness']:.3f} of full brightness, L1 to the nearer mode "
            f"{r['l1_nearest']:.4f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["toy", "stroke"], nargs="+", default=["toy", "stroke"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--regression-steps", type=int, default=None)
    args = parser.parse_args()
    changes, _ = parse_changes(args.set, recipe.CGMLSettings)
    device = cl.get_device()
    print(f"device: {cl.describe_device(device)}; torch {torch.__version__}")
    for task in args.task:
        preset = recipe.toy_settings if task == "toy" else recipe.stroke_settings
        print(f"\n{task}: {preset(**changes)}", flush=True)
        for seed in args.seeds:
            if task == "toy":
                toy(seed, changes, device)
            else:
                steps = args.regression_steps or preset(**changes).steps
                stroke(seed, changes, device, steps)


if __name__ == "__main__":
    main()
