"""The inverse norm s ↦ s^(−1/2) as a sum of ReLUs (He et al. 2025, normalisation step of the power method).

Bai et al. (2023) call f (ε, R, M, C)-approximable when g(z) = Σ_{m≤M} c_m σ(a_mᵀ[z; 1]) with Σ|c_m| ≤ C is
ε-close to f. The precursor of He et al. realises such sums for the inverse norm; its constants are not
known. **Derived (not from the paper):** the piecewise-linear interpolant of f(s) = s^(−1/2) on [a, b] with
geometric knots s_m = a (b/a)^{m/M}, m = 0..M, written as

    g(s) = f(s_0)·σ(1) + β_1·σ(s − s_0) + Σ_{m=1}^{M−1} (β_{m+1} − β_m)·σ(s − s_m),

with secant slopes β_m = (f(s_m) − f(s_{m−1}))/(s_m − s_{m−1}) (M + 1 ReLU units, the first reads the
constant coordinate). On every segment the relative error is the same function of the knot ratio
r = (b/a)^{1/M} (s^(−1/2) is homogeneous), with leading term (interpolation error h²|f''|/8 with h = s(r − 1))

    sup_s |g(s)/f(s) − 1| ≈ (3/32)(r − 1)² ≈ (3/32)(ln(b/a)/M)².

Slope coefficient mass: |β_1| + Σ(β_{m+1} − β_m) = 2|β_1| − |β_M| (β increasing, negative: f convex,
decreasing) → a^(−3/2) as M → ∞; plus the constant f(a) = a^(−1/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from theory.validation import check_positive, check_positive_int

__all__ = [
    "ETA_FLOOR",
    "InverseSqrtReLU",
    "inverse_sqrt_relu",
    "units_for_error",
    "predicted_relative_error",
    "exact_segment_relative_error",
]


#: Smallest η :func:`units_for_error` accepts: the sup error is computed in float64 and round-off (~1e-16) must
#: stay small beside it, or the search for M need not terminate (M would also exceed 10⁶ units).
ETA_FLOOR = 1e-13


def _log_span(a: float, b: float) -> float:
    """ln(b/a) for 0 < a < b with b/a finite (a, b checked and named)."""
    a, b = check_positive("a", a), check_positive("b", b)
    if not b > a:
        raise ValueError(f"b: need b > a, got a = {a}, b = {b}")
    if not math.isfinite(b / a):
        raise ValueError(f"b: the ratio b/a = {b}/{a} overflows float64")
    return math.log(b / a)


@dataclass(frozen=True)
class InverseSqrtReLU:
    """g(s) = Σ_u coef_u σ(slope_u · s + bias_u): the ReLU sum interpolating s^(−1/2) on [a, b].

    Attributes:
        a, b: the interval; knots: (M+1,) geometric knots s_0 = a … s_M = b.
        in_slope, in_bias, coef: (M+1,) per unit: σ(in_slope·s + in_bias·1) weighted by coef. Unit 0 is the
            constant unit (in_slope 0, in_bias 1), unit m ≥ 1 is σ(s − s_{m−1}).
    """

    a: float
    b: float
    knots: Tensor
    in_slope: Tensor
    in_bias: Tensor
    coef: Tensor

    @property
    def M(self) -> int:
        return int(self.knots.numel()) - 1

    @property
    def units(self) -> int:
        return int(self.coef.numel())

    @property
    def slope_mass(self) -> float:
        """Σ|c| over the slope units (all but the constant unit).

        2|β_1| − |β_M| in the increasing form, |β_1| in the decreasing form.
        """
        return float(self.coef[1:].abs().sum())

    @property
    def coefficient_mass(self) -> float:
        """Σ|c_m| over all units (the C of Bai et al.'s approximability)."""
        return float(self.coef.abs().sum())

    def __call__(self, s: Tensor) -> Tensor:
        """g(s) elementwise (float64). Inputs outside [a, b] extrapolate linearly: use :meth:`out_of_range`."""
        s = torch.as_tensor(s, dtype=torch.float64)
        pre = s.unsqueeze(-1) * self.in_slope + self.in_bias
        return (torch.relu(pre) * self.coef).sum(-1)

    def out_of_range(self, s: Tensor) -> Tensor:
        """Boolean mask of inputs outside [a, b] (where the error bound does not hold)."""
        s = torch.as_tensor(s, dtype=torch.float64)
        return (s < self.a) | (s > self.b)

    def relative_error(self, points_per_segment: int = 64) -> float:
        """sup over a grid (``points_per_segment`` per segment, knots included) of |g(s)√s − 1|."""
        check_positive_int("points_per_segment", points_per_segment)
        t = torch.linspace(0.0, 1.0, points_per_segment + 1, dtype=torch.float64)
        lo, hi = self.knots[:-1], self.knots[1:]
        s = (lo.unsqueeze(-1) + (hi - lo).unsqueeze(-1) * t).reshape(-1)
        return float((self(s) * s.sqrt() - 1.0).abs().max())


def inverse_sqrt_relu(a: float, b: float, M: int, form: str = "increasing") -> InverseSqrtReLU:
    """The geometric-knot interpolant of s^(−1/2) on [a, b] with M segments (module docstring).

    ``form="increasing"`` (the module docstring's sum of σ(s − s_m); slope mass 2|β_1| − |β_M|) or
    ``"decreasing"``: the same interpolant on [a, b] as
    g(s) = f(b)·σ(1) + |β_M|·σ(b − s) + Σ_{m=1}^{M−1} (β_{m+1} − β_m)·σ(s_m − s), every coefficient ≥ 0, so
    no cancellation (round-off ~ (M+1)ε relative instead of ~ε·|β_1|·s/f(s)), slope mass |β_1|, and g = f(b)
    (still > 0) beyond b.
    """
    if form not in ("increasing", "decreasing"):
        raise ValueError(f"form: expected 'increasing' or 'decreasing', got {form!r}")
    _log_span(a, b)
    a, b = float(a), float(b)
    check_positive_int("M", M)
    m = torch.arange(M + 1, dtype=torch.float64)
    knots = a * (b / a) ** (m / M)
    knots[0], knots[-1] = a, b
    f = knots.rsqrt()
    beta = (f[1:] - f[:-1]) / (knots[1:] - knots[:-1])  # (M,) secant slopes, increasing, negative
    zero, one = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    if form == "increasing":
        coef = torch.cat([f[:1], beta[:1], beta[1:] - beta[:-1]])
        in_slope = torch.cat([zero, torch.ones(M, dtype=torch.float64)])
        in_bias = torch.cat([one, -knots[:-1]])
    else:  # units σ(s_m − s) for m = M, M−1, …, 1
        coef = torch.cat([f[-1:], -beta[-1:], (beta[1:] - beta[:-1]).flip(0)])
        in_slope = torch.cat([zero, -torch.ones(M, dtype=torch.float64)])
        in_bias = torch.cat([one, knots[1:].flip(0)])
    return InverseSqrtReLU(a, b, knots, in_slope, in_bias, coef)


def predicted_relative_error(a: float, b: float, M: int) -> float:
    """Leading term (3/32)(ln(b/a)/M)² of the sup relative error (derived, module docstring)."""
    check_positive_int("M", M)
    return 3.0 / 32.0 * (_log_span(a, b) / M) ** 2


def exact_segment_relative_error(ratio: float) -> float:
    """Exact sup relative error on one segment [1, r] (every segment is a rescaled copy), by a fine search.

    The error e(t) = g(t)√t − 1 with g the chord of t^(−1/2) on [1, r]; maximised on a 20001-point grid then
    refined by golden-section search (e is smooth and unimodal on the segment).
    """
    r = check_positive("ratio", ratio)
    if r <= 1:
        raise ValueError(f"ratio: need a knot ratio > 1, got {r}")
    fr = r**-0.5
    beta = (fr - 1.0) / (r - 1.0)

    def e(t: float) -> float:
        return (1.0 + beta * (t - 1.0)) * math.sqrt(t) - 1.0

    grid = [1.0 + (r - 1.0) * i / 20000 for i in range(20001)]
    i = max(range(len(grid)), key=lambda j: e(grid[j]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        if e(x1) > e(x2):
            hi = x2
        else:
            lo = x1
    return e(0.5 * (lo + hi))


def units_for_error(a: float, b: float, eta: float) -> int:
    """Smallest M whose exact sup relative error is ≤ η (η > 0): start from the leading-term estimate
    M = ⌈ln(b/a)·√(3/(32η))⌉ and step to the exact boundary with :func:`exact_segment_relative_error`."""
    eta = check_positive("eta", eta)
    if eta < ETA_FLOOR:
        raise ValueError(f"eta: at least {ETA_FLOOR:g} (the float64 error search cannot resolve less), got {eta}")
    span = _log_span(a, b)
    M = max(1, math.ceil(span * math.sqrt(3.0 / (32.0 * eta))))
    while exact_segment_relative_error(math.exp(span / M)) > eta:
        M += 1
    while M > 1 and exact_segment_relative_error(math.exp(span / (M - 1))) <= eta:
        M -= 1
    return M
