import pytest
import torch

from course_lib.models import VAE
from course_lib.recipes.vae import VAESettings, evaluate_vae, lecture_settings, train_vae


def test_vae_shapes_and_samples_in_unit_interval():
    vae = VAE(latent_dim=3, hidden=(16,))
    logits, mu, logvar = vae(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 1, 28, 28) and mu.shape == logvar.shape == (5, 3)
    samples = vae.sample(4)
    assert samples.shape == (4, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 28, 28\)"):
        vae.encode(torch.rand(5, 784))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 3\)"):
        vae.decode(torch.rand(5, 4))


def test_training_on_real_mnist_lowers_the_test_negative_elbo(mnist_test):
    images = mnist_test.images
    untrained = evaluate_vae(VAE(latent_dim=8, hidden=(128,)), images[1000:])
    # explicit settings: the smoke budget (SMOKE_TEST=1 in make test) must not shrink this run
    settings = VAESettings(latent_dim=8, hidden=(128,), epochs=3.0, batch_size=50)
    model, trainer = train_vae(images[:1000], settings, progress=False)
    trained = evaluate_vae(model, images[1000:])
    assert untrained["negative_elbo"] > 500  # about 784 ln 2 for a random decoder
    assert trained["negative_elbo"] < 0.5 * untrained["negative_elbo"]
    assert trained["negative_elbo"] == pytest.approx(trained["reconstruction"] + trained["kl"])
    assert trainer.history["loss"][-1] < trainer.history["loss"][0]
    assert len(trainer.history.snapshots) >= 1


def test_smoke_mode_shrinks_the_lecture_budget(monkeypatch):
    monkeypatch.setenv("SMOKE_TEST", "1")
    assert lecture_settings().epochs == 1.0
    monkeypatch.setenv("SMOKE_TEST", "0")
    assert lecture_settings(beta=4.0) == VAESettings(beta=4.0)


def test_train_vae_trains_the_model_it_is_given_and_refuses_one_that_does_not_fit():
    images = torch.rand(40, 1, 28, 28)
    settings = VAESettings(latent_dim=3, hidden=(16,), epochs=1.0, batch_size=20)
    mine = VAE(latent_dim=3, hidden=(16,))
    before = mine.to_mu.weight.detach().clone()
    model, trainer = train_vae(images, settings, progress=False, model=mine)
    assert model is mine and trainer.models["vae"] is mine and trainer.step == 2
    assert not torch.equal(before, mine.to_mu.weight)
    with pytest.raises(ValueError, match=r"model has z in R\^4.*R\^3"):
        train_vae(images, settings, progress=False, model=VAE(latent_dim=4, hidden=(16,)))
