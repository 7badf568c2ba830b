"""Any construction's weights as a plain float64 ``nn.Module`` with the trained models' hidden-state API.

:func:`to_module` turns a :class:`constructions.residual.Transformer` into a :class:`ConstructedModel`: every
attention head as written (a signed pair as its two ReLU heads, with their own matrices) and every MLP as
``nn.Parameter`` s, evaluated literally (:mod:`constructions.evaluate`, dense matrices, differentiable).
Like ``empirical.models.gpt2_icl.GPT2ICL`` it has ``hidden_states(inputs) -> (L+1, B, T, D)`` (index 0 the
embedding, index ℓ the output of block ℓ − 1), and like the ReLU encoder ``forward(inputs, return_hidden=True)``
returns them under ``"hidden"``; so a probe pipeline written for trained models runs on a construction
unchanged. An :class:`~constructions.residual.Oracle` map has no weights: it is kept as the function it states.

``inputs`` are what ``embed`` takes (e.g. the interleaved tokens (B, T, d+1) that GPT2ICL reads), or, without
``embed``, the embedded stream itself in the trained models' form (B, T, D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from constructions.evaluate import apply_layer, physical_heads
from constructions.residual import MLP, Layer, Oracle, Transformer

__all__ = ["ConstructedLayer", "ConstructedModel", "to_module"]


def _param(W: Tensor) -> nn.Parameter:
    return nn.Parameter(W.detach().to(torch.float64).clone())


class ConstructedLayer(nn.Module):
    """One layer: its heads' W_Q, W_K, W_V and its MLP parts' W_1, W_2 as parameters (float64)."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.name = layer.name
        self._heads = [p for head in layer.heads for p in physical_heads(head)]
        self._mlp = list(layer.mlp)
        self.W_Q = nn.ParameterList(_param(h.Q) for h in self._heads)
        self.W_K = nn.ParameterList(_param(h.K) for h in self._heads)
        self.W_V = nn.ParameterList(_param(h.V) for h in self._heads)
        mlps = [p for p in self._mlp if isinstance(p, MLP)]
        self.W_in = nn.ParameterList(_param(p.W1) for p in mlps)
        self.W_out = nn.ParameterList(_param(p.W2) for p in mlps)

    def layer(self) -> Layer:
        """The layer with this module's parameters in place of the built weights."""
        heads = tuple(replace(h, Q=q, K=k, V=v) for h, q, k, v in zip(self._heads, self.W_Q, self.W_K, self.W_V,
                                                                         strict=True))
        weights = iter(zip(self.W_in, self.W_out, strict=True))
        mlp = tuple(p if isinstance(p, Oracle) else replace(p, W1=(w := next(weights))[0], W2=w[1]) for p in self._mlp)
        return Layer(self.name, heads, mlp)

    def forward(self, h: Tensor) -> Tensor:
        """h (B, D, T) tokens as columns -> the stream after the layer (B, D, T)."""
        return apply_layer(h, self.layer(), "literal")


class ConstructedModel(nn.Module):
    """A construction as an ``nn.Module`` (float64): ``hidden_states`` and ``forward`` as the trained models.

    Attributes:
        layers: one :class:`ConstructedLayer` per layer. slot_names: the stream's row labels (``slot[i]``), for
        reading probes.
    """

    def __init__(self, transformer: Transformer, embed: Callable[[Any], Tensor] | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ConstructedLayer(layer) for layer in transformer.layers)
        self.width = transformer.layout.D
        self.slots = dict(transformer.layout.slots)
        self.slot_names = transformer.layout.row_names()
        self._embed = embed

    def embed(self, inputs: Any) -> Tensor:
        """The embedded stream, tokens as columns (B, D, T)."""
        h = self._embed(inputs) if self._embed is not None else inputs.transpose(1, 2)
        if h.ndim != 3 or h.shape[1] != self.width:
            raise ValueError(f"inputs: expected an embedded stream of width {self.width}, got {tuple(h.shape)}")
        return h.to(torch.float64)

    def hidden_states(self, inputs: Any) -> Tensor:
        """Residual stream after the embedding and after each layer: (L+1, B, T, D)."""
        h = self.embed(inputs)
        out = [h]
        for layer in self.layers:
            h = layer(h)
            out.append(h)
        return torch.stack(out).transpose(-1, -2)

    def forward(self, inputs: Any, return_hidden: bool = False) -> dict[str, Tensor]:
        """{"resid": final stream (B, T, D)} and, with ``return_hidden``, {"hidden": (L+1, B, T, D)}."""
        hidden = self.hidden_states(inputs)
        return {"resid": hidden[-1], **({"hidden": hidden} if return_hidden else {})}


def to_module(transformer: Transformer, embed: Callable[[Any], Tensor] | None = None) -> ConstructedModel:
    """Export ``transformer`` (see the module docstring); ``embed`` maps the module's inputs to the stream (B, D, T)."""
    return ConstructedModel(transformer, embed)
