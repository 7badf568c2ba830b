"""The NeuralSVD objective on minibatch estimates (ryu24, Sec. 3 and App. C), and the NeuralEF baseline.

An operator (see :mod:`empirical.papers.ryu24.neuralsvd.operators`) turns a model and a batch into :class:`Moments`:

* ``cross`` (L,): an unbiased estimate of ``⟨f_l, T g_l⟩`` whose autograd gradient is an unbiased estimate
  of the true gradient;
* ``f_a, f_b`` (B_a, L), (B_b, L) and ``g_a, g_b``: function values on two *independent* half-batches,
  scaled so that ``mean(f_a[:, l] f_a[:, l'])`` estimates ``⟨f_l, f_l'⟩`` (for the EVD form g is f).

The quadratic term ``⟨f_l, f_l'⟩⟨g_l, g_l'⟩`` is estimated by a product of moments from *different*
halves, ``½(F_a ⊙ G_b + F_b ⊙ G_a)``; a product of independent unbiased estimates is unbiased (ryu24,
Sec. 3.3), whereas one half for both factors would add the covariance of the two estimates.

Nesting (``nesting``):

* ``"joint"`` — ryu24 Sec. 3: ``−2 Σ_l m_l c_l + Σ_{l,l'} P_{ll'} Q_{ll'}`` with the masks of
  :func:`theory.low_rank.nesting_masks` (default α_l = 1/L).
* ``"sequential"`` — ryu24 Sec. 3.2: each pair follows the gradient of ``L(f_{1:l}, g_{1:l})`` with earlier
  pairs fixed, ``∂f_l = −2 T g_l + 2 Σ_{i≤l} f_i ⟨g_i, g_l⟩``. The paper's code writes this backward by
  hand; here a surrogate with partially stop-gradiented second moments, ``2 Σ_{i≤l} ⟨f_l, sg f_i⟩⟨g_l,
  sg g_i⟩``, gives exactly that gradient under plain autograd (checked against
  :func:`theory.low_rank.sequential_gradient` in the tests). Its forward value is replaced by the
  un-nested LoRA value so that the logged loss stays interpretable.
* ``"none"`` — the un-nested LoRA objective, ryu24 Sec. 3.

The same formulas serve the EVD form (g = f): the gradient doubles consistently in both terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from theory.low_rank import nesting_masks, nesting_weights

__all__ = ["Moments", "Nesting", "NESTINGS", "lora_loss", "neuralef_loss", "second_moment"]

Nesting = Literal["joint", "sequential", "none"]
NESTINGS = ("joint", "sequential", "none")


@dataclass
class Moments:
    """Batch estimates the objective needs (see the module docstring for the scaling convention)."""

    cross: Tensor
    f_a: Tensor
    f_b: Tensor
    g_a: Tensor
    g_b: Tensor


def second_moment(X: Tensor, Y: Tensor | None = None) -> Tensor:
    """``(1/B) Xᵀ Y`` for X, Y (B, L) -> (L, L); Y = X when omitted."""
    return X.T @ (X if Y is None else Y) / X.shape[0]


def _check(m: Moments) -> int:
    L = m.cross.shape[-1]
    for name in ("f_a", "f_b", "g_a", "g_b"):
        t = getattr(m, name)
        if t.ndim != 2 or t.shape[1] != L:
            raise ValueError(f"moments.{name}: expected (B, {L}), got {tuple(t.shape)}")
    return L


def _quadratic(Fa: Tensor, Fb: Tensor, Ga: Tensor, Gb: Tensor) -> Tensor:
    """½(F_a ⊙ G_b + F_b ⊙ G_a): unbiased for ⟨f_l, f_l'⟩⟨g_l, g_l'⟩ (independent halves)."""
    return 0.5 * (Fa * Gb + Fb * Ga)


def lora_loss(m: Moments, nesting: Nesting = "sequential", alpha: Tensor | None = None) -> Tensor:
    """The (nested) LoRA objective estimated from ``m``; a scalar whose gradient is the method's update.

    Raises:
        ValueError: unknown ``nesting`` or inconsistent moment shapes.
    """
    if nesting not in NESTINGS:
        raise ValueError(f"nesting: expected one of {NESTINGS}, got {nesting!r}")
    L = _check(m)
    Q = _quadratic(second_moment(m.f_a), second_moment(m.f_b), second_moment(m.g_a), second_moment(m.g_b))
    plain = -2 * m.cross.sum() + Q.sum()
    if nesting == "none":
        return plain
    if nesting == "joint":
        a = nesting_weights(L).to(m.cross) if alpha is None else alpha.to(m.cross)
        mvec, P = nesting_masks(a.detach().double())
        return -2 * (mvec.to(m.cross) * m.cross).sum() + (P.to(m.cross) * Q).sum()
    # sequential: row l, column i of the mixed moment is ⟨f_l, sg f_i⟩; keep i ≤ l (lower triangle).
    mixed = _quadratic(
        second_moment(m.f_a, m.f_a.detach()),
        second_moment(m.f_b, m.f_b.detach()),
        second_moment(m.g_a, m.g_a.detach()),
        second_moment(m.g_b, m.g_b.detach()),
    )
    lower = torch.tril(torch.ones(L, L, dtype=mixed.dtype, device=mixed.device))
    surrogate = -2 * m.cross.sum() + 2 * (lower * mixed).sum()
    return plain.detach() + surrogate - surrogate.detach()


def neuralef_loss(F: Tensor, TF: Tensor) -> Tensor:
    """NeuralEF (Deng et al., ICML 2022), the baseline of ryu24 Sec. 5, for a self-adjoint T.

    Each function is normalised on the batch, ``ψ̂_l = ψ_l / ‖ψ_l‖_batch``, and follows the gradient of
    ``R_ll − Σ_{j<l} R_jl² / R_jj`` with earlier functions held fixed, where ``R_jl = ⟨ψ̂_j, T ψ̂_l⟩``.

    Args:
        F: (B, L) function values scaled so that ``mean(F_l F_l')`` estimates ``⟨ψ_l, ψ_l'⟩``.
        TF: (B, L) the operator applied, on the same scale (treated as constant: T ψ is never
            differentiated, so ``∇R_ll = 2 T ψ̂_l`` is obtained from ``M_ll = ⟨ψ̂_l, sg(T ψ̂_l)⟩``).
    Returns:
        a scalar to minimise (its value is ``Σ_l (−R_ll + Σ_{j<l} R_jl²/R_jj)``).
    """
    if F.shape != TF.shape or F.ndim != 2:
        raise ValueError(f"TF: expected the shape of F (B, L) {tuple(F.shape)}, got {tuple(TF.shape)}")
    norm = F.pow(2).mean(0).sqrt()
    Fh = F / norm
    TFh = (TF / norm).detach()
    M = Fh.T @ TFh / F.shape[0]  # M[l, j] = ⟨ψ̂_l, sg T ψ̂_j⟩ (= R_lj by self-adjointness)
    diag = torch.diagonal(M)
    strict_lower = torch.tril(torch.ones_like(M), -1)
    penalty = (strict_lower * M.pow(2) / diag.detach()[None, :]).sum()
    surrogate = -2 * diag.sum() + penalty
    value = (-diag.sum() + penalty).detach()
    return value + surrogate - surrogate.detach()
