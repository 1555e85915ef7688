import shutil

import pytest
import torch

from course_lib.metrics import (
    WEIGHTS_PATH,
    ClassifierWeightsError,
    class_histogram,
    classifier_score,
    conditional_accuracy,
    feature_statistics,
    fid,
    frechet_distance,
    load_classifier,
)
from course_lib.models.classifier import MnistClassifier


def random_cov(d: int, rank: int | None = None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T / d


# --- frechet_distance -------------------------------------------------------------------


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    # With commuting (here diagonal) covariances the trace term is sum (sqrt(a) - sqrt(b))^2.
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.randn(6, generator=g), torch.randn(6, generator=g)
    a, b = torch.rand(6, generator=g) * 3 + 0.1, torch.rand(6, generator=g) * 3 + 0.1
    expected = (mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum()
    got = frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))
    assert got == pytest.approx(expected.item(), rel=1e-5)


def test_frechet_distance_of_full_covariances_matches_the_eigenvalues_of_c1_c2():
    # tr (C1^1/2 C2 C1^1/2)^1/2 = sum sqrt(eig(C1 C2)), an independent route for C1, C2
    # that do not commute; and the distance is symmetric.
    c1, c2 = random_cov(8, seed=2), random_cov(8, seed=3)
    mu1, mu2 = torch.zeros(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64)
    eig = torch.linalg.eigvals(c1 @ c2).real.clamp(min=0)
    expected = 8.0 + torch.trace(c1) + torch.trace(c2) - 2 * eig.sqrt().sum()
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected.item(), rel=1e-8)
    assert frechet_distance(mu2, c2, mu1, c1) == pytest.approx(expected.item(), rel=1e-8)


@pytest.mark.parametrize("rank", [None, 3])
def test_frechet_distance_of_identical_gaussians_is_zero(rank):
    # rank 3 of 10: a singular covariance, whose rounding gives tiny negative eigenvalues.
    cov = random_cov(10, rank=rank, seed=4)
    mu = torch.randn(10, dtype=torch.float64)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-7)
    assert frechet_distance(mu.float(), cov.float(), mu.float(), cov.float()) < 1e-4


def test_frechet_distance_rejects_mismatched_shapes():
    mu, cov = torch.zeros(4), torch.eye(4)
    with pytest.raises(ValueError, match="mu1 and mu2"):
        frechet_distance(mu, cov, torch.zeros(5), torch.eye(5))
    with pytest.raises(ValueError, match="cov2"):
        frechet_distance(mu, cov, mu, torch.eye(3))
    with pytest.raises(ValueError, match="cov1"):
        frechet_distance(mu, torch.zeros(4), mu, cov)
    with pytest.raises(ValueError, match="mu1"):
        frechet_distance([0.0] * 4, cov, mu, cov)


# --- the classifier and its weights -----------------------------------------------------


def test_classifier_shapes_and_size():
    model = MnistClassifier().eval()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, 128)
    n_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert n_bytes < 2_000_000
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model(torch.rand(3, 784))


def test_load_classifier_is_cached_and_in_eval_mode():
    a, b = load_classifier("cpu"), load_classifier(torch.device("cpu"))
    assert a is b
    assert not a.training
    assert not any(p.requires_grad for p in a.parameters())


def copy_weights(tmp_path):
    shutil.copy(WEIGHTS_PATH, tmp_path / WEIGHTS_PATH.name)
    shutil.copy(WEIGHTS_PATH.parent / "manifest.json", tmp_path / "manifest.json")
    return tmp_path / WEIGHTS_PATH.name


def test_an_intact_copy_of_the_weights_loads(tmp_path):
    model = load_classifier("cpu", path=copy_weights(tmp_path))
    shipped = load_classifier("cpu")
    assert model is not shipped
    torch.testing.assert_close(model.state_dict(), shipped.state_dict())


def test_a_tampered_weights_file_raises_the_hash_error(tmp_path):
    path = copy_weights(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ClassifierWeightsError, match="sha256") as info:
        load_classifier("cpu", path=path)
    assert "train_classifier.py" in str(info.value)


def test_a_missing_weights_file_says_how_to_recreate_it(tmp_path):
    with pytest.raises(ClassifierWeightsError, match="missing.*train_classifier.py"):
        load_classifier("cpu", path=tmp_path / "mnist_classifier.pt")
    path = copy_weights(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ClassifierWeightsError, match="no sha256"):
        load_classifier("cpu", path=path)


# --- the metrics on real digits ---------------------------------------------------------


def test_the_shipped_classifier_is_99_percent_accurate(mnist_test):
    assert conditional_accuracy(mnist_test.images, mnist_test.labels) >= 0.99


def test_conditional_accuracy_with_one_label_for_all(mnist_test):
    threes = mnist_test.images[mnist_test.labels == 3]
    assert conditional_accuracy(threes, 3) >= 0.97
    assert conditional_accuracy(threes, 8) <= 0.03


def test_classifier_score_of_identical_images_is_one(mnist_test):
    same = mnist_test.images[:1].repeat(50, 1, 1, 1)
    assert classifier_score(same) == pytest.approx(1.0, abs=1e-6)


def test_classifier_score_of_real_digits_is_close_to_ten(mnist_test):
    score = classifier_score(mnist_test.images, batch_size=700)  # a last, partial batch too
    assert 9.4 < score <= 10.0
    # only the digits 0 and 1, equally often: about two classes, so a score of about 2
    zeros = mnist_test.images[mnist_test.labels == 0][:150]
    ones = mnist_test.images[mnist_test.labels == 1][:150]
    assert 1.8 < classifier_score(torch.cat([zeros, ones])) < 2.2


def test_class_histogram_matches_the_true_labels(mnist_test):
    hist = class_histogram(mnist_test.images)
    truth = torch.bincount(mnist_test.labels, minlength=10).float() / len(mnist_test.labels)
    assert hist.shape == (10,)
    assert hist.sum().item() == pytest.approx(1.0)
    assert (hist - truth).abs().max().item() < 0.01


def test_fid_is_small_between_real_sets_and_large_for_noisy_digits(mnist_test):
    a, b = mnist_test.images[:600], mnist_test.images[600:1200]
    classifier = load_classifier("cpu")
    real = fid(a, b, classifier)
    mu, cov = feature_statistics(a, classifier)
    assert mu.shape == (128,) and cov.shape == (128, 128) and mu.dtype == torch.float64
    assert frechet_distance(mu, cov, mu, cov) < 1e-6
    # the same digits, smeared with noise: a worse sample set must be much farther away
    g = torch.Generator().manual_seed(0)
    noisy = (b + 0.3 * torch.randn(b.shape, generator=g)).clamp(0, 1)
    mu_noisy, cov_noisy = feature_statistics(noisy, classifier)
    assert frechet_distance(mu, cov, mu_noisy, cov_noisy) > 5 * real


# --- bad inputs -------------------------------------------------------------------------


def test_images_in_minus_one_to_one_are_refused_with_the_fix():
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        classifier_score(x)


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.rand(4, 784), "4 dimensions"),
        (torch.rand(4, 3, 28, 28), r"\(B, 1, 28, 28\)"),
        (torch.rand(0, 1, 28, 28), "B >= 1"),
        ((torch.rand(4, 1, 28, 28) * 255).to(torch.uint8), "floating-point"),
        (torch.rand(4, 1, 28, 28) * 255, "x / 255"),
        (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_images_raise_value_error(images, match):
    with pytest.raises(ValueError, match=match):
        class_histogram(images)


def test_other_bad_arguments_raise_value_error():
    x = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="images_b"):
        fid(x, x * 2 - 1)
    with pytest.raises(ValueError, match="at least 2"):
        fid(x, x[:1])
    with pytest.raises(ValueError, match="labels"):
        conditional_accuracy(x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="one entry per image"):
        conditional_accuracy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        conditional_accuracy(x, torch.zeros(4))
    with pytest.raises(ValueError, match="digit 0-9"):
        conditional_accuracy(x, 12)
    with pytest.raises(ValueError, match="classifier"):
        classifier_score(x, classifier=torch.nn.Linear(784, 10))
    with pytest.raises(ValueError, match="batch_size"):
        classifier_score(x, batch_size=0)
