"""The losses of the course, each written as its paper writes it.

Chapter 01 (VAE, Kingma and Welling 2013; beta-VAE, Higgins et al. 2017):
the negative ELBO  -ELBO(x) = E_q[-log p(x|z)] + beta * KL(q(z|x) || N(0, I)).

Chapters 02-05 (GAN, WGAN, AC-GAN): every function returns the quantity its network
*minimises*, computed from logits (softplus forms, stable where D is near 0 or 1).
With D = sigmoid(logit): -log D = softplus(-logit) and -log(1 - D) = softplus(logit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import _validate as v

__all__ = [
    "gaussian_kl",
    "reconstruction_bce",
    "negative_elbo",
    "discriminator_loss",
    "generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "gradient_penalty",
    "r1_penalty",
    "acgan_source_loss",
    "acgan_class_loss",
    "acgan_losses",
    "student_t_affinities",
    "neighbour_embedding",
    "gngan_discriminator_loss",
    "GradientMatching",
    "gradient_matching",
    "gngan_generator_loss",
]


def gaussian_kl(
    mu: torch.Tensor, logvar: torch.Tensor, per_dimension: bool = False
) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, one value per row.

    KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (Kingma and Welling, App. B)

    mu, logvar: (B, D). Returns (B,), in nats; with ``per_dimension`` the (B, D) terms of
    the sum, which show which latent dimensions carry information.
    """
    v.tensor("mu", mu, ndim=2, floating=True)
    v.tensor("logvar", logvar, ndim=2, floating=True)
    v.same_shape("mu", mu, "logvar", logvar)
    v.same_device("mu", mu, "logvar", logvar)
    terms = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())  # (B, D)
    return terms if per_dimension else terms.sum(dim=1)


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) for a Bernoulli decoder: binary cross-entropy summed over pixels, per image.

    logits: the decoder's output before the sigmoid, (B, ...); x: targets in [0, 1], same shape.
    Returns (B,), in nats.
    """
    v.tensor("logits", logits, min_ndim=2, floating=True)
    v.tensor("x", x, min_ndim=2, floating=True)
    v.same_shape("logits", logits, "x", x)
    v.same_device("logits", logits, "x", x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"x must hold pixel values in [0, 1] for the Bernoulli likelihood, got values in "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]"
        )
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
    return bce.flatten(1).sum(dim=1)


def negative_elbo(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
) -> torch.Tensor:
    """The VAE loss: mean over the batch of  BCE(x, decoder logits) + beta * KL(q(z|x) || p(z)).

    beta = 1 is the ELBO of Kingma and Welling; beta > 1 is the beta-VAE of Higgins et al.
    Returns a scalar in nats per image.
    """
    v.positive("beta", beta, allow_zero=True)
    if mu.ndim != 2 or len(mu) != len(x):
        raise ValueError(
            f"mu must be (B, D) with B = {len(x)} rows like x, got shape {tuple(mu.shape)}"
        )
    return (reconstruction_bce(logits, x) + beta * gaussian_kl(mu, logvar)).mean()


# --- chapter 02: GAN (Goodfellow et al. 2014) --------------------------------------------


def _logits(name: str, value) -> torch.Tensor:
    """One logit (or critic score) per example: (B,) or (B, 1), B >= 1; returned as (B,)."""
    v.tensor(name, value, min_ndim=1, floating=True)
    if value.ndim > 2 or (value.ndim == 2 and value.shape[1] != 1) or len(value) == 0:
        raise ValueError(
            f"{name} must hold one value per example, shape (B,) or (B, 1) with B >= 1, "
            f"got {tuple(value.shape)}"
        )
    return value.reshape(-1).float()


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """-V(G, D) = -[E_x log D(x) + E_z log(1 - D(G(z)))], the loss D minimises (Goodfellow, eq. 1).

    With ``label_smoothing`` = s the real target is 1 - s instead of 1 (one-sided label
    smoothing, Salimans et al. 2016, sec. 3.4); the fake target stays 0. Logits: (B,) or (B, 1).
    Returns a scalar; 2 log 2 when every logit is 0 (D = 1/2 everywhere).
    """
    real = _logits("real_logits", real_logits)
    fake = _logits("fake_logits", fake_logits)
    v.same_device("real_logits", real_logits, "fake_logits", fake_logits)
    s = v.positive("label_smoothing", label_smoothing, allow_zero=True)
    if s >= 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    # BCE with target t: t * softplus(-l) + (1 - t) * softplus(l)
    real_term = (1 - s) * F.softplus(-real) + s * F.softplus(real)  # -log D(x) for s = 0
    fake_term = F.softplus(fake)  # -log(1 - D(G(z)))
    return real_term.mean() + fake_term.mean()


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """The loss G minimises: E_z log(1 - D(G(z))) (``saturating``, the minimax form) or
    -E_z log D(G(z)) (non-saturating, Goodfellow et al. 2014, sec. 3).

    The saturating form has a vanishing gradient where D(G(z)) is near 0, early in training.
    fake_logits: (B,) or (B, 1). Returns a scalar.
    """
    fake = _logits("fake_logits", fake_logits)
    if not isinstance(saturating, bool):
        raise ValueError(f"saturating must be True or False, got {saturating!r}")
    if saturating:
        return -F.softplus(fake).mean()  # log(1 - D) = -softplus(l)
    return F.softplus(-fake).mean()  # -log D = softplus(-l)


# --- chapter 04: WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017) ---------


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E_z f(G(z)) - E_x f(x), the loss the critic f minimises (Arjovsky et al., Algorithm 1).

    Its negative estimates W(p_r, p_g) (times K) when f is K-Lipschitz. Scores: (B,) or (B, 1).
    """
    real = _logits("real_scores", real_scores)
    fake = _logits("fake_scores", fake_scores)
    v.same_device("real_scores", real_scores, "fake_scores", fake_scores)
    return fake.mean() - real.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E_z f(G(z)), the loss the generator minimises in a WGAN. Scores: (B,) or (B, 1)."""
    return -_logits("fake_scores", fake_scores).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2], x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample
    (Gulrajani et al. 2017, Algorithm 1), without the weight lambda (they use 10).

    The norm is taken per sample over all its dimensions (not per pixel). The graph is kept
    (create_graph=True) so the penalty trains the critic. real, fake: (B, ...), same shape.
    """
    if not callable(critic):
        raise ValueError(f"critic must be a callable network, got {type(critic).__name__}")
    v.tensor("real", real, min_ndim=2, floating=True)
    v.tensor("fake", fake, min_ndim=2, floating=True)
    v.same_shape("real", real, "fake", fake)
    v.same_device("real", real, "fake", fake)
    shape = (len(real),) + (1,) * (real.ndim - 1)  # one eps per sample, broadcast
    eps = torch.rand(shape, generator=generator, device="cpu" if generator else real.device)
    eps = eps.to(device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # (B,), over all dimensions of each sample
    return (norms - 1).pow(2).mean()


def r1_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor
) -> torch.Tensor:
    """E_x ||grad_x D(x)||^2 at real examples, D being its logit, without the weight gamma / 2
    (R1, the zero-centred "simplified gradient penalty" of Mescheder, Geiger and Nowozin 2018).

    The R1 regulariser: it pushes D's logit to be flat on the data, which makes GAN training
    converge where the plain game circles around its equilibrium. The norm is per example over
    all its dimensions; the graph is kept so the penalty trains D. real: (B, ...).
    """
    if not callable(discriminator):
        raise ValueError(
            f"discriminator must be a callable network, got {type(discriminator).__name__}"
        )
    v.tensor("real", real, min_ndim=2, floating=True)
    # D's own forward pass at the real examples, in the caller's precision (outside autocast,
    # as gradient_penalty), so that the input gradient exists; its graph is kept to train D.
    _, grad, _ = _scores_and_gradients(discriminator, real.detach(), keep_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


# --- chapter 05: AC-GAN (Odena et al. 2017) ----------------------------------------------


def acgan_source_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-L_S = -[E log P(S=real | X_real) + E log P(S=fake | X_fake)] (Odena et al., sec. 3).

    The source head gives one logit per image; -L_S equals :func:`discriminator_loss`.
    """
    return discriminator_loss(real_logits, fake_logits)


def _class_logits(name: str, logits, labels_name: str, labels) -> None:
    v.tensor(name, logits, ndim=2, floating=True)
    v.tensor(labels_name, labels, ndim=1)
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{labels_name} must be an integer tensor, got dtype {labels.dtype}")
    if len(labels) != len(logits):
        raise ValueError(
            f"{labels_name} must hold one label per row of {name} ({len(logits)}), "
            f"got {len(labels)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(
            f"{labels_name} must be class indices in [0, {logits.shape[1] - 1}], got values in "
            f"[{labels.min().item()}, {labels.max().item()}]"
        )


def acgan_class_loss(
    real_class_logits: torch.Tensor,
    real_labels: torch.Tensor,
    fake_class_logits: torch.Tensor,
    fake_labels: torch.Tensor,
) -> torch.Tensor:
    """-L_C = -[E log P(C=c | X_real) + E log P(C=c | X_fake)] (Odena et al., sec. 3).

    Class logits: (B, num_classes); labels: (B,) class indices (for fakes, the class asked of G).
    """
    _class_logits("real_class_logits", real_class_logits, "real_labels", real_labels)
    _class_logits("fake_class_logits", fake_class_logits, "fake_labels", fake_labels)
    real = F.cross_entropy(real_class_logits.float(), real_labels.long())
    fake = F.cross_entropy(fake_class_logits.float(), fake_labels.long())
    return real + fake


def acgan_losses(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_class_logits: torch.Tensor,
    real_labels: torch.Tensor,
    fake_class_logits: torch.Tensor,
    fake_labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss of D, loss of G) of AC-GAN: D maximises L_S + L_C, G maximises L_C - L_S.

    Returned as quantities to *minimise*: D gets -L_S - L_C, G gets L_S - L_C (the paper's
    minimax form; only the fake terms depend on G). Compute them from separate forward passes
    (fakes detached for D's step), as in any GAN loop.
    """
    source = acgan_source_loss(real_logits, fake_logits)  # -L_S
    klass = acgan_class_loss(real_class_logits, real_labels, fake_class_logits, fake_labels)
    return source + klass, -source + klass


# --- chapter 06: GN-GAN (Tran, Bui and Cheung 2018) ---------------------------------------


def _flat_batch(name: str, value) -> torch.Tensor:
    """(B, ...) with B >= 2 -> (B, D) float: one row per sample, all its dimensions."""
    v.tensor(name, value, min_ndim=2, floating=True)
    if len(value) < 2:
        raise ValueError(
            f"{name} must hold at least 2 samples (neighbours need pairs), got shape "
            f"{tuple(value.shape)}"
        )
    return value.flatten(1).float()


def student_t_affinities(points: torch.Tensor, sigma: float) -> torch.Tensor:
    """The symmetrised neighbour probabilities P (B, B) of a batch ``points`` (B, ...).

    With the Student-t kernel k_ij = (1 + ||y_i - y_j||^2 / (2 sigma^2))^-1 (one degree of
    freedom, as in t-SNE), the conditional p_{j|i} = k_ij / sum_{k != i} k_ik, and the joint
    p_ij = (p_{j|i} + p_{i|j}) / (2B); the diagonal is 0 and P sums to 1. Distances are taken
    per sample over all its dimensions (an image counts as one point).
    """
    flat = _flat_batch("points", points)
    sigma = v.positive("sigma", sigma)
    b = len(flat)
    norms = flat.pow(2).sum(1)
    # ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b: one (B, B) matrix product instead of a (B, B, D)
    # tensor of differences (50 MB for a batch of 128 MNIST digits); clamped at 0 against
    # rounding, and the diagonal is masked out below.
    squared = (norms[:, None] + norms[None, :] - 2 * flat @ flat.T).clamp_min(0.0)
    kernel = 1.0 / (1.0 + squared / (2 * sigma**2))
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=flat.device)
    kernel = kernel * off_diagonal
    conditional = kernel / kernel.sum(dim=1, keepdim=True)  # row i: p_{j|i}
    return (conditional + conditional.T) / (2 * b)


def neighbour_embedding(
    z: torch.Tensor, x: torch.Tensor, sigma_z: float = 1.0, sigma_x: float = 1.0
) -> torch.Tensor:
    """V_R = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij), GN-GAN's neighbours embedding.

    P: :func:`student_t_affinities` of the latent codes z (B, d) with scale ``sigma_z``;
    Q: the same of the generated samples x = G(z) (B, ...) with ``sigma_x``. The direction is
    t-SNE's (Maaten and Hinton 2008): KL(P || Q) is large where close codes (large p_ij) give
    distant samples (small q_ij), so it stops G from collapsing nearby codes onto one point
    *and* from tearing neighbours apart. Tran et al. run t-SNE in reverse: the structure to
    keep is the latent one, and G is what moves. Returns a scalar >= 0 (0 when Q = P).
    """
    if not isinstance(z, torch.Tensor) or not isinstance(x, torch.Tensor) or len(z) != len(x):
        lengths = [len(t) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (z, x)]
        raise ValueError(f"z and x must be tensors with one row per sample each, got {lengths}")
    v.same_device("z", z, "x", x)
    p = student_t_affinities(z, sigma_z)
    q = student_t_affinities(x, sigma_x)
    # The diagonals of P and Q are 0: there p_ii * (...) = 0, the logs kept finite by the
    # clamp (masking by multiplication, cheaper than boolean indexing of a (B, B) matrix).
    tiny = torch.finfo(q.dtype).tiny
    return (p * (p.clamp_min(tiny).log() - q.clamp_min(tiny).log())).sum()


def gngan_discriminator_loss(
    real_logits: torch.Tensor,
    recon_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """-[(1 - alpha) E log D(x) + alpha V_C + E log(1 - D(G(z)))], V_C = E log D(G(E(x))).

    The loss GN-GAN's discriminator minimises, without the gradient penalty (the recipe adds
    lambda_p V_P with :func:`gradient_penalty`). D = sigmoid(logit); the reconstructions
    G(E(x)) count as real with weight alpha, the data with weight 1 - alpha. Logits: (B,) or
    (B, 1), one batch each. Returns a scalar; 2 log 2 when every logit is 0.
    """
    real = _logits("real_logits", real_logits)
    recon = _logits("recon_logits", recon_logits)
    fake = _logits("fake_logits", fake_logits)
    v.same_device("real_logits", real_logits, "fake_logits", fake_logits)
    v.same_device("recon_logits", recon_logits, "fake_logits", fake_logits)
    alpha = v.positive("alpha", alpha, allow_zero=True)
    if alpha > 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    real_term = F.softplus(-real).mean()  # -E log D(x)
    recon_term = F.softplus(-recon).mean()  # -V_C = -E log D(G(E(x)))
    fake_term = F.softplus(fake).mean()  # -E log(1 - D(G(z)))
    return (1 - alpha) * real_term + alpha * recon_term + fake_term


class GradientMatching(NamedTuple):
    """The three terms of GN-GAN's generator loss (scalars), before their weights."""

    score: torch.Tensor  # |E D(x) - E D(G(z))|
    first: torch.Tensor  # ||E grad D(x) - E grad D(G(z))||^2
    second: torch.Tensor  # (E grad D(x)^T x - E grad D(G(z))^T G(z))^2


def _scores_and_gradients(score, x: torch.Tensor, keep_graph: bool):
    """D(x) (B,) and grad_x D(x) (B, ...) for each sample, by one backward pass of the sum."""
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    values = score(x)
    if not isinstance(values, torch.Tensor) or values.reshape(-1).shape != (len(x),):
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values)
        raise ValueError(f"score must return one value per sample, shape ({len(x)},); got {shape}")
    (grad,) = torch.autograd.grad(values.sum(), x, create_graph=keep_graph)
    values = values.reshape(-1).float()
    if not keep_graph:  # a constant: its graph was freed by the backward pass above
        return values.detach(), grad.detach().float(), x.detach()
    return values, grad.float(), x


def gradient_matching(score, real: torch.Tensor, fake: torch.Tensor) -> GradientMatching:
    """GN-GAN's generator terms, matched between the real batch and the generated one.

    ``score`` maps a batch (B, ...) to one value per sample (B,): the discriminator's output
    D. Its gradient grad_x D(x) is taken per sample (the sum of the scores is differentiated
    once, which gives every sample's own gradient when D treats samples independently: no
    BatchNorm in training mode). Then

    - ``score``  = |mean_i D(x_i) - mean_j D(G(z_j))|;
    - ``first``  = ||mean_i grad D(x_i) - mean_j grad D(G(z_j))||^2, the mean of the gradients
      (not the gradient at the mean point), the squared norm over all dimensions;
    - ``second`` = (mean_i grad D(x_i) . x_i - mean_j grad D(G(z_j)) . G(z_j))^2, one dot
      product per sample over all its dimensions.

    These come from first-order Taylor expansions of D around the samples (Tran et al. 2018).
    The fake side keeps its graph (create_graph=True) so that the terms train G through both
    D(G(z)) and grad D at G(z); the real side is a constant for G.
    """
    v.tensor("real", real, min_ndim=2, floating=True)
    v.tensor("fake", fake, min_ndim=2, floating=True)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake must hold samples of the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    v.same_device("real", real, "fake", fake)
    if not callable(score):
        raise ValueError(f"score must be a callable network, got {type(score).__name__}")
    d_real, g_real, x_real = _scores_and_gradients(score, real.detach(), keep_graph=False)
    d_fake, g_fake, x_fake = _scores_and_gradients(score, fake, keep_graph=True)
    score_term = (d_real.mean() - d_fake.mean()).abs()
    first = (g_real.mean(0) - g_fake.mean(0)).pow(2).sum()
    dot_real = (g_real * x_real.detach().float()).flatten(1).sum(1)  # (B,)
    dot_fake = (g_fake * x_fake.float()).flatten(1).sum(1)
    second = (dot_real.mean() - dot_fake.mean()).pow(2)
    return GradientMatching(score_term, first, second)


def gngan_generator_loss(
    score,
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_m1: float = 1.0,
    lambda_m2: float = 1.0,
) -> torch.Tensor:
    """V_G = |E D(x) - E D(G(z))| + lambda_m1 ||E grad D(x) - E grad D(G(z))||^2
    + lambda_m2 (E grad D(x)^T x - E grad D(G(z))^T G(z))^2, what GN-GAN's G minimises.

    No log D(G(z)) term: the generator's adversarial signal is the score difference itself.
    See :func:`gradient_matching` for the terms.
    """
    l1 = v.positive("lambda_m1", lambda_m1, allow_zero=True)
    l2 = v.positive("lambda_m2", lambda_m2, allow_zero=True)
    terms = gradient_matching(score, real, fake)
    return terms.score + l1 * terms.first + l2 * terms.second
