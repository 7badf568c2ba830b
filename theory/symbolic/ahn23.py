"""Ahn et al. (2023), Theorem 1: the single-layer optimum, derived and checked with sympy.

The layer performing one preconditioned GD step with A (suite convention Q = −[[Aᵀ,0],[0,0]], see
:mod:`constructions.pgd`; the paper's printed Q = −[[A,0],[0,0]] gives Aᵀ instead, the same at the symmetric
optimum) predicts ŷ = x_qᵀ A Ŝ w⋆ (Ŝ = XᵀX/n, no noise).
For x ~ N(0, Σ), w⋆ ~ N(0, I):

    f(A) = E[(ŷ − x_qᵀw⋆)²] = tr(AᵀΣA E[ŜŜ]) − 2 tr(ΣAΣ) + tr Σ,
    E[ŜŜ] = ((n+1)/n) Σ² + (tr Σ / n) Σ                                   (Isserlis)

f is a convex quadratic in A; ∇f = 2ΣA E[ŜŜ] − 2Σ² = 0 gives A_0 = Σ (E[ŜŜ])⁻¹ = (((n+1)/n)Σ + (trΣ/n) I)⁻¹,
with f(A_0) = tr Σ − tr(Σ² A_0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.validation import check_positive_int, check_spd

__all__ = [
    "optimal_preconditioner",
    "optimal_loss",
    "population_loss",
    "expected_S_squared",
    "symbolic_population_loss",
    "symbolic_stationary_point",
    "check_stationary_point",
    "check_isotropic_loss",
]


def expected_S_squared(sigma: Tensor, n: int) -> Tensor:
    """E[ŜŜ] = ((n+1)/n)Σ² + (trΣ/n)Σ for Gaussian rows: (d, d) -> (d, d)."""
    check_positive_int("n", n)
    check_spd("sigma", sigma)
    S = sigma.to(torch.float64)
    return (n + 1) / n * S @ S + torch.trace(S) / n * S


def optimal_preconditioner(sigma: Tensor, n: int) -> Tensor:
    """A_0 = (((n+1)/n)Σ + (trΣ/n) I)⁻¹ (Theorem 1): (d, d) float64."""
    check_positive_int("n", n)
    check_spd("sigma", sigma)
    S = sigma.to(torch.float64)
    d = S.shape[0]
    return torch.linalg.inv((n + 1) / n * S + torch.trace(S) / n * torch.eye(d, dtype=torch.float64))


def population_loss(A: Tensor, sigma: Tensor, n: int) -> Tensor:
    """f(A) = tr(AᵀΣA E[ŜŜ]) − 2tr(ΣAΣ) + trΣ (exact, closed form), differentiable in A."""
    S = sigma.to(torch.float64)
    M = expected_S_squared(S, n)
    return torch.trace(A.T @ S @ A @ M) - 2 * torch.trace(S @ A @ S) + torch.trace(S)


def optimal_loss(sigma: Tensor, n: int) -> Tensor:
    """f(A_0) = trΣ − tr(Σ²A_0); for Σ = I this is d(d+1)/(n+d+1)."""
    S = sigma.to(torch.float64)
    return torch.trace(S) - torch.trace(S @ S @ optimal_preconditioner(S, n))


# -- sympy derivation ----------------------------------------------------------------------------------------


def symbolic_population_loss(d: int):
    """Derive f(A) with sympy for symbolic Σ (d×d symmetric), A (d×d, unconstrained) and n.

    With w⋆ ~ N(0, I) and x_q ~ N(0, Σ),
    f(A) = E[(x_qᵀ(AŜ − I)w⋆)²] = tr E[(AŜ − I)ᵀ Σ (AŜ − I)] = tr E[Ŝ AᵀΣA Ŝ] − 2 tr(ΣAΣ) + tr Σ,
    with E[Ŝ B Ŝ] computed entrywise from Isserlis (no use of the closed form of E[ŜŜ]).

    Returns:
        (f, A, Σ, n) sympy objects.
    """
    import sympy as sp

    from theory.symbolic.moments import expected_S_B_S, symmetric_matrix

    n = sp.Symbol("n", positive=True)
    S = symmetric_matrix("s", d)
    A = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"a{i + 1}{j + 1}", real=True))
    f = (expected_S_B_S(S, A.T * S * A, n)).trace() - 2 * (S * A * S).trace() + S.trace()
    return sp.expand(f), A, S, n


def symbolic_stationary_point(d: int):
    """Solve ∇_A f = 0 symbolically (f is a convex quadratic in A: the system is linear).

    Returns:
        (A_star, closed_form, S, n): sympy matrices; ``closed_form`` is ((n+1)/n Σ + trΣ/n I)⁻¹.
    """
    import sympy as sp

    f, A, S, n = symbolic_population_loss(d)
    unknowns = list(A)
    sol = sp.solve([sp.diff(f, a) for a in unknowns], unknowns, dict=True)
    if len(sol) != 1:
        raise RuntimeError(f"expected a unique stationary point, sympy found {len(sol)}")
    A_star = A.subs(sol[0])
    closed = ((n + 1) / n * S + S.trace() / n * sp.eye(d)).inv()
    return A_star, closed, S, n


def check_stationary_point(d: int) -> bool:
    """True iff sympy's stationary point equals the closed form A_0 identically in (Σ, n)."""
    import sympy as sp

    A_star, closed, _, _ = symbolic_stationary_point(d)
    return all(sp.simplify(sp.together(x)) == 0 for x in (A_star - closed))


def check_isotropic_loss() -> bool:
    """For Σ = I (d symbolic): E[ŜŜ] from Isserlis counts, A_0, and f(A_0) = d(d+1)/(n+d+1).

    With Σ = I, Isserlis gives E[x_i x_j x_j x_l] = δ_il (1 + 2δ_ij) summed over j: (d + 2) δ_il, so
    E[ŜŜ] = ((d + 2)/n + (n − 1)/n) I. f(aI) = a² d E[ŜŜ]_11 − 2ad + d, minimised at a = 1/E[ŜŜ]_11.
    """
    import sympy as sp

    n, d, a = sp.symbols("n d a", positive=True)
    m = (d + 2) / n + (n - 1) / n  # E[ŜŜ]_11 for Σ = I
    f = a**2 * d * m - 2 * a * d + d
    a_star = sp.solve(sp.diff(f, a), a)[0]
    ok_a = sp.simplify(a_star - n / (n + d + 1)) == 0
    ok_f = sp.simplify(f.subs(a, a_star) - d * (d + 1) / (n + d + 1)) == 0
    return bool(ok_a and ok_f)
