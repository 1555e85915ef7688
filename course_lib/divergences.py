"""Divergences and distances between probability distributions (chapter 03).

Three kinds of input, one function for each thing:

* **discrete distributions**: probability vectors over the *last* dimension (any leading
  dimensions are a batch): :func:`kl_divergence`, :func:`js_divergence`;
* **densities sampled on a uniform 1-D grid** with spacing ``dx``, where each integral
  becomes a Riemann sum: :func:`kl_on_grid`, :func:`js_on_grid`, :func:`wasserstein_on_grid`
  and the GAN value :func:`gan_value`;
* **samples** or **parameters**: :func:`wasserstein_1d` (sorted samples) and
  :func:`wasserstein_1d_gaussians` (closed form);
* **boxes of mass at positions on the line** (chapter 04): :func:`earth_movers_plan`, the
  optimal transport plan and its cost.

:func:`optimal_discriminator` is the discriminator that maximises the GAN value for a fixed
generator (Goodfellow et al. 2014, Proposition 1).

Every logarithm is the natural one: divergences are in **nats** (log 2 nats = 1 bit).
Conventions at zero probability: 0 log(0 / q) = 0 for every q, and p log(p / 0) = +inf
for p > 0. Every function is differentiable with torch autograd and gives NaN-free
gradients at zero probabilities.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import _validate as v

__all__ = [
    "Transport",
    "earth_movers_plan",
    "gan_value",
    "js_divergence",
    "js_on_grid",
    "kl_divergence",
    "kl_on_grid",
    "optimal_discriminator",
    "wasserstein_1d",
    "wasserstein_1d_gaussians",
    "wasserstein_on_grid",
]

LOG2 = math.log(2.0)

# How far from 1 a total may be: a probability vector must sum to 1 up to rounding; a
# density on a grid must integrate to 1 up to the truncation and Riemann-sum error.
_SUM_TOLERANCE = 1e-4
_GRID_TOLERANCE = 1e-3


# --- input checks -----------------------------------------------------------------------


def _non_negative(name: str, value) -> torch.Tensor:
    v.tensor(name, value, min_ndim=1, floating=True)
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} must hold finite numbers, got NaN or inf")
    if (value < 0).any():
        raise ValueError(
            f"{name} must be non-negative (probabilities or densities); its smallest entry "
            f"is {value.min().item():.4g}"
        )
    return value


def _distribution(name: str, p, dx: float | None = None) -> torch.Tensor:
    """Check that p is a probability vector (dx None) or a density on a grid (sum * dx = 1)."""
    _non_negative(name, p)
    total = p.detach().sum(-1) * (1.0 if dx is None else dx)
    error = (total - 1).abs()
    tolerance = _SUM_TOLERANCE if dx is None else _GRID_TOLERANCE
    if (error > tolerance).any():
        worst = total.flatten()[error.flatten().argmax()].item()
        if dx is None:
            raise ValueError(
                f"{name} must sum to 1 over its last dimension (a probability vector); "
                f"one of its rows sums to {worst:.6g}"
            )
        raise ValueError(
            f"{name} must integrate to 1 on the grid (sum of the values times dx = {dx:g}); "
            f"got {worst:.6g}. Pass density values (not probabilities), and make the grid "
            f"wide enough to hold the whole distribution"
        )
    return p


def _pair(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """a and b must describe the same outcomes and broadcast against each other."""
    v.same_device(name_a, a, name_b, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of outcomes (last dimension), "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"{name_a} and {name_b} must have broadcastable shapes, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        ) from None


def _spacing(dx) -> float:
    return v.positive("dx", dx)


# --- the shared pieces ------------------------------------------------------------------


def _xlogy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a * log(b) elementwise, with 0 wherever a = 0 (even where b = 0).

    The masked entries are fed a safe value before the log, so that neither the value nor
    the gradient there is NaN.
    """
    a, b = torch.broadcast_tensors(a, b)
    keep = a != 0
    b_safe = torch.where(keep, b, torch.ones_like(b))
    return torch.where(keep, a * torch.log(b_safe), torch.zeros_like(a))


def _kl_terms(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """p log(p / q) elementwise: 0 where p = 0, +inf where q = 0 < p."""
    return _xlogy(p, p) - _xlogy(p, q)


def _js_terms(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The summand of JS: 1/2 p log(p / m) + 1/2 q log(q / m) with m = (p + q) / 2.

    Written as 1/2 [p log(p / s) + q log(q / s) + (p + q) log 2] with s = p + q, which is
    the same number: halving the tiniest float (a density deep in a tail) would round m to
    0 and turn a finite term into inf; s >= p never does.
    """
    s = p + q
    return 0.5 * (_kl_terms(p, s) + _kl_terms(q, s) + LOG2 * s)


# --- discrete distributions -------------------------------------------------------------


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_i p_i log(p_i / q_i), in nats, over the last dimension.

    p, q: probability vectors (..., K) that broadcast. Returns shape (...). Terms with
    p_i = 0 count 0; the result is +inf when some q_i = 0 < p_i. Not symmetric.
    """
    _distribution("p", p)
    _distribution("q", q)
    _pair("p", p, "q", q)
    return _kl_terms(p, q).sum(-1)


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, in nats.

    p, q: probability vectors (..., K) that broadcast. Returns shape (...). Symmetric,
    0 exactly when p = q, and at most log 2 (reached when p and q have disjoint supports).
    """
    _distribution("p", p)
    _distribution("q", q)
    _pair("p", p, "q", q)
    return _js_terms(p, q).sum(-1).clamp_min(0.0)  # rounding can leave -1e-17 at p = q


# --- densities on a uniform grid --------------------------------------------------------


def kl_on_grid(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """KL(p || q) = integral of p(x) log(p(x) / q(x)) dx, as a Riemann sum on a uniform grid.

    p, q: density values (..., N) at N equally spaced points dx apart; each must integrate
    to 1 (sum * dx) up to 1e-3. Returns shape (...), in nats.
    """
    dx = _spacing(dx)
    _distribution("p", p, dx)
    _distribution("q", q, dx)
    _pair("p", p, "q", q)
    return _kl_terms(p, q).sum(-1) * dx


def js_on_grid(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """JS(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, on a uniform grid.

    p, q: density values (..., N) dx apart, each integrating to 1. Returns shape (...), in
    nats, between 0 and log 2.
    """
    dx = _spacing(dx)
    _distribution("p", p, dx)
    _distribution("q", q, dx)
    _pair("p", p, "q", q)
    return (_js_terms(p, q).sum(-1) * dx).clamp_min(0.0)  # rounding can leave -1e-17


def wasserstein_on_grid(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """W1(p, q) = integral of |F_p(x) - F_q(x)| dx in one dimension, F the CDFs.

    p, q: density values (..., N) dx apart, each integrating to 1; the CDFs are their
    running integrals by the trapezoid rule. Returns shape (...), in the units of x.
    """
    dx = _spacing(dx)
    _distribution("p", p, dx)
    _distribution("q", q, dx)
    _pair("p", p, "q", q)
    return (_cdf(p, dx) - _cdf(q, dx)).abs().sum(-1) * dx


def _cdf(p: torch.Tensor, dx: float) -> torch.Tensor:
    """F(x_i) = integral of p from x_0 to x_i, trapezoid rule: dx (p_0 / 2 + ... + p_i / 2)."""
    return (torch.cumsum(p, dim=-1) - 0.5 * (p + p[..., :1])) * dx


# --- the Wasserstein distance from samples and in closed form ---------------------------


def wasserstein_1d(samples_a: torch.Tensor, samples_b: torch.Tensor) -> torch.Tensor:
    """W1 between two 1-D empirical distributions of the same size n:

    W1 = (1/n) sum_i |a_(i) - b_(i)|, with a_(1) <= ... <= a_(n) the sorted samples (in one
    dimension, matching sorted samples is the optimal transport plan). Inputs (..., n);
    returns shape (...).
    """
    v.tensor("samples_a", samples_a, min_ndim=1, floating=True)
    v.tensor("samples_b", samples_b, min_ndim=1, floating=True)
    v.same_device("samples_a", samples_a, "samples_b", samples_b)
    if samples_a.shape != samples_b.shape:
        raise ValueError(
            "samples_a and samples_b must have the same shape (..., n): the sorted-sample "
            f"formula pairs the i-th smallest of each; got {tuple(samples_a.shape)} and "
            f"{tuple(samples_b.shape)}"
        )
    if samples_a.shape[-1] == 0:
        raise ValueError("samples_a and samples_b must hold at least one sample each")
    a, _ = torch.sort(samples_a, dim=-1)
    b, _ = torch.sort(samples_b, dim=-1)
    return (a - b).abs().mean(-1)


def wasserstein_1d_gaussians(mu_a, mu_b, sigma_a=1.0, sigma_b=1.0) -> torch.Tensor:
    """W1(N(mu_a, sigma_a^2), N(mu_b, sigma_b^2)) in closed form.

    Sorting both distributions pairs the quantiles mu_a + sigma_a z and mu_b + sigma_b z,
    so W1 = E|m + s Z| with m = mu_a - mu_b, s = |sigma_a - sigma_b|, Z ~ N(0, 1):
    W1 = s sqrt(2 / pi) exp(-m^2 / (2 s^2)) + m erf(m / (s sqrt 2)), and W1 = |m| when the
    variances are equal. Numbers or tensors (broadcast); returns a tensor.
    """
    mu_a, mu_b, sigma_a, sigma_b = (
        torch.as_tensor(x, dtype=torch.get_default_dtype())
        if not isinstance(x, torch.Tensor)
        else x
        for x in (mu_a, mu_b, sigma_a, sigma_b)
    )
    for name, sigma in (("sigma_a", sigma_a), ("sigma_b", sigma_b)):
        if not torch.isfinite(sigma).all() or (sigma <= 0).any():
            raise ValueError(f"{name} must be > 0 (a standard deviation), got {sigma}")
    m = mu_a - mu_b
    s = (sigma_a - sigma_b).abs()
    s_safe = torch.where(s > 0, s, torch.ones_like(s))  # avoids 0 / 0 in the unused branch
    folded = s_safe * math.sqrt(2 / math.pi) * torch.exp(-(m**2) / (2 * s_safe**2)) + m * (
        torch.erf(m / (s_safe * math.sqrt(2)))
    )
    return torch.where(s > 0, folded, m.abs())


# --- the GAN connection -----------------------------------------------------------------


def optimal_discriminator(
    p_r: torch.Tensor, p_f: torch.Tensor, logits: bool = False
) -> torch.Tensor:
    """D*(x) = p_r(x) / (p_r(x) + p_f(x)), the best discriminator for a fixed generator.

    p_r, p_f: the real and the fake density (or probability) at the same points, shapes
    that broadcast. Where both are 0 no sample ever lands and D* is arbitrary; it is 1/2
    there. ``logits=True`` returns log p_r - log p_f instead (D* = sigmoid of it; +-inf
    where one density is 0): use it where the densities differ by more than float
    precision, since D* itself then rounds to exactly 0 or 1.
    """
    _non_negative("p_r", p_r)
    _non_negative("p_f", p_f)
    _pair("p_r", p_r, "p_f", p_f)
    p_r, p_f = torch.broadcast_tensors(p_r, p_f)
    seen = (p_r + p_f) > 0
    if logits:
        difference = _log_or_minus_inf(p_r) - _log_or_minus_inf(p_f)
        return torch.where(seen, difference, torch.zeros_like(p_r))  # 0: D* = 1/2 off both
    total_safe = torch.where(seen, p_r + p_f, torch.ones_like(p_r))
    return torch.where(seen, p_r / total_safe, torch.full_like(p_r, 0.5))


def _weighted(weight: torch.Tensor, log_value: torch.Tensor) -> torch.Tensor:
    """weight * log_value, with 0 where weight = 0 (even where log_value is -inf)."""
    weight, log_value = torch.broadcast_tensors(weight, log_value)
    keep = weight != 0
    safe = torch.where(keep, log_value, torch.zeros_like(log_value))
    return torch.where(keep, weight * safe, torch.zeros_like(weight))


def gan_value(
    p_r: torch.Tensor, p_f: torch.Tensor, d: torch.Tensor, dx: float, logits: bool = False
) -> torch.Tensor:
    """V(G, D) = E_{x~p_r}[log D(x)] + E_{x~p_f}[log(1 - D(x))], on a uniform grid.

    = sum_i (p_r(x_i) log D(x_i) + p_f(x_i) log(1 - D(x_i))) dx. p_r, p_f: densities
    (..., N) dx apart, each integrating to 1; d: the discriminator at the same points,
    probabilities in [0, 1], or logits (D = sigmoid(d)) when ``logits=True``, which keeps
    log D and log(1 - D) exact where D is within float precision of 0 or 1. With D = D*,
    V = 2 JS(p_r, p_f) - 2 log 2. Returns shape (...), in nats.
    """
    dx = _spacing(dx)
    _distribution("p_r", p_r, dx)
    _distribution("p_f", p_f, dx)
    _pair("p_r", p_r, "p_f", p_f)
    v.tensor("d", d, min_ndim=1, floating=True)
    _pair("p_r", p_r, "d", d)
    if logits:
        if torch.isnan(d).any():
            raise ValueError("d holds NaN; logits must be real numbers (+-inf allowed)")
        log_d, log_1_minus_d = F.logsigmoid(d), F.logsigmoid(-d)
    else:
        if not torch.isfinite(d).all() or (d < 0).any() or (d > 1).any():
            raise ValueError(
                "d must hold the discriminator's outputs, probabilities in [0, 1] (or pass "
                f"logits=True); got values in [{d.min().item():.4g}, {d.max().item():.4g}]"
            )
        log_d, log_1_minus_d = _log_or_minus_inf(d), _log_or_minus_inf(1 - d)
    return (_weighted(p_r, log_d) + _weighted(p_f, log_1_minus_d)).sum(-1) * dx


def _log_or_minus_inf(x: torch.Tensor) -> torch.Tensor:
    """log x for x >= 0: -inf at 0, with a zero (not NaN) gradient there."""
    positive = x > 0
    return torch.where(
        positive,
        torch.log(torch.where(positive, x, torch.ones_like(x))),
        torch.full_like(x, -math.inf),
    )


# --- chapter 04: the earth mover's distance between piles of mass on the line ------------


class Transport(NamedTuple):
    """What :func:`earth_movers_plan` returns.

    ``plan``: (n_p, n_q), the mass moved from ``positions_p[i]`` to ``positions_q[j]`` (mass
    that stays put sits where the two positions are equal); ``cost``: the work of the plan,
    sum_ij plan_ij |x_i - y_j| (mass times distance); ``wasserstein``: cost / total mass, the
    W1 distance between the two piles read as probability distributions.
    """

    plan: torch.Tensor
    cost: torch.Tensor
    wasserstein: torch.Tensor


def _piles(name: str, positions, mass) -> None:
    v.tensor(f"positions_{name}", positions, ndim=1)
    v.tensor(f"mass_{name}", mass, ndim=1, floating=True)
    if len(positions) != len(mass) or len(mass) == 0:
        raise ValueError(
            f"positions_{name} and mass_{name} must be 1-D with one mass per position, at least "
            f"one; got {len(positions)} positions and {len(mass)} masses"
        )
    if not torch.isfinite(positions.double()).all():
        raise ValueError(f"positions_{name} must be finite numbers")
    _non_negative(f"mass_{name}", mass)


def earth_movers_plan(
    positions_p: torch.Tensor,
    mass_p: torch.Tensor,
    positions_q: torch.Tensor,
    mass_q: torch.Tensor,
) -> Transport:
    """The cheapest way to move piles of mass ``mass_p`` at ``positions_p`` onto ``mass_q`` at
    ``positions_q`` on the real line, paying |x - y| per unit of mass moved from x to y.

    On the line the optimal plan never lets two transports cross: sweep both sets of positions
    from left to right and fill the leftmost unfilled pile of q from the leftmost unused mass
    of p (the "north-west corner" rule on sorted positions). Its cost equals
    sum over the gaps of |F_p - F_q| times the gap length, F the cumulative masses.

    The masses must be non-negative with the same total (units of mass, or probabilities).
    The plan is computed in float64; the cost is differentiable in the positions (the plan
    is held fixed), not in the masses. Returns a :class:`Transport` on the CPU.
    """
    _piles("p", positions_p, mass_p)
    _piles("q", positions_q, mass_q)
    x, y = positions_p.detach().double().cpu(), positions_q.detach().double().cpu()
    a, b = mass_p.detach().double().cpu(), mass_q.detach().double().cpu()
    total_p, total_q = a.sum().item(), b.sum().item()
    if total_p <= 0:
        raise ValueError("mass_p must hold some mass: its total is 0")
    if abs(total_p - total_q) > 1e-9 * max(total_p, total_q):
        raise ValueError(
            f"mass_p and mass_q must have the same total (the mass is moved, not made or "
            f"destroyed); got {total_p:.6g} and {total_q:.6g}"
        )
    order_p = torch.argsort(x, stable=True).tolist()
    order_q = torch.argsort(y, stable=True).tolist()
    left_p = [a[i].item() for i in order_p]  # mass still to send, sorted by position
    left_q = [b[j].item() for j in order_q]  # room still to fill
    plan = torch.zeros(len(a), len(b), dtype=torch.float64)
    i = j = 0
    while i < len(left_p) and j < len(left_q):
        moved = min(left_p[i], left_q[j])
        plan[order_p[i], order_q[j]] += moved
        left_p[i] -= moved  # the smaller of the two becomes exactly 0
        left_q[j] -= moved
        if left_p[i] <= 0:  # this pile of p is all sent
            i += 1
        if left_q[j] <= 0:  # this pile of q is full
            j += 1
    distance = (positions_p.double().cpu()[:, None] - positions_q.double().cpu()[None, :]).abs()
    cost = (plan * distance).sum()
    return Transport(plan, cost, cost / total_p)
