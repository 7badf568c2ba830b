"""(Preconditioned) gradient descent on the in-context least-squares loss.

R(w) = (1/2n) Σ_i (wᵀx_i − y_i)²,  ∇R(w) = (1/n) Xᵀ(Xw − y)                  (Ahn et al. 2023, §2)
w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ),  w_0 = 0                                         (preconditioned GD)

Convergence (plain GD, A = ηI): for η < 2/λ_max(XᵀX/n) the iterates converge to the least-squares
solution of minimum norm started from 0; η ≥ 2/λ_max diverges along the top eigendirection. Preconditioned
GD with arbitrary A_ℓ has no such guarantee (Ahn et al.'s steps are fitted, not required to contract), so
it is not restricted; :func:`gd` with a fixed step is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from theory.algorithms.trajectory import Trajectory
from theory.prompts import PromptBatch
from theory.validation import check_finite, check_ndim, check_positive_int, check_prompt, check_square

__all__ = ["least_squares_gradient", "preconditioned_gd", "gd", "gd_best_step", "empirical_covariance"]


def empirical_covariance(X: Tensor) -> Tensor:
    """Ŝ = XᵀX/n: X (B, n, d) -> (B, d, d)."""
    check_ndim("X", X, 3, "(B, n, d)")
    return X.transpose(1, 2) @ X / X.shape[1]


def least_squares_gradient(X: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """∇R(w) = (1/n) Xᵀ(Xw − y): X (B, n, d), y (B, n), w (B, d) -> (B, d)."""
    check_ndim("X", X, 3, "(B, n, d)")
    if y.shape != X.shape[:2]:
        raise ValueError(f"y: expected shape (B, n) = {tuple(X.shape[:2])}, got {tuple(y.shape)}")
    if w.shape != (X.shape[0], X.shape[2]):
        raise ValueError(f"w: expected shape (B, d) = {(X.shape[0], X.shape[2])}, got {tuple(w.shape)}")
    r = (X @ w.unsqueeze(-1)).squeeze(-1) - y
    return (X.transpose(1, 2) @ r.unsqueeze(-1)).squeeze(-1) / X.shape[1]


def _as_preconditioners(A_seq: Sequence[Tensor] | Tensor, B: int, d: int) -> list[Tensor]:
    mats = list(A_seq) if not isinstance(A_seq, Tensor) else list(A_seq.unbind(0))
    if not mats:
        raise ValueError("A_seq: need at least one preconditioner")
    out = []
    for i, A in enumerate(mats):
        name = f"A_seq[{i}]"
        if not isinstance(A, Tensor):
            raise ValueError(f"{name}: expected a tensor (d, d) or (B, d, d), got {type(A).__name__}")
        check_square(name, A)
        check_finite(name, A)
        if A.shape[-1] != d or (A.ndim == 3 and A.shape[0] != B) or A.ndim not in (2, 3):
            raise ValueError(f"{name}: expected shape (d, d) or (B, d, d) with d={d}, B={B}, got {tuple(A.shape)}")
        out.append(A.to(torch.float64).expand(B, d, d))
    return out


def preconditioned_gd(prompt: PromptBatch, A_seq: Sequence[Tensor] | Tensor) -> Trajectory:
    """L steps of preconditioned GD from w_0 = 0, in float64.

    Args:
        prompt: the batch (its X, y are used; queries are not).
        A_seq: L preconditioners, each (d, d) or (B, d, d), or a stacked (L, d, d) tensor.

    Returns:
        Trajectory with iterates (L+1, B, d).
    """
    check_prompt("prompt", prompt)
    X = prompt.X.to(torch.float64)
    y = prompt.y.to(torch.float64)
    B, _, d = X.shape
    mats = _as_preconditioners(A_seq, B, d)
    w = X.new_zeros(B, d)
    its = [w]
    for A in mats:
        w = w - (A @ least_squares_gradient(X, y, w).unsqueeze(-1)).squeeze(-1)
        its.append(w)
    return Trajectory(torch.stack(its), {"algorithm": "preconditioned_gd", "steps": len(mats)})


def gd(prompt: PromptBatch, steps: int, step_size: float | Tensor, *, check_stable: bool = True) -> Trajectory:
    """Plain GD with a fixed step η (scalar, or (B,) per prompt).

    Raises:
        ValueError: when ``check_stable`` and η ≥ 2/λ_max(XᵀX/n) for some prompt (GD would diverge).
    """
    check_positive_int("steps", steps, minimum=0)
    check_prompt("prompt", prompt)
    X = prompt.X.to(torch.float64)
    B, _, d = X.shape
    eta = torch.as_tensor(step_size, dtype=torch.float64).reshape(-1)
    if eta.numel() not in (1, B) or not bool(torch.isfinite(eta).all()) or bool((eta <= 0).any()):
        raise ValueError(f"step_size: expected a positive scalar or (B,) tensor, got {step_size!r}")
    eta = eta.expand(B)
    if check_stable:
        lmax = torch.linalg.eigvalsh(empirical_covariance(X))[:, -1]
        if bool((eta * lmax >= 2).any()):
            raise ValueError(
                f"step_size: GD diverges for step_size >= 2/λ_max(XᵀX/n); largest η·λ_max = "
                f"{float((eta * lmax).max()):.4g}"
            )
    if steps == 0:
        return Trajectory(X.new_zeros(1, B, d), {"algorithm": "gd", "steps": 0})
    A = eta.view(B, 1, 1) * torch.eye(d, dtype=torch.float64)
    traj = preconditioned_gd(prompt, [A] * steps)
    return Trajectory(traj.iterates, {"algorithm": "gd", "steps": steps})


def gd_best_step(X: Tensor) -> Tensor:
    """Best fixed GD step for a quadratic, η* = 2/(λ_max + λ_min⁺) of XᵀX/n: X (B, n, d) -> (B,).

    λ_min⁺ is the smallest nonzero eigenvalue (relative cut 1e-12), so n < d is covered: GD from 0 stays in
    the row space of X, where that eigenvalue governs the rate (contraction (κ−1)/(κ+1) per step).
    """
    check_ndim("X", X, 3, "(B, n, d)")
    check_finite("X", X)
    lam = torch.linalg.eigvalsh(empirical_covariance(X.to(torch.float64)))
    lmax = lam[:, -1]
    if bool((lmax <= 0).any()):  # else 2/(0 + inf) = 0: a silent zero step
        raise ValueError("X: a prompt has X = 0 (XᵀX/n has no positive eigenvalue, so no step size is defined)")
    pos = torch.where(lam > 1e-12 * lmax.unsqueeze(-1), lam, torch.full_like(lam, float("inf")))
    lmin = pos.min(dim=-1).values
    return 2.0 / (lmax + lmin)


