"""The power method with deflation exactly as the he25 construction emulates it (He et al. 2025, §3).

For eigenvector i = 1..k on the current matrix S = S^{(i)} (S^{(1)} = Σ̂), from the unit seed p̂_i:

    v_0 = p̂_i;   for t = 1..τ:  w = S v_{t−1},  s = ‖w‖²,  c = ν(s),  v_t = c·w
    w_τ = S v_τ,  λ̂_i = v_τᵀ w_τ  (no 1/v_τᵀv_τ factor),   S^{(i+1)} = S − w_τ v_τᵀ = S (I − v_τ v_τᵀ)

ν is the normaliser: exactly s^(−1/2) (``normaliser=None``) or any approximation (e.g. the ReLU sum of
:mod:`theory.relu_approx`). **Derived (not from the paper)**: deflation is the one-sided *right* projection
S(I − vvᵀ), the form one ReLU head pair computes on a column-per-token layout (the paper's form is not
known). For a unit eigenvector v it equals the two-sided projection and Hotelling deflation; with
‖v‖ = 1 + η it leaves the eigenvalue λ(1 − ‖v‖²) ≈ −2ηλ on the extracted direction.

:func:`theory.algorithms.power.top_k_eig` is the textbook variant (two-sided projection, unit v).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from theory.validation import check_finite, check_positive_int, check_symmetric

__all__ = ["PowerDeflationRun", "power_deflation", "right_deflate"]

Normaliser = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class PowerDeflationRun:
    """Every intermediate of :func:`power_deflation`.

    Attributes:
        v: (k, τ+1, B, d) iterates (v[i, 0] = unit seed). w: (k, τ+1, B, d), w[i, t] = S^{(i)} v[i, t].
        s: (k, τ, B) squared norms ‖w[i, t−1]‖², c: (k, τ, B) normaliser outputs.
        lam: (k, B) uncorrected Rayleigh values v_τᵀ S^{(i)} v_τ. mats: (k+1, B, d, d) S^{(1)} … S^{(k+1)}.
    """

    v: Tensor
    w: Tensor
    s: Tensor
    c: Tensor
    lam: Tensor
    mats: Tensor

    @property
    def vectors(self) -> Tensor:
        """(B, k, d) final iterates v_τ (norm 1 + η with an inexact normaliser)."""
        return self.v[:, -1].transpose(0, 1)

    @property
    def lam_corrected(self) -> Tensor:
        """(B, k) Rayleigh quotients with the 1/vᵀv factor."""
        vt = self.v[:, -1]
        return (self.lam / (vt * vt).sum(-1)).transpose(0, 1)


def right_deflate(S: Tensor, v: Tensor) -> Tensor:
    """S (I − v vᵀ) for the *given* (not renormalised) v: (B, d, d), (B, d) -> (B, d, d)."""
    return S - (S @ v.unsqueeze(-1)) * v.unsqueeze(-2)


def power_deflation(S: Tensor, seeds: Tensor, steps: int, normaliser: Normaliser | None = None) -> PowerDeflationRun:
    """Run the emulated algorithm (module docstring).

    Args:
        S: (B, d, d) symmetric matrices (Σ̂). seeds: (B, k, d), normalised here. steps: τ ≥ 1 per vector.
        normaliser: s ↦ c (elementwise on (B,)); None means the exact s^(−1/2).

    Returns:
        :class:`PowerDeflationRun`.
    """
    if S.ndim != 3 or S.shape[-1] != S.shape[-2]:
        raise ValueError(f"S: expected shape (B, d, d), got {tuple(S.shape)}")
    check_symmetric("S", S)  # the deflation identities (module docstring) hold for symmetric Σ̂ only
    if seeds.ndim != 3 or seeds.shape[0] != S.shape[0] or seeds.shape[2] != S.shape[1]:
        raise ValueError(f"seeds: expected shape (B, k, d) with B, d = {tuple(S.shape[:2])}, got {tuple(seeds.shape)}")
    check_finite("seeds", seeds)
    check_positive_int("steps", steps)
    if normaliser is not None and not callable(normaliser):
        raise ValueError(f"normaliser: expected a callable s -> c or None, got {type(normaliser).__name__}")
    k = seeds.shape[1]
    if not 1 <= k <= S.shape[-1]:
        raise ValueError(f"seeds: need 1 <= k <= d = {S.shape[-1]} seeds per prompt, got k = {k}")
    nrm = torch.linalg.vector_norm(seeds, dim=-1, keepdim=True)
    if bool((nrm == 0).any()):
        raise ValueError("seeds: contains a zero seed vector")
    p = seeds.to(torch.float64) / nrm.to(torch.float64)
    nu: Normaliser = normaliser if normaliser is not None else torch.rsqrt
    cur = S.to(torch.float64)
    vs, ws, ss, cs, lams, mats = [], [], [], [], [], [cur]
    for i in range(k):
        v = p[:, i]
        v_i, w_i, s_i, c_i = [v], [], [], []
        for _ in range(steps):
            w = (cur @ v.unsqueeze(-1)).squeeze(-1)
            s = (w * w).sum(-1)
            c = nu(s)
            v = c.unsqueeze(-1) * w
            w_i.append(w)
            s_i.append(s)
            c_i.append(c)
            v_i.append(v)
        w = (cur @ v.unsqueeze(-1)).squeeze(-1)
        w_i.append(w)
        lams.append((v * w).sum(-1))
        cur = cur - w.unsqueeze(-1) * v.unsqueeze(-2)  # S(I − vvᵀ) = S − (Sv)vᵀ
        mats.append(cur)
        vs.append(torch.stack(v_i))
        ws.append(torch.stack(w_i))
        ss.append(torch.stack(s_i))
        cs.append(torch.stack(c_i))
    return PowerDeflationRun(
        torch.stack(vs), torch.stack(ws), torch.stack(ss), torch.stack(cs), torch.stack(lams), torch.stack(mats)
    )
