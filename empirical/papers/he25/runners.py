"""he25 claim runners — He, Cao, Chen, Wu, Fan, Liu, *Learning Spectral Methods by Transformers* (arXiv 2501.01312).

Fact sheet ``shared/papers/he25.md``. Only the abstract of the paper is available to the sheet: theorem
shapes come from the precursor manuscript and its reviews; every constant marked "derived" is ours, and
the thresholds below are the sheet's (ours), not the paper's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from empirical.registry.core import Check, Control, Outcome, RunContext, SkipClaim

if TYPE_CHECKING:
    from empirical.papers.he25.training import Recipe


#: Problem sizes of the quick profile, read through ``ctx.setting`` under the same names (:func:`_n`): tests shrink
#: them by ``RunContext.overrides`` (or monkeypatch.setitem); the claim JSON records the values read (``settings``).
SIZES: dict = {
    "relu_pair": [(4, 12, 10, 3), (2, 30, 64, 8), (8, 5, 3, 5)],  # (B, D, N, r)
    "covariance": [(4, 16, 8), (8, 64, 4), (5, 5, 4)],  # (d, N, B)
    "inverse_sqrt_M": [4, 8, 16, 32, 64, 128, 400],  # knot counts of the measured/predicted sweep
    "seed_draws": 20_000_000,  # d = 50, η = 0.01: the bound exceeds the truth by 6 binomial SE at 2e7 draws
    "bound_spectra": [(3, 250), (5, 250), (8, 250), (12, 250)],
    "power_construction": [(4, 16, 2, 20, 8), (8, 64, 3, 40, 4)],  # (d, N, k, τ, B)
    "inexact": (5, 20, 2, 25, 8),
    "deflation_boundary": (400, 60),  # (tokens, iterations) of the 2ηλ_1 > λ_2 demonstration
    "topk": [(4, 16, 2, 20, 8, 1e-4, 0.3), (8, 64, 3, 40, 4, "M400", 0.2)],  # (d, N, k, τ, B, η or M, min gap)
    # 400 trials: the sheet-equivalence margin is 3√2 SE of a 50-trial estimate; our interval must be narrower
    "cluster_ref": {"N": 200, "trials": 400, "d": (50, 400), "mu": (1.5, 2.0, 2.5, 3.0)},
    "cluster_construction": {"B": 8, "grid": [(50, 200, 1.5), (50, 200, 2.0), (10, 64, 2.0)]},
    "size_d": (2, 4, 8, 16),  # claim 9: dimensions the counted sizes must not grow with
    "test_instances": 4000,  # trained claims: effect margins need the null's SE ≈ 0.009 skill (EFFECT_MARGIN)
    "harder_instances": 2000,  # claim 13 (d = 10 forward passes are costly; its effects are >= 2x the margin)
    "real_frames": 50,  # claim 18: Haar projection frames of the digits, equal shares of the prompts
    "probe_train": 3000,
    "baseline_instances": 2000,  # claim 12: instances that fix the constant mean-eigenvalue predictor
}
#: The full profile's value of a size, from its quick value, where the two differ (every other size is the same).
FULL_SIZES: dict[str, Callable[[Any], Any]] = {
    "cluster_ref": lambda q: {**q, "trials": 4 * q["trials"]},
    "cluster_construction": lambda q: {**q, "B": 50},
}

#: float64 round-off of the constructions (sums of ≤ N + d products per layer; contracting power map).
ROUNDOFF = 1e-12
ROUNDOFF_REASON = "float64 round-off: per-layer sums of <= N + d products, contracting power map (sheet: 1e-12)"


def _bootstrap_ci(x: np.ndarray, rng: np.random.Generator, reps: int = 2000) -> tuple[float, float]:
    """95 % percentile bootstrap CI of the mean of x."""
    idx = rng.integers(0, len(x), size=(reps, len(x)))
    means = x[idx].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def _bootstrap_diff_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, reps: int = 2000) -> tuple[float, float]:
    """95 % percentile bootstrap CI of mean(a) − mean(b), a and b independent samples (each resampled)."""
    boots = a[rng.integers(0, len(a), (reps, len(a)))].mean(1) - b[rng.integers(0, len(b), (reps, len(b)))].mean(1)
    return float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def _n(ctx: RunContext, key: str) -> Any:
    """The size ``key``: ``ctx.setting(key, SIZES[key], its full value)`` (:data:`FULL_SIZES`, else the same)."""
    quick = SIZES[key]
    return ctx.setting(key, quick, FULL_SIZES[key](quick) if key in FULL_SIZES else quick)


def _controls(ctx: RunContext, setup: dict, run, specs: dict[str, tuple[str, str]]) -> list[Control]:
    """The claim's pipeline ``run(ctx, setup, role)`` on each control: specs = {role: (name, description)}."""
    return [Control(name, role, desc, *run(ctx, setup, role))  # type: ignore[arg-type]
            for role, (name, desc) in specs.items()]


def _control_notes(specs: dict[str, tuple[str, str]]) -> list[str]:
    """One note per control: what it is and why the statement holds or fails for it."""
    return [f"{role} control {name}: {desc}" for role, (name, desc) in specs.items()]


# -- 1 ------------------------------------------------------------------------------------------------------


def relu_pair(ctx: RunContext) -> Outcome:
    from constructions.relu_transformer import linear_head_pair, relu_attention
    from theory.symbolic.he25 import relu_pair_identity

    g = ctx.generator("data")
    worst = 0.0
    for B, D, N, r in _n(ctx, "relu_pair"):
        H = torch.randn(B, D, N, generator=g, dtype=torch.float64)
        Q, K = torch.randn(r, D, generator=g, dtype=torch.float64), torch.randn(r, D, generator=g, dtype=torch.float64)
        V = torch.randn(D, D, generator=g, dtype=torch.float64)
        got = relu_attention(H, linear_head_pair(Q, K, V)) - H
        scores = torch.einsum("rd,bdi,re,bej->bij", Q, H, K, H)  # ⟨Q h_i, K h_j⟩, independent einsum
        lin = torch.einsum("ed,bdj,bij->bei", V, H, scores) / N
        worst = max(worst, float((got - lin).abs().max() / lin.abs().max()))
    sym = float(relu_pair_identity() != 0)
    return Outcome(
        checks=[
            Check("sympy_residual_nonzero", sym, "<=", 0, "sympy must reduce σ(t) − σ(−t) − t to 0 for t real"),
            Check("max_rel_dev_pair_vs_linear", worst, "<=", 1e-12, "float64 round-off (sheet: 1e-12, typical 4e-14)"),
        ],
        measured={"max_rel_dev": worst},
    )


# -- 2 ------------------------------------------------------------------------------------------------------


def covariance(ctx: RunContext) -> Outcome:
    from constructions.power_method import build_power_method, embed_pca
    from constructions.relu_transformer import forward

    g = ctx.generator("data")
    worst, beyond = 0.0, 0.0
    for d, N, B in _n(ctx, "covariance"):
        con = build_power_method(d, N, 1, 1)
        X = torch.randn(B, N, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, d, dtype=torch.float64)
        H, _ = forward(embed_pca(X, torch.ones(B, 1, d, dtype=torch.float64), con.layout), con.layers[:1])
        S = torch.einsum("bnd,bne->bde", X, X) / N  # column i of XᵀX/N (rows of X are tokens)
        got = H[:, con.layout["scol"]]
        worst = max(worst, float((got[..., :d] - S).abs().max() / S.abs().max()))
        beyond = max(beyond, float(got[..., d:].abs().max()) if N > d else 0.0)
    try:
        build_power_method(8, 4, 1, 1)
        rejected = 0.0
    except ValueError as e:
        rejected = float("N" in str(e))
    return Outcome(
        checks=[
            Check("max_rel_dev_vs_XXt_over_N", worst, "<=", 1e-13, "round-off of N-term sums (sheet: 1e-13)"),
            Check("tokens_beyond_d_abs", beyond, "<=", 0.0, "e_j = 0 for j > d gives exactly 0"),
            Check("N_less_than_d_rejected", rejected, ">=", 1.0, "N < d breaks the column-per-token layout"),
        ],
        measured={"max_rel_dev": worst},
    )


# -- 3 ------------------------------------------------------------------------------------------------------

SHEET_INVSQRT = [
    ((0.25, 4.0, 16), 2.8e-3),
    ((0.25, 4.0, 64), 1.76e-4),
    ((0.01, 1.0, 64), 4.85e-4),
    ((1e-2, 1e3, 400), 7.8e-5),
]


def _half_ulp_rel(v: float) -> float:
    """Half a unit in the last printed digit of a sheet value, relative (its rounding)."""
    s = f"{v:.3g}".split("e")[0].replace(".", "").lstrip("0")
    return 0.5 / int(s) if s else 0.5


def inverse_sqrt(ctx: RunContext) -> Outcome:
    import sympy as sp

    from empirical.papers.he25.plots import plot_inverse_sqrt_error
    from theory.relu_approx import inverse_sqrt_relu, predicted_relative_error
    from theory.symbolic.he25 import inverse_sqrt_leading_coefficient

    coef, _ = inverse_sqrt_leading_coefficient()
    rows = []
    for a, b in [(0.25, 4.0), (0.01, 1.0), (1e-2, 1e3), (1.0, 2.0)]:
        for M in _n(ctx, "inverse_sqrt_M"):
            h = math.log(b / a) / M
            if h > 0.7:
                continue
            g = inverse_sqrt_relu(a, b, M)
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "M": M,
                    "h": h,
                    "measured": g.relative_error(64),
                    "predicted": predicted_relative_error(a, b, M),
                }
            )
    ratios = [r["measured"] / r["predicted"] for r in rows]
    sheet_dev = max(
        abs(inverse_sqrt_relu(a, b, M).relative_error(64) / ref - 1) / _half_ulp_rel(ref)
        for (a, b, M), ref in SHEET_INVSQRT
    )
    mass_dev = 0.0
    for M in (16, 64, 400):
        g = inverse_sqrt_relu(0.25, 4.0, M)
        beta = g.coef[1:].cumsum(0)  # slopes β_1..β_M of the increasing form
        mass_dev = max(mass_dev, abs(g.slope_mass - (2 * abs(float(beta[0])) - abs(float(beta[-1])))) / g.slope_mass)
    m16, m64 = inverse_sqrt_relu(0.25, 4.0, 16).slope_mass, inverse_sqrt_relu(0.25, 4.0, 64).slope_mass
    g = inverse_sqrt_relu(0.25, 4.0, 16)
    flagged = float(
        g.out_of_range(torch.tensor([0.1, 0.2, 5.0, 100.0])).all()
        and not g.out_of_range(torch.tensor([0.25, 1.0, 4.0])).any()
    )
    fig = plot_inverse_sqrt_error(rows, ctx.figure_path("inverse_sqrt_error"))
    return Outcome(
        checks=[
            Check(
                "sympy_leading_coefficient_minus_3_32",
                float(abs(coef - sp.Rational(3, 32))),
                "<=",
                0,
                "exact symbolic leading term of the chord error of t^(-1/2)",
            ),
            Check("min_measured_over_predicted", min(ratios), ">=", 0.97, "sheet: within 3 % for ln(b/a)/M <= 0.7"),
            Check("max_measured_over_predicted", max(ratios), "<=", 1.03, "sheet: within 3 % for ln(b/a)/M <= 0.7"),
            Check(
                "sheet_reference_values_in_half_ulps",
                sheet_dev,
                "<=",
                1.0,
                "sheet values are rounded: agreement within half a unit of their last digit",
            ),
            Check("slope_mass_identity_rel", mass_dev, "<=", 1e-12, "2|β_1| − |β_M| exactly (telescoping sum)"),
            Check("slope_mass_M16_vs_6.95", abs(m16 - 6.95), "<=", 0.005, "sheet value, 3 digits"),
            Check("slope_mass_M64_vs_7.68", abs(m64 - 7.68), "<=", 0.005, "sheet value, 3 digits"),
            Check("out_of_range_flagged", flagged, ">=", 1, "inputs outside [a, b] must be flagged"),
        ],
        measured={
            "rows": rows,
            "slope_mass_M16": m16,
            "slope_mass_M64": m64,
            "decreasing_form_slope_mass_M64": inverse_sqrt_relu(0.25, 4.0, 64, "decreasing").slope_mass,
        },
        figures=[fig],
        notes=[
            "Derived, not from the paper. The construction uses the equivalent all-positive 'decreasing' form "
            "(slope mass |β_1| → a^(-3/2)/2, no cancellation)."
        ],
    )


# -- 4 ------------------------------------------------------------------------------------------------------


#: The sheet's grid for the Monte-Carlo check of the seed lemma.
SEED_GRID = ((3, 8, 50), (0.01, 0.1, 0.5))
#: The seed's component along the target is scaled by s: p = g + (s − 1)(gᵀv)v, g ~ N(0, I_d). s = 1: the lemma's
#: Gaussian seeds. s = 2: every overlap grows pointwise, so the bound holds a fortiori (positive control).
#: s = 1/2: seeds squeezed toward orthogonality, the small-overlap probability about doubles, above the bound
#: (negative control).
SEED_SCALES = {"model": 1.0, "positive": 2.0, "negative": 0.5}
SEED_CONTROLS = {
    "positive": ("aligned_seeds", "seeds with their component along v doubled: every overlap is larger than a "
                 "Gaussian seed's, so each probability is below the lemma's by construction"),
    "negative": ("squeezed_seeds", "seeds with their component along v halved: the probability of a small overlap "
                 "about doubles, above √(2/π)η"),
}


def _seed_hits(rng: np.random.Generator, draws: int, chunk: int = 1_000_000) -> dict[str, dict[tuple, int]]:
    """Counts of |⟨p̂, v⟩| < η/√d over ``draws`` seeds per d of SEED_GRID, for every scale of SEED_SCALES (the same
    draws): with v = e_1 (rotation invariance) the overlap is s|g_1|/√(s²g_1² + χ²_{d−1}), two numbers per draw."""
    ds, etas = SEED_GRID
    hits = {role: {(d, eta): 0 for d in ds for eta in etas} for role in SEED_SCALES}
    for d in ds:
        for start in range(0, draws, chunk):
            m = min(chunk, draws - start)
            g, chi = np.abs(rng.standard_normal(m)), rng.chisquare(d - 1, m)
            for role, s in SEED_SCALES.items():
                t = s * g / np.sqrt(s * s * g * g + chi)
                for eta in etas:
                    hits[role][(d, eta)] += int(np.count_nonzero(t < eta / math.sqrt(d)))
    return hits


def _seed_checks(hits: dict[tuple, int], draws: int) -> list[Check]:
    """One check per (d, η): the frequency's 95 % normal interval (binomial SE) must lie at or below √(2/π)η."""
    from theory.spectral import seed_overlap_bound

    checks = []
    for (d, eta), h in hits.items():
        f = h / draws
        half = 1.96 * max(math.sqrt(f * (1 - f) / draws), 1.0 / draws)
        checks.append(Check(f"P(overlap < {eta}/√d), d={d}", f, "<=", seed_overlap_bound(eta),
                            "lemma: <= √(2/π)η, detected (the whole 95 % normal interval, binomial SE, at or below "
                            "the bound; at d = 50 the bound is within 1.5 % of the truth, hence 2e7 draws)",
                            interval=(f - half, f + half)))
    return checks


def seed_lemma(ctx: RunContext) -> Outcome:
    from theory.spectral import seed_overlap_bound, seed_overlap_probability
    from theory.symbolic.he25 import seed_density_normalised, seed_ratio

    draws = _n(ctx, "seed_draws")
    hits = _seed_hits(ctx.rng("draws"), draws)
    rows = [{"d": d, "eta": eta, "frequency": h / draws, "bound": seed_overlap_bound(eta),
             "exact": seed_overlap_probability(eta, d)} for (d, eta), h in hits["model"].items()]
    norm_err = max(abs(float(seed_density_normalised(d)) - 1) for d in (3, 4))
    # R_d = √2 Γ(d/2)/(√d Γ((d−1)/2)) numerically (lgamma) on a range; sympy gives the limit 1
    ratio_max = max(
        math.sqrt(2.0 / d) * math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) for d in range(3, 4000)
    )
    limit_err = abs(float(seed_ratio(4000)) - 1)  # sympy Γ ratio at large d: → 1, so √(2/π) is sharp
    exact_over = max(r["exact"] - r["bound"] for r in rows)
    return Outcome(
        checks=[
            *_seed_checks(hits["model"], draws),
            Check("density_integral_minus_1", norm_err, "<=", 1e-12, "sympy: f_d integrates to 1"),
            Check("max_R_d_over_d_3_to_3999", ratio_max, "<", 1.0, "Gautschi: R_d < 1 makes √(2/π)η a bound"),
            Check(
                "|R_4000 − 1|", limit_err, "<=", 1 / 4000, "R_d = 1 − 3/(4d) + O(d⁻²) → 1: the constant √(2/π) is sharp"
            ),
            Check("exact_probability_minus_bound", exact_over, "<=", 0.0, "exact Beta probability below the bound"),
        ],
        controls=[Control(name, role, desc, _seed_checks(hits[role], draws),  # type: ignore[arg-type]
                          {"frequencies": [h / draws for h in hits[role].values()]})
                  for role, (name, desc) in SEED_CONTROLS.items()],
        measured={"rows": rows, "draws": draws},
        notes=["Lemma shape from the precursor (per its reviews); the constant √(2/π) is derived, not from the paper.",
               "The Monte-Carlo rows are detected below the bound (formerly: not more than 3 SE above it, a "
               "non-rejection test). " + " ".join(_control_notes(SEED_CONTROLS))],
    )


# -- 5 ------------------------------------------------------------------------------------------------------


def power_bound(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.plots import plot_angle_bound
    from theory.algorithms.power import power_method
    from theory.samplers import random_rotation
    from theory.spectral import angle_bound, exact_deflation, tan_angle

    g = ctx.generator("spectra")
    meas, bnd = [], []
    worst = -math.inf
    n_spectra = 0
    spectra = _n(ctx, "bound_spectra")
    for d, B in spectra:
        lam = (0.1 + 4 * torch.rand(B, d, generator=g, dtype=torch.float64)).sort(-1, descending=True).values
        U = random_rotation(d, g, B)
        S = (U * lam.unsqueeze(1)) @ U.transpose(1, 2)
        S = 0.5 * (S + S.transpose(1, 2))
        seeds = torch.randn(B, 3, d, generator=g, dtype=torch.float64)
        n_spectra += B
        for i in range(min(3, d - 1)):
            Si = exact_deflation(S, lam, U, i)
            tan0 = tan_angle(seeds[:, i], U[..., i])
            for tau in (1, 5, 20):
                v = power_method(Si, seeds[:, i], tau).final
                m = tan_angle(v, U[..., i])
                bound = angle_bound(lam[:, i + 1] / lam[:, i], tau, tan0)
                # relative slack 1e-10 (sheet) + absolute floor: an iterate carries ~1e-15·κ round-off in angle
                floor = 1e-13 * lam[:, 0] / lam[:, i]
                worst = max(worst, float(((m - bound * (1 + 1e-10) - floor) / bound.clamp_min(1e-300)).max()))
                meas += m.tolist()
                bnd += bound.tolist()
    fig = plot_angle_bound(meas, bnd, ctx.figure_path("angle_bound"))
    return Outcome(
        checks=[
            Check(
                "max_relative_excess_over_bound",
                worst,
                "<=",
                0.0,
                "tan θ_τ <= (λ_{i+1}/λ_i)^τ tan θ_0 (1 + 1e-10) + 1e-13 κ_i (round-off floor)",
            ),
            Check(
                "spectra_tested",
                n_spectra,
                ">=",
                min(1000, sum(b for _, b in spectra)),
                "sheet: >= 1000 random spectra",
            ),
        ],
        measured={"pairs_tested": len(meas)},
        figures=[fig],
    )


# -- 6 / 8 shared -------------------------------------------------------------------------------------------


def _construction_run(d: int, N: int, k: int, tau: int, B: int, nu, g: torch.Generator, min_gap: float = 0.0):
    from constructions.power_method import build_power_method, expected_states, layerwise_deviation, run_power_method
    from theory.algorithms.power_deflation import power_deflation
    from theory.spectral import sample_pca_instances

    inst = sample_pca_instances(B, d, N, g, min_gap=min_gap)
    seeds = torch.randn(B, k, d, generator=g, dtype=torch.float64)
    con = build_power_method(d, N, k, tau, nu)
    _, states = run_power_method(con, inst.X, seeds)
    S = inst.X.transpose(1, 2) @ inst.X / N
    ref = power_deflation(S, seeds, tau, nu)
    dev = layerwise_deviation(states, expected_states(ref, d, k, tau, seeds), ref)
    return inst, seeds, con, states, ref, dev


def power_construction(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser
    from empirical.papers.he25.plots import plot_layer_deviation

    g = ctx.generator("data")
    settings = _n(ctx, "power_construction")
    worst_layer, worst_spread, sign_agree, series, rows = 0.0, 0.0, 1.0, {}, []
    for d, N, k, tau, B in ctx.track(settings, "settings"):
        inst, seeds, con, states, ref, dev = _construction_run(d, N, k, tau, B, Normaliser(), g)
        per_layer = [max(v for s, v in r.items() if s != "spread") for r in dev]
        worst_layer = max(worst_layer, max(per_layer))
        worst_spread = max(worst_spread, max(r["spread"] for r in dev))
        v_con = states[-1]  # after the last layer v is cleared: read v_τ of each vector from the E1 layers
        idx = [1 + i * (3 * tau + 2) + 3 * tau + 1 for i in range(k)]  # state index after (E1) of vector i
        vt = torch.stack([states[j]["v"] for j in idx], 1)
        p = seeds / torch.linalg.vector_norm(seeds, dim=-1, keepdim=True)
        agree = (torch.sign((p * vt).sum(-1)) == torch.sign((p * ref.vectors).sum(-1))).double().mean()
        sign_agree = min(sign_agree, float(agree))
        series[f"d={d} k={k} tau={tau}"] = per_layer
        rows.append(
            {
                "d": d,
                "N": N,
                "k": k,
                "tau": tau,
                "layers": len(con.layers),
                "max_dev": max(per_layer),
                "max_spread": max(r["spread"] for r in dev),
            }
        )
        del v_con
    fig = plot_layer_deviation(series, ROUNDOFF, ctx.figure_path("layer_deviation"))
    return Outcome(
        checks=[
            Check("max_rel_dev_any_layer", worst_layer, "<=", ROUNDOFF, ROUNDOFF_REASON),
            Check(
                "max_token_spread_rel",
                worst_spread,
                "<=",
                1e-13,
                "broadcast slots: tokens run identical operations (sheet: 1e-13)",
            ),
            Check("sign_of_seed_overlap_preserved", sign_agree, ">=", 1.0, "sign(p_iᵀ v_i) equals the reference"),
        ],
        measured={"settings": rows},
        figures=[fig],
        notes=[
            "Exact normalisation mode: the token-local map c = s^(-1/2) is an oracle (not a ReLU MLP); "
            "the ReLU-MLP normaliser is claim 8. Weights derived, not from the paper."
        ],
    )


# -- 7 ------------------------------------------------------------------------------------------------------


def inexact(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser, assumptions, build_power_method
    from theory.algorithms.power_deflation import power_deflation
    from theory.spectral import rayleigh_angle_bound

    g = ctx.generator("data")
    d, N, k, tau, B = _n(ctx, "inexact")
    dir_dev, norm_excess, lam_excess, ray_excess, resid_dev = 0.0, -math.inf, -math.inf, -math.inf, 0.0
    rows = []
    for nu in [
        Normaliser("scaled", 1e-3),
        Normaliser("scaled", 1e-2),
        Normaliser("scaled", -5e-3),
        Normaliser.relu_for_eta(1e-4, 1e-2, 1e3),
    ]:
        inst, seeds, con, states, run, dev = _construction_run(d, N, k, tau, B, nu, g, min_gap=0.2)
        exact = power_deflation(inst.S, seeds, tau)
        eta = nu.eta_max
        # direction of every iterate of the first vector (before any deflation) vs the exact run
        v_hat = run.v[0, 1:] / torch.linalg.vector_norm(run.v[0, 1:], dim=-1, keepdim=True)
        dir_dev = max(dir_dev, float(torch.linalg.vector_norm(v_hat - exact.v[0, 1:], dim=-1).max()))
        dir_dev = max(dir_dev, max(max(v for s, v in r.items() if s != "spread") for r in dev))  # construction = run
        nrm = torch.linalg.vector_norm(run.v[:, 1:], dim=-1)
        norm_excess = max(norm_excess, float(((nrm - 1).abs() - eta * (1 + 1e-6)).max()))
        ratio = run.lam.transpose(0, 1) / run.lam_corrected  # = ‖v_τ‖² = (1 + η)²
        lam_excess = max(lam_excess, float(((ratio - 1).abs() - (2 * eta + eta**2) * (1 + 1e-9)).max()))
        lam1 = inst.eigvals[:, 0]
        sin2 = 1 - ((v_hat[-1] * inst.eigvecs[..., 0]).sum(-1)) ** 2
        ray = rayleigh_angle_bound(lam1, inst.eigvals[:, -1], sin2)
        ray_excess = max(ray_excess, float(((run.lam_corrected[:, 0] - lam1).abs() - ray - 1e-12 * lam1).max()))
        if nu.kind == "scaled":  # deflation residual along v̂_1: R(v̂)(1 − (1+η)²) exactly
            S2 = run.mats[1]
            vh = v_hat[-1]
            got = (vh * (S2 @ vh.unsqueeze(-1)).squeeze(-1)).sum(-1)
            want = (vh * (inst.S @ vh.unsqueeze(-1)).squeeze(-1)).sum(-1) * (1 - (1 + nu.eta) ** 2)
            resid_dev = max(resid_dev, float(((got - want).abs() / want.abs()).max()))
        rows.append(
            {
                "normaliser": nu.kind,
                "eta": eta,
                "max_norm_minus_1": float((nrm - 1).abs().max()),
                "max_lambda_bias": float((ratio - 1).abs().max()),
            }
        )
    # boundary: 2ηλ_1 > λ_2 must be detected, and v_2 then re-converges to v_1
    lam = torch.tensor([[1.0, 0.3, 0.1]], dtype=torch.float64)
    from theory.samplers import random_rotation

    tokens, iterations = _n(ctx, "deflation_boundary")
    U = random_rotation(3, g)
    Z = torch.randn(1, tokens, 3, generator=g, dtype=torch.float64)
    X = (Z * lam.sqrt()) @ U.T
    S = X.transpose(1, 2) @ X / tokens
    ev = torch.linalg.eigvalsh(S).flip(-1)
    seeds = torch.randn(1, 2, 3, generator=g, dtype=torch.float64)
    nu_bad = Normaliser("scaled", 0.5)
    con = build_power_method(3, tokens, 2, iterations, nu_bad)
    flagged = float(any("deflation boundary" in v.message for v in assumptions(X, seeds, con, ev)))
    control = float(
        not any(
            "deflation boundary" in v.message
            for v in assumptions(X, seeds, build_power_method(3, tokens, 2, iterations, Normaliser("scaled", 0.01)),
                                 ev)
        )
    )
    run = power_deflation(S, seeds, iterations, nu_bad)
    v1 = torch.linalg.eigh(S)[1][..., -1]
    recon = float(((run.vectors[:, 1] * v1).sum(-1).abs() / torch.linalg.vector_norm(run.vectors[:, 1], dim=-1)).min())
    return Outcome(
        checks=[
            Check(
                "direction_dev_vs_exact_run", dir_dev, "<=", ROUNDOFF, "a positive scalar normaliser keeps directions"
            ),
            Check("max(|‖v‖−1| − η_max(1+1e-6))", norm_excess, "<=", 0.0, "‖v‖ = 1 + η(s) with |η(s)| <= η_max"),
            Check("max(|λ̂/λ̂_corr − 1| − (2η+η²))", lam_excess, "<=", 0.0, "uncorrected Rayleigh = (1+η)² × corrected"),
            Check(
                "max(|λ̂_corr − λ_1| − Rayleigh term)",
                ray_excess,
                "<=",
                0.0,
                "with the 1/vᵀv factor: |vᵀΣv − λ_1| <= (λ_1 − λ_d) sin²θ (+1e-12 λ_1 round-off)",
            ),
            Check("deflation_residual_rel_dev", resid_dev, "<=", 1e-9, "S(I − vvᵀ) leaves R(v̂)(1 − (1+η)²) on v̂"),
            Check("boundary_detected", flagged, ">=", 1, "2ηλ_1 > λ_2 must be reported as a violation"),
            Check("boundary_not_flagged_when_safe", control, ">=", 1, "a small η must not be flagged"),
            Check("violating_case_reconverges_to_v1", recon, ">=", 0.9, "the failure the boundary predicts happens"),
        ],
        measured={"rows": rows, "reconvergence_abs_cos": recon},
        notes=[
            "Derived (not from the paper). 'scaled' = s^(-1/2)(1+η) exactly (oracle, for the analysis); 'relu' = "
            "the geometric-knot ReLU MLP with η_max its sup relative error."
        ],
    )


# -- 8 ------------------------------------------------------------------------------------------------------


def topk(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser
    from theory.algorithms.power_deflation import power_deflation
    from theory.spectral import abs_cos, tan_angle

    g = ctx.generator("data")
    settings = [
        (
            d,
            N,
            k,
            tau,
            B,
            Normaliser("relu", 0.0, 1e-2, 1e3, int(e[1:]))
            if isinstance(e, str)
            else Normaliser.relu_for_eta(e, 1e-2, 1e3),
            gap,
        )
        for d, N, k, tau, B, e, gap in _n(ctx, "topk")
    ]
    worst_ref, worst_true_excess, worst_lam_excess, rows = 0.0, -math.inf, -math.inf, []
    for d, N, k, tau, B, nu, gap in ctx.track(settings, "settings"):
        inst, seeds, con, states, run, dev = _construction_run(d, N, k, tau, B, nu, g, min_gap=gap)
        idx = [1 + i * (3 * tau + 2) + 3 * tau + 1 for i in range(k)]
        vt = torch.stack([states[j]["v"] for j in idx], 1)  # construction's v_τ (B, k, d)
        lam_con = states[-1]["lam"]
        exact = power_deflation(inst.S, seeds, tau)
        one_minus_ref = 1 - abs_cos(vt, exact.vectors)
        worst_ref = max(worst_ref, float(one_minus_ref.max()))
        true_v = inst.eigvecs[..., :k].transpose(1, 2)
        lam = inst.eigvals
        eta = nu.eta_max
        one_minus_true = 1 - abs_cos(vt, true_v)
        sin_prev = torch.zeros(B, dtype=torch.float64)
        for i in range(k):
            tan0 = tan_angle(seeds[:, i], true_v[:, i])
            nxt = (
                torch.maximum(lam[:, i + 1], (2 * eta + eta**2) * lam[:, max(i - 1, 0)])
                if i + 1 < d
                else torch.zeros(B, dtype=torch.float64)
            )
            pm = 0.5 * tan0**2 * (nxt / lam[:, i]) ** (2 * tau)
            # inherited (derived, Davis–Kahan): earlier errors perturb S^{(i)} by <= 2 Σ_j λ_j sin φ_j
            delta = (lam[:, i] - nxt).clamp_min(1e-300)
            inherited = 0.5 * (sin_prev / delta) ** 2
            allowed = pm + inherited + 1e-12
            worst_true_excess = max(worst_true_excess, float((one_minus_true[:, i] - allowed).max()))
            sin_i = (1 - abs_cos(vt[:, i], true_v[:, i]) ** 2).clamp_min(0).sqrt()
            sin_prev = sin_prev + 2 * lam[:, i] * sin_i
            sin2 = sin_i**2
            lam_allowed = 2 * eta + eta**2 + (lam[:, 0] / lam[:, i]) * sin2 * 2 + inherited + 1e-12
            worst_lam_excess = max(worst_lam_excess, float(((lam_con[:, i] / lam[:, i] - 1).abs() - lam_allowed).max()))
        rows.append(
            {
                "d": d,
                "N": N,
                "k": k,
                "tau": tau,
                "M": nu.M,
                "eta_max": eta,
                "layers": len(con.layers),
                "width": con.layout.D,
                "1-|cos| to exact run": one_minus_ref.amax(0).tolist(),
                "1-|cos| to true v_i (max over batch)": one_minus_true.amax(0).tolist(),
                "max |norm(v)-1|": float((torch.linalg.vector_norm(vt, dim=-1) - 1).abs().max()),
                "lambda rel err (max)": ((lam_con / lam[:, :k]) - 1).abs().amax(0).tolist(),
            }
        )
    return Outcome(
        checks=[
            Check(
                "max_1-|cos|_to_exact_run",
                worst_ref,
                "<=",
                1e-9,
                "sheet acceptance (a positive normaliser "
                "changes only the deflation residual -2ηλ_i, whose effect decays like (2ηλ_{i-1}/λ_i)^τ)",
            ),
            Check(
                "max_excess_over_power_bound",
                worst_true_excess,
                "<=",
                0.0,
                "½tan²θ_0 (λ'_{i+1}/λ_i)^{2τ} + inherited deflation error + 1e-12 (λ' includes the residual)",
            ),
            Check(
                "max_excess_lambda_rel_err",
                worst_lam_excess,
                "<=",
                0.0,
                "|λ̂_i/λ_i − 1| <= 2η + η² + 2(λ_1/λ_i) sin²θ_i + inherited + 1e-12",
            ),
        ],
        measured={"settings": rows},
        notes=[
            "Depth/heads are ours (the paper's count is not known; see he25.construction_size). "
            "'inherited' = ½(2Σ_{j<i} λ_j sin φ_j / (λ_i − λ'_{i+1}))², derived (Davis–Kahan), not from the paper."
        ],
    )


# -- 9 ------------------------------------------------------------------------------------------------------


def _working_counts(con) -> dict[str, int]:
    """Sizes counted from the built weights alone (:func:`constructions.structure.structure`: a head works when its
    scores and value map are not identically zero, a unit when its W1 row and W2 column are nonzero), never from
    the schedule or its formula: working layers, stream rows used, working heads and MLP units per layer (max), and
    the normaliser's units (working units that write slot c)."""
    from constructions.power_method import normaliser_units
    from constructions.structure import structure

    st = structure(con)
    return {"depth": st.working_layers, "width": st.width_used, "max_heads": st.max_heads, "max_units": st.max_units,
            "normaliser_units": normaliser_units(con)}


def size(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser, build_power_method, precursor_depth

    M = 50
    rows = []
    for d in _n(ctx, "size_d"):
        for k in sorted({1, 2, min(3, d)}):
            for tau in (1, 3, 10):
                con = build_power_method(d, d + 2, k, tau, Normaliser("relu", 0.0, 1e-2, 1e3, M))
                n = _working_counts(con)
                rows.append({"d": d, "k": k, "tau": tau, **{f"counted_{key}": v for key, v in n.items()},
                             "sheet_depth": k * (3 * tau + 3) + 1, "sheet_width": 5 * d + 3 + k + k * d,
                             "precursor_depth_tau_per_vector": precursor_depth(k, tau),
                             "precursor_depth_tau_total": precursor_depth(k, tau, tau_total=True),
                             "ratio_to_precursor_per_vector": n["depth"] / precursor_depth(k, tau)})

    def varies_with_d(key: str) -> int:
        """(k, τ) settings whose counted ``key`` is not the same for every d."""
        by_setting: dict[tuple[int, int], set[int]] = {}
        for r in rows:
            by_setting.setdefault((r["k"], r["tau"]), set()).add(r[key])
        return sum(len(v) > 1 for v in by_setting.values())

    return Outcome(
        checks=[
            Check("max(counted depth − sheet k(3τ+3)+1)", max(r["counted_depth"] - r["sheet_depth"] for r in rows),
                  "<=", 0, "sheet's reference depth; a construction verified by claims 6 and 8 with fewer working "
                  "layers meets it"),
            Check("max(counted width − sheet 5d+3+k+kd)", max(r["counted_width"] - r["sheet_width"] for r in rows),
                  "<=", 0, "sheet's reference width: stream rows read or written by a nonzero weight"),
            Check("(k, τ) settings whose max heads per layer change with d", varies_with_d("counted_max_heads"), "<=",
                  0, "sheet: O(1) heads per layer, not growing with d (d in {2, 4, 8, 16})"),
            Check("max(counted normaliser units − (M + 2))", max(r["counted_normaliser_units"] for r in rows) - (M + 2),
                  "<=", 0, f"sheet: an MLP with M + 2 ReLUs computes c ≈ s^(-1/2) (M = {M} segments here)"),
            Check("(k, τ) settings whose max MLP units per layer change with d", varies_with_d("counted_max_units"),
                  "<=", 0, "sheet: MLP units not growing with d (d in {2, 4, 8, 16})"),
        ],
        measured={"rows": rows},
        notes=[
            "Every size is counted from the built weights (nonzero blocks: working layers, heads, units, stream rows) "
            "and compared with the fact sheet's numbers, never with the formula that built the schedule.",
            "Our schedule has one layer per eigenvector fewer than the sheet's reference k(3τ+3)+1 (the Rayleigh "
            "value, the deflation and the next seed share a layer). The precursor's reported 2τ+4k+1 (unverified; "
            "τ per vector or in total not known) is listed without a verdict.",
            "The MLP width grows with d (2 units per cleared entry): clears by a ReLU MLP are exact per token, "
            "whereas O(1)-unit clears by a constant-score head accumulated round-off (~1.8x per iteration, "
            "measured). So the sheet's 'none growing with d' holds for the heads, not for the MLP units.",
        ],
    )


# -- 10 -----------------------------------------------------------------------------------------------------

SHEET_CLUSTER = {  # (d, ‖μ‖) -> (spectral, τ=10 power, unhollowed) errors, sheet §6 (approximate)
    (50, 1.5): (0.082, 0.090, 0.079),
    (50, 2.0): (0.028, 0.029, 0.025),
    (50, 2.5): (0.0072, 0.0076, 0.0063),
    (50, 3.0): (0.0018, 0.0010, 0.0013),
    (400, 1.5): (0.215, 0.285, 0.208),
    (400, 2.0): (0.061, 0.072, 0.063),
    (400, 2.5): (0.016, 0.017, 0.018),
    (400, 3.0): (0.0032, 0.0044, 0.0058),
}
#: N of the sheet's reference runs (its values exist only there) and their trials per setting: each reference value
#: is itself a 50-trial Monte-Carlo estimate, whose precision sets the equivalence margin.
SHEET_CLUSTER_N, SHEET_CLUSTER_TRIALS = 200, 50
#: Equivalence margin in standard errors of a 50-trial estimate: 3 SE (the sheet's "within 3 SE, trial-level") of
#: the difference of two independent 50-trial estimates (the sheet's and a re-run), i.e. 3√2·SE_50. Power (fixed
#: before measuring): at the quick 400 trials our 95 % interval has half-width 0.69·SE_50, so a correct sheet value
#: passes unless it strays > 3.3 SE_50 — probability ≈ 1e-3 per setting, ≈ 0.6 % over the 8 settings.
SHEET_MARGIN_SE = 3 * math.sqrt(2)
#: The spectral error is required to be detected above the oracle's (the cost of not knowing μ) where the
#: Abbe–Fan–Wang leading-order ratio exp((‖μ‖² − SNR)/2) to the oracle is at least this (fixed a priori, from theory:
#: 1.70–2.27 at d/N = 2; 1.12–1.13 at d/N = 0.25, an excess as small as 2e-4 absolute at ‖μ‖ = 3 that the quick
#: size cannot resolve, so there the excess is reported, not judged).
BAYES_GAP_RATIO = 1.5
#: Trials per sampled block (memory: a d = 400, N = 200 block of 100 trials is 64 MB of float64 samples).
CLUSTER_CHUNK = 100
#: Power iterations of the reported (unjudged) τ-step row, as in the sheet.
CLUSTER_TAU = 10
CLUSTER_CONTROLS = {
    "positive": ("oracle_at_sheet_angle", "sign(⟨x, w⟩) with a unit w at angle θ to the true μ (independent of the "
                 "data), cos θ = Φ⁻¹(1 − e)/‖μ‖: its errors are i.i.d. Bernoulli(Φ(−‖μ‖cos θ)) = e exactly, with e the "
                 "sheet's §6 value (the geometric midpoint of [Φ(−‖μ‖), exp(−SNR/2)] where the sheet has none), which "
                 "lies above the oracle's Φ(−‖μ‖) and below exp(−SNR/2): every check holds by construction"),
    "negative": ("random_projection", "sign(⟨x, r⟩) with r uniform on the sphere, independent of the data: "
                 "|cos(r, μ)| ~ 1/√d, so the error is near 1/2, above exp(−SNR/2) and far from the sheet's values"),
}


def _bayes_gap_ratio(mu: float, d: int, N: int) -> float:
    """Abbe–Fan–Wang leading-order ratio of the spectral error to the oracle's: exp(−SNR/2)/exp(−‖μ‖²/2)."""
    from theory.clustering import snr

    return math.exp((mu * mu - snr(mu, d, N)) / 2)


def _cluster_target(d: int, N: int, mu: float) -> float:
    """Error e of the positive control: the sheet's §6 value, else the geometric midpoint of the theory's bracket
    [Φ(−‖μ‖), exp(−SNR/2)]."""
    from theory.clustering import asymptotic_error, oracle_error

    if N == SHEET_CLUSTER_N and (d, mu) in SHEET_CLUSTER:
        return SHEET_CLUSTER[(d, mu)][0]
    return math.sqrt(oracle_error(mu) * asymptotic_error(mu, d, N))


def _direction_labels(X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """sign(⟨x_i, w⟩): X (B, N, d), w (B, d) -> (B, N)."""
    return torch.sign((X * w.unsqueeze(1)).sum(-1))


def _angle_labels(X: torch.Tensor, mu: torch.Tensor, error: float, g: torch.Generator) -> torch.Tensor:
    """Positive control: labels (B, N) of the rule sign(⟨x, w⟩), w = cos θ μ̂ + sin θ ξ̂ (ξ ⊥ μ random), with
    cos θ = Φ⁻¹(1 − error)/‖μ‖, so that each label is wrong with probability Φ(−‖μ‖cos θ) = error (x = yμ + z:
    ⟨x, w⟩ = y‖μ‖cos θ + N(0, 1), w independent of z)."""
    from statistics import NormalDist

    norm = torch.linalg.vector_norm(mu, dim=-1, keepdim=True)
    cos = NormalDist().inv_cdf(1 - error) / norm
    if bool((cos > 1).any()):
        raise ValueError(f"error: {error} is below the oracle's Φ(−‖μ‖) (no rule without y does better)")
    u = mu / norm
    xi = torch.randn(mu.shape, generator=g, dtype=mu.dtype)
    xi = xi - (xi * u).sum(-1, keepdim=True) * u
    w = cos * u + torch.sqrt(1 - cos * cos) * xi / torch.linalg.vector_norm(xi, dim=-1, keepdim=True)
    return _direction_labels(X, w)


def _cluster_block(d: int, N: int, mu: float, trials: int, g: torch.Generator,
                   gens: dict[str, torch.Generator]) -> dict[str, np.ndarray]:
    """Per-trial swap-invariant errors (trials,) of every object on ``trials`` fresh instances: the claim's object
    (``model``: spectral clustering, eigh of the hollowed Gram), the controls, the oracle and the reported rows."""
    from theory.clustering import oracle_labels, power_labels, sample_gmm, spectral_labels, swap_invariant_error

    inst = sample_gmm(trials, d, N, mu, g)
    seeds = torch.randn(trials, N, generator=g, dtype=torch.float64)
    r = torch.randn(trials, d, generator=gens["negative"], dtype=torch.float64)
    labels = {
        "model": spectral_labels(inst.X),
        "oracle": oracle_labels(inst.X, inst.mu),
        "positive": _angle_labels(inst.X, inst.mu, _cluster_target(d, N, mu), gens["positive"]),
        "negative": _direction_labels(inst.X, r),
        "power_tau": power_labels(inst.X, seeds, CLUSTER_TAU, hollow=True)[0],
        "unhollowed": spectral_labels(inst.X, hollow=False),
    }
    return {k: swap_invariant_error(v, inst.y).numpy() for k, v in labels.items()}


def _cluster_setup(ctx: RunContext) -> dict:
    """Per setting (d, ‖μ‖) of the size grid: per-trial errors of every object on the same instances."""
    cfg = _n(ctx, "cluster_ref")
    N, trials = cfg["N"], cfg["trials"]
    g = ctx.generator("data")
    gens = {role: ctx.generator("control", role) for role in CLUSTER_CONTROLS}
    blocks = [min(CLUSTER_CHUNK, trials - s) for s in range(0, trials, CLUSTER_CHUNK)]
    settings = []
    for d in cfg["d"]:
        for mu in cfg["mu"]:
            parts = [_cluster_block(d, N, mu, m, g, gens) for m in blocks]
            settings.append({"d": d, "N": N, "mu": mu,
                             "errors": {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}})
    return {"settings": settings, "trials": trials}


def _equivalence_check(name: str, x: np.ndarray, target: float, margin: float, reason: str,
                       rng: np.random.Generator) -> Check:
    """|mean(x) − target| <= margin, judged on the bootstrap 95 % interval [lo, hi] of mean(x) − target (two
    one-sided tests): passes when [lo, hi] lies inside ±margin, fails when it lies wholly outside, else undetermined.
    The interval of |·| is (distance of [lo, hi] from 0, max(|lo|, |hi|))."""
    lo, hi = (v - target for v in _bootstrap_ci(x, rng))
    band = (0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
    return Check(name, abs(float(x.mean()) - target), "<=", margin, f"{reason}; {CI_METHOD}", interval=band)


def _cluster_checks(setting: dict, e: np.ndarray, rng: np.random.Generator) -> list[Check]:
    """Claim 10 at one setting: per-trial swap-invariant errors e (T,) of an object on the setting's instances, judged
    against the oracle's errors on the same instances (paired), exp(−SNR/2) and the sheet's §6 value. The sheet's
    margin uses the trial-level SD of spectral clustering (the method that produced the sheet's values), the same
    for every object."""
    from theory.clustering import asymptotic_error

    d, N, mu = setting["d"], setting["N"], setting["mu"]
    tag = f"d={d}, ‖μ‖={mu}"
    per_trial = "per-trial swap-invariant error over the Monte-Carlo instances"
    bound, ratio = asymptotic_error(mu, d, N), _bayes_gap_ratio(mu, d, N)
    checks = [_ci_check(f"error < exp(−SNR/2), {tag}", e, "<", bound,
                        f"Abbe–Fan–Wang leading order exp(−SNR/2) = {bound:.3g} (asymptotic; the sheet: it holds in "
                        f"all §6 settings), detected: the whole 95 % interval of the {per_trial} below it", rng)]
    if ratio >= BAYES_GAP_RATIO:
        checks.append(_ci_check(
            f"error − oracle error, {tag}", e - setting["errors"]["oracle"], ">", 0.0,
            "Bayes: sign(⟨x, μ⟩) has the least error of all rules that do not see y, and spectral clustering pays "
            f"for not knowing μ — AFW leading-order ratio exp((‖μ‖² − SNR)/2) = {ratio:.2f} >= {BAYES_GAP_RATIO} "
            f"here; detected: the whole paired 95 % interval (same instances) above 0", rng))
    if N == SHEET_CLUSTER_N and (d, mu) in SHEET_CLUSTER:
        ref = SHEET_CLUSTER[(d, mu)][0]
        se50 = float(setting["errors"]["model"].std(ddof=1)) / math.sqrt(SHEET_CLUSTER_TRIALS)
        margin = SHEET_MARGIN_SE * se50 + ref * _half_ulp_rel(ref)
        checks.append(_equivalence_check(
            f"|error − sheet §6|, {tag}", e, ref, margin,
            f"the sheet's {ref} is a {SHEET_CLUSTER_TRIALS}-trial estimate: margin 3√2·SE_50 + half a unit of its "
            f"last digit = {margin:.2g} (3 SE of the difference of two independent {SHEET_CLUSTER_TRIALS}-trial "
            f"estimates; SE_50 = trial-level SD of spectral clustering here / √{SHEET_CLUSTER_TRIALS}); equivalence: "
            f"the whole 95 % interval of error − sheet inside ±margin", rng))
    return checks


def _cluster_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    """Claim 10's pipeline on one object (``model``, ``positive``, ``negative``) over every setting."""
    rng = ctx.rng("bootstrap", role)
    checks = [c for s in setup["settings"] for c in _cluster_checks(s, s["errors"][role], rng)]
    return checks, {"mean_error": {f"d={s['d']}, mu={s['mu']}": float(s["errors"][role].mean())
                                   for s in setup["settings"]}}


def _cluster_rows(setup: dict) -> list[dict]:
    """Mean errors per setting (the figure's rows and the sheet's §6 table)."""
    from theory.clustering import asymptotic_error, oracle_error

    rows = []
    for s in setup["settings"]:
        e, d, N, mu = s["errors"], s["d"], s["N"], s["mu"]
        rows.append({"d": d, "N": N, "mu": mu, "spectral": float(e["model"].mean()),
                     "se": float(e["model"].std(ddof=1)) / math.sqrt(len(e["model"])),
                     "power_tau": float(e["power_tau"].mean()), "unhollowed": float(e["unhollowed"].mean()),
                     "oracle": float(e["oracle"].mean()), "oracle_phi": oracle_error(mu),
                     "spectral_minus_oracle": float((e["model"] - e["oracle"]).mean()),
                     "afw_ratio_to_oracle": _bayes_gap_ratio(mu, d, N), "exp_bound": asymptotic_error(mu, d, N),
                     "sheet_spectral": SHEET_CLUSTER.get((d, mu), (math.nan,))[0] if N == SHEET_CLUSTER_N else math.nan,
                     "positive_control": float(e["positive"].mean()), "negative_control": float(e["negative"].mean())})
    return rows


def cluster_ref(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.plots import plot_clustering_error

    setup = _cluster_setup(ctx)
    checks, measured = _cluster_run(ctx, setup, "model")
    rows = _cluster_rows(setup)
    fig = plot_clustering_error(rows, ctx.figure_path("error_vs_snr"))
    small = [f"d={r['d']}, ‖μ‖={r['mu']}: {r['spectral_minus_oracle']:.2g}" for r in rows
             if r["afw_ratio_to_oracle"] < BAYES_GAP_RATIO]
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _cluster_run, CLUSTER_CONTROLS),
        measured={"rows": rows, "trials": setup["trials"]},
        figures=[fig],
        config={"interval": CI_METHOD.replace("test prompts", "Monte-Carlo instances (trials)"),
                "bayes_gap_ratio": BAYES_GAP_RATIO, "sheet_margin_se50": SHEET_MARGIN_SE, "tau_row": CLUSTER_TAU},
        notes=[f"{setup['trials']} trials per setting (the sheet's references used {SHEET_CLUSTER_TRIALS}): the "
               "equivalence to the sheet's values needs our interval narrower than the references' own precision.",
               "Spectral minus oracle error where AFW predicts an excess below the Bayes-gap ratio (reported, not "
               f"judged): {'; '.join(small) if small else 'none'}.",
               f"τ = {CLUSTER_TAU} power-method and unhollowed-Gram errors are reported in the rows, not judged.",
               *_control_notes(CLUSTER_CONTROLS)],
    )


# -- 11 -----------------------------------------------------------------------------------------------------


def cluster_construction(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser
    from constructions.spectral_clustering import build_spectral_clustering, reference_iterates, run_spectral_clustering
    from theory.clustering import sample_gmm, spectral_labels, swap_invariant_accuracy

    g = ctx.generator("data")
    cfg = _n(ctx, "cluster_construction")
    tau, K, B = 10, 1e3, cfg["B"]
    rows, mismatch, gap_excess = [], 0.0, -math.inf
    for d, N, mu in cfg["grid"]:
        inst = sample_gmm(B, d, N, mu, g)
        seeds = torch.randn(B, N, generator=g, dtype=torch.float64)
        ref = reference_iterates(inst.X, seeds, tau)[-1]
        u_ref = math.sqrt(N) * ref
        for nu in (Normaliser(), Normaliser.relu_for_eta(1e-4, 1e-2, 1e4)):
            con = build_spectral_clustering(d, tau, nu, K)
            yhat, _, _ = run_spectral_clustering(con, inst.X, seeds)
            eta = nu.eta_max
            sure = u_ref.abs() >= (1 / K) * (1 + eta) + 1e-12  # ramp saturated in the reference, with margin
            hard = torch.where(yhat.abs() >= 1 - 1e-12, torch.sign(yhat), torch.zeros_like(yhat))
            mismatch = max(mismatch, float(((hard != torch.sign(u_ref)) & sure).double().mean()))
            acc_con = swap_invariant_accuracy(hard, inst.y)
            acc_ref = swap_invariant_accuracy(torch.sign(u_ref), inst.y)
            below = (~sure).double().mean(-1)
            # In tokens, not fractions: both accuracies are k/N, so N·|gap| rounds to the exact integer count, and the
            # comparison has no round-off (as fractions, 4e-18 and 1e-16 failed a "<= 0" at seeds 1 and 4).
            gap_tokens = ((acc_ref - acc_con).abs() * N).round() - (~sure).sum(-1)
            gap_excess = max(gap_excess, float(gap_tokens.max()))
            rows.append(
                {
                    "d": d,
                    "N": N,
                    "mu": mu,
                    "normaliser": nu.kind,
                    "M": nu.M,
                    "acc_construction": float(acc_con.mean()),
                    "acc_reference_power": float(acc_ref.mean()),
                    "acc_spectral_hollowed_eigh": float(
                        swap_invariant_accuracy(spectral_labels(inst.X), inst.y).mean()
                    ),
                    "fraction_below_ramp": float(below.mean()),
                    "layers": len(con.layers),
                }
            )
    return Outcome(
        checks=[
            Check(
                "label_mismatch_on_saturated_tokens",
                mismatch,
                "<=",
                0.0,
                "labels equal sign(u_i) of the reference run where |u_i| >= 1/K (+ normaliser error)",
            ),
            Check(
                "max(|acc gap| − below ramp), tokens",
                gap_excess,
                "<=",
                0.0,
                "accuracy gap <= fraction of tokens below the ramp threshold, both counted in tokens (integers: "
                "exact, no round-off)",
            ),
        ],
        measured={"rows": rows, "tau": tau, "K": K},
        notes=[
            "Gram power method on the unhollowed (PSD) Gram XXᵀ: hollowing needs a local product (MLP "
            "approximation) — the unhollowed/hollowed accuracy difference is reported in claim 10."
        ],
    )


# -- trained (12–18) ----------------------------------------------------------------------------------------
#
# Each trained claim is a pure pipeline (``_*_checks``: per-prompt numbers -> checks judged on 95 % intervals),
# run by ``_*_run(ctx, setup, role)`` on the shipped model (role "model") and, unchanged, on a positive control
# (the statement holds by construction) and a negative control (it is false), named in the claim's ``*_CONTROLS``.

#: Smallest effect, in skill units (:func:`_skill`), that a trend or ordering check calls a rise or a drop.
EFFECT_MARGIN = 0.05
EFFECT_REASON = (
    f"margin {EFFECT_MARGIN} skill (skill = (|cos| − chance_d)/(1 − chance_d): 0 at chance, 1 exact; comparable "
    "across d), fixed from the null's noise, not from results: two chance-level predictors on 4000 prompts differ "
    "with SE ≈ 0.009 skill (0.39·√2/√4000), so a null effect's 95 % interval lies below the margin unless the "
    "estimate strays > 3.5 SE"
)
CI_METHOD = "95 % percentile bootstrap of the mean over test prompts (2000 resamples, seeded numpy Generator)"

#: Power iterations of the construction controls where the power method is far from converged (d = 5:
#: mean |cos v_1| ≈ 0.77 at τ = 2), so index and dimension effects are large (claim 13).
FAR_FROM_CONVERGED_TAU = 2
#: Operator scale of the GOE perturbation of the real-data positive control (claim 18): comparable to the
#: typical eigengap (≈ 0.7 for 5 eigenvalues in [0.1, 4.1]), so Davis–Kahan angles are O(1), larger for v_2.
TRANSFER_PERTURBATION = 0.5


def _ci_check(name: str, x, op, threshold: float, reason: str, rng: np.random.Generator) -> Check:
    """``mean(x) op threshold`` judged on the bootstrap CI of the mean; x (B,) per prompt (paired differences
    stay paired)."""
    x = np.asarray(x, dtype=float)
    return Check(name, float(x.mean()), op, threshold, f"{reason}; {CI_METHOD}", interval=_bootstrap_ci(x, rng))


def _ci_diff_check(name: str, a, b, op, threshold: float, reason: str, rng: np.random.Generator) -> Check:
    """``mean(a) − mean(b) op threshold``, a (B,) and b (B',) from independent prompt sets (each resampled)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return Check(name, float(a.mean() - b.mean()), op, threshold, f"{reason}; {CI_METHOD}, each set resampled",
                 interval=_bootstrap_diff_ci(a, b, rng))


def _skill(cos, d: int) -> np.ndarray:
    """(|cos| − chance_d)/(1 − chance_d), elementwise: 0 for a random direction, 1 exact (chance falls with d)."""
    from theory.spectral import chance_abs_cos

    c = chance_abs_cos(d)
    return (np.asarray(cos, dtype=float) - c) / (1.0 - c)


#: Why the full profile needs a GPU (``ctx.require_cuda``; tests/claims match "full-profile").
FULL_TRAINING = ("full-profile pre-training (sheet §6: d in {10, 20}, depth up to 12, tens of thousands of steps per "
                 "model) is sized for a GPU")


def _full_profile_note(r: Recipe) -> str:
    """Where the full-profile sizes come from, with the values of ``r`` (the claim's model, as its settings read)."""
    return (
        f"Full profile: models trained in this run into <out>/checkpoints/he25/ (later runs into the same folder "
        f"load them; the default recipes are FULL_RECIPES of empirical/papers/he25/training.py). The sheet's grid: "
        f"d ∈ {{10, 20}}, "
        f"L ∈ {{2, 4, 8, 12}}, GMM d = 10, N = 64, ‖μ‖ = 2, n ∈ {{1e3 … 1e5}}; one value of its ranges: k = {r.k} "
        f"(1..5), {r.heads} heads ({{2, 4, 8}}), {r.steps} steps (20k–100k). The suite's choice, not the paper's (not "
        f"known): N = 4d (here N = {r.N}, d = {r.d}), width {r.E} and batch {r.batch} (as the quick recipes), Adam "
        f"{r.lr:g} with {r.warmup} warm-up steps, {r.schedule} decay, gradient clipping at {r.grad_clip}.")


def recipe_of(ctx: RunContext, role: str, layers: int | None = None, train_instances: int = 0) -> Recipe:
    """The recipe of the model playing ``role`` (:data:`empirical.papers.he25.training.ROLES`) at the context's profile,
    every size a setting: ``<role>.d``, ``<role>.N``, ``<role>.k`` (PCA), ``<role>.layers`` and the shared
    ``model.E``, ``model.heads``, ``model.steps``, ``model.batch``, ``model.warmup``. At the defaults it is the
    profile's recipe itself (quick: the shipped model's identity, so it loads); with overridden sizes a new recipe,
    trained into the out folder. ``layers`` (depth sweep, then ``<role>.layers`` is not read) and
    ``train_instances`` (generalization sweep) vary the role's model."""
    from empirical.papers.he25.training import ROLES, SHARED_SIZES, recipe_name, recipes

    if role not in ROLES:
        raise ValueError(f"role: expected one of {sorted(ROLES)}, got {role!r}")
    q, f = (recipes(profile)[name] for profile, name in zip(("quick", "full"), ROLES[role], strict=True))
    own = ("d", "N", "k") if q.task == "pca" else ("d", "N")
    sizes = {key: ctx.setting(f"{role}.{key}", getattr(q, key), getattr(f, key)) for key in own}
    sizes["layers"] = layers if layers is not None else ctx.setting(f"{role}.layers", q.layers, f.layers)
    sizes |= {key: ctx.setting(f"model.{key}", getattr(q, key), getattr(f, key)) for key in SHARED_SIZES}
    base = q if ctx.quick else f
    return dataclasses.replace(base, name=recipe_name(base.task, sizes["d"], sizes["layers"], train_instances),
                               train_instances=train_instances, **sizes)


def _load_model(ctx: RunContext, setup: dict, r: Recipe):
    """The trained model of recipe ``r``: the shipped one when its identity matches (quick), else one trained
    earlier into ``<out>/checkpoints/he25/``, else trained now into it (``ctx.retrain``: trained again). Loaded once
    per setup; the checkpoint records (source, path, command, metrics) are kept in ``setup["checkpoints"]``."""
    from empirical.papers.he25.training import load_recipe

    models = setup.setdefault("models", {})
    if r.name not in models:
        models[r.name], setup.setdefault("checkpoints", {})[r.name] = load_recipe(
            r, ctx.device, ctx.out_dir, ctx.progress, ctx.retrain)
    return models[r.name]


def _checkpoint_measured(ctx: RunContext, setup: dict, primary: Recipe) -> dict[str, Any]:
    """Full profile: ``checkpoint`` (the record of the claim's model ``primary``, trained in this run or an earlier
    one into the out folder) and, with several models, ``checkpoints`` by name. Quick: nothing (the shipped models
    are named in ``config``; the quick JSON keeps its numbers)."""
    if ctx.quick:
        return {}
    records = setup.get("checkpoints", {})
    return {"checkpoint": records[primary.name], **({"checkpoints": records} if len(records) > 1 else {})}


def _init_model(ctx: RunContext, r: Recipe):
    """The recipe's architecture at its seeded initialisation (negative control: a model that learned nothing)."""
    from empirical.papers.he25.training import build_model

    return build_model(r, ctx.device).eval()


def _pool(h: torch.Tensor) -> torch.Tensor:
    """Probe features of token states (..., N, F) -> (..., 2F + 1): [mean_j h_j, mean_j h_j², 1] (v_1 is quadratic
    in the data, hence the squares)."""
    return torch.cat([h.mean(-2), (h * h).mean(-2), torch.ones(*h.shape[:-2], 1, dtype=h.dtype)], -1)


def _construction_pca(X: torch.Tensor, k: int, tau: int, g: torch.Generator, features: bool = False):
    """The power-method construction (exact normaliser) on X (B, N, d) from Gaussian seeds.

    Returns v_τ of each eigenvector (B, k, d), λ̂ (B, k) and, with ``features``, probe features (:func:`_pool`) of
    the stream at the iteration boundaries of the first eigenvector, (τ + 1, B, 2D + 1): after the covariance layer
    (v = v_0) and after each iteration's (C) layer (v = v_t); else None.
    """
    from constructions.evaluate import apply_layer
    from constructions.power_method import Normaliser, build_power_method, embed_pca

    B, N, d = X.shape
    con = build_power_method(d, N, k, tau, Normaliser())
    seeds = torch.randn(B, k, d, generator=g, dtype=torch.float64)
    ends = {1 + i * (3 * tau + 2) + 3 * tau: i for i in range(k)}  # after the τ-th (C) layer of eigenvector i
    bounds = {1 + 3 * t for t in range(tau + 1)} if features else set()  # v = v_t of the first eigenvector
    H = embed_pca(X, seeds, con.layout)
    vectors, feats = torch.empty(B, k, d, dtype=torch.float64), []
    for ell, layer in enumerate(con.layers, start=1):  # layer by layer: only the read-outs are kept
        H = apply_layer(H, layer)
        if ell in ends:
            vectors[:, ends[ell]] = con.layout.read(H, "v")
        if ell in bounds:
            feats.append(_pool(H.transpose(1, 2)))
    return vectors, con.layout.read(H, "lam"), torch.stack(feats) if features else None


def _pca_object(ctx: RunContext, setup: dict, role: str, r: Recipe, tau: int, X: torch.Tensor, k: int | None = None,
                features: bool = False):
    """(vectors (B, k, d), eigenvalues (B, k), probe features (·, B, F) or None) of one object on X (B, N, d): the
    trained model of recipe ``r`` ("model", :func:`_load_model`), the construction with ``tau`` iterations and ``k``
    (default the recipe's) eigenvectors ("positive") or the recipe at initialisation ("negative")."""
    from empirical.papers.he25.training import predict_pca, split_pca_output

    if role == "positive":
        return _construction_pca(X, k or r.k, tau, ctx.generator("construction", r.name, tau), features)
    model = _load_model(ctx, setup, r) if role == "model" else _init_model(ctx, r)
    if features:
        vec, val, hidden = predict_pca(model, r, X)
        return vec, val, _pool(hidden)
    with torch.no_grad():  # predict_pca also returns every layer's stream: (L+1)·B·N·E floats not needed here
        out = model(X.float().to(ctx.device))["pooled"].double().cpu()
    return (*split_pca_output(out, r.k, r.d), None)


def _pca_batch(ctx: RunContext, role: str, stream: str = "test", n: int | None = None) -> dict:
    """Fresh instances of the distribution of ``role``'s recipe (``pca_batch``), n (default test_instances); the
    stream is named by (stream, d, N), so recipes of equal d and N see the same prompts (paired comparisons)."""
    from empirical.papers.he25.training import pca_batch

    r = recipe_of(ctx, role)
    return pca_batch(r, ctx.generator(stream, r.d, r.N), n or _n(ctx, "test_instances"))


def _abs_cos(vectors: torch.Tensor, batch: dict) -> np.ndarray:
    """|cos| of predicted (B, k, d) with the true eigenvectors: (B, k)."""
    from theory.spectral import abs_cos

    return abs_cos(vectors, batch["vecs64"][:, : vectors.shape[1]]).numpy()


def _power_cos(batch, steps: int, g: torch.Generator) -> torch.Tensor:
    """|cos| of `steps` power iterations from a random seed with v_1, per iteration: (steps+1, B)."""
    from theory.algorithms.power import power_method
    from theory.spectral import abs_cos

    S = batch["S64"]
    seeds = torch.randn(S.shape[0], S.shape[1], generator=g, dtype=torch.float64)
    its = power_method(S, seeds, steps).iterates
    return abs_cos(its, batch["vecs64"][:, 0].unsqueeze(0))


# 12 ---------------------------------------------------------------------------------------------------------


def _first_eigenpair_checks(cos1, power1, lam_err, mean_err, d: int, rng: np.random.Generator) -> list[Check]:
    """Claim 12. Per prompt (B,): |cos(v̂_1, v_1)|, |cos| of L power iterations from a random seed, relative λ_1
    error of the object and of the constant mean-eigenvalue predictor (same prompts, so differences are paired)."""
    from theory.spectral import chance_abs_cos

    chance = chance_abs_cos(d)
    return [
        _ci_check("mean_abs_cos_v1", cos1, ">=", 0.70, "sheet quick threshold (ours)", rng),
        _ci_check("mean_abs_cos_v1_minus_chance", np.asarray(cos1) - chance, ">=", 0.3,
                  f"sheet: chance + 0.3 (chance |cos| = {chance:.3f} at d = {d})", rng),
        _ci_check("abs_cos_minus_power_L_iterations", np.asarray(cos1) - power1, ">=", -0.1,
                  "sheet: near the power method with L iterations from a random seed, margin 0.1 (paired)", rng),
        _ci_check("lambda1_rel_err", lam_err, "<=", 0.15, "sheet quick threshold (ours)", rng),
        _ci_check("lambda1_rel_err_minus_mean_predictor", np.asarray(lam_err) - mean_err, "<", 0.0,
                  "below the constant mean-eigenvalue predictor, detected: the paired interval lies below 0", rng),
    ]


#: the model's role (empirical.papers.he25.training.ROLES): quick pca_d5_L4, full pca_d10_L8
FIRST_MODEL = "pca"
FIRST_CONTROLS = {
    "positive": ("power_method_construction", "the power-method construction (constructions/power_method.py, "
                 "exact normaliser, k = 1) with τ = L iterations (the model's depth: 4 quick, 8 full): it is the "
                 "power method at equal depth and its λ̂_1 is the Rayleigh quotient, so every check holds by "
                 "construction"),
    "negative": ("model_at_initialisation", "the same architecture at its seeded initialisation: its vectors "
                 "are at chance and its eigenvalues arbitrary"),
}


def _first_setup(ctx: RunContext) -> dict:
    """Test prompts, |cos| of L power iterations and the mean-eigenvalue predictor's errors (shared references)."""
    from empirical.papers.he25.training import pca_batch

    r = recipe_of(ctx, FIRST_MODEL)
    batch = _pca_batch(ctx, FIRST_MODEL)
    lam1 = batch["vals64"][:, 0]
    mean_pred = float(pca_batch(r, ctx.generator("baseline"), _n(ctx, "baseline_instances"))["vals64"][:, 0].mean())
    return {"batch": batch, "power": _power_cos(batch, r.layers, ctx.generator("seeds"))[-1].numpy(),
            "mean_err": ((mean_pred - lam1).abs() / lam1).numpy(), "mean_predictor": mean_pred}


def _first_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    r, batch = recipe_of(ctx, FIRST_MODEL), setup["batch"]
    vec, val, _ = _pca_object(ctx, setup, role, r, r.layers, batch["X64"], k=1)  # the construction: v_1 only
    cos = _abs_cos(vec, batch)
    true = batch["vals64"][:, : val.shape[1]]
    err = ((val - true).abs() / true).numpy()
    checks = _first_eigenpair_checks(cos[:, 0], setup["power"], err[:, 0], setup["mean_err"], r.d,
                                     ctx.rng("bootstrap", role))
    measured = {"abs_cos": cos.mean(0).tolist(), "lambda_rel_err": err.mean(0).tolist()}
    if not ctx.quick:  # the sheet's full profile attempts the precursor's "eigenvalue relative MSE < 2 %"
        measured["lambda_rel_mse"] = (err**2).mean(0).tolist()
    return checks, measured


def pretrained_first(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.training import recipe_identity
    from theory.spectral import chance_abs_cos

    ctx.require_cuda(FULL_TRAINING)
    r = recipe_of(ctx, FIRST_MODEL)
    setup = _first_setup(ctx)
    checks, measured = _first_run(ctx, setup, "model")
    full_notes = [] if ctx.quick else [
        _full_profile_note(r),
        "lambda_rel_mse: mean over prompts of ((λ̂_i − λ_i)/λ_i)², reported against the precursor's 'eigenvalue "
        "relative MSE below 2 %' (a secondary summary of its reviews; its definition is not known), not judged."]
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _first_run, FIRST_CONTROLS),
        measured={**measured, "power_L_abs_cos": float(setup["power"].mean()),
                  "mean_predictor_rel_err": float(setup["mean_err"].mean()),
                  "chance": chance_abs_cos(r.d), **_checkpoint_measured(ctx, setup, r)},
        config={"recipe": recipe_identity(r), "test_instances": len(setup["power"])},
        notes=["Synthetic data only. The paper's experiment settings and numbers are not known.",
               *_control_notes(FIRST_CONTROLS), *full_notes],
    )


# 13 ---------------------------------------------------------------------------------------------------------


def _harder_checks(cos_small, d_small: int, cos_large_v1, d_large: int, rng: np.random.Generator) -> list[Check]:
    """Claim 13. cos_small (B, ≥ 2): |cos| of v̂_1, v̂_2 at d_small; cos_large_v1 (B',): |cos| of v̂_1 at d_large on
    an independent prompt set. Accuracies are compared in skill units (chance falls with d)."""
    s, big = _skill(cos_small, d_small), _skill(cos_large_v1, d_large)
    return [
        _ci_check(f"skill v1 − v2, d={d_small}", s[:, 0] - s[:, 1], ">", EFFECT_MARGIN,
                  f"drop with the index detected (paired); {EFFECT_REASON}", rng),
        dataclasses.replace(_ci_check(
            f"skill v1, d={d_large}", big, ">", EFFECT_MARGIN,
            f"precondition: the d = {d_large} object must be above chance: a drop to a predictor at chance measures "
            "failed training (a negative control), not a harder problem", rng), precondition=True),
        _ci_diff_check(f"skill v1: d={d_small} − d={d_large}", s[:, 0], big, ">", EFFECT_MARGIN,
                       f"drop with d detected; {EFFECT_REASON}", rng),
    ]


#: roles of the smaller and the larger d: quick pca_d5_L4 and pca_d10_L4, full pca_d10_L8 and pca_d20_L8
HARDER_MODELS = ("pca", "pca_large")
HARDER_CONTROLS = {
    "positive": ("power_method_construction", f"the power-method construction with τ = {FAR_FROM_CONVERGED_TAU} "
                 "iterations (far from converged) at both dimensions (d = 5 and 10 quick, 10 and 20 full): v_2 "
                 "starts from a deflation that inherits v_1's error and the seed overlap falls like 1/√d, so both "
                 "drops hold by construction"),
    "negative": ("models_at_initialisation", "both architectures at their seeded initialisation: every vector "
                 "is at chance, so no accuracy drops beyond chance"),
}


def _harder_setup(ctx: RunContext) -> dict:
    return {name: _pca_batch(ctx, name, n=_n(ctx, "harder_instances")) for name in HARDER_MODELS}


def _harder_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    rs = [recipe_of(ctx, n) for n in HARDER_MODELS]
    # k = 2 at the smaller d (v_1 and v_2 are scored), k = 1 at the larger (v_1 only: halves the construction's depth)
    small, large = (_abs_cos(_pca_object(ctx, setup, role, r, FAR_FROM_CONVERGED_TAU, setup[n]["X64"], k)[0],
                             setup[n]) for n, r, k in zip(HARDER_MODELS, rs, (2, 1), strict=True))
    d_small, d_large = (r.d for r in rs)
    checks = _harder_checks(small, d_small, large[:, 0], d_large, ctx.rng("bootstrap", role))
    return checks, {f"d{d_small}_abs_cos": small.mean(0).tolist(), f"d{d_large}_abs_cos": large.mean(0).tolist()}


def pretrained_harder(ctx: RunContext) -> Outcome:
    ctx.require_cuda(FULL_TRAINING)
    setup = _harder_setup(ctx)
    checks, measured = _harder_run(ctx, setup, "model")
    profile_notes = [
        "The shipped d = 10 model (d = 10, N = 40, k = 3, same quick budget) is at chance for every vector "
        "(sheet §6: 'stays at chance'): it behaves like the negative control, so comparing d = 5 with it "
        "measures failed training, not a harder problem. Its precondition 'skill v1, d=10' fails, so the "
        "verdict is inconclusive: the shipped models cannot speak to the 'larger d' half of the claim."
    ] if ctx.quick else [
        _full_profile_note(recipe_of(ctx, HARDER_MODELS[0])),
        "Both dimensions at equal budget (width, depth, steps); the larger-d model must be above chance (a "
        "precondition), else the comparison measures failed training, not a harder problem."]
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _harder_run, HARDER_CONTROLS),
        measured={**measured, **_checkpoint_measured(ctx, setup, recipe_of(ctx, HARDER_MODELS[0]))},
        notes=["Trend reported for the precursor by its reviews; numbers are ours.", *profile_notes,
               *_control_notes(HARDER_CONTROLS)],
    )


# 14 ---------------------------------------------------------------------------------------------------------


def _depth_checks(cos_by_depth, d: int, depths: tuple[int, ...], rng: np.random.Generator) -> list[Check]:
    """Claim 14. |cos v̂_1| (B,) of the object at each depth (increasing), on the same prompts (paired).

    The rise from the shallowest to the deepest must be detected above the margin (the quick profile's only check,
    L = 2 → 4). With three depths or more (full: 2, 4, 8, 12), the sheet's shape too: no step may lose more than the
    margin (non-decreasing within the interval) and the last gain must lie below the first (gain(8→12) <=
    gain(2→4): diminishing returns, detected)."""
    s = [_skill(c, d) for c in cos_by_depth]
    checks = [_ci_check(f"skill v1: L={depths[-1]} − L={depths[0]}", s[-1] - s[0], ">", EFFECT_MARGIN,
                        f"rise with depth detected (paired); {EFFECT_REASON}", rng)]
    if len(s) < 3:
        return checks
    checks += [_ci_check(f"skill v1: L={depths[i + 1]} − L={depths[i]}", s[i + 1] - s[i], ">", -EFFECT_MARGIN,
                         "non-decreasing: no step loses more than the effect margin (paired)", rng)
               for i in range(len(s) - 1)]
    checks.append(_ci_check(
        f"gain L={depths[-2]}→{depths[-1]} − gain L={depths[0]}→{depths[1]}", (s[-1] - s[-2]) - (s[1] - s[0]), "<",
        0.0, "sheet: gain(8→12) <= gain(2→4), diminishing returns detected (paired, skill units)", rng))
    return checks


#: the role whose depth the claim varies (quick pca_d5_L2, pca_d5_L4; full pca_d10_L{2, 4, 8, 12})
DEPTH_MODELS = "pca"
DEPTH_CONTROLS = {
    "positive": ("power_method_construction", "the power-method construction (k = 1) with τ = L iterations at each "
                 "depth (τ = 2, 4 quick; 2, 4, 8, 12 full): each iteration shrinks tan θ by λ_2/λ_1, so |cos| rises "
                 "with τ, never falls, and by less per step as it converges"),
    "negative": ("models_at_initialisation", "every depth at its seeded initialisation: at chance, no rise"),
}


def _depth_recipes(ctx: RunContext) -> list[Recipe]:
    """The depth sweep: the role's recipe at each depth of the setting ``depths`` (>= 2, increasing)."""
    from empirical.papers.he25.training import DEPTHS

    depths = ctx.setting("depths", DEPTHS["quick"], DEPTHS["full"])
    if len(depths) < 2 or any(not isinstance(L, int) or L < 1 for L in depths) or list(depths) != sorted(set(depths)):
        raise ValueError(f"depths: expected >= 2 increasing positive integers, got {depths!r}")
    return [recipe_of(ctx, DEPTH_MODELS, layers=L) for L in depths]


def _depth_setup(ctx: RunContext) -> dict:
    return {"batch": _pca_batch(ctx, DEPTH_MODELS)}  # every depth shares d and N: the same prompts (paired)


def _depth_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    batch = setup["batch"]
    rs = _depth_recipes(ctx)
    cos = [_abs_cos(_pca_object(ctx, setup, role, r, r.layers, batch["X64"], k=1)[0], batch)[:, 0] for r in rs]
    checks = _depth_checks(cos, rs[0].d, tuple(r.layers for r in rs), ctx.rng("bootstrap", role))
    return checks, {f"L{r.layers}_abs_cos_v1": float(c.mean()) for r, c in zip(rs, cos, strict=True)}


def pretrained_depth(ctx: RunContext) -> Outcome:
    ctx.require_cuda(FULL_TRAINING)
    setup = _depth_setup(ctx)
    checks, measured = _depth_run(ctx, setup, "model")
    deepest = _depth_recipes(ctx)[-1]
    profile_notes = [
        "Quick profile: L in {2, 4}, the rise only; diminishing returns need L in {2, 4, 8, 12} (full)."
    ] if ctx.quick else [_full_profile_note(deepest), "Full profile: L in {2, 4, 8, 12}; the rise, every step and the "
                         "diminishing returns are judged."]
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _depth_run, DEPTH_CONTROLS),
        measured={**measured, **_checkpoint_measured(ctx, setup, deepest)},
        notes=[*profile_notes,
               "The former check (upper CI end of the gain >= 0) was a non-rejection test that a flat curve passes; "
               "the rise must now be detected above the effect margin.",
               *_control_notes(DEPTH_CONTROLS)],
    )


# 15 ---------------------------------------------------------------------------------------------------------


def _gmm_checks(acc, acc_spectral, acc_oracle, rng: np.random.Generator) -> list[Check]:
    """Claim 15. Swap-invariant accuracies (B,) of the object, spectral clustering and the oracle on the same
    prompts (paired)."""
    acc = np.asarray(acc, dtype=float)
    return [
        _ci_check("model_minus_spectral", acc - acc_spectral, ">=", -0.03,
                  "sheet non-inferiority margin 0.03 (ours): the whole paired interval above −0.03", rng),
        _ci_check("model_minus_oracle", acc - acc_oracle, "<=", 0.0,
                  "at or below the oracle (μ known): above it would mean a label leak (paired)", rng),
    ]


#: the model's role: quick gmm_d5_L4 (d = 5, N = 32, ‖μ‖ = 1.5), full gmm_d10_L8 (d = 10, N = 64, ‖μ‖ = 2)
GMM_MODEL = "gmm"
#: Gram power iterations of the clustering construction control (its accuracy matches eigh within 0.001 by τ = 10).
GMM_TAU = 10
GMM_CONTROLS = {
    "positive": ("spectral_clustering_construction", f"the ReLU-attention Gram power method "
                 f"(constructions/spectral_clustering.py, τ = {GMM_TAU}, exact normaliser, sign ramp): it runs the "
                 "spectral algorithm itself, so it is near spectral clustering and below the oracle by construction"),
    "negative": ("model_at_initialisation", "the same architecture at its seeded initialisation"),
}


def _gmm_setup(ctx: RunContext) -> dict:
    from empirical.papers.he25.training import gmm_batch
    from theory.clustering import oracle_labels, spectral_labels, swap_invariant_accuracy

    batch = gmm_batch(recipe_of(ctx, GMM_MODEL), ctx.generator("test"), _n(ctx, "test_instances"))
    return {"batch": batch,
            "spectral": swap_invariant_accuracy(spectral_labels(batch["X64"]), batch["y64"]).numpy(),
            "oracle": swap_invariant_accuracy(oracle_labels(batch["X64"], batch["mu64"]), batch["y64"]).numpy()}


def _gmm_labels(ctx: RunContext, setup: dict, role: str, X: torch.Tensor) -> torch.Tensor:
    """±1 labels (B, N) of the model, the clustering construction or the model at initialisation."""
    from empirical.papers.he25.training import predict_gmm_labels

    if role == "positive":
        from constructions.power_method import Normaliser
        from constructions.spectral_clustering import build_spectral_clustering, run_spectral_clustering

        con = build_spectral_clustering(X.shape[-1], GMM_TAU, Normaliser())
        seeds = torch.randn(*X.shape[:2], generator=ctx.generator("construction"), dtype=torch.float64)
        return torch.sign(run_spectral_clustering(con, X, seeds)[0])
    r = recipe_of(ctx, GMM_MODEL)
    model = _load_model(ctx, setup, r) if role == "model" else _init_model(ctx, r)
    return predict_gmm_labels(model, X)


def _gmm_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    from theory.clustering import swap_invariant_accuracy

    batch = setup["batch"]
    acc = swap_invariant_accuracy(_gmm_labels(ctx, setup, role, batch["X64"]), batch["y64"]).numpy()
    return _gmm_checks(acc, setup["spectral"], setup["oracle"], ctx.rng("bootstrap", role)), {"acc": float(acc.mean())}


def pretrained_gmm(ctx: RunContext) -> Outcome:
    ctx.require_cuda(FULL_TRAINING)
    setup = _gmm_setup(ctx)
    checks, measured = _gmm_run(ctx, setup, "model")
    full_notes = [] if ctx.quick else [
        _full_profile_note(recipe_of(ctx, GMM_MODEL)), "One GMM setting at the full profile: the sheet's estimate "
        "setting d = 10, N = 64, ‖μ‖ = 2 (its grid also names d = 50 and N = 200)."]
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _gmm_run, GMM_CONTROLS),
        measured={"acc_model": measured["acc"], "acc_spectral": float(setup["spectral"].mean()),
                  "acc_oracle": float(setup["oracle"].mean()),
                  **_checkpoint_measured(ctx, setup, recipe_of(ctx, GMM_MODEL))},
        notes=["Swap-invariant accuracy for every method, oracle included; the paper's clustering numbers are not "
               "known.", *_control_notes(GMM_CONTROLS), *full_notes],
    )


# 16 ---------------------------------------------------------------------------------------------------------


def _oriented(v1: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """v_1 (B, d) with the sign of the object's own answer (B, d). v_1's sign is arbitrary and each object fixes it
    its own way (the model: largest entry positive, learned from its labels; the construction: sign(p·v_1) of
    its seed); a linear probe can only decode a consistent sign, and the sign carries no direction (|cos|)."""
    return v1 * torch.where((v1 * answer).sum(-1, keepdim=True) < 0, -1.0, 1.0)


def _probe_curve(f_tr: torch.Tensor, y_tr: torch.Tensor, f_te: torch.Tensor, y_te: torch.Tensor,
                 ridge: float = 1e-2) -> np.ndarray:
    """|cos| of ridge probes fitted per layer: features (L+1, B, F) (last column constant), targets (B, d) ->
    (L+1, B_te). Features are standardised on the training prompts; penalty ``ridge`` · n_train."""
    from theory.spectral import abs_cos

    out = []
    for tr, te in zip(f_tr, f_te, strict=True):
        mu, sd = tr[:, :-1].mean(0), tr[:, :-1].std(0).clamp_min(1e-12)
        A, T = (torch.cat([(f[:, :-1] - mu) / sd, f[:, -1:]], -1) for f in (tr, te))
        W = torch.linalg.solve(A.T @ A + ridge * len(A) * torch.eye(A.shape[1], dtype=A.dtype), A.T @ y_tr)
        out.append(abs_cos(T @ W, y_te).numpy())
    return np.stack(out)


def _probe_checks(curve, d: int, rng: np.random.Generator) -> list[Check]:
    """Claim 16. curve (L+1, B): probe |cos| per layer on the same test prompts. The rise from the first to the last
    layer must be detected; no step may lose more than the margin (non-inferiority, whole interval above −margin)."""
    s = _skill(curve, d)
    return [
        _ci_check(f"skill: layer {len(s) - 1} − layer 0", s[-1] - s[0], ">", EFFECT_MARGIN,
                  f"the probe's accuracy rises across the layers, detected (paired); {EFFECT_REASON}", rng),
        *(_ci_check(f"skill: layer {ell + 1} − layer {ell}", s[ell + 1] - s[ell], ">", -EFFECT_MARGIN,
                    "non-decreasing: no step loses more than the effect margin (paired)", rng)
          for ell in range(len(s) - 1)),
    ]


#: the model's role: quick pca_d5_L4, full pca_d10_L8
PROBE_MODEL = "pca"
PROBE_CONTROLS = {
    "positive": ("power_method_construction", "the power-method construction (k = 1, τ = L iterations: 4 quick, 8 "
                 "full), "
                 "probed at its iteration boundaries: its stream holds v_t, so the probe reads the power method's "
                 "iterates and rises with them by construction"),
    "negative": ("model_at_initialisation", "the same architecture at its seeded initialisation: its layers "
                 "compute nothing about v_1, so the probe curve stays flat"),
}


def _probe_setup(ctx: RunContext) -> dict:
    r = recipe_of(ctx, PROBE_MODEL)
    tr, te = (_pca_batch(ctx, PROBE_MODEL, s, _n(ctx, k)) for s, k in (("probe-train", "probe_train"),
                                                                        ("probe-test", "test_instances")))
    return {"train": tr, "test": te, "power": _power_cos(te, r.layers, ctx.generator("seeds")).mean(-1).tolist()}


def _feature_pass_bytes(r: Recipe, instances: int) -> int:
    """Peak tensor bytes of one probe-feature pass (:func:`empirical.papers.he25.training.predict_pca`, then
    :func:`_pool`) of recipe ``r`` on ``instances`` prompts: with S = 4(L+1)·B·N·E (every layer's stream, float32),
    the forward holds the list of states and their stack (2S) plus one block's work 4B·N·(12E + 2HN) (ln, qkv,
    ReLU scores and their product, the 4E MLP); after it the float64 copy and its square in :func:`_pool` (4S); the
    pooled features are 8(L+1)·B·(2E+1)."""
    S = 4 * (r.layers + 1) * instances * r.N * r.E
    work = 4 * instances * r.N * (12 * r.E + 2 * r.heads * r.N)
    return max(2 * S + work, 4 * S) + 8 * (r.layers + 1) * instances * (2 * r.E + 1)


def probe_memory_estimate(r: Recipe, probe_train: int, test_instances: int) -> int:
    """Peak tensor bytes of he25.pretrained_layers_track_iterates' feature passes (the largest of its tensors, they
    grow with the instance counts): one pass at the larger of the two sets (:func:`_feature_pass_bytes`) while the
    other set's pooled features, 8(L+1)·B·(2E+1), are alive."""
    big, small = max(probe_train, test_instances), min(probe_train, test_instances)
    return _feature_pass_bytes(r, big) + 8 * (r.layers + 1) * small * (2 * r.E + 1)


def _probe_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    r = recipe_of(ctx, PROBE_MODEL)
    parts = []
    for split in ("train", "test"):  # (features, v_1 oriented like the object's answer)
        b = setup[split]
        vec, _, feats = _pca_object(ctx, setup, role, r, r.layers, b["X64"], 1, features=True)
        parts.append((feats, _oriented(b["vecs64"][:, 0], vec[:, 0])))
    curve = _probe_curve(parts[0][0], parts[0][1], parts[1][0], parts[1][1])
    return _probe_checks(curve, r.d, ctx.rng("bootstrap", role)), {"probe_abs_cos_per_layer": curve.mean(1).tolist()}


def probes(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.plots import plot_probe_curve

    ctx.require_cuda(FULL_TRAINING)
    setup = _probe_setup(ctx)
    checks, measured = _probe_run(ctx, setup, "model")
    controls = _controls(ctx, setup, _probe_run, PROBE_CONTROLS)
    fig = plot_probe_curve(measured["probe_abs_cos_per_layer"], setup["power"], ctx.figure_path("probe_vs_power"),
                           {c.name: c.measured["probe_abs_cos_per_layer"] for c in controls})
    return Outcome(
        checks=checks,
        controls=controls,
        measured={**measured, "power_method_abs_cos_per_iteration": setup["power"],
                  **_checkpoint_measured(ctx, setup, recipe_of(ctx, PROBE_MODEL))},
        figures=[fig],
        notes=[
            "Ridge probes (penalty 1e-2 · n, standardised features) on mean-pooled [mean h, mean h², 1] of each "
            "layer; target v_1 with the sign of the object's own answer (the sign is arbitrary; a projector target "
            "decoded by an eigensolver was rejected: it solves PCA from layer 0 on, the initialised model included). "
            "Derived, the paper runs no probe. The comparison with the power method's per-iteration curve is "
            "reported, not judged.",
            "The former check (min over layers of the upper CI end of the step >= 0) was a non-rejection test that "
            "a flat curve passes; the rise must now be detected.",
            *_control_notes(PROBE_CONTROLS),
            *([] if ctx.quick else [_full_profile_note(recipe_of(ctx, PROBE_MODEL))]),
        ],
    )


# 17 ---------------------------------------------------------------------------------------------------------


def _rate_checks(ns, errors, rng: np.random.Generator, reps: int = 2000) -> list[Check]:
    """Claim 17 (full profile). ns: >= 3 increasing training-set sizes; errors: per-test-prompt errors (B,) of the
    model trained on each, on the same B test prompts. Log-log slope of the mean error over the three smallest n
    (least squares), with a paired bootstrap over test prompts (one resample of the prompts for every n); and every
    step in n must not raise the mean error by more than 5 %."""
    ns = np.asarray(ns, dtype=float)
    errors = [np.asarray(e, dtype=float) for e in errors]
    if len(ns) < 3 or len(errors) != len(ns) or not np.all(np.diff(ns) > 0):
        raise ValueError(f"ns: expected >= 3 increasing sizes with one error array each, got {ns.tolist()} and "
                         f"{len(errors)} arrays")
    if len({e.shape for e in errors}) != 1 or errors[0].ndim != 1:
        raise ValueError(f"errors: expected one (B,) array per n on the same prompts, got {[e.shape for e in errors]}")
    idx = rng.integers(0, len(errors[0]), (reps, len(errors[0])))
    boot = np.stack([e[idx].mean(1) for e in errors], 1)  # (reps, len(ns))
    logs, logn = np.log(np.maximum(boot, 1e-300)), np.log(ns)
    x = logn[:3] - logn[:3].mean()
    slopes = (logs[:, :3] - logs[:, :3].mean(1, keepdims=True)) @ x / (x @ x)
    means = np.log(np.array([e.mean() for e in errors]))
    slope = float((means[:3] - means[:3].mean()) @ x / (x @ x))
    steps = np.diff(logs, axis=1)
    worst = int(np.argmax(np.quantile(steps, 0.975, axis=0)))
    paired = f"{CI_METHOD}, the same resampled prompts for every n (paired)"
    return [
        Check("log-log slope, three smallest n", slope, "<=", -0.1,
              f"sheet: at least half the n^(-1/5) exponent, detected (whole interval <= −0.1); {paired}",
              interval=(float(np.quantile(slopes, 0.025)), float(np.quantile(slopes, 0.975)))),
        Check(f"log(err(n_{worst + 2}) / err(n_{worst + 1})), the worst step", float(np.diff(means)[worst]), "<=",
              math.log(1.05), f"error non-increasing in n up to 5 % (the step with the highest upper CI end); "
              f"{paired}",
              interval=(float(np.quantile(steps[:, worst], 0.025)), float(np.quantile(steps[:, worst], 0.975)))),
    ]


RATE_CONTROLS = {
    "positive": ("sample_mean_estimator", "the sample mean of n draws of N(μ, I_d): squared error d/n falls like "
                 "n^(-1), faster than n^(-1/5), by construction"),
    "negative": ("constant_predictor", "a constant predictor (μ̂ = 0): its error ‖μ‖² does not depend on n"),
}


def _rate_control_errors(role: str, ns, prompts: int, rng: np.random.Generator, d: int = 5) -> list[np.ndarray]:
    """Per-prompt squared errors (prompts,) of a control 'trained' on n instances, for each n in ns. The sample mean
    of n draws of N(μ, I_d) is N(μ, I_d/n) exactly and is drawn as such: memory O(prompts·d), not O(prompts·n·d)
    (n reaches 1e5 at the full profile)."""
    mu = np.ones(d)
    if role == "negative":
        return [np.full(prompts, float(mu @ mu)) for _ in ns]
    return [(rng.standard_normal((prompts, d)) ** 2).sum(-1) / n for n in ns]


def _rate_setup(ctx: RunContext) -> dict:
    """The sweep's training-set sizes (setting ``train_sizes``) and the test prompts of the main PCA role."""
    from empirical.papers.he25.training import GENERALIZATION_SIZES

    ns = tuple(ctx.setting("train_sizes", GENERALIZATION_SIZES, GENERALIZATION_SIZES))
    if len(ns) < 3 or any(not isinstance(n, int) or n < 1 for n in ns) or list(ns) != sorted(set(ns)):
        raise ValueError(f"train_sizes: expected >= 3 increasing positive integers, got {ns!r}")
    return {"ns": ns, "batch": _pca_batch(ctx, GENERALIZATION_MODEL)}


def _rate_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    """The rate pipeline on the models trained on each fixed set ("model") or on a control (:data:`RATE_CONTROLS`):
    errors per test prompt, the test risk of the pre-training objective
    (:func:`empirical.papers.he25.training.pca_risk`)."""
    from empirical.papers.he25.training import pca_risk

    ns, batch = setup["ns"], setup["batch"]
    if role == "model":
        errors = []
        for n in ns:
            r = recipe_of(ctx, GENERALIZATION_MODEL, train_instances=n)
            vec, val, _ = _pca_object(ctx, setup, "model", r, r.layers, batch["X64"])
            errors.append(pca_risk(vec, val, batch).numpy())
    else:
        errors = _rate_control_errors(role, ns, len(batch["X64"]), ctx.rng("control", role), batch["X64"].shape[-1])
    checks = _rate_checks(ns, errors, ctx.rng("bootstrap", role))
    return checks, {"train_sizes": list(ns), "mean_error": [float(e.mean()) for e in errors]}


#: the role whose training set the sweep varies: full pca_d10_L8_n{1000, …, 100000}
GENERALIZATION_MODEL = "pca"


def generalization(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.training import recipe_identity

    if ctx.quick:
        raise SkipClaim("full profile only (n up to 1e5 fixed instances, GPU-scale training)")
    ctx.require_cuda(FULL_TRAINING)
    setup = _rate_setup(ctx)
    checks, measured = _rate_run(ctx, setup, "model")
    largest = recipe_of(ctx, GENERALIZATION_MODEL, train_instances=setup["ns"][-1])
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _rate_run, RATE_CONTROLS),
        measured={**measured, **_checkpoint_measured(ctx, setup, largest)},
        config={"recipe": recipe_identity(largest), "test_instances": len(setup["batch"]["X64"])},
        notes=["Error: the pre-training objective on fresh test prompts, per prompt (mean over the k vectors of "
               "1 − cos plus the mean squared eigenvalue error): the risk the precursor's ERM bound is about.",
               "Each model trains on a fixed set of n instances (nested: the set of n starts the set of any larger "
               "n), batches drawn from it with replacement; every other setting is the main PCA model's.",
               _full_profile_note(largest), *_control_notes(RATE_CONTROLS)],
    )


# 18 ---------------------------------------------------------------------------------------------------------


def _group_means(x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Means of x (B, ...) per group label (B,) -> (G, ...), so a bootstrap resamples groups; None: x itself."""
    if groups is None:
        return x
    return np.stack([x[groups == g].mean(0) for g in np.unique(groups)])


def _transfer_checks(cos_syn, cos_real, d: int, rng: np.random.Generator, real_groups=None) -> list[Check]:
    """Claim 18. |cos| (B, 2) of v̂_1, v̂_2 on synthetic prompts and (B', 2) on real ones (independent sets);
    real_groups (B',): projection frame of each real prompt (equal shares), whose means are resampled instead."""
    syn, real = _skill(cos_syn, d), _group_means(_skill(cos_real, d), real_groups)
    return [
        _ci_diff_check("skill v1: synthetic − real", syn[:, 0], real[:, 0], ">", EFFECT_MARGIN,
                       f"sheet: real error > synthetic error, detected; {EFFECT_REASON}", rng),
        _ci_check("skill v1 − v2, real", real[:, 0] - real[:, 1], ">", EFFECT_MARGIN,
                  f"sheet: v_2 below v_1 on real data, detected (paired); {EFFECT_REASON}", rng),
        _ci_diff_check("degradation v2 − degradation v1", syn[:, 1] - syn[:, 0], real[:, 1] - real[:, 0], ">",
                       EFFECT_MARGIN, "the statement's 'most for k > 1': the synthetic→real skill loss of v_2 "
                       f"exceeds that of v_1, detected; {EFFECT_REASON}", rng),
    ]


#: the role of the real-data claim's model (k >= 2: the sheet asks how v_2 fares against v_1): quick pca_d5_L4,
#: full pca_d10_L8
REAL_DATA_MODEL = "pca"
TRANSFER_CONTROLS = {
    "positive": ("perturbed_exact_solver", "the exact eigensolver, given Σ̂ on the synthetic side and Σ̂ + εW "
                 f"(W symmetric Gaussian, ε = {TRANSFER_PERTURBATION}) on the shifted side: Davis–Kahan makes the "
                 "angle grow like ‖εW‖/gap, and v_2's gap min(λ1 − λ2, λ2 − λ3) is never larger than v_1's, so it "
                 "degrades, most for v_2, by construction"),
    "negative": ("model_without_shift", "the shipped model with a second synthetic prompt set in place of the "
                 "real one: no distribution shift, so no degradation"),
}


def _transfer_setup(ctx: RunContext) -> dict:
    from empirical.papers.he25.real_data import load_digit_images, real_pca_instances

    try:
        images = load_digit_images()
    except ImportError as e:
        raise SkipClaim(f"{e}; MNIST/Fashion-MNIST would need downloads") from None
    r, n, frames = recipe_of(ctx, REAL_DATA_MODEL), _n(ctx, "test_instances"), _n(ctx, "real_frames")
    # one Haar projection frame per call; with one frame per run its spectrum moved the effects by more than their
    # intervals, so many frames, and the checks resample frames (a frame's prompts share its spectrum)
    per = max(1, n // frames)
    parts = [real_pca_instances(images, r.d, r.N, per, ctx.generator("digits", f)) for f in range(frames)]
    real = {key: torch.cat([getattr(p, attr) for p in parts]) for key, attr in
            (("X64", "X"), ("vals64", "eigvals"), ("S64", "S"), ("population", "population"))}
    real["vecs64"] = torch.cat([p.eigvecs.transpose(1, 2) for p in parts])
    real["frame"] = np.repeat(np.arange(frames), per)
    return {"synthetic": _pca_batch(ctx, REAL_DATA_MODEL), "real": real,
            "synthetic2": _pca_batch(ctx, REAL_DATA_MODEL, "no-shift")}


def _transfer_run(ctx: RunContext, setup: dict, role: str) -> tuple[list[Check], dict]:
    r = recipe_of(ctx, REAL_DATA_MODEL)
    syn = setup["synthetic"]
    if role == "positive":
        g = ctx.generator("perturbation")
        W = torch.randn(syn["S64"].shape, generator=g, dtype=torch.float64)
        shifted = syn["S64"] + TRANSFER_PERTURBATION * 0.5 * (W + W.transpose(1, 2))
        cos_syn = _abs_cos(torch.linalg.eigh(syn["S64"])[1].flip(-1)[..., : r.k].transpose(1, 2), syn)
        cos_real = _abs_cos(torch.linalg.eigh(shifted)[1].flip(-1)[..., : r.k].transpose(1, 2), syn)
    else:
        other = setup["real"] if role == "model" else setup["synthetic2"]  # negative: the model without a shift
        cos_syn, cos_real = (_abs_cos(_pca_object(ctx, setup, "model", r, r.layers, b["X64"])[0], b)
                             for b in (syn, other))
    groups = setup["real"]["frame"] if role == "model" else None  # the controls' shifted sets are i.i.d. prompts
    checks = _transfer_checks(cos_syn, cos_real, r.d, ctx.rng("bootstrap", role), groups)
    return checks, {"synthetic_abs_cos": cos_syn.mean(0).tolist(), "real_abs_cos": cos_real.mean(0).tolist()}


def real_data(ctx: RunContext) -> Outcome:
    from empirical.papers.he25.plots import plot_real_vs_synthetic
    from empirical.papers.he25.training import recipe_identity

    ctx.require_cuda(FULL_TRAINING)
    setup = _transfer_setup(ctx)
    checks, measured = _transfer_run(ctx, setup, "model")
    ev = setup["real"]["vals64"]
    gap12, gap23 = float((ev[:, 0] / ev[:, 1]).median()), float((ev[:, 1] / ev[:, 2]).median())
    syn_mean, real_mean = measured["synthetic_abs_cos"], measured["real_abs_cos"]
    fig = plot_real_vs_synthetic(syn_mean, real_mean, ctx.figure_path("abs_cos_real_vs_synthetic"))
    r = recipe_of(ctx, REAL_DATA_MODEL)
    return Outcome(
        checks=checks,
        controls=_controls(ctx, setup, _transfer_run, TRANSFER_CONTROLS),
        measured={**measured, "real_eigengap_lambda2_over_lambda3_median": gap23,
                  "real_eigengap_lambda1_over_lambda2_median": gap12,
                  "real_population_spectrum_mean_over_frames": setup["real"]["population"].mean(0).tolist(),
                  **_checkpoint_measured(ctx, setup, r)},
        config={"recipe": recipe_identity(r), "instances": _n(ctx, "test_instances"),
                "data": "sklearn load_digits (8×8)",
                "projection": f"{_n(ctx, 'real_frames')} Haar-random 64 × d frames, equal shares of the prompts; "
                              "global rescale to mean eigenvalue 2.1"},
        notes=["Stand-in data (fact sheet): scikit-learn's bundled 8 × 8 digits, not the precursor's MNIST / "
               "Fashion-MNIST (downloads). Images are centred, projected to the model's d = "
               f"{r.d} and rescaled to the synthetic mean eigenvalue; see empirical/papers/he25/real_data.py.",
               "The sheet's acceptance names the first two checks; the third checks the statement's 'most for "
               "k > 1', which the acceptance leaves out.",
               f"mean |cos| synthetic → real: v_1 {syn_mean[0]:.3f} → {real_mean[0]:.3f}, v_2 {syn_mean[1]:.3f} → "
               f"{real_mean[1]:.3f}; median eigengaps of the real instances λ1/λ2 = {gap12:.2f}, λ2/λ3 = {gap23:.2f}",
               *_control_notes(TRANSFER_CONTROLS), *([] if ctx.quick else [_full_profile_note(r)])],
        figures=[fig],
    )


