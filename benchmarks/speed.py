"""Training speed: the textbook loop against course_lib's loop, same model, batch and device.

    python benchmarks/speed.py                          # DCGAN, WGAN-GP and cGML, batch 128
    python benchmarks/speed.py --batch 128 512 --steps 50
    python benchmarks/speed.py --model dcgan --workers 0

For each model it times, in one process and on one device (course_lib.get_device()):

- textbook: ``benchmarks/textbook_loops.py``, pytorch/examples style (torchvision DataLoader
  with ToTensor and Normalize, ``--workers`` processes, float32, ``.item()`` every step), in
  two variants: fresh codes for G's update (Goodfellow's Algorithm 1, what the course does)
  and pytorch/examples' reuse of D's fakes (one G forward pass fewer);
- course: ``course_lib.recipes.gan.train_gan`` with the lecture's settings: data resident on
  the device and drawn by index, channels-last convolutions, fused Adam and bf16 autocast on
  CUDA, losses read back every ``log_every`` steps.

For cGML (chapter 07, stroke-MNIST) there is no textbook implementation: both loops run the
course's step (``make_cgml_step``); the textbook loop feeds it from the DataLoader, draws the
strokes on the host and reads the losses every step, the course's ``train_cgml`` draws
batches of device-resident digits and reads the losses every ``log_every`` steps.

Each loop first runs ``--warmup`` steps (not timed); then the loops take turns, ``--rounds``
times ``--steps`` steps each, so that a change in the machine's load hits them all alike.
Prints the median of real images consumed per second (k * batch per step for WGAN-GP) and
the course's speed over each textbook variant's.
Goals (issue #5): at least 4x the textbook loop on a GPU, at least 1.0x on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import textbook_loops as textbook
import torch

import course_lib as cl
from course_lib.data import StrokeBatches
from course_lib.models import dcgan
from course_lib.recipes import cgml
from course_lib.recipes import gan as recipe

MODELS = {"dcgan": "gan", "wgan-gp": "wgan-gp", "cgml": "cgml"}
STROKE_SHARE = 0.3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _networks(loss: str, device: torch.device):
    torch.manual_seed(0)
    return dcgan.Generator().to(device), dcgan.Discriminator(batch_norm=loss == "gan").to(device)


def timed(device, train_steps):
    """A runner: ``run(n)`` calls ``train_steps(n)`` and returns the seconds it took."""

    def run(n: int) -> float:
        _sync(device)
        start = time.perf_counter()
        train_steps(n)
        _sync(device)
        return time.perf_counter() - start

    return run


def textbook_runner(loss, settings, device, workers, fresh_noise):
    """The textbook DCGAN or WGAN-GP loop, fed by the torchvision DataLoader."""
    netG, netD = _networks(loss, device)
    optG = torch.optim.Adam(netG.parameters(), lr=settings.lr_g, betas=settings.betas)
    optD = torch.optim.Adam(netD.parameters(), lr=settings.lr_d, betas=settings.betas)
    batches = textbook.mnist_loader(cl.data.data_dir(), settings.batch_size, workers)

    def train_steps(n: int) -> None:
        for _ in range(n):
            reals = [next(batches).to(device) for _ in range(settings.d_steps)]
            if loss == "gan":
                textbook.gan_step(netG, netD, optG, optD, reals[0], fresh_noise=fresh_noise)
            else:
                textbook.wgan_gp_step(netG, netD, optG, optD, reals, settings.gp_weight)

    return timed(device, train_steps)


def course_runner(device, start_run, lecture_steps: int):
    """course_lib's loop: ``start_run(n)`` builds and trains a run of n steps (the warm-up);
    later calls go on with ``trainer.fit``, reading the losses back as the lecture run does."""
    trainer = None

    def train_steps(n: int) -> None:
        nonlocal trainer
        if trainer is None:
            trainer = start_run(n)
            trainer.log_every = recipe.log_every(lecture_steps)
        else:
            trainer.fit(trainer.step + n)

    return timed(device, train_steps)


def gan_course_runner(loss, settings, device, real):
    """course_lib's train_gan on MNIST resident on the device."""

    def start_run(n: int):
        netG, netD = _networks(loss, device)
        return recipe.train_gan(real, netG, netD, replace(settings, steps=n), progress=False)

    return course_runner(device, start_run, settings.steps)


def cgml_textbook_runner(settings, device, workers):
    """Chapter 07's step fed by a torchvision DataLoader, its losses read every step."""
    nets = [net.to(device) for net in cgml.build_networks(settings, "stroke")]
    opt_gh = torch.optim.Adam([*nets[0].parameters(), *nets[1].parameters()], lr=settings.lr)
    opt_z = torch.optim.Adam(nets[2].parameters(), lr=settings.lr_z)
    step = cgml.make_cgml_step(*nets, opt_gh, opt_z, settings)
    batches = textbook.mnist_loader(
        cl.data.data_dir(), settings.batch_size, workers, normalize=False
    )
    rng = torch.Generator().manual_seed(0)

    def train_steps(n: int) -> None:
        for _ in range(n):
            textbook.cgml_step(step, next(batches).to(device), STROKE_SHARE, rng)

    return timed(device, train_steps)


def cgml_course_runner(settings, device, images):
    """course_lib's train_cgml on stroke-MNIST resident on the device."""

    def start_run(n: int):
        nets = [net.to(device) for net in cgml.build_networks(settings, "stroke")]
        batches = StrokeBatches(images, settings.batch_size, STROKE_SHARE)
        return cgml.train_cgml(*nets, batches, replace(settings, steps=n), progress=False)

    return course_runner(device, start_run, settings.steps)


def images_per_second(runners: dict, steps: int, warmup: int, rounds: int, per_step: int):
    """Median images/s of each runner over ``rounds`` rounds of ``steps`` steps, the runners
    taking turns in every round so that a change in the machine's load hits them all."""
    for run in runners.values():
        run(warmup)
    seconds = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            seconds[name].append(run(steps))
    return {name: steps * per_step / statistics.median(times) for name, times in seconds.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--batch", nargs="+", type=int, default=None, help="batch sizes (default: the lecture's)"
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--workers", type=int, default=2, help="the textbook DataLoader's")
    parser.add_argument("--rounds", type=int, default=3, help="turns each loop takes (median)")
    args = parser.parse_args(argv)

    device = cl.get_device()
    real = cl.load_mnist("train", device).images * 2 - 1
    print(
        f"device: {cl.describe_device(device)}; torch {torch.__version__}; "
        f"{args.rounds} rounds of {args.steps} timed steps after {args.warmup}; "
        f"textbook workers {args.workers}"
    )
    print(
        f"{'model':8} {'batch':>5} {'textbook':>19} {'reused fakes':>17} "
        f"{'course':>10} {'vs textbook':>11} {'vs reused':>9}   images/s"
    )
    for model in args.model:
        loss = MODELS[model]
        lecture = cgml.stroke_settings() if model == "cgml" else recipe.mnist_settings(loss)
        for batch in args.batch or [lecture.batch_size]:
            settings = replace(lecture, batch_size=batch)
            if model == "cgml":
                runners = {
                    "fresh": cgml_textbook_runner(settings, device, args.workers),
                    "course": cgml_course_runner(settings, device, (real + 1) / 2),
                }
            else:
                runners = {"fresh": textbook_runner(loss, settings, device, args.workers, True)}
                if loss == "gan":
                    runners["reuse"] = textbook_runner(loss, settings, device, args.workers, False)
                runners["course"] = gan_course_runner(loss, settings, device, real)
            per_step = getattr(settings, "d_steps", 1) * batch
            speed = images_per_second(runners, args.steps, args.warmup, args.rounds, per_step)
            course, fresh, reuse = speed["course"], speed["fresh"], speed.get("reuse")
            reuse_text = f"{reuse:17.0f}" if reuse else f"{'-':>17}"
            vs_reuse = f"{course / reuse:8.2f}x" if reuse else f"{'-':>9}"
            print(
                f"{model:8} {batch:5d} {fresh:19.0f} {reuse_text} {course:10.0f} "
                f"{course / fresh:10.2f}x {vs_reuse}"
            )


if __name__ == "__main__":
    main()
