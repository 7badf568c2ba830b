"""An LSTM in the Garg et al. prompt format (Fu et al. 2023 compare it with the transformer).

Same tokens, read-in and read-out as :class:`empirical.models.gpt2_icl.GPT2ICL`; the backbone is a stack
of single-layer ``nn.LSTM`` s so that every layer's hidden states are exposed (``hidden_states``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from empirical.models.gpt2_icl import x_positions
from theory.prompts import PromptBatch

__all__ = ["LSTMICL"]


class LSTMICL(nn.Module):
    """LSTM regressor: read-in (d+1 → width), ``layers`` LSTM layers, read-out (width → 1)."""

    def __init__(self, d: int, width: int = 64, layers: int = 2, *, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        for name, v in (("d", d), ("width", width), ("layers", layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        kw = {"device": device, "dtype": dtype}
        self.d, self.width, self.layers = d, width, layers
        # skip_init: no draw from the global RNG; every parameter is set below from the explicit generator
        self.read_in = skip_init(nn.Linear, d + 1, width, **kw)
        # (nn.LSTM takes **kwargs, which skip_init rejects: built on the meta device, then allocated uninitialised)
        self.rnns = nn.ModuleList(nn.LSTM(width, width, batch_first=True, device="meta", dtype=dtype).to_empty(
            device=device) for _ in range(layers))
        self.read_out = skip_init(nn.Linear, width, 1, **kw)
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.no_grad():  # PyTorch's default U(−1/√D, 1/√D), drawn from the explicit generator
            for p in self.parameters():
                bound = 1.0 / width**0.5
                p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)

    def hidden_states(self, tokens: Tensor) -> Tensor:
        """Read-in output and each LSTM layer's outputs: (L+1, B, T, width)."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.d + 1:
            raise ValueError(f"tokens: expected shape (B, T, d+1) with d={self.d}, got {tuple(tokens.shape)}")
        h = self.read_in(tokens)
        out = [h]
        for rnn in self.rnns:
            h, _ = rnn(h)
            out.append(h)
        return torch.stack(out)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.read_out(self.hidden_states(tokens)[-1]).squeeze(-1)

    def predict(self, prompt: PromptBatch) -> Tensor:
        p = prompt.to(device=self.read_in.weight.device, dtype=self.read_in.weight.dtype)
        return self(p.to_interleaved())[:, x_positions(p.n, p.m, p.device)]
