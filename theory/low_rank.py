"""The low-rank approximation (LoRA) objective of NeuralSVD in closed form (ryu24, Sec. 3).

For a matrix ``T`` (m, n) and L pairs of vectors stacked as ``F`` (m, L), ``G`` (n, L) (Euclidean inner
products), the LoRA objective is (ryu24 Sec. 3, fact sheet §1)

    L(F, G) = −2 Σ_l ⟨f_l, T g_l⟩ + Σ_{l,l'} ⟨f_l, f_l'⟩⟨g_l, g_l'⟩ = ‖T − F Gᵀ‖²_F − ‖T‖²_F,

whose minimum over rank-L products is −Σ_{i≤L} σ_i² (Eckart–Young). Alone it fixes only ``F Gᵀ``:
``(F A, G A⁻ᵀ)`` has the same value for any invertible ``A`` (:func:`gauge_transform`).

Joint nesting (ryu24 Sec. 3, fact sheet §1) minimises ``Σ_k α_k L(F[:, :k], G[:, :k])``. Written with the masks
``m_l = Σ_{k≥l} α_k`` and ``P_{ll'} = m_{max(l,l')}`` this is
``−2 Σ_l m_l ⟨f_l, T g_l⟩ + Σ_{l,l'} P_{ll'} ⟨f_l, f_l'⟩⟨g_l, g_l'⟩``.

Why the truncated SVD is the global optimum (proof used by the checks): each term
``L(F[:, :k], G[:, :k])`` is bounded below by ``−Σ_{i≤k} σ_i²`` (Eckart–Young for rank k), and
``F = U_L diag(√σ)``, ``G = V_L diag(√σ)`` attains every bound *at once*, so it minimises every positive
combination of them. With distinct σ_1 > … > σ_{L+1}, k = 1 forces ``f_1 g_1ᵀ = σ_1 u_1 v_1ᵀ``; given that,
k = 2 forces ``f_2 g_2ᵀ = σ_2 u_2 v_2ᵀ``, and so on: the optimum is unique up to the scale split
``f_l → c f_l, g_l → g_l / c``, and ordered.

Sequential nesting (ryu24, Sec. 3.2) lets pair l follow the gradient of ``L(F[:, :l], G[:, :l])`` with
earlier pairs fixed: ``∂_{f_l} = −2 T g_l + 2 Σ_{i≤l} f_i ⟨g_i, g_l⟩`` (and symmetrically for g_l);
:func:`sequential_gradient` is that vector field, zero at the truncated SVD.

All functions here are float64 closed forms used as ground truth by the tests and claims.
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.validation import check_finite, check_ndim, check_positive_int

__all__ = [
    "nesting_weights",
    "nesting_masks",
    "lora_objective",
    "nested_lora_objective",
    "sequential_gradient",
    "nested_lora_gradient",
    "truncated_svd_optimum",
    "nested_optimum_value",
    "gauge_transform",
    "principal_angle_sines",
    "matrix_with_spectrum",
    "spectral_factors",
]


def nesting_weights(L: int, kind: str = "uniform") -> Tensor:
    """The weights α_1..α_L of joint nesting; the paper's default is uniform α_l = 1/L."""
    check_positive_int("L", L)
    if kind != "uniform":
        raise ValueError(f"kind: only 'uniform' nesting weights are defined, got {kind!r}")
    return torch.full((L,), 1.0 / L, dtype=torch.float64)


def nesting_masks(alpha: Tensor) -> tuple[Tensor, Tensor]:
    """Masks of joint nesting: ``m_l = Σ_{k≥l} α_k`` (L,) and ``P_{ll'} = m_{max(l,l')}`` (L, L).

    Raises:
        ValueError: ``alpha`` not a 1-D tensor of positive finite weights.
    """
    check_ndim("alpha", alpha, 1, "(L,)")
    check_finite("alpha", alpha)
    if bool((alpha <= 0).any()):
        raise ValueError("alpha: nesting weights must be positive")
    m = torch.flip(torch.cumsum(torch.flip(alpha, [0]), 0), [0])
    idx = torch.arange(alpha.shape[0])
    P = m[torch.maximum(idx[:, None], idx[None, :])]
    return m, P


def _check_factors(T: Tensor, F: Tensor, G: Tensor) -> None:
    check_ndim("T", T, 2, "(m, n)")
    check_ndim("F", F, 2, "(m, L)")
    check_ndim("G", G, 2, "(n, L)")
    for name, t in (("T", T), ("F", F), ("G", G)):
        check_finite(name, t)
    if F.shape[0] != T.shape[0] or G.shape[0] != T.shape[1] or F.shape[1] != G.shape[1]:
        raise ValueError(f"F/G: shapes {tuple(F.shape)}, {tuple(G.shape)} do not fit T {tuple(T.shape)}")


def lora_objective(T: Tensor, F: Tensor, G: Tensor) -> Tensor:
    """ryu24 Sec. 3: ``−2 tr(Fᵀ T G) + tr((FᵀF)(GᵀG))``. Shapes T (m, n), F (m, L), G (n, L) -> scalar."""
    _check_factors(T, F, G)
    return -2 * torch.einsum("il,ij,jl->", F, T, G) + ((F.T @ F) * (G.T @ G)).sum()


def nested_lora_objective(T: Tensor, F: Tensor, G: Tensor, alpha: Tensor | None = None) -> Tensor:
    """Joint nesting, ryu24 Sec. 3: ``Σ_k α_k L(F[:, :k], G[:, :k])`` via the masks (one pass)."""
    _check_factors(T, F, G)
    alpha = nesting_weights(F.shape[1]).to(F) if alpha is None else alpha
    if alpha.shape != (F.shape[1],):
        raise ValueError(f"alpha: expected shape ({F.shape[1]},), got {tuple(alpha.shape)}")
    m, P = nesting_masks(alpha)
    cross = torch.einsum("il,ij,jl->l", F, T, G)
    return -2 * (m * cross).sum() + (P * (F.T @ F) * (G.T @ G)).sum()


def nested_lora_gradient(T: Tensor, F: Tensor, G: Tensor, alpha: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Closed-form gradient of :func:`nested_lora_objective`, shapes (m, L) and (n, L):
    ``∂F = −2 T G diag(m) + 2 F ((GᵀG) ⊙ P)``, ``∂G = −2 Tᵀ F diag(m) + 2 G ((FᵀF) ⊙ P)``."""
    _check_factors(T, F, G)
    alpha = nesting_weights(F.shape[1]).to(F) if alpha is None else alpha
    m, P = nesting_masks(alpha)
    return -2 * (T @ G) * m + 2 * F @ ((G.T @ G) * P), -2 * (T.T @ F) * m + 2 * G @ ((F.T @ F) * P)


def sequential_gradient(T: Tensor, F: Tensor, G: Tensor) -> tuple[Tensor, Tensor]:
    """The vector field of sequential nesting (ryu24 Sec. 3.2), shapes (m, L) and (n, L).

    Column l is the gradient of ``L(F[:, :l+1], G[:, :l+1])`` with respect to ``f_l`` (resp. ``g_l``)
    alone: ``−2 T g_l + 2 Σ_{i≤l} f_i ⟨g_i, g_l⟩`` and ``−2 Tᵀ f_l + 2 Σ_{i≤l} g_i ⟨f_i, f_l⟩``.
    """
    _check_factors(T, F, G)
    upper = torch.triu(torch.ones(F.shape[1], F.shape[1], dtype=F.dtype))  # i ≤ l
    dF = -2 * T @ G + 2 * F @ ((G.T @ G) * upper)
    dG = -2 * T.T @ F + 2 * G @ ((F.T @ F) * upper)
    return dF, dG


def truncated_svd_optimum(T: Tensor, L: int) -> tuple[Tensor, Tensor, Tensor]:
    """``F = U_L diag(√σ)``, ``G = V_L diag(√σ)`` and σ_1..σ_L (the balanced scale split)."""
    check_ndim("T", T, 2, "(m, n)")
    check_finite("T", T)
    check_positive_int("L", L)
    if L > min(T.shape):
        raise ValueError(f"L: {L} modes requested but T has rank at most {min(T.shape)}")
    U, S, Vh = torch.linalg.svd(T, full_matrices=False)
    r = S[:L].sqrt()
    return U[:, :L] * r, Vh[:L].T * r, S[:L]


def nested_optimum_value(sigma: Tensor, alpha: Tensor | None = None) -> Tensor:
    """Minimum of the jointly nested objective: ``−Σ_k α_k Σ_{i≤k} σ_i²`` (Eckart–Young per term)."""
    check_ndim("sigma", sigma, 1, "(L,)")
    alpha = nesting_weights(sigma.shape[0]).to(sigma) if alpha is None else alpha
    return -(alpha * torch.cumsum(sigma**2, 0)).sum()


def gauge_transform(F: Tensor, G: Tensor, A: Tensor) -> tuple[Tensor, Tensor]:
    """``(F A, G A⁻ᵀ)``: leaves ``F Gᵀ`` and hence the un-nested objective unchanged."""
    check_ndim("A", A, 2, "(L, L)")
    if A.shape != (F.shape[1], F.shape[1]):
        raise ValueError(f"A: expected ({F.shape[1]}, {F.shape[1]}), got {tuple(A.shape)}")
    check_finite("A", A)
    if torch.linalg.matrix_rank(A.detach().to(torch.float64)) < A.shape[0]:
        raise ValueError("A: singular; the gauge transform needs an invertible A")
    return F @ A, G @ torch.linalg.inv(A).T


def principal_angle_sines(X: Tensor, Y: Tensor) -> Tensor:
    """Sines of the principal angles between span(X) and span(Y) (columns), ascending in angle.

    Shapes X (m, k), Y (m, k). 0 means the subspaces coincide.
    """
    check_ndim("X", X, 2, "(m, k)")
    check_ndim("Y", Y, 2, "(m, k)")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"Y: expected {X.shape[0]} rows like X, got {Y.shape[0]}")
    Qx, _ = torch.linalg.qr(X)
    Qy, _ = torch.linalg.qr(Y)
    cos = torch.linalg.svdvals(Qx.T @ Qy).clamp(max=1.0)  # descending, so the sines ascend
    return torch.sqrt(1 - cos**2)


def spectral_factors(m: int, n: int, sigma: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Haar-random orthonormal U (m, r) and V (n, r) for r = len(σ): the singular vectors of
    :func:`matrix_with_spectrum` (same generator stream), known by construction, so a check can compare a
    learned or computed SVD with them without any SVD routine.

    Raises:
        ValueError: more singular values than ``min(m, n)``, or σ not non-negative and finite.
    """
    check_positive_int("m", m)
    check_positive_int("n", n)
    check_ndim("sigma", sigma, 1, "(r,)")
    check_finite("sigma", sigma)
    if sigma.shape[0] > min(m, n) or bool((sigma < 0).any()):
        raise ValueError(f"sigma: need at most min(m, n) = {min(m, n)} non-negative values, got {sigma.tolist()}")
    r = sigma.shape[0]

    def haar(k: int) -> Tensor:
        Q, R = torch.linalg.qr(torch.randn(k, r, generator=generator, dtype=torch.float64))
        return Q * torch.sign(torch.diagonal(R))  # sign fix makes Q Haar-distributed

    return haar(m), haar(n)


def matrix_with_spectrum(m: int, n: int, sigma: Tensor, generator: torch.Generator) -> Tensor:
    """A random (m, n) matrix ``U diag(σ) Vᵀ`` with the Haar-random U, V of :func:`spectral_factors`.

    Raises:
        ValueError: as :func:`spectral_factors`.
    """
    U, V = spectral_factors(m, n, sigma, generator)
    return (U * sigma.to(torch.float64)) @ V.T
