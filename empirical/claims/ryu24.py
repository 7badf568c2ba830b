"""ryu24 claims — Ryu, Xu, Erol, Bu, Zheng, Wornell (ICML 2024), fact sheet ``shared/papers/ryu24.md``.

NeuralSVD: minimise the nested low-rank approximation (LoRA) objective to learn the top-L singular
(eigen)functions of an operator, ordered, without explicit orthogonalisation. The ladder:

a. finite matrices (closed form + training), b. a Gaussian-kernel integral operator vs the dense/Nyström
reference, c. the quantum harmonic oscillator (1-D, 2-D) and a NeuralEF baseline at equal budget,
d. joint vs sequential nesting and joint vs disjoint parameterisation (accuracy and memory), and the 2-D
hydrogen atom (quick profile: an L = 4 smoke test; full profile: CUDA).

Configurations live in :data:`CONFIG` (``quick`` / ``full``); tests shrink them to run the runners fast.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext, SkipClaim

PAPER = Paper(
    key="ryu24",
    title="Operator SVD with Neural Networks via Nested Low-Rank Approximation",
    authors="J. Jon Ryu, Xiangxiang Xu, H. S. Melihcan Erol, Yuheng Bu, Lizhong Zheng, Gregory W. Wornell",
    venue="ICML 2024",
    arxiv="2402.03655",
)

#: float64 round-off for the closed-form checks: sums of O(mn) products of O(1) numbers, relative to the
#: objective's scale; 1e-10 leaves a factor ~1e5 above machine epsilon for m, n <= 60.
ROUNDOFF = 1e-10

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
        "quick": {
            "N": 1000,
            "n_heldout": 500,
            "bandwidth": 1.0,
            "L": 4,
            "L_train": 5,
            "steps": 1500,
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
        "quick": {
            "dims": [(1, 4, 6), (2, 6, 8)],
            "steps": 3000,
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
        },
        "full": {
            "dims": [(1, 8, 10), (2, 10, 12)],
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
        },
    },
    "vs_neuralef": {
        "quick": {
            "d": 1,
            "L": 4,
            "L_train": 6,
            "steps": 2000,
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
        },
        "full": {
            "d": 2,
            "L": 10,
            "L_train": 12,
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
        },
    },
    "nesting": {
        "quick": {
            "d": 1,
            "L": 4,
            "L_train": 6,
            "steps": 1000,
            "batch": 128,
            "lr": 3e-3,
            "width": 64,
            "sampler_std": 1.5,
        },
        "full": {
            "d": 2,
            "L": 10,
            "L_train": 12,
            "steps": 50000,
            "batch": 512,
            "lr": 1e-3,
            "width": 128,
            "sampler_std": 1.5,
        },
    },
    "hydrogen": {
        # a smoke test (fact sheet: "2-D hydrogen L = 4: 2.5 min, 1–10% errors"): L = 4 fills the shells n = 0, 1
        # (eigenvalues 1, 1/9 ×3); one extra trained mode and lr 3e-3 with cosine decay (sheet pitfalls). Sized
        # for a few CPU minutes: with the full profile's 1024 Fourier features and width 64 a step took 0.58 s
        # here; with 128 features and width 32 at batch 128, 0.074 s.
        "quick": {
            "L": 4,
            "L_train": 5,
            "steps": 2000,
            "batch": 128,
            "lr": 3e-3,
            "width": 32,
            "fourier": (128, 0.1),
            "sampler_std": 16.0,
            "scale": 100.0,
            "grid": (60.0, 300),
        },
        "full": {
            "L": 16,
            "L_train": 16,
            "steps": 100000,
            "batch": 512,
            "lr": 1e-4,
            "width": 128,
            "fourier": (1024, 0.1),
            "sampler_std": 16.0,
            "scale": 100.0,
            "grid": (60.0, 600),
        },
    },
}


def _cfg(ctx: RunContext, name: str) -> dict[str, Any]:
    return dict(CONFIG[name]["quick" if ctx.quick else "full"])


def _need_device_for_full(ctx: RunContext) -> None:
    if not ctx.quick and ctx.device.type != "cuda":
        raise SkipClaim("needs cuda: the full profile trains at paper scale (hours on CPU)")


# --------------------------------------------------------------------------------------------------------
# a. finite matrices
# --------------------------------------------------------------------------------------------------------


def _spectrum(k: int, decay: float) -> torch.Tensor:
    """σ_i = decay^i: distinct values, gaps σ_l − σ_{l+1} = (1 − decay) σ_l (the optimum is unique)."""
    return decay ** torch.arange(k, dtype=torch.float64)


def _train_matrix(
    T: torch.Tensor, L: int, nesting: str, cfg: dict[str, Any], ctx: RunContext, tag: str, symmetric: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train free tables (float32, exact operator, Adam + cosine) -> float64 (F, G)."""
    from empirical.neuralsvd.experiments import fit
    from empirical.neuralsvd.models import FunctionTable, SVDPair
    from empirical.neuralsvd.operators import MatrixOperator
    from empirical.train import TrainConfig

    g = ctx.generator("init", tag)
    m, n = T.shape
    dev = ctx.device
    if symmetric:
        model: nn.Module = FunctionTable(m, L, generator=g, device=dev)
    else:
        model = SVDPair(FunctionTable(m, L, generator=g, device=dev), FunctionTable(n, L, generator=g, device=dev))
    op = MatrixOperator(T.to(device=dev, dtype=torch.float32), symmetric=symmetric)
    tc = TrainConfig(steps=cfg["steps"], batch_size=1, lr=cfg["lr"], schedule="cosine", seed=ctx.child_seed(tag))
    fit(model, op, nesting, tc, device=dev, exact=True, progress=ctx.progress, desc=f"ryu24 matrix {tag}")
    if symmetric:
        F = model.table.detach().double().cpu()
        return F, F
    return model.f.table.detach().double().cpu(), model.g.table.detach().double().cpu()


def _svd_errors(T: torch.Tensor, F: torch.Tensor, G: torch.Tensor) -> dict[str, list[float]]:
    """σ̂_l = ‖f_l‖‖g_l‖ vs numpy's SVD (relative), and |cos| of f_l, g_l to u_l, v_l (independent reference)."""
    U, S, Vt = np.linalg.svd(T.numpy())
    L = F.shape[1]
    Fn, Gn = F.numpy(), G.numpy()
    s_hat = np.linalg.norm(Fn, axis=0) * np.linalg.norm(Gn, axis=0)
    cos_f = np.abs(np.sum(Fn * U[:, :L], 0)) / np.linalg.norm(Fn, axis=0)
    cos_g = np.abs(np.sum(Gn * Vt[:L].T, 0)) / np.linalg.norm(Gn, axis=0)
    return {
        "sigma_true": S[:L].tolist(),
        "sigma_hat": s_hat.tolist(),
        "sigma_rel_err": (np.abs(s_hat - S[:L]) / S[:L]).tolist(),
        "cos_f": cos_f.tolist(),
        "cos_g": cos_g.tolist(),
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


def _nested_optimum(ctx: RunContext) -> Outcome:
    from theory.low_rank import (
        matrix_with_spectrum,
        nested_lora_objective,
        nested_optimum_value,
        sequential_gradient,
        truncated_svd_optimum,
    )

    cfg = _cfg(ctx, "matrix")
    g = ctx.generator("matrices")
    rows: list[dict[str, Any]] = []
    worst = {
        "value": 0.0,
        "grad_joint": 0.0,
        "grad_seq": 0.0,
        "sigma": 0.0,
        "cos": 0.0,
        "lbfgs_sigma": 0.0,
        "lbfgs_cos": 0.0,
    }
    for m, n, L in ctx.track(cfg["shapes"], "closed form"):
        T = matrix_with_spectrum(m, n, _spectrum(min(m, n), cfg["decay"]), g)
        F, G, s = truncated_svd_optimum(T, L)
        S_np = np.linalg.svd(T.numpy(), compute_uv=False)[:L]
        bound = float(nested_optimum_value(torch.tensor(S_np)))  # Eckart–Young per nested term
        Fr, Gr = F.clone().requires_grad_(True), G.clone().requires_grad_(True)
        val = nested_lora_objective(T, Fr, Gr)
        val.backward()
        val = val.detach()
        dF, dG = sequential_gradient(T, F, G)
        e = _svd_errors(T, F, G)
        Fl, Gl = _lbfgs_nested(T, L, ctx.rng("lbfgs", m, n, L))
        el = _svd_errors(T, Fl, Gl)
        row = {
            "m": m,
            "n": n,
            "L": L,
            "value_minus_bound_rel": abs(float(val) - bound) / abs(bound),
            "grad_joint_max": float(max(Fr.grad.abs().max(), Gr.grad.abs().max())),
            "grad_sequential_max": float(max(dF.abs().max(), dG.abs().max())),
            "sigma_rel_err": max(e["sigma_rel_err"]),
            "one_minus_cos": 1 - min(e["cos_f"] + e["cos_g"]),
            "lbfgs_sigma_rel_err": max(el["sigma_rel_err"]),
            "lbfgs_one_minus_cos": 1 - min(el["cos_f"] + el["cos_g"]),
        }
        rows.append(row)
        for k, key in (
            ("value", "value_minus_bound_rel"),
            ("grad_joint", "grad_joint_max"),
            ("grad_seq", "grad_sequential_max"),
            ("sigma", "sigma_rel_err"),
            ("cos", "one_minus_cos"),
            ("lbfgs_sigma", "lbfgs_sigma_rel_err"),
            ("lbfgs_cos", "lbfgs_one_minus_cos"),
        ):
            worst[k] = max(worst[k], row[key])

    # Training (float32, exact operator, the suite's train loop): SVD form with both nestings, EVD form.
    m, n, L = cfg["train_shape"]
    T = matrix_with_spectrum(m, n, _spectrum(min(m, n), cfg["decay"]), ctx.generator("train matrix"))
    trained: dict[str, dict[str, list[float]]] = {}
    for nesting in ("sequential", "joint"):
        trained[f"svd_{nesting}"] = _svd_errors(T, *_train_matrix(T, L, nesting, cfg, ctx, f"svd_{nesting}"))
    Q, _ = torch.linalg.qr(torch.randn(m, m, generator=ctx.generator("sym"), dtype=torch.float64))
    S_sym = (Q * _spectrum(m, cfg["decay"])) @ Q.T
    S_sym = 0.5 * (S_sym + S_sym.T)
    for nesting in ("sequential", "joint"):
        trained[f"evd_{nesting}"] = _svd_errors(
            S_sym, *_train_matrix(S_sym, L, nesting, cfg, ctx, f"evd_{nesting}", symmetric=True)
        )
    train_sigma = max(max(v["sigma_rel_err"]) for v in trained.values())
    train_cos = max(1 - min(v["cos_f"] + v["cos_g"]) for v in trained.values())

    figs = []
    from empirical.plotting.ryu24 import plot_eigenvalue_errors, plot_singular_values

    figs.append(
        plot_singular_values(
            trained["svd_sequential"]["sigma_true"],
            {k: v["sigma_hat"] for k, v in trained.items() if k.startswith("svd")},
            ctx.figure_path("singular_values"),
            f"{m}×{n}, L = {L}: learned σ̂ vs SVD",
        )
    )
    figs.append(
        plot_eigenvalue_errors(
            {k: v["sigma_rel_err"] for k, v in trained.items()},
            ctx.figure_path("sigma_error"),
            "matrix: relative σ error per index",
            threshold=1e-3,
        )
    )
    train_reason = (
        "optimisation-limited: exact gradients in float32 (round-off ~1e-6); with the smallest "
        f"relative gap 1 − {cfg['decay']} = {1 - cfg['decay']:.2f} and {cfg['steps']} cosine-decayed Adam "
        "steps a converged run is far below 1e-3 (fact sheet: 60×40, L = 8 in 2–3 s)"
    )
    return Outcome(
        checks=[
            Check(
                "closed_form_value_minus_eckart_young_bound_rel",
                worst["value"],
                "<=",
                ROUNDOFF,
                "the truncated SVD attains every nested term's Eckart–Young bound; float64 round-off",
            ),
            Check(
                "closed_form_grad_joint_max",
                worst["grad_joint"],
                "<=",
                ROUNDOFF,
                "stationary point of the jointly nested objective; float64 round-off",
            ),
            Check(
                "closed_form_grad_sequential_max",
                worst["grad_seq"],
                "<=",
                ROUNDOFF,
                "fixed point of the sequential-nesting vector field; float64 round-off",
            ),
            Check(
                "closed_form_sigma_rel_err_vs_numpy",
                worst["sigma"],
                "<=",
                ROUNDOFF,
                "σ̂ = ‖f‖‖g‖ at the closed-form optimum vs numpy's SVD; float64 round-off",
            ),
            Check(
                "closed_form_one_minus_cos_vs_numpy",
                worst["cos"],
                "<=",
                ROUNDOFF,
                "singular vectors at the closed-form optimum vs numpy's SVD; float64 round-off",
            ),
            Check(
                "lbfgs_from_random_init_sigma_rel_err",
                worst["lbfgs_sigma"],
                "<=",
                1e-6,
                "float64 L-BFGS on the nested objective (gtol 1e-12) converges to the unique ordered optimum; "
                "1e-6 allows for the stopping rule near the flat scale direction f→cf, g→g/c",
            ),
            Check(
                "lbfgs_from_random_init_one_minus_cos",
                worst["lbfgs_cos"],
                "<=",
                1e-6,
                "as above, for the directions (order included: |cos| is taken index by index)",
            ),
            Check("trained_sigma_rel_err", train_sigma, "<=", 1e-3, train_reason),
            Check("trained_one_minus_cos", train_cos, "<=", 1e-3, train_reason),
        ],
        measured={"closed_form": rows, "trained": trained, "train_shape": [m, n, L]},
        figures=figs,
        notes=[
            "σ_i = decay^i; SVD form on a random U diag(σ) Vᵀ, EVD form on a random Q diag(σ) Qᵀ.",
            "Training applies T exactly (all indices) so that the check isolates the objective; the "
            "minibatch estimators are exercised by the kernel and Schrödinger claims and the tests.",
        ],
        config=cfg,
    )


def _subspace_only(ctx: RunContext) -> Outcome:
    from theory.low_rank import (
        gauge_transform,
        lora_objective,
        matrix_with_spectrum,
        nested_lora_objective,
        principal_angle_sines,
        truncated_svd_optimum,
    )

    cfg = _cfg(ctx, "matrix")
    m, n, L = cfg["train_shape"]
    T = matrix_with_spectrum(m, n, _spectrum(min(m, n), cfg["decay"]), ctx.generator("matrix"))
    F, G, _ = truncated_svd_optimum(T, L)
    base, nbase = float(lora_objective(T, F, G)), float(nested_lora_objective(T, F, G))
    g = ctx.generator("gauges")
    inv_dev, nested_gain = 0.0, math.inf
    for _ in range(cfg["n_gauges"]):
        A = torch.eye(L, dtype=torch.float64) + 0.3 * torch.randn(L, L, generator=g, dtype=torch.float64)
        Fa, Ga = gauge_transform(F, G, A)
        inv_dev = max(inv_dev, abs(float(lora_objective(T, Fa, Ga)) - base) / abs(base))
        nested_gain = min(nested_gain, (float(nested_lora_objective(T, Fa, Ga)) - nbase) / abs(nbase))

    U, _, Vt = np.linalg.svd(T.numpy())
    res = {}
    for nesting in ("none", "sequential"):
        Ft, Gt = _train_matrix(T, L, nesting, cfg, ctx, f"svd_{nesting}")
        e = _svd_errors(T, Ft, Gt)
        sub = max(
            float(principal_angle_sines(Ft, torch.tensor(U[:, :L])).max()),
            float(principal_angle_sines(Gt, torch.tensor(Vt[:L].T)).max()),
        )
        res[nesting] = {"max_principal_sine": sub, "min_cos": min(e["cos_f"] + e["cos_g"]), **e}
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
        ],
        measured={"gauge_invariance_rel_dev": inv_dev, "nested_gain_rel_min": nested_gain, "trained": res},
        config=cfg,
    )


# --------------------------------------------------------------------------------------------------------
# b. kernel integral operator
# --------------------------------------------------------------------------------------------------------


class _TopL(nn.Module):
    """The first L outputs of a model trained with extra modes (fact sheet pitfall: the last mode converges
    slowest, so train L_train > L and assess the top L)."""

    def __init__(self, model: nn.Module, L: int) -> None:
        super().__init__()
        self.model, self.L = model, L

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[..., : self.L]

    def forward_laplacian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(t[..., : self.L] for t in self.model.forward_laplacian(x))  # type: ignore[return-value]


def _kernel(ctx: RunContext) -> Outcome:
    from empirical.neuralsvd.experiments import NetConfig, fit, kernel_eval
    from empirical.neuralsvd.operators import KernelOperator
    from empirical.plotting.ryu24 import plot_eigenvalue_errors, plot_functions_1d
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
    ref_held = nystrom_extend(gaussian_kernel(held, pool, c["bandwidth"]), ref_ev, ref_pool)
    pop_ev, _ = gaussian_kernel_eigen_1d(held[:, 0], c["L"], c["bandwidth"], 1.0)

    op = KernelOperator(pool.to(device=ctx.device, dtype=torch.float32), c["bandwidth"])
    net = NetConfig(width=c["width"]).build(1, c["L_train"], generator=ctx.generator("init"), device=ctx.device)
    tc = TrainConfig(steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("t"))
    fit(net, op, "sequential", tc, device=ctx.device, progress=ctx.progress, desc="ryu24 kernel")
    ev = kernel_eval(_TopL(net, c["L"]), replace(op, pool=pool), ref_ev, ref_pool, ref_held, held)

    xs = torch.linspace(-3, 3, 121, dtype=torch.float64)[:, None]
    ny = nystrom_extend(gaussian_kernel(xs, pool, c["bandwidth"]), ref_ev, ref_pool)
    with torch.no_grad():
        learned = _TopL(net, c["L"]).to(torch.float64).cpu()(xs)
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
            threshold=0.05,
        ),
    ]
    return Outcome(
        checks=[
            Check(
                "max_rel_eigenvalue_err",
                max(ev.rel_err),
                "<=",
                0.05,
                "minibatch (U-statistic) training at this budget: fact sheet measured ≈ 3.5% at L = 4 on 2 CPU "
                "cores in under a minute; 5% allows seed-to-seed spread",
            ),
            Check(
                "min_abs_cos_on_pool",
                min(ev.cos_pool),
                ">=",
                0.98,
                "a Rayleigh quotient is second-order in the direction error ε (Δλ ≈ ε²·gap), so ≤ 5% eigenvalue "
                "error at relative gaps ≈ 0.6 allows ε² ≲ 0.04, i.e. |cos| ≳ 0.98",
            ),
            Check(
                "max_rel_l2_err_heldout_vs_nystrom",
                max(ev.rel_l2_heldout),
                "<=",
                0.2,
                "held-out points (not in the pool): ‖φ̂ − φ‖ = √(2(1 − cos)) = 0.2 at |cos| = 0.98, the pool "
                "threshold; the network must generalise at least as well as it fits",
            ),
        ],
        measured={
            "eigenvalues_learned": ev.eig,
            "eigenvalues_dense": ref_ev.tolist(),
            "eigenvalues_population_analytic": pop_ev.tolist(),
            "rel_err": ev.rel_err,
            "eig_from_norms": ev.eig_norm,
            "cos_pool": ev.cos_pool,
            "rel_l2_heldout": ev.rel_l2_heldout,
        },
        figures=figs,
        notes=[
            "Operator: (Tf)(x) = (1/N) Σ_j k(x, x_j) f(x_j) on N pool points x_j ~ N(0, 1); its exact "
            "eigenpairs are the dense eigh of K/N, extended to new points by Nyström (exact for this operator).",
            "The analytic population eigenvalues (Gaussian measure) are recorded for reference only.",
        ],
        config=c,
    )


# --------------------------------------------------------------------------------------------------------
# c. Schrödinger operators
# --------------------------------------------------------------------------------------------------------


def _oscillator_run(
    ctx: RunContext, d: int, L: int, L_train: int, c: dict[str, Any], method: str, param: str = "joint", tag: str = ""
) -> tuple[Any, nn.Module, Any]:
    """Train on T = shift − H (H = −Δ + ‖x‖², shift = E_{L_train} + 2 so the L_train targets are positive)
    and evaluate the top L on a quadrature grid against the analytic eigenpairs."""
    from empirical.neuralsvd.experiments import NetConfig, fit, quadrature_grid, schrodinger_eval
    from empirical.neuralsvd.operators import SchrodingerOperator, harmonic_potential
    from empirical.train import TrainConfig
    from theory.operators_reference import oscillator_eigenfunctions, oscillator_levels

    E_train = _oscillator_energies(d, L_train)
    E, idx = oscillator_levels(d, L)
    op = SchrodingerOperator(
        d=d, potential=harmonic_potential, shift=float(E_train[-1]) + 2.0, scale=1.0, sampler_std=c["sampler_std"]
    )
    net = NetConfig(param=param, width=c["width"]).build(
        d, L_train, generator=ctx.generator("init", d, tag), device=ctx.device
    )
    tc = TrainConfig(
        steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("train", d, tag)
    )
    fit(net, op, method, tc, device=ctx.device, progress=ctx.progress, desc=f"ryu24 osc {d}D {method} {tag}")
    n_grid = c.get("grid", (700, 140))[0 if d == 1 else 1]  # midpoint rule, h = 0.02 (1-D) / 0.1 (2-D)
    pts, w = quadrature_grid(d, 7.0, n_grid)
    ev = schrodinger_eval(_TopL(net, L), op, E, lambda x: oscillator_eigenfunctions(x, idx), pts, w)
    return ev, net, op


def _oscillator_energies(d: int, L: int) -> torch.Tensor:
    """The L lowest oscillator energies (a degenerate level may be cut: only used to set the shift)."""
    from theory.operators_reference import oscillator_levels

    k = L
    while True:
        try:
            return oscillator_levels(d, k)[0][:L]
        except ValueError:
            k += 1


def _tolerance_from_eig(eig_tol: float, E_max: float, gap: float) -> tuple[float, float]:
    """Direction bounds implied by an eigenvalue tolerance: a Rayleigh quotient errs by ≈ ε²·gap/… so
    ε² ≲ eig_tol·E_max/gap; capture ≥ 1 − ε², pairwise overlap ≤ 2ε (two functions each off by ε)."""
    eps2 = eig_tol * E_max / gap
    return 1 - eps2, 2 * math.sqrt(eps2)


def _oscillator(ctx: RunContext) -> Outcome:
    from empirical.plotting.ryu24 import plot_eigenvalue_errors, plot_functions_1d, plot_functions_2d
    from theory.operators_reference import hermite_functions

    _need_device_for_full(ctx)
    c = _cfg(ctx, "oscillator")
    tol = {1: 3e-3, 2: 1e-2}
    checks, measured, figs = [], {}, []
    for d, L, L_train in c["dims"]:
        ev, net, op = _oscillator_run(ctx, d, L, L_train, c, "sequential")
        E_true = [float(v) for v in _oscillator_energies(d, L)]
        t = tol.get(d, 1e-2)
        cap_min, ortho_max = _tolerance_from_eig(t, max(E_true), 2.0)
        measured[f"{d}d"] = {**ev.__dict__, "E_true": E_true}
        reason = (
            "fact sheet, 2 CPU cores: 1-D L = 4 reaches Rayleigh-quotient error ≤ 3e-3 (22 s), 2-D ≲ 1e-2 "
            "(about a minute)"
        )
        checks += [
            Check(f"{d}d_max_rel_eigenvalue_err", max(ev.rel_err), "<=", t, reason),
            Check(
                f"{d}d_min_eigenspace_capture",
                min(ev.capture),
                ">=",
                cap_min,
                f"implied by the eigenvalue tolerance: ε² ≲ tol·E_max/gap = {1 - cap_min:.3g} (gap 2)",
            ),
            Check(
                f"{d}d_orthogonality_max_offdiag",
                ev.orthogonality,
                "<=",
                ortho_max,
                f"implied by the eigenvalue tolerance: overlaps ≤ 2ε = {ortho_max:.3g}",
            ),
        ]
        figs.append(
            plot_eigenvalue_errors(
                {"NeuralSVD (sequential)": ev.rel_err},
                ctx.figure_path(f"eig_err_{d}d"),
                f"{d}-D oscillator: relative eigenvalue error",
                threshold=t,
            )
        )
        if d == 1:
            xs = torch.linspace(-5, 5, 201, dtype=torch.float64)[:, None]
            m64 = _TopL(net, L).to(torch.float64).cpu()
            op64 = replace(op)
            with torch.no_grad():
                psi = op64.psi(m64, xs) / torch.tensor(ev.eig_T_norm).sqrt()
            true = hermite_functions(L - 1, xs[:, 0])
            psi = psi * torch.sign((psi * true).sum(0))
            figs.append(
                plot_functions_1d(
                    xs[:, 0].tolist(),
                    psi.T.tolist(),
                    true.T.tolist(),
                    ctx.figure_path("functions_1d"),
                    "1-D oscillator: learned vs Hermite",
                )
            )
        elif d == 2:
            gx = torch.linspace(-4, 4, 61, dtype=torch.float64)
            pts = torch.cartesian_prod(gx, gx)
            with torch.no_grad():
                psi = op.psi(_TopL(net, L).to(torch.float64).cpu(), pts)
            figs.append(
                plot_functions_2d(
                    gx.tolist(),
                    psi.T.reshape(L, 61, 61).tolist(),
                    ctx.figure_path("functions_2d"),
                    "2-D oscillator: learned ψ_l",
                )
            )
    return Outcome(
        checks=checks,
        measured=measured,
        figures=figs,
        config=c,
        notes=[
            "H = −Δ + ‖x‖² (paper's code, no ½): E = 2|n| + d; T = shift − H with shift = E_{L_train}"
            " + 2; L_train > L extra modes, top L assessed (fact sheet pitfall).",
            "Δψ is computed exactly by forward Laplacian propagation through the MLP (checked against "
            "autograd to 1e-15 in the tests), not by the paper's finite differences.",
            "Evaluation: float64, midpoint quadrature on a grid over [−7, 7]^d (no Monte-Carlo error);"
            " degenerate levels are compared as eigenspaces (capture).",
        ],
    )


def _vs_neuralef(ctx: RunContext) -> Outcome:
    from empirical.plotting.ryu24 import plot_eigenvalue_errors

    _need_device_for_full(ctx)
    c = _cfg(ctx, "vs_neuralef")
    res = {}
    for method in ("sequential", "neuralef"):
        ev, _, _ = _oscillator_run(ctx, c["d"], c["L"], c["L_train"], c, method, tag=method)
        res[method] = ev.__dict__
    fig = plot_eigenvalue_errors(
        {"NeuralSVD (sequential)": res["sequential"]["rel_err"], "NeuralEF": res["neuralef"]["rel_err"]},
        ctx.figure_path("eig_err"),
        f"{c['d']}-D oscillator, equal budget",
    )
    svd, ef = max(res["sequential"]["rel_err"]), max(res["neuralef"]["rel_err"])
    return Outcome(
        checks=[
            Check(
                "neuralsvd_max_rel_err_minus_neuralef",
                svd - ef,
                "<=",
                0.0,
                "paper (hydrogen, Sec. 5): NeuralSVD's eigenvalue error is below NeuralEF's at equal budget",
            ),
        ],
        measured={
            "neuralsvd": res["sequential"],
            "neuralef": res["neuralef"],
            "neuralsvd_max_rel_err": svd,
            "neuralef_max_rel_err": ef,
        },
        figures=[fig],
        notes=[
            "Same network, initialisation seed, batches, optimiser and steps for both; NeuralEF normalises each "
            "function on the batch and follows R_ll − Σ_{j<l} R_jl²/R_jj with stop-gradients (Deng et al. 2022).",
            "The paper's comparison is on 2-D hydrogen at 5e5 steps; here the 2-D oscillator at the quick budget.",
        ],
        config=c,
    )


def _nesting_param(ctx: RunContext) -> Outcome:
    from empirical.neuralsvd.experiments import make_loss_fn, model_state_bytes, saved_activation_bytes
    from empirical.plotting.ryu24 import plot_eigenvalue_errors

    _need_device_for_full(ctx)
    c = _cfg(ctx, "nesting")
    rows, series = {}, {}
    for param in ("joint", "disjoint"):
        for nesting in ("sequential", "joint"):
            ev, net, op = _oscillator_run(ctx, c["d"], c["L"], c["L_train"], c, nesting, param, tag=f"{param}")
            x = op.sample(ctx.generator("memory"), c["batch"], ctx.device)
            key = f"{nesting} nesting / {param} net"
            rows[key] = {
                "max_rel_err": max(ev.rel_err),
                "rel_err": ev.rel_err,
                "orthogonality": ev.orthogonality,
                "params": sum(p.numel() for p in net.parameters()),
                "state_bytes": model_state_bytes(net),
                "activation_bytes": saved_activation_bytes(make_loss_fn(op, nesting), net, x),
            }
            series[key] = ev.rel_err
    fig = plot_eigenvalue_errors(series, ctx.figure_path("eig_err"), "nesting × parameterisation (equal budget)")
    mem_ratio = max(
        rows[f"sequential nesting / {p} net"]["activation_bytes"] / rows[f"joint nesting / {p} net"]["activation_bytes"]
        for p in ("joint", "disjoint")
    )
    seq_minus_joint = max(
        rows[f"sequential nesting / {p} net"]["max_rel_err"] - rows[f"joint nesting / {p} net"]["max_rel_err"]
        for p in ("joint", "disjoint")
    )
    return Outcome(
        checks=[
            Check(
                "sequential_minus_joint_max_rel_err",
                seq_minus_joint,
                "<=",
                0.0,
                "paper (Sec. 5, hydrogen table): sequential nesting is at least as accurate as joint nesting at "
                "equal budget (0.009 vs 0.019 at batch 128)",
            ),
            Check(
                "activation_memory_ratio_sequential_over_joint",
                mem_ratio,
                "<=",
                1.05,
                "both nestings need the same forward pass; they differ only in L×L second-moment matrices "
                "(≤ 5% of the activations here)",
            ),
        ],
        measured={"rows": rows},
        figures=[fig],
        notes=[
            "Memory is measured device-agnostically: bytes autograd saves for one loss evaluation, and parameter "
            "bytes × 4 (weights, gradients, two Adam moments); the operator application (forward Laplacian) is "
            "outside autograd and common to all four."
        ],
        config=c,
    )


#: acceptance on the mean relative eigenvalue error, per profile, with its reason
HYDROGEN_TOLERANCE = {
    "quick": (0.10, "fact sheet: the L = 4 smoke test on 2 CPU cores gives 1–10% errors; above 10% the run failed"),
    "full": (0.05, "paper: 0.006–0.009 at 5e5 steps; this run uses 1e5 Adam steps (no weight averaging), so a "
                   "few-fold larger error is expected; 5% marks a failed run"),
}


def _hydrogen(ctx: RunContext) -> Outcome:
    if not ctx.quick and ctx.device.type != "cuda":
        raise SkipClaim("needs cuda: 2-D hydrogen at paper scale (L = 16, ~1e5 steps)")
    from empirical.neuralsvd.experiments import NetConfig, fit, psi_on_points, quadrature_grid, rayleigh_quotients
    from empirical.neuralsvd.operators import SchrodingerOperator, coulomb2d_potential
    from empirical.train import TrainConfig
    from theory.operators_reference import hydrogen2d_eigenvalues

    c = _cfg(ctx, "hydrogen")
    op = SchrodingerOperator(
        d=2, potential=coulomb2d_potential, shift=0.0, scale=c["scale"], sampler_std=c["sampler_std"]
    )
    net = NetConfig(param="disjoint", width=c["width"], fourier=c["fourier"]).build(
        2, c["L_train"], generator=ctx.generator("init"), device=ctx.device
    )
    tc = TrainConfig(steps=c["steps"], batch_size=c["batch"], lr=c["lr"], schedule="cosine", seed=ctx.child_seed("t"))
    fit(net, op, "sequential", tc, device=ctx.device, progress=ctx.progress, desc="ryu24 hydrogen")
    pts, w = quadrature_grid(2, *c["grid"])
    rq, _, ortho = rayleigh_quotients(*psi_on_points(net, op, pts), w)
    true = hydrogen2d_eigenvalues(c["L"]) * c["scale"]
    rel = ((rq[: c["L"]] - true).abs() / true).tolist()
    tol, reason = HYDROGEN_TOLERANCE[ctx.profile]
    notes = ["Deviations: Adam instead of RMSprop, no weight averaging, "
             f"{c['steps']:g} instead of 5e5 steps; midpoint quadrature on a {c['grid'][1]}² grid over "
             f"[−{c['grid'][0]:g}, {c['grid'][0]:g}]² for evaluation."]
    if ctx.quick:
        notes.insert(0, f"quick profile: a smoke test (L = {c['L']}, {c['steps']} steps, width {c['width']}), "
                        "not the paper's scale (L = 16)")
    return Outcome(
        checks=[Check("mean_rel_eigenvalue_err", float(np.mean(rel)), "<=", tol, reason)],
        measured={"rel_err": rel, "orthogonality": ortho, "eig_T": rq.tolist(), "true": true.tolist()},
        notes=notes,
        config=c,
    )


_COMMON = dict(paper="ryu24")

CLAIMS = [
    Claim(
        id="ryu24.lora_subspace_only",
        statement="The un-nested LoRA objective fixes only the top-L subspace (invariant under (F A, G A⁻ᵀ)); "
        "training it recovers the subspace but not the ordered singular vectors.",
        source="Sec. 3 (LoRA objective and the motivation of nesting; fact sheet §1)",
        evidence=("numerical", "trained"),
        runner=_subspace_only,
        acceptance="invariance at round-off; subspace sine ≤ 1e-2; some |cos| ≤ 0.99",
        **_COMMON,
    ),
    Claim(
        id="ryu24.nested_optimum_is_truncated_svd",
        statement="Joint and sequential nesting have the truncated SVD (σ_l, u_l, v_l in order) as their optimum "
        "/ fixed point, and training recovers it.",
        source="Sec. 3 (joint and sequential nesting; fact sheet §1)",
        evidence=("numerical", "trained"),
        runner=_nested_optimum,
        acceptance="closed form at 1e-10; L-BFGS at 1e-6; trained σ̂ and 1 − |cos| ≤ 1e-3",
        **_COMMON,
    ),
    Claim(
        id="ryu24.kernel_vs_nystrom",
        statement="NeuralSVD learns the eigenpairs of a Gaussian-kernel integral operator, matching the dense / "
        "Nyström reference, including at points outside the sample.",
        source="Sec. 1 (parametric advantage), App. E",
        evidence=("trained",),
        runner=_kernel,
        acceptance="eigenvalues within 5%, |cos| ≥ 0.98, held-out relative L² ≤ 0.2",
        **_COMMON,
    ),
    Claim(
        id="ryu24.oscillator",
        statement="NeuralSVD recovers the 1-D and 2-D harmonic-oscillator eigenvalues 2|n| + d in order, with "
        "orthogonal eigenfunctions spanning the Hermite eigenspaces.",
        source="Sec. 5 (Schrödinger operators), App. E",
        evidence=("trained",),
        runner=_oscillator,
        acceptance="1-D ≤ 3e-3, 2-D ≤ 1e-2 relative eigenvalue error (fact sheet budgets)",
        **_COMMON,
    ),
    Claim(
        id="ryu24.vs_neuralef",
        statement="At equal budget NeuralSVD is more accurate than NeuralEF.",
        source="Sec. 5, hydrogen table",
        evidence=("trained",),
        runner=_vs_neuralef,
        acceptance="max relative eigenvalue error of NeuralSVD ≤ that of NeuralEF",
        **_COMMON,
    ),
    Claim(
        id="ryu24.seq_vs_joint",
        statement="Sequential nesting is at least as accurate as joint nesting at the same memory; joint vs "
        "disjoint parameterisation trades parameters for accuracy.",
        source="Sec. 3.2, Sec. 5",
        evidence=("trained", "benchmark"),
        runner=_nesting_param,
        acceptance="sequential ≤ joint error; activation memory ratio ≤ 1.05; parameters reported",
        **_COMMON,
    ),
    Claim(
        id="ryu24.hydrogen",
        statement="NeuralSVD recovers the 2-D hydrogen eigenvalues 1/(2n+1)² (degeneracy 2n+1).",
        source="Sec. 5, Fig. 2 and table",
        evidence=("trained",),
        runner=_hydrogen,
        acceptance="full profile on CUDA: mean relative error ≤ 5%",
        **_COMMON,
    ),
]
