"""fu23 Theorem 5.1 as the paper builds it: k Iterative Newton steps in k + 8 layers (3 set-up, k Newton, 5 read-out).

Source: the appendix construction of Fu, Chen, Jia, Sharan (arXiv 2310.17086 v3, NeurIPS 2024), as recovered in the
fact sheet ``shared/papers/fu23.md`` §2. Theorem 5.1: a transformer predicts x_qᵀŵ_k, ŵ_k = M_kXᵀy, with
S = XᵀX, M_0 = αS, M_{j+1} = 2M_j − M_jSM_j (α a fixed weight), in k + 8 layers of width O(d). The suite's own,
shorter construction (k + 3 layers) is :mod:`constructions.newton`.

Two variants (``variant``):

* ``printed`` — the weights as printed: each pair of heads whose scores are ±a shares **one** value matrix
  (V₂ = V₁). The pair then computes σ(a) + σ(−a) = |a| instead of a, so set-up layer 2 adds α Σ_j |x_tᵀx_j| x_j
  instead of αSx_t, and every Newton layer *adds* ½ Σ_j |x_tᵀTx_j| Tx_j where it should subtract ½TSTx_t.
* ``corrected`` — V₂ = −V₁: σ(a) − σ(−a) = a exactly (one of the two terms is exactly 0), and every layer equals
  Newton's iterate to float64 round-off (amplified about 2× per Newton layer: see *Floating point* below).

Prompt format and residual stream
---------------------------------
Tokens (rows) as in the paper: x_1, y_1, …, x_n, y_n, x_q (x-tokens and y-tokens interleaved, the query last),
positions t = 0 … 2n; x_i sits at t = 2i − 2, y_i at 2i − 1, the query at 2n. Width D = 5d + 2:

========  ====  ===========================================================================================
slot      size  content
========  ====  ===========================================================================================
``top``   d     x_i on x-token i at input; T x_i during the Newton layers (the paper's top block)
``bot``   d     x_i on x-token i after set-up layer 1 (the paper's bottom block)
``aux``   d     read-out block: y_i M_k x_i on y-token i (layer k+5), then ŵ_k on the query (layer k+7)
``y``     1     y_i on y-token i; the prediction on the query token (read-out vector u = [0_{3d}; 1])
``one``   1     the constant 1 on every token (Lemma B.3's padding)
``sum``   d     0 at input; Lemma B.3 writes Σ_j h_j's read-out block here (its padding 0_d)
``xq``    d     the query's x on the query token, 0 elsewhere
========  ====  ===========================================================================================

The paper's widths are the first 2d (``top``, ``bot``: all the Newton layers read and write) and the first 3d + 1
(``top``, ``bot``, ``aux``, ``y``: the read-out's [·; ·; ·; prediction], u = [0_{3d}; 1]). **Added here**: ``one``
and ``sum`` are Lemma B.3's own padding [1; 0_d], made part of the stream from the start; ``xq`` is ours: the
Newton sums run over *all* tokens (full attention), so the query's x must stay out of ``top``/``bot``, and the
fact sheet does not say how the paper keeps it out. Our embedding is linear per token type (x-token, y-token,
query) and writes the query's x into ``xq``.

Attention types
---------------
* **ReLU attention** (the paper's Def. B.1; set-up layer 2, the Newton layers, the Lemma B.3 sum): full
  (bidirectional), normalised by the number n of examples,
  h_t ← h_t + (1/n) Σ_heads Σ_j σ(⟨Q h_t, K h_j⟩) V h_j, σ = ReLU.
* **One-hot offset attention** (mov, mul, aff; the paper takes these from Akyürek et al., whose layers use
  causal softmax attention, which is never exactly one-hot): token t attends to exactly one token, t − o
  (o ∈ {0, 1}), with a bilinear score, Δh_t = ⟨W_Q h_t, W_K h_{t−o}⟩ W_V h_{t−o} (t ≥ o; nothing for t < o).
  For t >= o it is causal softmax with a positional score −β(t − o − s)² in the limit β → ∞, where the weights
  are exactly 0/1, multiplied by a content score. mul needs that content score: a product of two entries of one
  token is bilinear, a ReLU MLP is piecewise linear and softmax weights only average, so neither computes it
  exactly. For mov and aff the score is the constant ⟨1, 1⟩ = 1. Exact in float64: no sum over tokens is
  formed; mov's and aff's attention outputs are exact (1·1·v = v), mul's are the products it asks for, and only
  the residual additions round.
* MLPs are linear (the paper's Newton-layer MLP): h ← h + W h.

In the one representation (:mod:`constructions.residual`, tokens as columns): a pair of ReLU heads is a
``signed_pair`` head (second value +1 as printed, −1 corrected) with ``divide_by=n``, mov/mul/aff are ``offset``
heads, and the Newton-layer MLP is a ``linear`` MLP with W = W_2W_1 = [[I, 0], [0, 0]].

Layers (each proved in the docstring of the function that builds it)
--------------------------------------------------------------------
=====  ==============================  ====================  ==============================================
layer  function                        type                  effect
=====  ==============================  ====================  ==============================================
1      :func:`copy_x_to_bottom`        mov (offset 0)        x-token: [x; 0] → [x; x]
2      :func:`add_alpha_S_x`           2 ReLU heads          top: x → x + αSx
3      :func:`subtract_bottom`         aff (offset 0)        top: x + αSx → αSx = M_0x
3+j    :func:`newton_step`             2 ReLU heads + MLP    top: M_{j−1}x → M_jx, j = 1 … k
k+4    :func:`move_state_to_labels`    mov (offset 1)        y-token i: top ← M_kx_i
k+5    :func:`scale_by_label`          mul (offset 0)        y-token i: aux ← y_i M_kx_i
k+6    :func:`sum_over_tokens`         2 ReLU heads          every token: sum ← Σ_i y_iM_kx_i = ŵ_k
k+7    :func:`move_estimate_to_query`  mov (offset 0)        query: aux ← ŵ_k
k+8    :func:`predict`                 mul (offset 0)        query: y ← ⟨ŵ_k, x_q⟩
=====  ==============================  ====================  ==============================================

y-tokens and the query hold zeros in ``top`` and ``bot`` until layer k+4, so they neither send nor receive in
layers 2 … k+3 (their keys, values and queries there read ``top``/``bot`` only). Every layer has nonzero weights
and changes the stream (:func:`working_layers` counts them from the weights).

n inside the value matrices (nα, n in Lemma B.3) and in the query scale −n/2 cancels the 1/n of Def. B.1 (the
paper's footnote notes that counting could avoid it); so the weights are built for one n. Since M_j = S·q_j(S)
for a polynomial q_j, n >= d is not needed (for n < d the iterates tend to the minimum-norm solution).

Floating point. The Newton heads score x_tᵀTx_j, so a Newton layer computes T ↦ 2T − TSTᵀ; this is Newton's
2T − TST because T is symmetric, which holds exactly but not in floating point. Round-off puts a small
antisymmetric part A in T (and, for n > d, makes the n states slightly inconsistent with one matrix T), and the
layer doubles it: at convergence T = S⁺ + A ↦ S⁺ + 2A, whereas Newton's own map damps it. The deviation from the
(stable) reference therefore grows about 2× per Newton layer, from ≈ 1e-15: below 1e-10 up to k ≈ 15, about
1e-8 at k = 24 (d = 5, n = 12). Queries reading ``top`` and keys reading ``bot`` (scores (Tx_t)ᵀx_j) would compute
2T − TST and stay at round-off (measured, ≈ 1e-13 at k = 24); that is not the paper's construction and is not
built here. The suite's compact construction (:mod:`constructions.newton`) uses the same score form and shows the
same growth.

α is a fixed weight (inside nα). It is calibrated on a batch (:func:`alpha_for`): ``official`` (default) is the
official code's 1/‖SSᵀ‖_F, strictly inside the convergence region 0 < αλ_max(S)² < 2; ``paper`` is the text's
2/‖SSᵀ‖₂ = 2/λ_max², the boundary: the top eigendirection v₁ of S has residual 1 − αλ² = −1, so
M_1v₁ = (2 − αλ²)M_0v₁ = 0 and M_jv₁ = 0 for every j >= 1 — the top component of ŵ is never recovered and the
error stalls (:func:`stall_diagnostics`). With one α for a batch, the boundary holds for the prompt with the
largest λ_max (the others are inside).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
from constructions.evaluate import Mode, Trace, evaluate
from constructions.residual import MLP, Head, Layer, Layout, Transformer, selector, signed_pair, value_matrix
from constructions.structure import structure
from constructions.structure import working_layers as _working_layers
from theory.algorithms.newton import newton_schulz
from theory.prompts import PromptBatch

__all__ = [
    "SETUP_LAYERS",
    "READOUT_LAYERS",
    "EXTRA_LAYERS",
    "VARIANTS",
    "ALPHA_RULES",
    "paper_layout",
    "x_positions",
    "y_positions",
    "PaperTrace",
    "alpha_for",
    "relu_pair",
    "one_hot",
    "copy_x_to_bottom",
    "add_alpha_S_x",
    "subtract_bottom",
    "newton_step",
    "move_state_to_labels",
    "scale_by_label",
    "sum_over_tokens",
    "move_estimate_to_query",
    "predict",
    "setup_layers",
    "newton_layers",
    "readout_layers",
    "build_violations",
    "build_newton_paper",
    "working_layers",
    "embed",
    "held_estimates",
    "newton_iterates",
    "newton_estimates",
    "LayerReference",
    "layer_references",
    "layer_deviations",
    "run_newton_paper",
    "stall_diagnostics",
    "CONSTRUCTIONS",
]

Variant = Literal["printed", "corrected"]
AlphaRule = Literal["official", "paper"]

#: The theorem's layer budget: 3 set-up layers + k Newton layers + 5 read-out layers = k + 8.
SETUP_LAYERS = 3
READOUT_LAYERS = 5
EXTRA_LAYERS = SETUP_LAYERS + READOUT_LAYERS
VARIANTS: tuple[Variant, ...] = ("printed", "corrected")
ALPHA_RULES: tuple[AlphaRule, ...] = ("official", "paper")


# -- residual stream ----------------------------------------------------------------------------------------


def paper_layout(d: int) -> Layout:
    """The slots of the module docstring for dimension d (D = 5d + 2)."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d: expected an integer >= 1, got {d!r}")
    return Layout([("top", d), ("bot", d), ("aux", d), ("y", 1), ("one", 1), ("sum", d), ("xq", d)])


def x_positions(n: int) -> Tensor:
    """Positions of the x-tokens x_1 … x_n: (n,)."""
    return torch.arange(0, 2 * n, 2)


def y_positions(n: int) -> Tensor:
    """Positions of the y-tokens y_1 … y_n: (n,)."""
    return torch.arange(1, 2 * n, 2)


# -- weights --------------------------------------------------------------------------------------------------


def relu_pair(Q: Tensor, K: Tensor, V: Tensor, n: int, variant: Variant, name: str = "") -> Head:
    """The paper's pair of ReLU heads (Def. B.1, divided by n) with scores a and −a (the second W_Q negated).

    Corrected (V₂ = −V₁): σ(a)V h − σ(−a)V h = a·V h, exactly, since one of σ(a), σ(−a) is exactly 0.
    Printed (V₂ = V₁): σ(a)V h + σ(−a)V h = |a|·V h.
    """
    return signed_pair(Q, K, V, name, second_value=-1.0 if variant == "corrected" else 1.0, divide_by=n)


def one_hot(offset: int, Q: Tensor, K: Tensor, V: Tensor, name: str = "") -> Head:
    """One-hot offset attention: Δh_t = ⟨Q h_t, K h_{t−o}⟩ V h_{t−o} for t >= o (mov, mul, aff)."""
    return Head("offset", Q, K, V, offset=offset, name=name)


def _unit_score(L: Layout) -> tuple[Tensor, Tensor]:
    """(W_Q, W_K) reading the constant 1 on both sides: a score of exactly 1."""
    return selector(L, "one"), selector(L, "one")


def copy_x_to_bottom(L: Layout) -> Layer:
    """Set-up layer 1 (mov): every x-token becomes [x_i; x_i].

    One offset-0 head, W_Q = W_K = e_oneᵀ (score ⟨1, 1⟩ = 1), W_V copies ``top`` into ``bot``:
    Δbot_t = 1·top_t. x-token i: bot = x_i. y-tokens and the query have top = 0 and receive 0. Exact (no rounding). ∎
    """
    head = one_hot(0, *_unit_score(L), value_matrix(L, [("bot", "top", 1.0)]), "mov")
    return Layer("mov: x → [x; x]", (head,), meta={"stage": "setup"})


def add_alpha_S_x(L: Layout, n: int, alpha: float, variant: Variant) -> Layer:
    """Set-up layer 2: top_t ← x_t + αSx_t on x-tokens (two ReLU heads, Def. B.1).

    Q₁ = K₁ = [[I, 0], [0, 0]] (read ``top``), Q₂ = −Q₁, K₂ = K₁ (so Q₁ᵀK₁ = −Q₂ᵀK₂ = [[I, 0], [0, 0]]),
    V₁ = nα·[[I, 0], [0, 0]]. Scores ±a_tj with a_tj = x_tᵀx_j (tokens without an x have top = 0: score 0, value 0).
    Corrected, V₂ = −V₁: Δtop_t = (1/n) Σ_j a_tj·nα x_j = α Σ_j x_j x_jᵀ x_t = αSx_t (S = XᵀX = Σ_j x_jx_jᵀ). ∎
    Printed, V₂ = V₁: Δtop_t = α Σ_j |x_tᵀx_j| x_j, not αSx_t unless every x_tᵀx_j >= 0.
    """
    head = relu_pair(selector(L, "top"), selector(L, "top"), value_matrix(L, [("top", "top", n * alpha)]), n, variant,
                     "x + αSx")
    return Layer("signed attention: x + αSx", (head,), meta={"stage": "setup"})


def subtract_bottom(L: Layout) -> Layer:
    """Set-up layer 3 (aff): top_t ← top_t − bot_t, so x-tokens hold [T₀x_i; x_i] with T₀ = αS = M_0.

    One offset-0 head, score ⟨1, 1⟩ = 1, W_V = −(copy ``bot`` into ``top``): Δtop_t = −bot_t, i.e. the affine map
    W₁top + W₂bot with W₁ = I, W₂ = −I. x-token i: (x_i + αSx_i) − x_i = αSx_i = M_0x_i (one rounding per entry:
    the subtraction). Other tokens: 0 − 0. ∎
    """
    head = one_hot(0, *_unit_score(L), value_matrix(L, [("top", "bot", -1.0)]), "aff")
    return Layer("aff: top − bottom = αSx", (head,), meta={"stage": "setup"})


def newton_step(L: Layout, n: int, variant: Variant, j: int) -> Layer:
    """Newton layer j (j = 1 … k): [T x_t; x_t] → [(2T − TST) x_t; x_t] on x-tokens, T = M_{j−1}.

    Attention, two ReLU heads: Q_m = Q̃_m G, K_m = K̃_m J with G = [[0, −(n/2)I], [0, 0]] (reads ``bot``),
    J = [[I, 0], [0, 0]] (reads ``top``), Q̃₁ = I, K̃₁ = I, Q̃₂ = −I, K̃₂ = I (Q̃₁ᵀK̃₁ = I, Q̃₂ᵀK̃₂ = −I), V₁ = J.
    Scores ±a_tj with a_tj = −(n/2) x_tᵀ T x_j (0 unless both tokens are x-tokens).
    Corrected, V₂ = −J: Δtop_t = (1/n) Σ_j a_tj T x_j = −½ Σ_j T x_j x_jᵀ T x_t = −½ T S T x_t (T = M_{j−1} is a
    polynomial in S, hence symmetric: x_tᵀTx_j = x_jᵀTx_t). MLP, linear, W = [[I, 0], [0, 0]]: h ← h + W h
    doubles ``top``: top_t = 2T x_t − TST x_t = M_j x_t (doubling is exact). ∎
    Printed, V₂ = J: Δtop_t = +½ Σ_j |x_tᵀTx_j| T x_j — the wrong sign and |·|; the state is no longer T'x_t for any
    matrix T'.
    """
    WQ = selector(L, "bot", scale=-n / 2)  # Q̃₁G: n/2 is exact (n integer)
    WK = selector(L, "top")  # K̃₁J
    head = relu_pair(WQ, WK, value_matrix(L, [("top", "top", 1.0)]), n, variant, "−½TSTx")  # Q̃₂G = −Q̃₁G
    double = MLP(selector(L, "top"), selector(L, "top").T, "linear", "W = [[I, 0], [0, 0]]")
    return Layer(f"newton step {j}", (head,), (double,), meta={"stage": "newton"})


def move_state_to_labels(L: Layout) -> Layer:
    """Read-out layer 1 (mov): y-token i (position t = 2i − 1) receives M_kx_i from x-token i (position t − 1).

    One offset-1 head, score ⟨1, 1⟩ = 1, W_V copies ``top``: Δtop_t = top_{t−1}. y-token i: 0 + M_kx_i. Every
    other token's predecessor is a y-token (top = 0 before this layer) or absent (t = 0): it receives 0. Exact. ∎
    """
    head = one_hot(1, *_unit_score(L), value_matrix(L, [("top", "top", 1.0)]), "mov")
    return Layer("mov: M_k x_i onto y-token i", (head,), meta={"stage": "readout"})


def scale_by_label(L: Layout) -> Layer:
    """Read-out layer 2 (mul): y-token i gets aux = y_i·M_kx_i.

    One offset-0 head, W_Q = e_yᵀ, W_K = e_oneᵀ (score y_t·1 = y_t), W_V copies ``top`` into ``aux``:
    Δaux_t = y_t·top_t. y-token i: y_iM_kx_i (one rounding per entry). x-tokens and the query have y = 0: 0. ∎
    """
    head = one_hot(0, selector(L, "y"), selector(L, "one"), value_matrix(L, [("aux", "top", 1.0)]), "mul")
    return Layer("mul: y_i M_k x_i", (head,), meta={"stage": "readout"})


def sum_over_tokens(L: Layout, n: int, variant: Variant) -> Layer:
    """Read-out layer 3 (Lemma B.3): every token gets sum = Σ_t aux_t = Σ_i y_iM_kx_i = M_kXᵀy = ŵ_k.

    Two ReLU heads, Q = K = selector of the constant 1, K₂ = −K₁ (scores 1 and −1), V₁ = n·(copy ``aux`` into
    ``sum``): the first head adds (1/n) Σ_t σ(1)·n·aux_t = Σ_t aux_t; the second adds σ(−1)·V₂h = 0 in both
    variants (its score is the constant −1), so this layer is the same printed and corrected. aux is nonzero only
    on y-tokens (layer k+5). ∎
    """
    head = relu_pair(*_unit_score(L), value_matrix(L, [("sum", "aux", float(n))]), n, variant, "Σ_t aux_t")
    return Layer("sum (Lemma B.3): ŵ_k", (head,), meta={"stage": "readout"})


def move_estimate_to_query(L: Layout) -> Layer:
    """Read-out layer 4 (mov): the query token gets aux = ŵ_k, next to its x_q, where the last layer reads it.

    One offset-0 head, score ⟨1, 1⟩ = 1, W_V copies ``sum`` into ``aux``: Δaux_t = sum_t = ŵ_k. The query's aux
    was 0 (its y slot is 0 in layer k+5): aux = ŵ_k, exactly. (Other tokens also receive ŵ_k; the last layer reads
    aux only where xq ≠ 0, i.e. at the query.) ∎
    """
    head = one_hot(0, *_unit_score(L), value_matrix(L, [("aux", "sum", 1.0)]), "mov")
    return Layer("mov: ŵ onto the query", (head,), meta={"stage": "readout"})


def predict(L: Layout) -> Layer:
    """Read-out layer 5 (mul): the query's y slot gets ⟨ŵ_k, x_q⟩, read by u = [0_{3d}; 1].

    One offset-0 head, W_Q reads ``aux``, W_K reads ``xq``, W_V copies the constant 1 into ``y``:
    Δy_t = ⟨aux_t, xq_t⟩. Query: ⟨ŵ_k, x_q⟩ (the dot product's roundings). Other tokens have xq = 0: 0. ∎
    """
    head = one_hot(0, selector(L, "aux"), selector(L, "xq"), value_matrix(L, [("y", "one", 1.0)]), "mul")
    return Layer("mul: ⟨ŵ, x_q⟩", (head,), meta={"stage": "readout"})


def setup_layers(L: Layout, n: int, alpha: float, variant: Variant) -> tuple[Layer, ...]:
    """Layers 1–3: x-token i → [M_0x_i; x_i]."""
    return copy_x_to_bottom(L), add_alpha_S_x(L, n, alpha, variant), subtract_bottom(L)


def newton_layers(L: Layout, n: int, k: int, variant: Variant) -> tuple[Layer, ...]:
    """Layers 4 … k+3: x-token i → [M_kx_i; x_i]."""
    return tuple(newton_step(L, n, variant, j) for j in range(1, k + 1))


def readout_layers(L: Layout, n: int, variant: Variant) -> tuple[Layer, ...]:
    """Layers k+4 … k+8: the query's y slot → x_qᵀŵ_k."""
    return (move_state_to_labels(L), scale_by_label(L), sum_over_tokens(L, n, variant), move_estimate_to_query(L),
            predict(L))


def _is_int(v: object, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def build_violations(d: object, n: object, k: object, alpha: object, variant: object) -> list[Violation]:
    """Every invalid argument of :func:`build_newton_paper` (empty when all are valid)."""
    out = [Violation(name, f"expected an integer >= {low}, got {v!r}")
           for name, v, low in (("d", d, 1), ("n", n, 1), ("k", k, 0)) if not _is_int(v, low)]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < float(alpha) < float("inf"):
        out.append(Violation("alpha", f"the initial scale α must be a finite number > 0, got {alpha!r}"))
    if variant not in VARIANTS:
        out.append(Violation("variant", f"expected one of {'|'.join(VARIANTS)}, got {variant!r}"))
    return out


def build_newton_paper(d: int, n: int, k: int, alpha: float, variant: Variant = "corrected") -> Transformer:
    """The k + 8 layers of Theorem 5.1 for prompts with n examples in dimension d and the fixed weight α.

    ``params`` of the program: d, n, k, alpha, variant; its token count is fixed to 2n + 1 (n is in the weights).

    Raises:
        ValueError: listing every invalid argument.
    """
    raise_violations(build_violations(d, n, k, alpha, variant))
    L = paper_layout(d)
    layers = setup_layers(L, n, float(alpha), variant) + newton_layers(L, n, k, variant) + readout_layers(
        L, n, variant)
    model = Transformer(L, layers, "newton-paper",
                        {"d": d, "n": n, "k": k, "alpha": float(alpha), "variant": variant}, tokens=2 * n + 1)
    assert model.num_layers == k + EXTRA_LAYERS, "Theorem 5.1: k + 8 layers"
    return model


def working_layers(model: Transformer) -> int:
    """Layers with at least one working weight (:func:`constructions.structure.working_layers`)."""
    return _working_layers(model)


# -- forward pass ---------------------------------------------------------------------------------------------


def embed(prompt: PromptBatch, layout: Layout) -> Tensor:
    """The paper's prompt x_1, y_1, …, x_n, y_n, x_q as a (B, D, 2n + 1) float64 stream (slots: module docstring).

    Linear per token type: x-token i → top = x_i; y-token i → y = y_i; query → xq = x_q; one = 1 everywhere.
    """
    if prompt.m != 1:
        raise ValueError(f"prompt: the paper's format has one query token, got m = {prompt.m}")
    p = prompt.to(dtype=torch.float64)
    B, n = p.batch_size, p.n
    L = layout
    h = torch.zeros(B, L.D, 2 * n + 1, dtype=torch.float64, device=p.device)
    h[:, L["top"], 0: 2 * n: 2] = p.X.transpose(1, 2)
    h[:, L.index("y"), 1: 2 * n: 2] = p.y
    h[:, L["xq"], 2 * n] = p.xq[:, 0]
    h[:, L.index("one")] = 1.0
    return h


def held_estimates(trace: Trace, prompt: PromptBatch) -> Tensor:
    """ŵ held by the stream after set-up layer 3 and each Newton layer: Σ_i y_i·top(x-token i) (= M_jXᵀy when
    top = M_jx_i), what read-out layers k+4 … k+6 compute from that state. Returns (k+1, B, d)."""
    n, k = trace.transformer.params["n"], trace.transformer.params["k"]
    y = prompt.y.to(torch.float64)
    return torch.stack([torch.einsum("bnd,bn->bd", trace.slot("top", SETUP_LAYERS + j)[:, 0: 2 * n: 2], y)
                        for j in range(k + 1)])


# -- comparison with Newton (theory.algorithms.newton) -----------------------------------------------------


@dataclass(frozen=True)
class LayerReference:
    """What layer ``layer`` must hold: ``ref`` (B, tokens, size) in slot ``slot`` at ``tokens``; ``scale`` (B,) the
    norm its deviation is divided by; ``newton_step`` j when it is Newton's iterate M_j (else None)."""

    layer: int
    reference: str
    tokens: Tensor
    slot: str
    ref: Tensor
    scale: Tensor
    newton_step: int | None = None


def _rows(M: Tensor, X: Tensor) -> Tensor:
    """Rows (M x_i)ᵀ: M (B, d, d), X (B, n, d) -> (B, n, d)."""
    return (M @ X.transpose(1, 2)).transpose(1, 2)


def _fro(t: Tensor) -> Tensor:
    return torch.linalg.vector_norm(t.flatten(1), dim=1)


def newton_iterates(prompt: PromptBatch, k: int, alpha: float, *, allow_unstable: bool = False) -> Tensor:
    """M_0 … M_k of :func:`theory.algorithms.newton.newton_schulz` for S = XᵀX: (k+1, B, d, d).

    ``allow_unstable`` passes through: the boundary α = 2/λ_max² is refused there unless it is set."""
    X = prompt.X.to(torch.float64)
    return newton_schulz(X.transpose(1, 2) @ X, k, alpha, allow_unstable=allow_unstable)


def newton_estimates(prompt: PromptBatch, M: Tensor) -> Tensor:
    """Newton's ŵ_j = M_jXᵀy: M (k+1, B, d, d) -> (k+1, B, d)."""
    X, y = prompt.X.to(torch.float64), prompt.y.to(torch.float64)
    return torch.einsum("kbij,bj->kbi", M, (X.transpose(1, 2) @ y.unsqueeze(-1))[..., 0])


def layer_references(prompt: PromptBatch, M: Tensor, alpha: float) -> list[LayerReference]:
    """Per layer 1 … k+8, the quantity the proof says it holds, from Newton's iterates M = M_0 … M_k
    (:func:`newton_iterates`, same α): (k+1, B, d, d)."""
    X, y, xq = (t.to(torch.float64) for t in (prompt.X, prompt.y, prompt.xq[:, 0]))
    B, n, d = X.shape
    k = M.shape[0] - 1
    S = X.transpose(1, 2) @ X
    w = newton_estimates(prompt, M[-1:])[0]  # ŵ_k: (B, d)
    xs, ys, q, every = x_positions(n), y_positions(n), torch.tensor([2 * n]), torch.arange(2 * n + 1)

    def ref(layer: int, what: str, tokens: Tensor, slot: str, r: Tensor, j: int | None = None,
            scale: Tensor | None = None) -> LayerReference:
        return LayerReference(layer, what, tokens, slot, r, _fro(r) if scale is None else scale, j)

    XM = [_rows(M[j], X) for j in range(k + 1)]
    out = [ref(1, "bot = x_i (x-tokens)", xs, "bot", X),
           ref(2, "top = x_i + αSx_i", xs, "top", X + alpha * _rows(S, X)),
           ref(3, "top = M_0 x_i (Newton iterate 0)", xs, "top", XM[0], 0)]
    out += [ref(3 + j, f"top = M_{j} x_i (Newton iterate {j})", xs, "top", XM[j], j) for j in range(1, k + 1)]
    pred = torch.einsum("bd,bd->b", xq, w)
    out += [ref(k + 4, "top = M_k x_i (y-tokens)", ys, "top", XM[k]),
            ref(k + 5, "aux = y_i M_k x_i (y-tokens)", ys, "aux", y.unsqueeze(-1) * XM[k]),
            ref(k + 6, "sum = ŵ_k = M_k Xᵀy (all tokens)", every, "sum", w.unsqueeze(1).expand(B, 2 * n + 1, d)),
            ref(k + 7, "aux = ŵ_k (query)", q, "aux", w.unsqueeze(1)),
            # a dot product can cancel: its round-off scale is ‖x_q‖‖ŵ_k‖, not |x_qᵀŵ_k|
            ref(k + 8, "y = x_qᵀŵ_k (query; rel. to ‖x_q‖‖ŵ_k‖)", q, "y", pred.view(B, 1, 1),
                scale=_fro(xq) * _fro(w))]
    return out


def layer_deviations(trace: Trace, refs: Sequence[LayerReference]) -> Tensor:
    """Relative deviation ‖held − reference‖_F / scale per layer and prompt: (len(refs), B); non-finite -> inf."""
    rows = []
    for r in refs:
        held = trace.slot(r.slot, r.layer)[:, r.tokens]  # (B, tokens, size)
        dev = _fro(held - r.ref) / r.scale.clamp_min(1e-300)
        rows.append(torch.where(torch.isfinite(dev), dev, torch.full_like(dev, float("inf"))))
    return torch.stack(rows)


# -- α and the boundary -------------------------------------------------------------------------------------


def alpha_for(prompt: PromptBatch, rule: AlphaRule) -> float:
    """The fixed weight α calibrated on a batch (S = XᵀX per prompt).

    ``official``: 1/max_b ‖S_bS_bᵀ‖_F (the official code's 1/‖SSᵀ‖_F; α λ_max(S_b)² <= 1 for every prompt).
    ``paper``: 2/max_b ‖S_bS_bᵀ‖₂ = 2/max_b λ_max(S_b)², the convergence boundary for the prompt attaining the max.
    """
    if rule not in ALPHA_RULES:
        raise ValueError(f"alpha: expected one of {'|'.join(ALPHA_RULES)}, got {rule!r}")
    X = prompt.X.to(torch.float64)
    S = X.transpose(1, 2) @ X
    SS = S @ S.transpose(1, 2)
    norm = torch.linalg.matrix_norm(SS, ord="fro" if rule == "official" else 2).max()
    if not float(norm) > 0:
        raise ValueError("prompt: X is all zeros, XᵀX has no positive eigenvalue")
    return (1.0 if rule == "official" else 2.0) / float(norm)


def stall_diagnostics(prompt: PromptBatch, estimates: Tensor) -> dict[str, Tensor]:
    """How far ŵ_0 … ŵ_k are from the minimum-norm least-squares ŵ = S⁺Xᵀy, and how much of ŵ's top component
    (along the top eigenvector v₁ of S) they hold. estimates: (k+1, B, d).

    Returns:
        ``error`` (k+1, B): ‖ŵ_j − ŵ‖/‖ŵ‖; ``top_fraction`` (k+1, B): ⟨v₁, ŵ_j⟩/⟨v₁, ŵ⟩; ``missing`` (B,):
        |⟨v₁, ŵ⟩|/‖ŵ‖, the error left when exactly the top component is lost.
    """
    X, y = prompt.X.to(torch.float64), prompt.y.to(torch.float64)
    w = (torch.linalg.pinv(X) @ y.unsqueeze(-1)).squeeze(-1)  # (B, d)
    v1 = torch.linalg.eigh(X.transpose(1, 2) @ X).eigenvectors[..., -1]  # (B, d)
    wn = torch.linalg.vector_norm(w, dim=-1)
    top = torch.einsum("bd,bd->b", v1, w)
    return {"error": torch.linalg.vector_norm(estimates - w, dim=-1) / wn,
            "top_fraction": torch.einsum("kbd,bd->kb", estimates, v1) / top,
            "missing": top.abs() / wn}


# -- one call: build, run, compare --------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperTrace:
    """A run of the construction on a prompt batch, next to Newton.

    Attributes:
        trace: the forward pass (:class:`constructions.evaluate.Trace`: the program and its k + 9 streams).
        refs: per-layer references (layers 1 … k+8).
        deviations: (k+8, B) relative deviation of each layer from its reference.
        estimates: (k+1, B, d) ŵ_0 … ŵ_k held by the construction (:func:`held_estimates`).
        ref_estimates: (k+1, B, d) Newton's ŵ_0 … ŵ_k.
        predictions: (B,) the query's y slot after the last layer.
        alpha_lambda2: (B,) α·λ_max(S)² per prompt (< 2: inside the convergence region; 2: the boundary).
    """

    trace: Trace
    refs: tuple[LayerReference, ...]
    deviations: Tensor
    estimates: Tensor
    ref_estimates: Tensor
    predictions: Tensor
    alpha_lambda2: Tensor

    @property
    def model(self) -> Transformer:
        """The weights (the program that ran)."""
        return self.trace.transformer

    @property
    def alpha(self) -> float:
        return float(self.model.params["alpha"])

    def rows(self) -> list[dict]:
        """Per-layer rows for :class:`ConstructionReport` (layer 0, the embedding, has no reference)."""
        out: list[dict] = [{"layer": 0, "block": "embedding", "reference": "—", "max_rel_dev": None}]
        for r, dev in zip(self.refs, self.deviations, strict=True):
            layer = self.model.layers[r.layer - 1]
            out.append({"layer": r.layer, "block": layer.name, "stage": layer.meta["stage"], "reference": r.reference,
                        "newton_step": r.newton_step, "max_rel_dev": float(dev.max())})
        return out


def run_newton_paper(prompt: PromptBatch, k: int, alpha: AlphaRule | float = "official",
                     variant: Variant = "corrected", mode: Mode = "fast") -> PaperTrace:
    """Build the weights (α from the batch by ``alpha``'s rule, or the number given), run them in float64
    (:func:`constructions.evaluate.evaluate`, ``mode``) and compare every layer with Newton's iterates at the
    same α (the reference is allowed the boundary α)."""
    a = alpha_for(prompt, alpha) if isinstance(alpha, str) else alpha
    model = build_newton_paper(prompt.d, prompt.n, k, a, variant)
    trace = evaluate(model, embed(prompt, model.layout), mode)
    X = prompt.X.to(torch.float64)
    lam = torch.linalg.eigvalsh(X.transpose(1, 2) @ X)[:, -1]
    M = newton_iterates(prompt, k, a, allow_unstable=True)  # the weights may sit on the boundary on purpose
    refs = tuple(layer_references(prompt, M, a))
    return PaperTrace(trace, refs, layer_deviations(trace, refs), held_estimates(trace, prompt),
                      newton_estimates(prompt, M), trace.slot("y")[:, 2 * prompt.n, 0], a * lam**2)


# -- CLI entry ----------------------------------------------------------------------------------------------

#: ``--option`` keys of ``newton-paper`` (any other key is refused by :meth:`ConstructionSpec.check_options`).
OPTIONS = {
    "variant": "corrected|printed: paired heads with V₂ = −V₁ (default), or V₂ = V₁ as printed (computes |a|)",
    "alpha": "official|paper: α = 1/‖SSᵀ‖_F (default, the official code) or 2/‖SSᵀ‖₂ (the text; the boundary)",
}


def _settings(cfg: ConstructionConfig) -> tuple[Variant, AlphaRule, int]:
    """(variant, α rule, k) from the options and --layers; ValueError listing every bad setting."""
    bad: list[Violation] = []
    variant = parse_option(bad, "variant", lambda: cfg.option_choice("variant", "corrected", VARIANTS), "corrected")
    rule = parse_option(bad, "alpha", lambda: cfg.option_choice("alpha", "official", ALPHA_RULES), "official")
    if cfg.layers < EXTRA_LAYERS:
        bad.append(Violation("--layers", f"Theorem 5.1 uses k + 8 layers (3 set-up, k Newton, 5 read-out), so "
                                         f"--layers must be k + 8 >= 8 for k >= 0 Newton steps; got {cfg.layers}"))
    raise_violations(bad)
    return variant, rule, cfg.layers - EXTRA_LAYERS  # type: ignore[return-value]


def _memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Dominant float64 tensors of :func:`_cli`: the kept streams, ReLU scores, weights, Newton's iterates.

    T = 2n + 1 tokens, width D = 5d + 2, L = --layers, k = L − 8.
    """
    _, _, k = _settings(cfg)
    d, B, L = cfg.d, cfg.batch, cfg.layers
    T, D = 2 * cfg.n + 1, paper_layout(d).D
    return {
        "residual streams (L+1)·B·T·D": FLOAT64_BYTES * (L + 1) * B * T * D,
        "ReLU attention scores and values 2·B·T·(T + D)": FLOAT64_BYTES * 2 * B * T * (T + D),
        "layer weights (W_V and the MLP are D×D) 4·L·D²": FLOAT64_BYTES * 4 * L * D * D,
        "Newton iterates M_0 … M_k twice (k+1)·B·d²": FLOAT64_BYTES * 2 * (k + 1) * B * d * d,
    }


def _cli(cfg: ConstructionConfig) -> ConstructionReport:
    from theory.samplers import LinearRegressionTask, make_generator, spd_with_condition

    variant, rule, k = _settings(cfg)
    g = make_generator(cfg.seed)
    sigma = spd_with_condition(cfg.d, cfg.cond, g) if cfg.cond != 1 else torch.eye(cfg.d, dtype=torch.float64)
    prompt = LinearRegressionTask(d=cfg.d, n=cfg.n, m=1, sigma=sigma).sample(cfg.batch, g)
    tr = run_newton_paper(prompt, k, rule, variant, cfg.evaluation)
    rows = tr.rows()
    size = structure(tr.model)
    al = tr.alpha_lambda2
    alpha_name = "1/‖SSᵀ‖_F, the official code" if rule == "official" else "2/‖SSᵀ‖₂, the paper's text"
    notes = [
        f"k = {k} Newton steps in {size.depth} layers (k + 8: 3 set-up, {k} Newton, 5 read-out); "
        f"{size.working_layers} of them have working weights (counted from the weights)",
        f"variant = {variant}: " + ("paired heads share V (V₂ = V₁) as printed, so each pair computes |a| instead "
                                    "of a; see the deviations from layer 2 on" if variant == "printed" else
                                    "paired heads with V₂ = −V₁ (σ(a) − σ(−a) = a)"),
        f"alpha = {tr.alpha:.6g} ({alpha_name}; one fixed weight for the batch); α·λ_max(S)² per prompt in "
        f"[{float(al.min()):.6g}, "
        f"{float(al.max()):.6g}] (convergence needs < 2)",
        f"width D = 5d + 2 = {size.width}: the paper's 2d (Newton) / 3d + 1 (read-out), plus Lemma B.3's "
        "[1; 0_d] padding and a d-slot for the query's x (see constructions/newton_paper.py)",
    ]
    if rule == "paper":
        st = stall_diagnostics(prompt, tr.estimates)
        b = int(al.argmax())
        err = st["error"][:, b]
        notes.append(f"boundary prompt {b}: ‖ŵ_j − ŵ_LS‖/‖ŵ_LS‖ per Newton step {[f'{e:.3g}' for e in err.tolist()]}; "
                     f"top component held {float(st['top_fraction'][-1, b]):.2e} of ŵ_LS's; the error stalls at the "
                     f"missing top component {float(st['missing'][b]):.3g}")
    return ConstructionReport(
        "newton-paper",
        {"d": cfg.d, "n": cfg.n, "layers": cfg.layers, "k": k, "variant": variant, "alpha": rule,
         "cond": cfg.cond, "seed": cfg.seed, "batch": cfg.batch, "width": size.width},
        rows, 1e-10, "Theorem 5.1: Newton's iterates at every layer; float64 round-off, acceptance 1e-10 relative",
        notes, size.as_dict(), cfg.evaluation)


CONSTRUCTIONS = [
    ConstructionSpec(
        name="newton-paper",
        paper="fu23",
        summary="Theorem 5.1 as in the paper's appendix: k Newton steps in k + 8 layers (3 set-up, k Newton, "
                "5 read-out), ReLU attention, variant=printed|corrected",
        run=_cli,
        layers_help="L = k + 8 (3 set-up + k Newton + 5 read-out layers); options: variant=corrected|printed, "
                    "alpha=official|paper",
        options=OPTIONS,
        memory=_memory,
    )
]
