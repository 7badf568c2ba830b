"""A small GPT-2-style causal transformer in the Garg et al. (2022) prompt format (our own implementation).

Tokens come from :meth:`theory.prompts.PromptBatch.to_interleaved` (x tokens [x, 0], label tokens [0, y],
then the queries), so the model reads (B, T, d+1). Architecture as GPT-2: linear read-in, learned positional
embedding, L pre-LayerNorm blocks (causal multi-head softmax attention, GELU MLP of width 4D), final
LayerNorm, linear read-out to one number per token. Predictions are read at the x-token and query positions.

Hook points: :meth:`GPT2ICL.hidden_states` returns the residual stream after every block
(``blocks.{ℓ}.hook_resid_post``), index 0 being the embedding; the layer-wise probes use them. No dropout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import skip_init

from theory.prompts import PromptBatch

__all__ = ["GPT2ICL", "x_positions"]


def x_positions(n: int, m: int, device: torch.device | str = "cpu") -> Tensor:
    """Token indices where predictions are read: x_1 … x_n at 0, 2, …, 2n−2, then the queries 2n … 2n+m−1."""
    return torch.cat([torch.arange(0, 2 * n, 2), torch.arange(2 * n, 2 * n + m)]).to(device)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, device, dtype) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.heads = heads
        self.ln1 = nn.LayerNorm(width, **kw)
        # skip_init: no draw from the global RNG; GPT2ICL._init sets every weight from its own generator
        self.qkv = skip_init(nn.Linear, width, 3 * width, **kw)
        self.proj = skip_init(nn.Linear, width, width, **kw)
        self.ln2 = nn.LayerNorm(width, **kw)
        self.fc = skip_init(nn.Linear, width, 4 * width, **kw)
        self.fc_out = skip_init(nn.Linear, 4 * width, width, **kw)

    def forward(self, h: Tensor) -> Tensor:
        B, T, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).split(D, dim=-1)
        shape = (B, T, self.heads, D // self.heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        h = h + self.proj(a.transpose(1, 2).reshape(B, T, D))
        return h + self.fc_out(F.gelu(self.fc(self.ln2(h))))


class GPT2ICL(nn.Module):
    """GPT-2-style ICL regressor.

    Args:
        d: input dimension. width: residual width D (divisible by ``heads``). layers: L. heads: per layer.
        max_tokens: positional-embedding length (>= 2n + m).
        generator: explicit generator for the initialisation (GPT-2's N(0, 0.02²), residual projections
            scaled by 1/√(2L)).
    """

    def __init__(self, d: int, width: int = 64, layers: int = 4, heads: int = 4, max_tokens: int = 64, *,
                 generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        for name, v in (("d", d), ("width", width), ("layers", layers), ("heads", heads), ("max_tokens", max_tokens)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if width % heads:
            raise ValueError(f"width: must be divisible by heads ({heads}), got {width}")
        kw = {"device": device, "dtype": dtype}
        self.d, self.width, self.layers, self.heads, self.max_tokens = d, width, layers, heads, max_tokens
        self.read_in = skip_init(nn.Linear, d + 1, width, **kw)
        self.pos = nn.Parameter(torch.zeros(max_tokens, width, **kw))
        self.blocks = nn.ModuleList(_Block(width, heads, device, dtype) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, **kw)
        self.read_out = skip_init(nn.Linear, width, 1, **kw)
        self._init(generator if generator is not None else torch.Generator().manual_seed(0))

    @torch.no_grad()
    def _init(self, g: torch.Generator) -> None:
        for name, p in self.named_parameters():
            if "ln" in name:
                continue
            if name.endswith("bias"):
                p.zero_()
                continue
            std = 0.02 / math.sqrt(2 * self.layers) if name.endswith(("proj.weight", "fc_out.weight")) else 0.02
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * std)

    def _embed(self, tokens: Tensor) -> Tensor:
        if tokens.ndim != 3 or tokens.shape[-1] != self.d + 1:
            raise ValueError(f"tokens: expected shape (B, T, d+1) with d={self.d}, got {tuple(tokens.shape)}")
        T = tokens.shape[1]
        if T > self.max_tokens:
            raise ValueError(f"tokens: {T} tokens exceed max_tokens={self.max_tokens}")
        return self.read_in(tokens) + self.pos[:T]

    def hidden_states(self, tokens: Tensor) -> Tensor:
        """Residual stream after the embedding and after each block: (L+1, B, T, D)."""
        h = self._embed(tokens)
        out = [h]
        for blk in self.blocks:
            h = blk(h)
            out.append(h)
        return torch.stack(out)

    def forward(self, tokens: Tensor) -> Tensor:
        """Per-token predictions (B, T)."""
        h = self._embed(tokens)
        for blk in self.blocks:
            h = blk(h)
        return self.read_out(self.ln_f(h)).squeeze(-1)

    def predict(self, prompt: PromptBatch) -> Tensor:
        """Predictions at x_1 … x_n (from the preceding examples) and at the queries: (B, n + m)."""
        p = prompt.to(device=self.read_in.weight.device, dtype=self.read_in.weight.dtype)
        return self(p.to_interleaved())[:, x_positions(p.n, p.m, p.device)]
