"""ahn23 Lemma 1: L linear-attention layers implement L steps of preconditioned GD.

Construction (one block per GD step, D = d+1, tokens as columns, label row last):

    P_ℓ = [[0, 0], [0, 1]],      Q_ℓ = −[[Bℓ, 0], [0, 0]]

Proof. Let the label row of context token i hold the residual r_i = y_i − w_ℓᵀx_i and that of a query
hold −w_ℓᵀx_q (true at ℓ = 0 with w_0 = 0, since the query label slot is 0). The x rows never change
because P_ℓ's top rows are 0. The layer adds to column j's label entry

    (1/n) Σ_i r_i (Zᵀ Q_ℓ Z)_{ij} = −(1/n) Σ_i r_i x_iᵀ B_ℓ x_j = −x_jᵀ B_ℓᵀ ((1/n) Σ_i x_i r_i)
                                   = x_jᵀ B_ℓᵀ ∇R(w_ℓ),

because ∇R(w) = −(1/n) Σ_i x_i r_i. Hence the new label entries are y_j − x_jᵀ w_{ℓ+1} (context) and
−x_qᵀ w_{ℓ+1} (query) with w_{ℓ+1} = w_ℓ − B_ℓᵀ ∇R(w_ℓ). ∎

So the layer with top-left block −B applies the preconditioner **Bᵀ**: the paper's printed choice
B_ℓ = A_ℓ is exact only for symmetric A_ℓ. **Suite convention:** to implement
w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ) for any A_ℓ, set B_ℓ = A_ℓᵀ (``convention="suite"``, the default);
``convention="paper"`` uses B_ℓ = A_ℓ as printed, which implements the step with A_ℓᵀ.

The program (:func:`preconditioned_gd_transformer`, :mod:`constructions.residual`) has one ``linear`` head per
layer over the n context tokens (:func:`constructions.linear_attention.lsa_head_layer`); the fast evaluator reads
only the x rows for queries and keys and the label row for values, so a layer costs O(T·d²) per prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from constructions.evaluate import Mode, evaluate, evaluate_reading
from constructions.linear_attention import lsa_head_layer, lsa_layout, read_predictions
from constructions.residual import Layer, Transformer
from constructions.structure import structure
from theory.algorithms import preconditioned_gd
from theory.algorithms.trajectory import relative_deviation
from theory.prompts import PromptBatch

__all__ = [
    "gd_step_block",
    "gd_step_layer",
    "build_preconditioned_gd",
    "preconditioned_gd_transformer",
    "with_basis_queries",
    "run_preconditioned_gd",
    "read_weights",
    "constructed_iterates",
    "layerwise_deviation",
    "CONSTRUCTIONS",
]

Convention = Literal["suite", "paper"]


def gd_step_block(A: Tensor, convention: Convention = "suite") -> tuple[Tensor, Tensor]:
    """(P, Q) of the layer that performs w ← w − A∇R(w) (suite) or w ← w − Aᵀ∇R(w) (paper as printed).

    A: (d, d) -> P, Q: (d+1, d+1), float64.
    """
    if convention not in ("suite", "paper"):
        raise ValueError(f"convention: expected 'suite' or 'paper', got {convention!r}")
    d = A.shape[-1]
    P = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    P[d, d] = 1.0  # only the label row is written: the x rows (the data) stay intact
    Q = torch.zeros(d + 1, d + 1, dtype=torch.float64)
    B = A.T if convention == "suite" else A
    Q[:d, :d] = -B.to(torch.float64)  # scores −x_iᵀ B x_j between feature parts only
    return P, Q


def gd_step_layer(A: Tensor, n: int, convention: Convention = "suite", name: str = "gd_step") -> Layer:
    """The layer of :func:`gd_step_block` in the one representation, for n context tokens: a linear head
    W_Q = Q, W_K = I, W_V = P over the context, divided by n (:func:`constructions.linear_attention.lsa_head_layer`)."""
    return lsa_head_layer(*gd_step_block(A, convention), n, name)


def _check_preconditioners(A_seq: Sequence[Tensor]) -> None:
    if len(A_seq) == 0:
        raise ValueError("A_seq: need at least one preconditioner (one layer)")
    d = A_seq[0].shape[-1]
    for i, A in enumerate(A_seq):
        if A.shape != (d, d):
            raise ValueError(f"A_seq[{i}]: expected shape ({d}, {d}), got {tuple(A.shape)}")
        if not bool(torch.isfinite(A).all()):
            raise ValueError(f"A_seq[{i}]: contains NaN or infinite entries")


def build_preconditioned_gd(A_seq: Sequence[Tensor], convention: Convention = "suite") -> tuple[Tensor, Tensor]:
    """Stack one :func:`gd_step_block` per preconditioner: P, Q of shape (L, d+1, d+1) (the LSA parameters)."""
    _check_preconditioners(A_seq)
    blocks = [gd_step_block(A, convention) for A in A_seq]
    return torch.stack([b[0] for b in blocks]), torch.stack([b[1] for b in blocks])


def preconditioned_gd_transformer(A_seq: Sequence[Tensor], n: int, convention: Convention = "suite") -> Transformer:
    """The construction as a program: one :func:`gd_step_layer` per preconditioner, for n context tokens.

    ``params``: d, n, L, convention."""
    _check_preconditioners(A_seq)
    d = A_seq[0].shape[-1]
    layers = tuple(gd_step_layer(A, n, convention, f"gd_step_block[{i}]") for i, A in enumerate(A_seq))
    return Transformer(lsa_layout(d), layers, "preconditioned-gd", {"d": d, "n": n, "L": len(A_seq),
                                                                    "convention": convention})


def with_basis_queries(prompt: PromptBatch) -> PromptBatch:
    """Append the d basis vectors as extra queries: their predictions read the current w directly."""
    B, d = prompt.batch_size, prompt.d
    E = torch.eye(d, dtype=prompt.dtype, device=prompt.device).expand(B, d, d)
    return prompt.with_queries(torch.cat([prompt.xq, E], 1), torch.cat([prompt.yq, prompt.yq.new_zeros(B, d)], 1))


def read_weights(resid: Tensor, n: int, d: int) -> Tensor:
    """w_ℓ read at the d basis queries appended by :func:`with_basis_queries`: (L+1, B, D, T) -> (L+1, B, d)."""
    return read_predictions(resid, n)[..., -d:]


def constructed_iterates(model: Transformer, prompt: PromptBatch, mode: Mode = "fast") -> Tensor:
    """w_ℓ after the embedding and after every layer of ``model`` (from :func:`preconditioned_gd_transformer` for
    ``prompt.n`` examples), read at the basis queries as the forward pass goes: (L+1, B, d). The same numbers as
    :func:`read_weights` of the kept trace, without keeping L + 1 streams."""
    d = prompt.d
    p = with_basis_queries(prompt.to(dtype=torch.float64))
    _, ws = evaluate_reading(model, p.to_stacked(), lambda h: read_predictions(h, p.n)[..., -d:].clone(), mode)
    return torch.stack(ws)


def run_preconditioned_gd(prompt: PromptBatch, A_seq: Sequence[Tensor], convention: Convention = "suite",
                          mode: Mode = "fast") -> Tensor:
    """Forward pass of the construction in float64 with basis queries appended (:func:`evaluate`, ``mode``).

    Returns:
        resid: (L+1, B, d+1, n+m+d), tokens as columns; resid[ℓ] is the stream after ℓ layers.
    """
    p = with_basis_queries(prompt.to(dtype=torch.float64))
    return torch.stack(evaluate(preconditioned_gd_transformer(A_seq, p.n, convention), p.to_stacked(), mode).states)


def layerwise_deviation(
    prompt: PromptBatch,
    A_seq: Sequence[Tensor],
    convention: Convention = "suite",
    reference_A_seq: Sequence[Tensor] | None = None,
    mode: Mode = "fast",
) -> Tensor:
    """max over the batch of ‖ŵ_ℓ − w_ℓ‖/‖w_ℓ‖ per layer ℓ = 1..L (ℓ = 0 is exactly 0 = 0): (L,).

    The reference is preconditioned GD with ``reference_A_seq`` (default ``A_seq``).
    """
    resid = run_preconditioned_gd(prompt, A_seq, convention, mode)
    w_hat = read_weights(resid, prompt.n, prompt.d)
    ref = preconditioned_gd(prompt, list(A_seq if reference_A_seq is None else reference_A_seq)).iterates
    return relative_deviation(w_hat[1:], ref[1:]).amax(dim=-1)


# -- CLI entry --------------------------------------------------------------------------------------------

#: Round-off bound used for arbitrary settings. Each layer's update is a few dot products of length n and d
#: (≈ (n + d)·ε relative); errors are amplified by ‖I − A_ℓŜ‖ per layer. Tolerance: c·(n+d)·ε·Σ_ℓ Π_{j>ℓ}
#: max(1, ‖I − A_jŜ‖) relative to ‖w_ℓ‖ — bounded by 1e-12 on the claim's settings.
EPS64 = torch.finfo(torch.float64).eps


def roundoff_bound(prompt: PromptBatch, A_seq: Sequence[Tensor]) -> float:
    """Per-layer relative round-off bound (see the comment above), maximised over the batch."""
    X = prompt.X.to(torch.float64)
    n, d = X.shape[1], X.shape[2]
    S = X.transpose(1, 2) @ X / n
    I = torch.eye(d, dtype=torch.float64)
    amp = [torch.linalg.matrix_norm(I - A.to(torch.float64) @ S, ord=2).clamp_min(1.0) for A in A_seq]
    bound = torch.zeros(X.shape[0], dtype=torch.float64)
    for g in amp:
        bound = bound * g + 1.0
    condA = max(float(torch.linalg.cond(A.to(torch.float64))) if torch.linalg.matrix_rank(A) == d else 1.0
                for A in A_seq)
    return float(64 * (n + d) * EPS64 * bound.max() * max(1.0, condA))


PRECONDS = ("optimal", "inverse", "identity", "random")
CONVENTIONS = ("suite", "paper")
#: ``--option`` keys of ``preconditioned-gd`` (anything else is refused by :meth:`ConstructionSpec.check_options`).
OPTIONS = {
    "precond": "optimal|inverse|identity|random: the preconditioners A_ℓ (default optimal, Ahn et al. Thm 1)",
    "convention": "suite|paper: Q = −[[Aᵀ,0],[0,0]] (applies A) or the paper's printed −[[A,0],[0,0]]",
}


def _settings(cfg: ConstructionConfig) -> tuple[str, Convention]:
    """(precond, convention) from the options; ValueError listing every bad setting."""
    bad: list[Violation] = []
    precond = parse_option(bad, "precond", lambda: cfg.option_choice("precond", "optimal", PRECONDS), "optimal")
    convention = parse_option(bad, "convention", lambda: cfg.option_choice("convention", "suite", CONVENTIONS),
                              "suite")
    raise_violations(bad)
    return precond, convention  # type: ignore[return-value]


def _memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Dominant float64 tensors of :func:`_cli` (D = d + 1, T = n + 1 + d tokens with the basis queries)."""
    d, n, B, L = cfg.d, cfg.n, cfg.batch, cfg.layers
    D, T = d + 1, n + 1 + d
    return {
        # the list of L + 1 streams and its torch.stack (lsa_forward) coexist
        "residual streams 2·(L+1)·B·D·T": FLOAT64_BYTES * 2 * (L + 1) * B * D * T,
        "layer weights P, Q and A_ℓ 3·L·D²": FLOAT64_BYTES * 3 * L * D * D,
        # covariances, Cholesky factors, the d basis queries, Ŝ, Gram products, I − A_ℓŜ: a dozen (B, D, D)
        "per-prompt (D, D) matrices 12·B·D²": FLOAT64_BYTES * 12 * B * D * D,
        "prompt and reference iterates": FLOAT64_BYTES * (3 * B * (n + 1) * d + (L + 1) * B * d),
        # --eval literal forms each layer's (T, n) score matrix; the fast mode never does
        **({"literal attention scores 2·B·T·n": FLOAT64_BYTES * 2 * B * T * n} if cfg.evaluation == "literal" else {}),
    }


def _cli(cfg: ConstructionConfig) -> ConstructionReport:
    from theory.samplers import LinearRegressionTask, make_generator, spd_with_condition

    precond, convention = _settings(cfg)
    g = make_generator(cfg.seed)
    sigma = spd_with_condition(cfg.d, cfg.cond, g) if cfg.cond != 1 else torch.eye(cfg.d, dtype=torch.float64)
    prompt = LinearRegressionTask(d=cfg.d, n=cfg.n, m=1, sigma=sigma).sample(cfg.batch, g)
    if precond == "optimal":
        from theory.symbolic.ahn23 import optimal_preconditioner

        A_seq = [optimal_preconditioner(sigma, cfg.n)] * cfg.layers
    elif precond == "inverse":
        A_seq = [torch.linalg.inv(sigma)] * cfg.layers
    elif precond == "identity":
        A_seq = [torch.eye(cfg.d, dtype=torch.float64) * 0.5] * cfg.layers
    else:  # random non-symmetric, scaled to spectral norm 1/λ_max(Σ) so the steps stay moderate
        A_seq = []
        for _ in range(cfg.layers):
            G = torch.randn(cfg.d, cfg.d, generator=g, dtype=torch.float64)
            A_seq.append(G / torch.linalg.matrix_norm(G, 2) / torch.linalg.eigvalsh(sigma)[-1])
    dev = layerwise_deviation(prompt, A_seq, convention, mode=cfg.evaluation)
    tol = roundoff_bound(prompt, A_seq)
    rows = [{"layer": 0, "block": "embedding", "reference": "w_0 = 0", "max_rel_dev": None}]
    rows += [{"layer": i + 1, "block": f"gd_step_block[{i}]", "reference": f"preconditioned GD w_{i + 1}",
              "max_rel_dev": float(v)} for i, v in enumerate(dev)]
    notes = [f"preconditioners: {precond}; convention: {convention} (suite: Q = -[[A^T,0],[0,0]] applies A)"]
    if tol > 1e-6:
        notes.append(f"the round-off bound {tol:.1e} is vacuous at this conditioning: agreement within it says "
                     "little; float64 cannot resolve this setting")
    return ConstructionReport("preconditioned-gd", {"d": cfg.d, "n": cfg.n, "layers": cfg.layers, "cond": cfg.cond,
                              "seed": cfg.seed, "batch": cfg.batch, "precond": precond, "convention": convention},
                              rows, tol, "float64 round-off: 64·(n+d)·ε·Σ_ℓ Π_j max(1,‖I−A_jŜ‖)·cond(A)", notes,
                              structure(preconditioned_gd_transformer(A_seq, cfg.n, convention)).as_dict(),
                              cfg.evaluation)


CONSTRUCTIONS = [
    ConstructionSpec(
        name="preconditioned-gd",
        paper="ahn23",
        summary="L linear-attention layers = L preconditioned GD steps (Ahn et al. 2023, Lemma 1)",
        run=_cli,
        layers_help="L = number of GD steps; options: precond=optimal|inverse|identity|random, "
        "convention=suite|paper",
        options=OPTIONS,
        memory=_memory,
    )
]
