"""ryu24 claim runners — Ryu, Xu, Erol, Bu, Zheng, Wornell (ICML 2024), fact sheet ``shared/papers/ryu24.md``.

NeuralSVD: minimise the nested low-rank approximation (LoRA) objective to learn the top-L singular
(eigen)functions of an operator, ordered, without explicit orthogonalisation. The ladder:

a. finite matrices (closed form + training), b. a Gaussian-kernel integral operator vs the dense/Nyström
reference, c. the quantum harmonic oscillator (1-D, 2-D) and a NeuralEF baseline at equal budget,
d. joint vs sequential nesting and joint vs disjoint parameterisation (accuracy and memory), and the 2-D
hydrogen atom (quick profile: an L = 4 smoke test; full profile: CUDA).

Verdicts (:mod:`empirical.registry.core`): every reference is independent of the learned object (the
constructed σ, U, V of a matrix, analytic oscillator and hydrogen eigenpairs, a dense kernel reference checked
against scipy's eigsh); every trained claim carries a positive control (the exact answer through the same
evaluation) and a negative one (an untrained model, or a reversed ordering); orderings are effects over
seeds with a paired t interval (:mod:`empirical.papers.ryu24.neuralsvd.compare`).

Configurations live in :data:`CONFIG` (``quick`` / ``full``); tests shrink them to run the runners fast.
Trained runners use one CPU thread (:func:`_one_cpu_thread`).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.papers.ryu24.neuralsvd.experiments import TopModes
from empirical.registry.core import Check, Control, Outcome, RunContext

#: float64 round-off for the closed-form checks: sums of O(mn) products of O(1) numbers, relative to the
#: objective's scale; 1e-10 leaves a factor ~1e5 above machine epsilon for m, n <= 60.
ROUNDOFF = 1e-10

#: midpoint-rule nodes per axis of the oscillator evaluation on [−7, 7]^d, (1-D, 2-D): h = 0.02 and 0.1
OSCILLATOR_GRID = (700, 140)


CONFIG: dict[str, dict[str, dict[str, Any]]] = {
    "matrix": {
        "quick": {
            "shapes": [(60, 40, 8), (30, 30, 5), (20, 50, 6)],
            "train_shape": (60, 40, 8),
            "decay": 0.85,
            "steps": 2000,
            "lr": 1e-2,
            "n_gauges": 20,
        },
        "full": {
            "shapes": [(60, 40, 8), (30, 30, 5), (20, 50, 6), (200, 150, 16)],
            "train_shape": (200, 150, 16),
            "decay": 0.9,
            "steps": 5000,
            "lr": 1e-2,
            "n_gauges": 50,
        },
    },
    "kernel": {
        # quick: 1500 steps gave 9.6% on the 4th eigenvalue (seed 0); the error is optimisation-limited (3000
        # steps: 9.4%, 6000: 0.86%; batch 512, a disjoint net or one more mode did not help at equal steps).
        # 6000 steps still missed 3.5% on seed 1 (4.3%); 12000 (≈ 35–40 s of CPU, the sheet's ≈ 53 s) did not.
        "quick": {
            "N": 1000,
            "n_heldout": 500,
            "bandwidth": 1.0,
            "L": 4,
            "L_train": 5,
            "steps": 12000,
            "batch": 256,
            "lr": 3e-3,
            "width": 64,
        },
        "full": {
            "N": 5000,
            "n_heldout": 2000,
            "bandwidth": 1.0,
            "L": 8,
            "L_train": 10,
            "steps": 20000,
            "batch": 1024,
            "lr": 1e-3,
            "width": 128,
        },
    },
    "oscillator": {
        # quick: 3000 steps left the 1-D error at 4.1e-3 (seed 0); weight averaging on top of the cosine decay,
        # lr 1e-2, a wider sampler (2.5, 3.5), batch 512 did not help; steps did (6000: 1.2e-3, 12000: 3e-4).
        "quick": {
            "runs": [{"d": 1, "L": 4, "L_train": 6, "steps": 6000}, {"d": 2, "L": 10, "L_train": 12, "steps": 20000}],
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
        "full": {
            "runs": [{"d": 1, "L": 8, "L_train": 10}, {"d": 2, "L": 10, "L_train": 12}],
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
    },
    # The orderings compare at the budget of the 1-D oscillator claim (6000 steps, where NeuralSVD reaches the sheet's
    # accuracy), 5 paired replicates each; at 2000 steps (seed 0) NeuralSVD vs NeuralEF was inconclusive (mean log10
    # ratio −0.25, interval [−1.08, 0.58]) and sequential vs joint passed (−0.50, [−0.99, −0.008]).
    "vs_neuralef": {
        "quick": {
            "seeds": 5,
            "d": 1,
            "L": 4,
            "L_train": 6,
            "steps": 6000,
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
        "full": {
            "seeds": 5,
            "d": 2,
            "L": 10,
            "L_train": 12,
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
    },
    "nesting": {
        "quick": {
            "seeds": 5,
            "params": ["joint"],
            "d": 1,
            "L": 4,
            "L_train": 6,
            "steps": 6000,
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
        "full": {
            "seeds": 5,
            "params": ["joint", "disjoint"],
            "d": 2,
            "L": 10,
            "L_train": 12,
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
            "grid": OSCILLATOR_GRID,
        },
    },
    "hydrogen": {
        # a smoke test (fact sheet: "2-D hydrogen L = 4: 2.5 min, 1–10% errors"): L = 4 fills the shells n = 0, 1
        # (eigenvalues 1, 1/9 ×3); one extra trained mode, cosine decay (sheet pitfalls). A step takes ≈ 5 ms of CPU
        # on one thread (width 32; 8 ms at width 64), so the sheet's 2.5 min is ≈ 20000 steps; 2000 steps left a
        # 26% mean error (seed 0). At lr 3e-3 a mode of the n = 1 shell stayed mixed with the ground state on 3 of 5
        # seeds (the ground-state component of a later mode is restored only by the quartic term, ∝ λ_l ≪ λ_1, while
        # the minibatch noise on it scales with λ_1); lr 1e-3 left 1 of 5, lr 1e-3 at width 64 none.
        "quick": {
            "L": 4,
            "L_train": 5,
            "steps": 20000,
            "batch": 128,
            "lr": 1e-3,
            "width": 64,
            "fourier": (128, 0.1),
            "sampler_std": 16.0,
            "scale": 100.0,
            "polar": (60.0, 200, 64),
        },
        # the paper's setting (fact sheet §2) except Adam for RMSprop; radius 150 keeps the n = 3 shell's mass
        # (radius 60 loses ≈ 3% of it: measured on the exact eigenfunctions)
        "full": {
            "L": 16,
            "L_train": 16,
            "steps": 500000,
            "batch": 512,
            "lr": 1e-4,
            "ema": 0.995,
            "width": 128,
            "fourier": (1024, 0.1),
            "sampler_std": 16.0,
            "scale": 100.0,
            "polar": (150.0, 300, 64),
        },
    },
}


def _cfg(ctx: RunContext, name: str) -> dict[str, Any]:
    """``CONFIG[name]`` at the context's profile, every entry read through ``ctx.setting`` as ``<name>.<key>`` (tests
    shrink a runner by overriding them). A key one profile lacks reads as None there and is left out."""
    q, f = CONFIG[name].get("quick", {}), CONFIG[name].get("full", {})
    values = {k: ctx.setting(f"{name}.{k}", q.get(k), f.get(k)) for k in [*q, *(k for k in f if k not in q)]}
    return {k: v for k, v in values.items() if v is not None}


def _one_cpu_thread(runner: Callable[[RunContext], Outcome]) -> Callable[[RunContext], Outcome]:
    """Run a trained claim on one CPU thread (restored afterwards): its tensors are small, and on the shared
    2-core machine one 1-D oscillator step took 169 ms wall with two threads against 11 ms with one (3.7 ms of
    CPU; measured here under load), so a second thread only adds contention."""

    @functools.wraps(runner)
    def run(ctx: RunContext) -> Outcome:
        if ctx.device.type != "cpu":
            return runner(ctx)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return runner(ctx)
        finally:
            torch.set_num_threads(before)

    return run


def _need_device_for_full(ctx: RunContext) -> None:
    ctx.require_cuda("the full profile trains at paper scale (hours on CPU)")


# --------------------------------------------------------------------------------------------------------
# a. finite matrices
# --------------------------------------------------------------------------------------------------------


def _spectrum(k: int, decay: float) -> torch.Tensor:
    """σ_i = decay^i: distinct values, gaps σ_l − σ_{l+1} = (1 − decay) σ_l (the optimum is unique)."""
    return decay ** torch.arange(k, dtype=torch.float64)


@dataclass(frozen=True)
class _Matrix:
    """``T = U diag(S) Vᵀ`` (m, n) with U (m, r), S (r,), V (n, r) known by construction: the independent
    reference of the matrix checks (no SVD routine is asked for the answer)."""

    T: torch.Tensor
    U: torch.Tensor
    S: torch.Tensor
    V: torch.Tensor

    def optimum(self, L: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The claimed optimum ``F = U_L diag(√σ)``, ``G = V_L diag(√σ)`` (balanced scale split), (m, L), (n, L)."""
        r = self.S[:L].sqrt()
        return self.U[:, :L] * r, self.V[:, :L] * r


def _svd_matrix(m: int, n: int, decay: float, generator: torch.Generator) -> _Matrix:
    """A random (m, n) matrix with σ_i = decay^i (:func:`theory.low_rank.spectral_factors`)."""
    from theory.low_rank import spectral_factors

    S = _spectrum(min(m, n), decay)
    U, V = spectral_factors(m, n, S, generator)
    return _Matrix((U * S) @ V.T, U, S, V)


def _sym_matrix(m: int, decay: float, generator: torch.Generator) -> _Matrix:
    """A random symmetric ``Q diag(σ) Qᵀ`` (m, m) with σ_i = decay^i > 0 (EVD form: U = V = Q)."""
    Q, _ = torch.linalg.qr(torch.randn(m, m, generator=generator, dtype=torch.float64))
    S = _spectrum(m, decay)
    T = (Q * S) @ Q.T
    return _Matrix(0.5 * (T + T.T), Q, S, Q)


def _matrix_model(M: _Matrix, L: int, ctx: RunContext, tag: str, symmetric: bool) -> nn.Module:
    """Free float32 tables with the initialisation stream of ``tag`` (the untrained state of a training run)."""
    from empirical.papers.ryu24.neuralsvd.models import FunctionTable, SVDPair

    g = ctx.generator("init", tag)
    m, n = M.T.shape
    f = FunctionTable(m, L, generator=g, device=ctx.device)
    return f if symmetric else SVDPair(f, FunctionTable(n, L, generator=g, device=ctx.device))


def _tables(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(F, G) in float64 on the CPU from an SVDPair or (EVD form, G = F) a FunctionTable."""
    if hasattr(model, "table"):
        F = model.table.detach().double().cpu()
        return F, F
    return model.f.table.detach().double().cpu(), model.g.table.detach().double().cpu()


def _train_matrix(
    M: _Matrix, L: int, nesting: str, cfg: dict[str, Any], ctx: RunContext, tag: str, symmetric: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train free tables (float32, exact operator, Adam + cosine) -> float64 (F, G)."""
    from empirical.papers.ryu24.neuralsvd.experiments import fit
    from empirical.papers.ryu24.neuralsvd.operators import MatrixOperator
    from empirical.train import TrainConfig

    model = _matrix_model(M, L, ctx, tag, symmetric)
    op = MatrixOperator(M.T.to(device=ctx.device, dtype=torch.float32), symmetric=symmetric)
    tc = TrainConfig(steps=cfg["steps"], batch_size=1, lr=cfg["lr"], schedule="cosine", seed=ctx.child_seed(tag))
    fit(model, op, nesting, tc, device=ctx.device, exact=True, progress=ctx.progress, desc=f"ryu24 matrix {tag}")
    return _tables(model)


def _svd_errors(F: torch.Tensor, G: torch.Tensor, M: _Matrix) -> dict[str, list[float]]:
    """σ̂_l = ‖f_l‖‖g_l‖ vs the constructed σ_l (relative), and |cos| of f_l, g_l to the constructed u_l, v_l
    (index by index, so the order counts); F (m, L), G (n, L) float64."""
    L = F.shape[1]
    nf, ng, s = F.norm(dim=0), G.norm(dim=0), M.S[:L]
    return {
        "sigma_true": s.tolist(),
        "sigma_hat": (nf * ng).tolist(),
        "sigma_rel_err": ((nf * ng - s).abs() / s).tolist(),
        "cos_f": ((F * M.U[:, :L]).sum(0).abs() / nf).tolist(),
        "cos_g": ((G * M.V[:, :L]).sum(0).abs() / ng).tolist(),
    }


def _lbfgs_nested(T: torch.Tensor, L: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise the jointly nested objective in float64 with L-BFGS (exact gradients) from a random start."""
    from scipy.optimize import minimize

    from theory.low_rank import nested_lora_gradient, nested_lora_objective

    m, n = T.shape

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.from_numpy(z)
        F, G = t[: m * L].reshape(m, L), t[m * L :].reshape(n, L)
        dF, dG = nested_lora_gradient(T, F, G)
        return float(nested_lora_objective(T, F, G)), torch.cat([dF.reshape(-1), dG.reshape(-1)]).numpy()

    z0 = 0.1 * rng.standard_normal((m + n) * L)
    res = minimize(fun, z0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15})
    z = torch.tensor(res.x, dtype=torch.float64)
    return z[: m * L].reshape(m, L), z[m * L :].reshape(n, L)


#: the four trained settings of ryu24.nested_optimum_is_truncated_svd: (form, nesting)
_TRAINED_FORMS = [("svd", "sequential"), ("svd", "joint"), ("evd", "sequential"), ("evd", "joint")]


def _trained_matrix_checks(errors: dict[str, dict[str, list[float]]], cfg: dict[str, Any]) -> list[Check]:
    """The trained checks of the nested-optimum claim from :func:`_svd_errors` per setting (model and controls)."""
    sigma = max(max(v["sigma_rel_err"]) for v in errors.values())
    cos = max(1 - min(v["cos_f"] + v["cos_g"]) for v in errors.values())
    reason = (
        "optimisation-limited: exact gradients in float32 (round-off ~1e-6); with the smallest "
        f"relative gap 1 − {cfg['decay']} = {1 - cfg['decay']:.2f} and {cfg['steps']} cosine-decayed Adam "
        "steps a converged run is far below 1e-3 (fact sheet: 60×40, L = 8 in 2–3 s)"
    )
    return [
        Check("trained_sigma_rel_err", sigma, "<=", 1e-3, reason),
        Check("trained_one_minus_cos", cos, "<=", 1e-3, reason),
    ]


def _closed_form_row(M: _Matrix, L: int, rng: np.random.Generator) -> dict[str, float]:
    """Closed-form evidence on one matrix: the constructed optimum's value vs the Eckart–Young bound, both
    nestings' gradients there, theory's :func:`truncated_svd_optimum` and an L-BFGS run vs the construction."""
    from theory.low_rank import nested_lora_objective, nested_optimum_value, sequential_gradient, truncated_svd_optimum

    F, G = M.optimum(L)
    Fr, Gr = F.clone().requires_grad_(True), G.clone().requires_grad_(True)
    val = nested_lora_objective(M.T, Fr, Gr)
    val.backward()
    bound = float(nested_optimum_value(M.S[:L]))  # Eckart–Young per nested term, analytic σ
    dF, dG = sequential_gradient(M.T, F, G)
    e = _svd_errors(*truncated_svd_optimum(M.T, L)[:2], M)
    el = _svd_errors(*_lbfgs_nested(M.T, L, rng), M)
    m, n = M.T.shape
    return {
        "m": m,
        "n": n,
        "L": L,
        "value_minus_bound_rel": abs(float(val.detach()) - bound) / abs(bound),
        "grad_joint_max": float(max(Fr.grad.abs().max(), Gr.grad.abs().max())),
        "grad_sequential_max": float(max(dF.abs().max(), dG.abs().max())),
        "sigma_rel_err": max(e["sigma_rel_err"]),
        "one_minus_cos": 1 - min(e["cos_f"] + e["cos_g"]),
        "lbfgs_sigma_rel_err": max(el["sigma_rel_err"]),
        "lbfgs_one_minus_cos": 1 - min(el["cos_f"] + el["cos_g"]),
    }


@_one_cpu_thread
def nested_optimum(ctx: RunContext) -> Outcome:
    from empirical.papers.ryu24.plots import plot_eigenvalue_errors, plot_singular_values

    cfg = _cfg(ctx, "matrix")
    g = ctx.generator("matrices")
    rows = [
        _closed_form_row(_svd_matrix(m, n, cfg["decay"], g), L, ctx.rng("lbfgs", m, n, L))
        for m, n, L in ctx.track(cfg["shapes"], "closed form")
    ]
    worst = {k: max(r[k] for r in rows) for k in rows[0] if k not in ("m", "n", "L")}

    # Training (float32, exact operator, the suite's train loop): SVD form with both nestings, EVD form.
    m, n, L = cfg["train_shape"]
    problems = {"svd": _svd_matrix(m, n, cfg["decay"], ctx.generator("train matrix")),
                "evd": _sym_matrix(m, cfg["decay"], ctx.generator("sym"))}
    trained = {
        f"{form}_{nesting}": _svd_errors(
            *_train_matrix(problems[form], L, nesting, cfg, ctx, f"{form}_{nesting}", symmetric=form == "evd"),
            problems[form],
        )
        for form, nesting in _TRAINED_FORMS
    }

    def exact_f32(form: str) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(t.float().double() for t in problems[form].optimum(L))  # type: ignore[return-value]

    def untrained(form: str, nesting: str) -> tuple[torch.Tensor, torch.Tensor]:
        return _tables(_matrix_model(problems[form], L, ctx, f"{form}_{nesting}", symmetric=form == "evd"))

    controls = [
        Control(
            "exact_optimum_in_float32",
            "positive",
            "the constructed U_L diag(√σ), V_L diag(√σ) stored in float32 like the trained tables: the claim holds "
            "by construction, so the evaluation and thresholds must accept it",
            _trained_matrix_checks({f"{f}_{s}": _svd_errors(*exact_f32(f), problems[f]) for f, s in _TRAINED_FORMS},
                                   cfg),
        ),
        Control(
            "untrained_tables",
            "negative",
            "the same tables at their random initialisation (no training): far from the SVD, must fail",
            _trained_matrix_checks({f"{f}_{s}": _svd_errors(*untrained(f, s), problems[f]) for f, s in _TRAINED_FORMS},
                                   cfg),
        ),
    ]

    figs = [
        plot_singular_values(
            trained["svd_sequential"]["sigma_true"],
            {k: v["sigma_hat"] for k, v in trained.items() if k.startswith("svd")},
            ctx.figure_path("singular_values"),
            f"{m}×{n}, L = {L}: learned σ̂ vs constructed σ",
        ),
        plot_eigenvalue_errors(
            {k: v["sigma_rel_err"] for k, v in trained.items()},
            ctx.figure_path("sigma_error"),
            "matrix: relative σ error per index",
            threshold=1e-3,
        ),
    ]
    reference = "the construction T = U diag(σ) Vᵀ (σ_i = decay^i, Haar U, V), no SVD routine"
    return Outcome(
        checks=[
            Check(
                "closed_form_value_minus_eckart_young_bound_rel",
                worst["value_minus_bound_rel"],
                "<=",
                ROUNDOFF,
                "the constructed U_L√σ, V_L√σ attains every nested term's Eckart–Young bound −Σ_{i≤k} σ_i² "
                "(analytic σ); float64 round-off",
            ),
            Check(
                "closed_form_grad_joint_max",
                worst["grad_joint_max"],
                "<=",
                ROUNDOFF,
                "stationary point of the jointly nested objective at the constructed optimum; float64 round-off",
            ),
            Check(
                "closed_form_grad_sequential_max",
                worst["grad_sequential_max"],
                "<=",
                ROUNDOFF,
                "fixed point of the sequential-nesting vector field at the constructed optimum; float64 round-off",
            ),
            Check(
                "closed_form_sigma_rel_err_vs_construction",
                worst["sigma_rel_err"],
                "<=",
                ROUNDOFF,
                f"theory.low_rank.truncated_svd_optimum (the optimum the tests use) vs {reference}; float64 "
                "round-off",
            ),
            Check(
                "closed_form_one_minus_cos_vs_construction",
                worst["one_minus_cos"],
                "<=",
                ROUNDOFF,
                f"its singular vectors vs {reference}; float64 round-off",
            ),
            Check(
                "lbfgs_from_random_init_sigma_rel_err",
                worst["lbfgs_sigma_rel_err"],
                "<=",
                1e-6,
                "float64 L-BFGS on the nested objective (gtol 1e-12) converges to the unique ordered optimum (vs "
                "the construction); 1e-6 allows for the stopping rule near the flat scale direction f→cf, g→g/c",
            ),
            Check(
                "lbfgs_from_random_init_one_minus_cos",
                worst["lbfgs_one_minus_cos"],
                "<=",
                1e-6,
                "as above, for the directions (order included: |cos| is taken index by index)",
            ),
            *_trained_matrix_checks(trained, cfg),
        ],
        measured={"closed_form": rows, "trained": trained, "train_shape": [m, n, L]},
        figures=figs,
        notes=[
            "σ_i = decay^i; SVD form on a random U diag(σ) Vᵀ, EVD form on a random Q diag(σ) Qᵀ; every "
            "reference is the construction itself (analytic σ, constructed U, V), not an SVD of T.",
            "Training applies T exactly (all indices) so that the check isolates the objective; the "
            "minibatch estimators are exercised by the kernel and Schrödinger claims and the tests.",
            "Controls apply to the trained checks (the closed-form ones have no training to control).",
        ],
        config=cfg,
        controls=controls,
    )


def _subspace_entry(F: torch.Tensor, G: torch.Tensor, M: _Matrix) -> dict[str, Any]:
    """Largest principal-angle sine of span(F), span(G) to the top-L singular subspaces, the smallest |cos|
    index by index, and :func:`_svd_errors`."""
    from theory.low_rank import principal_angle_sines

    L = F.shape[1]
    e = _svd_errors(F, G, M)
    sub = max(float(principal_angle_sines(F, M.U[:, :L]).max()), float(principal_angle_sines(G, M.V[:, :L]).max()))
    return {"max_principal_sine": sub, "min_cos": min(e["cos_f"] + e["cos_g"]), **e}


def _subspace_checks(res: dict[str, dict[str, Any]]) -> list[Check]:
    """The trained checks of ryu24.lora_subspace_only from :func:`_subspace_entry` of the un-nested ("none")
    and the sequentially nested solution (model and controls)."""
    return [
        Check(
            "trained_unnested_subspace_max_sine",
            res["none"]["max_principal_sine"],
            "<=",
            1e-2,
            "the un-nested optimum is the top-L subspace: exact gradients, same optimiser budget as the "
            "nested run (which reaches 1 − |cos| ≤ 1e-3, i.e. sines ≤ 0.045)",
        ),
        Check(
            "trained_unnested_min_abs_cos_to_singular_vectors",
            res["none"]["min_cos"],
            "<=",
            0.99,
            "order NOT recovered: an arbitrary gauge mixes singular vectors, so some |cos| stays well below "
            "the nested run's ≥ 0.999",
        ),
        Check(
            "trained_sequential_min_abs_cos (contrast)",
            res["sequential"]["min_cos"],
            ">=",
            0.999,
            "the nested run under the same budget recovers each vector (1 − |cos| ≤ 1e-3, as in "
            "ryu24.nested_optimum_is_truncated_svd)",
        ),
    ]


@_one_cpu_thread
def subspace_only(ctx: RunContext) -> Outcome:
    from theory.low_rank import gauge_transform, lora_objective, nested_lora_objective

    cfg = _cfg(ctx, "matrix")
    m, n, L = cfg["train_shape"]
    M = _svd_matrix(m, n, cfg["decay"], ctx.generator("matrix"))
    F, G = M.optimum(L)
    base, nbase = float(lora_objective(M.T, F, G)), float(nested_lora_objective(M.T, F, G))
    g = ctx.generator("gauges")
    inv_dev, nested_gain = 0.0, math.inf
    for _ in range(cfg["n_gauges"]):
        A = torch.eye(L, dtype=torch.float64) + 0.3 * torch.randn(L, L, generator=g, dtype=torch.float64)
        Fa, Ga = gauge_transform(F, G, A)
        inv_dev = max(inv_dev, abs(float(lora_objective(M.T, Fa, Ga)) - base) / abs(base))
        nested_gain = min(nested_gain, (float(nested_lora_objective(M.T, Fa, Ga)) - nbase) / abs(nbase))

    res = {nesting: _subspace_entry(*_train_matrix(M, L, nesting, cfg, ctx, f"svd_{nesting}"), M)
           for nesting in ("none", "sequential")}
    A = torch.eye(L, dtype=torch.float64) + torch.randn(L, L, generator=ctx.generator("control gauge"),
                                                         dtype=torch.float64)
    exact, gauged = _subspace_entry(F, G, M), _subspace_entry(*gauge_transform(F, G, A), M)
    controls = [
        Control(
            "gauged_and_exact_optimum",
            "positive",
            "un-nested solution := the exact optimum in a random gauge (F A, G A⁻ᵀ): the right subspace in no "
            "order; nested solution := the exact optimum. The claim holds by construction",
            _subspace_checks({"none": gauged, "sequential": exact}),
        ),
        Control(
            "ordered_unnested_solution",
            "negative",
            "un-nested solution := the exact ordered optimum, i.e. what the un-nested objective would give if "
            "it did fix the order: the claim is then false, and the order check must fail",
            _subspace_checks({"none": exact, "sequential": exact}),
        ),
    ]
    return Outcome(
        checks=[
            Check(
                "unnested_value_change_under_gauge_rel",
                inv_dev,
                "<=",
                ROUNDOFF,
                "(F A, G A⁻ᵀ) leaves F Gᵀ and hence the LoRA value unchanged; float64 round-off",
            ),
            Check(
                "nested_value_increase_under_gauge_rel",
                nested_gain,
                ">=",
                1e-6,
                "nesting breaks the gauge: a non-diagonal A raises a nested term by a positive quadratic form "
                "in A − I (here ‖A − I‖ ≈ 0.3·√L), far above round-off",
            ),
            *_subspace_checks(res),
        ],
        measured={"gauge_invariance_rel_dev": inv_dev, "nested_gain_rel_min": nested_gain, "trained": res},
        notes=["References are the constructed singular vectors of T = U diag(σ) Vᵀ (no SVD routine)."],
        config=cfg,
        controls=controls,
    )

# --------------------------------------------------------------------------------------------------------
# b. kernel integral operator
# --------------------------------------------------------------------------------------------------------


#: acceptance on the largest relative eigenvalue error of the kernel operator, per profile, with its reason
KERNEL_TOLERANCE = {
    "quick": (0.035, "fact sheet: ≈ 3.5% at L = 4 on 2 CPU cores in under a minute (minibatch U-statistic "
                     "training); the acceptance is that measurement"),
    "full": (0.05, "no measurement at L = 8 (eigenvalues down to ≈ 1e-3 of the largest); 5% marks a failed run"),
}


def _kernel_checks(ev: Any, profile: str) -> list[Check]:
    """The kernel claim's checks on a :class:`~empirical.papers.ryu24.neuralsvd.experiments.KernelEval` (model and
    controls)."""
    tol, reason = KERNEL_TOLERANCE[profile]
    return [
        Check("max_rel_eigenvalue_err", max(ev.rel_err), "<=", tol, reason),
        Check(
            "min_abs_cos_on_pool",
            min(ev.cos_pool),
            ">=",
            0.98,
            "a Rayleigh quotient is second-order in the direction error ε (Δλ/λ ≈ ε²·relative gap ≈ 0.6 ε² "
            "for the next mode), so a few-% eigenvalue error allows ε² ≲ 0.04, i.e. |cos| ≳ 0.98",
        ),
        Check(
            "max_rel_l2_err_heldout_vs_nystrom",
            max(ev.rel_l2_heldout),
            "<=",
            0.2,
            "held-out points (not in the pool): ‖φ̂ − φ‖ = √(2(1 − cos)) = 0.2 at |cos| = 0.98, the pool "
            "threshold; the network must generalise at least as well as it fits",
        ),
    ]


def _lanczos_eigenvalues(K: torch.Tensor, L: int, rng: np.random.Generator) -> np.ndarray:
    """Top-L eigenvalues of K/N by scipy's Lanczos solver (eigsh): an independent check of the dense reference."""
    from scipy.sparse.linalg import eigsh

    A = K.numpy() / K.shape[0]
    vals = eigsh(A, k=L, which="LA", tol=1e-14, v0=rng.standard_normal(A.shape[0]), return_eigenvectors=False)
    return np.sort(vals)[::-1]


@_one_cpu_thread
def kernel(ctx: RunContext) -> Outcome:
    from empirical.papers.ryu24.neuralsvd.experiments import FixedFunctions, NetConfig, fit, kernel_eval
    from empirical.papers.ryu24.neuralsvd.operators import KernelOperator
    from empirical.papers.ryu24.plots import plot_eigenvalue_errors, plot_functions_1d
    from empirical.train import TrainConfig
    from theory.operators_reference import (
        gaussian_kernel,
        gaussian_kernel_eigen_1d,
        kernel_eigen_reference,
        nystrom_extend,
    )

    _need_device_for_full(ctx)
    c = _cfg(ctx, "kernel")
    g = ctx.generator("data")
    pool = torch.randn(c["N"], 1, generator=g, dtype=torch.float64)
    held = torch.randn(c["n_heldout"], 1, generator=g, dtype=torch.float64)
    K = gaussian_kernel(pool, pool, c["bandwidth"])
    ref_ev, ref_pool = kernel_eigen_reference(K, c["L"])
    lanczos = _lanczos_eigenvalues(K, c["L"], ctx.rng("lanczos"))
    lanczos_dev = float(np.max(np.abs(lanczos - ref_ev.numpy()) / ref_ev.numpy()))

    def nystrom(x: torch.Tensor) -> torch.Tensor:
        return nystrom_extend(gaussian_kernel(x, pool, c["bandwidth"]), ref_ev, ref_pool)

    ref_held = nystrom(held)
    pop_ev, _ = gaussian_kernel_eigen_1d(held[:, 0], c["L"], c["bandwidth"], 1.0)

    op = KernelOperator(pool.to(device=ctx.device, dtype=torch.float32), c["bandwidth"])
    net = NetConfig(param=c.get("param", "joint"), width=c["width"]).build(
        1, c["L_train"], generator=ctx.generator("init"), device=ctx.device
    )
    untrained = copy.deepcopy(net)
    tc = TrainConfig(steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("t"))
    fit(net, op, "sequential", tc, device=ctx.device, progress=ctx.progress, desc="ryu24 kernel", ema=c.get("ema"))
    op64 = replace(op, pool=pool)

    def evaluate(model: nn.Module) -> Any:
        return kernel_eval(model, op64, ref_ev, ref_pool, ref_held, held)

    ev = evaluate(TopModes(net, c["L"]))
    tol = KERNEL_TOLERANCE[ctx.profile][0]
    exact = FixedFunctions(lambda x: ref_ev.sqrt() * nystrom(x))  # f_l = √λ_l φ_l, NeuralSVD's target
    ev_exact, ev_untrained = evaluate(exact), evaluate(TopModes(untrained, c["L"]))
    controls = [
        Control("nystrom_eigenfunctions", "positive",
                "f_l = √λ_l φ_l with φ_l the Nyström extension of the dense eigenvectors: the exact eigenpairs of "
                "the empirical operator, through the same evaluation", _kernel_checks(ev_exact, ctx.profile),
                {"rel_err": ev_exact.rel_err, "cos_pool": ev_exact.cos_pool}),
        Control("untrained_network", "negative",
                "the same network at its initialisation (no training): must fail",
                _kernel_checks(ev_untrained, ctx.profile),
                {"rel_err": ev_untrained.rel_err, "cos_pool": ev_untrained.cos_pool}),
    ]

    xs = torch.linspace(-3, 3, 121, dtype=torch.float64)[:, None]
    ny = nystrom(xs)
    with torch.no_grad():
        learned = TopModes(net, c["L"]).to(torch.float64).cpu()(xs)
    learned = learned / torch.tensor(ev.eig_norm).sqrt()
    learned = learned * torch.sign((learned * ny).sum(0))
    figs = [
        plot_functions_1d(
            xs[:, 0].tolist(),
            learned.T.tolist(),
            ny.T.tolist(),
            ctx.figure_path("functions"),
            "Gaussian kernel: learned (dashed) vs Nyström (solid)",
        ),
        plot_eigenvalue_errors(
            {"NeuralSVD (sequential)": ev.rel_err},
            ctx.figure_path("eigenvalue_error"),
            "kernel operator: relative eigenvalue error",
            threshold=tol,
        ),
    ]
    return Outcome(
        checks=[
            Check(
                "reference_eigenvalues_dense_vs_scipy_eigsh_rel",
                lanczos_dev,
                "<=",
                1e-10,
                "the dense reference (torch eigh of K/N) against an independent solver (scipy's Lanczos eigsh, "
                "tol 1e-14) on the same operator; float64 round-off of a well-separated top of the spectrum",
            ),
            *_kernel_checks(ev, ctx.profile),
        ],
        measured={
            "eigenvalues_learned": ev.eig,
            "eigenvalues_dense": ref_ev.tolist(),
            "eigenvalues_lanczos": lanczos.tolist(),
            "eigenvalues_population_analytic": pop_ev.tolist(),
            "rel_err": ev.rel_err,
            "eig_from_norms": ev.eig_norm,
            "cos_pool": ev.cos_pool,
            "rel_l2_heldout": ev.rel_l2_heldout,
        },
        figures=figs,
        notes=[
            "Operator: (Tf)(x) = (1/N) Σ_j k(x, x_j) f(x_j) on N pool points x_j ~ N(0, 1); its exact "
            "eigenpairs are the dense eigh of K/N (checked against scipy's eigsh), extended to new points by "
            "Nyström (exact for this operator).",
            "The analytic population eigenvalues (Gaussian measure) are recorded for reference only.",
            f"Training: L_train = {c['L_train']} > L = {c['L']} modes (fact sheet pitfall), {c['steps']} cosine-"
            f"decayed Adam steps at lr {c['lr']:g}, batch {c['batch']}.",
        ],
        config=c,
        controls=controls,
    )


# --------------------------------------------------------------------------------------------------------
# c. Schrödinger operators
# --------------------------------------------------------------------------------------------------------


def _oscillator_operator(d: int, L_train: int, sampler_std: float) -> Any:
    """T = shift − H with H = −Δ + ‖x‖² and shift = E_{L_train} + 2, so that the L_train targets are positive."""
    from empirical.papers.ryu24.neuralsvd.operators import SchrodingerOperator, harmonic_potential

    E_train = _oscillator_energies(d, L_train)
    return SchrodingerOperator(
        d=d, potential=harmonic_potential, shift=float(E_train[-1]) + 2.0, scale=1.0, sampler_std=sampler_std
    )


def _oscillator_net(ctx: RunContext, d: int, L_train: int, c: dict[str, Any], param: str, tag: str) -> nn.Module:
    from empirical.papers.ryu24.neuralsvd.experiments import NetConfig

    return NetConfig(param=param, width=c["width"]).build(
        d, L_train, generator=ctx.generator("init", d, tag), device=ctx.device
    )


def _oscillator_eval(model: nn.Module, op: Any, d: int, L: int, c: dict[str, Any]) -> Any:
    """The top-L functions of ``model`` against the analytic eigenpairs, float64 midpoint quadrature on a
    grid over [−7, 7]^d (h = 0.02 in 1-D, 0.1 in 2-D by default)."""
    from empirical.papers.ryu24.neuralsvd.experiments import quadrature_grid, schrodinger_eval
    from theory.operators_reference import oscillator_eigenfunctions, oscillator_levels

    E, idx = oscillator_levels(d, L)
    pts, w = quadrature_grid(d, 7.0, c.get("grid", OSCILLATOR_GRID)[0 if d == 1 else 1])
    return schrodinger_eval(TopModes(model, L), op, E, lambda x: oscillator_eigenfunctions(x, idx), pts, w)


def _oscillator_run(
    ctx: RunContext, d: int, L: int, L_train: int, c: dict[str, Any], method: str, param: str = "joint", tag: str = ""
) -> tuple[Any, nn.Module, Any, nn.Module]:
    """Train on T = shift − H and evaluate the top L: (evaluation, trained net, operator, untrained copy).

    ``tag`` names the initialisation and batch streams; runs that share a tag share both (paired runs)."""
    from empirical.papers.ryu24.neuralsvd.experiments import fit
    from empirical.train import TrainConfig

    op = _oscillator_operator(d, L_train, c["sampler_std"])
    net = _oscillator_net(ctx, d, L_train, c, param, tag)
    untrained = copy.deepcopy(net)
    tc = TrainConfig(
        steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("train", d, tag)
    )
    fit(net, op, method, tc, device=ctx.device, progress=ctx.progress, desc=f"ryu24 osc {d}D {method} {tag}",
        ema=c.get("ema"))
    return _oscillator_eval(net, op, d, L, c), net, op, untrained


def _fills_levels(d: int, n: int) -> bool:
    """Whether the n lowest oscillator states end with a whole degenerate level."""
    from theory.operators_reference import oscillator_levels

    try:
        oscillator_levels(d, n)
    except ValueError:
        return False
    return True


def _complete_levels(d: int, k: int) -> int:
    """The smallest n ≥ k whose lowest n oscillator states fill whole levels."""
    n = k
    while not _fills_levels(d, n):
        n += 1
    return n


def _oscillator_energies(d: int, L: int) -> torch.Tensor:
    """The L lowest oscillator energies (a degenerate level may be cut: only used to set the shift)."""
    from theory.operators_reference import oscillator_levels

    return oscillator_levels(d, _complete_levels(d, L))[0][:L]


def _exact_oscillator_model(op: Any, d: int, L: int, contamination: torch.Tensor | None = None) -> nn.Module:
    """NeuralSVD's target in the operator's scaling, u_l = √λ_l ψ_l/√q with λ_l = shift − E_l, for
    ψ = φ_{1:L} (exact) or, with ``contamination`` C (L, k), ψ = φ_{1:L} + φ_{L+1:L+k} Cᵀ (a known error)."""
    from empirical.papers.ryu24.neuralsvd.experiments import FixedFunctions
    from theory.operators_reference import oscillator_eigenfunctions, oscillator_levels

    k = 0 if contamination is None else contamination.shape[1]
    E, idx = oscillator_levels(d, _complete_levels(d, L + k))
    lam = (op.shift - E[:L]).sqrt()

    def fn(x: torch.Tensor) -> torch.Tensor:
        phi = oscillator_eigenfunctions(x, idx)
        psi = phi[:, :L] if contamination is None else phi[:, :L] + phi[:, L : L + k] @ contamination.T
        return lam * psi / op.sqrt_density(x)[:, None]

    return FixedFunctions(fn)


def _tolerance_from_eig(eig_tol: float, E_max: float, gap: float) -> tuple[float, float]:
    """Direction bounds implied by an eigenvalue tolerance: a Rayleigh quotient errs by ≈ ε²·gap/… so
    ε² ≲ eig_tol·E_max/gap; capture ≥ 1 − ε², pairwise overlap ≤ 2ε (two functions each off by ε)."""
    eps2 = eig_tol * E_max / gap
    return 1 - eps2, 2 * math.sqrt(eps2)


#: relative eigenvalue tolerance per dimension (fact sheet, 2 CPU cores: 1-D L = 4 ≤ 3e-3, 2-D L = 10 ≤ 5e-3)
OSCILLATOR_TOLERANCE = {1: 3e-3, 2: 5e-3}


def _oscillator_checks(d: int, ev: Any, E_true: list[float]) -> list[Check]:
    """The oscillator claim's checks for one dimension (model and controls)."""
    t = OSCILLATOR_TOLERANCE[d]
    cap_min, ortho_max = _tolerance_from_eig(t, max(E_true), 2.0)
    return [
        Check(f"{d}d_max_rel_eigenvalue_err", max(ev.rel_err), "<=", t,
              "fact sheet, 2 CPU cores: 1-D L = 4 reaches Rayleigh-quotient error ≤ 3e-3 (22 s), 2-D L = 10 ≤ 5e-3 "
              "(3.4 min)"),
        Check(f"{d}d_min_eigenspace_capture", min(ev.capture), ">=", cap_min,
              f"implied by the eigenvalue tolerance: ε² ≲ tol·E_max/gap = {1 - cap_min:.3g} (gap 2)"),
        Check(f"{d}d_orthogonality_max_offdiag", ev.orthogonality, "<=", ortho_max,
              f"implied by the eigenvalue tolerance: overlaps ≤ 2ε = {ortho_max:.3g}"),
    ]


@_one_cpu_thread
def oscillator(ctx: RunContext) -> Outcome:
    from empirical.papers.ryu24.plots import plot_eigenvalue_errors, plot_functions_1d, plot_functions_2d
    from theory.operators_reference import hermite_functions

    _need_device_for_full(ctx)
    c = _cfg(ctx, "oscillator")
    checks, measured, figs, positive, negative = [], {}, [], [], []
    for run in c["runs"]:
        cr = {**c, **run}
        d, L = cr["d"], cr["L"]
        t0, cpu0 = time.perf_counter(), time.process_time()
        ev, net, op, untrained = _oscillator_run(ctx, d, L, cr["L_train"], cr, "sequential")
        E_true = [float(v) for v in _oscillator_energies(d, L)]
        measured[f"{d}d"] = {**ev.__dict__, "E_true": E_true, "wall_s": time.perf_counter() - t0,
                             "cpu_s": time.process_time() - cpu0}
        checks += _oscillator_checks(d, ev, E_true)
        positive += _oscillator_checks(d, _oscillator_eval(_exact_oscillator_model(op, d, L), op, d, L, cr), E_true)
        negative += _oscillator_checks(d, _oscillator_eval(untrained, op, d, L, cr), E_true)
        figs.append(
            plot_eigenvalue_errors(
                {"NeuralSVD (sequential)": ev.rel_err},
                ctx.figure_path(f"eig_err_{d}d"),
                f"{d}-D oscillator: relative eigenvalue error",
                threshold=OSCILLATOR_TOLERANCE[d],
            )
        )
        m64 = TopModes(net, L).to(torch.float64).cpu()
        if d == 1:
            xs = torch.linspace(-5, 5, 201, dtype=torch.float64)[:, None]
            with torch.no_grad():
                psi = op.psi(m64, xs) / torch.tensor(ev.eig_T_norm).sqrt()
            true = hermite_functions(L - 1, xs[:, 0])
            psi = psi * torch.sign((psi * true).sum(0))
            figs.append(plot_functions_1d(xs[:, 0].tolist(), psi.T.tolist(), true.T.tolist(),
                                          ctx.figure_path("functions_1d"), "1-D oscillator: learned vs Hermite"))
        elif d == 2:
            gx = torch.linspace(-4, 4, 61, dtype=torch.float64)
            with torch.no_grad():
                psi = op.psi(m64, torch.cartesian_prod(gx, gx))
            figs.append(plot_functions_2d(gx.tolist(), psi.T.reshape(L, 61, 61).tolist(),
                                          ctx.figure_path("functions_2d"), "2-D oscillator: learned ψ_l"))
    controls = [
        Control("exact_eigenfunctions", "positive",
                "u_l = √(shift − E_l) φ_l/√q with φ_l the analytic Hermite eigenfunctions (NeuralSVD's target), "
                "through the same quadrature and checks", positive),
        Control("untrained_network", "negative", "the same networks at their initialisation: must fail", negative),
    ]
    return Outcome(
        checks=checks,
        measured=measured,
        figures=figs,
        config=c,
        controls=controls,
        notes=[
            "H = −Δ + ‖x‖² (paper's code, no ½): E = 2|n| + d; T = shift − H with shift = E_{L_train}"
            " + 2; L_train > L extra modes, top L assessed (fact sheet pitfall).",
            "Δψ is computed exactly by forward Laplacian propagation through the MLP (checked against "
            "autograd to 1e-15 in the tests), not by the paper's finite differences.",
            "Evaluation: float64, midpoint quadrature on a grid over [−7, 7]^d (no Monte-Carlo error);"
            " degenerate levels are compared as eigenspaces (capture).",
            "Wall and CPU seconds per dimension are in measured (one CPU thread; the shared machine's load "
            "inflates wall time).",
        ],
    )


# --------------------------------------------------------------------------------------------------------
# d. orderings at equal budget: paired over seeds
# --------------------------------------------------------------------------------------------------------

#: contamination size of the ordering controls: ψ_l = φ_l + ε Σ_j C_lj φ_{L+j} with ‖C‖_F = 1 (the worse arm 2ε)
CONTROL_EPS = 0.03


def _paired_errors(ctx: RunContext, c: dict[str, Any], methods: tuple[str, str], param: str) -> dict[str, list[float]]:
    """Max relative eigenvalue error of each method on replicates k = 0..seeds−1; within a replicate both
    methods share the initialisation and the batches (the tag names the replicate, not the method)."""
    errs: dict[str, list[float]] = {m: [] for m in methods}
    for k in ctx.track(range(c["seeds"]), f"{methods[0]} vs {methods[1]} ({param} net)"):
        for m in methods:
            ev, *_ = _oscillator_run(ctx, c["d"], c["L"], c["L_train"], c, m, param, tag=f"{param}/rep{k}")
            errs[m].append(max(ev.rel_err))
    return errs


def _ordering_controls(ctx: RunContext, c: dict[str, Any], check: Callable[[Any], Check]) -> list[Control]:
    """A known ordering through the same evaluation and paired interval: on replicate k the exact
    eigenfunctions contaminated by ε C_k (the 'better' arm) and by 2ε C_k (the 'worse' arm), C_k random with
    ‖C_k‖_F = 1, so the error ratio is ≈ 1/4 on every replicate. Positive: (better, worse) in the claimed
    order; negative: the same pair reversed."""
    from empirical.papers.ryu24.neuralsvd.compare import paired_log_ratio

    d, L = c["d"], c["L"]
    op = _oscillator_operator(d, c["L_train"], c["sampler_std"])
    arms: dict[float, list[float]] = {CONTROL_EPS: [], 2 * CONTROL_EPS: []}
    for k in range(c["seeds"]):
        C = torch.randn(L, 3, generator=ctx.generator("control contamination", k), dtype=torch.float64)
        for eps, errs in arms.items():
            ev = _oscillator_eval(_exact_oscillator_model(op, d, L, eps * C / C.norm()), op, d, L, c)
            errs.append(max(ev.rel_err))
    better, worse = arms[CONTROL_EPS], arms[2 * CONTROL_EPS]
    pos, neg = paired_log_ratio(better, worse), paired_log_ratio(worse, better)
    what = f"exact eigenfunctions contaminated by ε = {CONTROL_EPS} vs 2ε of the next modes, per replicate"
    return [
        Control("known_ordering", "positive", f"{what}, in the claimed order", [check(pos)], pos.as_dict()),
        Control("reversed_ordering", "negative", f"{what}, reversed: the claim is false for it", [check(neg)],
                neg.as_dict()),
    ]


@_one_cpu_thread
def vs_neuralef(ctx: RunContext) -> Outcome:
    from empirical.papers.ryu24.neuralsvd.compare import paired_log_ratio
    from empirical.papers.ryu24.plots import plot_eigenvalue_errors

    _need_device_for_full(ctx)
    c = _cfg(ctx, "vs_neuralef")
    errs = _paired_errors(ctx, c, ("sequential", "neuralef"), "joint")
    effect = paired_log_ratio(errs["sequential"], errs["neuralef"])

    def check(e: Any) -> Check:
        return Check(
            "mean_log10_err_ratio_neuralsvd_over_neuralef", e.mean, "<", 0.0,
            "paper (Sec. 5, hydrogen table): NeuralSVD's eigenvalue error is below NeuralEF's at equal budget. "
            f"Decided before the runs: effect = {e.method}, per-seed error = max relative eigenvalue error over the "
            "top L; margin 0 (any detected improvement): pass when the whole interval is < 0, fail when it is ≥ 0",
            interval=e.interval,
        )

    fig = plot_eigenvalue_errors(
        {"NeuralSVD (sequential)": errs["sequential"], "NeuralEF": errs["neuralef"]},
        ctx.figure_path("err_per_seed"),
        f"{c['d']}-D oscillator, equal budget: max relative error per seed (x = seed)",
    )
    return Outcome(
        checks=[check(effect)],
        measured={"neuralsvd_max_rel_err": errs["sequential"], "neuralef_max_rel_err": errs["neuralef"],
                  "effect": effect.as_dict()},
        figures=[fig],
        notes=[
            "Same network, initialisation, batches, optimiser and steps for both on each replicate; NeuralEF "
            "normalises each function on the batch and follows R_ll − Σ_{j<l} R_jl²/R_jj with stop-gradients "
            "(Deng et al. 2022).",
            f"The paper's comparison is on 2-D hydrogen at 5e5 steps; here the {c['d']}-D oscillator at "
            f"{c['steps']} steps, {c['seeds']} replicates.",
        ],
        config=c,
        controls=_ordering_controls(ctx, c, check),
    )


#: non-inferiority margin of ryu24.seq_vs_joint in log10 of the error ratio: sequential at most 1.2× joint's error
SEQ_VS_JOINT_MARGIN = math.log10(1.2)


@_one_cpu_thread
def nesting_param(ctx: RunContext) -> Outcome:
    from empirical.papers.ryu24.neuralsvd.compare import paired_log_ratio
    from empirical.papers.ryu24.neuralsvd.experiments import make_loss_fn, model_state_bytes, saved_activation_bytes
    from empirical.papers.ryu24.plots import plot_eigenvalue_errors

    _need_device_for_full(ctx)
    c = _cfg(ctx, "nesting")

    def check(e: Any, param: str = "joint") -> Check:
        return Check(
            f"mean_log10_err_ratio_sequential_over_joint ({param} net)", e.mean, "<=", SEQ_VS_JOINT_MARGIN,
            "paper (Sec. 5, hydrogen table): sequential nesting is at least as accurate as joint nesting at equal "
            f"budget (0.009 vs 0.019 at batch 128). Decided before the runs: effect = {e.method}, per-seed error = "
            "max relative eigenvalue error over the top L; non-inferiority margin log10(1.2) (sequential's error "
            "at most 1.2× joint's): pass when the whole interval is ≤ the margin, fail when it is above",
            interval=e.interval,
        )

    rows, effects, series = {}, {}, {}
    for param in c["params"]:
        errs = _paired_errors(ctx, c, ("sequential", "joint"), param)
        effects[param] = paired_log_ratio(errs["sequential"], errs["joint"])
        series.update({f"{n} nesting / {param} net": v for n, v in errs.items()})
    op = _oscillator_operator(c["d"], c["L_train"], c["sampler_std"])
    x = op.sample(ctx.generator("memory"), c["batch"], ctx.device)
    for param in ("joint", "disjoint"):
        net = _oscillator_net(ctx, c["d"], c["L_train"], c, param, "memory")
        for nesting in ("sequential", "joint"):
            rows[f"{nesting} nesting / {param} net"] = {
                "params": sum(p.numel() for p in net.parameters()),
                "state_bytes": model_state_bytes(net),
                "activation_bytes": saved_activation_bytes(make_loss_fn(op, nesting), net, x),
            }
    mem_ratio = max(
        rows[f"sequential nesting / {p} net"]["activation_bytes"] / rows[f"joint nesting / {p} net"]["activation_bytes"]
        for p in ("joint", "disjoint")
    )
    fig = plot_eigenvalue_errors(series, ctx.figure_path("err_per_seed"),
                                 "nesting: max relative error per seed (x = seed), equal budget")
    return Outcome(
        checks=[
            *(check(effects[p], p) for p in c["params"]),
            Check(
                "activation_memory_ratio_sequential_over_joint",
                mem_ratio,
                "<=",
                1.05,
                "both nestings need the same forward pass; they differ only in L×L second-moment matrices "
                "(≤ 5% of the activations here)",
            ),
        ],
        measured={"memory": rows, "errors": series, "effects": {p: e.as_dict() for p, e in effects.items()}},
        figures=[fig],
        notes=[
            "Memory is measured device-agnostically on the untrained networks: bytes autograd saves for one loss "
            "evaluation, and parameter bytes × 4 (weights, gradients, two Adam moments); the operator application "
            "(forward Laplacian) is outside autograd and common to all four.",
            f"Accuracy is compared on the {', '.join(c['params'])} parameterisation(s), {c['seeds']} replicates of "
            f"{c['steps']} steps each ({c['d']}-D oscillator).",
        ],
        config=c,
        controls=_ordering_controls(ctx, c, check),
    )


# --------------------------------------------------------------------------------------------------------
# e. 2-D hydrogen
# --------------------------------------------------------------------------------------------------------

#: acceptance on the mean relative eigenvalue error, per profile, with its reason
HYDROGEN_TOLERANCE = {
    "quick": (0.10, "fact sheet: the L = 4 smoke test on 2 CPU cores gives 1–10% errors; above 10% the run failed"),
    "full": (0.05, "paper: 0.006–0.009 at 5e5 steps (RMSprop); this run uses Adam with the paper's weight averaging "
                   "and steps, so a few-fold larger error is possible; 5% marks a failed run"),
}

#: expected seconds of the full hydrogen run on one GPU: docs/gpu_budget.md's estimate (≈ 5 ms per step on an
#: H100 × 5e5 steps), not a measurement (no GPU was available)
HYDROGEN_FULL_GPU_S_ESTIMATE = 2500


def _hydrogen_model(op: Any, L: int) -> nn.Module:
    """The exact eigenfunctions in the operator's scaling, u_l = √λ_l ψ_l/√q with λ_l = scale/(2n+1)²."""
    from empirical.papers.ryu24.neuralsvd.experiments import FixedFunctions
    from theory.operators_reference import hydrogen2d_eigenfunctions, hydrogen2d_eigenvalues

    lam = (hydrogen2d_eigenvalues(L) * op.scale).sqrt()
    return FixedFunctions(lambda x: lam * hydrogen2d_eigenfunctions(x, L) / op.sqrt_density(x)[:, None])


def _hydrogen_eval(model: nn.Module, op: Any, c: dict[str, Any]) -> Any:
    """Top-L functions vs the analytic 2-D hydrogen eigenpairs on a polar product rule (exact in θ, dense at
    the nucleus); degenerate shells are compared as eigenspaces."""
    from empirical.papers.ryu24.neuralsvd.experiments import polar_quadrature, schrodinger_eval
    from theory.operators_reference import hydrogen2d_eigenfunctions, hydrogen2d_eigenvalues

    L = c["L"]
    pts, w = polar_quadrature(*c["polar"])
    return schrodinger_eval(TopModes(model, L), op, -hydrogen2d_eigenvalues(L),
                            lambda x: hydrogen2d_eigenfunctions(x, L), pts, w)


#: hidden layers of the hydrogen networks (NetConfig's default depth)
HYDROGEN_DEPTH = 3


def hydrogen_memory_estimate(c: dict[str, Any], d: int = 2) -> dict[str, int]:
    """Peak tensor bytes (every device together) of ryu24.hydrogen at its settings ``c`` (:data:`CONFIG`): L_train
    disjoint networks of width W and ``HYDROGEN_DEPTH`` hidden layers on 2k Fourier features, P parameters
    (per network 2k·W + W + (depth − 1)(W² + W) + W + 1).

    * ``training_step``: gradients and Adam's moments 12P, the weight average 4P (when ``ema``), and per batch
      point the float32 forward Laplacian states autograd keeps — each hidden layer saves its input state and its
      activation derivatives, ≤ 2(d+2)·L·W numbers, and the Fourier map 2(d+2)·2k: 4B(d+2)(2·depth·L·W + 4k);
    * ``evaluation``: the float64 copy of the model 8P, one chunk of ``min(M, chunk_points)`` quadrature points
      (M = n_r·n_θ; :func:`empirical.papers.ryu24.neuralsvd.experiments.chunk_points`) with at most 6 layer states of
      (d+2)·L·W float64 numbers alive at once (a layer's input, σ, σ', σ'' and the chain-rule products; measured
      ≈ 4.5 with :class:`empirical.memory.PeakTensorBytes`) plus the Fourier states 2·(d+2)·2k, and the
      per-point results ψ, Tψ, the true functions and their weights, 4·8·M·L.
    """
    from empirical.papers.ryu24.neuralsvd.experiments import chunk_points

    L, W, k, B = c["L_train"], c["width"], c["fourier"][0], c["batch"]
    P = L * (2 * k * W + W + (HYDROGEN_DEPTH - 1) * (W * W + W) + W + 1)
    M = c["polar"][1] * c["polar"][2]
    chunk = min(M, chunk_points(d, L, W, 2 * k))
    train = (12 + (4 if c.get("ema") else 0)) * P + 4 * B * (d + 2) * (2 * HYDROGEN_DEPTH * L * W + 4 * k)
    evaluation = 8 * P + chunk * 8 * (d + 2) * (6 * L * W + 4 * k) + 4 * 8 * M * L
    return {"training_step": train, "evaluation": evaluation}


def _hydrogen_checks(ev: Any, profile: str) -> list[Check]:
    tol, reason = HYDROGEN_TOLERANCE[profile]
    return [Check("mean_rel_eigenvalue_err", float(np.mean(ev.rel_err)), "<=", tol, reason)]


@_one_cpu_thread
def hydrogen(ctx: RunContext) -> Outcome:
    ctx.require_cuda("2-D hydrogen at paper scale (L = 16, 5e5 steps; expected ≈ "
                     f"{HYDROGEN_FULL_GPU_S_ESTIMATE / 60:.0f} min on one GPU, an estimate)")
    from empirical.papers.ryu24.neuralsvd.experiments import NetConfig, fit
    from empirical.papers.ryu24.neuralsvd.operators import SchrodingerOperator, coulomb2d_potential
    from empirical.train import TrainConfig
    from theory.operators_reference import hydrogen2d_eigenvalues

    c = _cfg(ctx, "hydrogen")
    op = SchrodingerOperator(
        d=2, potential=coulomb2d_potential, shift=0.0, scale=c["scale"], sampler_std=c["sampler_std"]
    )
    net = NetConfig(param="disjoint", width=c["width"], depth=HYDROGEN_DEPTH, fourier=c["fourier"]).build(
        2, c["L_train"], generator=ctx.generator("init"), device=ctx.device
    )
    untrained = copy.deepcopy(net)
    tc = TrainConfig(steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("t"))
    t0, cpu0 = time.perf_counter(), time.process_time()
    fit(net, op, "sequential", tc, device=ctx.device, progress=ctx.progress, desc="ryu24 hydrogen", ema=c.get("ema"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ev = _hydrogen_eval(net, op, c)
    ev_exact, ev_untrained = _hydrogen_eval(_hydrogen_model(op, c["L"]), op, c), _hydrogen_eval(untrained, op, c)
    controls = [
        Control("exact_eigenfunctions", "positive",
                "u_l = √λ_l ψ_l/√q with ψ_l the analytic 2-D hydrogen eigenfunctions (Laguerre × e^{−r/(2n+1)}), "
                "through the same quadrature and check", _hydrogen_checks(ev_exact, ctx.profile),
                {"rel_err": ev_exact.rel_err, "capture": ev_exact.capture}),
        Control("untrained_network", "negative", "the same disjoint networks at their initialisation: must fail",
                _hydrogen_checks(ev_untrained, ctx.profile), {"rel_err": ev_untrained.rel_err}),
    ]
    notes = [
        "Deviations: Adam instead of RMSprop; exact forward Laplacian instead of finite differences; evaluation "
        f"by a polar product rule (radius {c['polar'][0]:g}, {c['polar'][1]}×{c['polar'][2]} nodes) instead of "
        "a grid.",
        f"Expected time of the full profile on one GPU: ≈ {HYDROGEN_FULL_GPU_S_ESTIMATE} s (docs/gpu_budget.md: "
        "≈ 5 ms per step × 5e5 steps; an estimate, never measured). On 2 CPU threads the fact sheet measured "
        "73 ms per paper-size step (≈ 10 h).",
    ]
    if ctx.quick:
        notes.insert(0, f"quick profile: a smoke test (L = {c['L']}: the shells n = 0, 1; {c['steps']} steps, "
                        f"width {c['width']}, {c['fourier'][0]} Fourier features). It can say that the pipeline "
                        "(importance sampling, forward Laplacian of disjoint Fourier-feature networks, sequential "
                        "nesting, evaluation) learns the two lowest shells to within 10% on average; it says "
                        "nothing about the paper's L = 16 accuracy of 0.6–0.9%.")
    return Outcome(
        checks=_hydrogen_checks(ev, ctx.profile),
        measured={"rel_err": ev.rel_err, "capture": ev.capture, "orthogonality": ev.orthogonality,
                  "energies": ev.energies, "true_eig_T": (hydrogen2d_eigenvalues(c["L"]) * c["scale"]).tolist(),
                  "train_wall_s": wall,
                  "train_cpu_s": cpu, "gpu_s_expected_full": HYDROGEN_FULL_GPU_S_ESTIMATE},
        notes=notes,
        config=c,
        controls=controls,
    )


