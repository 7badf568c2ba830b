"""he25: τ power iterations and k-eigenvector deflation inside a ReLU-attention transformer.

He et al. (2025), *Learning Spectral Methods by Transformers* (arXiv 2501.01312); structure from the
precursor's Theorem 3.1 (covariance block → power-iteration blocks → deflation → read-out). The weights
below are **derived (not from the paper)**: the paper's constants, embedding width and deflation form are
not known (fact sheet ``shared/papers/he25.md`` §4).

Construction
------------
Layout per token j (:func:`pca_layout`; N tokens, N ≥ d; D = 5d + 3 + k + kd)::

    x (d) · e (d) · one (1) · v (d) · scol (d) · w (d) · s (1) · c (1) · lam (k) · p_1 … p_k (d each)

x_j is the data column, e_j the j-th basis vector for j ≤ d (0 otherwise), one = 1, p_i the unit seeds
(broadcast: every token holds the same p_i); v, w, s, c are broadcast work slots, scol will hold column j of
the current matrix S^{(i)}. Write σ(t) − σ(−t) = t for the ± head pair (:func:`linear_head_pair`):
a pair with (Q, K, V) adds (1/N) Σ_j ⟨Q h_i, K h_j⟩ V h_j exactly.

Layer 0 — covariance (:func:`covariance_layer`). Pair Q = [e], K = [x], V: x → scol. Token i gets
(1/N) Σ_j (x_j)_i x_j = column i of Σ̂ = XXᵀ/N (0 for i > d since e_i = 0). MLP: v ← p_1 loads the
first seed. After it: scol = S^{(1)}, v = p̂_1 = v_0.

Per power iteration t (3 layers; :func:`iteration_layers`), on S = S^{(i)} with v = v_{t−1}, w = s = c = 0:

(A) multiply — pair Q = [v], K = [e], V: N·scol → w. Adds (1/N) Σ_{j≤d} v_j N S e_j = S v.
(B) norm — head Q = [w], K = [w], V: one → s adds (1/N) Σ_j σ(‖w‖²) = ‖w‖² (score ≥ 0: one head is exact).
    MLP: c ← c + ν(s), ν ≈ s^(−1/2) (the ReLU sum of :mod:`theory.relu_approx`, all coefficients ≥ 0:
    W1 rows (bias at one, slope at s), W2 column → c; or the exact map — an oracle — in exact mode η = 0),
    and v ← 0 (exact clear, below).
(C) scale — head Q = [c], K = [one], V: w → v adds (1/N) Σ_j σ(c) w = c·w (c > 0: one head is exact);
    MLP: (w, s, c) ← 0. After it: v = ν(‖Sv_{t−1}‖²) S v_{t−1} = v_t.

Per eigenpair (2 layers; :func:`eigenpair_layers`), with v = v_τ:

(E1) multiply — as (A): w = S v_τ.
(E2) Rayleigh + deflation — pair Q = [v], K = [w], V: one → lam_i adds vᵀw = v_τᵀ S v_τ (no 1/vᵀv);
    pair Q = [e], K = [v], V: −w → scol adds −v_j (S v) to column j, i.e. S ← S − (Sv)vᵀ = S(I − vvᵀ)
    (right projection). MLP: (v, w) ← 0 and v ← p_{i+1}. The MLP reads the stream after the heads, which
    read it before the layer, so the Rayleigh value and the deflation use v_τ and S v_τ.

Clears (:func:`constructions.relu_transformer.copy_mlp`): x + (−σ(x) + σ(−x)) = 0 exactly in floating
point, 2 units per entry. A constant-score head (Q = K = [one], value −slot) clears a broadcast slot only up
to round-off, and those residues were measured to grow ~1.8× per power iteration, so clears and seed loads
are MLP units.

Proof. By induction over the schedule, the state after every layer equals the corresponding intermediate
of :func:`theory.algorithms.power_deflation.power_deflation` (v_t, w = S v_t, s, c, λ̂_i, S^{(i+1)}): each
head's output was computed above from the slots it reads, broadcast slots stay broadcast because every
head writing one reads only broadcast slots of token i and token-sums over j, and the clears return the
work slots to exactly 0. With ν(s) = s^(−1/2) this is the exact power method with deflation; with
ν(s) = s^(−1/2)(1 + η(s)) the direction of every iterate is unchanged (ν is a positive scalar),
‖v_t‖ = 1 + η, and λ̂_i = λ(1 + η)². ∎

Size (counted by :func:`construction_size`): depth L = 1 + k(3τ + 2); at most 4 heads per layer (E2);
MLP units max(M + 1 + 2d, 2d + 4, 6d) (:func:`mlp_units_formula`) — the O(d) part is the exact clears.
The fact sheet's reference schedule has k(3τ + 3) + 1 layers (a separate deflation layer); the count
reported for the precursor is 2τ + 4k + 1 (unverified; whether its τ is per vector is not known).
"""

from __future__ import annotations

import math
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
from constructions.evaluate import Mode, evaluate_reading, final_state
from constructions.relu_transformer import linear_head_pair, relu_head
from constructions.residual import MLP, Layer, Layout, Oracle, Transformer, copy_mlp, selector, value_matrix
from constructions.structure import live_units, structure
from theory.algorithms.power_deflation import PowerDeflationRun, power_deflation
from theory.relu_approx import InverseSqrtReLU, exact_segment_relative_error, inverse_sqrt_relu, units_for_error

__all__ = [
    "Normaliser",
    "pca_layout",
    "embed_pca",
    "normaliser_sublayer",
    "covariance_layer",
    "multiply_layer",
    "iteration_layers",
    "eigenpair_layers",
    "build_power_method",
    "assumptions",
    "run_power_method",
    "constructed_eigenvalues",
    "read_state",
    "expected_states",
    "layerwise_deviation",
    "construction_size",
    "normaliser_units",
    "depth_formula",
    "reference_depth",
    "precursor_depth",
    "tau_from_layers",
    "mlp_units_formula",
    "CONSTRUCTIONS",
]

NormaliserKind = Literal["exact", "scaled", "relu"]
BROADCAST = ("v", "w", "s", "c", "lam")


@dataclass(frozen=True)
class Normaliser:
    """How c ≈ s^(−1/2) is computed.

    kind: ``exact`` (oracle s^(−1/2), η = 0), ``scaled`` (oracle s^(−1/2)(1 + eta): constant relative error, for
    the analysis of claim 7) or ``relu`` (the geometric-knot ReLU MLP on [a, b] with M segments, sup
    relative error η(M) ≥ 0).
    """

    kind: NormaliserKind = "exact"
    eta: float = 0.0
    a: float = 1e-2
    b: float = 1e3
    M: int = 0

    @staticmethod
    def relu_for_eta(eta: float, a: float = 1e-2, b: float = 1e3) -> Normaliser:
        """The ReLU normaliser with the fewest units whose sup relative error is ≤ eta."""
        return Normaliser("relu", eta, a, b, units_for_error(a, b, eta))

    def relu(self) -> InverseSqrtReLU:
        """The ReLU sum in its all-positive-coefficient form (no cancellation: round-off ~ (M+1)ε)."""
        return inverse_sqrt_relu(self.a, self.b, self.M, form="decreasing")

    def __call__(self, s: Tensor) -> Tensor:
        """ν(s) elementwise (the function the token-local sublayer computes)."""
        if self.kind == "exact":
            return torch.rsqrt(s)
        if self.kind == "scaled":
            return torch.rsqrt(s) * (1.0 + self.eta)
        return self.relu()(s)

    @property
    def eta_max(self) -> float:
        """Sup relative error |ν(s)√s − 1| on its valid range."""
        if self.kind == "relu":  # exact per-segment sup (every segment is a rescaled copy)
            return exact_segment_relative_error(math.exp(math.log(self.b / self.a) / self.M))
        return abs(self.eta) if self.kind == "scaled" else 0.0


def pca_layout(d: int, k: int) -> Layout:
    """The reference layout, D = 5d + 3 + k + kd (module docstring)."""
    return Layout(
        [("x", d), ("e", d), ("one", 1), ("v", d), ("scol", d), ("w", d), ("s", 1), ("c", 1), ("lam", k)]
        + [(f"p{i}", d) for i in range(k)]
    )


def embed_pca(X: Tensor, seeds: Tensor, layout: Layout) -> Tensor:
    """H0 (B, D, N) from data X (B, N, d) and seeds (B, k, d) (normalised here, broadcast to all tokens)."""
    B, N, d = X.shape
    H = torch.zeros(B, layout.D, N, dtype=torch.float64)
    H[:, layout["x"]] = X.to(torch.float64).transpose(1, 2)
    H[:, layout["e"], :d] = torch.eye(d, dtype=torch.float64)  # e_j for j ≤ d; 0 for the other tokens
    H[:, layout["one"]] = 1.0
    p = seeds.to(torch.float64) / torch.linalg.vector_norm(seeds.to(torch.float64), dim=-1, keepdim=True)
    for i in range(seeds.shape[1]):
        H[:, layout[f"p{i}"]] = p[:, i].unsqueeze(-1)
    return H


def covariance_layer(layout: Layout) -> Layer:
    """Layer 0: scol ← column j of XXᵀ/N at token j ≤ d; MLP: v ← p_1 (exact copy)."""
    pair = linear_head_pair(
        selector(layout, "e"), selector(layout, "x"), value_matrix(layout, [("scol", "x", 1.0)]), "covariance"
    )  # score (x_j)_i: signed, needs the pair
    return Layer("covariance", pair, (copy_mlp(layout, [("v", "p0", 1.0)], "load p1"),))


def multiply_layer(layout: Layout, N: int, name: str) -> Layer:
    """w ← S v (pair Q = [v], K = [e], V: N·scol → w)."""
    pair = linear_head_pair(
        selector(layout, "v"), selector(layout, "e"), value_matrix(layout, [("w", "scol", float(N))]), "S v"
    )
    return Layer(name, pair)


def normaliser_sublayer(layout: Layout, nu: Normaliser) -> MLP | Oracle:
    """c ← c + ν(s): a ReLU MLP (kind ``relu``) or the oracle map (kinds ``exact``/``scaled``)."""
    if nu.kind == "relu":
        g = nu.relu()
        W1 = torch.zeros(g.units, layout.D, dtype=torch.float64)
        W1[:, layout.index("one")] = g.in_bias  # unit m reads σ(s_m − s); unit 0 is σ(one) = 1
        W1[:, layout.index("s")] = g.in_slope
        W2 = torch.zeros(layout.D, g.units, dtype=torch.float64)
        W2[layout.index("c")] = g.coef  # c ← Σ_m coef_m σ(·)
        return MLP(W1, W2, "relu", f"inverse-sqrt ReLU MLP (M = {nu.M})")
    return Oracle(nu, layout["s"], layout["c"], f"oracle s^-1/2 ({nu.kind}, eta = {nu.eta:g})")


def iteration_layers(layout: Layout, N: int, nu: Normaliser, tag: str) -> list[Layer]:
    """(A) w = Sv; (B) s = ‖w‖², MLP c = ν(s), v ← 0; (C) v = c·w, MLP (w, s, c) ← 0."""
    A = multiply_layer(layout, N, f"{tag} (A) w = S v")
    norm = relu_head(selector(layout, "w"), selector(layout, "w"), value_matrix(layout, [("s", "one", 1.0)]),
                     "s = |w|^2")
    B = Layer(
        f"{tag} (B) s, c = nu(s)",
        (norm,),
        (normaliser_sublayer(layout, nu), copy_mlp(layout, [("v", "v", -1.0)], "clear v")),
    )
    scale = relu_head(selector(layout, "c"), selector(layout, "one"), value_matrix(layout, [("v", "w", 1.0)]),
                      "v = c w")
    C = Layer(
        f"{tag} (C) v = c w",
        (scale,),
        (copy_mlp(layout, [("w", "w", -1.0), ("s", "s", -1.0), ("c", "c", -1.0)], "clear w,s,c"),),
    )
    return [A, B, C]


def eigenpair_layers(layout: Layout, N: int, i: int, k: int) -> list[Layer]:
    """(E1) w = S v_τ; (E2) λ̂_i = vᵀw, S ← S(I − vvᵀ); MLP v ← p_{i+1}, w ← 0."""
    E1 = multiply_layer(layout, N, f"eig {i + 1} (E1) w = S v")
    lam_V = torch.zeros(layout.D, layout.D, dtype=torch.float64)
    lam_V[layout.index("lam", i), layout.index("one")] = 1.0  # lam_i ← vᵀw · 1
    rayleigh = linear_head_pair(selector(layout, "v"), selector(layout, "w"), lam_V, "lambda = v.w")
    deflate = linear_head_pair(
        selector(layout, "e"), selector(layout, "v"), value_matrix(layout, [("scol", "w", -1.0)]), "S <- S(I - vv^T)"
    )
    writes = [("v", "v", -1.0), ("w", "w", -1.0)] + ([("v", f"p{i + 1}", 1.0)] if i + 1 < k else [])
    E2 = Layer(
        f"eig {i + 1} (E2) Rayleigh, deflate",
        (*rayleigh, *deflate),
        (copy_mlp(layout, writes, "clear v,w; load next seed"),),
    )
    return [E1, E2]


def build_power_method(d: int, N: int, k: int, tau: int, normaliser: Normaliser | None = None) -> Transformer:
    """1 + k(3τ + 2) layers: covariance, then per eigenvector τ × (A, B, C) and (E1, E2).

    ``params`` of the program: d, N, k, tau, normaliser (what :func:`assumptions` and the readers use).
    """
    bad = []
    for name, val, lo in (("d", d, 1), ("N", N, 1), ("k", k, 1), ("tau", tau, 1)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            bad.append(Violation(name, f"expected an integer >= {lo}, got {val!r}"))
    ok = {v.argument for v in bad}
    if not ok & {"N", "d"} and N < d:
        bad.append(Violation("N", f"the column-per-token layout needs N >= d, got N = {N} < d = {d}"))
    if not ok & {"k", "d"} and k > d:
        bad.append(Violation("k", f"k = {k} eigenvectors exceed d = {d}"))
    raise_violations(bad)
    nu = normaliser or Normaliser()
    layout = pca_layout(d, k)
    layers = [covariance_layer(layout)]
    for i in range(k):
        for t in range(tau):
            layers += iteration_layers(layout, N, nu, f"eig {i + 1} it {t + 1}")
        layers += eigenpair_layers(layout, N, i, k)
    params = {"d": d, "N": N, "k": k, "tau": tau, "normaliser": nu}
    return Transformer(layout, tuple(layers), "power-method", params, tokens=N)


def assumptions(X: Tensor, seeds: Tensor, con: Transformer, eigvals: Tensor | None = None) -> list[Violation]:
    """Every violated assumption for running ``con`` on (X, seeds), at once.

    Shapes/finiteness; N ≥ d; non-zero seeds; for the ReLU normaliser every s = ‖S v‖² met by the run must lie
    in [a, b] (checked on the float64 reference run with the same normaliser); with ``eigvals`` (B, d)
    descending, the deflation boundary |λ_i((1+η)² − 1)| < λ_{i+1} (else v_{i+1} re-converges to v_i).
    """
    out: list[Violation] = []
    d, N, k, tau, nu = (con.params[key] for key in ("d", "N", "k", "tau", "normaliser"))
    if X.ndim != 3 or X.shape[1] != N or X.shape[2] != d:
        out.append(Violation("X", f"expected shape (B, N={N}, d={d}), got {tuple(X.shape)}"))
    elif not bool(torch.isfinite(X).all()):
        out.append(Violation("X", "contains NaN or infinite entries"))
    if seeds.ndim != 3 or seeds.shape[1:] != (k, d) or (X.ndim == 3 and seeds.shape[0] != X.shape[0]):
        out.append(Violation("seeds", f"expected shape (B, k={k}, d={d}), got {tuple(seeds.shape)}"))
    elif not bool(torch.isfinite(seeds).all()) or bool((torch.linalg.vector_norm(seeds, dim=-1) == 0).any()):
        out.append(Violation("seeds", "must be finite and non-zero"))
    if out:
        return out
    if nu.kind == "relu":
        S = X.transpose(1, 2).to(torch.float64) @ X.to(torch.float64) / N
        run = power_deflation(S, seeds, tau, nu)
        lo, hi = float(run.s.min()), float(run.s.max())
        if lo < nu.a or hi > nu.b:
            out.append(
                Violation(
                    "normaliser",
                    f"s = |Sv|^2 ranges over [{lo:.3g}, {hi:.3g}], outside the ReLU "
                    f"interpolation range [a, b] = [{nu.a:g}, {nu.b:g}]",
                )
            )
    if eigvals is not None and k > 1:
        from theory.spectral import deflation_boundary_violated

        bad = deflation_boundary_violated(eigvals, k, nu.eta_max)
        if bool(bad.any()):
            out.append(
                Violation(
                    "normaliser",
                    f"deflation boundary: |2 eta lambda_i| >= lambda_(i+1) on "
                    f"{int(bad.sum())} instance(s) (eta = {nu.eta_max:.3g}); the next "
                    "power run would re-converge to v_i",
                )
            )
    return out


def read_state(H: Tensor, layout: Layout, d: int) -> dict[str, Tensor]:
    """Copies of the slots at token 0 (broadcast ones) and of the stored matrix: v, w (B, d), s, c (B,), lam (B, k),
    S (B, d, d), plus ``spread``: (B,) max |slot_j − slot_0| over tokens j and broadcast slots."""
    out = {name: layout.read(H, name).clone() for name in BROADCAST}
    out["s"], out["c"] = out["s"][:, 0], out["c"][:, 0]
    out["S"] = H[:, layout["scol"], :d].clone()
    spread = []
    for name in BROADCAST:  # max_j |x_j − x_0| = max(max_j x_j − x_0, x_0 − min_j x_j), bit for bit (rounding is
        x = H[:, layout[name]]  # monotone), without a (B, ·, N) difference tensor per slot
        x0 = x[..., 0]
        spread.append(torch.maximum(x.amax(-1) - x0, x0 - x.amin(-1)).amax(-1))
    out["spread"] = torch.stack(spread, 1).amax(1)
    return out


def run_power_method(con: Transformer, X: Tensor, seeds: Tensor, mode: Mode = "fast"
                     ) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Validate, embed, run; returns the final stream (B, D, N) and :func:`read_state` after every layer (the
    streams themselves are not kept)."""
    raise_violations(assumptions(X, seeds, con))
    d = con.params["d"]
    return evaluate_reading(con, embed_pca(X, seeds, con.layout), lambda H: read_state(H, con.layout, d), mode)


def constructed_eigenvalues(con: Transformer, X: Tensor, seeds: Tensor, mode: Mode = "fast") -> Tensor:
    """The constructed forward pass alone (no per-layer read-outs, no checks): λ̂ (B, k) from the final stream.

    Pure function for benchmarks; compare with ``power_deflation(S, seeds, τ).lam.T`` (the bare algorithm).
    """
    return con.layout.read(final_state(con, embed_pca(X, seeds, con.layout), mode), "lam")


def expected_states(run: PowerDeflationRun, d: int, k: int, tau: int, seeds: Tensor) -> list[dict[str, Tensor]]:
    """The state before the first and after every layer predicted by the proof, from the reference run."""
    B = run.lam.shape[1]
    z = torch.zeros(B, d, dtype=torch.float64)
    zs = torch.zeros(B, dtype=torch.float64)
    lam = torch.zeros(B, k, dtype=torch.float64)
    p = seeds.to(torch.float64) / torch.linalg.vector_norm(seeds.to(torch.float64), dim=-1, keepdim=True)
    st = {"v": z, "w": z, "s": zs, "c": zs, "lam": lam.clone(), "S": torch.zeros_like(run.mats[0])}
    out = [dict(st)]  # the embedding: work slots empty
    st = {**st, "v": p[:, 0], "S": run.mats[0]}
    out.append(dict(st))  # after the covariance layer
    for i in range(k):
        for t in range(tau):
            st = {**st, "w": run.w[i, t]}
            out.append(dict(st))
            st = {**st, "s": run.s[i, t], "c": run.c[i, t], "v": z}
            out.append(dict(st))
            st = {**st, "v": run.v[i, t + 1], "w": z, "s": zs, "c": zs}
            out.append(dict(st))
        out.append({**st, "w": run.w[i, tau]})
        lam = st["lam"].clone()
        lam[:, i] = run.lam[i]
        st = {**st, "lam": lam, "S": run.mats[i + 1], "v": p[:, i + 1] if i + 1 < k else z, "w": z}
        out.append(dict(st))
    return out


def _slot_scales(run: PowerDeflationRun) -> dict[str, Tensor]:
    """Per-instance magnitudes that deviations of each slot are measured against (zeros use these floors)."""
    lam1 = run.mats[0].diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-300)  # tr Σ̂ ≥ λ_1
    one = torch.ones_like(lam1)
    return {
        "v": one,
        "w": lam1,
        "s": lam1**2,
        "c": run.c.abs().amax(dim=(0, 1)).clamp_min(1e-300),
        "lam": lam1,
        "S": lam1,
    }


def layerwise_deviation(
    states: list[dict[str, Tensor]], expected: list[dict[str, Tensor]], run: PowerDeflationRun
) -> list[dict[str, float]]:
    """Per layer and slot: max over the batch of ‖got − expected‖ / max(‖expected‖, scale).

    Scales (:func:`_slot_scales`) give zero-valued slots a natural magnitude (1 for v, tr Σ̂ for w and S, …).
    """
    if len(states) != len(expected):
        raise ValueError(f"states: {len(states)} layers recorded, {len(expected)} expected")
    scales = _slot_scales(run)
    rows = []
    for got, exp in zip(states, expected, strict=True):
        row = {}
        for name in ("v", "w", "s", "c", "lam", "S"):
            g, e = got[name], exp[name]
            dims = tuple(range(1, g.ndim))
            num = (g - e).abs() if g.ndim == 1 else torch.linalg.vector_norm(g - e, dim=dims)
            den = (e.abs() if e.ndim == 1 else torch.linalg.vector_norm(e, dim=dims)).clamp_min(0)
            row[name] = float((num / torch.maximum(den, scales[name])).max())
        row["spread"] = float((got["spread"] / scales["S"]).max())
        rows.append(row)
    return rows


def depth_formula(k: int, tau: int) -> int:
    """L = 1 + k(3τ + 2) (this construction)."""
    return 1 + k * (3 * tau + 2)


def reference_depth(k: int, tau: int) -> int:
    """k(3τ + 3) + 1: the fact sheet's reference schedule (separate deflation layer)."""
    return k * (3 * tau + 3) + 1


def precursor_depth(k: int, tau: int, tau_total: bool = False) -> int:
    """2τ' + 4k + 1 as reported for the precursor (unverified), for our τ per eigenvector: τ' = τ if the
    precursor's τ is per vector, τ' = kτ if it counts iterations in total (``tau_total``; not known which)."""
    return 2 * (tau * k if tau_total else tau) + 4 * k + 1


def normaliser_units(con: Transformer) -> int:
    """Working MLP units that write slot c (the ReLU normaliser's), at most per layer, counted from the weights."""
    c = con.layout.index("c")
    return max((sum(int((live_units(p) & p.W2[c].ne(0)).sum()) for p in layer.mlp if isinstance(p, MLP))
                for layer in con.layers), default=0)


def construction_size(con: Transformer) -> dict[str, int]:
    """Depth, width, heads and MLP units counted from the weights (:func:`constructions.structure.structure`):
    max and total heads per layer (a ± pair counts as two ReLU heads), max working MLP units per layer, the
    normaliser's units and the rest (clears and seed loads)."""
    st = structure(con)
    nu_units = normaliser_units(con)
    return {
        "depth": st.depth,
        "width": st.width,
        "max_heads": st.max_heads,
        "total_heads": st.total_heads,
        "mlp_units": st.max_units,
        "normaliser_units": nu_units,
        "clear_units": st.max_units - nu_units if nu_units else st.max_units,
    }


def mlp_units_formula(d: int, k: int, M: int = 0) -> int:
    """Widest token-local sublayer: max(M + 1 + 2d [normaliser + clear v], 2d + 4 [clear w, s, c],
    6d if k > 1 else 4d [clear v, w; load next seed]); M = 0 for the oracle normaliser (0 ReLU units)."""
    return max((M + 1 if M else 0) + 2 * d, 2 * d + 4, 6 * d if k > 1 else 4 * d)


def tau_from_layers(layers: int, k: int) -> int:
    """τ with 1 + k(3τ + 2) = layers; ValueError naming --layers otherwise."""
    if layers < 1 + 5 * k or (layers - 1) % k or ((layers - 1) // k - 2) % 3:
        valid = ", ".join(str(depth_formula(k, t)) for t in range(1, 5))
        raise ValueError(
            f"--layers: the power-method construction has L = 1 + k(3τ + 2) layers (τ ≥ 1 iterations per "
            f"eigenvector); with k = {k} valid values are {valid}, … (got {layers})"
        )
    return ((layers - 1) // k - 2) // 3


# -- CLI entry --------------------------------------------------------------------------------------------

#: Round-off: every slot is a sum of ≤ N + d products per layer and the power map is a contraction on
#: directions, so deviations stay at ~(N + d)·ε·(λ_1/gap) per iterate; 1e-12 bounds this on moderate sizes
#: (fact sheet claim 6 acceptance). With a tight gap the bound is reported, not adjusted.
EXACT_TOL = 1e-12


#: Smallest eta of the ReLU normaliser: its own round-off is ~(M+1)ε with M ≈ ln(b/a)·√(3/(32η)) units, which
#: reaches η itself near η ≈ 1e-10 (and M, hence the MLP, grows like η^(−1/2)); below it the setting means nothing.
RELU_ETA_MIN = 1e-10
#: Largest eta: a relative error of 100% is no longer an approximation of s^(−1/2).
ETA_MAX = 1.0
NORMALISERS = ("exact", "scaled", "relu")

#: ``--option`` keys of ``power-method`` (anything else is refused by :meth:`ConstructionSpec.check_options`).
OPTIONS = {
    "k": "eigenvectors 1 <= k <= d (default min(2, d))",
    "eta": f"normaliser relative error in [0, {ETA_MAX:g}]; 0 = exact (default), relu needs >= {RELU_ETA_MIN:g}",
    "normaliser": "exact|scaled|relu (default exact if eta = 0, else relu)",
    "a": "lower end of the ReLU normaliser's range [a, b] (default 1e-2; relu only)",
    "b": "upper end of the ReLU normaliser's range [a, b] (default 1e3; relu only)",
}


@dataclass(frozen=True)
class _Settings:
    """Validated CLI settings: k eigenvectors, τ iterations each, the normaliser kind, eta and its range [a, b]."""

    k: int
    tau: int
    kind: NormaliserKind
    eta: float
    a: float
    b: float

    def normaliser(self) -> Normaliser:
        return Normaliser(self.kind, self.eta) if self.kind != "relu" else Normaliser.relu_for_eta(self.eta, self.a,
                                                                                                   self.b)


def normaliser_violations(kind: str, eta: float, explicit_range: bool) -> list[Violation]:
    """What is wrong with (normaliser kind, eta, whether a/b were given); shared with spectral clustering."""
    bad = []
    if kind == "relu" and not eta >= RELU_ETA_MIN:
        bad.append(Violation("--option eta", f"the relu normaliser needs eta in [{RELU_ETA_MIN:g}, {ETA_MAX:g}] "
                                             f"(eta = 0 is the exact mode; below {RELU_ETA_MIN:g} its own (M+1)ε "
                                             f"round-off exceeds eta), got {eta:g}"))
    if kind == "exact" and eta != 0:
        bad.append(Violation("--option eta", f"eta = {eta:g} has no effect with normaliser=exact (use scaled or relu)"))
    if kind != "relu" and explicit_range:
        bad.append(Violation("--option a/b", f"the range [a, b] applies to normaliser=relu only, not {kind}"))
    return bad


def _settings(cfg: ConstructionConfig) -> _Settings:
    """Parse and check every option and size at once; ValueError listing every bad setting."""
    bad: list[Violation] = []
    k = parse_option(bad, "k", lambda: cfg.option_int("k", min(2, cfg.d), low=1, high=cfg.d), min(2, cfg.d))
    eta = parse_option(bad, "eta", lambda: cfg.option_float("eta", 0.0, low=0.0, high=ETA_MAX), 0.0)
    kind = parse_option(bad, "normaliser", lambda: cfg.option_choice("normaliser", "exact" if eta == 0 else "relu",
                                                                     NORMALISERS), "exact")
    a = parse_option(bad, "a", lambda: cfg.option_float("a", 1e-2, low=0.0, low_open=True), 1e-2)
    b = parse_option(bad, "b", lambda: cfg.option_float("b", 1e3, low=0.0, low_open=True), 1e3)
    if not (a < b and math.isfinite(b / a)):
        bad.append(Violation("--option a/b", f"need 0 < a < b with b/a finite, got a = {a:g}, b = {b:g}"))
    bad += normaliser_violations(kind, eta, "a" in cfg.options or "b" in cfg.options)
    if cfg.n < cfg.d:
        bad.append(Violation("--n", f"the column-per-token layout needs N >= d, got N = {cfg.n} < d = {cfg.d}"))
    tau = 1
    try:
        tau = tau_from_layers(cfg.layers, k)
    except ValueError as e:
        bad.append(Violation("--layers", str(e).removeprefix("--layers: ")))
    raise_violations(bad)
    return _Settings(k, tau, kind, eta, a, b)  # type: ignore[arg-type]


def _memory(cfg: ConstructionConfig) -> MemoryEstimate:
    """Dominant float64 tensors of :func:`_cli` (D = 5d + 3 + k + kd, N = n tokens, L = 1 + k(3τ + 2)).

    One residual stream is updated in place and :func:`read_state` copies its slots after every layer
    (:func:`~constructions.evaluate.evaluate_reading`), so the streams do not grow with L: the stream, its input
    copy and the heads' outputs of the layer being run (measured: 3.7 streams at d = 64, N = 512). The heads of
    a layer form their (B, N, N) scores one after the other; the ReLU normaliser (M + 1 units, M from eta) is
    built once per iteration layer and its hidden activations are (B, M + 1, N). The weights hold 1.6 D² + 26 D
    numbers per layer (fitted at d = 5, 16, 64; written here with a 10 % margin).
    """
    st = _settings(cfg)
    d, N, B, k, tau = cfg.d, cfg.n, cfg.batch, st.k, st.tau
    D, L = pca_layout(d, k).D, depth_formula(k, tau)
    units = units_for_error(st.a, st.b, st.eta) + 1 if st.kind == "relu" else 0
    return {
        "residual stream, its input and one layer's outputs 5·B·D·N": FLOAT64_BYTES * 5 * B * D * N,
        "per-layer read-outs (L+1)·B·(d² + 2d + k + 3)": FLOAT64_BYTES * (L + 1) * B * (d * d + 2 * d + k + 3),
        "attention scores of one head 1.25·B·N²": int(FLOAT64_BYTES * 1.25 * B * N * N),
        "weights L·(1.75·D² + 32·D), compiled plans 4·D²":
            int(FLOAT64_BYTES * (L * (1.75 * D * D + 32 * D) + 4 * D * D)),
        f"ReLU normaliser ({units} units from --option eta)": FLOAT64_BYTES * 2 * units * (k * tau * D + B * N),
        "reference runs 2·(k+1)·B·d²": FLOAT64_BYTES * 2 * (k + 1) * B * d * d,
        "data and bases": FLOAT64_BYTES * (2 * B * N * d + B * d * d),
    }


def _cli(cfg: ConstructionConfig) -> ConstructionReport:
    from theory.samplers import make_generator
    from theory.spectral import sample_pca_instances

    st = _settings(cfg)
    k, tau, kind, eta = st.k, st.tau, st.kind, st.eta
    nu = st.normaliser()
    g = make_generator(cfg.seed)
    # --cond K: population eigenvalues U[4/K, 4] (default spectrum U[0.1, 4.1], fact sheet §6)
    lam_range = (4.0 / cfg.cond, 4.0) if cfg.cond > 1 else (0.1, 4.1)
    inst = sample_pca_instances(cfg.batch, cfg.d, cfg.n, g, lam_range=lam_range, min_gap=0.0)
    seeds = torch.randn(cfg.batch, k, cfg.d, generator=g, dtype=torch.float64)
    con = build_power_method(cfg.d, cfg.n, k, tau, nu)
    try:
        _, states = run_power_method(con, inst.X, seeds, cfg.evaluation)
    except ValueError as e:  # s = ‖Sv‖² left the ReLU range [a, b]: a consequence of the options, so name them
        raise ValueError(f"--option a/b: {e}") from None
    S = inst.X.transpose(1, 2) @ inst.X / cfg.n
    ref = power_deflation(S, seeds, tau, nu)
    dev = layerwise_deviation(states, expected_states(ref, cfg.d, k, tau, seeds), ref)
    rows = [{"layer": 0, "block": "embedding", "reference": "v = p1 (unit seed)", "max_rel_dev": None}]
    for ell, (layer, r) in enumerate(zip(con.layers, dev[1:], strict=True), start=1):
        rows.append(
            {
                "layer": ell,
                "block": layer.name[:28],
                "reference": "power_deflation intermediates",
                "max_rel_dev": max(r.values()),
                **{f"dev_{s}": v for s, v in r.items()},
            }
        )
    size = construction_size(con)
    notes = [
        f"--layers L = 1 + k(3 tau + 2): tau = {tau} iterations per eigenvector, k = {k}",
        f"normaliser: {kind} (eta_max = {nu.eta_max:.3g}, M = {nu.M}); "
        "the reference run uses the same normaliser, so deviations are round-off",
        f"size counted from the weights: depth {size['depth']}, width D = {size['width']}, max heads/layer "
        f"{size['max_heads']}, MLP units {size['mlp_units']} ({size['normaliser_units']} normaliser); formulas: "
        f"depth 1+k(3tau+2) = {depth_formula(k, tau)}, width 5d+3+k+kd = {pca_layout(cfg.d, k).D}; fact-sheet "
        f"reference depth k(3tau+3)+1 = {reference_depth(k, tau)}; precursor (unverified) 2tau+4k+1 = "
        f"{2 * tau + 4 * k + 1}",
    ]
    tol = EXACT_TOL
    reason = (
        "float64 round-off, sums of <= N + d products per layer, contracting power map (the ReLU "
        "normaliser has only non-negative terms, so no cancellation)"
    )
    return ConstructionReport(
        "power-method",
        {
            "d": cfg.d,
            "n": cfg.n,
            "layers": cfg.layers,
            "k": k,
            "tau": tau,
            "normaliser": kind,
            "eta": eta,
            "M": nu.M,
            "seed": cfg.seed,
            "batch": cfg.batch,
        },
        rows,
        tol,
        reason,
        notes,
        structure(con).as_dict(),
        cfg.evaluation,
    )


CONSTRUCTIONS = [
    ConstructionSpec(
        name="power-method",
        paper="he25",
        summary="ReLU-attention transformer running tau power iterations + k-vector deflation (He et al. 2025)",
        run=_cli,
        layers_help="L = 1 + k(3 tau + 2): tau power iterations per eigenvector (k from --option k, default "
        "min(2, d)); options: k, eta (0 = exact normalisation), normaliser=exact|scaled|relu, a, b (ReLU range); "
        "--cond K draws population eigenvalues from U[4/K, 4]",
        options=OPTIONS,
        memory=_memory,
    )
]
