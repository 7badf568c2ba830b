"""Fu, Chen, Jia, Sharan (2023), §3: the error recursion of Iterative Newton (Newton–Schulz), in sympy.

Iterative Newton for the pseudo-inverse of S = XᵀX:

    M_0 = α S,      M_{k+1} = 2 M_k − M_k S M_k.

Error recursion (exact, for *any* square S and M_k, no symmetry needed):

    I − M_{k+1} S = I − 2 M_k S + M_k S M_k S = (I − M_k S)².

Consequences used elsewhere in the suite (checked numerically in :mod:`theory.rates` and in the claims):

* with E_k = I − M_k S, E_k = E_0^{2^k}, and E_0 = I − α S² has eigenvalues 1 − α λ_i² on range(S);
  hence convergence iff 0 < α < 2/λ_max(S)², and quadratic convergence ‖E_{k+1}‖ = ‖E_k‖² (S symmetric);
* at α = 2/λ_max(S)² the top residual eigenvalue is −1, then +1 at every later step: it is never contracted.
"""

from __future__ import annotations

__all__ = [
    "symbolic_matrix",
    "newton_step",
    "error_recursion_residual",
    "check_error_recursion",
    "check_error_power",
    "check_scalar_boundary",
]


def symbolic_matrix(name: str, d: int, symmetric: bool = False):
    """A d×d sympy matrix of independent real symbols (optionally symmetric)."""
    import sympy as sp

    if d < 1:
        raise ValueError(f"d: expected an integer >= 1, got {d}")
    if symmetric:
        return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"{name}{min(i, j) + 1}{max(i, j) + 1}", real=True))
    return sp.Matrix(d, d, lambda i, j: sp.Symbol(f"{name}{i + 1}{j + 1}", real=True))


def newton_step(M, S):
    """M_{k+1} = 2 M_k − M_k S M_k (Fu et al. 2023, eq. for Iterative Newton)."""
    return 2 * M - M * S * M


def error_recursion_residual(d: int, symmetric: bool = False):
    """(I − M_{k+1}S) − (I − M_kS)² expanded, for symbolic d×d M_k and S: the zero matrix iff the identity holds."""
    import sympy as sp

    M = symbolic_matrix("m", d, symmetric)
    S = symbolic_matrix("s", d, symmetric)
    I = sp.eye(d)
    lhs = I - newton_step(M, S) * S
    rhs = (I - M * S) ** 2
    return (lhs - rhs).applyfunc(sp.expand)


def check_error_recursion(d: int, symmetric: bool = False) -> bool:
    """True iff I − M_{k+1}S = (I − M_kS)² holds identically for symbolic d×d matrices."""
    return all(e == 0 for e in error_recursion_residual(d, symmetric))


def check_error_power(d: int, steps: int) -> bool:
    """True iff I − M_kS = (I − αS²)^{2^k} for k = 0..steps with M_0 = αS (symbolic symmetric S, symbolic α).

    Expansion grows like (2^k)·deg, so keep d·steps small (d = 2, steps = 3 takes about a second).
    """
    import sympy as sp

    a = sp.Symbol("alpha", positive=True)
    S = symbolic_matrix("s", d, symmetric=True)
    I = sp.eye(d)
    M = a * S
    E0 = I - a * S * S
    for k in range(steps + 1):
        if k > 0:
            M = newton_step(M, S).applyfunc(sp.expand)
        diff = (I - M * S) - E0 ** (2**k)
        if any(sp.expand(e) != 0 for e in diff):
            return False
    return True


def check_scalar_boundary() -> bool:
    """On one eigendirection (scalar λ > 0): the residual 1 − αλ² maps to (1 − αλ²)^{2^k}.

    Checks (i) at α = 2/λ² the residual is −1 at k = 0 and +1 for k = 1, 2, 3 (never contracted), and
    (ii) the residual tends to 0 iff |1 − αλ²| < 1 iff 0 < αλ² < 2 (the convergence region's endpoints
    are exactly the roots of (1 − αλ²)² = 1).
    """
    import sympy as sp

    a, lam = sp.symbols("alpha lambda", positive=True)
    m = a * lam
    residuals = []
    for _ in range(4):
        residuals.append(sp.simplify((1 - m * lam).subs(a, 2 / lam**2)))
        m = 2 * m - m * lam * m
    boundary_ok = residuals == [-1, 1, 1, 1]
    roots = sp.solve(sp.Eq((1 - a * lam**2) ** 2, 1), a)
    region_ok = set(roots) == {2 / lam**2}  # α = 0 excluded by positivity; the other root is the boundary
    return bool(boundary_ok and region_ok)
