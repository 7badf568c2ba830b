"""GD++ (Ahn et al. 2023, Theorem 4) in sufficient statistics.

The L-layer linear transformer with P_ℓ = [[b_ℓ I, 0], [0, 1]] and Q_ℓ = [[q_ℓ Σ⁻¹, 0], [0, 0]] (the paper's
Theorem-4 family, prediction ŷ = −Z_L[d+1, n+1], attention mask M = diag(I_n, 0), eq. (2.2)) acts on a prompt
only through Ŝ = XᵀX/n and h = Xᵀy/n. One layer, written column by column (z_j = (x_j, y_j)):

    x_j ← T x_j,   T = I + b q Ŝ Σ⁻¹          (every column, queries included: the "++" input transform)
    y_j ← y_j + q hᵀ Σ⁻¹ x_j                   (the GD step on the label row)

so the statistics of the updated training columns are Ŝ' = T Ŝ Tᵀ and h' = T (I + q Ŝ Σ⁻¹) h, and the query's
label after L layers is linear in the original query, y_q = −uᵀ x_q with

    u = −Σ_ℓ q_ℓ G_ℓᵀ Σ⁻¹ h_ℓ,   G_0 = I, G_{ℓ+1} = T_ℓ G_ℓ.

This costs O(L d³) per prompt instead of O(L (n + m) d²) for the token stream. ``tests/theory`` checks it
against the token-level forward pass of :mod:`constructions.linear_attention` at float64 round-off.

**Spectral form.** Every matrix above is a polynomial in Ŝ Σ⁻¹ (Tᵀ Σ⁻¹ = Σ⁻¹ T, so Ŝ'Σ⁻¹ = T (ŜΣ⁻¹) T), so in
the eigenbasis V of the whitened C = Σ^{-1/2} Ŝ Σ^{-1/2} = V diag(λ) Vᵀ the layers act on each eigenvalue
separately. With ĥ = Vᵀ Σ^{-1/2} h and ŵ = Vᵀ Σ^{1/2} w⋆:

    λ ← (1 + bqλ)² λ,   ĥ ← (1 + bqλ)(1 + qλ) ĥ,   g ← (1 + bqλ) g  (g_0 = 1),   Vᵀ Σ^{1/2} u = −Σ_ℓ q_ℓ g_ℓ ĥ_ℓ,

and the query-integrated loss (u − w⋆)ᵀ Σ (u − w⋆) is ‖Vᵀ Σ^{1/2} u − ŵ‖². After one eigendecomposition per
prompt (:func:`gdpp_spectral_statistics`), a loss evaluation is O(L d) per prompt and elementwise, which makes
fitting Theorem 4's scalars by L-BFGS over 10⁵ prompts cheap (:func:`gdpp_spectral_losses`).

**The task vector integrated.** With noiseless labels h = Ŝ w⋆, so ĥ = λ ⊙ ŵ and every layer is linear in ŵ:
Vᵀ Σ^{1/2} u = r(λ) ⊙ ŵ for a polynomial r fixed by (q, b). Under Theorem 4's prior w⋆ ~ N(0, Σ⁻¹), ŵ ~ N(0, I)
independently of λ, so the loss averaged over w⋆ is Σ_i (1 − r(λ_i))² (:func:`gdpp_task_integrated_losses`),
and λ are the eigenvalues of a white Wishart matrix / n whatever Σ is: the population loss does not depend on
Σ. Integrating w⋆ exactly removes the χ² factor from the Monte-Carlo variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.algorithms.gd import empirical_covariance
from theory.algorithms.trajectory import Trajectory
from theory.prompts import PromptBatch
from theory.validation import check_finite, check_ndim, check_prompt, check_square

__all__ = ["gdpp_statistics", "gdpp_readout", "gdpp", "gdpp_spectral_statistics", "gdpp_spectral_losses",
           "gdpp_task_integrated_losses"]


def gdpp_statistics(prompt: PromptBatch) -> tuple[Tensor, Tensor]:
    """(Ŝ, h) = (XᵀX/n, Xᵀy/n) of a prompt batch in float64: (B, d, d), (B, d)."""
    check_prompt("prompt", prompt)
    X, y = prompt.X.to(torch.float64), prompt.y.to(torch.float64)
    return empirical_covariance(X), (X.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1) / X.shape[1]


def gdpp_readout(S: Tensor, h: Tensor, q: Tensor, b: Tensor, sigma_inv: Tensor) -> Tensor:
    """The read-out weights u_ℓ after ℓ = 0..L layers (prediction ŷ = u_ℓᵀ x_q), differentiable in q and b.

    Args:
        S: (B, d, d) Ŝ = XᵀX/n.  h: (B, d) Xᵀy/n.
        q: (L,) step scalars (q_ℓ < 0 is a descent step).  b: (L − 1,) or (L,) input-transform scalars (the last
            layer's b does not reach the prediction and is ignored).
        sigma_inv: (d, d) Σ⁻¹.

    Returns:
        (L + 1, B, d), u_0 = 0.
    """
    check_ndim("S", S, 3, "(B, d, d)")
    B, d, _ = S.shape
    if h.shape != (B, d):
        raise ValueError(f"h: expected shape (B, d) = {(B, d)} to match S, got {tuple(h.shape)}")
    check_ndim("q", q, 1, "(L,)")
    L = q.shape[0]
    if L < 1:
        raise ValueError("q: need at least one layer")
    check_ndim("b", b, 1, "(L - 1,) or (L,)")
    if b.shape[0] not in (L - 1, L):
        raise ValueError(f"b: expected {L - 1} or {L} entries for L = {L} layers, got {b.shape[0]}")
    check_square("sigma_inv", sigma_inv)
    if sigma_inv.shape[0] != d:
        raise ValueError(f"sigma_inv: expected ({d}, {d}) to match S, got {tuple(sigma_inv.shape)}")
    for name, t in (("S", S), ("h", h), ("q", q), ("b", b), ("sigma_inv", sigma_inv)):
        check_finite(name, t.detach())
    eye = torch.eye(d, dtype=S.dtype, device=S.device)
    G = eye.expand(B, d, d)
    u = S.new_zeros(B, d)
    out = [u]
    for ell in range(L):
        u = u - q[ell] * (G.transpose(1, 2) @ (h @ sigma_inv.T).unsqueeze(-1)).squeeze(-1)
        out.append(u)
        if ell == L - 1:
            break
        A = S @ sigma_inv  # Ŝ Σ⁻¹, (B, d, d)
        T = eye + b[ell] * q[ell] * A
        h = (T @ (h + q[ell] * (A @ h.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1)
        S = T @ S @ T.transpose(1, 2)
        G = T @ G
    return torch.stack(out)


def gdpp(prompt: PromptBatch, q: Tensor, b: Tensor, sigma_inv: Tensor) -> Trajectory:
    """GD++ read-out weights on a prompt batch in float64 (:func:`gdpp_readout`): iterates (L + 1, B, d)."""
    S, h = gdpp_statistics(prompt)
    q, b = q.to(torch.float64), b.to(torch.float64)
    u = gdpp_readout(S, h, q, b, sigma_inv.to(torch.float64))
    return Trajectory(u, {"algorithm": "gdpp", "steps": int(q.shape[0])})


def gdpp_spectral_statistics(S: Tensor, h: Tensor, w: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The spectral form's inputs (module docstring): λ (B, d) the eigenvalues of Σ^{-1/2} Ŝ Σ^{-1/2}, and ĥ, ŵ
    (B, d) in its eigenbasis. ``S`` (B, d, d), ``h`` (B, d) from :func:`gdpp_statistics`, ``w`` (B, d) the task
    vectors, ``sigma`` (d, d) SPD."""
    check_ndim("S", S, 3, "(B, d, d)")
    B, d, _ = S.shape
    for name, t in (("h", h), ("w", w)):
        if t.shape != (B, d):
            raise ValueError(f"{name}: expected shape (B, d) = {(B, d)} to match S, got {tuple(t.shape)}")
    check_square("sigma", sigma)
    if sigma.shape[0] != d:
        raise ValueError(f"sigma: expected ({d}, {d}) to match S, got {tuple(sigma.shape)}")
    evals, evecs = torch.linalg.eigh(sigma.to(torch.float64))
    if not bool(evals.min() > 0):
        raise ValueError(f"sigma: must be symmetric positive definite, smallest eigenvalue {float(evals.min()):.3g}")
    root = evecs @ torch.diag(evals.sqrt()) @ evecs.T
    inv_root = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    lam, V = torch.linalg.eigh(inv_root @ S.to(torch.float64) @ inv_root)
    Vt = V.transpose(1, 2)
    h_hat = (Vt @ (h.to(torch.float64) @ inv_root).unsqueeze(-1)).squeeze(-1)
    w_hat = (Vt @ (w.to(torch.float64) @ root).unsqueeze(-1)).squeeze(-1)
    return lam, h_hat, w_hat


def gdpp_spectral_losses(lam: Tensor, h_hat: Tensor, w_hat: Tensor, q: Tensor, b: Tensor) -> Tensor:
    """Per-prompt query-integrated losses (B,) of GD++ with scalars q (L,) and b (L − 1,) or (L,), from
    :func:`gdpp_spectral_statistics`; differentiable in q and b. Equal to (u_L − w⋆)ᵀ Σ (u_L − w⋆) of
    :func:`gdpp_readout` at round-off (tests/theory)."""
    L = q.shape[0]
    if q.ndim != 1 or L < 1:
        raise ValueError(f"q: expected shape (L,) with L >= 1, got {tuple(q.shape)}")
    if b.ndim != 1 or b.shape[0] not in (L - 1, L):
        raise ValueError(f"b: expected {L - 1} or {L} entries for L = {L} layers, got shape {tuple(b.shape)}")
    g = torch.ones_like(lam)
    u = torch.zeros_like(lam)
    for ell in range(L):
        u = u - q[ell] * g * h_hat
        if ell == L - 1:
            break
        t = 1 + b[ell] * q[ell] * lam
        h_hat = t * (1 + q[ell] * lam) * h_hat
        g = t * g
        lam = t * t * lam
    return ((u - w_hat) ** 2).sum(-1)


def gdpp_task_integrated_losses(lam: Tensor, q: Tensor, b: Tensor) -> Tensor:
    """Per-prompt losses (B,) averaged exactly over x_q ~ N(0, Σ) and w⋆ ~ N(0, Σ⁻¹) with noiseless labels
    (module docstring): Σ_i (1 − r(λ_i))², from the eigenvalues λ (B, d) of Σ^{-1/2} Ŝ Σ^{-1/2}; q (L,), b (L − 1,)
    or (L,). Differentiable in q and b."""
    check_ndim("lam", lam, 2, "(B, d)")
    return gdpp_spectral_losses(lam, lam, torch.ones_like(lam), q, b)
