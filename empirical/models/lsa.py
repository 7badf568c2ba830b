"""Trainable linear self-attention transformer of Ahn et al. (2023), eq. (2.2).

The forward rule is :func:`constructions.linear_attention.lsa_forward`, shared with the hand-built
constructions, so trained and constructed weights are directly comparable.

Parameterisations:

* ``"full"`` — every entry of P_ℓ, Q_ℓ ∈ R^{(d+1)×(d+1)} trainable (Theorem 1).
* ``"gd"`` — P_ℓ = [[0,0],[0,1]] fixed and Q_ℓ = −[[A_ℓ,0],[0,0]] with A_ℓ trainable (Theorem 3).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from constructions.linear_attention import lsa_forward, read_predictions
from theory.prompts import PromptBatch

__all__ = ["LinearTransformer"]

Param = Literal["full", "gd"]


class LinearTransformer(nn.Module):
    """L layers of linear self-attention on the (d+1)×(n+m) embedding.

    Args:
        d: features. layers: L. parameterization: ``"full"`` or ``"gd"``.
        init_std: std of the Gaussian initialisation (the paper uses a small value, 1e-4 in its code).
        generator: explicit generator for the initialisation.
    """

    def __init__(self, d: int, layers: int, parameterization: Param = "full", init_std: float = 1e-3,
                 *, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if parameterization not in ("full", "gd"):
            raise ValueError(f"parameterization: expected 'full' or 'gd', got {parameterization!r}")
        if d < 1 or layers < 1:
            raise ValueError(f"d/layers: need d >= 1 and layers >= 1, got {d}, {layers}")
        self.d, self.layers, self.parameterization = d, layers, parameterization
        D = d + 1
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        draw = lambda *shape: (torch.randn(*shape, generator=g, dtype=torch.float64) * init_std).to(device, dtype)
        if parameterization == "full":
            self.P = nn.Parameter(draw(layers, D, D))
            self.Q = nn.Parameter(draw(layers, D, D))
        else:
            self.A = nn.Parameter(draw(layers, d, d))
            P = torch.zeros(layers, D, D, device=device, dtype=dtype)
            P[:, d, d] = 1.0
            self.register_buffer("P_fixed", P)

    def weights(self) -> tuple[Tensor, Tensor]:
        """(P, Q), each (L, d+1, d+1), in the parameters' dtype/device."""
        if self.parameterization == "full":
            return self.P, self.Q
        # Q = −[[A, 0], [0, 0]] built by padding, so gradients flow to A only
        Q = torch.nn.functional.pad(-self.A, (0, 1, 0, 1))
        return self.P_fixed, Q

    def residuals(self, prompt: PromptBatch) -> Tensor:
        """Residual stream after each layer: (L+1, B, d+1, n+m)."""
        P, Q = self.weights()
        Z0 = prompt.to(device=P.device, dtype=P.dtype).to_stacked()
        return lsa_forward(Z0, P, Q, prompt.n)

    def forward(self, prompt: PromptBatch) -> Tensor:
        """Predictions at the queries: (B, m)."""
        return read_predictions(self.residuals(prompt)[-1], prompt.n)
