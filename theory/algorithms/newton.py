"""Iterative Newton (Newton–Schulz) for the pseudo-inverse of S = XᵀX (Fu et al. 2023, §3).

M_0 = α S,  M_{k+1} = 2 M_k − M_k S M_k,  ŵ_k = M_k Xᵀ y.

Exact error recursion: I − M_{k+1} S = (I − M_k S)². On the range of S the residual eigenvalues are
1 − α λ_i², so the iteration converges (to S⁺) iff 0 < α < 2/λ_max(S)², quadratically once
‖I − M_k S‖ < 1 on range(S). At α = 2/λ_max² the top direction has residual −1, then +1 for ever in exact
arithmetic and drifts away in floating point: that value is rejected (within ``BOUNDARY_RTOL``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.algorithms.trajectory import Trajectory
from theory.prompts import PromptBatch
from theory.validation import check_finite, check_positive_int, check_prompt, check_psd, check_square

__all__ = ["newton_schulz", "newton_schulz_default_alpha", "newton_solution_path", "BOUNDARY_RTOL"]

#: λ_max(S) is computed with relative round-off of order d·ε_float64; an α whose α·λ_max² lies within this
#: relative distance of 2 cannot be told apart from the divergent boundary, so it is rejected too.
BOUNDARY_RTOL = 1e-9


def newton_schulz_default_alpha(S: Tensor) -> Tensor:
    """Safe initial scale α = 1/λ_max(S)² (half the boundary 2/λ_max²): S (B, d, d) -> (B,)."""
    check_square("S", S)
    check_finite("S", S)
    lmax = torch.linalg.eigvalsh(S.to(torch.float64))[..., -1]
    if bool((lmax <= 0).any()):
        raise ValueError("S: has a zero largest eigenvalue (all-zero X); Newton–Schulz is undefined")
    return 1.0 / lmax**2


def newton_schulz(
    S: Tensor, steps: int, alpha: float | Tensor | None = None, *, allow_unstable: bool = False
) -> Tensor:
    """Run Newton–Schulz and return every iterate.

    Args:
        S: (B, d, d) symmetric positive semidefinite (S = XᵀX).
        steps: number of Newton steps k ≥ 0.
        alpha: initial scale, scalar or (B,); default :func:`newton_schulz_default_alpha`.
        allow_unstable: skip the convergence check (only to *demonstrate* the boundary behaviour).

    Returns:
        M: (k+1, B, d, d), M[0] = αS.

    Raises:
        ValueError: S not (B, d, d) symmetric PSD (an indefinite S has eigenvalues the α check below cannot see),
            α ≤ 0, or α·λ_max(S)² ≥ 2(1 − BOUNDARY_RTOL) (no convergence).
    """
    check_square("S", S)
    check_finite("S", S)
    check_positive_int("steps", steps, minimum=0)
    S = S.to(torch.float64)
    if S.ndim != 3:
        raise ValueError(f"S: expected shape (B, d, d), got {tuple(S.shape)}")
    check_psd("S", S)
    B = S.shape[0]
    a = newton_schulz_default_alpha(S) if alpha is None else torch.as_tensor(alpha, dtype=torch.float64)
    a = a.reshape(-1)
    if a.numel() not in (1, B) or not bool(torch.isfinite(a).all()) or bool((a <= 0).any()):
        raise ValueError(f"alpha: expected a positive scalar or (B,) tensor, got {alpha!r}")
    a = a.expand(B)
    if not allow_unstable:
        lmax = torch.linalg.eigvalsh(S)[:, -1]
        worst = float((a * lmax**2).max())
        if worst >= 2.0 * (1 - BOUNDARY_RTOL):
            raise ValueError(
                f"alpha: Newton–Schulz converges only for alpha < 2/λ_max(S)²; got alpha·λ_max² = {worst:.6g} "
                "(the paper's 2/‖SSᵀ‖ sits on this boundary; use alpha=None for the safe 1/λ_max²)"
            )
    M = a.view(B, 1, 1) * S
    its = [M]
    for _ in range(steps):
        M = 2 * M - M @ S @ M
        its.append(M)
    return torch.stack(its)


def newton_solution_path(
    prompt: PromptBatch, steps: int, alpha: float | Tensor | None = None, *, allow_unstable: bool = False
) -> Trajectory:
    """Newton estimates ŵ_k = M_k Xᵀy for k = 0..steps: Trajectory with iterates (k+1, B, d)."""
    check_prompt("prompt", prompt)
    X = prompt.X.to(torch.float64)
    y = prompt.y.to(torch.float64)
    S = X.transpose(1, 2) @ X
    M = newton_schulz(S, steps, alpha, allow_unstable=allow_unstable)
    Xty = (X.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1)  # (B, d)
    W = torch.einsum("kbij,bj->kbi", M, Xty)
    return Trajectory(W, {"algorithm": "newton_schulz", "steps": steps})
