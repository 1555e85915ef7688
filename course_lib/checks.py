"""Exercise checks: run the student's function and the reference on fresh random inputs.

Each ``check_*`` function prints what it found and returns a :class:`CheckResult`:

* the exercise is still blank (it raises ``NotImplementedError``): "not done yet", no error,
  so a notebook with blanks still runs from top to bottom;
* the answer is right: a short confirmation with the numbers compared;
* the answer is wrong: :class:`CheckFailed` is raised with what differs, in numbers
  ("wrong sign: expected 3.21, got -3.21"), and a hint when the mistake is a known one.

:func:`use_or_reference` gives later cells the student's function when its check passes
and the course's reference otherwise, saying so.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import divergences, losses
from .models import vae
from .recipes import cgan

__all__ = [
    "CheckFailed",
    "CheckResult",
    "check_acgan_losses",
    "check_concat_label",
    "check_discriminator_loss",
    "check_earth_movers_distance",
    "check_gaussian_kl",
    "check_generator_loss",
    "check_gradient_penalty",
    "check_js_divergence",
    "check_kl_divergence",
    "check_label_planes",
    "check_negative_elbo",
    "check_optimal_discriminator",
    "check_reparameterize",
    "check_wasserstein_losses",
    "compare",
    "use_or_reference",
    "check_neighbour_embedding",
    "check_gradient_matching",
    "check_latent_descent",
    "check_inference_update",
]


class CheckFailed(AssertionError):
    """The student's function ran but its answer is wrong; the message says how."""


@dataclass
class CheckResult:
    name: str
    done: bool
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Shown once: the check already printed its message when it ran."""


def _fmt(t: torch.Tensor) -> str:
    t = t.detach().flatten()
    shown = ", ".join(f"{x:.4g}" for x in t[:4].tolist())
    return shown + (", ..." if t.numel() > 4 else "")


def compare(
    name: str,
    got,
    expected: torch.Tensor,
    mistakes: dict[str, torch.Tensor] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Raise :class:`CheckFailed` describing how ``got`` differs from ``expected``.

    ``mistakes`` maps a description of a known mistake ("the KL term is missing") to the
    value that mistake produces; a match is reported as the likely cause.
    """
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should return a torch.Tensor, got {type(got).__name__}")
    if got.shape != expected.shape:
        for description, value in (mistakes or {}).items():
            if value.shape == got.shape and torch.allclose(got.float(), value, rtol, atol):
                raise CheckFailed(
                    f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}: "
                    f"{description}"
                )
        raise CheckFailed(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    got = got.detach().float()
    if not torch.isfinite(got).all():
        raise CheckFailed(f"{name}: the result holds NaN or inf: [{_fmt(got)}]")
    if torch.allclose(got, expected, rtol, atol):
        return
    for description, value in (mistakes or {}).items():
        if value.shape == got.shape and torch.allclose(got, value, rtol, atol):
            raise CheckFailed(
                f"{name}: {description}: expected [{_fmt(expected)}], got [{_fmt(got)}]"
            )
    if torch.allclose(got, -expected, rtol, atol):
        raise CheckFailed(
            f"{name} has the wrong sign: expected [{_fmt(expected)}], got [{_fmt(got)}]"
        )
    nonzero = expected.abs() > 1e-6
    if nonzero.any():
        ratio = got[nonzero] / expected[nonzero]
        if ratio.std(unbiased=False) < 1e-4 * ratio.abs().mean():
            r = ratio.mean().item()
            raise CheckFailed(
                f"{name} is off by a constant factor {r:.4g}: expected [{_fmt(expected)}], "
                f"got [{_fmt(got)}]. Look for a missing or extra sum, mean or factor 1/2"
            )
    diff = (got - expected).abs()
    worst = int(diff.flatten().argmax())
    raise CheckFailed(
        f"{name}: expected [{_fmt(expected)}], got [{_fmt(got)}]; largest difference "
        f"{diff.max().item():.4g} at flat index {worst}"
    )


def _run(name: str, body: Callable[[], str]) -> CheckResult:
    try:
        detail = body()
    except NotImplementedError:
        result = CheckResult(
            name,
            done=False,
            passed=False,
            message=f"⏳ {name}: not done yet (it still raises NotImplementedError)",
        )
        print(result.message)
        return result
    except CheckFailed as err:
        raise CheckFailed(f"❌ {err}") from None
    result = CheckResult(name, done=True, passed=True, message=f"✅ {name} is correct. {detail}")
    print(result.message)
    return result


def _fresh_generator() -> torch.Generator:
    return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))


def _call(name: str, fn: Callable, *args):
    """Call the student's function, turning an unexpected error into a readable failure."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as err:  # the student's code failed: say where, not a traceback wall
        raise CheckFailed(f"{name} raised {type(err).__name__}: {err}") from err


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(mu, logvar) -> (B,)`` against KL(N(mu, sigma^2) || N(0, I)) in closed form."""

    def body() -> str:
        g = _fresh_generator()
        mu = torch.randn(6, 5, generator=g)
        logvar = torch.randn(6, 5, generator=g)
        got = _call("gaussian_kl", fn, mu, logvar)
        expected = losses.gaussian_kl(mu, logvar)
        per_dim = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        compare(
            "gaussian_kl",
            got,
            expected,
            mistakes={
                "the KL is summed over the latent dimensions, one value per row: "
                "use .sum(dim=1)": per_dim,
                "return one KL per row (shape (B,)), not the batch total": expected.sum(),
                "return one KL per row (shape (B,)), not the batch mean": expected.mean(),
                "the variance is exp(logvar), not exp(logvar / 2) or logvar itself": -0.5
                * (1 + logvar - mu.pow(2) - (0.5 * logvar).exp()).sum(1),
                "the factor -1/2 is missing": -2 * expected,
            },
        )
        return f"KL of 6 random Gaussians in 5-D: [{_fmt(expected)}] nats."

    return _run("gaussian_kl", body)


def check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(mu, logvar) -> z``: right shape, gradients reach mu and logvar, and
    z ~ N(mu, exp(logvar)) in distribution (mean and standard deviation of many draws)."""

    def body() -> str:
        g = _fresh_generator()
        mu = (3 * torch.randn(1, 4, generator=g)).requires_grad_()
        logvar = (torch.rand(1, 4, generator=g) * 2 - 1).requires_grad_()
        many_mu, many_logvar = mu.expand(20_000, 4), logvar.expand(20_000, 4)
        z = _call("reparameterize", fn, many_mu, many_logvar)
        if not isinstance(z, torch.Tensor) or z.shape != many_mu.shape:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise CheckFailed(f"reparameterize: expected shape (20000, 4) like mu, got {shape}")
        if not z.requires_grad:
            raise CheckFailed(
                "reparameterize: z carries no gradient. Build z from mu and logvar with "
                "tensor operations (mu + sigma * eps), not by sampling from a distribution "
                "object or with torch.no_grad()"
            )
        z.sum().backward()
        if mu.grad is None or logvar.grad is None or logvar.grad.abs().sum() == 0:
            raise CheckFailed("reparameterize: the gradient does not reach both mu and logvar")
        sigma = (0.5 * logvar).exp().detach()
        mean, std = z.detach().mean(0, keepdim=True), z.detach().std(0, keepdim=True)
        tol = 4 * sigma / math.sqrt(20_000) + 1e-3
        if not ((mean - mu.detach()).abs() < tol).all():
            raise CheckFailed(
                f"reparameterize: the mean of z should be mu = [{_fmt(mu)}], got [{_fmt(mean)}]"
            )
        if not ((std - sigma).abs() < 0.05 * sigma).all():
            hint = ""
            if ((std - sigma.pow(2)).abs() < 0.05 * sigma.pow(2)).all():
                hint = ": that is the variance exp(logvar); sigma = exp(logvar / 2)"
            elif (std < 1e-6).all():
                hint = ": z does not vary at all; eps must be drawn from N(0, I) in each call"
            raise CheckFailed(
                f"reparameterize: the standard deviation of z should be sigma = [{_fmt(sigma)}], "
                f"got [{_fmt(std)}]{hint}"
            )
        return "z has the mean mu and the standard deviation exp(logvar / 2), and gradients flow."

    return _run("reparameterize", body)


def check_negative_elbo(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(logits, x, mu, logvar, beta) -> scalar``: mean over the batch of the
    summed pixel BCE plus beta times the Gaussian KL."""

    def body() -> str:
        g = _fresh_generator()
        b, d = 8, 3
        logits = torch.randn(b, 1, 28, 28, generator=g)
        x = torch.rand(b, 1, 28, 28, generator=g)
        mu, logvar = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
        beta = 2.5
        got = _call("negative_elbo", fn, logits, x, mu, logvar, beta)
        expected = losses.negative_elbo(logits, x, mu, logvar, beta)
        rec = losses.reconstruction_bce(logits, x)
        kl = losses.gaussian_kl(mu, logvar)
        compare(
            "negative_elbo",
            got,
            expected,
            mistakes={
                "the KL term is missing": rec.mean(),
                "the KL term has the wrong sign (the loss is reconstruction + beta * KL)": (
                    rec - beta * kl
                ).mean(),
                "beta does not multiply the KL term": (rec + kl).mean(),
                "beta multiplies the reconstruction term instead of the KL term": (
                    beta * rec + kl
                ).mean(),
                "the loss is summed over the batch; take the mean over images": expected * b,
                "the BCE is averaged over pixels; sum it over the 784 pixels of each image": (
                    rec / 784 + beta * kl
                ).mean(),
                "the decoder returns logits: use binary_cross_entropy_with_logits, or apply "
                "the sigmoid first": (
                    torch.nn.functional.binary_cross_entropy(
                        logits.clamp(1e-6, 1 - 1e-6), x, reduction="none"
                    )
                    .flatten(1)
                    .sum(1)
                    + beta * kl
                ).mean(),
                "return one scalar, the mean over the batch, not a value per image": rec
                + beta * kl,
            },
        )
        return f"-ELBO of a random batch with beta = {beta}: {expected.item():.2f} nats per image."

    return _run("negative_elbo", body)


# --- chapter 03: divergences ------------------------------------------------------------


def _random_distributions(g: torch.Generator, rows: int, outcomes: int) -> torch.Tensor:
    """Random probability vectors (rows, outcomes), all entries positive, float64."""
    return torch.softmax(1.5 * torch.randn(rows, outcomes, generator=g, dtype=torch.float64), -1)


def _distributions_with_zeros(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (4, 6) with zero probabilities: disjoint supports, partial overlap, p = q, random."""
    p = torch.zeros(4, 6, dtype=torch.float64)
    q = torch.zeros(4, 6, dtype=torch.float64)
    p[0, :2], q[0, 2:5] = torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.25, 0.5])
    p[1, :3], q[1, 1:4] = torch.tensor([0.2, 0.3, 0.5]), torch.tensor([0.3, 0.2, 0.5])
    w = torch.rand(6, generator=g, dtype=torch.float64) * (torch.arange(6) % 2 == 0)
    p[2] = q[2] = w / w.sum()
    for row in (p[3], q[3]):
        w = torch.rand(6, generator=g, dtype=torch.float64)
        w[torch.randperm(6, generator=g)[:2]] = 0.0
        row.copy_(w / w.sum())
    return p, q


def _plain_kl(p: torch.Tensor, q: torch.Tensor, log=torch.log) -> torch.Tensor:
    """sum p log(p / q) for strictly positive inputs (the known mistakes are built on it)."""
    return (p * (log(p) - log(q))).sum(-1)


def _zero_mistake(name: str, got: torch.Tensor, p: torch.Tensor, q: torch.Tensor) -> None:
    """Name NaN or inf produced by zero probabilities, before the numbers are compared."""
    if not isinstance(got, torch.Tensor) or got.shape != p.shape[:-1]:
        return
    rows = [i for i in range(len(got)) if not torch.isfinite(got[i])]
    if not rows:
        return
    i = rows[0]
    where = f"for p = [{_fmt(p[i])}] and q = [{_fmt(q[i])}]"
    if torch.isnan(got[i]):
        raise CheckFailed(
            f"{name} returns NaN {where}: an outcome with probability 0 gives 0 * log 0 (or "
            "0 / 0). By convention 0 log 0 = 0: keep only the terms where the weight is "
            "positive (torch.where(p > 0, ..., 0), or torch.xlogy with no 0 / 0 inside)"
        )


def check_kl_divergence(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(p, q) -> (B,)``: KL(p || q) = sum_i p_i log(p_i / q_i) per row, in nats,
    with 0 log 0 = 0 and +inf where q_i = 0 < p_i."""

    def body() -> str:
        g = _fresh_generator()
        p64, q64 = _random_distributions(g, 5, 6), _random_distributions(g, 5, 6)
        p, q = p64.float(), q64.float()
        got = _call("kl_divergence", fn, p, q)
        expected = divergences.kl_divergence(p64, q64).float()
        terms = p64 * (p64.log() - q64.log())
        compare(
            "kl_divergence",
            got,
            expected,
            mistakes={
                "p and q are swapped: KL(p || q) = sum p log(p / q), weighted by p; you "
                "computed KL(q || p)": _plain_kl(q64, p64).float(),
                "use the natural log (nats), torch.log, not torch.log2 (bits)": _plain_kl(
                    p64, q64, torch.log2
                ).float(),
                "use the natural log (nats), torch.log, not torch.log10": _plain_kl(
                    p64, q64, torch.log10
                ).float(),
                "each log ratio log(p_i / q_i) must be weighted by p_i": (p64.log() - q64.log())
                .sum(-1)
                .float(),
                "weight the log ratio by p_i, not by q_i": (q64 * (p64.log() - q64.log()))
                .sum(-1)
                .float(),
                "sum over the outcomes, the last dimension (dim=-1), not over the batch": terms.sum(
                    0
                ).float(),
                "return one KL per row (shape (B,)), not the batch total": expected.sum(),
                "return one KL per row (shape (B,)), not the batch mean": expected.mean(),
                "return shape (B,), not (B, 1): sum without keepdim": expected[:, None],
            },
        )
        # Zeros in p: those outcomes contribute 0 (0 log 0 = 0).
        pz, _ = _distributions_with_zeros(g)
        qz = _random_distributions(g, 4, 6)
        got = _call("kl_divergence", fn, pz.float(), qz.float())
        _zero_mistake("kl_divergence", got, pz, qz)
        compare("kl_divergence (p with zeros)", got, divergences.kl_divergence(pz, qz).float())
        # Zeros in q where p > 0: p puts mass where q has none, KL = +inf.
        p_in = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float32)
        q_out = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float32)
        got = _call("kl_divergence", fn, p_in, q_out)
        if not isinstance(got, torch.Tensor) or got.shape != (2,):
            raise CheckFailed("kl_divergence: expected one value per row, shape (2,)")
        if torch.isnan(got[0]):
            raise CheckFailed(
                "kl_divergence([0.5, 0.5, 0], [1, 0, 0]) returned NaN; it is +inf: p puts "
                "mass 0.5 on an outcome where q has none, and p log(p / 0) = +inf "
                "(0 log 0 = 0 still holds for the third outcome)"
            )
        if not (torch.isinf(got[0]) and got[0] > 0):
            raise CheckFailed(
                f"kl_divergence([0.5, 0.5, 0], [1, 0, 0]) should be +inf (p puts mass where "
                f"q has none), got {got[0].item():.4g}. An epsilon added to q hides this: "
                f"the KL then depends on the epsilon and is not the KL"
            )
        return (
            f"KL of 5 random pairs over 6 outcomes: [{_fmt(expected)}] nats; zeros in p count "
            f"0 and a zero in q under mass of p gives +inf."
        )

    return _run("kl_divergence", body)


def check_js_divergence(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``fn(p, q) -> (B,)``: JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2,
    per row, in nats, finite and at most log 2 even when the supports are disjoint."""

    def body() -> str:
        g = _fresh_generator()
        p64, q64 = _random_distributions(g, 5, 6), _random_distributions(g, 5, 6)
        p, q = p64.float(), q64.float()
        got = _call("js_divergence", fn, p, q)
        expected = divergences.js_divergence(p64, q64)
        m = 0.5 * (p64 + q64)
        kl_pm = _plain_kl(p64, m)
        bad_m = p64 + q64 / 2  # what "p + q / 2" computes
        terms = 0.5 * (p64 * (p64 / m).log() + q64 * (q64 / m).log())
        mistakes = {
            "use the natural log (nats), torch.log, not torch.log2: in bits JS is at most 1, "
            "in nats at most log 2": expected / math.log(2),
            "use the natural log (nats), torch.log, not torch.log10": expected / math.log(10),
            "the factor 1/2 is missing: JS = 1/2 KL(p || m) + 1/2 KL(q || m)": 2 * expected,
            "only the term of p is there: add 1/2 KL(q || m)": 0.5 * kl_pm,
            "only KL(p || m) is there: JS = 1/2 KL(p || m) + 1/2 KL(q || m)": kl_pm,
            "that is KL(p || q), not JS: compare each distribution with the mixture "
            "m = (p + q) / 2, not with the other one": _plain_kl(p64, q64),
            "that is KL(q || p), not JS: compare each distribution with the mixture "
            "m = (p + q) / 2": _plain_kl(q64, p64),
            "that is the symmetrised KL (KL(p || q) + KL(q || p)) / 2, not JS: compare each "
            "distribution with the mixture m = (p + q) / 2": 0.5
            * (_plain_kl(p64, q64) + _plain_kl(q64, p64)),
            "the mixture is m = (p + q) / 2, not p + q (JS comes out log 2 too small)": expected
            - math.log(2),
            "the mixture is m = (p + q) / 2: `p + q / 2` divides only q (mind the brackets)": 0.5
            * (_plain_kl(p64, bad_m) + _plain_kl(q64, bad_m)),
            "the KL arguments are reversed: KL(p || m) = sum p log(p / m), not KL(m || p)": 0.5
            * (_plain_kl(m, p64) + _plain_kl(m, q64)),
            "sum over the outcomes, the last dimension (dim=-1), not over the batch": terms.sum(0),
            "return one JS per row (shape (B,)), not the batch total": expected.sum(),
            "return one JS per row (shape (B,)), not the batch mean": expected.mean(),
            "return shape (B,), not (B, 1): sum without keepdim": expected[:, None],
        }
        compare(
            "js_divergence",
            got,
            expected.float(),
            mistakes={k: value.float() for k, value in mistakes.items()},
        )
        # Zeros, and disjoint supports: JS is finite, log 2 for disjoint supports, 0 for p = q.
        pz, qz = _distributions_with_zeros(g)
        got = _call("js_divergence", fn, pz.float(), qz.float())
        _zero_mistake("js_divergence", got, pz, qz)
        if isinstance(got, torch.Tensor) and got.shape == (4,) and torch.isinf(got).any():
            i = int(torch.isinf(got).nonzero()[0])
            raise CheckFailed(
                f"js_divergence is inf for p = [{_fmt(pz[i])}] and q = [{_fmt(qz[i])}]; JS is "
                f"always finite (at most log 2): divide by the mixture m = (p + q) / 2, which "
                f"is positive wherever p or q is, never by p or q themselves"
            )
        compare(
            "js_divergence (with zero probabilities)",
            got,
            divergences.js_divergence(pz, qz).float(),
        )
        return (
            f"JS of 5 random pairs over 6 outcomes: [{_fmt(expected)}] nats, all within "
            f"[0, log 2 = {math.log(2):.4f}]; disjoint supports give log 2 and p = q gives 0."
        )

    return _run("js_divergence", body)


def check_optimal_discriminator(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """Check ``fn(p_r, p_f) -> D``: D*(x) = p_r(x) / (p_r(x) + p_f(x)) at every point."""

    def body() -> str:
        g = _fresh_generator()
        p_r = torch.randn(4, 7, generator=g, dtype=torch.float32).exp()
        p_f = torch.randn(4, 7, generator=g, dtype=torch.float32).exp()
        got = _call("optimal_discriminator", fn, p_r, p_f)
        expected = divergences.optimal_discriminator(p_r, p_f)
        compare(
            "optimal_discriminator",
            got,
            expected,
            mistakes={
                "real and fake are swapped: D*(x) is the probability that x is real, "
                "p_r / (p_r + p_f)": p_f / (p_r + p_f),
                "divide by the sum p_r + p_f (a probability in [0, 1]), not by p_f": torch.where(
                    p_f > 0, p_r / p_f.clamp_min(1e-30), torch.zeros_like(p_r)
                ),
                "D* depends on x: it is p_r(x) / (p_r(x) + p_f(x)) at each point, not a "
                "constant 1/2": torch.full_like(p_r, 0.5),
                "that is the sigmoid of p_r - p_f, not p_r / (p_r + p_f)": torch.sigmoid(p_r - p_f),
            },
        )
        # Where only one density has mass, D* is certain: 0 (only fake) or 1 (only real).
        p_r = torch.tensor([0.0, 0.7, 0.2], dtype=torch.float32)
        p_f = torch.tensor([0.4, 0.0, 0.2], dtype=torch.float32)
        got = _call("optimal_discriminator", fn, p_r, p_f)
        compare(
            "optimal_discriminator (where one density is 0)",
            got,
            torch.tensor([0, 1, 0.5], dtype=torch.float32),
        )
        return (
            "D* = p_r / (p_r + p_f) at 28 random points; 0 where only p_f has mass, 1 where "
            "only p_r has."
        )

    return _run("optimal_discriminator", body)


# --- chapters 02 and 04: GAN losses and the gradient penalty -----------------------------


def _bce_with_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, target)
    )


def check_discriminator_loss(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """Check ``fn(real_logits, fake_logits) -> scalar``: -[E log D(x) + E log(1 - D(G(z)))]
    with D = sigmoid(logit), the loss the discriminator minimises."""

    def body() -> str:
        g = _fresh_generator()
        real = 2 * torch.randn(16, generator=g) + 1
        fake = 2 * torch.randn(16, generator=g) - 1
        got = _call("discriminator_loss", fn, real, fake)
        expected = losses.discriminator_loss(real, fake)
        sp = torch.nn.functional.softplus
        real_term, fake_term = sp(-real).mean(), sp(fake).mean()
        compare(
            "discriminator_loss",
            got,
            expected,
            mistakes={
                "real and fake are swapped: real images have target 1 (log D(x)), fakes "
                "target 0 (log(1 - D(G(z))))": sp(real).mean() + sp(-fake).mean(),
                "the fake term is missing: add -E log(1 - D(G(z)))": real_term,
                "the real term is missing: add -E log D(x)": fake_term,
                "the fake term uses log D(G(z)); D must push D(G(z)) to 0, so it is "
                "log(1 - D(G(z)))": real_term + sp(-fake).mean(),
                "the two terms are averaged; V(G, D) is their sum": 0.5 * expected,
                "the sigmoid is applied twice: the inputs are logits, so use "
                "binary_cross_entropy_with_logits on them directly, or BCE on their "
                "sigmoid, not BCE-with-logits on the sigmoid": _bce_with_logits(
                    torch.sigmoid(real), 1.0
                )
                + _bce_with_logits(torch.sigmoid(fake), 0.0),
                "the inputs are logits, not probabilities: D = sigmoid(logit)": -(
                    real.clamp(1e-6, 1 - 1e-6).log().mean()
                    + (1 - fake.clamp(1e-6, 1 - 1e-6)).log().mean()
                ),
                "return one scalar, the sum of the two batch means, not a value per example": sp(
                    -real
                )
                + sp(fake),
            },
        )
        zero = _call("discriminator_loss", fn, torch.zeros(4), torch.zeros(4))
        compare("discriminator_loss (all logits 0, D = 1/2)", zero, torch.tensor(2 * math.log(2)))
        return (
            f"-V(G, D) on random logits: {expected.item():.4f}; with D = 1/2 everywhere it is "
            f"2 log 2 = {2 * math.log(2):.4f}."
        )

    return _run("discriminator_loss", body)


def check_generator_loss(
    fn: Callable[[torch.Tensor], torch.Tensor], saturating: bool = False
) -> CheckResult:
    """Check ``fn(fake_logits) -> scalar``: the non-saturating -E log D(G(z)), or with
    ``saturating=True`` the minimax form E log(1 - D(G(z))), both minimised by G."""
    name = "saturating generator_loss" if saturating else "generator_loss"

    def body() -> str:
        g = _fresh_generator()
        fake = 2 * torch.randn(16, generator=g) - 1
        got = _call(name, fn, fake)
        expected = losses.generator_loss(fake, saturating=saturating)
        other = losses.generator_loss(fake, saturating=not saturating)
        sp = torch.nn.functional.softplus
        if saturating:
            mistakes = {
                "that is the non-saturating loss -E log D(G(z)); the saturating (minimax) "
                "loss is E log(1 - D(G(z)))": other,
                "the sign is flipped: G minimises E log(1 - D(G(z))), the term it shares "
                "with V(G, D), as it is (not its negative)": sp(fake).mean(),
            }
        else:
            mistakes = {
                "that is the saturating loss E log(1 - D(G(z))); the non-saturating loss "
                "is -E log D(G(z)) (label the fakes as real, target 1)": other,
                "that is -E log(1 - D(G(z))), which G would lower by making D(G(z)) smaller: "
                "the non-saturating loss is -E log D(G(z))": sp(fake).mean(),
                "the inputs are logits: D = sigmoid(logit), so -log D = softplus(-logit)": -(
                    fake.clamp_min(1e-6).log().mean()
                ),
            }
        mistakes["return one scalar, the mean over the batch, not a value per example"] = (
            -sp(fake) if saturating else sp(-fake)
        )
        compare(name, got, expected, mistakes=mistakes)
        return (
            f"On random fake logits: {expected.item():.4f} "
            f"(the other form gives {other.item():.4f})."
        )

    return _run(name, body)


class _LinearCritic(torch.nn.Module):
    """f(x) = w . x over all the dimensions of a sample: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return (x * self.w).flatten(1).sum(1)  # (B,)


class _SquareCritic(_LinearCritic):
    """f(x) = sum w x^2 / 2: its gradient w * x depends on where it is evaluated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        return (0.5 * self.w * x.pow(2)).flatten(1).sum(1)  # (B,)


def _penalty_of(grad: torch.Tensor) -> torch.Tensor:
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(critic, real, fake) -> scalar``: E[(||grad f(x_hat)||_2 - 1)^2] at
    x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample, the norm over all the
    dimensions of each sample, with the graph kept so that the critic learns from it."""

    def body() -> str:
        g = _fresh_generator()
        b, shape = 8, (3, 4, 4)
        w = torch.randn(1, *shape, generator=g)
        w = w * (1.5 + torch.rand(1, generator=g)) / w.norm()  # ||w|| in [1.5, 2.5]
        real, fake = torch.randn(b, *shape, generator=g), torch.randn(b, *shape, generator=g)
        critic = _LinearCritic(w)
        got = _call("gradient_penalty", fn, critic, real, fake)
        grad = w.expand(b, *shape)
        expected = _penalty_of(grad)
        norm = grad.flatten(1).norm(dim=1)
        compare(
            "gradient_penalty",
            got,
            expected,
            mistakes={
                "the norm is taken per element (|df/dx_i|): take one norm per sample over "
                "all its dimensions, grad.flatten(1).norm(2, dim=1)": (grad.abs() - 1)
                .pow(2)
                .mean(),
                "the norm is taken over dim=1 (the channels) only: flatten each sample "
                "first, grad.flatten(1).norm(2, dim=1)": (grad.norm(dim=1) - 1).pow(2).mean(),
                "the square is missing: the penalty is (||grad|| - 1)^2": (norm - 1).mean(),
                "the square is missing: the penalty is (||grad|| - 1)^2, not |  ||grad|| - 1 |": (
                    norm - 1
                )
                .abs()
                .mean(),
                "that is (||grad||^2 - 1)^2: use the norm, not the squared norm": (norm.pow(2) - 1)
                .pow(2)
                .mean(),
                "the penalty keeps the weight lambda; return it without (lambda = 10 is "
                "applied in the training loop)": 10 * expected,
                "return one scalar, the mean over the batch, not a value per sample": (
                    norm - 1
                ).pow(2),
            },
        )
        if not got.requires_grad:
            raise CheckFailed(
                "gradient_penalty carries no gradient to the critic: call torch.autograd.grad"
                "(..., create_graph=True) so that the penalty can be back-propagated"
            )
        got.backward()
        if critic.w.grad is None or critic.w.grad.abs().sum() == 0:
            raise CheckFailed("gradient_penalty: the gradient does not reach the critic's weights")
        # Where the critic is evaluated: on the segments between real and fake, eps per sample.
        critic = _SquareCritic(w.abs() + 0.5)
        b = 32
        real, fake = torch.randn(b, *shape, generator=g), torch.randn(b, *shape, generator=g)
        got = _call("gradient_penalty", fn, critic, real, fake)
        if not critic.inputs or critic.inputs[-1].shape != real.shape:
            raise CheckFailed(
                f"gradient_penalty should call the critic on x_hat of shape {tuple(real.shape)}"
            )
        x_hat = critic.inputs[-1]
        d = (real - fake).flatten(1)
        eps = ((x_hat - fake).flatten(1) * d).sum(1) / d.pow(2).sum(1)  # projection on segment
        residual = (fake.flatten(1) + eps[:, None] * d - x_hat.flatten(1)).abs().max()
        if residual > 1e-4 or eps.min() < -1e-4 or eps.max() > 1 + 1e-4:
            raise CheckFailed(
                "gradient_penalty: the critic was not evaluated between real and fake samples; "
                "x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1]"
            )
        if eps.std() < 1e-3 and (eps.mean() < 1e-3 or eps.mean() > 1 - 1e-3):
            raise CheckFailed(
                "gradient_penalty: the critic was evaluated at the real (or fake) samples "
                "themselves; interpolate, x_hat = eps * real + (1 - eps) * fake, one eps per "
                "sample drawn from U[0, 1]"
            )
        if eps.std() < 1e-3:
            raise CheckFailed(
                "gradient_penalty: every sample used the same eps; draw one eps per sample, "
                "torch.rand(B, 1, 1, 1), so x_hat covers the segments"
            )
        compare(
            "gradient_penalty (critic f(x) = sum w x^2 / 2)",
            got,
            _penalty_of(critic.w.detach() * x_hat),
        )
        return (
            f"(||grad f|| - 1)^2 with one norm per sample: {expected.item():.4f} for a linear "
            f"critic with ||w|| = {norm[0].item():.3f}; x_hat lies on the segments, eps per "
            f"sample, and gradients reach the critic."
        )

    return _run("gradient_penalty", body)


# --- chapter 04: the WGAN losses and the earth mover's distance --------------------------


def _no_log_of_scores(name: str, got) -> None:
    """Name the NaN that a log of raw critic scores (some of them negative) produces."""
    if isinstance(got, torch.Tensor) and got.is_floating_point() and torch.isnan(got).any():
        raise CheckFailed(
            f"{name} returns NaN on scores that include negative numbers: a critic's scores "
            f"are raw, unbounded numbers, not probabilities; use them as they are, with no "
            f"log and no sigmoid"
        )


def _wasserstein_mistakes(real: torch.Tensor | None, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """The known wrong answers: for the critic's loss when ``real`` is given, else for G's."""
    sp, sigmoid = torch.nn.functional.softplus, torch.sigmoid
    no_sigmoid = "a WGAN critic outputs a raw score, not a probability: no sigmoid"
    if real is None:
        return {
            "the sign is flipped: G wants the critic's scores on its samples high, so it "
            "minimises -E f(G(z))": fake.mean(),
            "that is the GAN's non-saturating loss -E log sigmoid(f(G(z))); a WGAN uses the "
            "raw scores, with no sigmoid and no log": sp(-fake).mean(),
            f"{no_sigmoid}: the loss is -E f(G(z))": -sigmoid(fake).mean(),
            "the scores are summed over the batch; take the mean, -E f(G(z))": -fake.sum(),
            "return one scalar, the mean over the batch, not a value per example": -fake,
        }
    estimate = real.mean() - fake.mean()
    gan_loss = sp(-real).mean() + sp(fake).mean()
    with_sigmoid = sigmoid(fake).mean() - sigmoid(real).mean()
    summed = fake.sum() - real.sum()
    return {
        "the sign is flipped: that is E f(x) - E f(G(z)), the estimate of W that the critic "
        "maximises; the loss it minimises is its negative, E f(G(z)) - E f(x)": estimate,
        "that is the GAN discriminator's loss -[E log sigmoid(f(x)) + E log(1 - sigmoid("
        "f(G(z))))]; a WGAN uses the raw scores, with no sigmoid and no log": gan_loss,
        f"{no_sigmoid}: the loss is E f(G(z)) - E f(x)": with_sigmoid,
        "the scores are summed over the batch; take the means, E f(G(z)) - E f(x)": summed,
        "the real term is missing: the loss is E f(G(z)) - E f(x)": fake.mean(),
        "the fake term is missing: the loss is E f(G(z)) - E f(x)": -real.mean(),
        "return one scalar, the difference of the two batch means, not a value per example": fake
        - real,
    }


def check_wasserstein_losses(
    critic_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    generator_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> CheckResult:
    """Check the WGAN losses (Arjovsky et al. 2017, Algorithm 1), one or both:
    ``critic_loss(real_scores, fake_scores) -> scalar``, E f(G(z)) - E f(x), which the critic
    minimises, and ``generator_loss(fake_scores) -> scalar``, -E f(G(z)). Scores: (B,) raw
    critic outputs. Compared with values worked out by hand, then with course_lib's
    :func:`~course_lib.losses.wasserstein_critic_loss` and
    :func:`~course_lib.losses.wasserstein_generator_loss` on random scores, with gradients."""
    if critic_loss is None and generator_loss is None:
        raise ValueError("pass critic_loss, generator_loss or both")
    if critic_loss is not None and generator_loss is not None:
        name = "wasserstein_losses"
    else:
        name = (
            "wasserstein_critic_loss" if critic_loss is not None else "wasserstein_generator_loss"
        )

    def one(fn, what: str, real, fake, expected) -> torch.Tensor:
        args = (fake,) if real is None else (real, fake)
        got = _call(what, fn, *args)
        _no_log_of_scores(what, got)
        compare(what, got, expected, mistakes=_wasserstein_mistakes(real, fake))
        return got

    def body() -> str:
        # By hand: E f(x) = (2 + 0.5 - 1 + 3.5) / 4 = 1.25, E f(G(z)) = (-2 + 1 - 0.5 + 0.5) / 4
        # = -0.25, so the critic's loss is -0.25 - 1.25 = -1.5 and G's loss is 0.25.
        real = torch.tensor([2.0, 0.5, -1.0, 3.5])
        fake = torch.tensor([-2.0, 1.0, -0.5, 0.5])
        g = _fresh_generator()
        real_r = (2 * torch.randn(16, generator=g) + 1).requires_grad_()
        fake_r = (2 * torch.randn(16, generator=g) - 1).requires_grad_()
        done = []
        if critic_loss is not None:
            what = "wasserstein_critic_loss"
            one(critic_loss, f"{what} (by hand)", real, fake, torch.tensor(-1.5))
            got = one(
                critic_loss,
                what,
                real_r,
                fake_r,
                losses.wasserstein_critic_loss(real_r, fake_r).detach(),
            )
            _gradient_reaches(what, got, (real_r, fake_r))
            done.append("critic loss E f(G(z)) - E f(x) = -1.5")
        if generator_loss is not None:
            what = "wasserstein_generator_loss"
            one(generator_loss, f"{what} (by hand)", None, fake, torch.tensor(0.25))
            got = one(
                generator_loss,
                what,
                None,
                fake_r,
                losses.wasserstein_generator_loss(fake_r).detach(),
            )
            _gradient_reaches(what, got, (fake_r,))
            done.append("generator loss -E f(G(z)) = 0.25")
        return (
            f"On real scores [2, 0.5, -1, 3.5] and fake scores [-2, 1, -0.5, 0.5]: "
            f"{' and '.join(done)}, as by hand; the same as course_lib on random scores, and "
            f"the gradients flow."
        )

    return _run(name, body)


def _gradient_reaches(name: str, got: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> None:
    if not got.requires_grad:
        raise CheckFailed(
            f"{name} carries no gradient to the scores: build it from them with tensor "
            f"operations (no .item(), no torch.tensor(...) around a result)"
        )
    grads = torch.autograd.grad(got, inputs, allow_unused=True)
    if any(grad is None or grad.abs().sum() == 0 for grad in grads):
        raise CheckFailed(f"{name}: the gradient does not reach every input score")


def _wasserstein_critic_check(fn: Callable) -> CheckResult:
    return check_wasserstein_losses(critic_loss=fn)


def _wasserstein_generator_check(fn: Callable) -> CheckResult:
    return check_wasserstein_losses(generator_loss=fn)


def check_earth_movers_distance(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> CheckResult:
    """Check ``fn(boxes_p, boxes_q) -> scalar``: the work (units of mass times distance) of the
    cheapest way to move piles ``boxes_p`` onto ``boxes_q``, both at the positions 0, 1, ...,
    n - 1 of a line and with the same total, compared with
    :func:`~course_lib.divergences.earth_movers_plan`. By cumulative sums it is
    sum_i |sum_{j <= i} (P_j - Q_j)|: the boxes that must cross each unit gap."""

    def body() -> str:
        g = _fresh_generator()
        cases = [  # first a pair on which every known mistake gives a different number
            (torch.tensor([1.0, 0.0, 0.0, 2.0]), torch.tensor([0.0, 2.0, 1.0, 0.0])),
            (torch.tensor([4.0, 2.0, 1.0, 3.0]), torch.tensor([2.0, 2.0, 4.0, 2.0])),
        ]
        for n in (6, 9):
            p = torch.randint(0, 6, (n,), generator=g).float()
            p[0] += 1  # at least one box
            q = torch.bincount(
                torch.multinomial(torch.ones(n), int(p.sum()), True, generator=g), minlength=n
            ).float()
            cases.append((p, q))
        for p, q in cases:
            positions = torch.arange(len(p), dtype=torch.float32)
            expected = divergences.earth_movers_plan(positions, p, positions, q).cost.float()
            got = _call("earth_movers_distance", fn, p, q)
            gaps = (p - q).cumsum(0)
            compare(
                f"earth_movers_distance for P = {p.int().tolist()}, Q = {q.int().tolist()}",
                got,
                expected,
                mistakes={
                    "the boxes that cross a gap leftwards count too: take the absolute value "
                    "of each cumulative difference before summing": gaps.sum(),
                    "that counts the boxes out of place at each position, sum |P_i - Q_i|, "
                    "not how far they travel: sum the cumulative differences "
                    "|sum_{j <= i} (P_j - Q_j)|": (p - q).abs().sum(),
                    "that is the number of boxes that must move, not the work: a box moved "
                    "over k gaps costs k": 0.5 * (p - q).abs().sum(),
                    "that is the work per box (W1 between the normalised distributions); "
                    "return the total work, boxes moved times distance": (
                        gaps.abs().sum() / p.sum()
                    ),
                    "subtract the two cumulative piles, P.cumsum(0) - Q.cumsum(0), not "
                    "P.cumsum(0) - Q": (p.cumsum(0) - q).abs().sum(),
                },
            )
        return (
            f"The lecture's boxes, P = [4, 2, 1, 3] and Q = [2, 2, 4, 2], cost 5 units of "
            f"work; {len(cases) - 1} other pairs of piles agree with earth_movers_plan."
        )

    return _run("earth_movers_distance", body)


# --- chapter 05: cGAN conditioning and AC-GAN ---------------------------------------------


def check_acgan_losses(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """Check ``fn(real_logits, fake_logits, real_class_logits, real_labels, fake_class_logits,
    fake_labels) -> (loss of D, loss of G)``: D maximises L_S + L_C and G maximises L_C - L_S
    (Odena et al. 2017), so the losses to minimise are -L_S - L_C and L_S - L_C."""

    def body() -> str:
        g = _fresh_generator()
        b, k = 8, 10
        real_s, fake_s = torch.randn(b, generator=g) + 1, torch.randn(b, generator=g) - 1
        real_c, fake_c = torch.randn(b, k, generator=g), torch.randn(b, k, generator=g)
        real_y = torch.randint(k, (b,), generator=g)
        fake_y = torch.randint(k, (b,), generator=g)
        got = _call("acgan_losses", fn, real_s, fake_s, real_c, real_y, fake_c, fake_y)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(
                "acgan_losses should return two scalars, (loss of D, loss of G), got "
                f"{type(got).__name__}"
            )
        d_expected, g_expected = losses.acgan_losses(real_s, fake_s, real_c, real_y, fake_c, fake_y)
        minus_l_s = losses.acgan_source_loss(real_s, fake_s)
        minus_l_c = losses.acgan_class_loss(real_c, real_y, fake_c, fake_y)
        ce = torch.nn.functional.cross_entropy
        compare(
            "acgan_losses: the loss of D",
            got[0],
            d_expected,
            mistakes={
                "the class term -L_C is missing: D maximises L_S + L_C": minus_l_s,
                "the source term -L_S is missing: D maximises L_S + L_C": minus_l_c,
                "L_C also counts the fakes: E log P(C=c | X_fake) with c the class asked "
                "of G": minus_l_s + ce(real_c, real_y),
                "that is the loss of G (L_S - L_C); D minimises -L_S - L_C": g_expected,
            },
        )
        compare(
            "acgan_losses: the loss of G",
            got[1],
            g_expected,
            mistakes={
                "that is the loss of D: G maximises L_C - L_S, so it minimises L_S - L_C": (
                    d_expected
                ),
                "the source term -L_S is missing from G's loss": minus_l_c,
                "that is the non-saturating variant; this exercise asks for the paper's "
                "L_S - L_C": losses.generator_loss(fake_s) + ce(fake_c, fake_y),
            },
        )
        return (
            f"-L_S - L_C = {d_expected.item():.4f} for D and L_S - L_C = {g_expected.item():.4f} "
            f"for G on random logits."
        )

    return _run("acgan_losses", body)


def check_concat_label(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(z, labels, num_classes) -> (B, D + K)``: the code z followed by the one-hot
    label, the input of a conditional generator G(z, c)."""

    def body() -> str:
        g = _fresh_generator()
        for b, d, k in ((6, 5, 10), (4, 3, 4)):
            z = torch.randn(b, d, generator=g)
            labels = torch.randint(k, (b,), generator=g)
            got = _call("concat_label", fn, z, labels, k)
            one_hot = torch.nn.functional.one_hot(labels, k).float()
            compare(
                "concat_label",
                got,
                cgan.concat_label(z, labels, k),
                mistakes={
                    "put the one-hot label after z, [z, one_hot(c)]: the generator's first "
                    "layer reads z first": torch.cat([one_hot, z], 1),
                    "the label must enter as a one-hot vector of num_classes entries, not as "
                    "one number": torch.cat([z, labels[:, None].float()], 1),
                    "use num_classes for the length of the one-hot vector, not a fixed 10": (
                        torch.cat([z, torch.nn.functional.one_hot(labels, 10).float()], 1)
                    ),
                    "concatenate along the feature dimension (dim=1), keeping one row per "
                    "example": torch.cat([z.flatten(), one_hot.flatten()]),
                },
            )
        return "z, then the one-hot label: (B, D + K), as dcgan.Generator builds it."

    return _run("concat_label", body)


def check_label_planes(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(x, labels, num_classes) -> (B, C + K, H, W)``: the image followed by K
    constant planes (plane c all ones for class c), the input of D(x, c)."""

    def body() -> str:
        g = _fresh_generator()
        for b, k in ((5, 10), (3, 4)):
            x = torch.rand(b, 1, 28, 28, generator=g) * 2 - 1
            labels = torch.randint(k, (b,), generator=g)
            got = _call("label_planes", fn, x, labels, k)
            one_hot = torch.nn.functional.one_hot(labels, k).float()
            planes = one_hot[:, :, None, None].expand(-1, -1, 28, 28)
            compare(
                "label_planes",
                got,
                cgan.label_planes(x, labels, k),
                mistakes={
                    "put the image first, then the planes: [x, planes] along dim 1": torch.cat(
                        [planes, x], 1
                    ),
                    "the label needs one plane per class (num_classes planes, plane c all "
                    "ones), not one plane holding the label's value": torch.cat(
                        [x, labels.float()[:, None, None, None].expand_as(x)], 1
                    ),
                    "use num_classes planes, not a fixed 10": torch.cat(
                        [
                            x,
                            torch.nn.functional.one_hot(labels, 10)
                            .float()[:, :, None, None]
                            .expand(-1, -1, 28, 28),
                        ],
                        1,
                    ),
                    "the planes are constant: every pixel of plane c is 1 for class c, not "
                    "only one pixel": torch.cat(
                        [x, torch.nn.functional.pad(one_hot[:, :, None, None], (0, 27, 0, 27))],
                        1,
                    ),
                },
            )
        return "the image, then num_classes constant planes, as dcgan.Discriminator builds it."

    return _run("label_planes", body)


# The reference for the saturating exercise, named so that use_or_reference's notice says
# which function it falls back to.
_saturating_generator_loss = functools.partial(losses.generator_loss, saturating=True)
_saturating_generator_loss.__module__ = losses.__name__
_saturating_generator_loss.__name__ = "generator_loss(saturating=True)"

_CHECKS: dict[str, tuple[Callable[[Callable], CheckResult], Callable]] = {
    "discriminator_loss": (check_discriminator_loss, losses.discriminator_loss),
    "generator_loss": (check_generator_loss, losses.generator_loss),
    "saturating_generator_loss": (
        functools.partial(check_generator_loss, saturating=True),
        _saturating_generator_loss,
    ),
    "gradient_penalty": (check_gradient_penalty, losses.gradient_penalty),
    "wasserstein_critic_loss": (_wasserstein_critic_check, losses.wasserstein_critic_loss),
    "wasserstein_generator_loss": (
        _wasserstein_generator_check,
        losses.wasserstein_generator_loss,
    ),
    "acgan_losses": (check_acgan_losses, losses.acgan_losses),
    "concat_label": (check_concat_label, cgan.concat_label),
    "label_planes": (check_label_planes, cgan.label_planes),
    "gaussian_kl": (check_gaussian_kl, losses.gaussian_kl),
    "reparameterize": (check_reparameterize, vae.reparameterize),
    "negative_elbo": (check_negative_elbo, losses.negative_elbo),
    "kl_divergence": (check_kl_divergence, divergences.kl_divergence),
    "js_divergence": (check_js_divergence, divergences.js_divergence),
    "optimal_discriminator": (check_optimal_discriminator, divergences.optimal_discriminator),
}


def use_or_reference(fn: Callable, name: str | None = None) -> Callable:
    """The student's ``fn`` if its check passes, else the course's reference, with a notice.

    Lets the cells after an exercise run even while the exercise is blank or wrong.
    """
    name = name or getattr(fn, "__name__", "")
    if name not in _CHECKS:
        raise ValueError(f"no check named {name!r}; known: {sorted(_CHECKS)}")
    check, reference = _CHECKS[name]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = check(fn)
        ok = result.passed
        why = "is not done yet"
    except CheckFailed:
        ok, why = False, "does not pass its check yet"
    if ok:
        print(f"Using your {name}.")
        return fn
    print(
        f"⚠️ Notice: your {name} {why}, so the cells below use the reference "
        f"{reference.__module__}.{reference.__name__} instead."
    )
    return reference


# --- chapter 06: GN-GAN (Tran, Bui and Cheung 2018) ---------------------------------------


def _pair_kernel(points: torch.Tensor, kernel: Callable[[torch.Tensor], torch.Tensor]):
    """kernel(squared distances) (B, B) of a batch, each sample flattened, diagonal kept."""
    flat = points.flatten(1).double()
    return kernel((flat[:, None] - flat[None]).pow(2).sum(-1))


def _kl_of(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    off = ~torch.eye(len(p), dtype=torch.bool)
    p, q = p[off], q[off]
    return (p * (p / q).log()).sum()


def _affinities(kernel: torch.Tensor, how: str) -> torch.Tensor:
    """Neighbour probabilities from a kernel matrix (diagonal kept in ``kernel``)."""
    b = len(kernel)
    off = ~torch.eye(b, dtype=torch.bool)
    if how == "with diagonal":  # k_ii = kernel(0) left in every row
        conditional = kernel / kernel.sum(1, keepdim=True)
        return (conditional + conditional.T) / (2 * b)
    kernel = kernel * off
    if how == "global":  # t-SNE's q_ij: one normaliser over all pairs
        return kernel / kernel.sum()
    conditional = kernel / kernel.sum(1, keepdim=True)
    if how == "conditional":
        return conditional / b
    return (conditional + conditional.T) / (2 * b)


def _neighbour_mistakes(z, x, sz, sx) -> dict[str, torch.Tensor]:
    def student(s2):
        return lambda d2: 1 / (1 + d2 / (2 * s2))

    def value(kernel_z, kernel_x, how="joint", reverse=False):
        p = _affinities(_pair_kernel(z, kernel_z), how)
        q = _affinities(_pair_kernel(x, kernel_x), how)
        return (_kl_of(q, p) if reverse else _kl_of(p, q)).float()

    t_z, t_x = student(sz**2), student(sx**2)
    mistakes = {
        "p_ij and q_ij are not symmetrised: use p_ij = (p_{j|i} + p_{i|j}) / (2B), not the "
        "conditional p_{j|i} alone": value(t_z, t_x, "conditional"),
        "that is a Gaussian kernel exp(-d^2 / (2 sigma^2)); GN-GAN (like t-SNE's low-"
        "dimensional side) uses the Student-t kernel (1 + d^2 / (2 sigma^2))^-1": value(
            lambda d2: torch.exp(-d2 / (2 * sz**2)), lambda d2: torch.exp(-d2 / (2 * sx**2))
        ),
        "that is KL(Q || P); V_R is KL(P || Q) = sum p_ij log(p_ij / q_ij), with P on the "
        "codes z": value(t_z, t_x, reverse=True),
        "the pair i = i is counted: leave k = i out of each row's normaliser (and out of "
        "the sum)": value(t_z, t_x, "with diagonal"),
        "the probabilities are normalised over all pairs at once; normalise each row i "
        "(p_{j|i}), then symmetrise": value(t_z, t_x, "global"),
        "sigma_z and sigma_x are swapped: z goes with sigma_z, x with sigma_x": value(
            student(sx**2), student(sz**2)
        ),
        "the scale is off: the kernel is (1 + d^2 / (2 sigma^2))^-1, with sigma squared and "
        "the factor 2": value(student(sz**2 / 2), student(sx**2 / 2)),
        "the scale is off: the kernel is (1 + d^2 / (2 sigma^2))^-1, with sigma squared": value(
            student(sz / 2), student(sx / 2)
        ),
        "the distances are not squared: the kernel uses ||z_i - z_j||^2": value(
            lambda d2: 1 / (1 + d2.sqrt() / (2 * sz**2)),
            lambda d2: 1 / (1 + d2.sqrt() / (2 * sx**2)),
        ),
    }
    return mistakes


def check_neighbour_embedding(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(z, x, sigma_z, sigma_x) -> scalar``: V_R = KL(P || Q) with symmetrised
    Student-t neighbour probabilities on the codes z and on the samples x (flattened)."""
    name = "neighbour_embedding"

    def body() -> str:
        g = _fresh_generator()
        b = 6
        z = torch.randn(b, 2, generator=g)
        x = torch.randn(b, 3, generator=g) * 2
        sz, sx = 0.7, 1.6
        got = _call(name, fn, z, x, sz, sx)
        expected = losses.neighbour_embedding(z, x, sz, sx)
        mistakes = _neighbour_mistakes(z, x, sz, sx)
        p = losses.student_t_affinities(z, sz)
        q = losses.student_t_affinities(x, sx)
        off = ~torch.eye(b, dtype=torch.bool)
        rows = (p * (p.clamp_min(1e-30) / q).log() * off).sum(1)
        mistakes["return one scalar, the sum over all pairs, not one value per row"] = rows
        compare(name, got, expected, mistakes=mistakes)
        # An exact rescaling keeps every neighbourhood: x = c z with sigma_x = c sigma_z.
        zero = _call(name, fn, z, 3.0 * z, 0.5, 1.5)
        if not isinstance(zero, torch.Tensor) or abs(zero.item()) > 1e-5:
            raise CheckFailed(
                f"{name}: x = 3 z with sigma_x = 3 sigma_z keeps every neighbourhood, so V_R "
                f"must be 0; got {zero.item() if isinstance(zero, torch.Tensor) else zero}"
            )
        # Images: each sample is one point, its distance over all its pixels.
        images = torch.randn(b, 1, 4, 4, generator=g)
        try:
            got = _call(name, fn, z, images, sz, 3.0)
            compare(
                f"{name} on images (B, 1, 4, 4)",
                got,
                losses.neighbour_embedding(z, images.flatten(1), sz, 3.0),
            )
        except CheckFailed as err:
            raise CheckFailed(
                f"{err}. It is right on points (B, D) but not on images: flatten each sample "
                "first (x.flatten(1)), so that the distance between two images is taken over "
                "all their pixels"
            ) from None
        return (
            f"V_R = {expected.item():.4f} on random codes and samples (unsymmetrised: "
            f"{mistakes[next(iter(mistakes))].item():.4f}); 0 for an exact rescaling; "
            f"images are flattened."
        )

    return _run(name, body)


class _CubicScore(torch.nn.Module):
    """D(x) = sum w x + sum c x^3 / 3 per sample: grad D(x) = w + c x^2, not linear in x, so
    the mean of the gradients differs from the gradient at the mean point."""

    def __init__(self, w: torch.Tensor, c: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w.clone())
        self.c = torch.nn.Parameter(c.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x + self.c * x.pow(3) / 3).flatten(1).sum(1)

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w + self.c * x.pow(2)).detach()


def _matching_mistakes(d: _CubicScore, real: torch.Tensor, fake: torch.Tensor):
    """(score, first, second) mistakes: description -> value of the term it changes."""
    gr, gf = d.gradient(real), d.gradient(fake.detach())
    fake = fake.detach()
    b = len(real)
    mean_r, mean_f = gr.mean(0), gf.mean(0)
    dot_r, dot_f = (gr * real).flatten(1).sum(1), (gf * fake).flatten(1).sum(1)
    with torch.no_grad():
        score_diff = d(real).mean() - d(fake).mean()
        at_mean_r, at_mean_f = d.gradient(real.mean(0)), d.gradient(fake.mean(0))
    first = {
        "that is the gradient at the mean sample, grad D(E x); GN-GAN matches the mean of "
        "the per-sample gradients, E grad D(x)": (at_mean_r - at_mean_f).pow(2).sum(),
        "the gradients were divided by B twice: the gradient of D(x).mean() is already "
        "grad D(x_i) / B for each sample; differentiate D(x).sum(), then average": (
            (mean_r - mean_f) / b
        )
        .pow(2)
        .sum(),
        "the samples are paired one by one, E ||grad D(x_i) - grad D(G(z_i))||^2; the term "
        "compares the two means: ||E grad D(x) - E grad D(G(z))||^2": (gr - gf)
        .flatten(1)
        .pow(2)
        .sum(1)
        .mean(),
        "the norm is not squared: ||E grad D(x) - E grad D(G(z))||^2": (mean_r - mean_f).norm(),
        "the squares are averaged over the elements; the squared norm sums them": (mean_r - mean_f)
        .pow(2)
        .mean(),
    }
    second = {
        "grad D(x)^T x is one number per sample (a dot product over all its dimensions); "
        "you kept the element-wise product grad D(x) * x": (
            (gr * real).mean(0) - (gf * fake).mean(0)
        )
        .pow(2)
        .sum(),
        "the samples are paired one by one; the term compares the two means, "
        "(E grad D(x)^T x - E grad D(G(z))^T G(z))^2": (dot_r - dot_f).pow(2).mean(),
        "the square is missing: (E grad D(x)^T x - E grad D(G(z))^T G(z))^2": (
            dot_r.mean() - dot_f.mean()
        ).abs(),
        "that is the gradient at the mean sample; use the mean of the per-sample dot products": (
            at_mean_r @ real.mean(0) - at_mean_f @ fake.mean(0)
        ).pow(2),
    }
    score = {
        "the absolute value is missing: |E D(x) - E D(G(z))|": score_diff,
        "that is the squared difference; the score term is |E D(x) - E D(G(z))|": score_diff.pow(2),
    }
    return score, first, second


def check_gradient_matching(fn: Callable[..., tuple]) -> CheckResult:
    """Check ``fn(score, real, fake) -> (score_term, first, second)``: GN-GAN's generator
    terms, with per-sample gradients of ``score`` averaged over each batch, and the graph
    kept on the fake side so that they train G."""
    name = "gradient_matching"

    def body() -> str:
        g = _fresh_generator()
        b, dim = 8, 3
        # w, c > 0, real samples near -1.5 and fakes near +0.5: E D(x) < E D(G(z)), so a
        # missing absolute value shows.
        d = _CubicScore(0.2 + torch.rand(dim, generator=g), 0.5 + torch.rand(dim, generator=g))
        real = 0.5 * torch.randn(b, dim, generator=g) - 1.5
        fake = (0.5 * torch.randn(b, dim, generator=g) + 0.5).requires_grad_(True)
        got = _call(name, fn, d, real, fake)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailed(
                f"{name} should return three terms (score, first, second), got "
                f"{type(got).__name__}"
                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
            )
        expected = losses.gradient_matching(d, real, fake)
        score_m, first_m, second_m = _matching_mistakes(d, real, fake)
        compare(f"{name}: the score term", got[0], expected.score, mistakes=score_m)
        compare(f"{name}: the first gradient term", got[1], expected.first, mistakes=first_m)
        compare(f"{name}: the second gradient term", got[2], expected.second, mistakes=second_m)
        # G learns through D(G(z)) and through grad D at G(z): the graph must reach fake.
        total = got[0] + got[1] + got[2]
        if not total.requires_grad:
            raise CheckFailed(
                f"{name}: the terms carry no gradient back to the fake samples; call "
                "torch.autograd.grad(..., create_graph=True) on the fake side and do not "
                "detach G(z)"
            )
        try:
            (got_grad,) = torch.autograd.grad(total, fake, allow_unused=True)
        except RuntimeError as err:  # e.g. a graph freed by autograd.grad without create_graph
            raise CheckFailed(
                f"{name}: the values are right, but back-propagating them to G(z) fails "
                f"({str(err).split('.')[0]}); take grad D at the fake samples with "
                "torch.autograd.grad(..., create_graph=True)"
            ) from None
        reference = expected.score + expected.first + expected.second
        (expected_grad,) = torch.autograd.grad(reference, fake)
        if got_grad is None:
            raise CheckFailed(f"{name}: the terms do not depend on the fake samples")
        if not torch.allclose(got_grad, expected_grad, rtol=1e-4, atol=1e-5):
            raise CheckFailed(
                f"{name}: the values are right but the gradient that reaches G(z) is not: "
                "take grad D at the fake samples with create_graph=True, so that the "
                "gradient terms are differentiated through it"
            )
        return (
            f"On a cubic D (its gradient w + c x^2 differs from the gradient at the mean): "
            f"score {expected.score.item():.4f}, first {expected.first.item():.4f}, second "
            f"{expected.second.item():.4f}; the gradient reaches G(z)."
        )

    return _run(name, body)


def _gradient_matching_reference(score, real, fake):
    return tuple(losses.gradient_matching(score, real, fake))


_gradient_matching_reference.__module__ = losses.__name__
_gradient_matching_reference.__name__ = "gradient_matching"

_CHECKS.update(
    {
        "neighbour_embedding": (check_neighbour_embedding, losses.neighbour_embedding),
        "gradient_matching": (check_gradient_matching, _gradient_matching_reference),
    }
)


# --- chapter 07: cGML ---------------------------------------------------------------------


def _quadratic_objective(a: torch.Tensor, c: torch.Tensor):
    """L(z) = 1/2 sum_j a_j (z_j - c_j)^2 per row: its gradient a (z - c) is known by hand."""
    return lambda z: 0.5 * (a * (z - c) ** 2).sum(dim=1)


def _descent_by_hand(z0, a, c, steps, beta, gamma, variant: str = "right"):
    """The momentum recursion on the quadratic, written out, with the usual mistakes."""
    z, m = z0.clone(), torch.zeros_like(z0)
    zs, rhos = [z], []
    for _ in range(steps):
        grad = a * (z - c)
        if variant == "no momentum":
            m = beta * grad
        elif variant == "swapped":
            m = beta * m + gamma * grad
        else:
            m = gamma * m + beta * grad
        z_next = z + m if variant == "ascent" else z - m
        if variant == "rho of the gradient":
            rhos.append((beta * grad).norm(dim=1))
        else:
            rhos.append((z_next - z).norm(dim=1))
        z = z_next
        zs.append(z)
    return torch.stack(zs), torch.stack(rhos)


def check_latent_descent(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """Check ``fn(objective, z0, steps, beta, gamma) -> (zs, rhos)``, cGML's inner loop, on a
    quadratic loss whose gradient is known in closed form."""

    def body() -> str:
        g = _fresh_generator()
        b, d, steps, beta, gamma = 5, 3, 4, 0.3, 0.6
        a = 0.5 + torch.rand(b, d, generator=g)
        c = torch.randn(b, d, generator=g)
        z0 = torch.randn(b, d, generator=g)
        got = _call(
            "latent_descent", fn, _quadratic_objective(a, c), z0.clone(), steps, beta, gamma
        )
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed(
                f"latent_descent should return a pair (zs, rhos), got {type(got).__name__}"
            )
        zs, rhos = got
        want_zs, want_rhos = _descent_by_hand(z0, a, c, steps, beta, gamma)
        if isinstance(zs, torch.Tensor) and zs.shape == (steps, b, d):
            raise CheckFailed(
                f"latent_descent: zs has shape {tuple(zs.shape)}; it must hold the start too, "
                f"z_0 ... z_M: ({steps + 1}, {b}, {d})"
            )
        mistakes = {
            name: _descent_by_hand(z0, a, c, steps, beta, gamma, name)
            for name in ("no momentum", "swapped", "ascent", "rho of the gradient")
        }
        compare(
            "latent_descent (the codes zs)",
            zs,
            want_zs,
            mistakes={
                "no momentum: m_t = gamma m_{t-1} + beta grad must remember the previous m":
                    mistakes["no momentum"][0],
                "beta and gamma are swapped: gamma multiplies the old m, beta the gradient":
                    mistakes["swapped"][0],
                "the code must move against the gradient: z_{t+1} = z_t - m_t":
                    mistakes["ascent"][0],
            },
        )  # fmt: skip
        if isinstance(rhos, torch.Tensor) and rhos.shape == (steps,):
            raise CheckFailed(
                f"latent_descent: rhos has shape {tuple(rhos.shape)}; give one step length per "
                f"code and step, ({steps}, {b}): the norm over z's entries only (dim=1)"
            )
        compare(
            "latent_descent (the step lengths rhos)",
            rhos,
            want_rhos,
            mistakes={
                "rho is the length of the whole step ||z_{t+1} - z_t|| = ||m_t||, momentum "
                "included, not ||beta grad||": mistakes["rho of the gradient"][1],
                "rho is a length, the norm ||m_t||, not its square": want_rhos**2,
            },
        )
        return (
            f"{steps} momentum steps on a quadratic match the hand computation "
            f"(first step lengths [{_fmt(want_rhos[0])}])."
        )

    return _run("latent_descent", body)


def check_inference_update(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``fn(z, z_hat, rho_hat) -> z_next``: z + rho_hat (z_hat - z) / ||z_hat - z|| per
    row, a step of length exactly rho_hat toward Z's guess."""

    def body() -> str:
        g = _fresh_generator()
        b, d = 5, 3
        z = torch.randn(b, d, generator=g)
        z_hat = z + torch.randn(b, d, generator=g)
        rho_hat = 0.1 + torch.rand(b, generator=g)
        got = _call("inference_update", fn, z.clone(), z_hat.clone(), rho_hat.clone())
        delta = z_hat - z
        unit = delta / delta.norm(dim=1, keepdim=True)
        expected = z + rho_hat[:, None] * unit
        compare(
            "inference_update",
            got,
            expected,
            mistakes={
                "divide by ||z_hat - z||: the step must have length rho_hat, whatever the "
                "distance to z_hat": z + rho_hat[:, None] * delta,
                "that is z_hat itself: the update moves by rho_hat toward z_hat, it does not "
                "jump to it": z_hat,
                "step toward z_hat, not away from it: + rho_hat (z_hat - z) / ||z_hat - z||": z
                - rho_hat[:, None] * unit,
                "normalise each row by its own norm (dim=1, keepdim=True), not by the norm of "
                "the whole batch": z + rho_hat[:, None] * delta / delta.norm(),
                "the step length rho_hat is missing: multiply the unit direction by it": z + unit,
            },
        )
        moved = (got - z).norm(dim=1)
        return f"every code moved by exactly rho_hat ([{_fmt(moved)}]) toward z_hat."

    return _run("inference_update", body)


def _cgml_references():
    from .recipes import cgml

    return cgml.latent_descent, cgml.inference_update


_CHECKS.update(
    {
        "latent_descent": (check_latent_descent, _cgml_references()[0]),
        "inference_update": (check_inference_update, _cgml_references()[1]),
    }
)
