"""He et al. (2025), *Learning Spectral Methods by Transformers*: the sympy side of the he25 claims.

* ReLU pair identity σ(t) − σ(−t) = t (Bai et al. framework): two ReLU heads (Q, K, V), (−Q, K, −V) are one
  linear-attention head.
* Leading term of the inverse-sqrt interpolation error (derived, not from the paper): the chord of t^(−1/2)
  on [1, 1 + δ] has sup relative error (3/32)δ² + O(δ³), attained at the midpoint.
* Seed lemma constant (derived): the density of one coordinate of a uniform unit vector in R^d,
  f_d(t) = Γ(d/2)/(√π Γ((d−1)/2)) (1 − t²)^((d−3)/2), is maximal at 0 for d ≥ 3, so
  P(|t| < η/√d) ≤ 2 f_d(0) η/√d = √(2/π) η · R_d with R_d = √2 Γ(d/2)/(√d Γ((d−1)/2)) < 1 (Gautschi).
* Inexact normaliser (derived): c = s^(−1/2)(1 + η) gives ‖v‖ = 1 + η and vᵀΣv = λ(1 + η)² = λ(1 + 2η + η²).
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "relu_pair_identity",
    "inverse_sqrt_leading_coefficient",
    "seed_density",
    "seed_density_normalised",
    "seed_ratio",
    "inexact_normaliser_bias",
]


def relu_pair_identity() -> sp.Expr:
    """σ(t) − σ(−t) − t for real t, simplified; 0 proves the identity."""
    t = sp.symbols("t", real=True)
    expr = sp.Max(t, 0) - sp.Max(-t, 0) - t
    pos = sp.simplify(expr.subs(t, sp.Symbol("p", positive=True)))
    neg = sp.simplify(expr.subs(t, -sp.Symbol("q", positive=True)))
    zero = expr.subs(t, 0)
    return sp.simplify(sp.Abs(pos) + sp.Abs(neg) + sp.Abs(zero))


def inverse_sqrt_leading_coefficient() -> tuple[sp.Expr, sp.Expr]:
    """(coefficient of δ², maximiser x*) of the chord's relative error on [1, 1 + δ] at t = 1 + δx.

    e(x) = (1 + β δ x)·√(1 + δx) − 1 with β the secant slope; its δ² coefficient is maximised over x ∈ [0, 1].
    """
    dl, x = sp.symbols("delta x", positive=True)
    r = 1 + dl
    beta = (r ** sp.Rational(-1, 2) - 1) / (r - 1)
    e = (1 + beta * dl * x) * sp.sqrt(1 + dl * x) - 1
    c2 = sp.simplify(sp.limit(sp.diff(e, dl, 2), dl, 0) / 2)  # Taylor coefficient of δ² (e(0) = e'(0) = 0)
    xs = sp.solve(sp.diff(c2, x), x)
    xs = [s for s in xs if s.is_real and 0 <= s <= 1]
    best = max(xs, key=lambda s: c2.subs(x, s))
    return sp.nsimplify(c2.subs(x, best)), best


def seed_density(d: int | sp.Symbol) -> tuple[sp.Expr, sp.Symbol]:
    """f_d(t) for one coordinate of a uniform unit vector in R^d, and the symbol t."""
    t = sp.symbols("t", real=True)
    return sp.gamma(sp.Rational(d, 2) if isinstance(d, int) else d / 2) / (
        sp.sqrt(sp.pi) * sp.gamma(sp.Rational(d - 1, 2) if isinstance(d, int) else (d - 1) / 2)
    ) * (1 - t**2) ** (sp.Rational(d - 3, 2) if isinstance(d, int) else (d - 3) / 2), t


def seed_density_normalised(d: int) -> sp.Expr:
    """∫_{−1}^{1} f_d(t) dt (must be 1)."""
    f, t = seed_density(d)
    return sp.simplify(sp.integrate(f, (t, -1, 1)))


def seed_ratio(d: int | sp.Symbol) -> sp.Expr:
    """R_d = 2 f_d(0)/√d / √(2/π) = √2 Γ(d/2)/(√d Γ((d−1)/2)); R_d < 1 and R_d → 1."""
    dd = sp.Integer(d) if isinstance(d, int) else d
    return sp.sqrt(2) * sp.gamma(dd / 2) / (sp.sqrt(dd) * sp.gamma((dd - 1) / 2))


def inexact_normaliser_bias() -> tuple[sp.Expr, sp.Expr]:
    """(‖v‖ − 1, vᵀΣv/λ − 1) for v = c·w, w = Σv_prev = λ u (u unit eigenvector), c = ‖w‖^(−1)(1 + η)."""
    lam, eta = sp.symbols("lambda eta", positive=True)
    w_norm = lam  # ‖Σu‖ for a unit eigenvector u
    v_norm = (1 + eta) / w_norm * w_norm
    rayleigh = v_norm**2 * lam
    return sp.simplify(v_norm - 1), sp.expand(sp.simplify(rayleigh / lam - 1))
