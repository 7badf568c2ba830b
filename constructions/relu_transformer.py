"""The transformer class of He et al. (2025) / Bai et al. (2023, arXiv 2306.04637) in the one representation.

Hidden states H = [h_1 … h_N] ∈ R^{D×N} (tokens as columns; batched (B, D, N)); σ = ReLU; residual
everywhere; no LayerNorm:

    attention:  h_i ← h_i + Σ_m (1/N) Σ_j σ(⟨Q_m h_i, K_m h_j⟩) V_m h_j
    MLP:        h_i ← h_i + W_2 σ(W_1 h_i)          (bias through the constant coordinate "one")

Programs are :class:`constructions.residual.Transformer` s of ``relu`` heads with ``divide_by="keys"`` (the 1/N),
``signed_pair`` heads (Q, K, V), (−Q, K, −V), which together equal one linear-attention head because
σ(t) − σ(−t) = t exactly (also in floating point: one of the two terms is exactly 0), ReLU MLPs, and — in the
exact normalisation mode of the he25 construction only — an :class:`~constructions.residual.Oracle` map stated as
such. This module holds the he25 helpers over that representation; it defines no model class of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from constructions.evaluate import Mode, head_delta, run_layers
from constructions.residual import MLP, Head, Layer, copy_mlp, selector, signed_pair

__all__ = ["MLP", "relu_head", "linear_head_pair", "relu_attention", "forward", "selector", "copy_mlp"]


def relu_head(Q: Tensor, K: Tensor, V: Tensor, name: str = "") -> Head:
    """One ReLU head normalised by the token count: (1/N) Σ_j σ(⟨Q h_i, K h_j⟩) V h_j."""
    return Head("relu", Q, K, V, divide_by="keys", name=name)


def linear_head_pair(Q: Tensor, K: Tensor, V: Tensor, name: str = "") -> tuple[Head]:
    """Heads (Q, K, V) and (−Q, K, −V), as one ``signed_pair``: together (1/N) Σ_j ⟨Q h_i, K h_j⟩ V h_j exactly."""
    return (signed_pair(Q, K, V, name, divide_by="keys"),)


def relu_attention(H: Tensor, heads: Sequence[Head]) -> Tensor:
    """H + Σ_heads Δ for H (B, D, N), each head as written (literal: its ReLU heads' (N, N) score matrices)."""
    return H + sum((head_delta(H, h, "literal") for h in heads), H.new_zeros(()))


def forward(H0: Tensor, layers: Sequence[Layer], record: Callable[[Tensor], object] | None = None,
            mode: Mode = "fast") -> tuple[Tensor, list[object]]:
    """Run the layers on H0 (B, D, N); returns the final stream and ``record(H)`` after every layer (index 0 = H0)."""
    states = run_layers(layers, H0, mode)
    return states[-1], [record(H) if record is not None else None for H in states]
