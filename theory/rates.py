"""Convergence rates: steps to relative error ε for Iterative Newton and for GD with its best fixed step.

Setting (Fu et al. 2023, §3; noiseless least squares y = Xw⋆, so the least-squares solution is w⋆ on
range(S)). Let S = XᵀX = V diag(λ) Vᵀ and c = Vᵀw⋆ (components of the target in the eigenbasis).

* **Newton** (M_0 = αS): M_k = V diag((1 − r_i^{2^k})/λ_i) Vᵀ with r_i = 1 − αλ_i², and ŵ_k = M_k Xᵀy =
  M_k S w⋆, so the error is ŵ_k − w⋆ = −V diag(r_i^{2^k}) c. With α = 1/λ_max², r_max = 1 − 1/κ², and
  (1 − 1/κ²)^{2^k} ≤ ε once 2^k ≳ κ² ln(1/ε):  **k ≈ 2 log₂ κ + log₂ ln(1/ε)** (log κ + log log 1/ε).
* **GD** with step η on ½‖Xw − y‖² from w_0 = 0: ŵ_k − w⋆ = −V diag((1 − ηλ_i)^k) c. The best fixed step
  η⋆ = 2/(λ_max + λ_min) gives contraction ρ = (κ − 1)/(κ + 1), so k ≈ ln(1/ε)/ln(1/ρ) ≈ **(κ/2) ln(1/ε)**.

κ is the condition number of S = XᵀX. Both step counts are computed here from these *exact-arithmetic*
spectral formulas (so ε down to 1e-12 at κ = 1e4 is meaningful: a float64 iteration cannot resolve a
relative error below about κ·ε_mach on w). :func:`iterated_steps` cross-checks them against the float64
iterations of :mod:`theory.algorithms` where round-off allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from theory.validation import check_positive, check_positive_int

__all__ = [
    "steps_to_eps",
    "newton_steps_spectral",
    "gd_steps_spectral",
    "newton_steps_theory",
    "gd_steps_theory",
    "spectrum_with_condition",
    "RateSweep",
    "rate_sweep",
    "LinearFit",
    "fit_newton_rate",
    "fit_gd_rate",
    "iterated_steps",
]


def steps_to_eps(errors: Tensor, eps: float) -> Tensor:
    """First step k with errors[k] <= eps: errors (K+1, B) -> (B,) int64, −1 where never reached."""
    check_positive("eps", eps)
    if not isinstance(errors, Tensor) or errors.ndim != 2:
        raise ValueError(f"errors: expected a (K+1, B) tensor, got "
                         f"{tuple(errors.shape) if isinstance(errors, Tensor) else type(errors).__name__}")
    hit = errors <= eps
    first = torch.argmax(hit.to(torch.int64), dim=0)
    return torch.where(hit.any(dim=0), first, torch.full_like(first, -1))


def _check_spectrum(lam: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    lam = torch.as_tensor(lam, dtype=torch.float64)
    c = torch.as_tensor(c, dtype=torch.float64)
    if lam.ndim != 2 or c.shape != lam.shape:
        raise ValueError(f"lam, c: expected equal shapes (B, d), got {tuple(lam.shape)} and {tuple(c.shape)}")
    if not bool(torch.isfinite(lam).all()) or bool((lam <= 0).any()):
        raise ValueError("lam: eigenvalues of S must be finite and > 0 (restrict to range(S))")
    if not bool(torch.isfinite(c).all()) or bool((torch.linalg.vector_norm(c, dim=-1) == 0).any()):
        raise ValueError("c: target components must be finite and not all zero")
    return lam, c


def newton_steps_spectral(lam: Tensor, c: Tensor, eps: float, alpha: Tensor | float | None = None,
                          max_steps: int = 200) -> Tensor:
    """Newton steps to ‖ŵ_k − w⋆‖/‖w⋆‖ <= eps from the exact spectral error formula.

    Args:
        lam: (B, d) eigenvalues of S (> 0). c: (B, d) components of w⋆ in S's eigenbasis.
        eps: target relative error in (0, 1). alpha: (B,) or scalar; default 1/λ_max² (safe).
        max_steps: give up after this many steps (returns −1).

    Returns:
        (B,) int64 steps.
    """
    lam, c = _check_spectrum(lam, c)
    check_positive("eps", eps)
    check_positive_int("max_steps", max_steps, minimum=0)
    a = 1.0 / lam.amax(-1) ** 2 if alpha is None else torch.as_tensor(alpha, dtype=torch.float64).expand(lam.shape[0])
    r = 1.0 - a.unsqueeze(-1) * lam**2
    if bool((r.abs() >= 1).any()):
        raise ValueError("alpha: |1 − αλ²| >= 1 for some eigenvalue: Newton does not converge (need 0 < αλ_max² < 2)")
    cn = torch.linalg.vector_norm(c, dim=-1)
    errs = []
    for _ in range(max_steps + 1):
        errs.append(torch.linalg.vector_norm(r * c, dim=-1) / cn)
        if bool((errs[-1] <= eps).all()):  # errors only decrease from here (|r_i| < 1): every prompt is done
            break
        r = r * r  # r_i^{2^k}: one squaring per Newton step (error recursion E_{k+1} = E_k²)
    return steps_to_eps(torch.stack(errs), eps)


def gd_steps_spectral(lam: Tensor, c: Tensor, eps: float, eta: Tensor | float | None = None,
                      max_steps: int = 10**9) -> Tensor:
    """GD steps (on ½‖Xw − y‖², from 0) to relative error <= eps, exact spectral formula, by bisection.

    The error ‖diag(1 − ηλ)^k c‖ is non-increasing in k when all |1 − ηλ_i| < 1, so bisection on k is exact.
    Default η = 2/(λ_max + λ_min), the best fixed step.
    """
    lam, c = _check_spectrum(lam, c)
    check_positive("eps", eps)
    check_positive_int("max_steps", max_steps, minimum=0)
    eta_t = 2.0 / (lam.amax(-1) + lam.amin(-1)) if eta is None else torch.as_tensor(eta, dtype=torch.float64).expand(
        lam.shape[0])
    rho = (1.0 - eta_t.unsqueeze(-1) * lam).abs()
    if bool((rho >= 1).any()):
        raise ValueError("eta: |1 − ηλ| >= 1 for some eigenvalue: GD does not converge (need η < 2/λ_max)")
    logrho = torch.log(rho.clamp_min(1e-300))
    w2 = (c / torch.linalg.vector_norm(c, dim=-1, keepdim=True)) ** 2

    def err2(k: Tensor) -> Tensor:  # relative squared error after k steps, (B,)
        return (w2 * torch.exp(2 * k.unsqueeze(-1) * logrho)).sum(-1)

    lo = torch.zeros(lam.shape[0], dtype=torch.float64)  # err(lo) > eps (or lo = 0)
    hi = torch.full_like(lo, float(max_steps))
    never = err2(hi) > eps**2
    for _ in range(64):  # integer bisection on [0, max_steps]
        mid = torch.floor((lo + hi) / 2)
        ok = err2(mid) <= eps**2
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
        if bool((hi - lo <= 1).all()):
            break
    steps = torch.where(err2(lo) <= eps**2, lo, hi).to(torch.int64)
    return torch.where(never, torch.full_like(steps, -1), steps)


def newton_steps_theory(kappa: np.ndarray | float, eps: np.ndarray | float) -> np.ndarray:
    """Leading-order prediction 2 log₂ κ + log₂ ln(1/ε) (α = 1/λ_max², worst-case direction)."""
    return 2 * np.log2(np.asarray(kappa, dtype=float)) + np.log2(np.log(1 / np.asarray(eps, dtype=float)))


def gd_steps_theory(kappa: np.ndarray | float, eps: np.ndarray | float) -> np.ndarray:
    """ln(1/ε)/ln((κ+1)/(κ−1)) ≈ (κ/2) ln(1/ε): the best-step GD bound (κ = 1 needs one step)."""
    k = np.asarray(kappa, dtype=float)
    e = np.asarray(eps, dtype=float)
    with np.errstate(divide="ignore"):
        rate = np.where(k > 1, np.log((k + 1) / np.maximum(k - 1, 1e-300)), np.inf)
    return np.where(k > 1, np.log(1 / e) / rate, 1.0)


def spectrum_with_condition(d: int, kappa: float, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Eigenvalues of S with cond exactly κ (λ_max = 1, λ_min = 1/κ, the rest log-uniform in between) and
    isotropic target components c ~ N(0, I): both (batch, d) float64."""
    check_positive_int("d", d, minimum=2)
    check_positive_int("batch", batch)
    if not (kappa >= 1 and math.isfinite(kappa)):
        raise ValueError(f"kappa: a condition number is a finite number >= 1, got {kappa}")
    inner = torch.rand(batch, d - 2, generator=generator, dtype=torch.float64) * math.log(kappa)
    lam = torch.cat([torch.zeros(batch, 1, dtype=torch.float64), inner,
                     torch.full((batch, 1), math.log(kappa), dtype=torch.float64)], dim=1)
    lam = torch.exp(-lam)
    c = torch.randn(batch, d, generator=generator, dtype=torch.float64)
    return lam, c


@dataclass(frozen=True)
class RateSweep:
    """Median steps over ``draws`` random (spectrum, target) pairs per (κ, ε).

    Attributes:
        eps: (E,). kappa: (K,). newton, gd: (K, E) median steps.
    """

    eps: np.ndarray
    kappa: np.ndarray
    newton: np.ndarray
    gd: np.ndarray

    def as_dict(self) -> dict[str, list]:
        return {"eps": self.eps.tolist(), "kappa": self.kappa.tolist(), "newton": self.newton.tolist(),
                "gd": self.gd.tolist()}


def rate_sweep(eps: list[float], kappas: list[float], d: int, draws: int, generator: torch.Generator) -> RateSweep:
    """Steps to each ε for Newton (α = 1/λ_max²) and best-step GD over a grid of cond(S)."""
    E, K = len(eps), len(kappas)
    newton = np.zeros((K, E))
    gd = np.zeros((K, E))
    for i, kap in enumerate(kappas):
        lam, c = spectrum_with_condition(d, kap, draws, generator)
        for j, e in enumerate(eps):
            newton[i, j] = float(torch.median(newton_steps_spectral(lam, c, e).to(torch.float64)))
            gd[i, j] = float(torch.median(gd_steps_spectral(lam, c, e).to(torch.float64)))
    return RateSweep(np.asarray(eps, float), np.asarray(kappas, float), newton, gd)


@dataclass(frozen=True)
class LinearFit:
    """steps ≈ Σ coef_i · feature_i + intercept, least squares; r2 the coefficient of determination."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    r2: float

    def as_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "coef": list(self.coef), "intercept": self.intercept, "r2": self.r2}


def _lstsq(F: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> LinearFit:
    A = np.column_stack([F, np.ones(len(y))])
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ sol
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else 1.0
    return LinearFit(names, tuple(float(v) for v in sol[:-1]), float(sol[-1]), r2)


def fit_newton_rate(sweep: RateSweep, min_kappa: float = 10.0) -> LinearFit:
    """Fit Newton steps ≈ a·log₂κ + b·log₂ln(1/ε) + c over κ >= min_kappa (theory: a = 2, b = 1)."""
    K, E = np.meshgrid(sweep.kappa, sweep.eps, indexing="ij")
    sel = K >= min_kappa
    F = np.column_stack([np.log2(K[sel]), np.log2(np.log(1 / E[sel]))])
    return _lstsq(F, sweep.newton[sel], ("log2 kappa", "log2 ln(1/eps)"))


def fit_gd_rate(sweep: RateSweep, min_kappa: float = 10.0) -> LinearFit:
    """Fit GD steps ≈ s·κ·ln(1/ε) + c over κ >= min_kappa (theory: s → 1/2 as κ grows)."""
    K, E = np.meshgrid(sweep.kappa, sweep.eps, indexing="ij")
    sel = K >= min_kappa
    F = (K[sel] * np.log(1 / E[sel]))[:, None]
    return _lstsq(F, sweep.gd[sel], ("kappa ln(1/eps)",))


def iterated_steps(prompt, eps: float, max_newton: int = 60, max_gd: int = 20_000) -> tuple[Tensor, Tensor]:
    """Float64 *iterations* (not formulas): steps of Newton (safe α = 1/λ_max²) and of best-step GD to relative
    error <= eps on the least-squares solution. Returns (newton (B,), gd (B,)), −1 where not reached.

    Memory is O(max_gd·B·d) (the whole GD trajectory is kept); keep B·max_gd moderate.
    """
    from theory.algorithms import gd, gd_best_step, newton_solution_path, ols

    target = ols(prompt)
    newton = newton_solution_path(prompt, max_newton).steps_to(target, eps)
    descent = gd(prompt, max_gd, gd_best_step(prompt.X)).steps_to(target, eps)
    return newton, descent
