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
Tokens are the Garg et al. interleaved prompt of :meth:`PromptBatch.to_interleaved`,
x_1, y_1, …, x_n, y_n, x_q1 … x_qm, followed by d *probe* tokens e_1 … e_d (x-like tokens whose
prediction is the j-th coordinate of the current estimate). Positions t = 0 … T−1, T = 2n + m + d.
Residual stream (width D = 3d + 6 = O(d); a program of :mod:`constructions.residual`, tokens as columns), named
slots (:func:`newton_layout`):

==========  ====  =============================================================================
slot        size  content
==========  ====  =============================================================================
``x``       d     the token's x (x-tokens, queries, probes); 0 on label tokens
``y``       1     y_i on label tokens; 0 elsewhere
``c``       d     x_i copied onto label token i by layer 1; 0 elsewhere
``u``       d     2M_j x_i on label token i (the Newton state, kept doubled); 0 elsewhere
``out``     1     the prediction ŷ_t = x_tᵀŵ_k (written by the read-out layer)
``one``     1     positional embedding (1, t, t², f_t): the constant 1
``t``       1     the position t
``t2``      1     t²
``flag``    1     f_t = 1 iff t is a label token (t odd, t < 2n)
==========  ====  =============================================================================

Attention: ReLU attention without normalisation, h_t ← h_t + Σ_heads Σ_s σ(⟨W_Q h_t, W_K h_s⟩) W_V h_s,
bidirectional (every token sees every token); then a ReLU MLP, h ← h + W_2 σ(W_1 h). A *linear* head (score
⟨q, k⟩ itself) is a ``signed_pair``: the ReLU heads (W_Q, W_K, W_V) and (−W_Q, W_K, −W_V), because
σ(s) − σ(−s) = s exactly in floating point (one term is exactly 0). The Newton state is kept *doubled*
(u = 2M_j x_i): the MLP supplies the 2M_j x_i term of M_{j+1} = 2M_j − M_jSM_j, and all rescalings are by
powers of two, which are exact in floating point.

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

Evaluation: :func:`constructions.evaluate.evaluate`. Its fast mode runs a layer through its weights' support and
evaluates a linear head as (Σ_s v_s k_sᵀ) q_t (bidirectional attention, so the sum over s is the same matrix for
every t), O(T·d²) per Newton step instead of O(T²·D); its literal mode evaluates every ReLU head's (T, T)
scores with the dense weights, which is the definition (the tests check the two agree to round-off).

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

from collections.abc import Callable, Sequence

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
from constructions.evaluate import Mode, Trace, evaluate, evaluate_reading, head_output
from constructions.residual import MLP, Head, Layer, Layout, Transformer, copy_mlp, selector, signed_pair, value_matrix
from constructions.structure import structure
from constructions.structure import working_layers as _working_layers
from theory.algorithms.newton import BOUNDARY_RTOL, newton_solution_path
from theory.algorithms.trajectory import relative_deviation
from theory.prompts import PromptBatch

__all__ = [
    "SETUP_LAYERS",
    "newton_layout",
    "newton_assumptions",
    "build_newton",
    "working_layers",
    "embed_tokens",
    "embed",
    "read_estimates",
    "estimates_path",
    "read_predictions",
    "read_paired",
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


def newton_layout(d: int) -> Layout:
    """The slots of the module docstring for dimension d: D = 3d + 6."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d: expected an integer >= 1, got {d!r}")
    return Layout([("x", d), ("y", 1), ("c", d), ("u", d), ("out", 1), ("one", 1), ("t", 1), ("t2", 1),
                   ("flag", 1)])


def pair_labels_block(L: Layout) -> Layer:
    """Layer 1: label token t copies x_{t−1} into ``c`` (score σ(1 − (t−1−s)² − 2(1 − f_t)))."""
    WQ = torch.zeros(3, L.D, dtype=torch.float64)
    # query coefficients on (1, s, s²): (−t² + 2t − 2 + 2f_t, 2t − 2, −1), linear in pos(t) = (1, t, t², f)
    WQ[0, L.index("one")], WQ[0, L.index("t")], WQ[0, L.index("t2")], WQ[0, L.index("flag")] = -2.0, 2.0, -1.0, 2.0
    WQ[1, L.index("one")], WQ[1, L.index("t")] = -2.0, 2.0
    WQ[2, L.index("one")] = -1.0
    WK = torch.cat([selector(L, "one"), selector(L, "t"), selector(L, "t2")])  # key (1, s, s²)
    return Layer("pair_labels", (Head("relu", WQ, WK, value_matrix(L, [("c", "x", 1.0)]), name="pair labels"),))


def newton_init_block(L: Layout, alpha: float) -> Layer:
    """Layer 2: u_i = 2α Σ_s c_s ⟨c_s, c_i⟩ = 2αS x_i = 2M_0 x_i (the state is kept doubled, see the module doc)."""
    head = signed_pair(selector(L, "c"), selector(L, "c"), value_matrix(L, [("u", "c", 2 * alpha)]), "2αS")
    return Layer("newton_init", (head,))


def double_slot_mlp(L: Layout, slot: str) -> MLP:
    """h[slot] ← h[slot] + σ(h[slot]) − σ(−h[slot]) = 2h[slot] (exact: one of the two ReLUs is 0)."""
    return copy_mlp(L, [(slot, slot, 1.0)], f"double {slot}")


def newton_step_block(L: Layout, j: int) -> Layer:
    """Layer j+3: with u_i = 2M_j x_i, attention u_i ← u_i − ¼ Σ_s u_s ⟨u_s, c_i⟩ = M_{j+1} x_i; MLP doubles."""
    head = signed_pair(selector(L, "c"), selector(L, "u"), value_matrix(L, [("u", "u", -0.25)]), "−¼ M S M")
    return Layer(f"newton_step[{j}]", (head,), (double_slot_mlp(L, "u"),))


def readout_block(L: Layout) -> Layer:
    """Layer k+3: out_t = ½ Σ_s y_s ⟨u_s, x_t⟩ = x_tᵀ M_k Xᵀy (u_s = 2M_k x_s)."""
    head = signed_pair(selector(L, "x"), selector(L, "u"), value_matrix(L, [("out", "y", 0.5)]), "x_tᵀ ŵ")
    return Layer("readout", (head,))


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


def build_newton(d: int, k: int, alpha: float, norm_bound: float) -> Transformer:
    """Weights for k Newton steps with fixed initial scale α (valid for prompts with ‖XᵀX‖₂ <= norm_bound).

    ``params`` of the program: d, k, alpha, norm_bound.

    Raises:
        ValueError: listing every violated assumption.
    """
    viol = newton_assumptions(k, alpha, norm_bound)
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        viol.insert(0, Violation("d", f"expected an integer >= 1, got {d!r}"))
    raise_violations(viol)
    L = newton_layout(d)
    layers = (pair_labels_block(L), newton_init_block(L, float(alpha)), *(newton_step_block(L, j) for j in range(k)),
              readout_block(L))
    model = Transformer(L, layers, "newton", {"d": d, "k": k, "alpha": float(alpha), "norm_bound": float(norm_bound)})
    assert model.num_layers == k + SETUP_LAYERS, "layer count must be k + 3"
    return model


def working_layers(model: Transformer) -> int:
    """Layers with at least one working weight (:func:`constructions.structure.working_layers`)."""
    return _working_layers(model)


def embed_tokens(tokens: Tensor, n: int, layout: Layout) -> Tensor:
    """Garg-format tokens (B, T, d+1) ([x, 0] / [0, y] rows, as GPT2ICL reads them) with n examples first ->
    the stream (B, D, T): x and y into their slots, positions (1, t, t², f_t), f_t = 1 on the label tokens."""
    d = layout.size("x")
    if tokens.ndim != 3 or tokens.shape[-1] != d + 1 or tokens.shape[1] < 2 * n:
        raise ValueError(f"tokens: expected (B, T >= {2 * n}, {d + 1}), got {tuple(tokens.shape)}")
    B, T, _ = tokens.shape
    tok = tokens.to(torch.float64)
    h = torch.zeros(B, layout.D, T, dtype=torch.float64, device=tokens.device)
    h[:, layout["x"]] = tok[..., :d].transpose(1, 2)
    h[:, layout.index("y")] = tok[..., d]
    t = torch.arange(T, dtype=torch.float64, device=tokens.device)
    h[:, layout.index("one")] = 1.0
    h[:, layout.index("t")] = t
    h[:, layout.index("t2")] = t * t
    h[:, layout.index("flag")] = ((t % 2 == 1) & (t < 2 * n)).to(torch.float64)  # label tokens: odd, in the context
    return h


def embed(prompt: PromptBatch, layout: Layout) -> Tensor:
    """The stream (B, D, T), T = 2n + m + d: the interleaved prompt, then d probe tokens e_j (x-like tokens whose
    prediction is (ŵ)_j)."""
    p = prompt.to(dtype=torch.float64)
    d = p.d
    probes = torch.cat([torch.eye(d, dtype=torch.float64), torch.zeros(d, 1, dtype=torch.float64)], 1)
    tokens = p.to_interleaved()
    return embed_tokens(torch.cat([tokens, probes.to(tokens.device).expand(p.batch_size, d, d + 1)], 1), p.n, layout)


def read_estimates(model: Transformer, resid: Sequence[Tensor] | Tensor) -> Tensor:
    """Per-layer read-out of the current estimate ŵ: the read-out head applied at the probe tokens.

    resid: L+1 states (B, D, T) (or their stack) -> (L+1, B, d).
    """
    read = _estimate_reader(model)
    return torch.stack([read(h) for h in resid])


def _estimate_reader(model: Transformer) -> Callable[[Tensor], Tensor]:
    """h (B, D, T) -> ŵ (B, d): the model's own read-out head (it writes only ``out``), with queries only at the d
    probe tokens (a new tensor, never a view of h)."""
    (lens,) = next(layer for layer in model.layers if layer.name == "readout").heads
    d = model.params["d"]
    return lambda h: head_output(h, lens, slice(-d, None))[:, 0]


def estimates_path(model: Transformer, prompt: PromptBatch, mode: Mode = "fast") -> Tensor:
    """:func:`read_estimates` after the embedding and every layer, read as the forward pass goes (no stream kept):
    (L+1, B, d), the same numbers as reading the kept trace."""
    _, estimates = evaluate_reading(model, embed(prompt, model.layout), _estimate_reader(model), mode)
    return torch.stack(estimates)


def read_predictions(trace: Trace, n: int, m: int) -> Tensor:
    """The model's output at the m query tokens after the last layer: (B, m)."""
    return trace.slot("out")[:, 2 * n: 2 * n + m, 0]


def read_paired(trace: Trace, n: int) -> Tensor:
    """Slot ``c`` on the label tokens after layer 1 (equals X exactly): (B, n, d)."""
    return trace.slot("c", 1)[:, 1: 2 * n: 2]


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


def run_newton_construction(prompt: PromptBatch, k: int, alpha: float | None = None, norm_bound: float | None = None,
                            mode: Mode = "fast") -> Trace:
    """Build the weights and run them on ``prompt`` in float64 (pure function): the per-layer :class:`Trace`.

    With ``alpha``/``norm_bound`` None they are calibrated on the batch (:func:`default_scale`). Read it with
    :func:`read_estimates`, :func:`read_predictions`, :func:`read_paired`, :func:`layerwise_deviation`.

    Raises:
        ValueError: listing every violated assumption (weights and prompt together).
    """
    lam = lambda_max(prompt)
    a0, b0 = default_scale(prompt, lam) if alpha is None or norm_bound is None else (None, None)
    alpha = a0 if alpha is None else alpha
    norm_bound = b0 if norm_bound is None else norm_bound
    raise_violations(newton_assumptions(k, alpha, norm_bound, prompt, lam=lam))
    model = build_newton(prompt.d, k, alpha, norm_bound)  # type: ignore[arg-type]
    return evaluate(model, embed(prompt, model.layout), mode)


def newton_reference(prompt: PromptBatch, k: int, alpha: float) -> Tensor:
    """ŵ_0 … ŵ_k of :func:`theory.algorithms.newton_solution_path` with the same α: (k+1, B, d)."""
    return newton_solution_path(prompt, k, alpha).iterates


def layer_references(model: Transformer) -> list[tuple[str, int | None]]:
    """For each layer ℓ = 0..L: (block name, Newton step j whose ŵ_j it holds, or None before ``newton_init``)."""
    rows: list[tuple[str, int | None]] = [("embedding", None)]
    j: int | None = None
    for layer in model.layers:
        if layer.name == "newton_init":
            j = 0
        elif layer.name.startswith("newton_step"):
            j = (j or 0) + 1
        rows.append((layer.name, j))
    return rows


def layerwise_deviation(trace: Trace, prompt: PromptBatch) -> tuple[list[dict], float]:
    """Per-layer max relative deviation of the read-out from the reference ŵ_j, and of the predictions.

    Returns:
        (rows, prediction deviation); rows as in :class:`ConstructionReport`.
    """
    model = trace.transformer
    ref = newton_reference(prompt, model.params["k"], model.params["alpha"])
    estimates = read_estimates(model, trace.states)
    rows = []
    for ell, (name, j) in enumerate(layer_references(model)):
        if j is None:
            paired = read_paired(trace, prompt.n)
            dev = float((paired - prompt.X.to(torch.float64)).abs().max()) if ell == 1 else None
            refname = "c slot = X (exact copy)" if ell == 1 else "—"
        else:
            dev = float(relative_deviation(estimates[ell], ref[j]).max())
            refname = f"Newton ŵ_{j}"
        rows.append({"layer": ell, "block": name, "reference": refname, "max_rel_dev": dev})
    yq = torch.einsum("bmd,bd->bm", prompt.xq.to(torch.float64), ref[-1])
    preds = read_predictions(trace, prompt.n, prompt.m)
    pdev = float(((preds - yq).abs() / yq.abs().clamp_min(1e-300)).max()) if prompt.m else 0.0
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
    T, D = 2 * cfg.n + 2 + d, newton_layout(d).D
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
    trace = run_newton_construction(prompt, k, alpha, bound, cfg.evaluation)
    rows, pdev = layerwise_deviation(trace, prompt)
    size = structure(trace.transformer)
    X = prompt.X.to(torch.float64)
    condS = float(torch.linalg.cond(X.transpose(1, 2) @ X).max()) if cfg.n >= cfg.d else float("inf")
    notes = [
        f"k = {k} Newton steps in {size.depth} layers (k + 3; {size.working_layers} with working weights, counted "
        "from the weights; the paper's own construction, newton-paper, has k + 8; v3 states k + O(1))",
        f"alpha = {alpha:.6g}{' (--option alpha)' if alpha_opt is not None else ' = 1/B²'}, B = max λ_max(XᵀX) "
        f"over the batch = {bound:.6g} (1/B² is safe: the paper's 2/‖SSᵀ‖₂ is the convergence boundary)",
        f"query predictions vs x_qᵀŵ_k: max rel dev {pdev:.3e}; max cond(XᵀX) = {condS:.3g}",
        "the suite's own construction; see constructions/newton.py docstring (the paper's: newton-paper)",
    ]
    return ConstructionReport(
        "newton",
        {"d": cfg.d, "n": cfg.n, "layers": cfg.layers, "k": k, "cond": cfg.cond, "seed": cfg.seed, "batch": cfg.batch,
         "width": size.width},
        rows, 1e-10, "fact sheet acceptance: <= 1e-10 relative per Newton step in float64", notes, size.as_dict(),
        cfg.evaluation)


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
