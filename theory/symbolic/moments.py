"""Gaussian moment identities in sympy (Isserlis / Wick), shared by every paper.

E[x_{i1} ... x_{i2k}] = Σ_{pairings} Π Σ_{ia ib} for x ~ N(0, Σ), and odd moments vanish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache

import sympy as sp

__all__ = ["pairings", "isserlis", "symmetric_matrix", "expected_S_B_S"]


def pairings(items: Sequence[int]) -> Iterator[list[tuple[int, int]]]:
    """All perfect matchings of ``items`` ((len−1)!! of them); none for odd length."""
    if len(items) % 2:
        return
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for j in range(len(rest)):
        for tail in pairings(rest[:j] + rest[j + 1 :]):
            yield [(first, rest[j]), *tail]


def isserlis(cov: Callable[[int, int], sp.Expr], idx: Sequence[int]) -> sp.Expr:
    """E[Π_r x_{idx[r]}] for a centred Gaussian with covariance entries ``cov(i, j)``."""
    positions = list(range(len(idx)))
    return sp.Add(*[sp.Mul(*[cov(idx[a], idx[b]) for a, b in p]) for p in pairings(positions)])


def symmetric_matrix(name: str, d: int) -> sp.Matrix:
    """A d×d symmetric matrix of symbols name_ij (i ≤ j)."""

    @cache
    def entry(i: int, j: int) -> sp.Symbol:
        a, b = min(i, j), max(i, j)
        return sp.Symbol(f"{name}{a + 1}{b + 1}", real=True)

    return sp.Matrix(d, d, lambda i, j: entry(i, j))


def expected_S_B_S(sigma: sp.Matrix, B: sp.Matrix, n: sp.Expr) -> sp.Matrix:
    """E[Ŝ B Ŝ] for Ŝ = (1/n) Σ_t x_t x_tᵀ with i.i.d. x_t ~ N(0, Σ), entry by entry from Isserlis.

    E[Ŝ_ij Ŝ_kl] = (1/n) E[x_i x_j x_k x_l] + ((n − 1)/n) Σ_ij Σ_kl  (same sample t = s, or independent).
    """
    d = sigma.shape[0]
    cov = lambda i, j: sigma[i, j]

    def second(i: int, j: int, k: int, l: int) -> sp.Expr:
        return isserlis(cov, (i, j, k, l)) / n + (n - 1) / n * sigma[i, j] * sigma[k, l]

    return sp.Matrix(d, d, lambda i, l: sp.Add(*[B[j, k] * second(i, j, k, l) for j in range(d) for k in range(d)]))
