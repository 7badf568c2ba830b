"""Linear self-attention (LSA) of Ahn et al. (2023), eq. (2.2): the forward rule shared by the
constructions and the trainable model in :mod:`empirical.models.lsa`.

Tokens are columns: Z ∈ R^{(d+1)×(n+m)}; the last m columns are queries.

    Z_{ℓ+1} = Z_ℓ + (1/n) P_ℓ Z_ℓ M (Z_ℓᵀ Q_ℓ Z_ℓ),   M = diag(I_n, 0_m)

M hides the queries as keys/values, so queries never influence anything but themselves.
Prediction for query j: ŷ_j = −[Z_L]_{d+1, n+j}  (the read-out sign of the paper).

In the one representation (:mod:`constructions.residual`) the layer is a ``linear`` head with W_Q = Q, W_K = I,
W_V = P over the first n tokens as keys, divided by n (:func:`lsa_transformer`): the score of key s for query t
is ⟨Q z_t, z_s⟩ = z_sᵀ Q z_t, the entry (ZᵀQZ)_{st}. :func:`lsa_forward` is the rule as the trainable model
(:mod:`empirical.models.lsa`) runs it, any dtype and differentiable; constructions run through
:func:`constructions.evaluate.evaluate` (the tests check that the two agree).
"""

from __future__ import annotations

import torch
from torch import Tensor

from constructions.residual import Head, Layer, Layout, Transformer

__all__ = ["lsa_layer", "lsa_forward", "read_predictions", "lsa_layout", "lsa_head_layer", "lsa_transformer"]


def lsa_layer(Z: Tensor, P: Tensor, Q: Tensor, n: int) -> Tensor:
    """One LSA layer with residual.

    Args:
        Z: (B, D, T) residual stream, tokens as columns, the first ``n`` are the context.
        P, Q: (D, D) or (B, D, D).
        n: number of context tokens (keys/values); the normalisation is 1/n.

    Returns:
        (B, D, T)
    """
    Zc = Z[..., :n]  # keys/values: M zeroes the query columns
    # P Zc (Zcᵀ Q Z) = P (Zc Zcᵀ) Q Z: associating through the D×D Gram matrix avoids the n×T score matrix
    # (same result to round-off; 3–15× faster at the sizes the benchmarks time).
    gram = Zc @ Zc.transpose(-1, -2)  # (B, D, D)
    return Z + (P @ gram @ Q @ Z) / n


def lsa_forward(Z0: Tensor, P: Tensor, Q: Tensor, n: int) -> Tensor:
    """Stack of LSA layers.

    Args:
        Z0: (B, D, T). P, Q: (L, D, D). n: context length.

    Returns:
        resid: (L+1, B, D, T); resid[ℓ] is the stream after ℓ layers ("blocks.{ℓ-1}.hook_resid_post").
    """
    if P.shape != Q.shape or P.ndim != 3:
        raise ValueError(f"P, Q: expected matching shapes (L, D, D), got {tuple(P.shape)} and {tuple(Q.shape)}")
    if P.shape[-1] != Z0.shape[1]:
        raise ValueError(f"P: width {P.shape[-1]} does not match the embedding's D = {Z0.shape[1]}")
    out = [Z0]
    Z = Z0
    for ell in range(P.shape[0]):
        Z = lsa_layer(Z, P[ell], Q[ell], n)
        out.append(Z)
    return torch.stack(out)


def read_predictions(Z: Tensor, n: int) -> Tensor:
    """ŷ for the query columns: Z (..., D, T) -> (..., T − n), ŷ = −Z[label row, queries]."""
    return -Z[..., -1, n:]


def lsa_layout(d: int) -> Layout:
    """The stacked token of Ahn et al.: x (d rows), then the label y (1 row); D = d + 1."""
    return Layout([("x", d), ("y", 1)])


def lsa_head_layer(P: Tensor, Q: Tensor, n: int, name: str = "") -> Layer:
    """One LSA layer as a program layer: a ``linear`` head W_Q = Q, W_K = I, W_V = P over the n context tokens,
    divided by n (M = diag(I_n, 0): queries are never keys). P, Q: (D, D)."""
    I = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    return Layer(name, (Head("linear", Q, I, P, keys=n, divide_by="keys", name=name),))


def lsa_transformer(P: Tensor, Q: Tensor, n: int, name: str = "lsa") -> Transformer:
    """The LSA with weights P, Q (L, D, D) for n context tokens as a :class:`constructions.residual.Transformer`."""
    if P.shape != Q.shape or P.ndim != 3:
        raise ValueError(f"P, Q: expected matching shapes (L, D, D), got {tuple(P.shape)} and {tuple(Q.shape)}")
    layers = tuple(lsa_head_layer(P[i], Q[i], n, f"lsa[{i}]") for i in range(P.shape[0]))
    return Transformer(lsa_layout(P.shape[-1] - 1), layers, name, {"n": n})
