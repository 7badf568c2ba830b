"""The size of a construction, read from its built weights (never from the formula its module states).

One function for every program of :mod:`constructions.residual`: depth, width, attention heads and MLP
units per layer, the layers that do work, and parameters. A head *works* when its scores and its value map
are not identically zero (W_Q and W_K share a nonzero score coordinate — or it is a softmax head, which
averages even with zero scores — and W_V ≠ 0); an MLP unit works when its W_1 row and its W_2 column are both
nonzero; an oracle map (an exact map stated as such) always works and is counted apart. A layer with no
working head, unit or oracle is the identity: it is counted in ``depth`` but not in ``working_layers``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from constructions.residual import MLP, Head, Layer, Oracle, Transformer

__all__ = ["Structure", "structure", "head_works", "live_units", "working_layers"]


def head_works(head: Head) -> bool:
    """Whether the head can change the stream: a shared nonzero score coordinate (any, for softmax) and W_V ≠ 0."""
    scores = head.kind == "softmax" or bool((head.Q.ne(0).any(1) & head.K.ne(0).any(1)).any())
    return scores and bool(head.V.ne(0).any())


def live_units(mlp: MLP) -> Tensor:
    """(H,) bool: units whose W_1 row and W_2 column are both nonzero."""
    return mlp.W1.ne(0).any(1) & mlp.W2.ne(0).any(0)


def _rows_used(layer: Layer, D: int) -> Tensor:
    """(D,) bool: stream rows a working weight of the layer reads or writes."""
    used = torch.zeros(D, dtype=torch.bool)
    for head in layer.heads:
        if head_works(head):
            used |= head.Q.ne(0).any(0) | head.K.ne(0).any(0) | head.V.ne(0).any(0) | head.V.ne(0).any(1)
    for part in layer.mlp:
        if isinstance(part, Oracle):
            used[part.reads] = True
            used[part.writes] = True
        else:
            live = live_units(part)
            used |= part.W1[live].ne(0).any(0) | part.W2[:, live].ne(0).any(1)
    return used


@dataclass(frozen=True)
class Structure:
    """Counted sizes of a program.

    Attributes:
        depth: layers. working_layers: layers with a working head, unit or oracle map. width: D, the stream's
        rows; width_used: rows a working weight reads or writes. heads_per_layer: working attention heads (a
        signed pair counts as its two ReLU heads). units_per_layer: working MLP units (ReLU and linear).
        oracle_maps: exact maps stated as oracles, in all. parameters: entries of every weight matrix as built;
        nonzero_parameters: those that are not 0.
    """

    depth: int
    working_layers: int
    width: int
    width_used: int
    heads_per_layer: tuple[int, ...]
    units_per_layer: tuple[int, ...]
    oracle_maps: int
    parameters: int
    nonzero_parameters: int

    @property
    def max_heads(self) -> int:
        return max(self.heads_per_layer, default=0)

    @property
    def total_heads(self) -> int:
        return sum(self.heads_per_layer)

    @property
    def max_units(self) -> int:
        return max(self.units_per_layer, default=0)

    def as_dict(self) -> dict[str, object]:
        """Every field, the derived maxima and the :meth:`summary` line, JSON-ready."""
        out: dict[str, object] = asdict(self)
        out["heads_per_layer"], out["units_per_layer"] = list(self.heads_per_layer), list(self.units_per_layer)
        return {**out, "max_heads": self.max_heads, "total_heads": self.total_heads, "max_units": self.max_units,
                "summary": self.summary()}

    def summary(self) -> str:
        """One line for reports."""
        oracle = f", {self.oracle_maps} oracle map(s)" if self.oracle_maps else ""
        return (f"depth {self.depth} ({self.working_layers} working), width {self.width} ({self.width_used} rows "
                f"used), heads/layer <= {self.max_heads} ({self.total_heads} in all), MLP units/layer <= "
                f"{self.max_units}{oracle}, {self.parameters} parameters ({self.nonzero_parameters} nonzero)")


def structure(transformer: Transformer) -> Structure:
    """The :class:`Structure` of ``transformer``, counted from its weights."""
    D = transformer.layout.D
    heads, units, works, used = [], [], [], torch.zeros(D, dtype=torch.bool)
    oracles = 0
    for layer in transformer.layers:
        h = sum(head.count for head in layer.heads if head_works(head))
        u = sum(int(live_units(p).sum()) for p in layer.mlp if isinstance(p, MLP))
        o = sum(isinstance(p, Oracle) for p in layer.mlp)
        heads.append(h)
        units.append(u)
        works.append(bool(h or u or o))
        oracles += o
        used |= _rows_used(layer, D)
    weights = [W for layer in transformer.layers for W in _stored(layer)]
    return Structure(len(transformer.layers), sum(works), D, int(used.sum()), tuple(heads), tuple(units), oracles,
                     sum(W.numel() for W in weights), sum(int(W.ne(0).sum()) for W in weights))


def _stored(layer: Layer) -> list[Tensor]:
    """The weight matrices a layer stores as built (a signed pair: its two heads' matrices)."""
    out: list[Tensor] = []
    for head in layer.heads:
        out += [W for _ in range(head.count) for W in head.weights()]
    return out + [W for p in layer.mlp for W in p.weights()]


def working_layers(transformer: Transformer) -> int:
    """Layers with a working head, unit or oracle map (an all-zero layer is the identity and does not count)."""
    return structure(transformer).working_layers
