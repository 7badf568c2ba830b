"""Reference eigenpairs for the operators of ryu24 (float64 closed forms and dense solvers).

* Gaussian kernel integral operator ``(T f)(x) = ∫ k(x, y) f(y) p(y) dy`` with
  ``k(x, y) = exp(−‖x − y‖² / (2ℓ²))``:

  - on an empirical measure (N pool points) the operator is the matrix ``K / N`` acting on values at the
    pool; :func:`kernel_eigen_reference` diagonalises it densely and :func:`nystrom_extend` extends an
    eigenfunction to any point by the eigen-equation itself, ``φ(x) = (1 / (N λ)) Σ_j k(x, x_j) φ(x_j)``
    (the Nyström extension; exact for the empirical operator);
  - in 1-D with ``p = N(0, s²)`` the population eigenpairs are known (Zhu et al. 1998; Rasmussen &
    Williams 2006, Sec. 4.3.1): with ``a = 1/(4s²)``, ``b = 1/(2ℓ²)``, ``c = √(a² + 2ab)``,
    ``A = a + b + c``: ``λ_k = √(2a/A) (b/A)^k`` and ``φ_k(x) ∝ exp(−(c − a) x²) H_k(√(2c) x)``
    (:func:`gaussian_kernel_eigen_1d`; normalised here to ``∫ φ_k² p = 1``, the constant
    ``2^k k! √(a/c)`` worked out in the docstring below).

* Quantum harmonic oscillator in the convention of the paper's code, ``H = −Δ + ‖x‖²`` on ℝ^d (no ½):
  eigenvalues ``2|n| + d`` for multi-indices n, eigenfunctions products of Hermite functions
  ``h_n(x) = (2^n n! √π)^{-1/2} H_n(x) e^{−x²/2}``.

* 2-D hydrogen atom, ``H = −Δ − 1/‖x‖``: the eigenvalues of ``−H`` are ``1/(2n + 1)²`` with degeneracy
  ``2n + 1`` (fact sheet; from the standard ``−½Δ − Z/r`` spectrum ``−Z²/(2(n + ½)²)`` with ``Z = ½``,
  times 2).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from theory.validation import check_finite, check_ndim, check_positive, check_positive_int

__all__ = [
    "gaussian_kernel",
    "kernel_eigen_reference",
    "nystrom_extend",
    "gaussian_kernel_eigen_1d",
    "hermite_functions",
    "oscillator_levels",
    "oscillator_eigenfunctions",
    "hydrogen2d_eigenvalues",
    "hydrogen2d_states",
    "hydrogen2d_eigenfunctions",
]


def gaussian_kernel(X: Tensor, Y: Tensor, bandwidth: float) -> Tensor:
    """``k(x_i, y_j) = exp(−‖x_i − y_j‖² / (2ℓ²))``; shapes X (N, d), Y (M, d) -> (N, M)."""
    check_ndim("X", X, 2, "(N, d)")
    check_ndim("Y", Y, 2, "(M, d)")
    check_positive("bandwidth", bandwidth)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"Y: expected {X.shape[1]} features like X, got {Y.shape[1]}")
    return torch.exp(-torch.cdist(X, Y).pow(2) / (2 * bandwidth**2))


def kernel_eigen_reference(K: Tensor, L: int) -> tuple[Tensor, Tensor]:
    """Top-L eigenpairs of the empirical operator ``K / N`` (dense ``eigh``).

    Args:
        K: (N, N) symmetric kernel matrix on the pool.
    Returns:
        eigenvalues (L,) descending, and eigenfunction values at the pool (N, L), normalised to
        ``(1/N) Σ_i φ(x_i)² = 1`` (i.e. ``√N`` times the unit eigenvectors), sign fixed so that the
        largest-magnitude entry is positive.
    """
    check_ndim("K", K, 2, "(N, N)")
    check_finite("K", K)
    check_positive_int("L", L)
    N = K.shape[0]
    if K.shape[1] != N or L > N:
        raise ValueError(f"K: expected a square (N, N) matrix with N >= L = {L}, got {tuple(K.shape)}")
    evals, evecs = torch.linalg.eigh(K.to(torch.float64) / N)
    evals, evecs = evals.flip(0)[:L], evecs.flip(1)[:, :L]
    idx = evecs.abs().argmax(0)
    evecs = evecs * torch.sign(evecs[idx, torch.arange(L)])
    return evals, evecs * math.sqrt(N)


def nystrom_extend(K_new: Tensor, eigenvalues: Tensor, phi_pool: Tensor) -> Tensor:
    """Nyström extension ``φ(x) = (1/(N λ)) Σ_j k(x, x_j) φ(x_j)``; K_new (M, N) -> values (M, L)."""
    check_ndim("K_new", K_new, 2, "(M, N)")
    check_ndim("phi_pool", phi_pool, 2, "(N, L)")
    if K_new.shape[1] != phi_pool.shape[0] or eigenvalues.shape != (phi_pool.shape[1],):
        raise ValueError("K_new/eigenvalues: shapes do not match phi_pool (N, L)")
    if bool((eigenvalues <= 0).any()):
        raise ValueError("eigenvalues: the Nyström extension needs positive eigenvalues")
    return (K_new @ phi_pool) / (phi_pool.shape[0] * eigenvalues)


def _hermite_phys(k_max: int, u: Tensor) -> Tensor:
    """Physicists' Hermite polynomials H_0..H_{k_max} at u (…,) -> (…, k_max+1), by the recurrence."""
    H = [torch.ones_like(u), 2 * u]
    for k in range(1, k_max):
        H.append(2 * u * H[k] - 2 * k * H[k - 1])
    return torch.stack(H[: k_max + 1], -1)


def gaussian_kernel_eigen_1d(x: Tensor, L: int, bandwidth: float, data_std: float) -> tuple[Tensor, Tensor]:
    """Population eigenpairs of the 1-D Gaussian kernel operator under ``p = N(0, s²)``.

    Normalisation: ``∫ exp(−2(c−a)x²) H_k(√(2c)x)² p(x) dx`` with ``p(x) = √(2a/π) e^{−2ax²}`` is
    ``√(2a/π) · 2^k k! √π / √(2c) = 2^k k! √(a/c)``.

    Args:
        x: (M,) points. Returns eigenvalues (L,) and eigenfunction values (M, L), ``∫ φ² p = 1``.
    """
    check_ndim("x", x, 1, "(M,)")
    check_positive_int("L", L)
    check_positive("bandwidth", bandwidth)
    check_positive("data_std", data_std)
    a, b = 1 / (4 * data_std**2), 1 / (2 * bandwidth**2)
    c = math.sqrt(a * a + 2 * a * b)
    A = a + b + c
    k = torch.arange(L, dtype=torch.float64)
    evals = math.sqrt(2 * a / A) * (b / A) ** k
    H = _hermite_phys(max(L - 1, 1), math.sqrt(2 * c) * x.to(torch.float64))[..., :L]
    norm = torch.sqrt(2.0**k * torch.exp(torch.lgamma(k + 1)) * math.sqrt(a / c))
    return evals, torch.exp(-(c - a) * x.to(torch.float64) ** 2)[:, None] * H / norm


def hermite_functions(n_max: int, x: Tensor) -> Tensor:
    """Orthonormal Hermite functions h_0..h_{n_max} at x (…,) -> (…, n_max+1), stable recurrence
    ``h_{n+1} = √(2/(n+1)) x h_n − √(n/(n+1)) h_{n−1}``, ``h_0 = π^{−1/4} e^{−x²/2}``."""
    if isinstance(n_max, bool) or not isinstance(n_max, int) or n_max < 0:
        raise ValueError(f"n_max: expected a non-negative integer, got {n_max!r}")
    # No finiteness check here: it would break torch.func transforms (data-dependent control flow).
    x = x.to(torch.float64)
    h = [math.pi**-0.25 * torch.exp(-(x**2) / 2)]
    if n_max >= 1:
        h.append(math.sqrt(2.0) * x * h[0])
    for n in range(1, n_max):
        h.append(math.sqrt(2 / (n + 1)) * x * h[n] - math.sqrt(n / (n + 1)) * h[n - 1])
    return torch.stack(h, -1)


def oscillator_levels(d: int, L: int) -> tuple[Tensor, list[tuple[int, ...]]]:
    """The L lowest eigenvalues ``2|n| + d`` of ``−Δ + ‖x‖²`` on ℝ^d, with degeneracy, and multi-indices.

    Raises:
        ValueError: L cuts a degenerate level (then the top-L eigenspace is not well defined).
    """
    check_positive_int("d", d)
    check_positive_int("L", L)
    idx: list[tuple[int, ...]] = []
    level = 0
    while len(idx) < L:
        shell = sorted(n for n in _compositions(level, d))
        if len(idx) + len(shell) > L:
            raise ValueError(
                f"L: {L} cuts the degenerate level |n| = {level} (choose L = {len(idx)} or {len(idx) + len(shell)})"
            )
        idx.extend(shell)
        level += 1
    evals = torch.tensor([2 * sum(n) + d for n in idx], dtype=torch.float64)
    return evals, idx


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    if parts == 1:
        return [(total,)]
    return [(i, *rest) for i in range(total + 1) for rest in _compositions(total - i, parts - 1)]


def oscillator_eigenfunctions(x: Tensor, multi_indices: list[tuple[int, ...]]) -> Tensor:
    """Products of Hermite functions ``Π_k h_{n_k}(x_k)``; x (M, d) -> (M, len(multi_indices))."""
    check_ndim("x", x, 2, "(M, d)")
    d = x.shape[1]
    if not multi_indices:
        raise ValueError("multi_indices: expected at least one multi-index")
    if any(len(n) != d for n in multi_indices):
        raise ValueError(f"multi_indices: each index needs {d} entries")
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for n in multi_indices for k in n):
        raise ValueError(f"multi_indices: entries must be non-negative integers, got {multi_indices!r}")
    n_max = max(max(n) for n in multi_indices)
    h = hermite_functions(n_max, x)  # (M, d, n_max+1)
    cols = [torch.prod(torch.stack([h[:, k, n[k]] for k in range(d)], -1), -1) for n in multi_indices]
    return torch.stack(cols, -1)


def hydrogen2d_states(L: int) -> list[tuple[int, int, str]]:
    """The first L states (n, |m|, "cos" | "sin") of the 2-D hydrogen atom, shell by shell (n = 0, 1, …;
    in a shell |m| = 0, 1, …, n, with cos and sin for |m| > 0: 2n + 1 states)."""
    check_positive_int("L", L)
    states: list[tuple[int, int, str]] = []
    n = 0
    while len(states) < L:
        states.append((n, 0, "cos"))
        for m in range(1, n + 1):
            states += [(n, m, "cos"), (n, m, "sin")]
        n += 1
    return states[:L]


def _laguerre(n: int, alpha: int, t: Tensor) -> Tensor:
    """Generalised Laguerre polynomial L_n^α(t) by the three-term recurrence (torch ops: differentiable)."""
    prev, cur = torch.ones_like(t), 1 + alpha - t
    if n == 0:
        return prev
    for k in range(1, n):
        prev, cur = cur, ((2 * k + 1 + alpha - t) * cur - (k + alpha) * prev) / (k + 1)
    return cur


def hydrogen2d_eigenfunctions(x: Tensor, L: int) -> Tensor:
    """Real orthonormal eigenfunctions of ``H = −Δ − 1/‖x‖`` on ℝ² for the first L states of
    :func:`hydrogen2d_states`; x (M, 2) -> (M, L).

    In polar coordinates, with κ = 1/(2n + 1) (so that E = −κ² = −1/(2n+1)²) and n_r = n − |m|:
    ``ψ = r^{|m|} e^{−κr} L_{n_r}^{2|m|}(2κr) · {1, cos mθ, sin mθ} / √N``. The norm follows from
    ``∫_0^∞ ρ^{α+1} e^{−ρ} (L_k^α)² dρ = (k+α)!/k! · (2k+α+1)`` with ρ = 2κr, α = 2|m|:
    ``N = (2κ)^{−(2|m|+2)} (n_r + 2|m|)!/n_r! · (2n + 1) · (2π if m = 0 else π)``.
    (The standard 2-D hydrogen −½Δ − Z/r with Z = ½, doubled: e.g. Yang et al., Phys. Rev. A 43, 1186 (1991).)
    """
    check_ndim("x", x, 2, "(M, 2)")
    if x.shape[1] != 2:
        raise ValueError(f"x: expected (M, 2) points in the plane, got {tuple(x.shape)}")
    x = x.to(torch.float64)
    r = x.norm(dim=-1)
    theta = torch.atan2(x[:, 1], x[:, 0])
    cols = []
    for n, m, part in hydrogen2d_states(L):
        kappa, nr = 1.0 / (2 * n + 1), n - m
        radial = r**m * torch.exp(-kappa * r) * _laguerre(nr, 2 * m, 2 * kappa * r)
        angular = torch.ones_like(r) if m == 0 else (torch.cos(m * theta) if part == "cos" else torch.sin(m * theta))
        norm2 = (2 * kappa) ** (-(2 * m + 2)) * math.factorial(nr + 2 * m) / math.factorial(nr) * (2 * n + 1)
        norm2 *= 2 * math.pi if m == 0 else math.pi
        cols.append(radial * angular / math.sqrt(norm2))
    return torch.stack(cols, -1)


def hydrogen2d_eigenvalues(L: int) -> Tensor:
    """Top-L eigenvalues of ``−H`` for the 2-D hydrogen atom ``H = −Δ − 1/‖x‖``: ``1/(2n+1)²`` ×(2n+1)."""
    check_positive_int("L", L)
    vals: list[float] = []
    n = 0
    while len(vals) < L:
        vals.extend([1 / (2 * n + 1) ** 2] * (2 * n + 1))
        n += 1
    return torch.tensor(vals[:L], dtype=torch.float64)
