"""fu23, the suite's compact construction: k steps of Iterative Newton in k + 3 layers (float64, exact).

Paper (Fu, Chen, Jia, Sharan, arXiv 2310.17086): *a transformer implements k iterations of Iterative Newton,
M_0 = αS, M_{j+1} = 2M_j − M_jSM_j, ŵ_k = M_kXᵀy, with k + 8 layers and hidden size O(d)* (Theorem 5.1; the
NeurIPS 2024 version's abstract says **k + O(1)**). The paper's own k + 8 construction is
:mod:`constructions.newton_paper`. **The construction below is the suite's own**: what is taken from the paper
is the statement (Newton–Schulz with M_0 = αS, one layer per Newton step, width O(d)) and the use of ReLU
attention. Every block matrix, the token format, the setup and read-out layers and the proof are ours. It
needs **k + 3** layers, every one with nonzero weights: 5 fewer than the paper's k + 8.

Construction
------------
Tokens (rows) are the Garg et al. interleaved prompt of :meth:`PromptBatch.to_interleaved`,
x_1, y_1, …, x_n, y_n, x_q1 … x_qm, followed by d *probe* tokens e_1 … e_d (x-like tokens whose
prediction is the j-th coordinate of the current estimate). Positions t = 0 … T−1, T = 2n + m + d.
Residual stream (width D = 3d + 6 = O(d)), named slots:

==========  ====  =============================================================================
slot        size  content
==========  ====  =============================================================================
``x``       d     the token's x (x-tokens, queries, probes); 0 on label tokens
``y``       1     y_i on label tokens; 0 elsewhere
``c``       d     x_i copied onto label token i by layer 1; 0 elsewhere
``u``       d     2M_j x_i on label token i (the Newton state, kept doubled); 0 elsewhere
``out``     1     the prediction ŷ_t = x_tᵀŵ_k (written by the read-out layer)
``pos``     4     positional embedding (1, t, t², f_t), f_t = 1 iff t is a label token (t odd, t < 2n)
==========  ====  =============================================================================

Attention: ReLU attention without normalisation, h_t ← h_t + Σ_heads Σ_s σ(⟨W_Q h_t, W_K h_s⟩) W_V h_s,
bidirectional (every token sees every token); then a ReLU MLP, h ← h + W_2 σ(W_1 h). A *linear* head (score
⟨q, k⟩ itself) is a pair of ReLU heads (W_Q, W_K, W_V) and (−W_Q, W_K, −W_V), because σ(s) − σ(−s) = s
exactly in floating point (one term is exactly 0). The Newton state is kept *doubled* (u = 2M_j x_i): the
MLP supplies the 2M_j x_i term of M_{j+1} = 2M_j − M_jSM_j, and all rescalings are by powers of two, which
are exact in floating point.

1. ``pair_labels`` (ReLU head). Score σ(1 − (t − 1 − s)² − 2(1 − f_t)), bilinear in pos(t) and
   pos(s) = (1, s, s²): it equals 1 for s = t − 1 when t is a label token and 0 otherwise (integers:
   (t − 1 − s)² >= 1 off the diagonal). Value x_s → slot ``c``. Hence c = x_i on label token i. ∎
2. ``newton_init`` (linear head). Query c_t, key c_s, value 2α c_s → ``u``:
   u_i = 2α Σ_s c_s c_sᵀ x_i = 2αS x_i = 2M_0 x_i. Tokens with c_t = 0 receive nothing.
3. … k+2. ``newton_step[j]``: a linear head with query c_t, key u_s, value −¼u_s, then an MLP that doubles
   ``u`` (W_1 = [E_u; −E_u], W_2 = [E_uᵀ, −E_uᵀ]: u + σ(u) − σ(−u) = 2u):
   u_i ← 2·(2M_j x_i − ¼ Σ_s (2M_j x_s)(2M_j x_s)ᵀ x_i) = 2·(2M_j − M_jSM_j) x_i = 2M_{j+1} x_i,
   using M_jᵀ = M_j (every M_j is a polynomial in S). ∎
k+3. ``readout`` (linear head). Query x_t, key u_s, value ½y_s → ``out``:
   out_t = ½ Σ_s y_s x_tᵀ 2M_k x_s = x_tᵀ M_k Xᵀy = x_tᵀ ŵ_k. At probe token e_j this is (ŵ_k)_j. ∎

Evaluation: :func:`apply_block` runs a layer through its weights' support and evaluates a linear head as
q_t(KᵀV) (bidirectional attention, so the sum over s is the same matrix for every t), O(T·d²) per Newton
step instead of O(T²·D); ``literal=True`` evaluates every ReLU head's (T, T) scores with the dense weights,
which is the definition (the tests check the two agree to round-off).

Since M_j = S·q_j(S) vanishes on null(S), the n vectors M_j x_i determine M_j: n >= d is **not**
needed (for n < d the iterates tend to the minimum-norm solution, exactly as the reference's; in floating
point, round-off in null(S) is doubled by every step, for the reference as for the construction, so keep
2^k·ε small there).

Per-layer read-out: applying the read-out head to the stream after any layer gives the estimate that
layer holds: ŵ_j after ``newton_step[j-1]`` (ŵ_0 after ``newton_init``).

Assumptions (all checked at once, :func:`newton_assumptions`): α > 0; a norm bound B > 0 with
α B² < 2 (convergence for every admissible prompt: residual eigenvalues 1 − αλ² ∈ (−1, 1)); each prompt's
λ_max(XᵀX) <= B; T² < 2⁵³ so positions and their squares are exact in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from constructions.base import (
    FLOAT64_BYTES,
    ConstructionConfig,
    ConstructionReport,
    ConstructionSpec,
    MemoryEstimate,
    Violation,
    parse_option,
    raise_violations,
)
from theory.algorithms.newton import BOUNDARY_RTOL, newton_solution_path
from theory.algorithms.trajectory import relative_deviation
from theory.prompts import PromptBatch

__all__ = [
    "SETUP_LAYERS",
    "Layout",
    "Projection",
    "Head",
    "MLP",
    "Block",
    "NewtonTransformer",
    "NewtonTrace",
    "newton_assumptions",
    "build_newton",
    "working_layers",
    "embed",
    "apply_block",
    "head_output",
    "layer_states",
    "forward",
    "read_estimates",
    "lambda_max",
    "run_newton_construction",
    "newton_reference",
    "default_scale",
    "pair_labels_block",
    "newton_init_block",
    "newton_step_block",
    "double_slot_mlp",
    "readout_block",
    "layer_references",
    "layerwise_deviation",
    "CONSTRUCTIONS",
]

#: Layers that are not Newton steps: pair labels, M_0 = αS, read-out (k + 3 in all; the paper has k + 8).
SETUP_LAYERS = 3


@dataclass(frozen=True)
class Layout:
    """Slot offsets of the residual stream for dimension d (D = 3d + 6)."""

    d: int

    def __post_init__(self) -> None:
        if isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
            raise ValueError(f"d: expected an integer >= 1, got {self.d!r}")

    @property
    def x(self) -> slice:
        return slice(0, self.d)

    @property
    def y(self) -> int:
        return self.d

    @property
    def c(self) -> slice:
        return slice(self.d + 1, 2 * self.d + 1)

    @property
    def u(self) -> slice:
        return slice(2 * self.d + 1, 3 * self.d + 1)

    @property
    def out(self) -> int:
        return 3 * self.d + 1

    @property
    def one(self) -> int:
        return 3 * self.d + 2

    @property
    def t(self) -> int:
        return 3 * self.d + 3

    @property
    def t2(self) -> int:
        return 3 * self.d + 4

    @property
    def flag(self) -> int:
        return 3 * self.d + 5

    @property
    def width(self) -> int:
        return 3 * self.d + 6


def _support(W: Tensor, all_rows: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(nonzero rows — or all rows, nonzero columns, W restricted to them) of a weight matrix."""
    rows = torch.arange(W.shape[0]) if all_rows else torch.nonzero(W.abs().sum(1)).flatten()
    cols = torch.nonzero(W.abs().sum(0)).flatten()
    return rows, cols, W[rows][:, cols]


def _as_index(idx: Tensor) -> slice | Tensor:
    """A sorted index set as a slice when it is contiguous (basic indexing is a view, not a gather)."""
    if idx.numel() and int(idx[-1]) - int(idx[0]) + 1 == idx.numel():
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


@dataclass(frozen=True)
class Projection:
    """A weight matrix W: (r, D) applied through its support (skipping exact-zero rows and columns changes no
    sum). ``apply(h)``: (..., D) -> (..., |rows|), the nonzero outputs (all r with ``all_rows``, as for
    queries and keys, whose coordinates pair up); ``rows`` says where they go."""

    W: Tensor
    all_rows: bool = False
    rows: Tensor = field(init=False, repr=False)
    cols: Tensor = field(init=False, repr=False)
    sub: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, val in zip(("rows", "cols", "sub"), _support(self.W, self.all_rows), strict=True):
            object.__setattr__(self, name, val)

    @cached_property
    def _cols(self) -> slice | Tensor:
        return _as_index(self.cols)

    @cached_property
    def out_index(self) -> slice | Tensor:
        """``rows`` as a slice when contiguous (all slots of the construction are)."""
        return _as_index(self.rows)

    @cached_property
    def _view(self) -> tuple[slice, float] | None:
        """(source slot, scale) when W restricted to ``rows`` is c·I on a contiguous slot: then W h is a view of
        that slot times c, the same numbers as the matmul (the other products are exact zeros)."""
        W = self.W[self.rows]
        if bool(((W != 0).sum(1) != 1).any()):
            return None
        src = W.abs().argmax(1)
        scale = W.gather(1, src.unsqueeze(1)).squeeze(1)
        idx = _as_index(src)
        if not isinstance(idx, slice) or idx.stop - idx.start != W.shape[0] or not bool((scale == scale[0]).all()):
            return None
        return idx, float(scale[0])

    def apply(self, h: Tensor) -> Tensor:
        if self._view is not None:
            src, c = self._view
            return h[..., src] if c == 1.0 else h[..., src] * c
        cols = self._cols if isinstance(self._cols, slice) else self._cols.to(h.device)
        return h[..., cols] @ self.sub.T.to(h.device)


@dataclass(frozen=True)
class Head:
    """Attention head with score ⟨W_Q h_t, W_K h_s⟩ (W_Q, W_K: (r, D)) and value W_V h_s (W_V: (D, D)).

    ``linear=False``: one ReLU head, Δh_t = Σ_s σ(score) W_V h_s.
    ``linear=True``: the *pair* of ReLU heads (W_Q, W_K, W_V), (−W_Q, W_K, −W_V), whose sum is
    Δh_t = Σ_s score · W_V h_s exactly (σ(a) − σ(−a) = a, one term being 0).
    """

    WQ: Tensor
    WK: Tensor
    WV: Tensor
    linear: bool = False

    @property
    def relu_heads(self) -> int:
        return 2 if self.linear else 1

    @cached_property
    def value_rows(self) -> Projection:
        """W_V through its support: which slots the head writes."""
        return Projection(self.WV)

    @cached_property
    def query_key(self) -> tuple[Projection, Projection]:
        return Projection(self.WQ, all_rows=True), Projection(self.WK, all_rows=True)


@dataclass(frozen=True)
class MLP:
    """Δh = W_2 σ(W_1 h), W_1: (H, D), W_2: (D, H)."""

    W1: Tensor
    W2: Tensor

    @cached_property
    def projections(self) -> tuple[Projection, Projection]:
        # all rows of W_1: the hidden vector keeps every unit, which is what W_2's columns index
        return Projection(self.W1, all_rows=True), Projection(self.W2)


@dataclass(frozen=True)
class Block:
    """A transformer layer: attention heads, then an MLP (None: zero weights). ``name`` says what it computes."""

    name: str
    heads: tuple[Head, ...]
    mlp: MLP | None = None


@dataclass(frozen=True)
class NewtonTransformer:
    """The weights for k Newton steps; ``blocks`` has k + SETUP_LAYERS = k + 3 layers."""

    d: int
    k: int
    alpha: float
    norm_bound: float
    blocks: tuple[Block, ...]
    layout: Layout = field(repr=False)

    @property
    def num_layers(self) -> int:
        return len(self.blocks)


def _zeros(r: int, D: int) -> Tensor:
    return torch.zeros(r, D, dtype=torch.float64)


def _copy(D: int, src: slice | int, dst: slice | int, scale: float = 1.0) -> Tensor:
    """W_V writing scale·h[src] into slot dst."""
    W = torch.zeros(D, D, dtype=torch.float64)
    s = range(D)[src] if isinstance(src, slice) else [src]
    t = range(D)[dst] if isinstance(dst, slice) else [dst]
    for i, j in zip(t, s, strict=True):
        W[i, j] = scale
    return W


def _select(D: int, rows: slice | int) -> Tensor:
    """(r, D) matrix reading a slot."""
    idx = list(range(D)[rows]) if isinstance(rows, slice) else [rows]
    W = _zeros(len(idx), D)
    for i, j in enumerate(idx):
        W[i, j] = 1.0
    return W


def pair_labels_block(L: Layout) -> Block:
    """Layer 1: label token t copies x_{t−1} into ``c`` (score σ(1 − (t−1−s)² − 2(1 − f_t)))."""
    D = L.width
    WQ = _zeros(3, D)
    # query coefficients on (1, s, s²): (−t² + 2t − 2 + 2f_t, 2t − 2, −1), linear in pos(t) = (1, t, t², f)
    WQ[0, L.one], WQ[0, L.t], WQ[0, L.t2], WQ[0, L.flag] = -2.0, 2.0, -1.0, 2.0
    WQ[1, L.one], WQ[1, L.t] = -2.0, 2.0
    WQ[2, L.one] = -1.0
    WK = _zeros(3, D)
    WK[0, L.one], WK[1, L.t], WK[2, L.t2] = 1.0, 1.0, 1.0  # key (1, s, s²)
    return Block("pair_labels", (Head(WQ, WK, _copy(D, L.x, L.c)),))


def newton_init_block(L: Layout, alpha: float) -> Block:
    """Layer 2: u_i = 2α Σ_s c_s ⟨c_s, c_i⟩ = 2αS x_i = 2M_0 x_i (the state is kept doubled, see the module doc)."""
    D = L.width
    return Block("newton_init", (Head(_select(D, L.c), _select(D, L.c), _copy(D, L.c, L.u, 2 * alpha), linear=True),))


def double_slot_mlp(L: Layout, slot: slice) -> MLP:
    """h[slot] ← h[slot] + σ(h[slot]) − σ(−h[slot]) = 2h[slot] (exact: one of the two ReLUs is 0)."""
    D = L.width
    sel = _select(D, slot)
    return MLP(torch.cat([sel, -sel]), torch.cat([sel.T, -sel.T], 1))


def newton_step_block(L: Layout, j: int) -> Block:
    """Layer j+3: with u_i = 2M_j x_i, attention u_i ← u_i − ¼ Σ_s u_s ⟨u_s, c_i⟩ = M_{j+1} x_i; MLP doubles."""
    D = L.width
    head = Head(_select(D, L.c), _select(D, L.u), _copy(D, L.u, L.u, -0.25), linear=True)
    return Block(f"newton_step[{j}]", (head,), double_slot_mlp(L, L.u))


def readout_block(L: Layout) -> Block:
    """Layer k+3: out_t = ½ Σ_s y_s ⟨u_s, x_t⟩ = x_tᵀ M_k Xᵀy (u_s = 2M_k x_s)."""
    D = L.width
    return Block("readout", (Head(_select(D, L.x), _select(D, L.u), _copy(D, L.y, L.out, 0.5), linear=True),))


def newton_assumptions(k: object, alpha: object, norm_bound: object,
                       prompt: PromptBatch | None = None, d: int | None = None, *,
                       lam: Tensor | None = None) -> list[Violation]:
    """Every assumption of the proof that fails, as a list (empty when all hold).

    ``lam``: :func:`lambda_max` of ``prompt`` when already computed (else computed here)."""
    out: list[Violation] = []
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        out.append(Violation("k", f"number of Newton steps must be an integer >= 0, got {k!r}"))
    a_ok = isinstance(alpha, int | float) and not isinstance(alpha, bool) and 0 < float(alpha) < float("inf")
    b_ok = isinstance(norm_bound, int | float) and not isinstance(norm_bound, bool) and 0 < float(norm_bound) < float(
        "inf")
    if not a_ok:
        out.append(Violation("alpha", f"the initial scale α must be a finite number > 0, got {alpha!r}"))
    if not b_ok:
        out.append(Violation("norm_bound", f"the bound B on ‖XᵀX‖₂ must be a finite number > 0, got {norm_bound!r}"))
    if a_ok and b_ok and float(alpha) * float(norm_bound) ** 2 >= 2.0 * (1 - BOUNDARY_RTOL):
        out.append(Violation("alpha", f"α·B² = {float(alpha) * float(norm_bound) ** 2:.6g} must be < 2 for Newton to "
                                      "converge on every prompt with ‖XᵀX‖₂ <= B (the paper's 2/‖SSᵀ‖₂ is the "
                                      "boundary, where it does not)"))
    if prompt is not None:
        if d is not None and prompt.d != d:
            out.append(Violation("prompt", f"has d = {prompt.d}, the weights were built for d = {d}"))
        T = 2 * prompt.n + prompt.m + prompt.d
        if T * T >= 2**53:
            out.append(Violation("prompt", f"{T} tokens: positions² must be exact in float64 (T² < 2⁵³)"))
        if b_ok:
            lmax = lambda_max(prompt) if lam is None else lam
            bad = lmax > float(norm_bound)
            if bool(bad.any()):
                out.append(Violation("norm_bound", f"{int(bad.sum())} prompt(s) have λ_max(XᵀX) above B = "
                                                   f"{float(norm_bound):.6g} (largest {float(lmax.max()):.6g})"))
    return out


def build_newton(d: int, k: int, alpha: float, norm_bound: float) -> NewtonTransformer:
    """Weights for k Newton steps with fixed initial scale α (valid for prompts with ‖XᵀX‖₂ <= norm_bound).

    Raises:
        ValueError: listing every violated assumption.
    """
    viol = newton_assumptions(k, alpha, norm_bound)
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        viol.insert(0, Violation("d", f"expected an integer >= 1, got {d!r}"))
    raise_violations(viol)
    L = Layout(d)
    blocks = [pair_labels_block(L), newton_init_block(L, float(alpha))]
    blocks += [newton_step_block(L, j) for j in range(k)]
    blocks.append(readout_block(L))
    model = NewtonTransformer(d, k, float(alpha), float(norm_bound), tuple(blocks), L)
    assert model.num_layers == k + SETUP_LAYERS, "layer count must be k + 3"
    return model


def working_layers(model: NewtonTransformer) -> int:
    """Blocks with at least one nonzero weight (an all-zero block is the identity and does not count)."""
    def nonzero(block: Block) -> bool:
        mats = [W for h in block.heads for W in (h.WQ, h.WK, h.WV)]
        mats += [block.mlp.W1, block.mlp.W2] if block.mlp is not None else []
        return any(bool(W.ne(0).any()) for W in mats)

    return sum(nonzero(b) for b in model.blocks)


def embed(prompt: PromptBatch, layout: Layout) -> Tensor:
    """Token embedding + positional embedding: (B, T, D), T = 2n + m + d (probe tokens e_j appended)."""
    p = prompt.to(dtype=torch.float64)
    B, n, d = p.batch_size, p.n, p.d
    L = layout
    tokens = p.to_interleaved()  # (B, 2n+m, d+1): x tokens [x, 0], label tokens [0, y]
    probes = torch.cat([torch.eye(d, dtype=torch.float64), torch.zeros(d, 1, dtype=torch.float64)], 1)
    tokens = torch.cat([tokens, probes.to(tokens.device).expand(B, d, d + 1)], 1)
    T = tokens.shape[1]
    h = torch.zeros(B, T, L.width, dtype=torch.float64, device=tokens.device)
    h[..., L.x] = tokens[..., :d]
    h[..., L.y] = tokens[..., d]
    t = torch.arange(T, dtype=torch.float64, device=tokens.device)
    h[..., L.one] = 1.0
    h[..., L.t] = t
    h[..., L.t2] = t * t
    h[..., L.flag] = ((t % 2 == 1) & (t < 2 * n)).to(torch.float64)  # label tokens: odd positions of the context
    return h


def _add_at(out: Tensor, P: Projection, values: Tensor) -> None:
    """out[..., P.rows] += values, in place (values: (..., |P.rows|))."""
    idx = P.out_index
    if isinstance(idx, slice):
        out[..., idx] += values
    else:
        out.index_add_(-1, idx.to(out.device), values)


def _attend_literal(h: Tensor, head: Head) -> Tensor:
    """Δh of the head evaluated as written: every ReLU head's (T, T) score matrix (``linear``: both heads)."""
    WQ, WK, WV = (W.to(h.device) for W in (head.WQ, head.WK, head.WV))
    q, k, v = h @ WQ.T, h @ WK.T, h @ WV.T
    out = torch.relu(q @ k.transpose(-1, -2)) @ v
    if head.linear:
        out = out + torch.relu(-q @ k.transpose(-1, -2)) @ (-v)
    return out


def head_output(h: Tensor, head: Head, queries: slice = slice(None)) -> Tensor:
    """The head's nonzero value coordinates (slots ``head.value_rows.rows``) at the query tokens.

    Computed through the weights' support; a linear head is re-associated as q_t (Kᵀ V), since attention is
    bidirectional (Σ_s ⟨q_t, k_s⟩ v_s = q_tᵀ Σ_s k_s v_sᵀ): O(T r |v|) instead of O(T²).

    h: (B, T, D) -> (B, T_q, |rows of W_V|).
    """
    PQ, PK = head.query_key
    q, k, v = PQ.apply(h[:, queries]), PK.apply(h), head.value_rows.apply(h)
    if head.linear:
        return q @ (k.transpose(-1, -2) @ v)
    return torch.relu(q @ k.transpose(-1, -2)) @ v


def apply_block(h: Tensor, block: Block, literal: bool = False) -> Tensor:
    """One layer: h + Σ_heads attention(h), then + MLP. ``literal`` evaluates every ReLU head's full score
    matrix with the dense weights (the definition); the default uses the weights' support and re-associates
    linear heads (the same function, up to float64 round-off)."""
    if not block.heads and block.mlp is None:
        return h  # a zero-weight layer is the identity (states are never modified in place)
    if literal:
        out = h + sum(_attend_literal(h, head) for head in block.heads) if block.heads else h
        if block.mlp is not None:
            out = out + torch.relu(out @ block.mlp.W1.T.to(h.device)) @ block.mlp.W2.T.to(h.device)
        return out
    out = h.clone()
    for head in block.heads:
        _add_at(out, head.value_rows, head_output(h, head))
    if block.mlp is not None:
        P1, P2 = block.mlp.projections
        _add_at(out, P2, P2.apply(torch.relu(P1.apply(out))))
    return out


def layer_states(model: NewtonTransformer, h0: Tensor, literal: bool = False) -> list[Tensor]:
    """Residual stream after the embedding and after every layer: L+1 tensors (B, T, D)."""
    states = [h0]
    for block in model.blocks:
        states.append(apply_block(states[-1], block, literal))
    return states


def forward(model: NewtonTransformer, h0: Tensor, literal: bool = False) -> Tensor:
    """Residual stream after every layer: (L+1, B, T, D); index ℓ is "blocks.{ℓ-1}.hook_resid_post"."""
    return torch.stack(layer_states(model, h0, literal))


def read_estimates(model: NewtonTransformer, resid: Sequence[Tensor] | Tensor) -> Tensor:
    """Per-layer read-out of the current estimate ŵ: the read-out head applied at the probe tokens.

    resid: L+1 states (B, T, D) (or their stack) -> (L+1, B, d).
    """
    # the model's own read-out head (it writes only ``out``), with queries only at the d probe tokens
    (lens,) = next(b for b in model.blocks if b.name == "readout").heads
    return torch.stack([head_output(h, lens, slice(-model.d, None))[..., 0] for h in resid])


@dataclass(frozen=True)
class NewtonTrace:
    """What a forward pass of the construction exposes.

    Attributes:
        resid: L+1 residual-stream states (B, T, D), after the embedding and after each layer
            (``torch.stack`` gives :func:`forward`'s tensor). estimates: (L+1, B, d) per-layer read-out of ŵ.
        predictions: (B, m) the model's output at the query tokens. paired: (B, n, d) slot ``c`` on the label
        tokens after layer 1 (should equal X exactly). model: the weights.
    """

    resid: tuple[Tensor, ...]
    estimates: Tensor
    predictions: Tensor
    paired: Tensor
    model: NewtonTransformer


def lambda_max(prompt: PromptBatch) -> Tensor:
    """λ_max(XᵀX) per prompt: (B,)."""
    X = prompt.X.to(torch.float64)
    return torch.linalg.eigvalsh(X.transpose(1, 2) @ X)[:, -1]


def default_scale(prompt: PromptBatch, lam: Tensor | None = None) -> tuple[float, float]:
    """(α, B) calibrated on a batch: B = max λ_max(XᵀX), α = 1/B² (half the boundary 2/B²; fixed weights).
    ``lam``: :func:`lambda_max` of the prompt when already computed."""
    B = float((lambda_max(prompt) if lam is None else lam).max())
    if not B > 0:
        raise ValueError("prompt: X is all zeros, XᵀX has no positive eigenvalue")
    return 1.0 / B**2, B


def run_newton_construction(prompt: PromptBatch, k: int, alpha: float | None = None, norm_bound: float | None = None
                            ) -> NewtonTrace:
    """Build the weights and run them on ``prompt`` in float64 (pure function; benchmark entry point).

    With ``alpha``/``norm_bound`` None they are calibrated on the batch (:func:`default_scale`).

    Raises:
        ValueError: listing every violated assumption (weights and prompt together).
    """
    lam = lambda_max(prompt)
    a0, b0 = default_scale(prompt, lam) if alpha is None or norm_bound is None else (None, None)
    alpha = a0 if alpha is None else alpha
    norm_bound = b0 if norm_bound is None else norm_bound
    raise_violations(newton_assumptions(k, alpha, norm_bound, prompt, lam=lam))
    model = build_newton(prompt.d, k, alpha, norm_bound)  # type: ignore[arg-type]
    resid = tuple(layer_states(model, embed(prompt, model.layout)))
    n, m, L = prompt.n, prompt.m, model.layout
    preds = resid[-1][:, 2 * n: 2 * n + m, L.out]
    paired = resid[1][:, 1: 2 * n: 2, L.c]
    return NewtonTrace(resid, read_estimates(model, resid), preds, paired, model)


def newton_reference(prompt: PromptBatch, k: int, alpha: float) -> Tensor:
    """ŵ_0 … ŵ_k of :func:`theory.algorithms.newton_solution_path` with the same α: (k+1, B, d)."""
    return newton_solution_path(prompt, k, alpha).iterates


def layer_references(model: NewtonTransformer) -> list[tuple[str, int | None]]:
    """For each layer ℓ = 0..L: (block name, Newton step j whose ŵ_j it holds, or None before ``newton_init``)."""
    rows: list[tuple[str, int | None]] = [("embedding", None)]
    j: int | None = None
    for block in model.blocks:
        if block.name == "newton_init":
            j = 0
        elif block.name.startswith("newton_step"):
            j = (j or 0) + 1
        rows.append((block.name, j))
    return rows


def layerwise_deviation(trace: NewtonTrace, prompt: PromptBatch) -> tuple[list[dict], float]:
    """Per-layer max relative deviation of the read-out from the reference ŵ_j, and of the predictions.

    Returns:
        (rows, prediction deviation); rows as in :class:`ConstructionReport`.
    """
    model = trace.model
    ref = newton_reference(prompt, model.k, model.alpha)
    rows = []
    for ell, (name, j) in enumerate(layer_references(model)):
        if j is None:
            dev = float((trace.paired - prompt.X.to(torch.float64)).abs().max()) if ell == 1 else None
            refname = "c slot = X (exact copy)" if ell == 1 else "—"
        else:
            dev = float(relative_deviation(trace.estimates[ell], ref[j]).max())
            refname = f"Newton ŵ_{j}"
        rows.append({"layer": ell, "block": name, "reference": refname, "max_rel_dev": dev})
    yq = torch.einsum("bmd,bd->bm", prompt.xq.to(torch.float64), ref[-1])
    pdev = float(((trace.predictions - yq).abs() / yq.abs().clamp_min(1e-300)).max()) if prompt.m else 0.0
    return rows, pdev


# -- CLI entry --------------------------------------------------------------------------------------------

#: ``--option`` keys of ``newton`` (anything else is refused by :meth:`ConstructionSpec.check_options`).
OPTIONS = {
    "alpha": "initial scale α > 0 of M_0 = αS (default 1/B², B = max λ_max(XᵀX); α·B² < 2 is required)",
}


def _settings(cfg: ConstructionConfig) -> tuple[int, float | None]:
    """(k Newton steps, α or None) from the options and --layers; ValueError listing every bad setting."""
    bad: list[Violation] = []
    alpha = parse_option(bad, "alpha", lambda: cfg.option_float("alpha", 1.0, low=0.0, low_open=True), 1.0)
    if cfg.layers < SETUP_LAYERS + 1:
        bad.append(Violation("--layers", f"the construction has k + {SETUP_LAYERS} layers, so --layers must be >= "
                                         f"{SETUP_LAYERS + 1} for k >= 1 Newton step; got {cfg.layers}"))
    raise_violations(bad)
    return cfg.layers - SETUP_LAYERS, alpha if "alpha" in cfg.options else None


def _memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Dominant float64 tensors of :func:`_cli`: the kept residual streams, the reference's stacked M_j, weights.

    T = 2n + m + d tokens (m = 2 queries, d probes), width D = 3d + 6, L = --layers, k = L − 3.
    """
    k, _ = _settings(cfg)
    d, B, L = cfg.d, cfg.batch, cfg.layers
    T, D = 2 * cfg.n + 2 + d, Layout(d).width
    return {
        "residual streams (L+1)·B·T·D": FLOAT64_BYTES * (L + 1) * B * T * D,
        # pair_labels is a true ReLU head: its (B, T, T) scores and their ReLU are formed
        "pair_labels scores 2·B·T²": FLOAT64_BYTES * 2 * B * T * T,
        "reference Newton iterates (k+1)·B·d² (and their products)": FLOAT64_BYTES * 2 * (k + 1) * B * d * d,
        "layer weights (W_V is D×D per head) 3·L·D²": FLOAT64_BYTES * 3 * L * D * D,
        "per-prompt (d, d) matrices 8·B·d²": FLOAT64_BYTES * 8 * B * d * d,
    }


def _cli(cfg: ConstructionConfig) -> ConstructionReport:
    from theory.samplers import LinearRegressionTask, make_generator, spd_with_condition

    k, alpha_opt = _settings(cfg)
    g = make_generator(cfg.seed)
    sigma = spd_with_condition(cfg.d, cfg.cond, g) if cfg.cond != 1 else torch.eye(cfg.d, dtype=torch.float64)
    prompt = LinearRegressionTask(d=cfg.d, n=cfg.n, m=2, sigma=sigma).sample(cfg.batch, g)
    alpha, bound = default_scale(prompt)
    if alpha_opt is not None:
        alpha = alpha_opt
        if alpha * bound**2 >= 2.0 * (1 - BOUNDARY_RTOL):  # B is known only now, from the drawn batch
            raise_violations([Violation("--option alpha", f"α·B² = {alpha * bound**2:.6g} must be < 2 for Newton to "
                                                          f"converge (B = max λ_max(XᵀX) = {bound:.6g}; the default "
                                                          "1/B² is safe)")])
    trace = run_newton_construction(prompt, k, alpha, bound)
    rows, pdev = layerwise_deviation(trace, prompt)
    X = prompt.X.to(torch.float64)
    condS = float(torch.linalg.cond(X.transpose(1, 2) @ X).max()) if cfg.n >= cfg.d else float("inf")
    notes = [
        f"k = {k} Newton steps in {trace.model.num_layers} layers (k + 3, every one with nonzero weights; the "
        "paper's own construction, newton-paper, has k + 8; v3 states k + O(1))",
        f"alpha = {alpha:.6g}{' (--option alpha)' if alpha_opt is not None else ' = 1/B²'}, B = max λ_max(XᵀX) "
        f"over the batch = {bound:.6g} (1/B² is safe: the paper's 2/‖SSᵀ‖₂ is the convergence boundary)",
        f"query predictions vs x_qᵀŵ_k: max rel dev {pdev:.3e}; max cond(XᵀX) = {condS:.3g}",
        "the suite's own construction; see constructions/newton.py docstring (the paper's: newton-paper)",
    ]
    return ConstructionReport(
        "newton",
        {"d": cfg.d, "n": cfg.n, "layers": cfg.layers, "k": k, "cond": cfg.cond, "seed": cfg.seed, "batch": cfg.batch,
         "width": trace.model.layout.width},
        rows, 1e-10, "fact sheet acceptance: <= 1e-10 relative per Newton step in float64", notes)


CONSTRUCTIONS = [
    ConstructionSpec(
        name="newton",
        paper="fu23",
        summary="k Iterative Newton steps in k + 3 layers of ReLU attention, width 3d + 6 (Fu et al. 2023, "
                "Thm 5.1's k + 8 bettered; the suite's own construction)",
        run=_cli,
        layers_help="L = k + 3 (k Newton steps); options: alpha (initial scale, default 1/B²)",
        options=OPTIONS,
        memory=_memory,
    )
]
