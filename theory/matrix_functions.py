"""Target functions of goulart24 (Goulart & Papalexakis, arXiv 2411.15675, §2 of the fact sheet).

Pure float64 functions, batched over leading dimensions:

* :func:`p_norm` — vector p-"norm" f_p(x) = (Σ_i |x_i|^p)^{1/p}; p = 0.5 (the paper's run) is a quasi-norm;
* :func:`entrywise_p_norm` — the scripts' matrix "p-norm", (Σ_ij |A_ij|^p)^{1/p} (not an induced norm);
* :func:`schatten_norm` — (Σ_i σ_i^q)^{1/q}, q = 1 nuclear, q = 2 Frobenius, q = ∞ spectral;
* :func:`nuclear_norm` — ‖A‖_* = Σ_i σ_i(A);
* :func:`top_k_singular_values` — (σ_1, …, σ_k), descending.

Every one is positively 1-homogeneous: f(t·x) = |t|·f(x) (claim ``goulart24.scale_homogeneity``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from theory.validation import check_finite, check_square

__all__ = [
    "p_norm",
    "entrywise_p_norm",
    "schatten_norm",
    "nuclear_norm",
    "top_k_singular_values",
    "singular_values",
]


def _check_tensor(name: str, t: object, min_ndim: int, shape_doc: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {shape_doc}, got {type(t).__name__}")
    if t.ndim < min_ndim or any(s == 0 for s in t.shape[-min_ndim:]):
        raise ValueError(f"{name}: expected shape {shape_doc} with non-empty trailing dims, got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {t.dtype}")
    check_finite(name, t)
    return t


def _check_p(name: str, p: float | Tensor) -> float | Tensor:
    if isinstance(p, Tensor):
        if p.is_floating_point() is False or bool(torch.isnan(p).any()) or not bool((p > 0).all()):
            raise ValueError(f"{name}: expected p > 0 everywhere (p <= 0 is not a (quasi-)norm)")
        return p.to(torch.float64)
    p = float(p)
    if not (p > 0) or math.isnan(p):
        raise ValueError(f"{name}: expected p > 0 (p <= 0 is not a (quasi-)norm), got {p}")
    return p


def p_norm(x: Tensor, p: float | Tensor) -> Tensor:
    """f_p(x) = (Σ_i |x_i|^p)^{1/p} over the last dim; x (..., n) -> (...).

    ``p`` is a float or a tensor broadcastable to ``x.shape[:-1]`` (one p per vector, the function-family
    regime); p = inf gives max_i |x_i|.
    """
    _check_tensor("x", x, 1, "(..., n)")
    p = _check_p("p", p)
    a = x.abs()
    m = a.amax(dim=-1)
    # Factor out the largest entry so |x_i|^p neither overflows nor underflows (p = 0.5 raises small
    # numbers towards 1, large p would overflow at a = 100); the result is m · (Σ (|x_i|/m)^p)^{1/p}.
    safe = torch.where(m > 0, m, torch.ones_like(m))
    r = a / safe.unsqueeze(-1)
    if isinstance(p, Tensor):
        p = torch.broadcast_to(p, m.shape)
        finite_p = torch.where(torch.isinf(p), torch.ones_like(p), p)
        s = (r ** finite_p.unsqueeze(-1)).sum(dim=-1) ** (1.0 / finite_p)
        s = torch.where(torch.isinf(p), torch.ones_like(s), s)
    elif math.isinf(p):
        s = torch.ones_like(m)
    else:
        s = (r**p).sum(dim=-1) ** (1.0 / p)
    return torch.where(m > 0, safe * s, torch.zeros_like(m))


def entrywise_p_norm(A: Tensor, p: float) -> Tensor:
    """(Σ_ij |A_ij|^p)^{1/p}; A (..., r, s) -> (...)."""
    _check_tensor("A", A, 2, "(..., r, s)")
    return p_norm(A.flatten(-2), p)


def singular_values(A: Tensor) -> Tensor:
    """σ_1 ≥ … ≥ σ_n of square matrices A (..., n, n) -> (..., n), computed in float64."""
    _check_tensor("A", A, 2, "(..., n, n)")
    check_square("A", A)
    return torch.linalg.svdvals(A.to(torch.float64))


def schatten_norm(A: Tensor, q: float | Tensor) -> Tensor:
    """Schatten q-norm (Σ_i σ_i^q)^{1/q} of A (..., n, n) -> (...); q = inf is the spectral norm."""
    q = _check_p("q", q)
    return p_norm(singular_values(A), q)


def nuclear_norm(A: Tensor) -> Tensor:
    """‖A‖_* = Σ_i σ_i(A); A (..., n, n) -> (...)."""
    return singular_values(A).sum(dim=-1)


def top_k_singular_values(A: Tensor, k: int) -> Tensor:
    """(σ_1, …, σ_k) in descending order; A (..., n, n) -> (..., k). k > n is rejected."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1, got {k!r}")
    s = singular_values(A)
    if k > s.shape[-1]:
        raise ValueError(f"k: top-{k} singular values of {s.shape[-1]}x{s.shape[-1]} matrices do not exist (k > n)")
    return s[..., :k]
