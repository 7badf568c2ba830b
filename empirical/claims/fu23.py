"""fu23 claims — Fu, Chen, Jia, Sharan, fact sheet ``shared/papers/fu23.md``.

Trained-model claims use the quick-profile checkpoints shipped under ``empirical/checkpoints/fu23/``
(retrain: ``python -m empirical.fu23_training --out results/retrain``; a recipe with no matching model is
trained automatically into ``<out>/checkpoints/fu23/``). They run at a **reduced scale** (d = 5, n = 10, a 4-layer
width-64 GPT-2, 12000 steps) — the paper's scale (12 layers, width 256, d = 20, n = 40) is the full profile,
which needs CUDA and is skipped on CPU. A reduced model may not reproduce the paper: the verdict then says
"not reproduced" and the numbers are reported.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import torch

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext, SkipClaim

if TYPE_CHECKING:
    from constructions.newton_paper import PaperTrace
    from theory.prompts import PromptBatch

PAPER = Paper(
    key="fu23",
    title="Transformers Learn to Achieve Second-Order Convergence Rates for In-Context Linear Regression "
    "(v1: Transformers Learn Higher-Order Optimization Methods for In-Context Learning)",
    authors="Deqing Fu, Tian-Qi Chen, Robin Jia, Vatsal Sharan",
    venue="NeurIPS 2024",
    arxiv="2310.17086",
)


def _reduced_note() -> str:
    """The quick profile's scale, read from the recipes (imported here, not when the registry loads)."""
    from empirical.fu23_training import RECIPES

    r, ls = RECIPES["quick"]["gpt2_iso"], RECIPES["quick"]["lstm_iso"]
    return (f"reduced scale (quick profile): d = {r.d}, n = {r.n}, {r.layers}-layer width-{r.width} GPT-2 / "
            f"{ls.layers}-layer LSTM, {r.steps} Adam steps at batch {r.batch_size} with a curriculum on d "
            f"({r.curriculum_start_dims} → {r.d}), on CPU; the paper: d = 20, n = 40, 12 layers, width 256, 500k steps")


# -- fu23.newton_recursion --------------------------------------------------------------------------------


def _newton_recursion(ctx: RunContext) -> Outcome:
    from theory.algorithms import newton_schulz
    from theory.samplers import LinearRegressionTask
    from theory.symbolic.fu23 import check_error_power, check_error_recursion, check_scalar_boundary

    dims = ctx.pick([2], [2, 3, 4])
    general = all(check_error_recursion(d) for d in dims)
    symmetric = all(check_error_recursion(d, symmetric=True) for d in dims)
    power = check_error_power(2, ctx.pick(2, 3))
    scalar = check_scalar_boundary()
    # numerical: ‖E_{k+1}‖₂ = ‖E_k‖₂² for symmetric S (E_k = I − M_kS is a polynomial in S), while ‖E_k‖ > 1e-6
    g = ctx.generator("prompts")
    p = LinearRegressionTask(d=8, n=20, cond=10.0).sample(16, g)
    S = p.X.transpose(1, 2) @ p.X
    M = newton_schulz(S, 12)
    E = torch.eye(8, dtype=torch.float64) - M @ S
    nrm = torch.linalg.matrix_norm(E, ord=2)  # (k+1, B)
    ok = nrm[:-1] > 1e-6
    ratio = nrm[1:][ok] / nrm[:-1][ok] ** 2
    dev = float((ratio - 1).abs().max())
    return Outcome(
        checks=[
            Check("sympy_identity_general_matrices", float(general), ">=", 1, "exact symbolic identity (d = "
                  f"{dims}, arbitrary M_k, S)"),
            Check("sympy_identity_symmetric_matrices", float(symmetric), ">=", 1, "exact symbolic identity"),
            Check("sympy_I_minus_MkS_equals_E0_power_2k", float(power), ">=", 1, "exact symbolic identity, d = 2"),
            Check("sympy_scalar_boundary_residual_-1_then_+1", float(scalar), ">=", 1, "exact symbolic identity"),
            Check("quadratic_convergence_norm_ratio_dev", dev, "<=", 1e-6,
                  "‖E_{k+1}‖/‖E_k‖² = 1 exactly; float64 round-off in E_k ≈ 1e-15·cond relative to ‖E_k‖ >= 1e-6"),
        ],
        measured={"norm_ratio_max_dev": dev, "norms_first_prompt": nrm[:, 0].tolist()},
        config={"sympy_dims": dims, "numeric": {"d": 8, "n": 20, "cond": 10, "batch": 16, "steps": 12}},
    )


# -- fu23.newton_alpha_boundary ---------------------------------------------------------------------------


def _range_residual_norm(S: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """‖I − M_kS‖₂ on range(S) (S full rank here): M (K+1, B, d, d) -> (K+1, B); NaN stays NaN."""
    E = torch.eye(S.shape[-1], dtype=torch.float64) - M @ S
    finite = torch.isfinite(E).all(dim=(-1, -2))
    safe = torch.where(finite.unsqueeze(-1).unsqueeze(-1), E, torch.zeros_like(E))
    return torch.where(finite, torch.linalg.matrix_norm(safe, ord=2), torch.full_like(finite, float("nan"),
                                                                                      dtype=torch.float64))


def _alpha_boundary(ctx: RunContext) -> Outcome:
    from empirical.plotting.fu23 import plot_alpha_boundary
    from theory.algorithms import newton_schulz, ols
    from theory.samplers import LinearRegressionTask

    g = ctx.generator("prompts")
    steps = ctx.pick(80, 120)
    p = LinearRegressionTask(d=20, n=40).sample(ctx.pick(8, 32), g)
    X = p.X
    S = X.transpose(1, 2) @ X
    lmax = torch.linalg.eigvalsh(S)[:, -1]
    SS = S @ S.transpose(1, 2)
    alphas = {
        "paper 2/‖SSᵀ‖₂ (boundary)": 2.0 / torch.linalg.matrix_norm(SS, ord=2),
        "official code 2/‖SSᵀ‖_F": 2.0 / torch.linalg.matrix_norm(SS, ord="fro"),
        "suite 1/λ_max² (safe)": 1.0 / lmax**2,
    }
    # 1) the theory layer rejects the boundary value
    try:
        newton_schulz(S, 1, alphas["paper 2/‖SSᵀ‖₂ (boundary)"])
        rejected = 0.0
    except ValueError:
        rejected = 1.0
    curves, final_err, first_div = {}, {}, {}
    w_ols = ols(p)
    Xty = (X.transpose(1, 2) @ p.y.unsqueeze(-1)).squeeze(-1)
    for name, a in alphas.items():
        M = newton_schulz(S, steps, a, allow_unstable=True)
        res = _range_residual_norm(S, M)
        curves[name] = torch.where(torch.isnan(res), torch.full_like(res, float("inf")), res).amax(-1).tolist()
        w = torch.einsum("bij,bj->bi", M[-1], Xty)
        err = torch.linalg.vector_norm(w - w_ols, dim=-1) / torch.linalg.vector_norm(w_ols, dim=-1)
        final_err[name] = [float(e) if torch.isfinite(e) else float("inf") for e in err]
        bad = ~torch.isfinite(res) | (res > 2)
        first_div[name] = [int(torch.nonzero(bad[:, b])[0]) if bool(bad[:, b].any()) else -1 for b in range(S.shape[0])]
    paper_key, code_key, safe_key = list(alphas)

    def steps_in_band(name: str) -> torch.Tensor:
        """Per prompt: the first step k >= 1 with ‖E_k‖ outside [0.5, 2] (contracted or diverged)."""
        M = newton_schulz(S, steps, alphas[name], allow_unstable=True)
        res = _range_residual_norm(S, M)[1:]
        out = (res < 0.5) | (res > 2) | torch.isnan(res)
        return torch.where(out.any(0), torch.argmax(out.to(torch.int64), 0) + 1, torch.full_like(out[0], steps,
                                                                                             dtype=torch.int64))

    stuck_boundary = steps_in_band(paper_key)
    stuck_safe = steps_in_band(safe_key)
    diverged = torch.tensor([not np.isfinite(e) or e > 1 for e in final_err[paper_key]])
    ratio_code = (alphas[code_key] * lmax**2)
    # rank-one prompts (a single example): the official code's Frobenius α equals the boundary exactly
    x1 = X[:, :1]
    S1 = x1.transpose(1, 2) @ x1
    S1S1 = S1 @ S1
    a1 = 2.0 / torch.linalg.matrix_norm(S1S1, ord="fro")
    rank1_ratio = a1 * torch.linalg.eigvalsh(S1)[:, -1] ** 2
    M1 = newton_schulz(S1, 3, a1, allow_unstable=True)
    rank1_M1_norm = float(torch.linalg.matrix_norm(M1[1:], ord="fro").max() / torch.linalg.matrix_norm(M1[0]).max())
    fig = plot_alpha_boundary(curves, ctx.figure_path("residual_vs_step"))
    return Outcome(
        checks=[
            Check("theory_rejects_boundary_alpha", rejected, ">=", 1, "newton_schulz must raise at α·λ_max² = 2"),
            Check("boundary_steps_with_residual_near_1_min", float(stuck_boundary.min()), ">=", 30,
                  "exact arithmetic: the top residual is −1, then +1 for ever; a float64 perturbation δ ≈ 1e-15 of "
                  "it needs k ≈ log₂(1/δ) ≈ 50 squarings to leave [0.5, 2], so not before step 30"),
            Check("safe_alpha_steps_to_contract_max", float(stuck_safe.max()), "<=", 30,
                  "α = 1/λ_max²: residual 1 − 1/κ², κ = cond(S) ≲ 1e3 here, below 0.5 after ≈ 2log₂κ ≈ 20 steps"),
            Check("boundary_alpha_diverges_for_some_prompts", float(diverged.sum()), ">=", 1,
                  "the sign of the rounding error decides: 1 + δ squared repeatedly diverges, 1 − δ contracts"),
            Check("safe_alpha_converges_rel_err", max(final_err[safe_key]), "<=", 1e-8,
                  "float64 least squares at cond(S) ≈ 1e2: attainable error ≈ cond·ε_mach ≈ 1e-13"),
            Check("official_code_alpha_inside_region_max_alpha_lmax2", float(ratio_code.max()), "<", 2.0,
                  "2/‖S²‖_F < 2/λ_max² whenever S has more than one nonzero eigenvalue"),
            Check("official_code_alpha_rank_one_on_boundary_dev", float((rank1_ratio - 2).abs().max()), "<=", 1e-12,
                  "for rank-one S, ‖S²‖_F = λ_max² so α·λ_max² = 2 up to round-off"),
        ],
        measured={"curves_max_over_prompts": curves, "final_rel_err": final_err, "first_step_residual_gt_2": first_div,
                  "official_alpha_times_lmax2": ratio_code.tolist(),
                  "boundary_first_step_out_of_band": stuck_boundary.tolist(),
                  "safe_first_step_out_of_band": stuck_safe.tolist(),
                  "boundary_fraction_diverged": float(diverged.double().mean()), "rank_one_official_alpha_times_lmax2":
                  rank1_ratio.tolist(), "rank_one_M_k_over_M_0_frobenius_k>=1": rank1_M1_norm},
        figures=[fig],
        notes=["α in the paper: 2/‖SSᵀ‖₂ per the fact sheet (the paper's text could not be re-checked here); the "
               "official code (DeqingFu/transformers-icl-higher-order, models.py newton_inv) uses "
               "torch.linalg.norm(A @ A.T), i.e. the Frobenius norm: strictly inside the convergence region "
               "except for rank-one S (a one-example prefix), where it is on the boundary and M_1 = 0 exactly.",
               "Float64 at the boundary 2/λ_max²: the top residual stays at ≈ 1 for ≈ 50 steps, then round-off "
               "decides — some prompts diverge, the others contract (late, after ≈ 50 instead of ≈ 15 steps).",
               "The suite uses α = 1/λ_max² (half the boundary) everywhere and says so."],
        config={"d": 20, "n": 40, "steps": steps, "batch": S.shape[0]},
    )


# -- fu23.rates -------------------------------------------------------------------------------------------


#: Sweep draws per (κ, ε), the fact-sheet reference conditions cross-checked by float64 iteration, and the GD
#: iteration cap for that cross-check, per profile.
RATES_SETTINGS = {"quick": {"draws": 32, "conds": [1.0, 10.0], "max_gd": 3000},
                  "full": {"draws": 256, "conds": [1.0, 10.0, 100.0, 1000.0], "max_gd": 60000}}


def _rates(ctx: RunContext) -> Outcome:
    from empirical.plotting.fu23 import plot_rates
    from theory.algorithms.gd import empirical_covariance
    from theory.rates import (
        fit_gd_rate,
        fit_newton_rate,
        gd_steps_spectral,
        iterated_steps,
        newton_steps_spectral,
        rate_sweep,
    )
    from theory.samplers import LinearRegressionTask, spd_with_condition

    eps = [10.0**-e for e in range(2, 13)]
    kappas = [1.0, 10.0, 100.0, 1e3, 1e4]
    cfg = RATES_SETTINGS[ctx.profile]
    sweep = rate_sweep(eps, kappas, 20, cfg["draws"], ctx.generator("sweep"))
    nf, gf = fit_newton_rate(sweep), fit_gd_rate(sweep)
    # cross-check the exact spectral formulas against float64 iterations (fact sheet reference setting)
    g = ctx.generator("reference")
    conds = cfg["conds"]
    ref_rows, mismatch = [], 0
    for c in conds:
        sigma = spd_with_condition(20, c, g) if c > 1 else torch.eye(20, dtype=torch.float64)
        p = LinearRegressionTask(d=20, n=40, sigma=sigma).sample(4, g)
        nt, gd_it = iterated_steps(p, 1e-8, max_gd=cfg["max_gd"])
        S = p.X.transpose(1, 2) @ p.X
        lam, V = torch.linalg.eigh(S)
        cvec = torch.einsum("bji,bj->bi", V, p.meta["w"])
        nt_f = newton_steps_spectral(lam, cvec, 1e-8)
        gd_f = gd_steps_spectral(lam, cvec, 1e-8)
        mismatch = max(mismatch, int((nt - nt_f).abs().max()), int((gd_it - gd_f).abs().max()))
        kap = torch.linalg.cond(empirical_covariance(p.X))
        ref_rows.append({"cond_sigma": c, "cond_S_median": float(kap.median()), "newton_iterated": nt.tolist(),
                         "newton_formula": nt_f.tolist(), "gd_iterated": gd_it.tolist(), "gd_formula": gd_f.tolist()})
    fig = plot_rates(eps, kappas, sweep.newton, sweep.gd, ctx.figure_path("steps_vs_eps"))
    return Outcome(
        checks=[
            Check("newton_fit_coef_log2_kappa", nf.coef[0], "<=", 2.5, "theory 2 (α = 1/λ_max², slowest direction "
                  "1 − 1/κ²); random target weights lower it slightly, never above 2 + fit noise"),
            Check("newton_fit_coef_log2_kappa_lower", nf.coef[0], ">=", 1.5, "theory 2"),
            Check("newton_fit_coef_log2_ln_inv_eps", nf.coef[1], "<=", 1.5, "theory 1 (log log 1/ε)"),
            Check("newton_fit_coef_log2_ln_inv_eps_lower", nf.coef[1], ">=", 0.5, "theory 1"),
            Check("newton_fit_r2", nf.r2, ">=", 0.95, "the two-term log law should explain nearly all variation"),
            Check("gd_fit_slope_kappa_ln_inv_eps", gf.coef[0], "<=", 0.55,
                  "theory 1/2 (ln((κ+1)/(κ−1)) ≈ 2/κ); the finite-κ correction and random target weights only "
                  "lower it"),
            Check("gd_fit_slope_kappa_ln_inv_eps_lower", gf.coef[0], ">=", 0.4, "theory 1/2"),
            Check("gd_fit_r2", gf.r2, ">=", 0.95, "κ·ln(1/ε) law"),
            Check("formula_vs_float64_iteration_max_step_diff", mismatch, "<=", 1,
                  "the spectral formula is exact; float64 iterates may cross ε one step earlier or later"),
        ],
        measured={"sweep": sweep.as_dict(), "newton_fit": nf.as_dict(), "gd_fit": gf.as_dict(),
                  "reference_setting_d20_n40_eps1e-8": ref_rows},
        figures=[fig],
        notes=["κ = cond(XᵀX) (spectra with λ_max = 1, λ_min = 1/κ, the rest log-uniform; random targets). Step counts "
               "from exact spectral formulas (theory/rates.py), cross-checked against float64 iterations.",
               "Fact sheet reference (numpy, d=20, n=40, ε=1e-8, cond Σ = 1/10/100/1000): Newton 15/16/22/25, GD "
               "279/455/3175/13915 — compare with reference_setting_d20_n40_eps1e-8."],
        config={"eps": eps, "kappa": kappas, "d": 20, **cfg},
    )


# -- fu23.compact_construction ----------------------------------------------------------------------------

#: (quick, full) settings (d, n, cond Σ, k) of the suite's compact construction; n < d included on purpose.
CONSTRUCTION_SETTINGS = (
    [(3, 10, 1.0, 8), (5, 20, 10.0, 6), (8, 40, 100.0, 8), (17, 50, 1000.0, 6), (6, 4, 10.0, 5), (4, 12, 30.0, 0)],
    [(3, 10, 1.0, 8), (5, 20, 10.0, 6), (8, 40, 100.0, 8), (17, 50, 1000.0, 8), (6, 4, 10.0, 8), (20, 40, 1.0, 8),
     (20, 40, 1000.0, 8), (10, 100, 1e4, 8)],
)


def _compact_construction(ctx: RunContext) -> Outcome:
    from constructions.newton import (
        SETUP_LAYERS,
        build_newton,
        layerwise_deviation,
        run_newton_construction,
        working_layers,
    )
    from empirical.plotting.fu23 import plot_construction_deviation
    from theory.samplers import LinearRegressionTask, spd_with_condition

    g = ctx.generator("prompts")
    settings = ctx.pick(*CONSTRUCTION_SETTINGS)
    worst, worst_pred, count_err, idle = 0.0, 0.0, 0, 0
    rows, series = [], {}
    for d, n, cond, k in ctx.track(settings, "settings"):
        sigma = spd_with_condition(d, cond, g) if cond > 1 else torch.eye(d, dtype=torch.float64)
        prompt = LinearRegressionTask(d=d, n=n, m=3, sigma=sigma).sample(16, g)
        tr = run_newton_construction(prompt, k)
        count_err += abs(tr.model.num_layers - (k + SETUP_LAYERS))
        idle += tr.model.num_layers - working_layers(tr.model)
        devs, pdev = layerwise_deviation(tr, prompt)
        mx = max(r["max_rel_dev"] for r in devs if r["max_rel_dev"] is not None)
        worst, worst_pred = max(worst, mx), max(worst_pred, pdev)
        series[f"d={d},n={n},κ={cond:g},k={k}"] = [r["max_rel_dev"] for r in devs[2:]]
        rows.append({"d": d, "n": n, "cond": cond, "k": k, "layers": tr.model.num_layers, "max_rel_dev": mx,
                     "pred_rel_dev": pdev})
    # every violated assumption is reported at once
    try:
        build_newton(4, 2, alpha=1.0, norm_bound=2.0)  # α·B² = 4 >= 2
        rejected_msg = ""
    except ValueError as e:
        rejected_msg = str(e)
    try:
        build_newton(4, -1, alpha=-1.0, norm_bound=float("nan"))
        all_msg = ""
    except ValueError as e:
        all_msg = str(e)
    names_all = float(all(s in all_msg for s in ("k:", "alpha:", "norm_bound:")))
    fig = plot_construction_deviation(series, 1e-10, ctx.figure_path("per_layer_deviation"))
    return Outcome(
        checks=[
            Check("max_rel_dev_per_layer_vs_newton", worst, "<=", 1e-10,
                  "fact sheet acceptance 1e-10 (observed round-off is ~1e-15·cond amplification)"),
            Check("query_prediction_rel_dev", worst_pred, "<=", 1e-10, "same bound, applied to x_qᵀŵ_k"),
            Check("layer_count_mismatch", count_err, "<=", 0, "exactly k + 3 layers (pair labels, M_0, k steps, "
                  "read-out)"),
            Check("zero_weight_layers", idle, "<=", 0, "every layer works: a layer whose weights are all zero "
                  "(the identity) does not count"),
            Check("boundary_alpha_rejected", float("alpha" in rejected_msg), ">=", 1, "α·B² >= 2 must be refused"),
            Check("all_violations_listed_at_once", names_all, ">=", 1, "one error naming k, alpha and norm_bound"),
        ],
        measured={"rows": rows, "rejection_message": rejected_msg, "all_violations_message": all_msg},
        figures=[fig],
        notes=["The suite's own construction (constructions.newton, registry name 'newton'): ReLU attention + ReLU "
               "MLP, width 3d + 6, k + 3 layers (pair labels, M_0 = αS, k Newton steps, read-out), every one with "
               "nonzero weights: 5 fewer than the paper's k + 8 (v1/v2; v3 states k + O(1)). The paper's own k + 8 "
               "construction is checked by fu23.paper_construction_corrected / _as_printed.",
               "n < d is covered (d=6, n=4): the construction equals Newton's iterates, which tend to the "
               "minimum-norm solution; n >= d is not needed. α = 1/B², B = max λ_max(XᵀX) of the batch."],
        config={"settings (d, n, cond, k)": settings, "batch": 16, "queries": 3},
    )


# -- fu23.paper_construction_corrected / fu23.paper_construction_as_printed -------------------------------

#: (quick, full) settings (d, n, cond Σ, k) of the paper's construction (Theorem 5.1, constructions.newton_paper);
#: n < d and k = 0 included on purpose.
PAPER_CONSTRUCTION_SETTINGS = (
    [(3, 10, 1.0, 8), (5, 20, 10.0, 6), (8, 40, 100.0, 8), (6, 4, 10.0, 5), (4, 12, 30.0, 0)],
    [(3, 10, 1.0, 8), (5, 20, 10.0, 8), (8, 40, 100.0, 8), (17, 50, 1000.0, 8), (6, 4, 10.0, 8), (20, 40, 1.0, 8),
     (20, 40, 1000.0, 8), (4, 12, 30.0, 0)],
)
#: Settings for the printed weights: fewer Newton layers, since as printed the state grows doubly exponentially
#: (it overflows float64 near k = 10 at d = 5).
PRINTED_SETTINGS = (
    [(3, 10, 1.0, 4), (5, 20, 10.0, 4), (6, 4, 10.0, 3), (4, 12, 30.0, 0)],
    [(3, 10, 1.0, 6), (5, 20, 10.0, 6), (20, 40, 1.0, 6), (6, 4, 10.0, 6), (4, 12, 30.0, 0)],
)
#: The α = 2/‖SSᵀ‖₂ demonstration: (d, n, k) for one prompt (n = 6d: well conditioned, so every other direction
#: converges within k steps and the error left is exactly the lost top component).
BOUNDARY_SETTING = (5, 30, 12)
#: Round-off growth beyond the acceptance range: (d, n, k) with k past the point where 2^k·ε reaches 1e-10.
GROWTH_SETTING = (5, 12, 24)


def _paper_prompt(d: int, n: int, cond: float, g: torch.Generator, batch: int) -> PromptBatch:
    """``batch`` prompts with n examples in dimension d, one query, x ~ N(0, Σ) with cond(Σ) = ``cond``."""
    from theory.samplers import LinearRegressionTask, spd_with_condition

    sigma = spd_with_condition(d, cond, g) if cond > 1 else torch.eye(d, dtype=torch.float64)
    return LinearRegressionTask(d=d, n=n, m=1, sigma=sigma).sample(batch, g)


def _paper_runs(ctx: RunContext, settings: list[tuple[int, int, float, int]], variant: str
                ) -> tuple[list[dict], dict[str, list[float]], list[tuple[PromptBatch, PaperTrace]]]:
    """Run the paper's construction on every setting: per-setting summary rows, per-layer deviation series, traces."""
    from constructions.newton_paper import run_newton_paper, working_layers

    g = ctx.generator("prompts")
    rows, series, traces = [], {}, []
    for d, n, cond, k in ctx.track(settings, f"{variant} settings"):
        prompt = _paper_prompt(d, n, cond, g, 16)
        tr = run_newton_paper(prompt, k, "official", variant)  # type: ignore[arg-type]
        per_layer = tr.deviations.max(1).values.tolist()  # layers 1 … k+8
        series[f"d={d},n={n},κ={cond:g},k={k}"] = per_layer
        rows.append({"d": d, "n": n, "cond": cond, "k": k, "layers": tr.model.num_layers,
                     "working_layers": working_layers(tr.model), "alpha": tr.model.alpha,
                     "max_rel_dev": max(per_layer), "per_layer_max_rel_dev": per_layer,
                     "pred_rel_dev": per_layer[-1]})
        traces.append((prompt, tr))
    return rows, series, traces


def _boundary_demo(ctx: RunContext) -> dict:
    """α = 2/‖SSᵀ‖₂ (the paper's text) on one prompt: construction and float64 reference, error per Newton step."""
    from constructions.newton_paper import run_newton_paper, stall_diagnostics

    d, n, k = BOUNDARY_SETTING
    prompt = _paper_prompt(d, n, 1.0, ctx.generator("boundary"), 1)
    tr = run_newton_paper(prompt, k, "paper", "corrected")
    con, ref = stall_diagnostics(prompt, tr.estimates), stall_diagnostics(prompt, tr.ref_estimates)
    official = stall_diagnostics(prompt, run_newton_paper(prompt, k, "official", "corrected").estimates)
    return {"alpha_lambda_max2": float(tr.alpha_lambda2[0]), "max_rel_dev": float(tr.deviations.max()),
            "error_construction": con["error"][:, 0].tolist(), "error_reference": ref["error"][:, 0].tolist(),
            "top_fraction_construction": con["top_fraction"][:, 0].tolist(),
            "top_fraction_reference": ref["top_fraction"][:, 0].tolist(), "missing_top_component":
            float(con["missing"][0]), "error_official_alpha": official["error"][:, 0].tolist()}


def _roundoff_growth(ctx: RunContext) -> dict:
    """Per-Newton-layer deviation for a long run (GROWTH_SETTING): the growth factor per layer and the first k past
    1e-10 (reported, not checked: the acceptance range is k <= 8)."""
    from constructions.newton_paper import run_newton_paper

    d, n, k = GROWTH_SETTING
    tr = run_newton_paper(_paper_prompt(d, n, 1.0, ctx.generator("growth"), 16), k, "official", "corrected")
    dev = tr.deviations.max(1).values[2: k + 3]  # layers 3 … k+3: Newton iterates 0 … k
    tail = dev[k // 2:]
    factor = float((tail[-1] / tail[0]) ** (1.0 / (len(tail) - 1)))
    over = [j for j, v in enumerate(dev.tolist()) if v > 1e-10]
    return {"per_newton_layer": dev.tolist(), "growth_factor_per_layer": factor,
            "first_k_over_1e-10": over[0] if over else None}


def _stall_checks(b: dict) -> list[Check]:
    err_c, err_r = b["error_construction"], b["error_reference"]
    top = max(abs(v) for v in b["top_fraction_construction"][1:] + b["top_fraction_reference"][1:])
    stall = max(abs(err_c[-1] - b["missing_top_component"]), abs(err_r[-1] - b["missing_top_component"]),
                abs(err_c[-1] - err_c[-2]))
    return [
        Check("alpha_paper_max_rel_dev_vs_reference", b["max_rel_dev"], "<=", 1e-10,
              "at α = 2/‖SSᵀ‖₂ the construction must still follow the float64 reference, layer by layer"),
        Check("alpha_paper_top_component_after_step_1", top, "<=", 1e-9,
              "boundary: M_1v₁ = (2 − αλ₁²)M_0v₁ = 0, so ŵ_j holds no top component for j >= 1 (construction and "
              "reference; round-off ~1e-16 doubled per step)"),
        Check("alpha_paper_error_minus_lost_top_component", stall, "<=", 1e-8,
              "the error stalls at exactly the lost top component |⟨v₁, ŵ⟩|/‖ŵ‖ (and stops falling), for the "
              "construction and the reference alike"),
    ]


def _paper_construction_corrected(ctx: RunContext) -> Outcome:
    from empirical.plotting.fu23 import plot_construction_deviation

    settings = ctx.pick(*PAPER_CONSTRUCTION_SETTINGS)
    rows, series, _ = _paper_runs(ctx, settings, "corrected")
    boundary = _boundary_demo(ctx)
    growth = _roundoff_growth(ctx)
    worst = max(r["max_rel_dev"] for r in rows)
    count_err = sum(abs(r["layers"] - (r["k"] + 8)) for r in rows)
    idle = sum(r["layers"] - r["working_layers"] for r in rows)
    fig = plot_construction_deviation(series, 1e-10, ctx.figure_path("per_layer_deviation"), first_layer=1,
                                      xlabel="layer (1–3 set-up, 4 … k+3 Newton, then 5 read-out)")
    return Outcome(
        checks=[
            Check("max_rel_dev_per_layer_vs_newton", worst, "<=", 1e-10,
                  "fact sheet acceptance 1e-10: every layer holds what the proof says (M_jx_i, ŵ_k, x_qᵀŵ_k) at "
                  "float64 round-off"),
            Check("layer_count_mismatch", count_err, "<=", 0, "Theorem 5.1: exactly k + 8 layers"),
            Check("zero_weight_layers", idle, "<=", 0, "every layer works: counted from the built weights, a layer "
                  "whose weights are all zero does not count"),
            *_stall_checks(boundary),
        ],
        measured={"rows": rows, "alpha_paper_boundary": boundary, "roundoff_growth": growth},
        figures=[fig],
        notes=["Theorem 5.1 as in the paper's appendix (fact sheet §2), constructions.newton_paper: 3 set-up layers "
               "(mov, signed ReLU attention with V = nα[[I,0],[0,0]], aff), k Newton layers (two ReLU heads from G "
               "and J, linear MLP doubling the top block), 5 read-out layers (mov, mul, Lemma B.3 sum, mov, mul); "
               "widths 2d (Newton) and 3d + 1 (read-out) plus Lemma B.3's [1; 0_d] and a d-slot for the query's x.",
               "Corrected: the second head of each pair has V₂ = −V₁ (as printed V₂ = V₁; see "
               "fu23.paper_construction_as_printed). mov/mul/aff, which the paper takes from Akyürek et al. "
               "(causal softmax), are one-hot offset attention with a bilinear score, exact in float64.",
               "α = 1/‖SSᵀ‖_F (the official code), one fixed weight per batch of 16 prompts. At α = 2/‖SSᵀ‖₂ "
               f"(the paper's text, d={BOUNDARY_SETTING[0]}, n={BOUNDARY_SETTING[1]}, k={BOUNDARY_SETTING[2]}, one "
               f"prompt) the error stalls at {boundary['missing_top_component']:.3g} (the lost top component) in "
               "the construction and in the float64 reference alike; with the official α it falls to "
               f"{boundary['error_official_alpha'][-1]:.2g}.",
               "Floating point: a Newton layer's heads score x_tᵀTx_j, so the layer computes T ↦ 2T − TSTᵀ, which is "
               "Newton's map only for symmetric T; round-off makes T slightly non-symmetric (and, n > d, the states "
               "slightly inconsistent with one T), and that part is doubled by every layer (T = S⁺ + A, A "
               "antisymmetric: → S⁺ + 2A), while the reference's 2M − MSM damps it. Measured at d="
               f"{GROWTH_SETTING[0]}, n={GROWTH_SETTING[1]}: ×{growth['growth_factor_per_layer']:.2f} per Newton "
               f"layer, past 1e-10 at k = {growth['first_k_over_1e-10']}; exact in real arithmetic, so the theorem "
               "holds, but in float64 this construction follows Newton only up to k ≈ 15 at 1e-10. (Queries reading "
               "the top block, −(n/2)Tx_t, and keys the bottom block, x_j, would compute 2T − TST and stay at "
               "round-off, measured ≈ 1e-13 at k = 24; that is not the paper's construction.)"],
        config={"settings (d, n, cond, k)": settings, "batch": 16, "alpha": "official (1/‖SSᵀ‖_F)",
                "boundary (d, n, k)": BOUNDARY_SETTING, "round-off growth (d, n, k)": GROWTH_SETTING},
    )


def _paper_construction_as_printed(ctx: RunContext) -> Outcome:
    from constructions.newton_paper import EXTRA_LAYERS
    from empirical.plotting.fu23 import plot_construction_deviation

    settings = ctx.pick(*PRINTED_SETTINGS)
    rows, series, traces = _paper_runs(ctx, settings, "printed")
    worst = max(r["max_rel_dev"] for r in rows)
    count_err = sum(abs(r["layers"] - (r["k"] + EXTRA_LAYERS)) for r in rows)
    # the diagnosis: layer 2 as printed adds α Σ_j |x_tᵀx_j| x_j, the |a| of each head pair
    abs_dev = 0.0
    for prompt, tr in traces:
        X = prompt.X.to(torch.float64)
        held = tr.states[2][:, 0: 2 * prompt.n: 2, tr.model.layout.top]
        expected = X + tr.model.alpha * (X @ X.transpose(1, 2)).abs() @ X
        rel = (held - expected).flatten(1).norm(dim=1) / expected.flatten(1).norm(dim=1)
        abs_dev = max(abs_dev, float(rel.max()))
    first = rows[0]
    leave = next((i + 1 for i, v in enumerate(first["per_layer_max_rel_dev"]) if v > 1e-10), None)
    fig = plot_construction_deviation(series, 1e-10, ctx.figure_path("per_layer_deviation"), first_layer=1,
                                      xlabel="layer (as printed: 1–3 set-up, 4 … k+3 Newton, 5 read-out)")
    per = first["per_layer_max_rel_dev"]
    k = first["k"]
    return Outcome(
        checks=[
            Check("max_rel_dev_per_layer_vs_newton", worst, "<=", 1e-10,
                  "Theorem 5.1 (as the corrected weights achieve): every layer holds Newton's iterate at float64 "
                  "round-off; the printed weights are held to the same bound"),
            Check("layer_count_mismatch", count_err, "<=", 0, "the printed construction does have k + 8 layers"),
        ],
        measured={"rows": rows, "first_layer_off_newton": leave, "printed_layer2_vs_abs_formula": abs_dev},
        figures=[fig],
        notes=["As printed, the two heads of each pair share one value matrix (V₂ = V₁: J in the Newton layers, "
               "nα[[I,0],[0,0]] in set-up layer 2). Their scores are a and −a, so the pair computes σ(a) + σ(−a) = "
               "|a| where the proof needs σ(a) − σ(−a) = a: layer 2 adds α Σ_j |x_tᵀx_j| x_j instead of αSx_t "
               f"(the held state matches that |a| formula to {abs_dev:.1e}), and each Newton layer adds "
               "+½ Σ_j |x_tᵀTx_j| Tx_j where it should subtract ½TSTx_t.",
               f"Where it leaves Newton (d={first['d']}, n={first['n']}, k={k}): layer 1 (mov) is exact "
               f"({per[0]:.1e}); layer 2 deviates by {per[1]:.2g}, layer 3 (M_0) by {per[2]:.2g}, the last Newton "
               f"layer by {per[k + 2]:.3g} and the prediction by {per[-1]:.3g} (relative; per-layer lists in rows). "
               "The state grows doubly exponentially with k and overflows float64 near k = 10 at d = 5.",
               "With V₂ = −V₁ every layer matches Newton at round-off: fu23.paper_construction_corrected. The verdict "
               "here is 'not reproduced' by design: the check states the theorem's expectation."],
        config={"settings (d, n, cond, k)": settings, "batch": 16, "alpha": "official (1/‖SSᵀ‖_F)"},
    )


# -- trained models ---------------------------------------------------------------------------------------

NEWTON_STEPS = 12
GD_STEPS = [0] + [2**i for i in range(0, 13)]
#: Prompts per profile: (probe-training prompts, held-out test prompts).
STUDY_SIZES = {"quick": (512, 128), "full": (2048, 512)}


@cache
def _study(profile: str, seed: int, device: str, name: str, sizes: tuple[int, int], out_dir: str,
           retrain: bool = False, progress: bool = False) -> dict:
    """Load (or train) one model and compute the similarity study on held-out prompts (cached per run, so a
    ``retrain`` run trains each model once)."""
    from empirical.fu23_training import RECIPES, load_or_train, task_of
    from empirical.probes import similarity_study
    from empirical.seeding import torch_generator

    r = RECIPES[profile][name]
    model, side = load_or_train(r, device, out_dir, progress=progress, retrain=retrain)
    task = task_of(r)
    g = torch_generator(seed, "fu23", "study", name)
    n_train, n_test = sizes
    tr = task.sample(n_train, g)
    te_task = type(task)(d=r.d, n=r.n, m=2 * r.d, cond=r.cond)
    te = te_task.sample(n_test, g)
    res = similarity_study(model, tr, te, NEWTON_STEPS, GD_STEPS)
    with torch.no_grad():
        pred = model.predict(te.with_queries(te.xq[:, :1], te.yq[:, :1])).double().cpu()
    query_mse = float(((pred[:, -1] - te.yq[:, 0]) ** 2).mean())
    zero_mse = float((te.yq[:, 0] ** 2).mean())  # the trivial predictor ŷ = 0 (the loss plateau of ICL training)
    return {"newton_steps_to_1pct": _newton_steps_to_settle(te, 0.01), "result": res,
            "sidecar": {k: v for k, v in side.items() if k != "trained_now"},
            "trained_now": side.get("trained_now", False), "query_mse": query_mse, "zero_predictor_mse": zero_mse,
            "layers": r.layers}


def _newton_steps_to_settle(prompt, rtol: float) -> float:
    """Median over prompts of the first Newton step whose query prediction is within ``rtol`` of step
    NEWTON_STEPS's (past it, Newton steps are nearly indistinguishable to any similarity metric)."""
    from theory.algorithms import newton_solution_path

    W = newton_solution_path(prompt, NEWTON_STEPS).iterates  # (K+1, B, d)
    pred = torch.einsum("kbd,bd->kb", W, prompt.xq[:, 0].to(torch.float64))
    rel = (pred - pred[-1]).abs() / pred[-1].abs().clamp_min(1e-12)
    first = (rel <= rtol).to(torch.int8).argmax(0)  # rel[-1] = 0, so every prompt settles by step K
    return float(first.double().median())


def _slope_note(m: dict) -> str:
    """The measured Newton steps per layer next to the paper's figure."""
    st = m["best_newton_step_errors"]
    return (f"matched Newton steps per layer (similarity of errors): {st}; fitted slope "
            f"{m['fit_errors']['slope']:.2f} steps/layer, R² {m['fit_errors']['r2']:.2f} (the paper: ≈ 3 Newton "
            "iterations per middle layer of a 12-layer model)")


def _saturation_note(s: dict) -> str:
    j = s["newton_steps_to_1pct"]
    if j >= NEWTON_STEPS:
        return (f"Newton's query predictions are not within 1% of step {NEWTON_STEPS}'s before step {NEWTON_STEPS} "
                "(median, held-out prompts): matched steps are not capped by Newton's convergence here")
    return (f"Newton's query predictions settle within 1% of their limit after {j:.0f} steps (median, held-out "
            "prompts): best matches beyond that step are near-ties, so matched steps saturate there")


def _learning_note(s: dict, name: str) -> str:
    """Plain statement of how far the model got (a model stuck at the zero predictor cannot track anything)."""
    ratio = s["query_mse"] / s["zero_predictor_mse"]
    state = ("it has not left the initial loss plateau at this reduced scale" if ratio > 0.9 else
             "it has learned in context only partly" if ratio > 0.1 else "it has learned in context")
    return (f"{name}: query MSE {s['query_mse']:.3g} on held-out prompts vs {s['zero_predictor_mse']:.3g} for the "
            f"zero predictor (ratio {ratio:.2f}: {state})")


def _get_study(ctx: RunContext, name: str) -> dict:
    if ctx.profile == "full" and ctx.device.type != "cuda":
        raise SkipClaim("needs cuda: the full profile trains 12-layer width-256 models at d = 20, n = 40")
    return _study(ctx.profile, ctx.seed, str(ctx.device), name, STUDY_SIZES[ctx.profile], str(ctx.out_dir),
                  ctx.retrain, ctx.progress)


def _heatmaps(ctx: RunContext, res, stem: str, title: str) -> str:
    from empirical.plotting.fu23 import plot_similarity_heatmaps

    maps = {"errors vs Newton": res.err_newton.numpy(), "errors vs GD": res.err_gd.numpy(),
            "weights vs Newton": res.w_newton.numpy(), "weights vs GD": res.w_gd.numpy()}
    steps = {"errors vs Newton": res.newton_steps, "errors vs GD": res.gd_steps,
             "weights vs Newton": res.newton_steps, "weights vs GD": res.gd_steps}
    return plot_similarity_heatmaps(maps, steps, ctx.figure_path(stem), title)


def _newton_tracking_checks(res, layers: int, prefix: str) -> tuple[list[Check], dict]:
    """Best-matching Newton step per layer 1..L (similarity of errors): line fit; checks slope > 0, R² >= 0.8."""
    from empirical.probes import best_match, linear_fit

    ell = np.arange(1, layers + 1)
    st, val = best_match(res.err_newton[1:], res.newton_steps)
    fit = linear_fit(ell, st)
    stw, valw = best_match(res.w_newton[1:], res.newton_steps)
    fitw = linear_fit(ell, stw)
    checks = [
        Check(f"{prefix}newton_match_slope_per_layer", fit["slope"], ">", 0,
              "matched Newton step must grow with depth (paper: ≈ 3 iterations per middle layer)"),
        Check(f"{prefix}newton_match_linear_r2", fit["r2"], ">=", 0.8,
              "judgment threshold for 'linear growth' (the sheet asks for R² reported; the paper gives no number)"),
    ]
    return checks, {"best_newton_step_errors": st.tolist(), "best_newton_sim_errors": val.tolist(),
                    "fit_errors": fit, "best_newton_step_weights": stw.tolist(),
                    "best_newton_sim_weights": valw.tolist(), "fit_weights": fitw}


def _layers_track_newton(ctx: RunContext) -> Outcome:
    s = _get_study(ctx, "gpt2_iso")
    res = s["result"]
    checks, m = _newton_tracking_checks(res, s["layers"], "")
    fig = _heatmaps(ctx, res, "similarity_heatmaps", "GPT-2 (isotropic x) vs Newton / GD")
    return Outcome(checks=checks, measured={**m, "similarity": res.as_dict(), "query_mse": s["query_mse"],
                                            "newton_steps_to_1pct": s["newton_steps_to_1pct"],
                                            "zero_predictor_mse": s["zero_predictor_mse"],
                                            "checkpoint": s["sidecar"], "trained_now": s["trained_now"]},
                   figures=[fig], notes=[_reduced_note(), _learning_note(s, "gpt2_iso"), _slope_note(m),
                                         _saturation_note(s),
                                         f"probes: closed-form ridge read-out per layer on "
                                                  f"{STUDY_SIZES[ctx.profile][0]} training prompts; similarities on "
                                                  f"{STUDY_SIZES[ctx.profile][1]} held-out prompts"],
                   config={"newton_steps": NEWTON_STEPS, "gd_steps": GD_STEPS, "model": "gpt2_iso"})


def _gd_exponential(ctx: RunContext) -> Outcome:
    from empirical.plotting.fu23 import plot_best_match
    from empirical.probes import best_match, linear_fit

    s = _get_study(ctx, "gpt2_iso")
    res = s["result"]
    L = s["layers"]
    ell = np.arange(1, L + 1)
    nt, _ = best_match(res.err_newton[1:], res.newton_steps)
    gdst, gdv = best_match(res.err_gd[1:], res.gd_steps)
    log_fit = linear_fit(ell, np.log2(np.maximum(gdst, 1)))
    lin_fit = linear_fit(ell, gdst)
    newton_fit = linear_fit(ell, nt)
    # theory: GD steps t matching Newton step k satisfy t ≈ c·2^k, so log₂t tracks k one-for-one
    slope_ratio = log_fit["slope"] / newton_fit["slope"] if newton_fit["slope"] > 0 else float("nan")
    growth_gd = float(gdst[-1] / max(gdst[0], 1))
    growth_newton = float(max(nt[-1], 1) / max(nt[0], 1))
    fig = plot_best_match(list(ell), {"Newton (errors)": nt, "GD (errors)": gdst}, ctx.figure_path("best_match"),
                          log_y=True)
    return Outcome(
        checks=[
            Check("gd_match_log2_slope_per_layer", log_fit["slope"], ">", 0, "matched GD steps must grow with depth"),
            Check("gd_growth_factor_minus_newton_growth_factor", growth_gd - growth_newton, ">", 0,
                  "over the same layers GD's matched step must grow by a larger factor than Newton's"),
            Check("gd_log_fit_r2_minus_linear_fit_r2", (log_fit["r2"] if not np.isnan(log_fit["r2"]) else -1)
                  - (lin_fit["r2"] if not np.isnan(lin_fit["r2"]) else -1), ">", 0,
                  "exponential growth: log₂(steps) is better fitted by a line than the steps themselves (strictly: "
                  "a tie, e.g. a plateau of matched steps, is no evidence either way)"),
        ],
        measured={"best_gd_step": gdst.tolist(), "best_gd_sim": gdv.tolist(), "best_newton_step": nt.tolist(),
                  "log2_gd_fit": log_fit, "linear_gd_fit": lin_fit, "newton_fit": newton_fit,
                  "log2gd_slope_over_newton_slope": slope_ratio, "growth_gd": growth_gd,
                  "growth_newton": growth_newton},
        figures=[fig],
        notes=[_reduced_note(), _learning_note(s, "gpt2_iso"),
               "GD: step 1/λ_max(XᵀX) on ½‖Xw − y‖², steps on a log grid 0, 1, 2, 4 … 4096 (as the "
                        "official code's log grid)"],
        config={"gd_steps": GD_STEPS},
    )


def _ill_conditioned(ctx: RunContext) -> Outcome:
    from empirical.probes import best_match

    s = _get_study(ctx, "gpt2_ill")
    res = s["result"]
    checks, m = _newton_tracking_checks(res, s["layers"], "ill_")
    _, nv = best_match(res.err_newton[-1:], res.newton_steps)
    _, gv = best_match(res.err_gd[-1:], res.gd_steps)
    checks.append(Check("ill_last_layer_newton_sim_minus_gd_sim", float(nv[0] - gv[0]), ">=", 0,
                        "the last layer must match Newton at least as well as any GD step ≤ 4096"))
    fig = _heatmaps(ctx, res, "similarity_heatmaps", "GPT-2 trained and tested at cond(Σ) = 100")
    return Outcome(checks=checks, measured={**m, "last_layer_best_newton_sim": float(nv[0]),
                                            "last_layer_best_gd_sim": float(gv[0]), "similarity": res.as_dict(),
                                            "newton_steps_to_1pct": s["newton_steps_to_1pct"],
                                            "query_mse": s["query_mse"],
                                            "zero_predictor_mse": s["zero_predictor_mse"], "checkpoint": s["sidecar"]},
                   figures=[fig], notes=[_reduced_note(), _learning_note(s, "gpt2_ill"), _slope_note(m),
                                         _saturation_note(s),
                                         "ill-conditioned: a fresh Σ with cond(Σ) = 100 per prompt "
                                                  "(geometric spectrum, Haar rotation), for training and testing"],
                   config={"cond": 100, "model": "gpt2_ill"})


def _lstm(ctx: RunContext) -> Outcome:
    from empirical.plotting.fu23 import plot_best_match
    from empirical.probes import best_match

    tf = _get_study(ctx, "gpt2_iso")
    ls = _get_study(ctx, "lstm_iso")
    tf_sim = float(tf["result"].err_newton[-1].max())
    ls_sim = float(ls["result"].err_newton[-1].max())
    tf_st, _ = best_match(tf["result"].err_newton, tf["result"].newton_steps)
    ls_st, _ = best_match(ls["result"].err_newton, ls["result"].newton_steps)
    fig = plot_best_match(list(range(0, max(len(tf_st), len(ls_st)))),
                          {"GPT-2 vs Newton": tf_st, "LSTM vs Newton": ls_st}, ctx.figure_path("best_match"))
    return Outcome(
        checks=[Check("transformer_minus_lstm_best_newton_similarity_last_layer", tf_sim - ls_sim, ">=", 0.05,
                      "'clearly below': a margin of 0.05 in mean cosine (judgment; the paper gives no number)")],
        measured={"transformer_last_layer_best_newton_sim": tf_sim, "lstm_last_layer_best_newton_sim": ls_sim,
                  "transformer_best_steps": tf_st.tolist(), "lstm_best_steps": ls_st.tolist(),
                  "transformer_query_mse": tf["query_mse"], "lstm_query_mse": ls["query_mse"],
                  "lstm_similarity": ls["result"].as_dict()},
        figures=[fig], notes=[_reduced_note(), _learning_note(tf, "gpt2_iso"), _learning_note(ls, "lstm_iso")],
        config={"models": ["gpt2_iso", "lstm_iso"]},
    )


CLAIMS = [
    Claim("fu23.newton_recursion", "fu23", "Iterative Newton's error obeys I − M_{k+1}S = (I − M_kS)² (quadratic "
          "convergence once ‖I − M_kS‖ < 1).", "§3 (Iterative Newton's method)", ("symbolic", "numerical"),
          _newton_recursion, "sympy identity on symbolic matrices; ‖E_{k+1}‖ = ‖E_k‖² to round-off"),
    Claim("fu23.newton_alpha_boundary", "fu23", "Newton–Schulz converges only for 0 < α < 2/λ_max(S)²; the value "
          "2/‖SSᵀ‖₂ is on the boundary and does not contract the top direction.", "§3 initialisation (derived)",
          ("numerical",), _alpha_boundary, "rejection + float64 demonstration; safe α converges"),
    Claim("fu23.rates", "fu23", "Steps to relative error ε: Newton ≈ log κ + log log 1/ε, GD with the best fixed step "
          "≈ κ log 1/ε.", "§3 / §4 (convergence rates)", ("benchmark",), _rates,
          "fitted coefficients within stated bands of theory over ε ∈ 1e-2..1e-12, κ ∈ 1..1e4"),
    Claim("fu23.paper_construction_corrected", "fu23", "A transformer implements k Newton iterations with k + 8 "
          "layers (3 set-up, k Newton, 5 read-out), built as in the paper's appendix with the paired heads' second "
          "value matrix negated (V₂ = −V₁).", "Theorem 5.1 and its proof (Appendix B)", ("construction",),
          _paper_construction_corrected, "k + 8 layers, all with nonzero weights; every layer <= 1e-10 relative "
          "from Newton's iterates in float64, k <= 8; α = 2/‖SSᵀ‖₂ stalls exactly as the reference"),
    Claim("fu23.paper_construction_as_printed", "fu23", "The appendix construction of Theorem 5.1 with its weights "
          "as printed (paired heads share one value matrix) implements k Newton iterations in k + 8 layers.",
          "Theorem 5.1 and its proof (Appendix B)", ("construction",), _paper_construction_as_printed,
          "every layer <= 1e-10 relative from Newton's iterates (expected to fail: each pair computes |a|, not a)"),
    Claim("fu23.compact_construction", "fu23", "The suite's own construction implements k Newton iterations in "
          "k + 3 layers of ReLU attention (within the paper's k + 8; v3: k + O(1)).", "§5 Theorem (depth bound)",
          ("construction",), _compact_construction,
          "layer count = k + 3, no zero-weight layer; per-step agreement <= 1e-10 relative in float64, k <= 8"),
    Claim("fu23.layers_track_newton", "fu23", "Successive transformer layers match successive Newton iterations, "
          "roughly linearly in depth.", "§4, Fig. (similarity heatmaps)", ("trained",), _layers_track_newton,
          "best-match Newton step vs layer: slope > 0 and linear-fit R² >= 0.8 (reported)"),
    Claim("fu23.gd_needs_exponentially_more", "fu23", "Matching a layer needs exponentially more GD steps than "
          "Newton steps.", "§4", ("trained",), _gd_exponential, "log₂ GD match grows; exponential fits better"),
    Claim("fu23.ill_conditioned", "fu23", "On ill-conditioned data (cond Σ = 100) the transformer still tracks "
          "Newton, where GD struggles.", "§4 (ill-conditioned)", ("trained",), _ill_conditioned,
          "as layers_track_newton at cond 100, and Newton matches the last layer at least as well as GD"),
    Claim("fu23.lstm_not_newton", "fu23", "An LSTM trained the same way does not behave like Newton.",
          "§4 (LSTM)", ("trained",), _lstm, "LSTM's best Newton similarity >= 0.05 below the transformer's"),
]
