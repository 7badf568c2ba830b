"""The transformer class of He et al. (2025) / Bai et al. (2023, arXiv 2306.04637), as pure float64 functions.

Hidden states H = [h_1 … h_N] ∈ R^{D×N} (tokens as columns; batched (B, D, N)); σ = ReLU; residual
everywhere; no LayerNorm:

    attention:  h_i ← h_i + Σ_m (1/N) Σ_j σ(⟨Q_m h_i, K_m h_j⟩) V_m h_j
    MLP:        h_i ← h_i + W_2 σ(W_1 h_i)          (bias through the constant coordinate "one")

A layer is an attention sublayer followed by a token-local sublayer (an MLP, or — in the exact
normalisation mode of the he25 construction only — an *oracle* map stated as such). Heads (Q, K, V) and
(−Q, K, −V) together equal one linear-attention head because σ(t) − σ(−t) = t exactly (also in floating
point: one of the two terms is exactly 0): :func:`linear_head_pair`.

Slots are named index ranges of the residual stream (:class:`SlotLayout`), so every weight assignment in a
construction reads "slot ← slot".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = [
    "SlotLayout",
    "Head",
    "MLP",
    "OracleMap",
    "Layer",
    "relu_attention",
    "linear_head_pair",
    "selector",
    "forward",
    "count_heads",
    "count_units",
    "copy_mlp",
]


class SlotLayout:
    """Named slots -> index slices of the residual stream (in order of declaration)."""

    def __init__(self, slots: Sequence[tuple[str, int]]) -> None:
        self.slots: dict[str, slice] = {}
        pos = 0
        for name, size in slots:
            if name in self.slots:
                raise ValueError(f"slots: duplicate slot name {name!r}")
            if size < 0:
                raise ValueError(f"slots: slot {name!r} has negative size {size}")
            self.slots[name] = slice(pos, pos + size)
            pos += size
        self.D = pos

    def __getitem__(self, name: str) -> slice:
        return self.slots[name]

    def index(self, name: str, i: int = 0) -> int:
        """Absolute index of entry i of slot ``name``."""
        sl = self.slots[name]
        if not 0 <= i < sl.stop - sl.start:
            raise IndexError(f"slot {name!r} has {sl.stop - sl.start} entries, asked for {i}")
        return sl.start + i

    def read(self, H: Tensor, name: str, token: int | None = 0) -> Tensor:
        """Slot values: H (B, D, N) -> (B, size) at one token, or (B, size, N) when ``token`` is None."""
        sl = self.slots[name]
        return H[:, sl] if token is None else H[:, sl, token]


def selector(layout: SlotLayout, name: str, i: int | None = None, scale: float = 1.0) -> Tensor:
    """(size, D) matrix reading slot ``name`` (or one entry of it, as a (1, D) row) times ``scale``."""
    sl = layout[name]
    if i is None:
        out = torch.zeros(sl.stop - sl.start, layout.D, dtype=torch.float64)
        out[:, sl] = scale * torch.eye(sl.stop - sl.start, dtype=torch.float64)
    else:
        out = torch.zeros(1, layout.D, dtype=torch.float64)
        out[0, layout.index(name, i)] = scale
    return out


@dataclass(frozen=True)
class Head:
    """One ReLU attention head: Q, K (r, D), V (D, D)."""

    Q: Tensor
    K: Tensor
    V: Tensor
    name: str = ""


@dataclass(frozen=True)
class MLP:
    """h ← h + W2 σ(W1 h): W1 (u, D), W2 (D, u)."""

    W1: Tensor
    W2: Tensor
    name: str = ""

    @property
    def units(self) -> int:
        return int(self.W1.shape[0])

    def delta(self, H: Tensor) -> Tensor:
        """W2 σ(W1 h) for every token: (B, D, N) -> (B, D, N)."""
        return self.W2 @ torch.relu(self.W1 @ H)

    def __call__(self, H: Tensor) -> Tensor:
        return H + self.delta(H)

    @staticmethod
    def concat(mlps: Sequence[MLP], name: str = "") -> MLP:
        """One MLP whose units are the union of ``mlps`` (their outputs add)."""
        return MLP(torch.cat([m.W1 for m in mlps], 0), torch.cat([m.W2 for m in mlps], 1), name)


@dataclass(frozen=True)
class OracleMap:
    """A token-local map that is *not* a ReLU MLP (exact normalisation mode): h ← h + fn(h)."""

    fn: Callable[[Tensor], Tensor]
    name: str = ""
    units: int = 0

    def delta(self, H: Tensor) -> Tensor:
        return self.fn(H)

    def __call__(self, H: Tensor) -> Tensor:
        return H + self.fn(H)


@dataclass(frozen=True)
class Layer:
    """Attention heads (may be empty) followed by token-local maps applied in parallel (their outputs add:
    h ← h + Σ_m f_m(h)); a tuple of MLPs is one MLP with the union of their units."""

    heads: tuple[Head, ...] = ()
    local: tuple[MLP | OracleMap, ...] = ()
    name: str = ""
    meta: dict = field(default_factory=dict)


def relu_attention(H: Tensor, heads: Sequence[Head]) -> Tensor:
    """H + Σ_m (1/N) Σ_j σ(⟨Q_m h_i, K_m h_j⟩) V_m h_j for H (B, D, N) -> (B, D, N)."""
    N = H.shape[-1]
    out = H
    for h in heads:
        scores = (h.Q @ H).transpose(-1, -2) @ (h.K @ H)  # (B, N_i, N_j)
        out = out + (h.V @ H) @ torch.relu(scores).transpose(-1, -2) / N
    return out


def linear_head_pair(Q: Tensor, K: Tensor, V: Tensor, name: str = "") -> tuple[Head, Head]:
    """Heads (Q, K, V) and (−Q, K, −V): together (1/N) Σ_j ⟨Q h_i, K h_j⟩ V h_j exactly (σ(t) − σ(−t) = t)."""
    return Head(Q, K, V, f"{name}+"), Head(-Q, K, -V, f"{name}-")


def forward(
    H0: Tensor, layers: Sequence[Layer], record: Callable[[Tensor], object] | None = None
) -> tuple[Tensor, list[object]]:
    """Run the layers on H0 (B, D, N); returns the final stream and ``record(H)`` after every layer (index 0 = H0)."""
    H = H0
    recs = [record(H) if record is not None else None]
    for layer in layers:
        H = relu_attention(H, layer.heads)
        if layer.local:
            H = H + sum(f.delta(H) for f in layer.local)
        recs.append(record(H) if record is not None else None)
    return H, recs


def count_heads(layers: Sequence[Layer]) -> list[int]:
    """Heads per layer."""
    return [len(layer.heads) for layer in layers]


def count_units(layers: Sequence[Layer]) -> list[int]:
    """ReLU units per layer (oracle maps count their declared ``units``, 0 by default)."""
    return [sum(f.units for f in layer.local) for layer in layers]


def copy_mlp(layout: SlotLayout, writes: Sequence[tuple[str, str, float]], name: str = "") -> MLP:
    """dst ← dst + scale·src for each (dst, src, scale), exactly, by σ(x) − σ(−x) = x (2 units per entry).

    With dst = src and scale = −1 this *clears* a slot exactly in floating point (x − x = 0, one of σ(±x) is
    exactly 0), token by token — unlike a constant-score head, whose token-mean leaves round-off residues
    that accumulate over iterations (measured: ~1.8× per power iteration in float64).
    """
    rows, cols = [], []
    for dst, src, scale in writes:
        s_sl, d_sl = layout[src], layout[dst]
        n = s_sl.stop - s_sl.start
        if d_sl.stop - d_sl.start != n:
            raise ValueError(f"writes: slot {src!r} ({n}) and {dst!r} ({d_sl.stop - d_sl.start}) differ in size")
        for i in range(n):
            for sign in (1.0, -1.0):
                r = torch.zeros(layout.D, dtype=torch.float64)
                r[s_sl.start + i] = sign
                c = torch.zeros(layout.D, dtype=torch.float64)
                c[d_sl.start + i] = sign * scale
                rows.append(r)
                cols.append(c)
    return MLP(torch.stack(rows), torch.stack(cols, 1), name)
