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
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import losses
from .models import vae

__all__ = [
    "CheckFailed",
    "CheckResult",
    "check_gaussian_kl",
    "check_negative_elbo",
    "check_reparameterize",
    "compare",
    "use_or_reference",
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


_CHECKS: dict[str, tuple[Callable[[Callable], CheckResult], Callable]] = {
    "gaussian_kl": (check_gaussian_kl, losses.gaussian_kl),
    "reparameterize": (check_reparameterize, vae.reparameterize),
    "negative_elbo": (check_negative_elbo, losses.negative_elbo),
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
