"""ahn23 claim runners — Ahn, Cheng, Daneshmand, Sra (NeurIPS 2023), fact sheet ``shared/papers/ahn23.md``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from empirical.registry.core import Check, Control, Outcome, RunContext

if TYPE_CHECKING:
    import numpy as np

#: A scalar function of a d×d matrix (float64), differentiable by autograd.
MatrixFunction = Callable[[torch.Tensor], torch.Tensor]


#: Relative agreement of the construction with preconditioned GD. Both compute the same sums in another
#: order; over ≤ 6 layers with moderate preconditioners round-off stays below 1e-12 (fact sheet's bound).
LEMMA1_TOL = 1e-12


def lemma1(ctx: RunContext) -> Outcome:
    from constructions.pgd import layerwise_deviation
    from theory.samplers import LinearRegressionTask, spd_with_condition

    g = ctx.generator("prompts")
    settings = ctx.setting(
        "settings",
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


# -- Monte-Carlo losses (every statistical check of this paper, and its controls) ------------------------------

#: A Monte-Carlo effect counts when the estimate ± Z_BAND standard errors lies wholly on the claimed side, and an
#: agreement when the estimate is within Z_BAND standard errors (fact sheet: "within 3 standard errors"). Fixed
#: a priori.
Z_BAND = 3.0
#: Prompts per forward pass in the Monte-Carlo loops (memory only: results do not depend on it).
_CHUNK = 10_000


def _query_integrated_losses(P: torch.Tensor, Q: torch.Tensor, prompt, sigma: torch.Tensor) -> torch.Tensor:
    """Per-prompt loss E_{x_q}[(ŷ − x_qᵀw⋆)²] of the LSA with weights P, Q (L, d+1, d+1), x_q ~ N(0, Σ) integrated
    exactly: (B,) float64, differentiable in P and Q.

    Queries are never keys or values (M = diag(I_n, 0) in the layer rule, eq. (2.2); fact sheet §1), so ŷ is
    linear in x_q, ŷ = x_qᵀu, with u read at the d basis queries; hence E_{x_q}(x_qᵀ(u − w⋆))² = (u − w⋆)ᵀΣ(u − w⋆).
    Integrating x_q removes its share of the Monte-Carlo variance; (X, w⋆) stay sampled.
    """
    from constructions.linear_attention import lsa_forward
    from constructions.pgd import read_weights, with_basis_queries

    p = with_basis_queries(prompt)
    u = read_weights(lsa_forward(p.to_stacked(), P, Q, p.n)[-1], p.n, p.d)  # (B, d)
    err = u - prompt.meta["w"].to(u.dtype)
    return torch.einsum("bi,ij,bj->b", err, sigma.to(err.dtype), err)


def _lsa_losses(weights: list[tuple[torch.Tensor, torch.Tensor]], task, count: int,
                g: torch.Generator) -> torch.Tensor:
    """Per-prompt losses (:func:`_query_integrated_losses`) of k LSAs [(P, Q), ...] (each (L, d+1, d+1) float64) on
    the same ``count`` fresh prompts of ``task`` (fixed Σ) from ``g``: (k, count)."""
    out = []
    with torch.no_grad():
        for i in range(0, count, _CHUNK):
            prompt = task.sample(min(_CHUNK, count - i), g)
            out.append(torch.stack([_query_integrated_losses(P, Q, prompt, task.sigma) for P, Q in weights]))
    return torch.cat(out, dim=1)


def _mean_se(x: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error of the mean) of i.i.d. samples x (N,)."""
    return float(x.mean()), float(x.std() / x.numel() ** 0.5)


def _control_variate_mean(x: torch.Tensor, c: torch.Tensor, c_mean: float) -> tuple[float, float, float]:
    """Mean of x (N,) with c (N,), drawn on the same prompts with a known mean ``c_mean``, as a control variate:
    x̄ − β̂(c̄ − c_mean), β̂ = Cov(x, c)/Var(c), and its standard error (that of the residual x − β̂c), and β̂.

    Never worse than x̄ alone (to O(1/N)); exact, with standard error 0, when x = c.
    """
    cc = c - c.mean()
    var = float(cc @ cc)
    beta = float((x - x.mean()) @ cc) / var if var > 0 else 0.0
    mean, se = _mean_se(x - beta * c)  # x − βc, not x − β(c − c_mean): exactly 0 when x = c (β = 1), no round-off
    return mean + beta * c_mean, se, beta


def _loss_with_control_variate(weights: tuple[torch.Tensor, torch.Tensor], reference: tuple[torch.Tensor, torch.Tensor],
                               reference_loss: float, task, count: int, g: torch.Generator) -> dict:
    """Population loss of the LSA ``weights`` (P, Q: (L, d+1, d+1)) on ``count`` prompts, with the per-prompt loss of
    ``reference`` (weights whose population loss ``reference_loss`` is known exactly: a theory optimum) on the same
    prompts as control variate (:func:`_control_variate_mean`). The per-prompt loss is heavy-tailed (rare Ŝ with
    large eigenvalues); the reference shares those prompts, so near it most of the variance cancels.

    Returns {"loss", "loss_se" (control variate), "beta", "plain_loss", "plain_se" (sample mean alone)}.
    """
    return _control_variate_summary(*_lsa_losses([weights, reference], task, count, g), reference_loss)


def _control_variate_summary(x: torch.Tensor, c: torch.Tensor, reference_loss: float) -> dict:
    """Per-prompt losses x (N,) with a reference's c (N,) on the same prompts, whose mean is ``reference_loss``:
    {"loss", "loss_se" (control variate, :func:`_control_variate_mean`), "beta", "plain_loss", "plain_se"}."""
    loss, se, beta = _control_variate_mean(x, c, reference_loss)
    plain, plain_se = _mean_se(x)
    return {"loss": loss, "loss_se": se, "beta": beta, "plain_loss": plain, "plain_se": plain_se}


def _lsa_loss(P: torch.Tensor, Q: torch.Tensor, task, count: int, g: torch.Generator) -> tuple[float, float]:
    """Population loss of one LSA on ``task``: (mean, standard error) over ``count`` prompts (:func:`_lsa_losses`)."""
    return _mean_se(_lsa_losses([(P, Q)], task, count, g)[0])


def _band(value: float, se: float) -> tuple[float, float]:
    """value ± Z_BAND standard errors."""
    return value - Z_BAND * se, value + Z_BAND * se


def _abs_band(lo: float, hi: float) -> tuple[float, float]:
    """The range of |x| over x ∈ [lo, hi]."""
    if lo <= 0.0 <= hi:
        return 0.0, max(-lo, hi)
    return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))


def _agreement_check(name: str, mc: float, se: float, value: float) -> Check:
    """A Monte-Carlo estimate (mean, standard error) against a value it should equal: |mc − value| / se ≤ Z_BAND."""
    return Check(name, abs(mc - value) / se, "<=", Z_BAND,
                 "Monte Carlo within 3 standard errors of the value (fact sheet); an agreement test, which passes "
                 "on noise alone: its negative control shows that it can fail")


# -- Theorem 1 ----------------------------------------------------------------------------------------------

#: BFGS gradient tolerance (‖∇f‖_∞) of the Theorem-1 minimisation; it usually stops earlier, on its line search.
BFGS_GTOL = 1e-13
EPS64 = float(torch.finfo(torch.float64).eps)


def _isserlis_S_squared(sigma: torch.Tensor, n: int) -> torch.Tensor:
    """E[ŜŜ] from the fourth-moment tensor E[x_i x_j x_k x_l] = Σ_ij Σ_kl + Σ_ik Σ_jl + Σ_il Σ_jk (numpy-free,
    independent of the closed form): E[ŜŜ]_il = (1/n) Σ_j E[x_i x_j x_j x_l] + ((n−1)/n) (Σ²)_il."""
    S = sigma
    m4 = (torch.einsum("ij,kl->ijkl", S, S) + torch.einsum("ik,jl->ijkl", S, S) + torch.einsum("il,jk->ijkl", S, S))
    return torch.einsum("ijjl->il", m4) / n + (n - 1) / n * S @ S


def _gd_loss(A: torch.Tensor, task, count: int, g: torch.Generator) -> tuple[float, float]:
    """Monte-Carlo loss of the one-layer construction w ← w − A∇R(w) (Lemma 1, suite convention), A (d, d)."""
    from constructions.pgd import build_preconditioned_gd

    return _lsa_loss(*build_preconditioned_gd([A]), task, count, g)


def _infinite_n_loss(A: torch.Tensor, sigma: torch.Tensor) -> float:
    """The loss formula with E[ŜŜ] replaced by its n → ∞ limit Σ²: tr(AᵀΣAΣ²) − 2tr(ΣAΣ) + trΣ. It drops the term
    tr(AᵀΣA(Σ² + trΣ·Σ))/n > 0 of the exact formula, so it is too low for every A ≠ 0."""
    S = sigma
    return float(torch.trace(A.T @ S @ A @ S @ S) - 2 * torch.trace(S @ A @ S) + torch.trace(S))


def _loss_formula_trial(tag: str, A0: torch.Tensor, value: float, task, count: int,
                        ctx: RunContext) -> tuple[Check, Check, Check, dict]:
    """The Monte-Carlo check of the loss formula at A_0, and the same check on its two controls.

    claim: MC of the construction at A_0 against the closed form ``value`` = f(A_0);
    positive: MC at A = 0 against tr Σ (ŷ = 0, so the loss is E(x_qᵀw⋆)² = tr Σ for w⋆ ~ N(0, I), by construction);
    negative: the claim's MC at A_0 against the n → ∞ formula (:func:`_infinite_n_loss`, wrong by construction).
    Returns (claim check, positive check, negative check, measured).
    """
    name = f"loss_formula_vs_monte_carlo_z_{tag}"
    sigma = task.sigma
    mc, se = _gd_loss(A0, task, count, ctx.generator("mc", tag))
    mc0, se0 = _gd_loss(torch.zeros_like(A0), task, count, ctx.generator("mc_zero", tag))
    wrong = _infinite_n_loss(A0, sigma)
    measured = {"mc_loss": mc, "mc_se": se, "closed_form_loss": value, "z": abs(mc - value) / se,
                "zero_preconditioner": {"mc_loss": mc0, "mc_se": se0, "trace_sigma": float(torch.trace(sigma))},
                "infinite_n_formula": {"value": wrong, "z": abs(mc - wrong) / se}}
    return (_agreement_check(name, mc, se, value), _agreement_check(name, mc0, se0, float(torch.trace(sigma))),
            _agreement_check(name, mc, se, wrong), measured)


def _loss_formula_controls(positive: list[Check], negative: list[Check]) -> list[Control]:
    """The controls of the Monte-Carlo loss-formula checks (:func:`_loss_formula_trial`)."""
    return [
        Control("zero_preconditioner_loss", "positive",
                "The same Monte Carlo (construction, prompts, estimator, 3 standard errors) at A = 0, where ŷ = 0 "
                "and the loss is tr Σ by construction.", positive),
        Control("infinite_n_loss_formula", "negative",
                "The claim's Monte Carlo at A_0 against the n → ∞ formula (E[ŜŜ] → Σ²), which omits a positive "
                "O(1/n) term and is wrong by construction.", negative),
    ]


def _thm1_objective(sigma: torch.Tensor, n: int, G: torch.Tensor) -> MatrixFunction:
    """A ↦ f(A) − tr(GᵀA), f the exact population loss (:func:`theory.symbolic.ahn23.population_loss`). G = 0 is
    the claim's objective; G = ∇f(B) plants the minimiser at B (same Hessian, gradient zero at B)."""
    from theory.symbolic.ahn23 import population_loss

    return lambda A: population_loss(A, sigma, n) - (G * A).sum()


def _thm1_roundoff_scale(A: torch.Tensor, sigma: torch.Tensor, n: int, G: torch.Tensor) -> float:
    """Σ|terms| of f(A) − tr(GᵀA) = tr(AᵀΣA E[ŜŜ]) − 2tr(ΣAΣ) + trΣ − tr(GᵀA): evaluating it in float64 carries
    round-off of about ε times this."""
    from theory.symbolic.ahn23 import expected_S_squared

    S, M = sigma, expected_S_squared(sigma, n)
    terms = [torch.trace(A.T @ S @ A @ M), 2 * torch.trace(S @ A @ S), torch.trace(S), (G * A).sum()]
    return float(sum(abs(t) for t in terms))


def _locate_minimiser(f: MatrixFunction, scale: Callable[[torch.Tensor], float],
                      x0: np.ndarray) -> tuple[torch.Tensor, dict]:
    """Minimise the quadratic f on d×d matrices by BFGS from x0 (d², numpy), and the accuracy that stop allows.

    scipy's BFGS stops when ‖∇f‖_∞ ≤ BFGS_GTOL, or earlier when its Wolfe line search can no longer see f decrease
    ("precision loss"), i.e. once f − f⋆ is at the round-off δf = ε·scale(A) of evaluating f. For a quadratic,
    f − f⋆ = ½ΔᵀHΔ ≥ ½λ_min(H)‖Δ‖²_F and ‖Δ‖_F ≤ ‖∇f‖_F/λ_min(H), so the first stop locates the minimiser to
    d·gtol/λ_min and the second to √(2δf/λ_min): the larger, relative to ‖A‖_F, is the resolution.

    Returns:
        (minimiser (d, d), record: resolution, the a-posteriori bound ‖∇f(A)‖_F/(λ_min‖A‖_F), λ_min, stop status)
    """
    import math

    from scipy.optimize import minimize

    d = int(round(len(x0) ** 0.5))

    def fg(v):
        A = torch.tensor(v, dtype=torch.float64).reshape(d, d).requires_grad_(True)
        val = f(A)
        (gr,) = torch.autograd.grad(val, A)
        return float(val.detach()), gr.reshape(-1).numpy()

    res = minimize(fg, x0, jac=True, method="BFGS", options={"gtol": BFGS_GTOL, "maxiter": 20_000})
    A = torch.tensor(res.x).reshape(d, d)
    H = torch.autograd.functional.hessian(lambda v: f(v.reshape(d, d)), A.reshape(-1))
    lam = float(torch.linalg.eigvalsh(0.5 * (H + H.T))[0])
    norm = float(torch.linalg.norm(A))
    resolution = max(math.sqrt(2 * EPS64 * scale(A) / lam), d * BFGS_GTOL / lam) / norm
    grad = float(torch.linalg.norm(torch.tensor(fg(res.x)[1])))
    return A, {"resolution": resolution, "a_posteriori_bound": grad / lam / norm, "lambda_min_hessian": lam,
               "status": int(res.status), "message": str(res.message), "iterations": int(res.nit)}


def _thm1_minimiser(sigma: torch.Tensor, n: int, G: torch.Tensor, x0: np.ndarray) -> tuple[torch.Tensor, dict]:
    """:func:`_locate_minimiser` on A ↦ f(A) − tr(GᵀA) (:func:`_thm1_objective`) with its round-off scale."""
    return _locate_minimiser(_thm1_objective(sigma, n, G), lambda A: _thm1_roundoff_scale(A, sigma, n, G), x0)


def _minimiser_check(name: str, A_min: torch.Tensor, candidate: torch.Tensor, resolution: float) -> Check:
    """‖A_min − candidate‖_F / ‖A_min‖_F within the resolution of the minimisation (:func:`_locate_minimiser`)."""
    return Check(name, float(torch.linalg.norm(A_min - candidate) / torch.linalg.norm(A_min)), "<=", resolution,
                 "resolution of the BFGS stop on this quadratic: max(√(2ε·Σ|terms of f|/λ_min(H)), d·gtol/λ_min) / "
                 "‖A‖_F (the line search cannot resolve f below its round-off; _locate_minimiser)")


def thm1(ctx: RunContext) -> Outcome:
    from theory.samplers import LinearRegressionTask, spd_with_condition
    from theory.symbolic.ahn23 import (
        check_stationary_point,
        expected_S_squared,
        optimal_preconditioner,
        population_loss,
    )

    sym = {d: check_stationary_point(d) for d in (1, 2)}
    g = ctx.generator("sigma")
    rows, checks = [], []
    planted, inverse, zero_loss, infinite_n = [], [], [], []
    worst_moment = 0.0
    settings = ctx.setting("settings", [(3, 10, 10.0), (5, 20, 100.0)],
                           [(3, 10, 10.0), (5, 20, 100.0), (8, 12, 1000.0), (10, 40, 10.0)])
    for d, n, cond in ctx.track(settings, "numerical settings"):
        tag = f"d{d}_n{n}"
        sigma = spd_with_condition(d, cond, g)
        A0 = optimal_preconditioner(sigma, n)
        moment = float(torch.linalg.norm(_isserlis_S_squared(sigma, n) - expected_S_squared(sigma, n))
                       / torch.linalg.norm(expected_S_squared(sigma, n)))
        worst_moment = max(worst_moment, moment)
        x0 = ctx.rng("start", d).normal(size=d * d)
        zero = torch.zeros(d, d, dtype=torch.float64)
        A_min, rec = _thm1_minimiser(sigma, n, zero, x0)
        # positive control: the same quadratic with its minimiser planted at a random B of A_0's size
        B = torch.tensor(ctx.rng("planted", d).normal(size=(d, d)))
        B = B * torch.linalg.norm(A0) / torch.linalg.norm(B)
        Bv = B.clone().requires_grad_(True)
        (G,) = torch.autograd.grad(population_loss(Bv, sigma, n), Bv)
        B_min, rec_B = _thm1_minimiser(sigma, n, G, x0)
        name = f"numerical_minimizer_vs_A0_rel_err_{tag}"
        checks.append(_minimiser_check(name, A_min, A0, rec["resolution"]))
        planted.append(_minimiser_check(name, B_min, B, rec_B["resolution"]))
        inverse.append(_minimiser_check(name, A_min, torch.linalg.inv(sigma), rec["resolution"]))
        task = LinearRegressionTask(d=d, n=n, sigma=sigma)
        claim, pos, neg, mc = _loss_formula_trial(tag, A0, float(population_loss(A0, sigma, n)), task,
                                                  ctx.setting("mc_prompts", 40_000, 400_000), ctx)
        checks.append(claim)
        zero_loss.append(pos)
        infinite_n.append(neg)
        rows.append({"d": d, "n": n, "cond": cond, "moment_rel_err": moment,
                     "minimizer_rel_err": float(torch.linalg.norm(A_min - A0) / torch.linalg.norm(A_min)),
                     "minimizer": rec, "planted_minimizer": rec_B, **mc})
    return Outcome(
        checks=[
            Check("sympy_stationary_point_equals_A0_d1", _bool(sym[1]), ">=", 1, "exact symbolic identity"),
            Check("sympy_stationary_point_equals_A0_d2", _bool(sym[2]), ">=", 1, "exact symbolic identity"),
            Check("E[SS]_closed_form_vs_Isserlis_rel_err", worst_moment, "<=", 1e-12,
                  "float64 round-off of d^4-term sums"),
            *checks,
        ],
        controls=[
            Control("planted_minimiser", "positive",
                    "The same BFGS run and resolution on f(A) − tr(∇f(B)ᵀA), whose minimiser is a random B (of "
                    "A_0's norm) by construction.", planted),
            Control("inverse_covariance_as_minimiser", "negative",
                    "The claim's numerical minimiser compared with Σ⁻¹ (the n → ∞ preconditioner), which is not the "
                    "finite-n minimiser by construction.", inverse),
            *_loss_formula_controls(zero_loss, infinite_n),
        ],
        measured={"symbolic": {f"d={k}": v for k, v in sym.items()}, "per_setting": rows},
        notes=["Symbolic: sympy derives f(A) = tr E[Ŝ AᵀΣA Ŝ] − 2tr(ΣAΣ) + trΣ entrywise from Isserlis with "
               "symbolic Σ (d×d symmetric), A (d×d) and n, and solves ∇f = 0; the solution equals "
               "((n+1)/n Σ + trΣ/n I)⁻¹ identically.",
               "The fact sheet's 1e-8 for the numerical minimiser is below what BFGS can resolve on these quadratics "
               "(its line search stops once f − f⋆ reaches f's round-off, √ε-level in A): the tolerance is that "
               "resolution, per setting (check thresholds).",
               "Monte Carlo integrates x_q exactly and samples (X, w⋆).",
               "The minimisation is over the preconditioner A of the GD-form (P, Q); the claim that the global "
               "optimum over all (P, Q) has this form is tested by training (ahn23.trained_1layer)."],
        config={"settings (d, n, cond)": settings, "bfgs_gtol": BFGS_GTOL},
    )


def thm1_isotropic(ctx: RunContext) -> Outcome:
    from theory.samplers import LinearRegressionTask
    from theory.symbolic.ahn23 import check_isotropic_loss

    sym = check_isotropic_loss()
    rows, checks, zero_loss, infinite_n = [], [], [], []
    for d, n in ctx.setting("settings", [(5, 20), (2, 5)], [(5, 20), (2, 5), (10, 30), (20, 40)]):
        A0 = torch.eye(d, dtype=torch.float64) * n / (n + d + 1)
        theory = d * (d + 1) / (n + d + 1)
        task = LinearRegressionTask(d=d, n=n, sigma=torch.eye(d, dtype=torch.float64))
        claim, pos, neg, mc = _loss_formula_trial(f"d{d}_n{n}", A0, theory, task,
                                                  ctx.setting("mc_prompts", 100_000, 1_000_000), ctx)
        checks.append(claim)
        zero_loss.append(pos)
        infinite_n.append(neg)
        rows.append({"d": d, "n": n, **mc})
    return Outcome(
        checks=[
            Check("sympy_isotropic_closed_form", _bool(sym), ">=", 1,
                  "exact: a* = n/(n+d+1), f(a*) = d(d+1)/(n+d+1) for symbolic n, d"),
            *checks,
        ],
        controls=_loss_formula_controls(zero_loss, infinite_n),
        measured={"per_setting": rows, "d5_n20_theory": 15 / 13},
        notes=["Monte Carlo integrates x_q exactly and samples (X, w⋆)."],
    )


def data_inadequacy(ctx: RunContext) -> Outcome:
    import numpy as np

    from empirical.papers.ahn23.plots import plot_data_inadequacy
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


@functools.lru_cache(maxsize=8)
def _optimal_scalars(L: int, n: int, d: int) -> dict:
    """:func:`theory.landscape.optimal_scalars`, computed once per (L, n, d) (sympy; a second or two each)."""
    from theory.landscape import optimal_scalars

    return optimal_scalars(L, n, d)


def _gradient_check(name: str, A: torch.Tensor, sigma: torch.Tensor, n: int, batches: int, per_batch: int,
                    g: torch.Generator) -> tuple[Check, dict]:
    """Is the population gradient w.r.t. all entries of A (L, d, d) zero? Monte Carlo over Ŝ with x_q and w⋆ ~ N(0, Σ⁻¹)
    integrated exactly (:func:`theory.landscape.mc_gradient`): ‖G‖ within Z_BAND error bars ‖per-entry SE‖ of 0."""
    from theory.landscape import mc_gradient

    G, SE, loss, loss_se = mc_gradient(A, sigma, n, batches, per_batch, g)
    gn, bar = float(torch.linalg.norm(G)), float(torch.linalg.norm(SE))
    check = Check(name, gn / bar, "<=", Z_BAND,
                  "‖MC gradient‖ within 3 Monte-Carlo error bars (‖per-entry standard error‖) of 0; an agreement test, "
                  "which passes on noise alone: the negative controls show that it can fail")
    return check, {"grad_norm": gn, "mc_error": bar, "z": gn / bar, "loss": loss, "loss_se": loss_se}


def _scalar_gradient_norm(a: list[float], n: int, d: int, h: float = 1e-5) -> float:
    """‖∇_a f‖ of the exact scalar loss (Wishart moments) by central differences (error O(h²) on a polynomial)."""
    import numpy as np

    from theory.landscape import scalar_loss

    e = np.eye(len(a)) * h
    return float(np.linalg.norm([(scalar_loss(np.add(a, ei), n, d) - scalar_loss(np.subtract(a, ei), n, d)) / (2 * h)
                                 for ei in e]))


def thm3_critical(ctx: RunContext) -> Outcome:
    from empirical.papers.ahn23.plots import plot_gradient_check
    from theory.landscape import mc_hessian_eigenvalues

    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    d, n = PAPER_D, PAPER_N
    checks, controls, measured, plotted = [], [], {}, {}
    batches, per_batch = ctx.setting("mc_batches", 20, 40), ctx.setting("mc_per_batch", 2000, 20000)

    def trial(L: int, scalars, tag: str) -> Check:
        check, m = _gradient_check(f"L{L}_full_matrix_gradient_z", torch.stack([a * sinv for a in scalars]), sigma,
                                   n, batches, per_batch, ctx.generator("mc", L, tag))
        measured[f"L{L}_{tag}"] = m
        plotted[f"L={L} {tag}"] = (m["grad_norm"], m["mc_error"])
        return check

    # positive control: one layer, A = a Σ⁻¹ with a = n/(n+d+1). By Isserlis, E[ŜΣ⁻¹Ŝ] = ((n+d+1)/n)Σ, so
    # ∇f = −2Σ + 2((n+d+1)/n)ΣAΣ vanishes there exactly (independent of the Wishart-moment machinery).
    a1 = n / (n + d + 1)
    measured["L1_closed_form_scalar"] = a1
    measured["L1_optimal_scalars_cross_check"] = [float(x) for x in _optimal_scalars(1, n, d)["a"]]
    controls.append(Control("one_layer_critical_point", "positive",
                            f"L = 1 at A = (n/(n+d+1))Σ⁻¹ = {a1:.4f}Σ⁻¹, where the gradient vanishes exactly "
                            "(Isserlis: E[ŜΣ⁻¹Ŝ] = ((n+d+1)/n)Σ); the same Monte-Carlo gradient test.",
                            [trial(1, [a1], "critical")]))
    for L in (2, 3):
        opt = _optimal_scalars(L, n, d)
        a = [float(x) for x in opt["a"]]
        checks.append(trial(L, a, "critical"))
        # negative control: scalars × 1.1, off the critical set (the exact scalar gradient there is reported)
        pert = [1.1 * x for x in a]
        exact_pert = _scalar_gradient_norm(pert, n, d)
        controls.append(Control(f"perturbed_L{L}", "negative",
                                f"L = {L} at A_l = 1.1·a_l Σ⁻¹, not critical: the exact scalar-loss gradient there has "
                                f"norm {exact_pert:.3g}; the same Monte-Carlo gradient test.",
                                [trial(L, pert, "perturbed x1.1")], {"exact_scalar_gradient_norm": exact_pert}))
        ev = mc_hessian_eigenvalues(torch.stack([x * sinv for x in a]), sigma, n,
                                    ctx.setting("hessian_samples", 4000, 40_000), ctx.generator("hessian", L))
        tol = 1e-6 * float(ev.abs().max())
        measured[f"L{L}_full_hessian_mc"] = {"positive": int((ev > tol).sum()), "negative": int((ev < -tol).sum()),
                                             "near_zero": int((ev.abs() <= tol).sum()), "min": float(ev[0]),
                                             "max": float(ev[-1])}
        measured[f"L{L}_optimal_scalars"] = a
        measured[f"L{L}_exact_loss"] = opt["loss"]
        measured[f"L{L}_scalar_hessian_eigenvalues"] = opt["hessian_eigenvalues"]
        checks += [
            Check(f"L{L}_exact_scalar_gradient", float(abs(opt["grad"]).max()), "<=", 1e-9,
                  "exact polynomial (Wishart moments) evaluated in float64 after Newton polishing"),
            Check(f"L{L}_scalar_hessian_min_eigenvalue", float(min(opt["hessian_eigenvalues"])), ">", 0.0,
                  "a minimum along the scalar set (positive definite exact Hessian)"),
        ]
    fig = plot_gradient_check(list(plotted), [v[0] for v in plotted.values()], [v[1] for v in plotted.values()],
                              ctx.figure_path("gradient_check"))
    return Outcome(checks=checks, controls=controls, measured=measured, figures=[fig],
                   notes=["Gradient w.r.t. the full matrices A_l (not only the scalars), Monte Carlo over Ŝ with "
                          "x_q and w⋆ ~ N(0, Σ⁻¹) integrated exactly; error bar = ‖per-entry standard error‖.",
                          "Hessian signs: exact along the scalar set (a check), and of the Monte-Carlo Hessian w.r.t. "
                          "all L·d² entries (reported, not checked: eigenvalues near 0 are within noise)."],
                   config={"d": d, "n": n, "mc_batches": batches, "per_batch": per_batch})


def fig2(ctx: RunContext) -> Outcome:
    from empirical.papers.ahn23.plots import plot_scalars
    opt = _optimal_scalars(3, PAPER_N, PAPER_D)
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
               "irrelevant: the loss is symmetric in the layers). No Monte Carlo, so no controls."],
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


def _gdpp_statistics(prompt, sigma: torch.Tensor) -> torch.Tensor:
    """What the GD++ loss of a prompt depends on once x_q and w⋆ are integrated exactly (noiseless labels, w⋆ ~
    N(0, Σ⁻¹): :func:`theory.algorithms.gdpp.gdpp_task_integrated_losses`): the eigenvalues (N, d) of
    Σ^{-1/2} Ŝ Σ^{-1/2}."""
    from theory.algorithms.gdpp import gdpp_spectral_statistics, gdpp_statistics

    spec = prompt.meta["task"]
    if spec["noise"] or spec["prior"] != "inverse_cov":
        raise ValueError("prompt: the integrated GD++ loss needs noiseless labels and w⋆ ~ N(0, Σ⁻¹) (Theorem 4's "
                         f"task), got noise={spec['noise']!r}, prior={spec['prior']!r}")
    return gdpp_spectral_statistics(*gdpp_statistics(prompt), prompt.meta["w"], sigma)[0]


def _gdpp_eigenvalues(task, count: int, g: torch.Generator) -> torch.Tensor:
    """:func:`_gdpp_statistics` of ``count`` fresh prompts of ``task`` from ``g``, sampled in chunks: (count, d)."""
    return torch.cat([_gdpp_statistics(task.sample(min(_CHUNK, count - i), g), task.sigma)
                      for i in range(0, count, _CHUNK)])


def _gdpp_per_prompt(v: torch.Tensor, lam: torch.Tensor, free_b: bool) -> torch.Tensor:
    """Per-prompt losses (N,) of the GD++ weights v = (q1, q2, q3, b1, b2), or v = (q1, q2, q3) with b = 0 when not
    ``free_b`` (Theorem 3's family, P_l = [[0,0],[0,1]], whose optimum is known exactly), x_q and w⋆ integrated
    exactly, on the prompts summarised by their eigenvalues ``lam`` (:func:`_gdpp_statistics`). Its mean over
    prompts estimates the same population loss as :func:`_query_integrated_losses` of :func:`_gdpp_weights`
    (tests/theory checks the algebra at round-off), at O(L d) per prompt."""
    from theory.algorithms.gdpp import gdpp_task_integrated_losses

    return gdpp_task_integrated_losses(lam, v[:3], v[3:] if free_b else v.new_zeros(2))


def _gdpp_fit(x0: list[float], fit_set, iterations: int, free_b: bool = True) -> dict:
    """L-BFGS on the mean per-prompt loss of a fixed prompt set (``fit_set``: :func:`_gdpp_statistics`,
    :func:`_gdpp_per_prompt`) from x0 = (q1, q2, q3, b1, b2) (b1, b2 ignored when not ``free_b``).

    Returns {"q": (3,), "b": (2,), "fit_loss": in-sample loss, "free_b"}.
    """
    x = torch.tensor(x0[:5] if free_b else x0[:3], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=iterations, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=1e-16)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _gdpp_per_prompt(x, fit_set, free_b).mean()
        loss.backward()
        return loss

    opt.step(closure)
    v = x.detach()
    with torch.no_grad():
        fit_loss = float(_gdpp_per_prompt(v, fit_set, free_b).mean())
    return {"q": v[:3], "b": v[3:] if free_b else v.new_zeros(2), "fit_loss": fit_loss, "free_b": free_b}


def _sandwich_se(per_prompt: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """Standard errors (k,) of an M-estimate v̂ = argmin (1/N) Σ_i ℓ_i(v) from N i.i.d. prompts: Cov ≈ H⁻¹VH⁻¹/N, H the
    Hessian of the mean loss and V the covariance of the per-prompt gradients (k forward-mode passes). ``per_prompt``:
    v (k,) -> (N,)."""
    from torch.func import jacfwd

    J = jacfwd(per_prompt)(v)  # (N, k)
    Hi = torch.linalg.inv(torch.autograd.functional.hessian(lambda u: per_prompt(u).mean(), v))
    return (Hi @ torch.cov(J.T) @ Hi / J.shape[0]).diagonal().clamp_min(0).sqrt()


def _with_standard_errors(fit: dict, fit_set) -> dict:
    """``fit`` with "q_se", "b_se": the fitted scalars estimate the population optimum from a finite prompt set
    (:func:`_sandwich_se`); b is exact (se 0) when it was held at 0."""
    v = torch.cat([fit["q"], fit["b"]]) if fit["free_b"] else fit["q"]
    se = _sandwich_se(lambda u: _gdpp_per_prompt(u, fit_set, fit["free_b"]), v)
    return {**fit, "q_se": se[:3], "b_se": se[3:] if fit["free_b"] else torch.zeros(2, dtype=torch.float64)}


def _rel_diff_check(name: str, x: float, se: float, target: float, reason: str) -> Check:
    """|x/target − 1| ≤ 5%, judged on x ± Z_BAND standard errors."""
    ends = sorted(((x - Z_BAND * se) / target - 1, (x + Z_BAND * se) / target - 1))
    return Check(name, abs(x / target - 1), "<=", 0.05, reason, interval=_abs_band(*ends))


def _gdpp_checks(fit: dict, loss: float, se: float, target: dict) -> list[Check]:
    """Theorem 4's acceptance: each fitted scalar (``fit``: q, b with q_se, b_se, :func:`_with_standard_errors`) and the
    fresh-prompt loss (mean ``loss``, standard error ``se``) within 5% of ``target`` ({"q", "b" or None, "loss"}), each
    judged on ± Z_BAND standard errors."""
    reason = "'within a few %' of the values (fact sheet): 5%; interval ± 3 standard errors"
    checks = [_rel_diff_check(f"q{i + 1}_rel_diff", float(fit["q"][i]), float(fit["q_se"][i]), t,
                              reason + " (sandwich, finite fit set)") for i, t in enumerate(target["q"])]
    if target.get("b") is not None:
        checks += [_rel_diff_check(f"b{i + 1}_rel_diff", float(fit["b"][i]), float(fit["b_se"][i]), t,
                                   reason + " (sandwich, finite fit set)") for i, t in enumerate(target["b"])]
    checks.append(_rel_diff_check("loss_rel_diff", loss, se, target["loss"], reason + " (Monte Carlo)"))
    return checks


def _by_magnitude(fit: dict) -> dict:
    """``fit`` with q (and q_se) sorted by |q|: with b = 0 (Theorem 3's family) the loss is symmetric in the layers,
    so their order is not identified."""
    order = torch.argsort(fit["q"].abs())
    return {**fit, "q": fit["q"][order], "q_se": fit["q_se"][order]}


def thm4_gdpp(ctx: RunContext) -> Outcome:
    from empirical.papers.ahn23.plots import plot_scalars
    from theory.samplers import LinearRegressionTask

    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    task = LinearRegressionTask(d=PAPER_D, n=PAPER_N, sigma=sigma, prior="inverse_cov")
    # Sizes. With x_q and w⋆ integrated exactly (theory.algorithms.gdpp) the per-prompt loss still has a heavy tail
    # from large eigenvalues of Ŝ (single prompts ~600× the mean), so both samples are large; an evaluation costs
    # O(L d) per prompt. Fixed from the error analysis before these sizes were judged: at 6000 prompts with w⋆
    # sampled, the fitted q1 had a relative sandwich standard error of 1.0–1.6 % (seeds 0–4) and the fresh loss
    # ~7 %, so ± 3 se filled the 5 % margin. Integrating w⋆ and 10⁵ fit prompts put ± 3 se of q well inside it; 10⁶
    # evaluation prompts give the loss a relative standard error of about 0.5 % (measured once at the paper's
    # weights, before any verdict), ± 3 se ≈ 1.5 %.
    n_fit, n_eval = ctx.setting("fit_prompts", 100_000, 1_000_000), ctx.setting("eval_prompts", 1_000_000, 4_000_000)
    iterations = ctx.setting("lbfgs_iterations", 100, 500)
    n_random = ctx.setting("random_starts", 6, 24)
    fit_set = _gdpp_eigenvalues(task, n_fit, ctx.generator("fit"))
    thm3 = _optimal_scalars(3, PAPER_N, PAPER_D)
    a3 = [float(x) for x in thm3["a"]]
    # The loss is not convex in (q, b): zero and Theorem 3's optimum end in different local minima on different
    # seeds (seeds 0 and 3: both above the paper-start fit's in-sample loss). The judged fit is the lowest in-sample
    # loss over every start, the paper's values included: a global minimum does not depend on where the search
    # began, and a start that knows nothing of the paper (zero, Theorem 3's optimum q = −a⋆ with b = 0.5, and
    # seeded random starts q_l = −a⋆_l·10^U(−1,1), b_l ~ U(0, 1.5)) that reaches a lower loss overrules it.
    ur = ctx.rng("starts")
    uninformed = {"zero": [0.0] * 5, "theorem3_optimum": [-x for x in a3] + [0.5, 0.5],
                  **{f"random_{i}": [-x * 10 ** float(ur.uniform(-1, 1)) for x in a3] + ur.uniform(0, 1.5, 2).tolist()
                     for i in range(n_random)}}
    starts = {**uninformed, "paper_values": [*THM4_Q, *THM4_B]}
    fits = {k: _gdpp_fit(x0, fit_set, iterations) for k, x0 in ctx.track(starts.items(), "fits")}
    best = min(fits, key=lambda k: fits[k]["fit_loss"])
    best_uninformed = min(uninformed, key=lambda k: fits[k]["fit_loss"])
    # Reached by an uninformed start: the same minimum found from two starts agrees in loss far below 1e-9 relative
    # (L-BFGS stops on changes of 1e-16); distinct local minima here differ by ≥ 1 %.
    uninformed_reached = fits[best_uninformed]["fit_loss"] <= fits[best]["fit_loss"] * (1 + 1e-9)

    no_b = torch.zeros(2, dtype=torch.float64)
    reference = torch.tensor([-x for x in a3], dtype=torch.float64)  # Theorem 3's optimum, exact loss known
    eval_lam = _gdpp_eigenvalues(task, n_eval, ctx.generator("eval"))  # the same fresh prompts for every call

    def evaluate(q: torch.Tensor, b: torch.Tensor) -> dict:
        """Fresh-prompt loss with Theorem 3's optimum on the same prompts as control variate."""
        with torch.no_grad():
            x = _gdpp_per_prompt(torch.cat([q, b]).double(), eval_lam, True)
            c = _gdpp_per_prompt(reference, eval_lam, False)
        return _control_variate_summary(x, c, thm3["loss"])

    for fit in fits.values():
        fit.update(evaluate(fit["q"], fit["b"]))
    for k in dict.fromkeys((best, best_uninformed, "paper_values")):  # the judged fit and the two reported beside it
        fits[k] = _with_standard_errors(fits[k], fit_set)
    q, b, loss, se = fits[best]["q"], fits[best]["b"], fits[best]["loss"], fits[best]["loss_se"]
    paper = {"q": THM4_Q, "b": THM4_B, "loss": THM4_LOSS}
    checks = _gdpp_checks(fits[best], loss, se, paper)
    paper_start = fits["paper_values"]
    paper_start["checks"] = [c.as_dict() for c in _gdpp_checks(paper_start, paper_start["loss"],
                                                               paper_start["loss_se"], paper)]
    at_paper = evaluate(torch.tensor(THM4_Q), torch.tensor(THM4_B))
    task10 = LinearRegressionTask(d=PAPER_D, n=10, sigma=sigma, prior="inverse_cov")
    at_paper_n10 = _lsa_loss(*_gdpp_weights(torch.tensor(THM4_Q), torch.tensor(THM4_B), sinv), task10,
                             ctx.setting("n10_prompts", 10_000, 10_000),
                             ctx.generator("n10"))
    # Controls: the same fit (prompts, uninformed starts, optimiser), evaluation and checks in Theorem 3's family
    # (b = 0), whose optimum is known exactly: against it (positive) and against the paper's Theorem-4 values,
    # which that family cannot reach (negative: b = 0 ≠ (0.91, 0.56), loss ≥ the exact minimum ≫ 5.6e-4).
    fits_b0 = {k: _gdpp_fit(x0, fit_set, iterations, free_b=False) for k, x0 in uninformed.items()}
    best_b0 = min(fits_b0, key=lambda k: fits_b0[k]["fit_loss"])
    fit0 = _by_magnitude(_with_standard_errors(fits_b0[best_b0], fit_set))
    ev0 = evaluate(fit0["q"], no_b)
    loss0, se0 = ev0["loss"], ev0["loss_se"]
    control_measured = {"q_sorted": fit0["q"], "q_se": fit0["q_se"], **ev0, "best_start": best_b0,
                        "fit_losses": {k: v["fit_loss"] for k, v in fits_b0.items()}}
    controls = [
        Control("theorem3_family_vs_exact_optimum", "positive",
                "The same fit from the same uninformed starts, Monte-Carlo evaluation and 5% checks with b fixed to 0 "
                f"(Theorem 3's family), against its exact optimum q = −({', '.join(f'{x:.4f}' for x in a3)}), loss "
                f"{thm3['loss']:.4f} (Wishart moments); scalars compared sorted by magnitude (layer order is a "
                "symmetry there). The theorem3_optimum start lies at that optimum, so this control tests the "
                "fit's finite-sample bias, the Monte-Carlo evaluation and the thresholds, not the search.",
                _gdpp_checks(fit0, loss0, se0, {"q": [-x for x in a3], "loss": thm3["loss"]}), control_measured),
        Control("theorem3_family_vs_paper_values", "negative",
                "The same b = 0 fit against the paper's Theorem-4 values, which it cannot match: b = 0 by "
                f"construction and its loss is at least the exact Theorem-3 minimum {thm3['loss']:.4f}.",
                _gdpp_checks(fit0, loss0, se0, paper), control_measured),
    ]
    fig = plot_scalars(["q1", "q2", "q3", "b1", "b2"], [*q.tolist(), *b.tolist()], [*THM4_Q, *THM4_B],
                       "Theorem 4 (GD++): fitted per-layer scalars", ctx.figure_path("scalars"))
    return Outcome(
        checks=checks,
        controls=controls,
        measured={"q": q, "b": b, "q_se": fits[best]["q_se"], "b_se": fits[best]["b_se"], "loss": loss, "loss_se": se,
                  "fit_loss": fits[best]["fit_loss"],
                  "paper_q": THM4_Q, "paper_b": THM4_B, "paper_loss": THM4_LOSS,
                  "fits": fits, "uninformed_starts": list(uninformed), "judged_start": best,
                  "best_uninformed_start": best_uninformed, "uninformed_start_reached_judged_fit": uninformed_reached,
                  "paper_start_fit": paper_start,
                  "loss_at_paper_weights": at_paper["loss"], "loss_at_paper_weights_se": at_paper["loss_se"],
                  "loss_at_paper_weights_n10": at_paper_n10[0], "loss_at_paper_weights_n10_se": at_paper_n10[1]},
        figures=[fig],
        notes=["Q_l = [[q_l Σ⁻¹, 0], [0, 0]] (so q_l < 0 is a descent step), P_l = [[b_l I, 0], [0, 1]]; the x rows "
               "are transformed by (I + q_l b_l Ŝ Σ⁻¹) each layer. Fitted by L-BFGS on a fixed Monte-Carlo sample of "
               "prompts with x_q and w⋆ integrated exactly (the loss is Σ_i (1 − r(λ_i))² over the eigenvalues of "
               "Σ^{-1/2}ŜΣ^{-1/2}, theory.algorithms.gdpp, checked against the token-level forward pass) from zero, "
               "Theorem 3's exact optimum, seeded random starts (uninformed) and the paper's values. The checks use "
               "the fit with the lowest in-sample loss over all starts (measured.judged_start), evaluated on fresh "
               "prompts; measured.uninformed_start_reached_judged_fit says whether a start that knows nothing of "
               "the paper found it too, and the paper-start fit and its checks are reported beside it "
               "(measured.paper_start_fit).",
               "Fresh-prompt losses use Theorem 3's optimum (exact loss from Wishart moments) on the same prompts as "
               "a control variate; the plain sample means are in plain_loss / plain_se. The fitted scalars estimate "
               "the population optimum from the finite fit set: their checks carry ± 3 sandwich standard errors.",
               "The in-sample fit loss (measured.fit_loss) is optimistic: the verdict uses the fresh-prompt loss.",
               "The sheet's n = 10 typo check: loss at the paper's weights with n = 10 is recorded as measured."],
        config={"d": PAPER_D, "n": PAPER_N, "fit_prompts": n_fit, "eval_prompts": n_eval,
                "lbfgs_iterations": iterations, "random_starts": n_random, "starts": starts},
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


def _one_layer_checks(P: torch.Tensor, Q: torch.Tensor, task, count: int,
                      g: torch.Generator) -> tuple[list[Check], dict]:
    """Theorem 1's acceptance for one LSA layer with weights P, Q (1, d+1, d+1) float64 on ``task`` (x ~ N(0, Σ),
    w⋆ ~ N(0, I)): the preconditioner −P[d,d]·Q[:d,:d] (invariant under (P, Q) → (γP, Q/γ)) against A_0, the blocks
    that vanish at the optimum, and the loss excess over tr Σ − tr(Σ²A_0) (:func:`_excess_over_theory`, ``count``
    prompts from ``g``).

    Returns (checks, measured).
    """
    from constructions.pgd import build_preconditioned_gd
    from theory.symbolic.ahn23 import optimal_loss, optimal_preconditioner

    d, n, sigma = task.d, task.n, task.sigma
    P1, Q1 = P[0], Q[0]
    A_hat = -P1[d, d] * Q1[:d, :d]
    A0 = optimal_preconditioner(sigma, n)
    rel = float(torch.linalg.norm(A_hat - A0) / torch.linalg.norm(A0))
    # Parts that must vanish at the optimum (P's label row on x, Q's label row), relative to the main block.
    # (Q's last column multiplies the query's zero label and P's x rows never reach the prediction in one
    #  layer: they receive no gradient and are not identifiable, so they are not compared.)
    stray = float(torch.linalg.norm(P1[d, :d]) * torch.linalg.norm(Q1[:d, :d])
                  + abs(P1[d, d]) * torch.linalg.norm(Q1[d, :d])) / float(torch.linalg.norm(P1[d, d] * Q1[:d, :d]))
    theory = float(optimal_loss(sigma, n))
    m = _loss_with_control_variate((P, Q), build_preconditioned_gd([A0]), theory, task, count, g)
    excess = m["loss"] - theory
    lo, hi = (x / theory for x in _band(excess, m["loss_se"]))
    checks = [
        Check("rel_frobenius_learned_vs_A0", rel, "<=", 0.1,
              "a priori: Adam at this budget leaves ≲10% error in the flattest directions of the quadratic"),
        Check("stray_blocks_relative", stray, "<=", 0.05, "blocks that vanish at the optimum, relative size"),
        Check("loss_excess_over_theory_relative", excess / theory, "<=", 0.02,
              "loss within 2% of the global minimum; interval: ± 3 Monte-Carlo standard errors (control variate: "
              "the loss of A_0's construction on the same prompts)",
              interval=(lo, hi)),
        Check("loss_not_below_theory_upper_bound", hi, ">=", 0.0,
              "the theory loss is a global minimum: the loss cannot be detectably below it (upper end of the "
              "relative excess ± 3 standard errors)"),
    ]
    return checks, {"A_hat": A_hat, "theory_loss": theory, "excess": excess, **m}


def _three_layer_checks(A: torch.Tensor, task, count: int, g: torch.Generator) -> tuple[list[Check], dict]:
    """Theorem 3's acceptance for the GD-form LSA with A (L, d, d) float64 (Q_l = −[[A_l, 0], [0, 0]] as in
    :class:`empirical.models.lsa.LinearTransformer`, i.e. the paper's printed convention) on ``task`` (x ~ N(0, Σ),
    w⋆ ~ N(0, Σ⁻¹)): each A_l against its best multiple of Σ⁻¹, the sorted multiples against the exact optimal
    scalars a⋆, and the loss excess over the exact optimum (:func:`_excess_over_theory` against A_l = a⋆_l Σ⁻¹).

    Returns (checks, measured).
    """
    from constructions.pgd import build_preconditioned_gd

    sinv = torch.linalg.inv(task.sigma)
    L = A.shape[0]
    scal = [float((A[l] * sinv).sum() / (sinv * sinv).sum()) for l in range(L)]
    resid = [float(torch.linalg.norm(A[l] - scal[l] * sinv) / torch.linalg.norm(A[l])) for l in range(L)]
    opt = _optimal_scalars(L, task.n, task.d)
    diff = max(abs(s - o) for s, o in zip(sorted(scal), opt["a"], strict=True))
    reference = build_preconditioned_gd([a * sinv for a in opt["a"]], convention="paper")
    m = _loss_with_control_variate(build_preconditioned_gd(list(A), convention="paper"), reference, opt["loss"], task,
                                   count, g)
    excess = m["loss"] - opt["loss"]
    checks = [
        Check("max_rel_residual_off_scalar_set", max(resid), "<=", 0.1,
              "a priori 10%: A_l within 10% (Frobenius) of its best multiple of Σ⁻¹"),
        Check("max_abs_diff_sorted_scalars_vs_theory", diff, "<=", 0.1,
              "a priori 0.1 in step size (the scalar loss is flat: Hessian eigenvalue 0.37)"),
        Check("loss_excess_over_theory", excess, "<=", 0.02,
              "a priori 0.02 above the exact optimum 0.1336; interval: ± 3 Monte-Carlo standard errors (control "
              "variate: the loss of the optimal construction on the same prompts)",
              interval=_band(excess, m["loss_se"])),
    ]
    return checks, {"scalars": scal, "residuals": resid, "theory_scalars": opt["a"], "theory_loss": opt["loss"],
                    "excess": excess, **m}


def trained_1layer(ctx: RunContext) -> Outcome:
    from constructions.pgd import build_preconditioned_gd
    from empirical.papers.ahn23.plots import plot_matrices
    from theory.samplers import LinearRegressionTask, spd_with_condition
    from theory.symbolic.ahn23 import optimal_preconditioner

    d, n = PAPER_D, PAPER_N
    sigma = ctx.pick(spd_with_condition(d, 4.0, ctx.generator("sigma")), _paper_sigma(ctx))
    task = LinearRegressionTask(d=d, n=n, sigma=sigma)
    # Quick budget: 3000 steps (final lr 0.005) left seed 3 at twice seed 0's distance from A_0 (stray blocks 0.053
    # against the a-priori 0.05); three more halvings (final lr 6e-4) put the Adam step noise well below every margin.
    train_cfg = ctx.setting("train", dict(steps=6000, batch_size=500, lr=0.02, schedule="halve", halve_every=1000),
                         dict(steps=30_000, batch_size=20_000, lr=0.02, schedule="halve", halve_every=2000,
                              optimizer="adamw", grad_clip=0.01))
    sigma_recipe = ctx.pick({"kind": "spd_with_condition", "kappa": 4.0}, _PAPER_SIGMA_RECIPE)
    model, info = _train_lsa(ctx, "trained_1layer", 1, "full", task, sigma_recipe, train_cfg, init_std=1e-3)
    P, Q = (w.detach().double().cpu() for w in model.weights())
    count = ctx.setting("eval_prompts", 100_000, 1_000_000)

    def pipeline(P: torch.Tensor, Q: torch.Tensor) -> tuple[list[Check], dict]:
        return _one_layer_checks(P, Q, task, count, ctx.generator("eval"))  # the same prompts for every object

    checks, measured = pipeline(P, Q)
    A0 = optimal_preconditioner(sigma, n)
    sinv = torch.linalg.inv(sigma)
    controls = [
        Control("theory_weights", "positive",
                "The one-layer construction with A_0 (Theorem 1's optimum: P = [[0,0],[0,1]], Q = −[[A_0,0],[0,0]]).",
                *pipeline(*build_preconditioned_gd([A0]))),
        Control("inverse_covariance_weights", "negative",
                "The construction with Σ⁻¹, the n → ∞ preconditioner: not the finite-n optimum (data inadequacy), "
                "so both its preconditioner and its loss are off by construction.",
                *pipeline(*build_preconditioned_gd([sinv]))),
    ]
    fig = plot_matrices({"learned −P[d,d]·Q[:d,:d]": measured["A_hat"].numpy(), "theory A_0": A0.numpy(),
                         "Σ⁻¹": sinv.numpy()}, "1-layer linear transformer", ctx.figure_path("matrices"))
    return Outcome(
        checks=checks,
        controls=controls,
        measured={**measured, "A0": A0, "checkpoint": info},
        figures=[fig],
        notes=[ctx.pick("Quick profile (reduced scale): Σ with condition number 4 (random rotation), batch 500, "
                        "6000 Adam steps (lr 0.02 halved every 1000); the paper's spectrum and schedule run in the "
                        "full profile.",
                        "Full profile: paper's Σ spectrum and AdamW schedule (batch 20000, lr 0.02 halved every "
                        "2000 steps, 30k steps, clip 0.01)."),
               "Loss: Monte Carlo over (X, w⋆) with x_q integrated exactly, in float64 on the trained weights; the "
               "model and both controls are evaluated on the same prompts."],
        config={"train": train_cfg, "d": d, "n": n, "eval_prompts": count},
    )


def trained_3layer(ctx: RunContext) -> Outcome:
    from empirical.papers.ahn23.plots import plot_matrices
    from theory.samplers import LinearRegressionTask

    d, n = PAPER_D, PAPER_N
    sigma = _paper_sigma(ctx)
    sinv = torch.linalg.inv(sigma)
    task = LinearRegressionTask(d=d, n=n, sigma=sigma, prior="inverse_cov")
    # Quick budget: at 9000 steps (final lr 0.025) the scalars sat 0.09 (seed 0) and 0.13 (seed 3) from a⋆, at the
    # a-priori 0.1: the flat scalar direction (Hessian eigenvalue 0.37) was still moving. Three more halvings (final
    # lr 0.003) let it settle.
    train_cfg = ctx.setting("train", dict(steps=18_000, batch_size=250, lr=0.1, schedule="halve", halve_every=3000),
                         dict(steps=30_000, batch_size=20_000, lr=0.02, schedule="halve", halve_every=2000,
                              optimizer="adamw", grad_clip=0.01))
    # Layers start apart (init std 0.2) in the quick profile: from a near-zero start the three layers move
    # together and the reduced budget ends near the symmetric saddle (measured: loss 0.25 after 3000 steps).
    model, info = _train_lsa(ctx, "trained_3layer", 3, "gd", task, _PAPER_SIGMA_RECIPE, train_cfg,
                             init_std=ctx.pick(0.2, 1e-4))
    A = model.A.detach().double().cpu()
    count = ctx.setting("eval_prompts", 100_000, 1_000_000)

    def pipeline(A: torch.Tensor) -> tuple[list[Check], dict]:
        return _three_layer_checks(A, task, count, ctx.generator("eval"))  # the same prompts for every object

    checks, measured = pipeline(A)
    a = [float(x) for x in _optimal_scalars(3, n, d)["a"]]
    eye = torch.eye(d, dtype=torch.float64)
    controls = [
        Control("theory_weights", "positive", "A_l = a_l Σ⁻¹ with Theorem 3's exact optimal scalars a_l.",
                *pipeline(torch.stack([x * sinv for x in a]))),
        Control("identity_preconditioners", "negative",
                "A_l = a_l I: the optimal steps with the identity instead of Σ⁻¹, off the scalar set {a_l Σ⁻¹} "
                "by construction (Σ is not a multiple of I).", *pipeline(torch.stack([x * eye for x in a]))),
    ]
    fig = plot_matrices({f"A_{l + 1}Σ (learned)": (A[l] @ sigma).numpy() for l in range(3)},
                        "3-layer linear transformer: A_l Σ should be a_l I", ctx.figure_path("matrices"))
    return Outcome(
        checks=checks,
        controls=controls,
        measured={**measured, "checkpoint": info},
        figures=[fig],
        notes=["Theorem 3 parameterisation: P_l = [[0,0],[0,1]] fixed, A_l (full d×d) trained.",
               ctx.pick("Quick profile (reduced scale): batch 250, 18000 Adam steps (lr 0.1 halved every 3000), "
                        "initialisation std 0.2 to separate the layers.",
                        "Full profile: batch 20000, AdamW, lr 0.02 halved every 2000 steps, 30k steps."),
               "Loss: Monte Carlo over (X, w⋆) with x_q integrated exactly, in float64 on the trained weights; the "
               "model and both controls are evaluated on the same prompts."],
        config={"train": train_cfg, "d": d, "n": n, "eval_prompts": count},
    )


