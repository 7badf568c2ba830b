"""Convergence-rate tables: steps to ε of Newton–Schulz, GD (best fixed step) and the power method.

Recorded in ``extra_info["numerics"]`` (deterministic for the fixed seeds, compared with the committed
baseline by ``nox -s bench``) and checked here against closed-form worst-case bounds (independent of the
code under test):

* GD with η = 2/(λ_max + λ_min) of Ŝ = XᵀX/n: every eigen-direction of the error contracts by
  |1 − ηλ_i| ≤ ρ = (κ−1)/(κ+1), so ‖w_k − w*‖/‖w*‖ ≤ ρ^k and k(ε) ≤ ⌈ln ε / ln ρ⌉ (κ = cond Ŝ).
* Newton–Schulz with α = 1/λ_max(S)²: w_k − w* = −(I − αS²)^{2^k} w* (fu23 §3, exact recursion), so the
  relative error is ≤ (1 − 1/κ²)^{2^k} and k(ε) ≤ ⌈log₂(ln ε / ln(1 − 1/κ²))⌉.
* Power method: tan θ_τ ≤ (λ₂/λ₁)^τ tan θ₀ and ‖v_τ − v₁‖ = 2 sin(θ_τ/2) ≤ tan θ_τ (sign-aligned), so
  τ(ε) ≤ ⌈ln(ε / tan θ₀) / ln(λ₂/λ₁)⌉.

Setting of fu23's reference table (fact sheet §1): d = 20, n = 40, ε = 1e-8, cond(Σ) ∈ {1, 10, 100, 1000}.
The default run checks cond(Σ) ∈ {1, 10} only: GD at cond 1000 needs ~30k steps (≈ 20 s on a loaded
2-core machine); ``nox -s bench`` (``--benchmark-only``) runs the whole table once (pedantic, 1 round).
"""

from __future__ import annotations

import math

import torch

from theory.algorithms import gd, gd_best_step, newton_solution_path, ols, power_method
from theory.algorithms.gd import empirical_covariance
from theory.samplers import LinearRegressionTask, spd_from_spectrum, spd_with_condition

from .conftest import full_timing

D, N, EPS, B = 20, 40, 1e-8, 4
CONDS_FULL, CONDS_QUICK = (1.0, 10.0, 100.0, 1000.0), (1.0, 10.0)
GAPS, PM_EPS, PM_D = (0.5, 0.9, 0.99), 1e-6, 10


def _run_once(benchmark, fn):
    """Time ``fn`` once (it is long and deterministic); under --benchmark-disable just call it."""
    if benchmark.disabled:
        return benchmark(fn)
    return benchmark.pedantic(fn, rounds=1, iterations=1)


def _linreg_table(conds) -> dict:
    g = torch.Generator().manual_seed(8)
    rows = {}
    for cond in conds:
        sigma = spd_with_condition(D, cond, g) if cond > 1 else torch.eye(D, dtype=torch.float64)
        p = LinearRegressionTask(d=D, n=N, sigma=sigma).sample(B, g)
        w = ols(p)
        lam = torch.linalg.eigvalsh(empirical_covariance(p.X))
        kappa = lam[:, -1] / lam[:, 0]
        rho = (kappa - 1) / (kappa + 1)
        gd_bound = torch.ceil(math.log(EPS) / torch.log(rho.clamp_min(1e-300))).clamp_min(0).to(torch.int64)
        nt_bound = torch.ceil(torch.log2(math.log(EPS) / torch.log1p(-1 / kappa**2))).to(torch.int64)
        newton = newton_solution_path(p, int(nt_bound.max()) + 2).steps_to(w, EPS)
        gdk = gd(p, int(gd_bound.max()) + 2, gd_best_step(p.X)).steps_to(w, EPS)
        rows[f"cond{cond:g}"] = {
            "kappa_S": [round(float(k), 3) for k in kappa],
            "newton": newton.tolist(),
            "newton_bound": nt_bound.tolist(),
            "gd": gdk.tolist(),
            "gd_bound": gd_bound.tolist(),
        }
    return rows


def test_rates_newton_vs_gd(benchmark, request):
    conds = CONDS_FULL if full_timing(request.config) else CONDS_QUICK
    benchmark.group = "rates"
    rows = _run_once(benchmark, lambda: _linreg_table(conds))
    benchmark.extra_info.update(
        setting={"d": D, "n": N, "eps": EPS, "batch": B, "seed": 8}, numerics={"steps_to_eps": rows}
    )
    for name, r in rows.items():
        assert all(0 <= k <= b for k, b in zip(r["newton"], r["newton_bound"], strict=True)), (name, r)
        assert all(0 <= k <= b for k, b in zip(r["gd"], r["gd_bound"], strict=True)), (name, r)
        assert max(r["newton"]) < min(r["gd"]), (name, r)  # quadratic vs linear rate


def _power_table() -> dict:
    g = torch.Generator().manual_seed(9)
    rows = {}
    for gap in GAPS:
        tail = torch.linspace(0.3 * gap, 0.01, PM_D - 2, dtype=torch.float64)
        spec = torch.cat([torch.tensor([1.0, gap], dtype=torch.float64), tail])
        S = spd_from_spectrum(spec, g, batch=B)
        v1 = torch.linalg.eigh(S).eigenvectors[..., -1]  # (B, d)
        v0 = torch.randn(B, PM_D, generator=g, dtype=torch.float64)
        cos0 = ((v0 * v1).sum(-1) / v0.norm(dim=-1)).abs()
        tan0 = torch.sqrt(1 - cos0**2) / cos0
        bound = torch.ceil(torch.log(PM_EPS / tan0) / math.log(gap)).clamp_min(0).to(torch.int64)
        tr = power_method(S, v0, int(bound.max()) + 2)
        target = v1 * torch.sign((v0 * v1).sum(-1, keepdim=True))  # the power method keeps v0's sign on v1
        rows[f"gap{gap:g}"] = {"steps": tr.steps_to(target, PM_EPS).tolist(), "bound": bound.tolist()}
    return rows


def test_rates_power_method(benchmark):
    benchmark.group = "rates"
    rows = _run_once(benchmark, _power_table)
    benchmark.extra_info.update(
        setting={"d": PM_D, "eps": PM_EPS, "batch": B, "seed": 9, "lambda1": 1.0},
        numerics={"steps_to_eps": rows},
    )
    for name, r in rows.items():
        assert all(0 <= k <= b for k, b in zip(r["steps"], r["bound"], strict=True)), (name, r)
    assert max(rows["gap0.5"]["steps"]) < min(rows["gap0.99"]["steps"])
