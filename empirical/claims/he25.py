"""he25 claims — He, Cao, Chen, Wu, Fan, Liu, *Learning Spectral Methods by Transformers* (arXiv 2501.01312).

Fact sheet ``shared/papers/he25.md``. Only the abstract of the paper is available to the sheet: theorem
shapes come from the precursor manuscript and its reviews; every constant marked "derived" is ours, and
the thresholds below are the sheet's (ours), not the paper's.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext, SkipClaim

PAPER = Paper(
    key="he25",
    title="Learning Spectral Methods by Transformers",
    authors="Yihan He, Yuan Cao, Hong-Yu Chen, Dennis Wu, Jianqing Fan, Han Liu",
    venue="arXiv preprint 2025",
    arxiv="2501.01312",
)

#: Problem sizes of the quick profile (tests shrink them with monkeypatch.setitem; the claim JSON records them).
SIZES: dict = {
    "seed_draws": 100_000,
    "bound_spectra": [(3, 250), (5, 250), (8, 250), (12, 250)],
    "power_construction": [(4, 16, 2, 20, 8), (8, 64, 3, 40, 4)],  # (d, N, k, τ, B)
    "inexact": (5, 20, 2, 25, 8),
    "topk": [(4, 16, 2, 20, 8, 1e-4, 0.3), (8, 64, 3, 40, 4, "M400", 0.2)],  # (d, N, k, τ, B, η or M, min gap)
    "cluster_ref": {"N": 200, "trials": 50, "d": (50, 400), "mu": (1.5, 2.0, 2.5, 3.0)},
    "cluster_construction": {"B": 8, "grid": [(50, 200, 1.5), (50, 200, 2.0), (10, 64, 2.0)]},
    "test_instances": 1000,
    "probe_train": 3000,
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


# -- 1 ------------------------------------------------------------------------------------------------------


def _relu_pair(ctx: RunContext) -> Outcome:
    from constructions.relu_transformer import linear_head_pair, relu_attention
    from theory.symbolic.he25 import relu_pair_identity

    g = ctx.generator("data")
    worst = 0.0
    for B, D, N, r in [(4, 12, 10, 3), (2, 30, 64, 8), (8, 5, 3, 5)]:
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


def _covariance(ctx: RunContext) -> Outcome:
    from constructions.power_method import build_power_method, embed_pca
    from constructions.relu_transformer import forward

    g = ctx.generator("data")
    worst, beyond = 0.0, 0.0
    for d, N, B in [(4, 16, 8), (8, 64, 4), (5, 5, 4)]:
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


def _inverse_sqrt(ctx: RunContext) -> Outcome:
    import sympy as sp

    from empirical.plotting.he25 import plot_inverse_sqrt_error
    from theory.relu_approx import inverse_sqrt_relu, predicted_relative_error
    from theory.symbolic.he25 import inverse_sqrt_leading_coefficient

    coef, _ = inverse_sqrt_leading_coefficient()
    rows = []
    for a, b in [(0.25, 4.0), (0.01, 1.0), (1e-2, 1e3), (1.0, 2.0)]:
        for M in [4, 8, 16, 32, 64, 128, 400]:
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


def _seed_lemma(ctx: RunContext) -> Outcome:
    from theory.spectral import seed_overlap_bound, seed_overlap_probability
    from theory.symbolic.he25 import seed_density_normalised, seed_ratio

    rng = ctx.rng("draws")
    draws = SIZES["seed_draws"]
    rows, worst = [], -math.inf
    for d in (3, 8, 50):
        G = rng.standard_normal((draws, d))
        t = np.abs(G[:, 0]) / np.linalg.norm(G, axis=1)  # |⟨p̂, e_1⟩|, any fixed v by rotation invariance
        for eta in (0.01, 0.1, 0.5):
            freq = float((t < eta / math.sqrt(d)).mean())
            bound = seed_overlap_bound(eta)
            se = math.sqrt(max(bound * (1 - bound), 1e-12) / draws)
            worst = max(worst, (freq - bound) / se)
            rows.append(
                {"d": d, "eta": eta, "frequency": freq, "bound": bound, "exact": seed_overlap_probability(eta, d)}
            )
    norm_err = max(abs(float(seed_density_normalised(d)) - 1) for d in (3, 4))
    # R_d = √2 Γ(d/2)/(√d Γ((d−1)/2)) numerically (lgamma) on a range; sympy gives the limit 1
    ratio_max = max(
        math.sqrt(2.0 / d) * math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) for d in range(3, 4000)
    )
    limit_err = abs(float(seed_ratio(4000)) - 1)  # sympy Γ ratio at large d: → 1, so √(2/π) is sharp
    exact_over = max(r["exact"] - r["bound"] for r in rows)
    return Outcome(
        checks=[
            Check("max_(freq-bound)/SE", worst, "<=", 3.0, "Monte Carlo: frequency <= bound + 3 binomial SE"),
            Check("density_integral_minus_1", norm_err, "<=", 1e-12, "sympy: f_d integrates to 1"),
            Check("max_R_d_over_d_3_to_3999", ratio_max, "<", 1.0, "Gautschi: R_d < 1 makes √(2/π)η a bound"),
            Check(
                "|R_4000 − 1|", limit_err, "<=", 1 / 4000, "R_d = 1 − 3/(4d) + O(d⁻²) → 1: the constant √(2/π) is sharp"
            ),
            Check("exact_probability_minus_bound", exact_over, "<=", 0.0, "exact Beta probability below the bound"),
        ],
        measured={"rows": rows, "draws": draws},
        notes=["Lemma shape from the precursor (per its reviews); the constant √(2/π) is derived, not from the paper."],
    )


# -- 5 ------------------------------------------------------------------------------------------------------


def _power_bound(ctx: RunContext) -> Outcome:
    from empirical.plotting.he25 import plot_angle_bound
    from theory.algorithms.power import power_method
    from theory.samplers import random_rotation
    from theory.spectral import angle_bound, exact_deflation, tan_angle

    g = ctx.generator("spectra")
    meas, bnd = [], []
    worst = -math.inf
    n_spectra = 0
    for d, B in SIZES["bound_spectra"]:
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
                min(1000, sum(b for _, b in SIZES["bound_spectra"])),
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


def _power_construction(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser
    from empirical.plotting.he25 import plot_layer_deviation

    g = ctx.generator("data")
    settings = SIZES["power_construction"]
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


def _inexact(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser, assumptions, build_power_method
    from theory.algorithms.power_deflation import power_deflation
    from theory.spectral import rayleigh_angle_bound

    g = ctx.generator("data")
    d, N, k, tau, B = SIZES["inexact"]
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

    U = random_rotation(3, g)
    Z = torch.randn(1, 400, 3, generator=g, dtype=torch.float64)
    X = (Z * lam.sqrt()) @ U.T
    S = X.transpose(1, 2) @ X / 400
    ev = torch.linalg.eigvalsh(S).flip(-1)
    seeds = torch.randn(1, 2, 3, generator=g, dtype=torch.float64)
    nu_bad = Normaliser("scaled", 0.5)
    con = build_power_method(3, 400, 2, 60, nu_bad)
    flagged = float(any("deflation boundary" in v.message for v in assumptions(X, seeds, con, ev)))
    control = float(
        not any(
            "deflation boundary" in v.message
            for v in assumptions(X, seeds, build_power_method(3, 400, 2, 60, Normaliser("scaled", 0.01)), ev)
        )
    )
    run = power_deflation(S, seeds, 60, nu_bad)
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


def _topk(ctx: RunContext) -> Outcome:
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
        for d, N, k, tau, B, e, gap in SIZES["topk"]
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


def _size(ctx: RunContext) -> Outcome:
    from constructions.power_method import (
        Normaliser,
        build_power_method,
        construction_size,
        depth_formula,
        mlp_units_formula,
        precursor_depth,
        reference_depth,
    )

    mism, heads_by_d, rows = 0, {}, []
    for d in (2, 4, 8, 16):
        for k in (1, 2, min(3, d)):
            for tau in (1, 3, 10):
                nu = Normaliser("relu", 0.0, 1e-2, 1e3, 50)
                con = build_power_method(d, d + 2, k, tau, nu)
                sz = construction_size(con)
                want = {
                    "depth": depth_formula(k, tau),
                    "width": 5 * d + 3 + k + k * d,
                    "mlp_units": mlp_units_formula(d, k, nu.M),
                }
                mism += sum(int(sz[key] != want[key]) for key in want)
                heads_by_d.setdefault(d, set()).add(sz["max_heads"])
                rows.append(
                    {
                        "d": d,
                        "k": k,
                        "tau": tau,
                        **sz,
                        "sheet_reference_depth": reference_depth(k, tau),
                        "precursor_depth_tau_per_vector": precursor_depth(k, tau),
                        "precursor_depth_tau_total": precursor_depth(k, tau, tau_total=True),
                        "ratio_to_precursor_per_vector": sz["depth"] / precursor_depth(k, tau),
                    }
                )
    max_heads = max(max(v) for v in heads_by_d.values())
    heads_vary = float(len({max(v) for v in heads_by_d.values()}) > 1)
    return Outcome(
        checks=[
            Check(
                "counted_minus_formula_mismatches",
                mism,
                "<=",
                0,
                "depth 1 + k(3τ+2), width 5d+3+k+kd, MLP units max(M+1+2d, 6d [k>1] or 4d, 2d+4)",
            ),
            Check("max_heads_per_layer", max_heads, "<=", 4, "O(1) heads: 2 pairs in the deflation layer"),
            Check("heads_depend_on_d", heads_vary, "<=", 0, "head count independent of d"),
        ],
        measured={"rows": rows},
        notes=[
            "Our depth 1 + k(3τ+2) is one layer per eigenvector shorter than the sheet's reference k(3τ+3)+1 "
            "(the Rayleigh value, the deflation and the next seed share a layer). The precursor's reported "
            "2τ+4k+1 (unverified; τ per vector or in total not known) is listed without a verdict.",
            "MLP width grows with d (2 units per cleared entry): clears by a ReLU MLP are exact per token, "
            "whereas O(1)-unit clears by a constant-score head accumulated round-off (~1.8x per iteration, "
            "measured). So 'no MLP width growing with d' (sheet) is not met by this construction; heads are O(1).",
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


def _cluster_ref(ctx: RunContext) -> Outcome:
    from empirical.plotting.he25 import plot_clustering_error
    from theory.clustering import (
        asymptotic_error,
        oracle_error,
        oracle_labels,
        power_labels,
        sample_gmm,
        spectral_labels,
        swap_invariant_error,
    )

    g = ctx.generator("data")
    cfg = SIZES["cluster_ref"]
    N, trials = cfg["N"], ctx.pick(cfg["trials"], 4 * cfg["trials"])
    rows = []
    below_oracle, above_bound, far = -math.inf, -math.inf, -math.inf
    for d in cfg["d"]:
        for mu in cfg["mu"]:
            inst = sample_gmm(trials, d, N, mu, g)
            seeds = torch.randn(trials, N, generator=g, dtype=torch.float64)
            e_sp = swap_invariant_error(spectral_labels(inst.X), inst.y).numpy()
            e_or = swap_invariant_error(oracle_labels(inst.X, inst.mu), inst.y).numpy()
            e_pw = swap_invariant_error(power_labels(inst.X, seeds, 10, hollow=True)[0], inst.y).numpy()
            e_un = swap_invariant_error(spectral_labels(inst.X, hollow=False), inst.y).numpy()
            se = max(float(e_sp.std(ddof=1)) / math.sqrt(trials), 1.0 / (N * math.sqrt(trials)))
            bound = asymptotic_error(mu, d, N)
            below_oracle = max(below_oracle, (e_or.mean() - e_sp.mean()) / se - 3)
            above_bound = max(above_bound, e_sp.mean() - bound)
            if (d, mu) in SHEET_CLUSTER and N == 200:
                far = max(far, abs(e_sp.mean() - SHEET_CLUSTER[(d, mu)][0]) / se - 3)
            rows.append(
                {
                    "d": d,
                    "N": N,
                    "mu": mu,
                    "spectral": float(e_sp.mean()),
                    "se": se,
                    "power_tau": float(e_pw.mean()),
                    "unhollowed": float(e_un.mean()),
                    "oracle": float(e_or.mean()),
                    "oracle_phi": oracle_error(mu),
                    "exp_bound": bound,
                    "sheet_spectral": SHEET_CLUSTER.get((d, mu), (math.nan,))[0],
                }
            )
    fig = plot_clustering_error(rows, ctx.figure_path("error_vs_snr"))
    return Outcome(
        checks=[
            Check("max_(oracle−spectral)/SE − 3", below_oracle, "<=", 0.0, "error >= oracle error − 3 SE"),
            Check("max_(spectral − exp(−SNR/2))", above_bound, "<=", 0.0, "Abbe–Fan–Wang leading order (asymptotic)"),
            Check(
                "max_|spectral − sheet|/SE − 3", far, "<=", 0.0, "within 3 SE of the sheet's §6 values (approximate)"
            ),
        ],
        measured={"rows": rows, "trials": trials},
        figures=[fig],
    )


# -- 11 -----------------------------------------------------------------------------------------------------


def _cluster_construction(ctx: RunContext) -> Outcome:
    from constructions.power_method import Normaliser
    from constructions.spectral_clustering import build_spectral_clustering, reference_iterates, run_spectral_clustering
    from theory.clustering import sample_gmm, spectral_labels, swap_invariant_accuracy

    g = ctx.generator("data")
    tau, K, B = 10, 1e3, ctx.pick(SIZES["cluster_construction"]["B"], 50)
    rows, mismatch, gap_excess = [], 0.0, -math.inf
    for d, N, mu in SIZES["cluster_construction"]["grid"]:
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
            gap_excess = max(gap_excess, float(((acc_ref - acc_con).abs() - below).max()))
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
                "max(|acc gap| − fraction below ramp)",
                gap_excess,
                "<=",
                0.0,
                "accuracy gap <= fraction of tokens below the ramp threshold",
            ),
        ],
        measured={"rows": rows, "tau": tau, "K": K},
        notes=[
            "Gram power method on the unhollowed (PSD) Gram XXᵀ: hollowing needs a local product (MLP "
            "approximation) — the unhollowed/hollowed accuracy difference is reported in claim 10."
        ],
    )


# -- trained (12–16) ----------------------------------------------------------------------------------------


def _require_quick(ctx: RunContext) -> None:
    if not ctx.quick:
        raise SkipClaim(
            "full-profile pre-training (GPU scale, d in {10, 20}, 20k-100k steps) is not implemented "
            "in this version; run --profile quick for the stored quick models"
        )


def _load_pca_model(ctx: RunContext, name: str):
    """(model, trained now?) of a stored quick recipe."""
    from empirical.he25_training import load_or_train

    return load_or_train(name, ctx.device, ctx.progress, out_dir=ctx.out_dir, retrain=ctx.retrain)


def _eval_pca(ctx: RunContext, name: str, n_test: int):
    _require_quick(ctx)
    model, trained = _load_pca_model(ctx, name)
    return (*_score_pca(ctx, model, name, n_test), trained)


def _score_pca(ctx: RunContext, model, name: str, n_test: int):
    """(recipe, test batch, vectors, values, hidden, |cos| (B, k)) of ``model`` on fresh synthetic instances."""
    from empirical.he25_training import RECIPES, pca_batch, predict_pca

    r = RECIPES[name]
    batch = pca_batch(r, ctx.generator("test", name), n_test)
    vec, val, hidden = predict_pca(model, r, batch["X64"])
    from theory.spectral import abs_cos

    cos = abs_cos(vec, batch["vecs64"])  # (B, k)
    return r, batch, vec, val, hidden, cos


def _power_cos(batch, steps: int, g: torch.Generator) -> torch.Tensor:
    """|cos| of `steps` power iterations from a random seed with v_1, per iteration: (steps+1, B)."""
    from theory.algorithms.power import power_method
    from theory.spectral import abs_cos

    S = batch["S64"]
    seeds = torch.randn(S.shape[0], S.shape[1], generator=g, dtype=torch.float64)
    its = power_method(S, seeds, steps).iterates
    return abs_cos(its, batch["vecs64"][:, 0].unsqueeze(0))


def _pretrained_first(ctx: RunContext) -> Outcome:
    from empirical.he25_training import RECIPES, pca_batch
    from theory.spectral import chance_abs_cos

    r, batch, vec, val, _, cos, trained = _eval_pca(ctx, "pca_d5_L4", SIZES["test_instances"])
    pm = _power_cos(batch, r.layers, ctx.generator("seeds"))[-1]
    lam1 = batch["vals64"][:, 0]
    rel = (val[:, 0] - lam1).abs() / lam1
    train_like = pca_batch(r, ctx.generator("baseline"), 2000)
    mean_pred = float(train_like["vals64"][:, 0].mean())
    rel_mean = (mean_pred - lam1).abs() / lam1
    chance = chance_abs_cos(r.d)
    c1 = float(cos[:, 0].mean())
    return Outcome(
        checks=[
            Check("mean_abs_cos_v1", c1, ">=", 0.70, "sheet quick threshold (ours)"),
            Check("mean_abs_cos_v1_minus_chance", c1 - chance, ">=", 0.3, f"chance |cos| = {chance:.3f} at d = {r.d}"),
            Check(
                "abs_cos_minus_power_L_iterations",
                c1 - float(pm.mean()),
                ">=",
                -0.1,
                f"near the power method with L = {r.layers} iterations from a random seed",
            ),
            Check("lambda1_rel_err", float(rel.mean()), "<=", 0.15, "sheet quick threshold (ours)"),
            Check(
                "lambda1_rel_err_minus_mean_predictor",
                float(rel.mean() - rel_mean.mean()),
                "<",
                0.0,
                "below the constant mean-eigenvalue predictor",
            ),
        ],
        measured={
            "abs_cos_v1": c1,
            "abs_cos_v2": float(cos[:, 1].mean()),
            "power_L_abs_cos": float(pm.mean()),
            "lambda_rel_err": rel.mean().item(),
            "mean_predictor_rel_err": rel_mean.mean().item(),
            "lambda2_rel_err": float(((val[:, 1] - batch["vals64"][:, 1]).abs() / batch["vals64"][:, 1]).mean()),
            "chance": chance,
            "trained_now": trained,
        },
        config={"recipe": RECIPES["pca_d5_L4"].__dict__, "test_instances": SIZES["test_instances"]},
        notes=["Synthetic data only. The paper's experiment settings and numbers are not known."],
    )


def _pretrained_harder(ctx: RunContext) -> Outcome:
    rng = ctx.rng("bootstrap")
    _, _, _, _, _, cos5, _ = _eval_pca(ctx, "pca_d5_L4", SIZES["test_instances"])
    _, _, _, _, _, cos10, _ = _eval_pca(ctx, "pca_d10_L4", SIZES["test_instances"])
    diff = (cos5[:, 0] - cos5[:, 1]).numpy()
    lo_idx, _ = _bootstrap_ci(diff, rng)
    lo_d, _ = _bootstrap_diff_ci(cos5[:, 0].numpy(), cos10[:, 0].numpy(), rng)
    return Outcome(
        checks=[
            Check("CI_low(|cos v1| − |cos v2|), d=5", lo_idx, ">", 0.0, "paired bootstrap 95 % CI above 0"),
            Check("CI_low(|cos v1|: d=5 − d=10)", lo_d, ">", 0.0, "bootstrap 95 % CI above 0 (equal budget)"),
        ],
        measured={"d5_abs_cos": cos5.mean(0).tolist(), "d10_abs_cos": cos10.mean(0).tolist()},
        notes=["Trend reported for the precursor by its reviews; numbers are ours."],
    )


def _pretrained_depth(ctx: RunContext) -> Outcome:
    if not ctx.quick:
        raise SkipClaim("full profile (L in {2, 4, 8, 12}, GPU-scale training) not implemented in this version")
    rng = ctx.rng("bootstrap")
    _, _, _, _, _, c2, _ = _eval_pca(ctx, "pca_d5_L2", SIZES["test_instances"])
    _, _, _, _, _, c4, _ = _eval_pca(ctx, "pca_d5_L4", SIZES["test_instances"])
    _, hi = _bootstrap_diff_ci(c4[:, 0].numpy(), c2[:, 0].numpy(), rng)
    return Outcome(
        checks=[Check("CI_high(|cos v1|: L=4 − L=2)", hi, ">=", 0.0, "non-decreasing in depth within the 95 % CI")],
        measured={"L2_abs_cos_v1": float(c2[:, 0].mean()), "L4_abs_cos_v1": float(c4[:, 0].mean())},
        notes=["Quick profile: L in {2, 4}, monotone part only; diminishing returns need L in {2, 4, 8, 12} (full)."],
    )


def _pretrained_gmm(ctx: RunContext) -> Outcome:
    from empirical.he25_training import RECIPES, gmm_batch, load_or_train, predict_gmm_labels
    from theory.clustering import oracle_labels, spectral_labels, swap_invariant_accuracy

    _require_quick(ctx)
    r = RECIPES["gmm_d5_L4"]
    model, trained = load_or_train("gmm_d5_L4", ctx.device, ctx.progress, out_dir=ctx.out_dir, retrain=ctx.retrain)
    batch = gmm_batch(r, ctx.generator("test"), SIZES["test_instances"])
    acc_m = swap_invariant_accuracy(predict_gmm_labels(model, batch["X64"]), batch["y64"])
    acc_s = swap_invariant_accuracy(spectral_labels(batch["X64"]), batch["y64"])
    acc_o = swap_invariant_accuracy(oracle_labels(batch["X64"], batch["mu64"]), batch["y64"])
    se = float(acc_m.std()) / math.sqrt(len(acc_m))
    return Outcome(
        checks=[
            Check("model_minus_spectral", float(acc_m.mean() - acc_s.mean()), ">=", -0.03, "sheet threshold (ours)"),
            Check(
                "model_minus_oracle_minus_3SE",
                float(acc_m.mean() - acc_o.mean()) - 3 * se,
                "<=",
                0.0,
                "above the oracle would mean a label leak",
            ),
        ],
        measured={
            "acc_model": float(acc_m.mean()),
            "acc_spectral": float(acc_s.mean()),
            "acc_oracle": float(acc_o.mean()),
            "trained_now": trained,
        },
        notes=[
            "Swap-invariant accuracy for every method, oracle included; the paper's clustering numbers are not known."
        ],
    )


def _probes(ctx: RunContext) -> Outcome:
    from empirical.he25_training import RECIPES, load_or_train, pca_batch, predict_pca
    from empirical.plotting.he25 import plot_probe_curve
    from theory.spectral import abs_cos

    _require_quick(ctx)
    r = RECIPES["pca_d5_L4"]
    model, _ = load_or_train("pca_d5_L4", ctx.device, ctx.progress, out_dir=ctx.out_dir, retrain=ctx.retrain)
    tr = pca_batch(r, ctx.generator("probe-train"), SIZES["probe_train"])
    te = pca_batch(r, ctx.generator("probe-test"), SIZES["test_instances"])
    _, _, h_tr = predict_pca(model, r, tr["X64"])
    _, _, h_te = predict_pca(model, r, te["X64"])

    # features: mean-pooled stream and mean of its elementwise square (v_1 is quadratic in the data)
    def feats(h):
        return torch.cat([h.mean(2), (h * h).mean(2), torch.ones(*h.shape[:2], 1, dtype=h.dtype)], -1)

    F_tr, F_te = feats(h_tr), feats(h_te)
    y_tr = tr["vecs64"][:, 0]
    curve, per = [], []
    lam = 1e-2
    for ell in range(F_tr.shape[0]):
        A = F_tr[ell]
        W = torch.linalg.solve(A.T @ A + lam * len(A) * torch.eye(A.shape[1], dtype=A.dtype), A.T @ y_tr)
        c = abs_cos(F_te[ell] @ W, te["vecs64"][:, 0])
        per.append(c.numpy())
        curve.append(float(c.mean()))
    rng = ctx.rng("bootstrap")
    worst = math.inf
    for ell in range(len(per) - 1):
        d = per[ell + 1] - per[ell]
        _, hi = _bootstrap_ci(d, rng)
        worst = min(worst, hi)
    power = _power_cos(te, r.layers, ctx.generator("seeds")).mean(-1).tolist()
    fig = plot_probe_curve(curve, power, ctx.figure_path("probe_vs_power"))
    return Outcome(
        checks=[
            Check("min_over_layers CI_high(Δ|cos|)", worst, ">=", 0.0, "non-decreasing in ℓ within the 95 % paired CI")
        ],
        measured={"probe_abs_cos_per_layer": curve, "power_method_abs_cos_per_iteration": power},
        figures=[fig],
        notes=[
            "Ridge probes (λ = 1e-2 · n) on mean-pooled features [mean h, mean h²] of each layer; derived, the "
            "paper runs no probe. Whether layers track iterations is read from the two curves (reported)."
        ],
    )


def _generalization(ctx: RunContext) -> Outcome:
    raise SkipClaim(
        "full profile only (n up to 1e5 fixed instances, GPU-scale training)"
        if ctx.quick
        else "not implemented in this version (needs the full-profile generalization sweep)"
    )


#: the model of the real-data claim (k = 2: the sheet asks how v_2 fares against v_1)
REAL_DATA_MODEL = "pca_d5_L4"


def _real_data(ctx: RunContext) -> Outcome:
    from empirical.he25_real_data import load_digit_images, real_pca_instances

    _require_quick(ctx)
    try:
        images = load_digit_images()
    except ImportError as e:
        raise SkipClaim(f"{e}; MNIST/Fashion-MNIST would need downloads") from None
    from empirical.he25_training import RECIPES, predict_pca
    from theory.spectral import abs_cos

    n = SIZES["test_instances"]
    model, _ = _load_pca_model(ctx, REAL_DATA_MODEL)
    r, _, _, _, _, cos_syn = _score_pca(ctx, model, REAL_DATA_MODEL, n)
    inst = real_pca_instances(images, r.d, r.N, n, ctx.generator("digits"))
    vec, _, _ = predict_pca(model, r, inst.X)
    cos_real = abs_cos(vec, inst.eigvecs[..., : r.k].transpose(1, 2))  # (B, k)
    rng = ctx.rng("bootstrap")
    # error = 1 − |cos|; CI of real error − synthetic error = CI of synthetic |cos| − real |cos|
    lo1, hi1 = _bootstrap_diff_ci(cos_syn[:, 0].numpy(), cos_real[:, 0].numpy(), rng)
    lo2, hi2 = _bootstrap_diff_ci(cos_syn[:, 1].numpy(), cos_real[:, 1].numpy(), rng)
    v1_minus_v2, _ = _bootstrap_ci((cos_real[:, 0] - cos_real[:, 1]).numpy(), rng)
    # "most for k > 1": (synthetic − real |cos|) of v_2 minus that of v_1 = mean(a) − mean(b) below
    most_lo, most_hi = _bootstrap_diff_ci((cos_syn[:, 1] - cos_syn[:, 0]).numpy(),
                                          (cos_real[:, 1] - cos_real[:, 0]).numpy(), rng)
    gap12 = float((inst.eigvals[:, 0] / inst.eigvals[:, 1]).median())
    gap23 = float((inst.eigvals[:, 1] / inst.eigvals[:, 2]).median())
    from empirical.plotting.he25 import plot_real_vs_synthetic

    syn_mean, real_mean = cos_syn.mean(0).tolist(), cos_real.mean(0).tolist()
    fig = plot_real_vs_synthetic(syn_mean, real_mean, ctx.figure_path("abs_cos_real_vs_synthetic"))
    return Outcome(
        checks=[
            Check("CI_low(real err − synthetic err), v1", lo1, ">", 0.0, "sheet: real error > synthetic error (95 % "
                  "bootstrap CI above 0; error = 1 − |cos|)"),
            Check("CI_low(|cos v1| − |cos v2|), real", v1_minus_v2, ">", 0.0, "sheet: |cos| for v_2 below v_1 on real "
                  "data (paired bootstrap 95 % CI above 0)"),
            Check("CI_low(degradation v2 − degradation v1)", most_lo, ">", 0.0, "the statement's 'most for k > 1': "
                  "real − synthetic error larger for v_2 than for v_1 (bootstrap 95 % CI above 0)"),
        ],
        measured={
            "synthetic_abs_cos": syn_mean,
            "real_abs_cos": real_mean,
            "real_minus_synthetic_err_ci_v1": [lo1, hi1],
            "real_minus_synthetic_err_ci_v2": [lo2, hi2],
            "degradation_v2_minus_v1_ci": [most_lo, most_hi],
            "real_eigengap_lambda2_over_lambda3_median": gap23,
            "real_eigengap_lambda1_over_lambda2_median": gap12,
            "real_population_spectrum": inst.population[0].tolist(),
        },
        config={"recipe": RECIPES[REAL_DATA_MODEL].__dict__, "instances": n, "data": "sklearn load_digits (8×8)",
                "projection": "Haar-random 64 × d frame per run; global rescale to mean eigenvalue 2.1"},
        notes=["Stand-in data (fact sheet): scikit-learn's bundled 8 × 8 digits, not the precursor's MNIST / "
               "Fashion-MNIST (downloads). Images are centred, projected to the model's d = "
               f"{r.d} and rescaled to the synthetic mean eigenvalue; see empirical/he25_real_data.py.",
               "The sheet's acceptance names the first two checks; the third checks the statement's 'most for "
               "k > 1', which the acceptance leaves out.",
               f"mean |cos| synthetic → real: v_1 {syn_mean[0]:.3f} → {real_mean[0]:.3f}, v_2 {syn_mean[1]:.3f} → "
               f"{real_mean[1]:.3f}; median eigengaps of the real instances λ1/λ2 = {gap12:.2f}, λ2/λ3 = {gap23:.2f}"],
        figures=[fig],
    )


def _with_sizes(runner):
    """Record the quick-profile problem sizes (SIZES) in every outcome's config."""

    def run(ctx: RunContext) -> Outcome:
        out = runner(ctx)
        out.config = {**out.config, "sizes": {k: v for k, v in SIZES.items()}}
        return out

    run.__name__ = runner.__name__
    run.__doc__ = runner.__doc__
    return run


def _c(id_: str, statement: str, source: str, evidence: tuple[str, ...], runner, acceptance: str) -> Claim:
    runner = _with_sizes(runner)
    return Claim(
        id=f"he25.{id_}",
        paper="he25",
        statement=statement,
        source=source,
        evidence=evidence,
        runner=runner,
        acceptance=acceptance,
    )


CLAIMS = [
    _c(
        "relu_pair_linear_attention",
        "Two ReLU heads (Q,K,V), (−Q,K,−V) equal one linear-attention head.",
        "derived (Bai et al. framework)",
        ("symbolic", "construction"),
        _relu_pair,
        "sympy identity; <= 1e-12 relative",
    ),
    _c(
        "covariance_layer",
        "One attention layer writes column i of XXᵀ/N into token i (i <= d).",
        "precursor proof outline (first block); layout derived",
        ("construction",),
        _covariance,
        "<= 1e-13 relative to max|Σ̂|; tokens > d get 0; N < d rejected",
    ),
    _c(
        "inverse_sqrt_relu_error",
        "Geometric-knot ReLU interpolation of s^(-1/2) has relative error (3/32)(ln(b/a)/M)² "
        "and slope mass 2|β_1| − |β_M| → a^(-3/2).",
        "derived (mechanism from the precursor)",
        ("symbolic", "construction"),
        _inverse_sqrt,
        "measured/predicted in [0.97, 1.03] for ln(b/a)/M <= 0.7; sheet values; mass identity",
    ),
    _c(
        "seed_overlap_lemma",
        "Random seeds overlap each eigenvector: P(|<p̂,v>| < η/√d) <= √(2/π)η, d >= 3.",
        "precursor Lemma 3.1 (shape, per reviews); constant derived",
        ("symbolic", "numerical"),
        _seed_lemma,
        "frequency <= bound + 3 SE over 1e5 draws, η ∈ {0.01, 0.1, 0.5}, d ∈ {3, 8, 50}",
    ),
    _c(
        "power_method_bound",
        "Power method with exact deflation: tan θ_τ <= (λ_{i+1}/λ_i)^τ tan θ_0.",
        "textbook; finite-iteration term of the precursor's theorem",
        ("numerical",),
        _power_bound,
        ">= 1000 random spectra, relative slack 1e-10",
    ),
    _c(
        "power_method_construction",
        "With exact normalisation the constructed transformer's per-layer read-out equals "
        "the power method with deflation.",
        "precursor Theorem 3.1 (structure); weights derived",
        ("construction",),
        _power_construction,
        "<= 1e-12 per layer; tokens agree <= 1e-13; sign(p_iᵀv_i) preserved",
    ),
    _c(
        "inexact_normalisation_effects",
        "A normaliser with relative error η keeps directions, sets ‖v‖ = 1 + η and "
        "biases the uncorrected Rayleigh value by 2ηλ.",
        "derived",
        ("construction", "symbolic"),
        _inexact,
        "direction <= 1e-12; |‖v‖−1| <= η(1+1e-6); λ bias <= 2η+η²; boundary detected",
    ),
    _c(
        "topk_pca_construction",
        "With the ReLU-MLP normaliser, τ iterations and k vectors, the construction recovers "
        "v_1..v_k within the power-method prediction and λ_i within 2η.",
        "precursor Theorem 3.1 (shape); bound derived",
        ("construction",),
        _topk,
        "1−|cos| to the exact run <= 1e-9; to true v_i within the bound",
    ),
    _c(
        "construction_size",
        "Depth 1 + k(3τ+2), width 5d+3+k+kd, O(1) heads per layer.",
        "derived; compared with the precursor's reported count",
        ("construction",),
        _size,
        "counted = formula exactly; ratio to the precursor reported without verdict",
    ),
    _c(
        "spectral_clustering_reference",
        "Sign of the leading eigenvector of the hollowed Gram clusters a 2-GMM at the expected error scale.",
        "abstract (bi-class GMM) + Abbe–Fan–Wang",
        ("numerical",),
        _cluster_ref,
        ">= oracle − 3 SE; <= exp(−SNR/2); within 3 SE of the sheet's §6 values",
    ),
    _c(
        "spectral_clustering_construction",
        "The ReLU-attention Gram power method with a sign ramp reproduces the reference labels.",
        "abstract (shape); construction derived",
        ("construction",),
        _cluster_construction,
        "labels equal the reference where |u_i| >= 1/K; accuracy gap <= fraction below",
    ),
    _c(
        "pretrained_pca_first_eigenpair",
        "A small pre-trained ReLU-attention transformer predicts v_1 well above chance "
        "and near the power method at equal depth.",
        "precursor experiments (trend); thresholds derived",
        ("trained",),
        _pretrained_first,
        "|cos| >= 0.70 and >= chance + 0.3; >= power(L) − 0.1; λ_1 rel. err <= 0.15 and < mean predictor",
    ),
    _c(
        "pretrained_pca_harder_later_and_larger",
        "Accuracy drops with the eigenvector index and with d.",
        "precursor results as described by its reviews",
        ("trained",),
        _pretrained_harder,
        "bootstrap CIs above 0",
    ),
    _c(
        "pretrained_pca_depth_diminishing",
        "Accuracy rises with depth with diminishing returns.",
        "precursor Figure 3 (middle), per a secondary summary",
        ("trained",),
        _pretrained_depth,
        "quick: non-decreasing L=2→4 within CI",
    ),
    _c(
        "pretrained_gmm_near_spectral",
        "A pre-trained transformer clusters 2-GMM prompts almost as well as spectral clustering.",
        "abstract (numbers not known)",
        ("trained",),
        _pretrained_gmm,
        ">= spectral − 0.03; <= oracle + 3 SE",
    ),
    _c(
        "pretrained_layers_track_iterates",
        "Probes decode v_1 from layer ℓ with |cos| non-decreasing in ℓ, compared with the power method per iteration.",
        "derived (the paper runs no probe)",
        ("trained",),
        _probes,
        "monotone within bootstrap CI; comparison reported",
    ),
    _c(
        "generalization_rate",
        "Pre-training test error falls with the number n of instances at least like n^(-1/5).",
        "precursor abstract (ERM bound)",
        ("trained",),
        _generalization,
        "log-log slope <= -0.1 (full profile)",
    ),
    _c(
        "real_data_transfer",
        "A model pre-trained on synthetic Gaussians degrades on real images, most for k > 1.",
        "precursor (MNIST/Fashion-MNIST, per its reviews)",
        ("trained",),
        _real_data,
        "CI(real − synthetic error of v_1) above 0 and |cos v_2| < |cos v_1| on real data (CI); "
        "scikit-learn's load_digits as the stand-in",
    ),
]
