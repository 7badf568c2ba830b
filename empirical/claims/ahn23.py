"""ahn23 claims — Ahn, Cheng, Daneshmand, Sra (NeurIPS 2023), fact sheet ``shared/papers/ahn23.md``."""

from __future__ import annotations

import torch

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext

PAPER = Paper(
    key="ahn23",
    title="Transformers learn to implement preconditioned gradient descent for in-context learning",
    authors="Kwangjun Ahn, Xiang Cheng, Hadi Daneshmand, Suvrit Sra",
    venue="NeurIPS 2023",
    arxiv="2306.00297",
)

#: Relative agreement of the construction with preconditioned GD. Both compute the same sums in another
#: order; over ≤ 6 layers with moderate preconditioners round-off stays below 1e-12 (fact sheet's bound).
LEMMA1_TOL = 1e-12


def _lemma1(ctx: RunContext) -> Outcome:
    from constructions.pgd import layerwise_deviation
    from theory.samplers import LinearRegressionTask, spd_with_condition

    g = ctx.generator("prompts")
    settings = ctx.pick(
        [(2, 3, 2, 1.0), (5, 20, 3, 10.0), (8, 4, 4, 100.0), (7, 30, 6, 30.0), (3, 50, 5, 1.0)],
        [(2, 3, 2, 1.0), (5, 20, 3, 10.0), (8, 4, 4, 100.0), (7, 30, 6, 30.0), (3, 50, 5, 1.0),
         (20, 40, 8, 100.0), (16, 8, 6, 10.0), (32, 64, 6, 1000.0)],
    )
    worst = {"symmetric": 0.0, "nonsymmetric": 0.0}
    paper_vs_transpose = 0.0
    paper_vs_A = float("inf")
    rows = []
    for d, n, L, cond in ctx.track(settings, "settings"):
        sigma = spd_with_condition(d, cond, g) if cond > 1 else torch.eye(d, dtype=torch.float64)
        prompt = LinearRegressionTask(d=d, n=n, m=2, sigma=sigma).sample(32, g)
        lmax = float(torch.linalg.eigvalsh(sigma)[-1])
        sym, nonsym = [], []
        for _ in range(L):
            G = torch.randn(d, d, generator=g, dtype=torch.float64)
            sym.append((G @ G.T) / (d * lmax * (1 + d / n)))  # PSD, moderate step
            nonsym.append(G / (torch.linalg.matrix_norm(G, 2) * lmax * (1 + d / n)))
        dev_sym = float(layerwise_deviation(prompt, sym).max())
        dev_non = float(layerwise_deviation(prompt, nonsym).max())
        # The paper's printed Q (top-left −A) applies Aᵀ: equal to GD with Aᵀ, not with A, when A ≠ Aᵀ.
        dev_paper_T = float(layerwise_deviation(prompt, nonsym, "paper", [A.T for A in nonsym]).max())
        dev_paper_A = float(layerwise_deviation(prompt, nonsym, "paper").max())
        worst["symmetric"] = max(worst["symmetric"], dev_sym)
        worst["nonsymmetric"] = max(worst["nonsymmetric"], dev_non)
        paper_vs_transpose = max(paper_vs_transpose, dev_paper_T)
        paper_vs_A = min(paper_vs_A, dev_paper_A)
        rows.append({"d": d, "n": n, "L": L, "cond": cond, "symmetric": dev_sym, "nonsymmetric": dev_non,
                     "paper_convention_vs_At": dev_paper_T, "paper_convention_vs_A": dev_paper_A})
    reason = "float64 round-off over <= 8 layers (fact sheet acceptance 1e-12)"
    return Outcome(
        checks=[
            Check("max_rel_dev_symmetric_A", worst["symmetric"], "<=", LEMMA1_TOL, reason),
            Check("max_rel_dev_nonsymmetric_A", worst["nonsymmetric"], "<=", LEMMA1_TOL, reason),
            Check("paper_convention_equals_GD_with_At", paper_vs_transpose, "<=", LEMMA1_TOL, reason),
            Check("paper_convention_differs_from_GD_with_A", paper_vs_A, ">=", 1e-3,
                  "a non-symmetric A must expose the transpose (differences are O(‖A − Aᵀ‖), far above round-off)"),
        ],
        measured={"per_setting": rows},
        notes=["Suite convention: Q_ℓ = −[[A_ℓᵀ, 0], [0, 0]] implements w ← w − A_ℓ∇R(w) for any A_ℓ; the "
               "paper's printed Q_ℓ = −[[A_ℓ, 0], [0, 0]] implements the step with A_ℓᵀ."],
        config={"settings (d, n, L, cond)": settings, "batch": 32},
    )



# -- shared setting ---------------------------------------------------------------------------------------

#: The paper's experiments: d = 5, n = 20, Σ = Uᵀ diag(1, 1, 0.25, 0.0625, 1) U with a random rotation U.
PAPER_SPECTRUM = (1.0, 1.0, 0.25, 0.0625, 1.0)
PAPER_D, PAPER_N = 5, 20
FIG2_SCALARS = (0.42, 0.69, 1.71)
FIG2_LOSS = 0.134
THM4_Q = (-0.37, -2.39, -9.48)
THM4_B = (0.91, 0.56)
THM4_LOSS = 5.6e-4


#: How :func:`_paper_sigma` draws Σ (a checkpoint recipe names the draw, not the drawn floats).
_PAPER_SIGMA_RECIPE = {"kind": "paper_spectrum", "spectrum": list(PAPER_SPECTRUM), "rotation": "haar"}


def _paper_sigma(ctx: RunContext) -> torch.Tensor:
    from theory.samplers import spd_from_spectrum

    return spd_from_spectrum(torch.tensor(PAPER_SPECTRUM, dtype=torch.float64), ctx.generator("sigma"))


def _bool(ok: bool) -> float:
    return 1.0 if ok else 0.0


# -- Theorem 1 ----------------------------------------------------------------------------------------------


def _isserlis_S_squared(sigma: torch.Tensor, n: int) -> torch.Tensor:
    """E[ŜŜ] from the fourth-moment tensor E[x_i x_j x_k x_l] = Σ_ij Σ_kl + Σ_ik Σ_jl + Σ_il Σ_jk (numpy-free,
    independent of the closed form): E[ŜŜ]_il = (1/n) Σ_j E[x_i x_j x_j x_l] + ((n−1)/n) (Σ²)_il."""
    S = sigma
    m4 = (torch.einsum("ij,kl->ijkl", S, S) + torch.einsum("ik,jl->ijkl", S, S) + torch.einsum("il,jk->ijkl", S, S))
    return torch.einsum("ijjl->il", m4) / n + (n - 1) / n * S @ S


def _mc_one_layer_loss(A: torch.Tensor, task, count: int, g: torch.Generator) -> tuple[float, float]:
    """Monte-Carlo loss of the one-layer construction with preconditioner A: (mean, standard error)."""
    from constructions.linear_attention import lsa_forward, read_predictions
    from constructions.pgd import build_preconditioned_gd

    P, Q = build_preconditioned_gd([A])
    errs = []
    for _ in range(max(1, count // 10_000)):
        p = task.sample(min(count, 10_000), g)
        pred = read_predictions(lsa_forward(p.to_stacked(), P, Q, p.n)[-1], p.n)
        errs.append(((pred - p.yq) ** 2).reshape(-1))
    e = torch.cat(errs)
    return float(e.mean()), float(e.std() / e.numel() ** 0.5)


def _thm1(ctx: RunContext) -> Outcome:
    from scipy.optimize import minimize

    from theory.samplers import LinearRegressionTask, spd_with_condition
    from theory.symbolic.ahn23 import (
        check_stationary_point,
        expected_S_squared,
        optimal_preconditioner,
        population_loss,
    )

    sym = {d: check_stationary_point(d) for d in (1, 2)}
    g = ctx.generator("sigma")
    rows = []
    worst_moment, worst_min, worst_z = 0.0, 0.0, 0.0
    settings = ctx.pick([(3, 10, 10.0), (5, 20, 100.0)],
                        [(3, 10, 10.0), (5, 20, 100.0), (8, 12, 1000.0), (10, 40, 10.0)])
    for d, n, cond in ctx.track(settings, "numerical settings"):
        sigma = spd_with_condition(d, cond, g)
        A0 = optimal_preconditioner(sigma, n)
        moment = float(torch.linalg.norm(_isserlis_S_squared(sigma, n) - expected_S_squared(sigma, n))
                       / torch.linalg.norm(expected_S_squared(sigma, n)))

        def fg(v, d=d, sigma=sigma, n=n):
            A = torch.tensor(v, dtype=torch.float64).reshape(d, d).requires_grad_(True)
            f = population_loss(A, sigma, n)
            (gr,) = torch.autograd.grad(f, A)
            return float(f.detach()), gr.reshape(-1).numpy()

        x0 = ctx.rng("start", d).normal(size=d * d)
        res = minimize(fg, x0, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 20_000})
        A_min = torch.tensor(res.x).reshape(d, d)
        rel_min = float(torch.linalg.norm(A_min - A0) / torch.linalg.norm(A0))
        # the loss formula itself against simulation of the one-layer construction, at A_0
        task = LinearRegressionTask(d=d, n=n, sigma=sigma)
        mc, se = _mc_one_layer_loss(A0, task, ctx.pick(40_000, 400_000), ctx.generator("mc", d))
        z = abs(mc - float(population_loss(A0, sigma, n))) / se
        worst_moment, worst_min, worst_z = max(worst_moment, moment), max(worst_min, rel_min), max(worst_z, z)
        rows.append({"d": d, "n": n, "cond": cond, "moment_rel_err": moment, "minimizer_rel_err": rel_min,
                     "mc_loss": mc, "mc_se": se, "closed_form_loss": float(population_loss(A0, sigma, n)), "z": z})
    return Outcome(
        checks=[
            Check("sympy_stationary_point_equals_A0_d1", _bool(sym[1]), ">=", 1, "exact symbolic identity"),
            Check("sympy_stationary_point_equals_A0_d2", _bool(sym[2]), ">=", 1, "exact symbolic identity"),
            Check("E[SS]_closed_form_vs_Isserlis_rel_err", worst_moment, "<=", 1e-12,
                  "float64 round-off of d^4-term sums"),
            Check("numerical_minimizer_vs_A0_rel_err", worst_min, "<=", 1e-8,
                  "BFGS on an exact quadratic, gtol 1e-13 (fact sheet acceptance 1e-8)"),
            Check("loss_formula_vs_monte_carlo_z", worst_z, "<=", 3.0,
                  "Monte-Carlo estimate within 3 standard errors of the closed-form loss"),
        ],
        measured={"symbolic": {f"d={k}": v for k, v in sym.items()}, "per_setting": rows},
        notes=["Symbolic: sympy derives f(A) = tr E[Ŝ AᵀΣA Ŝ] − 2tr(ΣAΣ) + trΣ entrywise from Isserlis with "
               "symbolic Σ (d×d symmetric), A (d×d) and n, and solves ∇f = 0; the solution equals "
               "((n+1)/n Σ + trΣ/n I)⁻¹ identically.",
               "The minimisation is over the preconditioner A of the GD-form (P, Q); the claim that the global "
               "optimum over all (P, Q) has this form is tested by training (ahn23.trained_1layer)."],
        config={"settings (d, n, cond)": settings},
    )


def _thm1_isotropic(ctx: RunContext) -> Outcome:
    from theory.samplers import LinearRegressionTask
    from theory.symbolic.ahn23 import check_isotropic_loss

    sym = check_isotropic_loss()
    rows, worst = [], 0.0
    for d, n in ctx.pick([(5, 20), (2, 5)], [(5, 20), (2, 5), (10, 30), (20, 40)]):
        A0 = torch.eye(d, dtype=torch.float64) * n / (n + d + 1)
        theory = d * (d + 1) / (n + d + 1)
        mc, se = _mc_one_layer_loss(A0, LinearRegressionTask(d=d, n=n), ctx.pick(100_000, 1_000_000),
                                    ctx.generator("mc", d, n))
        z = abs(mc - theory) / se
        worst = max(worst, z)
        rows.append({"d": d, "n": n, "theory": theory, "mc": mc, "se": se, "z": z})
    return Outcome(
        checks=[
            Check("sympy_isotropic_closed_form", _bool(sym), ">=", 1,
                  "exact: a* = n/(n+d+1), f(a*) = d(d+1)/(n+d+1) for symbolic n, d"),
            Check("monte_carlo_z", worst, "<=", 3.0, "Monte Carlo within 3 standard errors (fact sheet)"),
        ],
        measured={"per_setting": rows, "d5_n20_theory": 15 / 13},
    )


def _data_inadequacy(ctx: RunContext) -> Outcome:
    import numpy as np

    from empirical.plotting.ahn23 import plot_data_inadequacy
    from theory.symbolic.ahn23 import optimal_preconditioner

    sigma = _paper_sigma(ctx)
    d = sigma.shape[0]
    sinv = torch.linalg.inv(sigma)
    ns = np.unique(np.geomspace(d, 10**5, 25).astype(int)).tolist()
    dist = [float(torch.linalg.norm(optimal_preconditioner(sigma, n) - sinv) / torch.linalg.norm(sinv)) for n in ns]
    # First-order expansion (independent of the sweep): A_0 = (Σ + (Σ + trΣ I)/n)⁻¹
    #   = Σ⁻¹ − Σ⁻¹(Σ + trΣ I)Σ⁻¹/n + O(1/n²), so n·dist → ‖Σ⁻¹ + trΣ Σ⁻²‖_F / ‖Σ⁻¹‖_F.
    c = float(torch.linalg.norm(sinv + torch.trace(sigma) * sinv @ sinv) / torch.linalg.norm(sinv))
    big = [i for i, n in enumerate(ns) if n >= 1000]
    slope = float(np.polyfit(np.log([ns[i] for i in big]), np.log([dist[i] for i in big]), 1)[0])
    decreasing = all(b < a for a, b in zip(dist, dist[1:], strict=False))
    fig = plot_data_inadequacy(ns, dist, c, ctx.figure_path("distance_vs_n"))
    return Outcome(
        checks=[
            Check("distance_strictly_decreasing_in_n", _bool(decreasing), ">=", 1, "monotone approach to Σ⁻¹"),
            Check("loglog_slope_n>=1000", slope, "<=", -0.98, "O(1/n): slope −1 up to the O(1/n²) term"),
            Check("loglog_slope_n>=1000_lower", slope, ">=", -1.02, "O(1/n): slope −1 up to the O(1/n²) term"),
            Check("n_times_distance_at_max_n_vs_first_order_constant",
                  abs(ns[-1] * dist[-1] / c - 1), "<=", 0.01, "second-order term is O(1/n) = 1e-5·c' relative"),
            Check("distance_at_n_eq_d", dist[0], ">=", 0.1,
                  "A_0 ≠ Σ⁻¹ at small n: the correction (Σ + trΣ I)/n is O(1) when n = d"),
        ],
        measured={"n": ns, "relative_distance": dist, "first_order_constant": c, "slope": slope},
        figures=[fig],
        config={"spectrum": PAPER_SPECTRUM},
    )


# -- Theorems 3 and 4, Figure 2 ----------------------------------------------------------------------------


def _thm3_critical(ctx: RunContext) -> Outcome:
    from empirical.plotting.ahn23 import plot_gradient_check
    from theory.landscape import mc_gradient, mc_hessian_eigenvalues, optimal_scalars

    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    d, n = PAPER_D, PAPER_N
    checks, measured, labels, norms, bars = [], {}, [], [], []
    batches, per_batch = ctx.setting("mc_batches", 20, 40), ctx.setting("mc_per_batch", 2000, 20000)
    for L in (2, 3):
        opt = optimal_scalars(L, n, d)
        a = torch.tensor(opt["a"])
        exact_grad = float(abs(opt["grad"]).max())
        for tag, scale in (("critical", 1.0), ("perturbed x1.1", 1.1)):
            A = torch.stack([scale * ai * sinv for ai in a])
            G, SE, loss, loss_se = mc_gradient(A, sigma, n, batches, per_batch, ctx.generator("mc", L, tag))
            gn, bar = float(torch.linalg.norm(G)), float(torch.linalg.norm(SE))
            labels.append(f"L={L} {tag}")
            norms.append(gn)
            bars.append(bar)
            measured[f"L{L}_{tag}"] = {"grad_norm": gn, "mc_error": bar, "z": gn / bar, "loss": loss,
                                       "loss_se": loss_se}
        ev = mc_hessian_eigenvalues(torch.stack([ai * sinv for ai in a]), sigma, n,
                                    ctx.setting("hessian_samples", 4000, 40_000), ctx.generator("hessian", L))
        tol = 1e-6 * float(ev.abs().max())
        measured[f"L{L}_full_hessian_mc"] = {"positive": int((ev > tol).sum()), "negative": int((ev < -tol).sum()),
                                             "near_zero": int((ev.abs() <= tol).sum()), "min": float(ev[0]),
                                             "max": float(ev[-1])}
        measured[f"L{L}_optimal_scalars"] = opt["a"]
        measured[f"L{L}_exact_loss"] = opt["loss"]
        measured[f"L{L}_scalar_hessian_eigenvalues"] = opt["hessian_eigenvalues"]
        checks += [
            Check(f"L{L}_exact_scalar_gradient", exact_grad, "<=", 1e-9,
                  "exact polynomial (Wishart moments) evaluated in float64 after Newton polishing"),
            Check(f"L{L}_full_matrix_gradient_z", measured[f"L{L}_critical"]["z"], "<=", 3.0,
                  "‖MC gradient‖ within 3 Monte-Carlo error bars of 0 at A_l = a_l Σ⁻¹"),
            Check(f"L{L}_perturbed_point_detected_z", measured[f"L{L}_perturbed x1.1"]["z"], ">=", 3.0,
                  "power check: the same test flags a non-critical point (scalars × 1.1)"),
            Check(f"L{L}_scalar_hessian_min_eigenvalue", float(min(opt["hessian_eigenvalues"])), ">", 0.0,
                  "a minimum along the scalar set (positive definite exact Hessian)"),
        ]
    fig = plot_gradient_check(labels, norms, bars, ctx.figure_path("gradient_check"))
    return Outcome(checks=checks, measured=measured, figures=[fig],
                   notes=["Gradient w.r.t. the full matrices A_l (not only the scalars), Monte Carlo over Ŝ with "
                          "x_q and w⋆ ~ N(0, Σ⁻¹) integrated exactly; error bar = ‖per-entry standard error‖.",
                          "Hessian signs: exact along the scalar set (a check), and of the Monte-Carlo Hessian w.r.t. "
                          "all L·d² entries (reported, not checked: eigenvalues near 0 are within noise)."],
                   config={"d": d, "n": n, "mc_batches": batches, "per_batch": per_batch})


def _fig2(ctx: RunContext) -> Outcome:
    from empirical.plotting.ahn23 import plot_scalars
    from theory.landscape import optimal_scalars

    opt = optimal_scalars(3, PAPER_N, PAPER_D)
    a = [float(x) for x in opt["a"]]
    fig = plot_scalars(["a1", "a2", "a3"], a, FIG2_SCALARS, "Figure 2: optimal per-layer steps (sorted)",
                       ctx.figure_path("scalars"))
    return Outcome(
        checks=[Check(f"a{i + 1}_abs_diff", abs(a[i] - FIG2_SCALARS[i]), "<=", 0.02,
                      "the paper's values are read off a figure to 2 decimals (fact sheet ±0.02)") for i in range(3)]
        + [Check("loss_abs_diff", abs(opt["loss"] - FIG2_LOSS), "<=", 0.005, "fact sheet ±0.005")],
        measured={"scalars_sorted": a, "loss": opt["loss"], "paper_scalars": FIG2_SCALARS, "paper_loss": FIG2_LOSS},
        figures=[fig],
        notes=["Exact: E Σ_k Π_l (1 − a_l μ_k)² from Wishart trace moments up to order 6, minimised (order is "
               "irrelevant: the loss is symmetric in the layers)."],
    )


def _gdpp_weights(q: torch.Tensor, b: torch.Tensor, sinv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Theorem 4 form: P_l = [[b_l I, 0], [0, 1]], Q_l = [[q_l Σ⁻¹, 0], [0, 0]] (the last layer's b is irrelevant
    to the prediction and set to 0)."""
    L, d = q.shape[0], sinv.shape[0]
    bb = torch.cat([b, b.new_zeros(L - b.shape[0])])
    I = torch.eye(d, dtype=torch.float64)
    P = torch.stack([torch.block_diag(bb[l] * I, torch.ones(1, 1, dtype=torch.float64)) for l in range(L)])
    Q = torch.stack([torch.block_diag(q[l] * sinv, torch.zeros(1, 1, dtype=torch.float64)) for l in range(L)])
    return P, Q


def _gdpp_errors(q, b, sinv, prompt) -> torch.Tensor:
    from constructions.linear_attention import lsa_forward, read_predictions

    P, Q = _gdpp_weights(q, b, sinv)
    pred = read_predictions(lsa_forward(prompt.to_stacked(), P, Q, prompt.n)[-1], prompt.n)
    return ((pred - prompt.yq) ** 2).reshape(-1)


def _thm4_gdpp(ctx: RunContext) -> Outcome:
    from empirical.plotting.ahn23 import plot_scalars
    from theory.samplers import LinearRegressionTask

    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    task = LinearRegressionTask(d=PAPER_D, n=PAPER_N, sigma=sigma, prior="inverse_cov")
    n_fit, n_eval = ctx.setting("fit_prompts", 6000, 50_000), ctx.setting("eval_prompts", 50_000, 500_000)
    fit_set = task.sample(n_fit, ctx.generator("fit"))
    # The loss is not convex in (q, b): fit from two starts — Theorem 3's optimum (q = −a, b = 0.5), which knows
    # nothing of the paper's values, and the paper's values — and keep the lower fitted loss; both are recorded.
    starts = {"theorem3_optimum": [-0.42, -0.69, -1.71, 0.5, 0.5], "paper_values": [*THM4_Q, *THM4_B]}
    fits = {}
    for name, x0 in starts.items():
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([x], max_iter=ctx.setting("lbfgs_iterations", 100, 500), line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-16)

        def closure(x=x, opt=opt):
            opt.zero_grad()
            loss = _gdpp_errors(x[:3], x[3:], sinv, fit_set).mean()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            fits[name] = {"x": x.detach(), "fit_loss": float(_gdpp_errors(x[:3], x[3:], sinv, fit_set).mean())}
    best = min(fits, key=lambda k: fits[k]["fit_loss"])
    q, b = fits[best]["x"][:3], fits[best]["x"][3:]
    e = torch.cat([_gdpp_errors(q, b, sinv, task.sample(10_000, ctx.generator("eval", i)))
                   for i in range(n_eval // 10_000)])
    loss, se = float(e.mean()), float(e.std() / e.numel() ** 0.5)
    e_paper = torch.cat([_gdpp_errors(torch.tensor(THM4_Q), torch.tensor(THM4_B), sinv,
                                      task.sample(10_000, ctx.generator("eval", i))) for i in range(n_eval // 10_000)])
    task10 = LinearRegressionTask(d=PAPER_D, n=10, sigma=sigma, prior="inverse_cov")
    e10 = _gdpp_errors(torch.tensor(THM4_Q), torch.tensor(THM4_B), sinv, task10.sample(10_000, ctx.generator("n10")))
    fig = plot_scalars(["q1", "q2", "q3", "b1", "b2"], [*q.tolist(), *b.tolist()], [*THM4_Q, *THM4_B],
                       "Theorem 4 (GD++): fitted per-layer scalars", ctx.figure_path("scalars"))
    reason = "'within a few %' of the paper's figure values (fact sheet): 5%"
    checks = [Check(f"q{i + 1}_rel_diff", abs(float(q[i]) / THM4_Q[i] - 1), "<=", 0.05, reason) for i in range(3)]
    checks += [Check(f"b{i + 1}_rel_diff", abs(float(b[i]) / THM4_B[i] - 1), "<=", 0.05, reason) for i in range(2)]
    checks.append(Check("loss_rel_diff", abs(loss / THM4_LOSS - 1), "<=", 0.05, reason))
    return Outcome(
        checks=checks,
        measured={"q": q, "b": b, "loss": loss, "loss_se": se, "paper_q": THM4_Q, "paper_b": THM4_B,
                  "fits": {k: {"q": v["x"][:3], "b": v["x"][3:], "fit_loss": v["fit_loss"]} for k, v in fits.items()},
                  "best_start": best,
                  "paper_loss": THM4_LOSS, "loss_at_paper_weights": float(e_paper.mean()),
                  "loss_at_paper_weights_se": float(e_paper.std() / e_paper.numel() ** 0.5),
                  "loss_at_paper_weights_n10": float(e10.mean())},
        figures=[fig],
        notes=["Q_l = [[q_l Σ⁻¹, 0], [0, 0]] (so q_l < 0 is a descent step), P_l = [[b_l I, 0], [0, 1]]; the x rows "
               "are transformed by (I + q_l b_l Ŝ Σ⁻¹) each layer. Fitted by L-BFGS on a fixed Monte-Carlo sample "
               "from two starts (Theorem 3's optimum, and the paper's values); the lower fitted loss is reported "
               "and evaluated on fresh prompts.",
               "The sheet's n = 10 typo check: loss at the paper's weights with n = 10 is recorded as measured."],
        config={"d": PAPER_D, "n": PAPER_N, "fit_prompts": n_fit, "eval_prompts": n_eval},
    )


# -- trained models -------------------------------------------------------------------------------------------


def _lsa_recipe(ctx: RunContext, layers: int, parameterization: str, task, sigma: dict, cfg_train: dict,
                init_std: float) -> dict:
    """What determines a trained LSA: the settings as given and the seed streams, never the Σ drawn from them
    (``sigma`` describes how Σ is drawn), so the identity is the same under every torch build."""
    spec = {k: v for k, v in task.describe().items() if k != "sigma"}
    return {"claim": ctx.claim_id, "seed": ctx.seed, "profile": ctx.profile, "layers": layers,
            "parameterization": parameterization, "task": {**spec, "sigma": sigma}, "train": cfg_train,
            "init_std": init_std, "streams": {"train": "train", "init": "init", "sigma": "sigma"}}


def _train_lsa(ctx: RunContext, name: str, layers: int, parameterization: str, task, sigma: dict, cfg_train: dict,
               init_std: float):
    """The stored LSA of this recipe (shipped, or trained earlier into ``--out``), else train it now into
    ``<out>/checkpoints/ahn23/`` (resumable)."""
    from empirical.checkpoints import load_or_train
    from empirical.models.lsa import LinearTransformer
    from empirical.train import TrainConfig, train

    cfg = TrainConfig(seed=ctx.child_seed("train"), checkpoint_every=500, **cfg_train)

    def build():
        return LinearTransformer(task.d, layers, parameterization, init_std=init_std,
                                 generator=ctx.generator("init"), device=ctx.device)

    def fit(model, resume):
        res = train(model, lambda g, step: task.sample(cfg.batch_size, g, dtype=torch.float32, device=ctx.device),
                    lambda m, p: ((m(p) - p.yq) ** 2).mean(), cfg, checkpoint_path=resume, progress=ctx.progress,
                    desc=f"{ctx.claim_id}")
        return {"final_loss_mean_last_100": sum(res.losses[-100:]) / len(res.losses[-100:]),
                "losses_every_10": res.losses[::10]}

    recipe = _lsa_recipe(ctx, layers, parameterization, task, sigma, cfg_train, init_std)
    command = (f"icl-verify run {ctx.claim_id} --profile {ctx.profile} --seed {ctx.seed} --retrain "
               f"--out {ctx.out_dir}")
    return load_or_train(paper="ahn23", name=name, recipe=recipe, out_dir=ctx.out_dir, build=build, fit=fit,
                         command=command, seed=ctx.seed, retrain=ctx.retrain, device=ctx.device)


def _eval_loss(model, task, ctx: RunContext, count: int) -> tuple[float, float]:
    errs = []
    with torch.no_grad():
        for i in range(count // 10_000):
            p = task.sample(10_000, ctx.generator("eval", i), dtype=torch.float32, device=ctx.device)
            errs.append(((model(p) - p.yq) ** 2).double().cpu().reshape(-1))
    e = torch.cat(errs)
    return float(e.mean()), float(e.std() / e.numel() ** 0.5)


def _trained_1layer(ctx: RunContext) -> Outcome:
    from empirical.plotting.ahn23 import plot_matrices
    from theory.samplers import LinearRegressionTask, spd_with_condition
    from theory.symbolic.ahn23 import optimal_loss, optimal_preconditioner

    d, n = PAPER_D, PAPER_N
    sigma = ctx.pick(spd_with_condition(d, 4.0, ctx.generator("sigma")), _paper_sigma(ctx))
    task = LinearRegressionTask(d=d, n=n, sigma=sigma)
    train_cfg = ctx.pick(dict(steps=3000, batch_size=500, lr=0.02, schedule="halve", halve_every=1000),
                         dict(steps=30_000, batch_size=20_000, lr=0.02, schedule="halve", halve_every=2000,
                              optimizer="adamw", grad_clip=0.01))
    sigma_recipe = ctx.pick({"kind": "spd_with_condition", "kappa": 4.0}, _PAPER_SIGMA_RECIPE)
    model, info = _train_lsa(ctx, "trained_1layer", 1, "full", task, sigma_recipe, train_cfg, init_std=1e-3)
    P, Q = (w.detach().double().cpu()[0] for w in model.weights())
    A_hat = -P[d, d] * Q[:d, :d]  # invariant under (P, Q) → (γP, Q/γ)
    A0 = optimal_preconditioner(sigma, n)
    rel = float(torch.linalg.norm(A_hat - A0) / torch.linalg.norm(A0))
    # Parts that must vanish at the optimum (P's label row on x, Q's label row), relative to the main block.
    # (Q's last column multiplies the query's zero label and P's x rows never reach the prediction in one
    #  layer: they receive no gradient and are not identifiable, so they are not compared.)
    stray = float(torch.linalg.norm(P[d, :d]) * torch.linalg.norm(Q[:d, :d])
                  + abs(P[d, d]) * torch.linalg.norm(Q[d, :d])) / float(torch.linalg.norm(P[d, d] * Q[:d, :d]))
    loss, se = _eval_loss(model, task, ctx, ctx.pick(100_000, 1_000_000))
    theory = float(optimal_loss(sigma, n))
    fig = plot_matrices({"learned −P[d,d]·Q[:d,:d]": A_hat.numpy(), "theory A_0": A0.numpy(),
                         "Σ⁻¹": torch.linalg.inv(sigma).numpy()}, "1-layer linear transformer",
                        ctx.figure_path("matrices"))
    return Outcome(
        checks=[
            Check("rel_frobenius_learned_vs_A0", rel, "<=", 0.1,
                  "a priori: Adam at this budget leaves ≲10% error in the flattest directions of the quadratic"),
            Check("stray_blocks_relative", stray, "<=", 0.05, "blocks that vanish at the optimum, relative size"),
            Check("loss_excess_over_theory_relative", (loss - theory) / theory, "<=", 0.02,
                  "trained loss within 2% of the global minimum (MC standard error reported)"),
            Check("loss_not_below_theory_z", (theory - loss) / se, "<=", 3.0,
                  "the theory loss is a global minimum: the trained loss cannot be significantly below it"),
        ],
        measured={"A_hat": A_hat, "A0": A0, "loss": loss, "loss_se": se, "theory_loss": theory,
                  "checkpoint": info},
        figures=[fig],
        notes=[ctx.pick("Quick profile (reduced scale): Σ with condition number 4 (random rotation), batch 500, "
                        "3000 Adam steps; the paper's spectrum and schedule run in the full profile.",
                        "Full profile: paper's Σ spectrum and AdamW schedule (batch 20000, lr 0.02 halved every "
                        "2000 steps, 30k steps, clip 0.01).")],
        config={"train": train_cfg, "d": d, "n": n},
    )


def _trained_3layer(ctx: RunContext) -> Outcome:
    from empirical.plotting.ahn23 import plot_matrices
    from theory.landscape import optimal_scalars
    from theory.samplers import LinearRegressionTask

    d, n = PAPER_D, PAPER_N
    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    task = LinearRegressionTask(d=d, n=n, sigma=sigma, prior="inverse_cov")
    train_cfg = ctx.pick(dict(steps=9000, batch_size=250, lr=0.1, schedule="halve", halve_every=3000),
                         dict(steps=30_000, batch_size=20_000, lr=0.02, schedule="halve", halve_every=2000,
                              optimizer="adamw", grad_clip=0.01))
    # Layers start apart (init std 0.2) in the quick profile: from a near-zero start the three layers move
    # together and the reduced budget ends near the symmetric saddle (measured: loss 0.25 after 3000 steps).
    model, info = _train_lsa(ctx, "trained_3layer", 3, "gd", task, _PAPER_SIGMA_RECIPE, train_cfg,
                             init_std=ctx.pick(0.2, 1e-4))
    A = model.A.detach().double().cpu()
    scal = [float((A[l] * sinv).sum() / (sinv * sinv).sum()) for l in range(3)]
    resid = [float(torch.linalg.norm(A[l] - scal[l] * sinv) / torch.linalg.norm(A[l])) for l in range(3)]
    opt = optimal_scalars(3, n, d)
    diff = max(abs(s - o) for s, o in zip(sorted(scal), opt["a"], strict=True))
    loss, se = _eval_loss(model, task, ctx, ctx.pick(100_000, 1_000_000))
    fig = plot_matrices({f"A_{l + 1}Σ (learned)": (A[l] @ sigma).numpy() for l in range(3)},
                        "3-layer linear transformer: A_l Σ should be a_l I", ctx.figure_path("matrices"))
    return Outcome(
        checks=[
            Check("max_rel_residual_off_scalar_set", max(resid), "<=", 0.1,
                  "a priori 10%: A_l within 10% (Frobenius) of its best multiple of Σ⁻¹"),
            Check("max_abs_diff_sorted_scalars_vs_theory", diff, "<=", 0.1,
                  "a priori 0.1 in step size (the scalar loss is flat: Hessian eigenvalue 0.37)"),
            Check("loss_excess_over_theory", loss - opt["loss"], "<=", 0.02,
                  "a priori 0.02 above the exact optimum 0.1336 (MC standard error reported)"),
        ],
        measured={"scalars": scal, "residuals": resid, "theory_scalars": opt["a"], "loss": loss, "loss_se": se,
                  "theory_loss": opt["loss"], "checkpoint": info},
        figures=[fig],
        notes=["Theorem 3 parameterisation: P_l = [[0,0],[0,1]] fixed, A_l (full d×d) trained.",
               ctx.pick("Quick profile (reduced scale): batch 250, 9000 Adam steps (lr 0.1 halved every 3000), "
                        "initialisation std 0.2 to separate the layers.",
                        "Full profile: batch 20000, AdamW, lr 0.02 halved every 2000 steps, 30k steps.")],
        config={"train": train_cfg, "d": d, "n": n},
    )


CLAIMS = [
    Claim(
        id="ahn23.lemma1",
        paper="ahn23",
        statement="L linear self-attention layers with P=[[0,0],[0,1]], Q=-[[A_l,0],[0,0]] implement L steps of "
        "preconditioned GD on the in-context least-squares loss.",
        source="Lemma 1 (Section 3)",
        evidence=("construction",),
        runner=_lemma1,
        acceptance="<= 1e-12 relative per layer in float64, symmetric and non-symmetric A; convention stated",
    ),
    Claim(
        id="ahn23.thm1",
        paper="ahn23",
        statement="The single-layer optimum is one preconditioned GD step with A_0 = ((n+1)/n Σ + tr(Σ)/n I)^-1.",
        source="Theorem 1",
        evidence=("symbolic", "numerical"),
        runner=_thm1,
        acceptance="sympy stationary point = A_0 (d in {1,2}); numerical minimiser within 1e-8",
    ),
    Claim(
        id="ahn23.thm1_isotropic",
        paper="ahn23",
        statement="For Σ = I the optimal one-layer loss is d(d+1)/(n+d+1) (15/13 at d=5, n=20).",
        source="Theorem 1 (isotropic case)",
        evidence=("symbolic", "numerical"),
        runner=_thm1_isotropic,
        acceptance="closed form exact; Monte Carlo within 3 standard errors",
    ),
    Claim(
        id="ahn23.data_inadequacy",
        paper="ahn23",
        statement="The optimal preconditioner differs from Σ^-1 at small n and tends to it as O(1/n).",
        source="Theorem 1, discussion",
        evidence=("numerical",),
        runner=_data_inadequacy,
        acceptance="distance decreasing in n, log-log slope -1",
    ),
    Claim(
        id="ahn23.thm3_critical",
        paper="ahn23",
        statement="For L in {2,3}, the population-loss gradient w.r.t. all A_l vanishes at A_l = a_l Σ^-1 with the "
        "optimal scalars.",
        source="Theorem 3",
        evidence=("landscape",),
        runner=_thm3_critical,
        acceptance="gradient norm within 3 Monte-Carlo error bars; perturbed point detected",
    ),
    Claim(
        id="ahn23.fig2",
        paper="ahn23",
        statement="For d=5, n=20, L=3 the optimal per-layer steps are about {0.42, 0.69, 1.71} with loss 0.134.",
        source="Figure 2",
        evidence=("numerical",),
        runner=_fig2,
        acceptance="scalars within 0.02, loss within 0.005",
    ),
    Claim(
        id="ahn23.thm4_gdpp",
        paper="ahn23",
        statement="With P_l = [[b_l I,0],[0,1]] the 3-layer optimum has q ≈ (-0.37,-2.39,-9.48), b ≈ (0.91,0.56) and "
        "loss ≈ 5.6e-4 (d=5, n=20).",
        source="Theorem 4, Figures 4/5",
        evidence=("numerical",),
        runner=_thm4_gdpp,
        acceptance="each scalar and the loss within 5%",
    ),
    Claim(
        id="ahn23.trained_1layer",
        paper="ahn23",
        statement="A 1-layer linear transformer trained with Adam (all of P, Q) reaches the Theorem 1 optimum.",
        source="Theorem 1, Section 5",
        evidence=("trained",),
        runner=_trained_1layer,
        acceptance="relative Frobenius distance of -P[d,d]Q[:d,:d] to A_0 <= 0.1; loss within 2% of theory",
    ),
    Claim(
        id="ahn23.trained_3layer",
        paper="ahn23",
        statement="A 3-layer linear transformer trained with Adam reaches A_l = a_l Σ^-1 with the optimal scalars.",
        source="Theorem 3, Figure 2",
        evidence=("trained",),
        runner=_trained_3layer,
        acceptance="A_l within 10% of the scalar set; sorted scalars within 0.1; loss within 0.02 of 0.1336",
    ),
]
