"""A small encoder of the Bai et al. (2023) / He et al. (2025) class: ReLU attention normalised by N.

Per block (pre-LN, as in the experiments of the precursor as summarised by its reviews; the theory has
no LayerNorm):

    h_i ← h_i + W_O concat_m (1/N) Σ_j σ(⟨q_m(h̄_i), k_m(h̄_j)⟩/√d_h) v_m(h̄_j),   h̄ = LN(h)
    h_i ← h_i + W_2 σ(W_1 LN(h_i))

Tokens are the N data points x_j ∈ R^d (embedded linearly, no positions: the tasks are permutation
equivariant). Read-outs: ``pooled`` (mean over tokens → linear, e.g. k eigenvectors + k eigenvalues) and
``token`` (one linear read-out per token, e.g. a cluster logit). ``forward(..., return_hidden=True)``
also returns the residual stream after the embedding and after every block, (L+1, B, N, E)
("blocks.{ℓ}.hook_resid_post").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ReLUEncoder", "relu_attention_scores"]


def relu_attention_scores(q: Tensor, k: Tensor, n_tokens: int) -> Tensor:
    """σ(q kᵀ/√d_h)/N: q, k (B, H, N, d_h) -> (B, H, N, N)."""
    return torch.relu(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5) / n_tokens


class _Block(nn.Module):
    def __init__(self, E: int, H: int, mlp_mult: int, device: torch.device | str | None, dtype: torch.dtype) -> None:
        super().__init__()
        if E % H:
            raise ValueError(f"n_heads: E = {E} is not divisible by H = {H}")
        kw = {"device": device, "dtype": dtype}
        self.H = H
        self.ln1 = nn.LayerNorm(E, **kw)
        self.qkv = nn.Linear(E, 3 * E, **kw)
        self.out = nn.Linear(E, E, **kw)
        self.ln2 = nn.LayerNorm(E, **kw)
        self.mlp = nn.Sequential(nn.Linear(E, mlp_mult * E, **kw), nn.ReLU(), nn.Linear(mlp_mult * E, E, **kw))

    def forward(self, h: Tensor) -> Tensor:
        B, N, E = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, N, 3, self.H, E // self.H).permute(2, 0, 3, 1, 4)
        att = relu_attention_scores(q, k, N) @ v  # (B, H, N, d_h)
        h = h + self.out(att.transpose(1, 2).reshape(B, N, E))
        return h + self.mlp(self.ln2(h))


class ReLUEncoder(nn.Module):
    """Embedding → L blocks → final LN → pooled and per-token linear read-outs.

    Args:
        d_in: token dimension d. E: width. n_layers: L. n_heads: H. mlp_mult: MLP width / E.
        pooled_out: size of the pooled read-out (0: none). token_out: per-token outputs (0: none).
        device, dtype: where the parameters live (never ``.cuda()`` inside).
    """

    def __init__(
        self,
        d_in: int,
        E: int = 64,
        n_layers: int = 4,
        n_heads: int = 4,
        mlp_mult: int = 4,
        pooled_out: int = 0,
        token_out: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, val in (("d_in", d_in), ("E", E), ("n_layers", n_layers), ("n_heads", n_heads)):
            if val < 1:
                raise ValueError(f"{name}: expected >= 1, got {val}")
        if pooled_out < 0 or token_out < 0 or pooled_out + token_out == 0:
            raise ValueError(f"pooled_out/token_out: need a read-out, got {pooled_out}, {token_out}")
        kw = {"device": device, "dtype": dtype}
        self.embed = nn.Linear(d_in, E, **kw)
        self.blocks = nn.ModuleList(_Block(E, n_heads, mlp_mult, device, dtype) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(E, **kw)
        self.pooled = nn.Linear(E, pooled_out, **kw) if pooled_out else None
        self.token = nn.Linear(E, token_out, **kw) if token_out else None

    def forward(self, X: Tensor, return_hidden: bool = False) -> dict[str, Tensor]:
        """X (B, N, d) -> {"pooled": (B, pooled_out), "token": (B, N, token_out), "hidden": (L+1, B, N, E)}."""
        if X.ndim != 3 or X.shape[-1] != self.embed.in_features:
            raise ValueError(f"X: expected shape (B, N, {self.embed.in_features}), got {tuple(X.shape)}")
        h = self.embed(X.to(self.embed.weight.dtype))
        hidden = [h]
        for blk in self.blocks:
            h = blk(h)
            hidden.append(h)
        z = self.ln_f(h)
        out: dict[str, Tensor] = {}
        if self.pooled is not None:
            out["pooled"] = self.pooled(z.mean(1))
        if self.token is not None:
            out["token"] = self.token(z)
        if return_hidden:
            out["hidden"] = torch.stack(hidden)
        return out
