"""he25: spectral clustering of a two-class Gaussian mixture inside a ReLU-attention transformer.

He et al. (2025) (abstract: bi-class GMM clustering by learned spectral methods); the weights are
**derived (not from the paper)** — the paper's clustering construction is not known (fact sheet §4).

Construction
------------
Tokens are the samples x_j (N of them); layout (:func:`gmm_layout`, D = d + 6)::

    x (d) · one (1) · u (1) · w (1) · s (1) · c (1) · yhat (1)

u holds the per-token score (the power iterate, scaled so that (1/N)‖u‖² = 1; the embedding loads the
random seed from the auxiliary block), w, s, c are work slots, yhat the label. G = XXᵀ is the (unhollowed,
PSD) Gram matrix: hollowing needs the local product ‖x_i‖²u_i, which a ReLU MLP only approximates (fact sheet
§2 'Transformer mirror'; the effect on accuracy is measured by claim 10's unhollowed row).

Per power iteration (3 layers, :func:`gram_iteration_layers`):

(A) pair Q = [x], K = [x], V: u → w adds (1/N) Σ_j ⟨x_i, x_j⟩ u_j = (G u)_i / N;
    MLP (2 units) u ← u − (σ(u) − σ(−u)) = 0 exactly.
(B) pair Q = [one], K = [w], V: w → s adds (1/N) Σ_j w_j² (broadcast); MLP c ← ν(s) ≈ s^(−1/2) (the ReLU
    sum of :mod:`theory.relu_approx`, or the exact oracle in exact mode).
(C) pair Q = [w], K = [c], V: one → u adds (1/N) Σ_j w_i c = c·w_i; MLP clears w (2 units), s, c (2 each).

Read-out (1 layer, MLP only): yhat ← clip(K u, −1, 1) = σ(K u + 1) − σ(K u − 1) − σ(1).

Proof. As for :mod:`constructions.power_method`: after (C), u_t = ν(s)·G u_{t−1}/N with
s = ‖G u_{t−1}‖²/N³, so with ν = s^(−1/2), u_t = √N · G u_{t−1}/‖G u_{t−1}‖, i.e. √N times the unit power
iterate on G. A positive ν only rescales, so sign(u_t) is that of the reference run for any normaliser.
yhat = sign(u) wherever |u| ≥ 1/K. ∎

Size: depth 3τ + 1, 2 heads per layer, MLP max(M + 1, 6) units; nothing grows with d or N.
"""

from __future__ import annotations

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
from constructions.evaluate import Mode, evaluate
from constructions.power_method import ETA_MAX, RELU_ETA_MIN, Normaliser, normaliser_sublayer, normaliser_violations
from constructions.relu_transformer import linear_head_pair
from constructions.residual import MLP, Layer, Layout, Transformer, copy_mlp, selector, value_matrix
from constructions.structure import structure
from theory.relu_approx import units_for_error

__all__ = [
    "gmm_layout",
    "embed_gmm",
    "gram_iteration_layers",
    "label_layer",
    "build_spectral_clustering",
    "run_spectral_clustering",
    "reference_iterates",
    "CONSTRUCTIONS",
]


def gmm_layout(d: int) -> Layout:
    return Layout([("x", d), ("one", 1), ("u", 1), ("w", 1), ("s", 1), ("c", 1), ("yhat", 1)])


def embed_gmm(X: Tensor, seeds: Tensor, layout: Layout) -> Tensor:
    """H0 (B, D, N): x_j, one, u_j = √N ũ_j/‖ũ‖ (seeds ũ (B, N))."""
    B, N, _ = X.shape
    H = torch.zeros(B, layout.D, N, dtype=torch.float64)
    H[:, layout["x"]] = X.to(torch.float64).transpose(1, 2)
    H[:, layout["one"]] = 1.0
    u = seeds.to(torch.float64)
    H[:, layout.index("u")] = N**0.5 * u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    return H


def gram_iteration_layers(layout: Layout, nu: Normaliser, t: int) -> list[Layer]:
    """(A) w = Gu/N, u ← 0; (B) s = ‖w‖²/N, c = ν(s); (C) u = c·w, (w, s, c) ← 0."""
    A = Layer(
        f"it {t} (A) w = G u / N",
        linear_head_pair(selector(layout, "x"), selector(layout, "x"), value_matrix(layout, [("w", "u", 1.0)]),
                         "Gu/N"),
        (copy_mlp(layout, [("u", "u", -1.0)], "clear u"),),
    )
    B = Layer(
        f"it {t} (B) s, c = nu(s)",
        linear_head_pair(selector(layout, "one"), selector(layout, "w"), value_matrix(layout, [("s", "w", 1.0)]),
                         "|w|^2/N"),
        (normaliser_sublayer(layout, nu),),  # reads slot s, writes slot c: same slot names as the PCA layout
    )
    C = Layer(
        f"it {t} (C) u = c w",
        linear_head_pair(selector(layout, "w"), selector(layout, "c"), value_matrix(layout, [("u", "one", 1.0)]),
                         "u = c w"),
        (copy_mlp(layout, [("w", "w", -1.0), ("s", "s", -1.0), ("c", "c", -1.0)], "clear w,s,c"),),
    )
    return [A, B, C]


def label_layer(layout: Layout, K: float) -> Layer:
    """yhat ← σ(K u + 1) − σ(K u − 1) − σ(1) = clip(K u, −1, 1)."""
    W1 = torch.zeros(3, layout.D, dtype=torch.float64)
    W1[0, layout.index("u")], W1[0, layout.index("one")] = K, 1.0
    W1[1, layout.index("u")], W1[1, layout.index("one")] = K, -1.0
    W1[2, layout.index("one")] = 1.0
    W2 = torch.zeros(layout.D, 3, dtype=torch.float64)
    W2[layout.index("yhat")] = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    return Layer("labels", (), (MLP(W1, W2, "relu", "clip(K u)"),))


def build_spectral_clustering(d: int, tau: int, normaliser: Normaliser | None = None, K: float = 1e3) -> Transformer:
    """3τ + 1 layers (module docstring); ``params`` of the program: d, tau, K, normaliser."""
    bad = []
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        bad.append(Violation("d", f"expected an integer >= 1, got {d!r}"))
    if isinstance(tau, bool) or not isinstance(tau, int) or tau < 1:
        bad.append(Violation("tau", f"expected an integer >= 1, got {tau!r}"))
    if not K > 0:
        bad.append(Violation("K", f"expected a positive ramp slope, got {K}"))
    raise_violations(bad)
    nu = normaliser or Normaliser()
    layout = gmm_layout(d)
    layers = [layer for t in range(tau) for layer in gram_iteration_layers(layout, nu, t + 1)]
    return Transformer(layout, (*layers, label_layer(layout, K)), "spectral-clustering",
                       {"d": d, "tau": tau, "K": K, "normaliser": nu})


def run_spectral_clustering(con: Transformer, X: Tensor, seeds: Tensor, mode: Mode = "fast"
                            ) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (labels yhat (B, N), u per iteration (τ+1, B, N), s per iteration (τ, B))."""
    d, tau, nu = con.params["d"], con.params["tau"], con.params["normaliser"]
    bad = []
    if X.ndim != 3 or X.shape[-1] != d or X.shape[1] < 2:
        bad.append(Violation("X", f"expected shape (B, N >= 2, d={d}), got {tuple(X.shape)}"))
    elif not bool(torch.isfinite(X).all()):
        bad.append(Violation("X", "contains NaN or infinite entries"))
    if seeds.shape != X.shape[:2]:
        bad.append(Violation("seeds", f"expected shape (B, N) = {tuple(X.shape[:2])}, got {tuple(seeds.shape)}"))
    elif bool((torch.linalg.vector_norm(seeds, dim=-1) == 0).any()):
        bad.append(Violation("seeds", "contains an all-zero seed"))
    raise_violations(bad)
    L = con.layout
    states = evaluate(con, embed_gmm(X, seeds, L), mode).states
    us = torch.stack([states[3 * t][:, L.index("u")] for t in range(tau + 1)])  # u_0, then after every (C)
    ss = torch.stack([states[3 * t - 1][:, L.index("s"), 0] for t in range(1, tau + 1)])
    if nu.kind == "relu":
        lo, hi = float(ss.min()), float(ss.max())
        if lo < nu.a or hi > nu.b:
            raise_violations(
                [
                    Violation(
                        "normaliser",
                        f"s ranged over [{lo:.3g}, {hi:.3g}], outside [a, b] = "
                        f"[{nu.a:g}, {nu.b:g}]",
                    )
                ]
            )
    return states[-1][:, L.index("yhat")], us, ss


def reference_iterates(X: Tensor, seeds: Tensor, tau: int) -> Tensor:
    """Unit power iterates on G = XXᵀ (τ+1, B, N) via :func:`theory.algorithms.power.power_method`."""
    from theory.algorithms.power import power_method
    from theory.clustering import gram

    return power_method(gram(X.to(torch.float64), hollow=False), seeds.to(torch.float64), tau).iterates


# -- CLI entry --------------------------------------------------------------------------------------------


#: The ReLU normaliser's range [a, b] (s = ‖w‖²/N of the Gram power iterates lies well inside it).
RELU_RANGE = (1e-2, 1e4)

#: ``--option`` keys of ``spectral-clustering`` (anything else is refused by
#: :meth:`ConstructionSpec.check_options`).
OPTIONS = {
    "mu": "|μ| >= 0, the mixture's mean separation (default 2)",
    "eta": f"normaliser relative error: 0 = exact (default) or in [{RELU_ETA_MIN:g}, {ETA_MAX:g}] (ReLU MLP)",
    "K": "slope > 0 of the label ramp clip(K u, −1, 1) (default 1e3)",
}


def _settings(cfg: ConstructionConfig) -> tuple[int, float, float, float]:
    """(τ, μ, eta, K) from --layers and the options; ValueError listing every bad setting."""
    bad: list[Violation] = []
    if cfg.layers < 4 or (cfg.layers - 1) % 3:
        bad.append(
            Violation(
                "--layers",
                f"spectral clustering has L = 3 tau + 1 layers (tau >= 1 power iterations; "
                f"valid 4, 7, 10, …), got {cfg.layers}",
            )
        )
    mu = parse_option(bad, "mu", lambda: cfg.option_float("mu", 2.0, low=0.0), 2.0)
    eta = parse_option(bad, "eta", lambda: cfg.option_float("eta", 0.0, low=0.0, high=ETA_MAX), 0.0)
    K = parse_option(bad, "K", lambda: cfg.option_float("K", 1e3, low=0.0, low_open=True), 1e3)
    bad += normaliser_violations("exact" if eta == 0 else "relu", eta, False)
    if cfg.n < 2:
        bad.append(Violation("--n", f"need N >= 2 samples, got {cfg.n}"))
    if cfg.cond != 1:
        bad.append(Violation("--cond", "not used by spectral-clustering (isotropic mixture; set --option mu=...)"))
    raise_violations(bad)
    return (cfg.layers - 1) // 3, mu, eta, K


def _memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Dominant float64 tensors of :func:`_cli` (D = d + 6, N = n tokens, L = 3τ + 1).

    Each head forms (B, N, N) scores and the reference forms the (B, N, N) Gram; the ReLU normaliser (M + 1
    units, M from eta) is built once per iteration and its hidden activations are (B, M + 1, N).
    """
    tau, _, eta, _ = _settings(cfg)
    d, N, B, L = cfg.d, cfg.n, cfg.batch, 3 * tau + 1
    D = gmm_layout(d).D
    units = units_for_error(*RELU_RANGE, eta) + 1 if eta > 0 else 0
    return {
        # per head: scores and their ReLU; the reference's Gram and its symmetry check (measured peak ≈ 3·B·N²)
        "attention scores and reference Gram 4·B·N²": FLOAT64_BYTES * 4 * B * N * N,
        "residual streams 4·B·D·N": FLOAT64_BYTES * 4 * B * D * N,
        "head weights 3·L·D²": FLOAT64_BYTES * 3 * L * D * D,
        f"ReLU normaliser ({units} units from --option eta)": FLOAT64_BYTES * 2 * units * (tau * D + B * N),
        "data and iterates": FLOAT64_BYTES * (2 * B * N * d + 2 * (tau + 1) * B * N),
    }


def _cli(cfg: ConstructionConfig) -> ConstructionReport:
    from theory.clustering import sample_gmm
    from theory.samplers import make_generator

    tau, mu, eta, K = _settings(cfg)
    nu = Normaliser() if eta == 0 else Normaliser.relu_for_eta(eta, *RELU_RANGE)
    g = make_generator(cfg.seed)
    inst = sample_gmm(cfg.batch, cfg.d, cfg.n, mu, g)
    seeds = torch.randn(cfg.batch, cfg.n, generator=g, dtype=torch.float64)
    con = build_spectral_clustering(cfg.d, tau, nu, K)
    try:
        yhat, us, _ = run_spectral_clustering(con, inst.X, seeds, cfg.evaluation)
    except ValueError as e:  # s left the ReLU normaliser's fixed range: a consequence of mu and eta, so name them
        raise ValueError(f"--option mu/eta: {e} (eta = 0 normalises exactly)") from None
    ref = reference_iterates(inst.X, seeds, tau)
    rows = [{"layer": 0, "block": "embedding", "reference": "u_0 = sqrt(N) seed", "max_rel_dev": None}]
    for t in range(1, tau + 1):
        got = us[t] / torch.linalg.vector_norm(us[t], dim=-1, keepdim=True)
        rows.append(
            {
                "layer": 3 * t,
                "block": f"it {t} (C) u = c w",
                "reference": f"unit power iterate u_{t}",
                "max_rel_dev": float(torch.linalg.vector_norm(got - ref[t], dim=-1).max()),
            }
        )
    agree = float((torch.sign(yhat) == torch.sign(ref[-1])).double().mean())
    notes = [
        f"--layers L = 3 tau + 1: tau = {tau}; normaliser {nu.kind} (M = {nu.M}); K = {K:g}",
        f"sign(yhat) agrees with sign(reference u_tau) on {agree:.4f} of tokens",
    ]
    return ConstructionReport(
        "spectral-clustering",
        {
            "d": cfg.d,
            "n": cfg.n,
            "layers": cfg.layers,
            "tau": tau,
            "mu": mu,
            "eta": eta,
            "K": K,
            "seed": cfg.seed,
            "batch": cfg.batch,
        },
        rows,
        1e-12,
        "float64 round-off of a contracting power map (direction deviation)",
        notes,
        structure(con).as_dict(),
        cfg.evaluation,
    )


CONSTRUCTIONS = [
    ConstructionSpec(
        name="spectral-clustering",
        paper="he25",
        summary="ReLU-attention Gram power method + sign ramp clusters a 2-GMM (He et al. 2025)",
        run=_cli,
        layers_help="L = 3 tau + 1: tau power iterations on the Gram matrix plus the label layer; options: "
        "mu (|mu|, default 2), eta (0 = exact normalisation), K (ramp slope)",
        options=OPTIONS,
        memory=_memory,
    )
]
