"""Exact trace moments of a real Wishart matrix, by Wick's theorem on index graphs.

W = GᵀG with G ∈ R^{n×d} i.i.d. N(0, 1). tr(W^p) = Σ_{t, i} Π_{r=1}^{p} G_{t_r i_r} G_{t_r i_{r+1}} (i_{p+1} = i_1),
a product of 2p Gaussian entries. Each perfect matching of those entries forces equal row indices and equal
column indices on matched pairs, so it contributes n^{#row classes} d^{#column classes}; the expectation is
the sum over the (2p − 1)!! matchings. Checks: E tr W = nd, E tr W² = nd(n + d + 1).
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import sympy as sp

from theory.symbolic.moments import pairings
from theory.validation import check_positive_int

__all__ = ["wishart_trace_moment", "empirical_covariance_trace_moment", "MAX_POWER"]

#: Largest p: the expansion enumerates (2p − 1)!! matchings (p = 10: 6.5e8), beyond that it never finishes.
MAX_POWER = 10


def _classes(p: int, links: list[tuple[int, int]]) -> int:
    parent = list(range(p))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in links:
        parent[find(a)] = find(b)
    return len({find(a) for a in range(p)})


@cache
def wishart_trace_moment(p: int) -> sp.Expr:
    """E tr(W^p) as a polynomial in symbols n, d (p ≥ 0; cost (2p−1)!!, fine for p ≤ 7)."""
    check_positive_int("p", p, minimum=0)
    if p > MAX_POWER:
        raise ValueError(f"p: at most {MAX_POWER} ((2p − 1)!! matchings are enumerated), got {p}")
    n, d = sp.symbols("n d", positive=True)
    if p == 0:
        return d
    # entry 2r is (t_r, i_r); entry 2r+1 is (t_r, i_{r+1 mod p})
    row = lambda e: e // 2
    col = lambda e: (e // 2 + e % 2) % p
    counts: Counter[tuple[int, int]] = Counter(
        (_classes(p, [(row(a), row(b)) for a, b in m]), _classes(p, [(col(a), col(b)) for a, b in m]))
        for m in pairings(list(range(2 * p)))
    )
    return sp.expand(sp.Add(*[c * n**r * d**k for (r, k), c in counts.items()]))


def empirical_covariance_trace_moment(p: int, n: int, d: int) -> float:
    """E tr(Û^p) for Û = W/n, i.e. E Σ_k μ_k^p over the eigenvalues μ_k of a whitened sample covariance."""
    check_positive_int("n", n)
    check_positive_int("d", d)
    ns, ds = sp.symbols("n d", positive=True)
    return float(wishart_trace_moment(p).subs({ns: n, ds: d}) / sp.Integer(n) ** p)
