"""k-means pseudo-labels (course_lib.clusters) and the GAN conditioned on them (chapters 02, 04)."""

import pytest
import torch

from course_lib.clusters import kmeans, purity
from course_lib.models import dcgan
from course_lib.recipes import gan


def test_kmeans_on_four_points_by_hand():
    # {0, 1} and {10, 11}: centres 0.5 and 10.5, each point 0.5 away, inertia 0.25.
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    for seed in range(5):
        found = kmeans(x, 2, seed=seed)
        assert sorted(found.centres.flatten().tolist()) == [0.5, 10.5]
        a = found.assignments.tolist()
        assert a[0] == a[1] != a[2] == a[3]
        assert found.inertia == pytest.approx(0.25)
        assert found.sizes.tolist() == [2, 2]
        assert found.shares.tolist() == [0.5, 0.5]


def test_kmeans_plus_plus_starts_on_distinct_points():
    # Four copies of 0 and one 5: the second start is drawn in proportion to the squared
    # distance, so it is the 5 whichever the first is.
    x = torch.tensor([[0.0], [0.0], [0.0], [0.0], [5.0]])
    for seed in range(8):
        found = kmeans(x, 2, seed=seed)
        assert sorted(found.centres.flatten().tolist()) == [0.0, 5.0]
        assert sorted(found.sizes.tolist()) == [1, 4]
        assert found.inertia == 0.0


def test_kmeans_on_identical_points_leaves_the_extra_cluster_empty():
    # No second point to start on: the second cluster stays empty instead of failing.
    found = kmeans(torch.full((4, 3), 2.0), 2)
    assert sorted(found.sizes.tolist()) == [0, 4]
    assert found.inertia == 0.0
    assert torch.equal(found.centres, torch.full((2, 3), 2.0))


def test_kmeans_finds_separated_blobs_in_images():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(4, 1, 6, 6, generator=g) * 10
    labels = torch.arange(200) % 4
    x = means[labels] + 0.1 * torch.randn(200, 1, 6, 6, generator=g)
    found = kmeans(x, 4, seed=1)
    assert purity(found.assignments, labels) == 1.0
    assert found.centres.shape == (4, 36)


def test_purity_by_hand():
    # Cluster 0 holds labels 1, 1, 2 (2 agree), cluster 1 holds 3, 3 (2 agree): 4 / 5.
    assert purity(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([1, 1, 2, 3, 3])) == 0.8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((torch.zeros(3, 2), 4), "at most the number of examples"),
        ((torch.zeros(3, 2), 0), "k must be a positive int"),
        ((torch.tensor([[0.0], [float("nan")]]), 1), "NaN"),
        ((torch.zeros(3, dtype=torch.int64).view(3, 1), 1), "float"),
    ],
)
def test_kmeans_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        kmeans(*args)


def test_purity_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per example"):
        purity(torch.tensor([0, 1]), torch.tensor([0, 1, 1]))


def test_cluster_generator_draws_clusters_by_their_shares():
    torch.manual_seed(0)
    g = dcgan.ClusterGenerator(latent_dim=8, width=4, clusters=3).eval()
    assert g.default_labels(3000, torch.Generator().manual_seed(0)).bincount().tolist() != [
        3000,
        0,
        0,
    ]
    g.set_shares(torch.tensor([0.0, 1.0, 0.0]))
    assert g.default_labels(50).unique().tolist() == [1]
    # sample() draws the clusters first, then z, both from the one generator.
    seeded = torch.Generator().manual_seed(3)
    clusters = g.default_labels(5, seeded)
    z = torch.randn(5, 8, generator=seeded)
    expected = g(z, clusters)
    assert torch.equal(g.sample(5, torch.Generator().manual_seed(3)), expected)
    assert torch.equal(g(z), g(z, torch.ones(5, dtype=torch.int64)))  # all of cluster 1
    assert "shares" in g.state_dict()


@pytest.mark.parametrize(
    ("shares", "message"),
    [(torch.tensor([0.5, 0.5]), "one entry per cluster"), (torch.tensor([0.5, 0.2, 0.2]), "sum")],
)
def test_cluster_generator_rejects_bad_shares(shares, message):
    with pytest.raises(ValueError, match=message):
        dcgan.ClusterGenerator(latent_dim=8, width=4, clusters=3).set_shares(shares)


def _two_kinds_of_digits(n_bright: int = 16, n: int = 64) -> torch.Tensor:
    """n 'images': n_bright all +1 and the rest all -1, two clusters k-means cannot miss."""
    x = -torch.ones(n, 1, 28, 28)
    x[:n_bright] = 1.0
    return x


@pytest.mark.parametrize("loss", ["gan", "wgan-gp"])
def test_train_gan_with_clusters_conditions_both_networks(loss):
    torch.manual_seed(0)
    g = dcgan.ClusterGenerator(latent_dim=8, width=4, clusters=2)
    d = dcgan.Discriminator(width=4, batch_norm=loss == "gan", num_classes=2)
    seen = []
    d.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[1]))
    settings = gan.GANSettings(loss=loss, steps=2, batch_size=16, clusters=2, d_steps=1)
    trainer = gan.train_gan(_two_kinds_of_digits(), g, d, settings, progress=False)
    assert trainer.step == 2
    # k-means found 16 bright and 48 dark images: G draws the clusters in those shares.
    assert sorted(g.shares.tolist()) == [0.25, 0.75]
    # Every call of D came with a cluster per image (the real batch's, for fakes too).
    assert seen and all(c is not None and c.shape == (16,) for c in seen)


def test_train_gan_with_clusters_names_the_networks_it_needs():
    x = _two_kinds_of_digits()
    settings = gan.GANSettings(steps=1, batch_size=16, clusters=2)
    conditional_d = dcgan.Discriminator(width=4, num_classes=2)
    with pytest.raises(ValueError, match="ClusterGenerator"):
        gan.train_gan(x, dcgan.Generator(8, 4), conditional_d, settings, progress=False)
    with pytest.raises(ValueError, match="num_classes=2"):
        gan.train_gan(
            x, dcgan.ClusterGenerator(8, 4, 2), dcgan.Discriminator(4), settings, progress=False
        )


def test_clusters_setting_is_checked():
    with pytest.raises(ValueError, match="clusters must be an int >= 0"):
        gan.GANSettings(clusters=-1)
    with pytest.raises(ValueError, match="pack"):
        gan.GANSettings(clusters=10, pack=2)
