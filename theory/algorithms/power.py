"""Power method with deflation for the top-k eigenpairs of a symmetric PSD matrix (He et al. 2025).

v ← Σv/‖Σv‖ repeated τ times. With a gap λ_1 > λ_2 and a seed not orthogonal to v_1:
tan θ(v_τ, v_1) ≤ (λ_2/λ_1)^τ tan θ(v_0, v_1). Deflation removes the found direction:
projection Σ ← (I − vvᵀ) Σ (I − vvᵀ) or Hotelling Σ ← Σ − λ̂ vvᵀ.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from theory.algorithms.trajectory import Trajectory
from theory.validation import check_finite, check_nonzero_rows, check_positive_int, check_square

__all__ = ["power_method", "deflate", "top_k_eig", "rayleigh_quotient"]

Deflation = Literal["projection", "hotelling"]


def _check_sym(name: str, S: Tensor) -> Tensor:
    check_square(name, S)
    check_finite(name, S)
    if S.ndim != 3:
        raise ValueError(f"{name}: expected shape (B, d, d), got {tuple(S.shape)}")
    S = S.to(torch.float64)
    scale = S.abs().amax(dim=(-2, -1)).clamp_min(1e-300)
    if bool((((S - S.transpose(-1, -2)).abs().amax(dim=(-2, -1)) / scale) > 1e-10).any()):
        raise ValueError(f"{name}: not symmetric")
    return S


def _check_vectors(name: str, v: Tensor, S: Tensor) -> None:
    """v (B, d) matching S (B, d, d), finite, no zero vector."""
    if not isinstance(v, Tensor) or v.shape != S.shape[:-1]:
        raise ValueError(f"{name}: expected shape (B, d) = {tuple(S.shape[:-1])}, got "
                         f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}")
    check_finite(name, v)
    check_nonzero_rows(name, v)


def rayleigh_quotient(S: Tensor, v: Tensor) -> Tensor:
    """vᵀSv / vᵀv: S (B, d, d), v (B, d) -> (B,)."""
    check_square("S", S)
    _check_vectors("v", v, S)
    Sv = (S @ v.unsqueeze(-1)).squeeze(-1)
    return (v * Sv).sum(-1) / (v * v).sum(-1)


def power_method(S: Tensor, v0: Tensor, steps: int) -> Trajectory:
    """τ normalised power iterations from v0.

    Args:
        S: (B, d, d) symmetric. v0: (B, d) seeds (normalised first). steps: τ ≥ 0.

    Returns:
        Trajectory with unit iterates (τ+1, B, d).
    """
    S = _check_sym("S", S)
    check_positive_int("steps", steps, minimum=0)
    if v0.shape != S.shape[:2]:
        raise ValueError(f"v0: expected shape (B, d) = {tuple(S.shape[:2])}, got {tuple(v0.shape)}")
    check_finite("v0", v0)
    v = v0.to(torch.float64)
    nrm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    if bool((nrm == 0).any()):
        raise ValueError("v0: contains a zero seed vector")
    v = v / nrm
    its = [v]
    for _ in range(steps):
        w = (S @ v.unsqueeze(-1)).squeeze(-1)
        wn = torch.linalg.vector_norm(w, dim=-1, keepdim=True)
        if bool((wn == 0).any()):
            raise ValueError("v0: a seed lies in the null space of S (Σv = 0); the power method is undefined")
        v = w / wn
        its.append(v)
    return Trajectory(torch.stack(its), {"algorithm": "power_method", "steps": steps})


def deflate(S: Tensor, v: Tensor, mode: Deflation = "projection") -> Tensor:
    """Remove unit direction v: (B, d, d), (B, d) -> (B, d, d)."""
    if mode not in ("projection", "hotelling"):
        raise ValueError(f"mode: expected 'projection' or 'hotelling', got {mode!r}")
    check_square("S", S)
    check_finite("S", S)
    _check_vectors("v", v, S)
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    if mode == "projection":
        P = torch.eye(S.shape[-1], dtype=S.dtype) - v.unsqueeze(-1) * v.unsqueeze(-2)
        return P @ S @ P
    if mode == "hotelling":
        lam = rayleigh_quotient(S, v)
        return S - lam.view(-1, 1, 1) * (v.unsqueeze(-1) * v.unsqueeze(-2))
    raise ValueError(f"mode: expected 'projection' or 'hotelling', got {mode!r}")


def top_k_eig(
    S: Tensor, seeds: Tensor, steps: int, mode: Deflation = "projection"
) -> tuple[Tensor, Tensor, list[Trajectory]]:
    """Top-k eigenpairs by power method + deflation.

    Args:
        S: (B, d, d). seeds: (B, k, d), one seed per eigenvector. steps: τ per eigenvector.

    Returns:
        eigenvalues (B, k) (Rayleigh quotients), eigenvectors (B, k, d), per-eigenvector trajectories.
    """
    S = _check_sym("S", S)
    if mode not in ("projection", "hotelling"):
        raise ValueError(f"mode: expected 'projection' or 'hotelling', got {mode!r}")
    check_positive_int("steps", steps, minimum=0)
    if seeds.ndim != 3 or seeds.shape[0] != S.shape[0] or seeds.shape[2] != S.shape[1]:
        raise ValueError(f"seeds: expected shape (B, k, d) with B, d = {tuple(S.shape[:2])}, got {tuple(seeds.shape)}")
    k = seeds.shape[1]
    if not 1 <= k <= S.shape[-1]:
        raise ValueError(f"seeds: need 1 <= k <= d = {S.shape[-1]} seeds per prompt, got k = {k}")
    check_finite("seeds", seeds)
    check_nonzero_rows("seeds", seeds)
    vals, vecs, trajs = [], [], []
    cur = S
    for i in range(k):
        tr = power_method(cur, seeds[:, i], steps)
        v = tr.final
        vals.append(rayleigh_quotient(cur, v))
        vecs.append(v)
        trajs.append(tr)
        cur = deflate(cur, v, mode)
    return torch.stack(vals, 1), torch.stack(vecs, 1), trajs
