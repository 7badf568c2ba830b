"""The one evaluator of :mod:`constructions.residual` programs, in two modes, with a per-layer trace.

``literal`` evaluates the definition with dense matrices: every head's (T, T) score matrix from the full
W_Q, W_K, W_V (a signed pair as its two ReLU heads), every MLP as W_2 act(W_1 h). It is the reference the
fast mode is tested against, and what :mod:`constructions.export` runs.

``fast`` computes the same function through the weights' support: each head reads only the slots its
weights touch and writes only the slots its value map writes (exact zeros change no sum); a weight that is
c·I on a contiguous slot is a view of that slot times c, not a matmul; a linear head (``linear``, or a signed
pair with c = −1) under a full mask is re-associated as Δh_t = (Σ_s W_V h_s (W_K h_s)ᵀ) W_Q h_t, a (|V| × r)
matrix shared by every query: O(T·r·|V|) instead of O(T²); an ``offset`` head multiplies each token with
its one source token. Both modes agree to float64 round-off (tests/constructions/test_residual.py checks it
on every construction).

Streams are (B, D, T) (tokens as columns, :mod:`constructions.residual`); :class:`Trace` also gives the
trained models' (L+1, B, T, D) form.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from constructions.residual import MLP, Head, Layer, Layout, Oracle, Transformer

__all__ = [
    "MODES",
    "Trace",
    "evaluate",
    "final_state",
    "evaluate_reading",
    "run_layers",
    "apply_layer",
    "head_output",
    "head_delta",
    "mlp_delta",
    "physical_heads",
]

Mode = Literal["fast", "literal"]
R = TypeVar("R")
MODES: tuple[Mode, ...] = ("fast", "literal")


# -- what both modes share: which keys a query sees, and the weights its scores give them -------------------


def _key_count(head: Head | _Spec, T: int) -> int:
    return T if head.keys is None else min(head.keys, T)


def _visible(head: Head | _Spec, t: Tensor | None, Tk: int) -> Tensor | None:
    """(Tq, Tk) bool: key s visible from query t (None: all are; ``t`` is needed only when some are not)."""
    if head.kind != "offset" and head.mask != "causal":
        return None
    assert t is not None, "a masked head needs the query positions"
    s = torch.arange(Tk, device=t.device)
    if head.kind == "offset":
        return s.unsqueeze(0) == (t - head.offset).unsqueeze(1)
    return s.unsqueeze(0) <= t.unsqueeze(1)  # causal


def _weights(head: Head | _Spec, scores: Tensor, t: Tensor | None) -> Tensor:
    """Attention weights (B, Tq, Tk) of a single (physical) head from its scores ⟨q_t, k_s⟩."""
    vis = _visible(head, t, scores.shape[-1])
    if head.kind == "softmax":
        return torch.softmax(scores if vis is None else scores.masked_fill(~vis, float("-inf")), -1)
    w = torch.relu(scores) if head.kind == "relu" else scores  # linear and offset: the score itself
    return w if vis is None else w * vis


def _normalise(head: Head | _Spec, delta: Tensor, t: Tensor | None, Tk: int) -> Tensor:
    """Δ divided as ``head.divide_by`` says: by a fixed count, or by the number of keys each query sees."""
    if head.divide_by is None:
        return delta
    if head.divide_by != "keys":
        return delta / head.divide_by
    if head.mask == "causal" and head.kind != "offset":
        assert t is not None, "a causal head needs the query positions"
        return delta / (t + 1).clamp_max(Tk).to(delta.dtype)
    return delta / Tk


def physical_heads(head: Head) -> tuple[Head, ...]:
    """The heads as written: a signed pair is (Q, K, V) and (−Q, K, c·V), both ``relu``."""
    if head.kind != "signed_pair":
        return (head,)
    kw = {"mask": head.mask, "keys": head.keys, "divide_by": head.divide_by}
    return (Head("relu", head.Q, head.K, head.V, name=f"{head.name}+", **kw),
            Head("relu", -head.Q, head.K, head.second_value * head.V, name=f"{head.name}-", **kw))


# -- literal mode ---------------------------------------------------------------------------------------------


def _literal_head(h: Tensor, head: Head) -> Tensor:
    """Δ (B, D, T) of one physical head with dense weights: scores (B, T, Tk), then Σ_s w_ts W_V h_s."""
    T = h.shape[-1]
    Tk = _key_count(head, T)
    t = torch.arange(T, device=h.device)
    Q, K, V = (W.to(device=h.device, dtype=h.dtype) for W in head.weights())
    hk = h[..., :Tk]
    scores = (Q @ h).transpose(-1, -2) @ (K @ hk)
    return _normalise(head, (V @ hk) @ _weights(head, scores, t).transpose(-1, -2), t, Tk)


def _literal_part(h: Tensor, part: MLP | Oracle) -> Tensor:
    if isinstance(part, Oracle):
        out = torch.zeros_like(h)
        out[:, part.writes] = part.fn(h[:, part.reads])
        return out
    W1, W2 = (W.to(device=h.device, dtype=h.dtype) for W in part.weights())
    pre = W1 @ h
    return W2 @ (torch.relu(pre) if part.kind == "relu" else pre)


def _literal_layer(h: Tensor, layer: Layer) -> Tensor:
    heads = [p for head in layer.heads for p in physical_heads(head)]
    mid = h + sum(_literal_head(h, p) for p in heads) if heads else h
    return mid + sum(_literal_part(mid, part) for part in layer.mlp) if layer.mlp else mid


# -- fast mode: each weight through its support, compiled once per object -----------------------------------


def _as_index(idx: np.ndarray) -> slice | Tensor:
    """A sorted index set as a slice when it is contiguous (basic indexing is a view, not a gather)."""
    if idx.size and int(idx[-1]) - int(idx[0]) + 1 == idx.size:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return torch.from_numpy(idx)


def _numpy(W: Tensor) -> np.ndarray:
    return W.detach().cpu().numpy()


def _nonzero_rows(W: np.ndarray) -> np.ndarray:
    return np.flatnonzero((W != 0).any(1))


@dataclass(frozen=True)
class _Read:
    """W restricted to (rows, its nonzero columns), applied to a stream (B, D, T) -> (B, |rows|, T).

    ``scale`` is set when the restriction is c·I on a contiguous slot: then W h is that slot times c (a view when
    c = 1), the same numbers as the matmul, whose other products are exact zeros."""

    cols: slice | Tensor
    sub: Tensor
    scale: float | None

    @staticmethod
    def of(W: np.ndarray, rows: np.ndarray) -> _Read:
        Wr = W[rows]
        cols = np.flatnonzero((Wr != 0).any(0))
        sub = Wr[:, cols]
        idx = _as_index(cols)
        scale = None
        if isinstance(idx, slice) and sub.shape[0] == sub.shape[1] and sub.size:
            diag = np.diag(sub)
            if np.count_nonzero(sub) == diag.size and bool((diag == diag[0]).all()):
                scale = float(diag[0])
        return _Read(idx, torch.from_numpy(np.ascontiguousarray(sub)), scale)

    def __call__(self, h: Tensor) -> Tensor:
        x, scale = self.scaled(h)
        return x if scale == 1.0 else x * scale

    def scaled(self, h: Tensor) -> tuple[Tensor, float]:
        """(x, c) with W h = c·x: a view of the slot and its scale, or the product and 1."""
        x = h[:, self.cols] if isinstance(self.cols, slice) else h[:, self.cols.to(h.device)]
        if self.scale is not None:
            return x, self.scale
        sub = self.sub if self.sub.dtype == h.dtype and self.sub.device == h.device else self.sub.to(h.device, h.dtype)
        return sub @ x, 1.0


@dataclass(frozen=True)
class _Spec:
    """What a plan needs of its head besides the weights (a plan must not keep its head: it is cached by it)."""

    kind: str
    mask: str
    keys: int | None
    divide_by: int | float | str | None
    offset: int
    second_value: float


@dataclass(frozen=True)
class _HeadPlan:
    """A head through its support: W_Q and W_K on the score coordinates both use, W_V on its nonzero rows
    (``rows``: where it writes). ``path``: ``reassociate`` (a linear head under a full mask), ``offset`` or
    ``dense`` (the (T_q, T_k) weights are formed)."""

    head: _Spec
    q: _Read
    k: _Read
    v: _Read
    rows: slice | Tensor
    path: Literal["reassociate", "offset", "dense"]

    def __call__(self, h: Tensor, queries: slice = slice(None)) -> Tensor:
        """The values at ``rows`` for the query tokens: (B, |rows|, T_q)."""
        head, T = self.head, h.shape[-1]
        Tk = _key_count(head, T)
        hk = h if Tk == T else h[..., :Tk]
        q, k, v = self.q(h if queries == slice(None) else h[..., queries]), self.k(hk), self.v(hk)
        if self.path == "reassociate":  # Σ_s ⟨q_t, k_s⟩ v_s = (Σ_s v_s k_sᵀ) q_t: one (|V|, r) matrix for every query
            vk = v @ k.transpose(-1, -2)
            if head.divide_by is not None:
                vk.div_(Tk if head.divide_by == "keys" else head.divide_by)
            return vk @ q
        masked = head.mask == "causal" or head.kind == "offset"
        t = torch.arange(T, device=h.device)[queries] if masked else None  # needed by the masks only
        if self.path == "offset":  # token t reads token t − o only: no score matrix
            src = t - head.offset
            ok = (src >= 0) & (src < Tk)
            s = src[ok]
            out = torch.zeros(v.shape[0], v.shape[1], t.numel(), dtype=h.dtype, device=h.device)
            out[..., ok] = (q[..., ok] * k[..., s]).sum(1, keepdim=True) * v[..., s]
            return _normalise(head, out, t, Tk)
        scores = q.transpose(-1, -2) @ k  # (B, Tq, Tk), a new tensor: the weights are formed in place
        if head.kind == "signed_pair":  # σ(a) + c σ(−a): a (c = −1) or |a| (c = +1, the printed pair), masked
            w = scores.abs_() if head.second_value == 1.0 else scores
            w = w * _visible(head, t, Tk) if masked else w
        else:
            w = scores.relu_() if head.kind == "relu" and not masked else _weights(head, scores, t)
        return _normalise(head, v @ w.transpose(-1, -2), t, Tk)


def _compile_head(head: Head) -> _HeadPlan | None:
    """The head's plan, or None when it computes exactly 0 (no shared score coordinate, or W_V = 0)."""
    Q, K, V = (_numpy(W) for W in head.weights())
    pair = np.flatnonzero((Q != 0).any(1) & (K != 0).any(1))  # score coordinates both maps use
    vrows = _nonzero_rows(V)
    if not vrows.size or (not pair.size and head.kind != "softmax"):  # softmax averages even with zero scores
        return None
    linear = head.kind == "linear" or (head.kind == "signed_pair" and head.second_value == -1.0)
    path = "reassociate" if linear and head.mask == "full" else "offset" if head.kind == "offset" else "dense"
    spec = _Spec(head.kind, head.mask, head.keys, head.divide_by, head.offset, head.second_value)
    return _HeadPlan(spec, _Read.of(Q, pair), _Read.of(K, pair), _Read.of(V, vrows), _as_index(vrows), path)


def _signed_unit_pairs(W1: np.ndarray, W2: np.ndarray) -> np.ndarray | None:
    """Units u_1 … u_m such that the other units are exactly their negatives (W_1 row and W_2 column both
    negated), or None. Such an MLP is linear: c σ(w·h) − c σ(−w·h) = c (w·h), exactly (one term is 0)."""
    def key(u: int, sign: float) -> bytes:
        return (sign * W1[u] + 0.0).tobytes() + (sign * W2[:, u] + 0.0).tobytes()  # + 0.0: no −0.0

    waiting: dict[bytes, list[int]] = {}
    first = []
    for u in range(W1.shape[0]):
        partners = waiting.get(key(u, -1.0))
        if partners:
            first.append(partners.pop())
        else:
            waiting.setdefault(key(u, 1.0), []).append(u)
    return np.array(sorted(first), dtype=np.int64) if all(not v for v in waiting.values()) else None


@dataclass(frozen=True)
class _PartPlan:
    """An MLP part (on its live units; a linear map when its units are ± pairs or it is ``linear``) or an oracle,
    writing ``rows``."""

    rows: slice | Tensor
    linear: _Read | None = None
    w1: _Read | None = None
    w2: _Read | None = None
    oracle: tuple[Callable[[Tensor], Tensor], slice] | None = None  # (fn, reads) of an Oracle

    def __call__(self, h: Tensor) -> tuple[Tensor, float]:
        """(x, c): the part adds c·x at ``rows`` (x may be a view of h)."""
        if self.oracle is not None:
            fn, reads = self.oracle
            return fn(h[:, reads]), 1.0
        if self.linear is not None:
            return self.linear.scaled(h)
        return self.w2(torch.relu(self.w1(h))), 1.0  # type: ignore[misc]

    @property
    def in_place(self) -> bool:
        """Whether it reads, as a view, exactly the rows it writes (then c·x may be added to them in place)."""
        lin = self.linear
        return lin is not None and lin.scale is not None and isinstance(self.rows, slice) and lin.cols == self.rows


def _compile_part(part: MLP | Oracle) -> _PartPlan | None:
    if isinstance(part, Oracle):
        return _PartPlan(part.writes, oracle=(part.fn, part.reads))
    W1, W2 = (_numpy(W) for W in part.weights())
    live = np.flatnonzero((W1 != 0).any(1) & (W2 != 0).any(0))
    W1, W2 = W1[live], W2[:, live]
    pos = np.arange(live.size) if part.kind == "linear" else _signed_unit_pairs(W1, W2)
    if pos is not None:  # linear: Δ = (W_2 W_1) h through the composite's support
        M = W2[:, pos] @ W1[pos]
        rows = _nonzero_rows(M)
        return _PartPlan(_as_index(rows), linear=_Read.of(M, rows)) if rows.size else None
    rows = _nonzero_rows(W2)
    if not rows.size:
        return None
    return _PartPlan(_as_index(rows), w1=_Read.of(W1, np.arange(live.size)), w2=_Read.of(W2, rows))


@dataclass(frozen=True)
class _LayerPlan:
    heads: tuple[_HeadPlan, ...]
    parts: tuple[_PartPlan, ...]


_PLANS: weakref.WeakKeyDictionary[object, object] = weakref.WeakKeyDictionary()


def _cached(obj: object, compile_: Callable[[Any], Any]) -> Any:
    """compile_(obj), computed once per object (the weights are never modified after building)."""
    if obj not in _PLANS:
        _PLANS[obj] = compile_(obj)
    return _PLANS[obj]


def _compile_layer(layer: Layer) -> _LayerPlan:
    heads = tuple(p for h in layer.heads if (p := _cached(h, _compile_head)) is not None)
    return _LayerPlan(heads, tuple(p for part in layer.mlp if (p := _cached(part, _compile_part)) is not None))


def head_output(h: Tensor, head: Head, queries: slice = slice(None)) -> Tensor:
    """The head's nonzero output rows (where its value map writes) at the query tokens, through its support.

    h: (B, D, T) -> (B, |rows of W_V|, T_q); ``queries`` selects the query tokens (the keys are all tokens the
    head sees). Raises ValueError for a head that computes exactly 0.
    """
    plan = _cached(head, _compile_head)
    if plan is None:
        raise ValueError(f"head {head.name!r}: its weights compute exactly 0")
    return plan(h, queries)


def _add_at(out: Tensor, rows: slice | Tensor, values: Tensor, alpha: float = 1.0) -> None:
    """out[:, rows] += alpha·values, in place."""
    if isinstance(rows, slice):
        target = out[:, rows]
        target.add_(values) if alpha == 1.0 else target.add_(values, alpha=alpha)
    else:
        out.index_add_(1, rows.to(out.device), values, alpha=alpha)


def head_delta(h: Tensor, head: Head, mode: Mode = "fast") -> Tensor:
    """Δ (B, D, T) the head adds to the stream h (B, D, T)."""
    if mode == "literal":
        return sum((_literal_head(h, p) for p in physical_heads(head)), torch.zeros_like(h))
    out = torch.zeros_like(h)
    plan = _cached(head, _compile_head)
    if plan is not None:
        _add_at(out, plan.rows, plan(h))
    return out


def mlp_delta(h: Tensor, part: MLP | Oracle, mode: Mode = "fast") -> Tensor:
    """Δ (B, D, T) an MLP part or oracle map adds to the stream h (B, D, T)."""
    if mode == "literal":
        return _literal_part(h, part)
    out = torch.zeros_like(h)
    plan = _cached(part, _compile_part)
    if plan is not None:
        _add_at(out, plan.rows, *plan(h))
    return out


def _fast_layer(h: Tensor, layer: Layer, in_place: bool = False) -> Tensor:
    """The layer through its plan; ``in_place`` updates h itself (for a stream nobody keeps)."""
    plan = _cached(layer, _compile_layer)
    if not plan.heads and not plan.parts:
        return h  # the identity (states are never modified in place, so it may be shared)
    if in_place:  # every head reads the stream before the layer: all outputs (new tensors) first, then the writes
        out = h
        for head, values in [(head, head(h)) for head in plan.heads]:
            _add_at(out, head.rows, values)
    else:
        out = h.clone()
        for head in plan.heads:
            _add_at(out, head.rows, head(h))
    # MLP parts act in parallel on the stream after attention: every output is formed before any is added (a view
    # of the stream is copied, unless it is the one part and adds to the very rows it views)
    alone = len(plan.parts) == 1 and plan.parts[0].in_place
    values = [(v.clone() if not alone and _shares_memory(v, out) else v, c) for v, c in (p(out) for p in plan.parts)]
    for part, (v, c) in zip(plan.parts, values, strict=True):
        _add_at(out, part.rows, v, c)
    return out


def _shares_memory(a: Tensor, b: Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# -- layers, programs, traces ------------------------------------------------------------------------------------


def apply_layer(h: Tensor, layer: Layer, mode: Mode = "fast") -> Tensor:
    """One layer on h (B, D, T) -> a new stream (B, D, T) (h is never modified)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected {'|'.join(MODES)}, got {mode!r}")
    return _literal_layer(h, layer) if mode == "literal" else _fast_layer(h, layer)


def run_layers(layers: Sequence[Layer], h0: Tensor, mode: Mode = "fast") -> list[Tensor]:
    """The stream before the first and after every layer: len(layers) + 1 tensors (B, D, T)."""
    states = [h0]
    for layer in layers:
        states.append(apply_layer(states[-1], layer, mode))
    return states


@dataclass(frozen=True)
class Trace:
    """A forward pass of a program: the residual stream after the embedding and after every layer.

    Attributes:
        transformer: the program. states: L+1 streams (B, D, T); state ℓ is the output of layer ℓ (the trained
            models' ``blocks.{ℓ-1}.hook_resid_post``), state 0 the embedding. mode: ``fast`` or ``literal``.
    """

    transformer: Transformer
    states: tuple[Tensor, ...]
    mode: Mode

    @property
    def layout(self) -> Layout:
        return self.transformer.layout

    @property
    def names(self) -> tuple[str, ...]:
        """``embedding``, then every layer's name."""
        return ("embedding", *(layer.name for layer in self.transformer.layers))

    @property
    def hook_names(self) -> tuple[str, ...]:
        """The trained models' hook names: ``hook_embed``, ``blocks.{ℓ}.hook_resid_post``."""
        return ("hook_embed", *(f"blocks.{i}.hook_resid_post" for i in range(len(self.states) - 1)))

    @property
    def final(self) -> Tensor:
        return self.states[-1]

    def slot(self, name: str, layer: int = -1) -> Tensor:
        """Slot ``name`` after layer ``layer`` (0: the embedding), tokens first: (B, T, size)."""
        return self.states[layer][:, self.layout[name]].transpose(1, 2)

    def slot_path(self, name: str) -> Tensor:
        """Slot ``name`` after every layer: (L+1, B, T, size)."""
        return torch.stack([self.slot(name, ell) for ell in range(len(self.states))])

    def hidden_states(self) -> Tensor:
        """Every state in the trained models' form (GPT2ICL.hidden_states): (L+1, B, T, D)."""
        return torch.stack(self.states).transpose(-1, -2)

    def max_difference(self, other: Trace) -> list[float]:
        """Per layer, max |self − other| / max(|other|, tiny): how far two evaluations of one program differ."""
        return [float((a - b).abs().max() / b.abs().max().clamp_min(1e-300)) if a.numel() else 0.0
                for a, b in zip(self.states, other.states, strict=True)]


def _check_input(transformer: Transformer, h0: Tensor, mode: str) -> None:
    D, T = transformer.layout.D, transformer.tokens
    if h0.ndim != 3 or h0.shape[1] != D or (T is not None and h0.shape[2] != T):
        want = f"(B, {D}, {'T' if T is None else T})"
        raise ValueError(f"h0: expected a stream {want} for {transformer.name or 'this program'}, got "
                         f"{tuple(h0.shape)}")
    if mode not in MODES:
        raise ValueError(f"mode: expected {'|'.join(MODES)}, got {mode!r}")


def evaluate(transformer: Transformer, h0: Tensor, mode: Mode = "fast") -> Trace:
    """Run every layer of ``transformer`` on the embedded stream h0 (B, D, T), keeping every state.

    Raises:
        ValueError: h0 of the wrong width (or token count, when the weights fix one), or an unknown mode.
    """
    _check_input(transformer, h0, mode)
    return Trace(transformer, tuple(run_layers(transformer.layers, h0, mode)), mode)


def final_state(transformer: Transformer, h0: Tensor, mode: Mode = "fast") -> Tensor:
    """The stream after the last layer (B, D, T), each state dropped once the next is formed (the forward pass
    alone: what a model returns, without the trace's memory). Raises as :func:`evaluate`."""
    return evaluate_reading(transformer, h0, lambda h: None, mode)[0]


def evaluate_reading(transformer: Transformer, h0: Tensor, read: Callable[[Tensor], R], mode: Mode = "fast"
                     ) -> tuple[Tensor, list[R]]:
    """The forward pass with ``read`` applied to the embedding and to the stream after every layer, keeping what
    ``read`` returns instead of the streams: the memory of one stream, not L + 1 (d = 64, N = 512, batch 16:
    66 streams of 30 MB each). In ``fast`` mode one stream is updated in place (the same numbers as
    :func:`evaluate`), so ``read`` must copy what it keeps of it, never return a view. Raises as :func:`evaluate`.

    Returns:
        (the final stream (B, D, T), [read(state ℓ) for ℓ = 0 … L]).
    """
    _check_input(transformer, h0, mode)
    if mode == "literal":
        states = run_layers(transformer.layers, h0, mode)
        return states[-1], [read(h) for h in states]
    h = h0.clone()  # the one copy: every layer then updates the stream in place
    readings = [read(h)]
    for layer in transformer.layers:
        h = _fast_layer(h, layer, in_place=True)
        readings.append(read(h))
    return h, readings
