"""One representation for every construction: named residual slots, attention heads, MLPs, layers.

As in tracr, a construction is a *program* over one residual stream: :class:`Layout` names its slots, a
:class:`Layer` is an attention sub-layer (:class:`Head` s, all reading the layer's input) followed by an MLP
sub-layer (:class:`MLP` parts and exact :class:`Oracle` maps, all reading the stream after attention, their
outputs added), and a :class:`Transformer` is the layout plus its layers. :mod:`constructions.evaluate` runs
every program (fast, through the weights' support, or literal, dense), :mod:`constructions.structure` reads its
size from the weights, :mod:`constructions.export` turns it into an ``nn.Module``.

Stream convention: tokens are columns, as in Ahn et al. (2023), Bai et al. (2023) and He et al. (2025): a
batch of streams is H ∈ R^{B×D×T}, column t is token t's residual vector h_t, and slot ``name`` is the rows
``layout[name]``. (The trained models' (B, T, D) form is :meth:`constructions.evaluate.Trace.hidden_states`.)

Attention head (W_Q, W_K: (r, D); W_V: (D, D); σ = ReLU), for query token t over its visible keys s:

=================  ==================================================================================
kind               Δh_t
=================  ==================================================================================
``softmax``        Σ_s softmax_s(⟨W_Q h_t, W_K h_s⟩) W_V h_s
``relu``           Σ_s σ(⟨W_Q h_t, W_K h_s⟩) W_V h_s
``linear``         Σ_s ⟨W_Q h_t, W_K h_s⟩ W_V h_s
``signed_pair``    two ReLU heads (W_Q, W_K, W_V) and (−W_Q, W_K, c·W_V): σ(a) W_V h_s + c σ(−a) W_V h_s; with
                   c = −1 this is a·W_V h_s exactly (one of σ(±a) is exactly 0), with c = +1 it is |a|·W_V h_s
``offset``         ⟨W_Q h_t, W_K h_{t−o}⟩ W_V h_{t−o} for t ≥ o, else 0 (one-token attention at a fixed offset o;
                   the β → ∞ limit of causal softmax with positional score −β(t − o − s)², times a content score)
=================  ==================================================================================

Visible keys: every token (``mask="full"``) or s ≤ t (``"causal"``), and only the first ``keys`` tokens when
``keys`` is set (Ahn et al.'s M = diag(I_n, 0): queries are never keys). ``divide_by``: None, a fixed count
(Fu et al.'s Def. B.1 divides by the n examples) or ``"keys"`` (the number of keys the query sees: Bai et
al.'s 1/N). MLP: h ← h + W_2 act(W_1 h) per token, act = σ (``relu``) or the identity (``linear``); a bias is
a weight on a constant slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = [
    "HEAD_KINDS",
    "MASKS",
    "MLP_KINDS",
    "Layout",
    "Head",
    "MLP",
    "Oracle",
    "Layer",
    "Transformer",
    "selector",
    "value_matrix",
    "signed_pair",
    "copy_mlp",
]

HeadKind = Literal["softmax", "relu", "linear", "signed_pair", "offset"]
Mask = Literal["full", "causal"]
MLPKind = Literal["relu", "linear"]
HEAD_KINDS: tuple[HeadKind, ...] = ("softmax", "relu", "linear", "signed_pair", "offset")
MASKS: tuple[Mask, ...] = ("full", "causal")
MLP_KINDS: tuple[MLPKind, ...] = ("relu", "linear")


class Layout:
    """Named slots -> row ranges of the residual stream, in order of declaration; width ``D``."""

    def __init__(self, slots: Sequence[tuple[str, int]]) -> None:
        self.slots: dict[str, slice] = {}
        pos = 0
        for name, size in slots:
            if name in self.slots:
                raise ValueError(f"slots: duplicate slot name {name!r}")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"slots: slot {name!r} needs an integer size >= 0, got {size!r}")
            self.slots[name] = slice(pos, pos + size)
            pos += size
        self.D = pos

    @property
    def width(self) -> int:
        return self.D

    def __getitem__(self, name: str) -> slice:
        if name not in self.slots:
            raise KeyError(f"no slot {name!r} (slots: {', '.join(self.slots)})")
        return self.slots[name]

    def __contains__(self, name: object) -> bool:
        return name in self.slots

    def size(self, name: str) -> int:
        sl = self[name]
        return sl.stop - sl.start

    def index(self, name: str, i: int = 0) -> int:
        """Row of entry i of slot ``name``."""
        if not 0 <= i < self.size(name):
            raise IndexError(f"slot {name!r} has {self.size(name)} entries, asked for {i}")
        return self[name].start + i

    def row_names(self) -> list[str]:
        """``slot[i]`` for every row (``slot`` for a one-row slot): labels for plots and probes."""
        return [name if sl.stop - sl.start == 1 else f"{name}[{i}]"
                for name, sl in self.slots.items() for i in range(sl.stop - sl.start)]

    def read(self, H: Tensor, name: str, token: int | None = 0) -> Tensor:
        """Slot values of a stream H (B, D, T): (B, size) at one token, or (B, size, T) when ``token`` is None."""
        sl = self[name]
        return H[:, sl] if token is None else H[:, sl, token]


def _is_matrix(W: object, rows: int | None, cols: int) -> bool:
    return isinstance(W, Tensor) and W.ndim == 2 and W.shape[1] == cols and (rows is None or W.shape[0] == rows)


@dataclass(frozen=True, eq=False)
class Head:
    """One attention head (module docstring): score ⟨W_Q h_t, W_K h_s⟩, value W_V h_s.

    Attributes:
        kind: ``softmax`` | ``relu`` | ``linear`` | ``signed_pair`` | ``offset``.
        Q, K: (r, D) query and key maps; V: (D, D) value map (its nonzero rows are the slots it writes).
        mask: ``full`` or ``causal``. keys: only tokens 0 … keys−1 are keys/values (None: all).
        divide_by: None, a fixed count, or ``"keys"`` (the number of keys each query sees).
        offset: o of an ``offset`` head. second_value: c of a ``signed_pair`` (−1: linear, +1: |score|).
    """

    kind: HeadKind
    Q: Tensor
    K: Tensor
    V: Tensor
    mask: Mask = "full"
    keys: int | None = None
    divide_by: int | float | Literal["keys"] | None = None
    offset: int = 0
    second_value: float = -1.0
    name: str = ""

    def __post_init__(self) -> None:
        D = self.V.shape[-1] if isinstance(self.V, Tensor) else -1
        bad = []
        if self.kind not in HEAD_KINDS:
            bad.append(f"kind: expected {'|'.join(HEAD_KINDS)}, got {self.kind!r}")
        if self.mask not in MASKS:
            bad.append(f"mask: expected {'|'.join(MASKS)}, got {self.mask!r}")
        if not _is_matrix(self.V, D, D):
            bad.append(f"V: expected a (D, D) tensor, got {getattr(self.V, 'shape', self.V)!r}")
        if not (_is_matrix(self.Q, None, D) and _is_matrix(self.K, self.Q.shape[0], D)):
            bad.append(f"Q, K: expected (r, D) tensors with D = {D}, got {tuple(self.Q.shape)}, {tuple(self.K.shape)}")
        if self.keys is not None and (isinstance(self.keys, bool) or not isinstance(self.keys, int) or self.keys < 1):
            bad.append(f"keys: expected None or an integer >= 1, got {self.keys!r}")
        count = isinstance(self.divide_by, int | float) and not isinstance(self.divide_by, bool) and self.divide_by > 0
        if self.divide_by not in (None, "keys") and not count:
            bad.append(f"divide_by: expected None, 'keys' or a count > 0, got {self.divide_by!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            bad.append(f"offset: expected an integer >= 0, got {self.offset!r}")
        if self.second_value not in (-1.0, 1.0):
            bad.append(f"second_value: expected -1 or +1, got {self.second_value!r}")
        if bad:
            raise ValueError(f"head {self.name!r}: " + "; ".join(bad))

    @property
    def count(self) -> int:
        """Attention heads it stands for (a signed pair is two ReLU heads)."""
        return 2 if self.kind == "signed_pair" else 1

    def weights(self) -> tuple[Tensor, ...]:
        return self.Q, self.K, self.V


@dataclass(frozen=True, eq=False)
class MLP:
    """Δh = W_2 act(W_1 h) per token: W_1 (H, D), W_2 (D, H); act = σ (``relu``) or the identity (``linear``)."""

    W1: Tensor
    W2: Tensor
    kind: MLPKind = "relu"
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in MLP_KINDS:
            raise ValueError(f"mlp {self.name!r}: kind: expected {'|'.join(MLP_KINDS)}, got {self.kind!r}")
        if not (self.W1.ndim == 2 and self.W2.ndim == 2 and self.W2.shape == self.W1.shape[::-1]):
            raise ValueError(f"mlp {self.name!r}: W1, W2: expected (H, D) and (D, H), got {tuple(self.W1.shape)}, "
                             f"{tuple(self.W2.shape)}")

    @property
    def units(self) -> int:
        return int(self.W1.shape[0])

    def weights(self) -> tuple[Tensor, ...]:
        return self.W1, self.W2


@dataclass(frozen=True, eq=False)
class Oracle:
    """An exact token-local map stated as such, not as weights: slot ``writes`` += fn(slot ``reads``).

    fn: (B, |reads|, T) -> (B, |writes|, T). ``units`` is what a construction declares it stands for (0 unless a
    known ReLU network computes it); :mod:`constructions.structure` reports oracle maps separately.
    """

    fn: Callable[[Tensor], Tensor]
    reads: slice
    writes: slice
    name: str = ""
    units: int = 0

    def weights(self) -> tuple[Tensor, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Layer:
    """An attention sub-layer, then an MLP sub-layer: h ← h + Σ_heads Δ(h); h ← h + Σ_parts Δ(h).

    ``mlp`` parts act in parallel on the stream after attention (ReLU parts together are one MLP with the union
    of their units). ``meta``: what the construction wants to remember about the layer (e.g. its stage).
    """

    name: str
    heads: tuple[Head, ...] = ()
    mlp: tuple[MLP | Oracle, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> tuple[MLP | Oracle, ...]:
        """The MLP sub-layer under its earlier name (token-local maps)."""
        return self.mlp

    def weights(self) -> list[Tensor]:
        return [W for part in (*self.heads, *self.mlp) for W in part.weights()]


@dataclass(frozen=True, eq=False)
class Transformer:
    """A construction's program: the layout and its layers.

    ``params``: the settings the weights were built for (read by the construction's own functions, e.g. α, k).
    ``tokens``: the token count the weights assume (a count baked into them, e.g. n in Def. B.1), or None.
    """

    layout: Layout
    layers: tuple[Layer, ...]
    name: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    tokens: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        for layer in self.layers:
            for W in layer.weights():
                if W.shape[-1] != self.layout.D and W.shape[0] != self.layout.D:
                    raise ValueError(f"layer {layer.name!r}: a weight of shape {tuple(W.shape)} does not act on the "
                                     f"width D = {self.layout.D}")

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def width(self) -> int:
        return self.layout.D


# -- weight builders: every assignment reads "slot ← slot" ------------------------------------------------------


def selector(layout: Layout, name: str, i: int | None = None, scale: float = 1.0) -> Tensor:
    """(size, D) matrix reading slot ``name`` (or entry i of it, as a (1, D) row) times ``scale``."""
    sl = layout[name]
    rows = range(sl.start, sl.stop) if i is None else [layout.index(name, i)]
    W = torch.zeros(len(rows), layout.D, dtype=torch.float64)
    W[range(len(rows)), list(rows)] = scale
    return W


def value_matrix(layout: Layout, writes: Sequence[tuple[str, str, float]]) -> Tensor:
    """W_V (D, D) adding scale·h[src] to slot dst for each (dst, src, scale) (slots of equal size)."""
    V = torch.zeros(layout.D, layout.D, dtype=torch.float64)
    for dst, src, scale in writes:
        _same_size(layout, src, dst)
        d, s = layout[dst], layout[src]
        V[range(d.start, d.stop), range(s.start, s.stop)] += scale
    return V


def signed_pair(Q: Tensor, K: Tensor, V: Tensor, name: str = "", *, second_value: float = -1.0,
                **kw: Any) -> Head:
    """The pair of ReLU heads (Q, K, V), (−Q, K, c·V): with c = −1 exactly the linear head ⟨Q h_t, K h_s⟩ V h_s."""
    return Head("signed_pair", Q, K, V, name=name, second_value=second_value, **kw)


def copy_mlp(layout: Layout, writes: Sequence[tuple[str, str, float]], name: str = "") -> MLP:
    """dst ← dst + scale·src for each (dst, src, scale), exactly, by σ(x) − σ(−x) = x (2 units per entry).

    With dst = src and scale = −1 this *clears* a slot exactly in floating point (x − x = 0, one of σ(±x) is
    exactly 0), token by token — unlike a constant-score head, whose token-mean leaves round-off residues
    that accumulate over iterations (measured: ~1.8× per power iteration in float64); with scale = 1 it doubles.
    """
    units = [(layout.index(src, i), layout.index(dst, i), sign, scale)
             for dst, src, scale in writes for i in range(_same_size(layout, src, dst)) for sign in (1.0, -1.0)]
    W1 = torch.zeros(len(units), layout.D, dtype=torch.float64)
    W2 = torch.zeros(layout.D, len(units), dtype=torch.float64)
    for u, (s, d, sign, scale) in enumerate(units):
        W1[u, s] = sign  # unit u reads ±src_i
        W2[d, u] = sign * scale  # and writes ±scale·σ(±src_i) into dst_i
    return MLP(W1, W2, "relu", name)


def _same_size(layout: Layout, src: str, dst: str) -> int:
    if layout.size(src) != layout.size(dst):
        raise ValueError(f"writes: slot {src!r} ({layout.size(src)}) and {dst!r} ({layout.size(dst)}) differ in size")
    return layout.size(src)
