"""How good are generated digits? Metrics computed with the course's MNIST classifier.

All metrics look at images through :class:`~course_lib.models.classifier.MnistClassifier`,
shipped in ``course_lib/weights/`` (a small CNN, about 99% test accuracy), in the way the
Inception network is used for natural images:

- classifier score (the Inception Score of Salimans et al. 2016 with this classifier):
  exp(E_x KL(p(y|x) || p(y))), from 1 (all images alike, or none recognizable) to 10
  (each image one clear digit, all ten digits equally often);
- FID (Heusel et al. 2017): the Frechet distance between Gaussians fitted to the
  classifier's 128 penultimate features of two image sets; 0 for identical statistics;
- class histogram and conditional accuracy: which digits a generator draws, and how often
  a conditional generator draws the digit it was asked for.

Images are (B, 1, 28, 28) floats in [0, 1], as :func:`course_lib.data.load_mnist` gives them.
Scores from this classifier are comparable with each other, not with published scores
that use the Inception network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import _validate as v
from .device import get_device
from .models.classifier import MnistClassifier
from .weights import WeightsError, verified_path

__all__ = [
    "ClassifierWeightsError",
    "WEIGHTS_PATH",
    "load_classifier",
    "classifier_score",
    "feature_statistics",
    "frechet_distance",
    "fid",
    "class_histogram",
    "conditional_accuracy",
    "ModeStatistics",
    "mode_statistics",
]

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "mnist_classifier.pt"
_RETRAIN = "`python tools/train_classifier.py` (from the course's folder) recreates it"
_cache: dict[tuple, MnistClassifier] = {}


class ClassifierWeightsError(WeightsError):
    """The classifier's weights file is missing or is not the file that manifest.json names."""


def _verified(path: Path) -> None:
    """Raise ClassifierWeightsError unless the sha256 of ``path`` is the one its manifest names."""
    try:
        verified_path(path.name, path.parent, hint=_RETRAIN)
    except WeightsError as err:
        raise ClassifierWeightsError(str(err)) from None


def load_classifier(
    device: torch.device | str | None = None, path: str | Path | None = None
) -> MnistClassifier:
    """The shipped MNIST classifier on ``device`` (default: :func:`get_device`), in eval mode.

    The weights file (default :data:`WEIGHTS_PATH`) is checked against the sha256 that
    ``manifest.json`` beside it records, then read with ``torch.load(weights_only=True)``.
    The model is cached per file and device; its parameters do not require gradients.
    Raises :class:`ClassifierWeightsError` if the file is missing or does not match.
    """
    device = torch.device(device) if device is not None else get_device()
    path = Path(path).expanduser().resolve() if path is not None else WEIGHTS_PATH
    stat = path.stat() if path.is_file() else None
    key = (str(path), str(device), stat and (stat.st_mtime_ns, stat.st_size))
    if key in _cache:
        return _cache[key]
    _verified(path)
    model = MnistClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model = model.to(device).eval().requires_grad_(False)
    _cache[key] = model
    return model


# --- inputs and the classifier's outputs ------------------------------------------------


def _check_images(name: str, images) -> torch.Tensor:
    v.tensor(name, images, ndim=4, floating=True)
    if tuple(images.shape[1:]) != (1, 28, 28) or len(images) == 0:
        raise ValueError(
            f"{name} must have shape (B, 1, 28, 28) with B >= 1, got {tuple(images.shape)}; "
            f"reshape flat (B, 784) images with .view(-1, 1, 28, 28)"
        )
    lo, hi = images.min().item(), images.max().item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if lo < 0 or hi > 1:
        hint = ""
        if lo >= -1 and hi <= 1:
            hint = "; images in [-1, 1] (a tanh generator) map to [0, 1] with (x + 1) / 2"
        elif lo >= 0 and hi <= 255:
            hint = "; images in [0, 255] map to [0, 1] with x / 255"
        raise ValueError(
            f"{name} must hold pixel values in [0, 1], got values in [{lo:.3g}, {hi:.3g}]{hint}"
        )
    return images


def _classifier_for(classifier, images: torch.Tensor) -> MnistClassifier:
    if classifier is None:
        return load_classifier(images.device)
    if not isinstance(classifier, MnistClassifier):
        raise ValueError(
            f"classifier must be a MnistClassifier (e.g. load_classifier()) or None, "
            f"got {type(classifier).__name__}"
        )
    return classifier


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


@torch.no_grad()
def _run(classifier: MnistClassifier, images: torch.Tensor, batch_size: int, what: str):
    """``classifier.features`` or logits of ``images`` in batches, as float32 on the CPU."""
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    out = []
    try:
        starts = range(0, len(images), batch_size)
        # a bar only when the pass takes more than 2 s (thousands of images on a CPU)
        for start in tqdm(starts, desc=f"classifier {what}", unit="batch", leave=False, delay=2):
            x = images[start : start + batch_size].to(device, torch.float32)
            out.append((classifier.features(x) if what == "features" else classifier(x)).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(out).float()


def _logits(images, classifier, batch_size: int) -> torch.Tensor:
    _check_images("images", images)
    _check_batch_size(batch_size)
    return _run(_classifier_for(classifier, images), images, batch_size, "logits")  # (B, 10)


def _check_for_statistics(name: str, images, batch_size: int) -> None:
    _check_images(name, images)
    _check_batch_size(batch_size)
    if len(images) < 2:
        raise ValueError(f"{name} must hold at least 2 images for a covariance, got {len(images)}")


def _statistics(name: str, images, classifier, batch_size: int):
    _check_for_statistics(name, images, batch_size)
    feats = _run(_classifier_for(classifier, images), images, batch_size, "features").double()
    return feats.mean(dim=0), torch.cov(feats.T)  # (D,), (D, D) with the 1/(N-1) estimate


# --- the metrics ------------------------------------------------------------------------


def classifier_score(
    images: torch.Tensor, classifier: MnistClassifier | None = None, batch_size: int = 500
) -> float:
    """The Inception Score with the MNIST classifier: exp(E_x KL(p(y|x) || p(y))), in [1, 10].

    p(y) = E_x p(y|x) is the class distribution over the whole set. The score is high when
    each image is confidently one digit (low H(y|x)) and the digits are varied (high H(y)):
    log IS = H(y) - E_x H(y|x). The 10,000 real test digits score about 9.75.
    """
    log_p = F.log_softmax(_logits(images, classifier, batch_size).double(), dim=1)  # (B, 10)
    log_py = torch.logsumexp(log_p, dim=0) - math.log(len(log_p))  # log E_x p(y|x), (10,)
    kl = (log_p.exp() * (log_p - log_py)).sum(dim=1)  # KL(p(y|x) || p(y)), (B,)
    return float(kl.mean().exp())


def feature_statistics(
    images: torch.Tensor, classifier: MnistClassifier | None = None, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (128,) and covariance (128, 128) of the classifier's features, float64 on the CPU.

    Compute them once for a fixed reference set (the real test digits) and pass them to
    :func:`frechet_distance` to compare many generated sets against it.
    """
    return _statistics("images", images, classifier, batch_size)


def _sqrtm_psd(c: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric PSD matrix, via eigh, negative eigenvalues -> 0."""
    w, q = torch.linalg.eigh(c)
    return (q * w.clamp(min=0).sqrt()) @ q.T


def frechet_distance(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor
) -> float:
    """The Frechet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    d^2 = ||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2})   (Dowson and Landau 1982)

    Computed in float64 on the CPU with ``torch.linalg.eigh``; the tiny negative eigenvalues
    that rounding gives a PSD matrix are set to 0, and so is a tiny negative result.
    """
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        v.tensor(name, mu, ndim=1, floating=True)
    for name, cov in (("cov1", cov1), ("cov2", cov2)):
        v.tensor(name, cov, ndim=2, floating=True)
    d = mu1.shape[0]
    v.same_shape("mu1", mu1, "mu2", mu2)
    for name, cov in (("cov1", cov1), ("cov2", cov2)):
        if tuple(cov.shape) != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}) like mu1, got {tuple(cov.shape)}")
    mu1, mu2, cov1, cov2 = (t.detach().to("cpu", torch.float64) for t in (mu1, mu2, cov1, cov2))
    for name, t in (("mu1", mu1), ("cov1", cov1), ("mu2", mu2), ("cov2", cov2)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    cov1, cov2 = (cov1 + cov1.T) / 2, (cov2 + cov2.T) / 2
    s1 = _sqrtm_psd(cov1)
    middle = s1 @ cov2 @ s1
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    trace_term = torch.trace(cov1) + torch.trace(cov2) - 2 * eig.sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + trace_term
    return max(float(value), 0.0)


def fid(
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    classifier: MnistClassifier | None = None,
    batch_size: int = 500,
) -> float:
    """FID on the MNIST classifier's features: the Frechet distance between the Gaussians
    fitted to the features of ``images_a`` and of ``images_b`` (Heusel et al. 2017).

    FID is biased upward for small sets: compare FIDs computed with the same number of
    images (10,000 is the usual choice; 10,000 real train vs test digits give about 3).
    """
    _check_for_statistics("images_a", images_a, batch_size)
    _check_for_statistics("images_b", images_b, batch_size)  # before the work on images_a
    mu_a, cov_a = _statistics("images_a", images_a, classifier, batch_size)
    mu_b, cov_b = _statistics("images_b", images_b, classifier, batch_size)
    return frechet_distance(mu_a, cov_a, mu_b, cov_b)


def class_histogram(
    images: torch.Tensor, classifier: MnistClassifier | None = None, batch_size: int = 500
) -> torch.Tensor:
    """The fraction of ``images`` classified as each digit: a (10,) float tensor summing to 1.

    A generator that covers every mode gives about 0.1 per digit; a collapsed one piles up
    on a few digits.
    """
    predicted = _logits(images, classifier, batch_size).argmax(dim=1)
    return torch.bincount(predicted, minlength=10).float() / len(predicted)


def conditional_accuracy(
    images: torch.Tensor,
    labels: torch.Tensor | int,
    classifier: MnistClassifier | None = None,
    batch_size: int = 500,
) -> float:
    """The share of ``images`` the classifier reads as the digit each was asked to be.

    ``labels``: (B,) integer tensor of digits 0-9, one per image, or one int for all of them.
    """
    _check_images("images", images)
    if isinstance(labels, int) and not isinstance(labels, bool):
        if not 0 <= labels <= 9:
            raise ValueError(f"labels must be a digit 0-9, got {labels}")
        labels = torch.full((len(images),), labels, dtype=torch.int64)
    v.tensor("labels", labels, ndim=1)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if len(labels) != len(images):
        raise ValueError(
            f"labels must have one entry per image: {len(images)} images, {len(labels)} labels"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"labels must be digits 0-9, got values in [{labels.min().item()}, "
            f"{labels.max().item()}]"
        )
    predicted = _logits(images, classifier, batch_size).argmax(dim=1)
    return float((predicted == labels.cpu()).double().mean())


# --- 2-D mixtures (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018) ---------------


class ModeStatistics(NamedTuple):
    """What :func:`mode_statistics` measures on generated 2-D samples.

    ``modes_covered``: modes with at least one high-quality sample nearest to them;
    ``high_quality``: share of samples within 3 std of their nearest mode, in [0, 1];
    ``reverse_kl``: KL(p_gen || uniform) of the mode histogram of the high-quality samples,
    in nats (0 when they spread evenly, log K when they all sit at one mode, inf if none);
    ``counts``: (K,) number of high-quality samples at each mode.
    """

    modes_covered: int
    high_quality: float
    reverse_kl: float
    counts: torch.Tensor


def mode_statistics(samples: torch.Tensor, centres: torch.Tensor, std: float) -> ModeStatistics:
    """Modes covered, share of high-quality samples and reverse KL, as PacGAN reports them.

    Each sample is assigned to its nearest centre; it is high quality when that distance is
    at most 3 std. The mode histogram p_gen counts only high-quality samples, normalised to
    sum 1, and reverse_kl = sum_k p_gen(k) log(K p_gen(k)) = log K - H(p_gen) (with 0 log 0 =
    0). This is how the PacGAN authors' released evaluation code builds its mode histogram
    (nearest mode, counted only within 3 std, normalised over the counted samples).
    samples: (N, 2); centres: (K, 2), e.g. ``course_lib.data.ring_mixture().centres``.
    """
    v.tensor("samples", samples, ndim=2, floating=True)
    v.tensor("centres", centres, ndim=2, floating=True)
    if samples.shape[1] != centres.shape[1] or len(samples) == 0 or len(centres) == 0:
        raise ValueError(
            f"samples (N, D) and centres (K, D) must be non-empty with the same D, got "
            f"{tuple(samples.shape)} and {tuple(centres.shape)}"
        )
    if not torch.isfinite(samples).all():
        raise ValueError("samples contains NaN or infinite values")
    v.positive("std", std)
    samples = samples.detach().double().cpu()
    centres = centres.detach().double().cpu()
    distances = torch.cdist(samples, centres)  # (N, K)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    if good.any():
        p = counts.double() / counts.sum()
        terms = torch.where(p > 0, p * torch.log(p * len(centres)), torch.zeros_like(p))
        reverse_kl = terms.sum().item()
    else:
        reverse_kl = math.inf
    return ModeStatistics(
        modes_covered=int((counts > 0).sum()),
        high_quality=good.double().mean().item(),
        reverse_kl=reverse_kl,
        counts=counts,
    )
