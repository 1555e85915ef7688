"""Each chapter's main model as its lecture trains it: build it, train it, measure it.

``tools/train_weights.py`` trains these at the lecture budget and ships them (see
:mod:`course_lib.weights`); the tests load the shipped files and measure them again. The
lecture notebooks make the same ``train`` call in their own cells, with the same presets,
seeds and snapshots, so the loaded weights are those the notebook would have trained.

Each entry of :data:`LECTURE_MODELS` has:

- ``build(device)``: the untrained networks, named as the training run names them;
- ``train(models, device)``: the lecture's training run on the real MNIST training digits;
- ``measure(models, device)``: one quick figure on a fixed sample (500 images), recorded in
  the manifest so that a test can check a loaded file reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import metrics
from .data import BatchIterator, StrokeBatches, cgml_toy, grid_mixture, load_mnist
from .models import dcgan
from .models.gan import MLPDiscriminator, MLPGenerator
from .models.gngan import MLPEncoder
from .models.vae import VAE
from .recipes import cgan, cgml, gan, gngan, vae

__all__ = ["LectureModel", "LECTURE_MODELS", "MEASURE_SAMPLES"]

MEASURE_SAMPLES = 500
Models = dict[str, nn.Module]


@dataclass(frozen=True)
class LectureModel:
    chapter: str
    build: Callable[[torch.device], Models]
    train: Callable[[Models, torch.device], object]
    measure: Callable[[Models, torch.device], dict[str, float]]
    settings: Callable[[], object]


# --- 01: the VAE --------------------------------------------------------------------------


def _vae_build(device: torch.device) -> Models:
    s = vae.lecture_settings()
    torch.manual_seed(0)
    return {"vae": VAE(s.latent_dim, s.hidden).to(device)}


def _vae_train(models: Models, device: torch.device):
    images = load_mnist("train", device).images
    _, trainer = vae.train_vae(images, vae.lecture_settings(), seed=0, model=models["vae"])
    return trainer


def _vae_measure(models: Models, device: torch.device) -> dict[str, float]:
    test = load_mnist("test", device, limit=MEASURE_SAMPLES).images
    torch.manual_seed(0)  # the one z drawn per image
    return {"negative_elbo": vae.evaluate_vae(models["vae"], test)["negative_elbo"]}


# --- 02 and 04: DCGAN and WGAN-GP -----------------------------------------------------------


def _gan_build(settings: gan.GANSettings) -> Callable[[torch.device], Models]:
    def build(device: torch.device) -> Models:
        torch.manual_seed(0)
        k = settings.clusters
        generator = dcgan.ClusterGenerator(clusters=k) if k else dcgan.Generator()
        d = gan.mnist_discriminator(settings)
        return {"generator": generator.to(device), "discriminator": d.to(device)}

    return build


def gan_snapshot_codes(device: torch.device, n: int = 32) -> torch.Tensor:
    """The fixed codes whose images a GAN lecture snapshots during training."""
    return torch.randn(n, 64, generator=torch.Generator().manual_seed(0)).to(device)


def _gan_train(settings: Callable[[], gan.GANSettings], snapshot_images: int):
    def train(models: Models, device: torch.device):
        g, d = models["generator"], models["discriminator"]
        s = settings()
        real = load_mnist("train", device).images * 2 - 1
        codes = gan_snapshot_codes(device, snapshot_images)
        # With clusters, each snapshot code keeps one cluster (0, 1, 2, ... in turn).
        fixed = (torch.arange(snapshot_images) % s.clusters).to(device) if s.clusters else None
        return gan.train_gan(
            real,
            g,
            d,
            s,
            seed=0,
            snapshot_fn=lambda: ((g(codes) if fixed is None else g(codes, fixed)) + 1) / 2,
        )

    return train


def _gan_measure(models: Models, device: torch.device) -> dict[str, float]:
    g = models["generator"].eval()
    sample = g.sample(MEASURE_SAMPLES, generator=torch.Generator().manual_seed(5))
    return {"classifier_score": metrics.classifier_score((sample + 1) / 2)}


def _gan_model(chapter: str, loss: str, preset, snapshot_images: int) -> LectureModel:
    """A DCGAN (``loss="gan"``) or WGAN-GP lecture model with the settings of ``preset``."""

    def settings() -> gan.GANSettings:
        return preset(loss)

    return LectureModel(
        chapter,
        _gan_build(settings()),
        _gan_train(settings, snapshot_images),
        _gan_measure,
        settings,
    )


# --- 05: cGAN and AC-GAN ----------------------------------------------------------------------


def _conditional_build(kind: str) -> Callable[[torch.device], Models]:
    def build(device: torch.device) -> Models:
        torch.manual_seed(0)
        heads = {"num_classes": 10} if kind == "cgan" else {"aux_classes": 10}
        return {
            "generator": dcgan.Generator(num_classes=10).to(device),
            "discriminator": dcgan.Discriminator(**heads).to(device),
        }

    return build


def _conditional_train(kind: str):
    def train(models: Models, device: torch.device):
        g, d = models["generator"], models["discriminator"]
        digits = load_mnist("train", device)
        return cgan.train_conditional(
            digits.images * 2 - 1,
            digits.labels,
            g,
            d,
            cgan.lecture_settings(kind),
            seed=0,
            snapshot_fn=lambda: (cgan.class_grid(g, per_class=6, seed=0) + 1) / 2,
        )

    return train


def _conditional_measure(models: Models, device: torch.device) -> dict[str, float]:
    samples, asked = cgan.sample_digits(models["generator"].eval(), MEASURE_SAMPLES, seed=1)
    return {"conditional_accuracy": metrics.conditional_accuracy(samples, asked)}


# --- 06: GN-GAN on the grid of 25 -----------------------------------------------------------


def _gngan_build(device: torch.device) -> Models:
    torch.manual_seed(0)
    models = {
        "generator": MLPGenerator(2, 2, 128, 3).to(device),
        "discriminator": MLPDiscriminator(2, 128, 3).to(device),
    }
    models["encoder"] = MLPEncoder(2, 2, 128, 3).to(device)
    return models


def _gngan_train(models: Models, device: torch.device):
    g = models["generator"]
    real = grid_mixture().sample(100_000, generator=torch.Generator().manual_seed(0), device=device)
    codes = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1)).to(device)
    return gngan.train_gngan(
        real,
        g,
        models["discriminator"],
        models["encoder"],
        gngan.grid_settings(),
        seed=0,
        snapshot_fn=lambda: g(codes),
        snapshots=10,
    )


def _gngan_measure(models: Models, device: torch.device) -> dict[str, float]:
    grid = grid_mixture()
    codes = torch.randn(2500, 2, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        stats = metrics.mode_statistics(models["generator"].eval()(codes), grid.centres, grid.std)
    return {"modes_covered": float(stats.modes_covered), "high_quality": stats.high_quality}


# --- 07: cGML on the toy and on stroke-MNIST -------------------------------------------------


def _cgml_settings(kind: str):
    return cgml.toy_settings() if kind == "toy" else cgml.stroke_settings()


def _cgml_build(kind: str) -> Callable[[torch.device], Models]:
    def build(device: torch.device) -> Models:
        torch.manual_seed(0)
        encoder, generator, updater = cgml.build_networks(_cgml_settings(kind), kind)
        return {
            "encoder": encoder.to(device),
            "generator": generator.to(device),
            "updater": updater.to(device),
        }

    return build


def _cgml_train(kind: str):
    def train(models: Models, device: torch.device):
        s = _cgml_settings(kind)
        if kind == "toy":
            x, y, _ = cgml_toy(100_000, torch.Generator().manual_seed(0), device)
            batches = BatchIterator(x, y, batch_size=s.batch_size)
        else:
            batches = StrokeBatches(load_mnist("train", device).images, s.batch_size, 0.3, seed=0)
        return cgml.train_cgml(
            models["encoder"], models["generator"], models["updater"], batches, s
        )

    return train


def _cgml_measure(kind: str):
    def measure(models: Models, device: torch.device) -> dict[str, float]:
        s = _cgml_settings(kind)
        nets = (models["encoder"], models["generator"], models["updater"])
        if kind == "toy":
            r = cgml.evaluate_toy(
                *nets, conditions=MEASURE_SAMPLES // 8, starts=8, steps=s.inference_steps
            )
            return {"on_mode": r["on_mode"], "both_modes": r["both_modes"]}
        digits = load_mnist("test", device, limit=MEASURE_SAMPLES // 5).images
        r = cgml.evaluate_stroke(*nets, digits, 5, s.inference_steps, True, seed=1)
        return {"stroke_share": r["stroke_share"], "l1_nearest": r["l1_nearest"]}

    return measure


LECTURE_MODELS: dict[str, LectureModel] = {
    "01_vae": LectureModel("01", _vae_build, _vae_train, _vae_measure, vae.lecture_settings),
    "02_dcgan": _gan_model("02", "gan", gan.mnist_settings, 32),
    "02_dcgan_clusters": _gan_model("02", "gan", gan.mnist_cluster_settings, 32),
    "04_wgan_gp": _gan_model("04", "wgan-gp", gan.mnist_settings, 200),
    "04_wgan_gp_clusters": _gan_model("04", "wgan-gp", gan.mnist_cluster_settings, 200),
    "05_cgan": LectureModel(
        "05",
        _conditional_build("cgan"),
        _conditional_train("cgan"),
        _conditional_measure,
        lambda: cgan.lecture_settings("cgan"),
    ),
    "05_acgan": LectureModel(
        "05",
        _conditional_build("acgan"),
        _conditional_train("acgan"),
        _conditional_measure,
        lambda: cgan.lecture_settings("acgan"),
    ),
    "06_gngan_grid": LectureModel(
        "06", _gngan_build, _gngan_train, _gngan_measure, gngan.grid_settings
    ),
    "07_cgml_toy": LectureModel(
        "07", _cgml_build("toy"), _cgml_train("toy"), _cgml_measure("toy"), cgml.toy_settings
    ),
    "07_cgml_stroke": LectureModel(
        "07",
        _cgml_build("stroke"),
        _cgml_train("stroke"),
        _cgml_measure("stroke"),
        cgml.stroke_settings,
    ),
}
