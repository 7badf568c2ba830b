"""Ahn et al. (2023), Theorem 1: the single-layer optimum, derived and checked with sympy.

One layer with P = [[0,0],[0,1]], Q = −[[A,0],[0,0]] predicts ŷ = x_qᵀ A Ŝ w⋆ (Ŝ = XᵀX/n, no noise).
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

__all__ = ["optimal_preconditioner", "optimal_loss", "population_loss", "expected_S_squared"]


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
