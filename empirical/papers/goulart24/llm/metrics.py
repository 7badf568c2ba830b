"""Error metrics of goulart24 (fact sheet §2, "Paper's metrics" and "Suite metrics").

Per prompt i (prediction ŷ_i, target y_i, both (k,)):

* squared error  se_i  = mean_j (ŷ_ij − y_ij)²         (the paper's per-prompt MSE, raw scale);
* normalised     nse_i = mean_j (ŷ_ij − y_ij)² / Var_j  (Var_j of the task distribution, not the prompt);
* absolute error ae_i  = mean_j |ŷ_ij − y_ij|           (the paper's MAE = its "mean RMSE" for scalars);
* relative error re_i  = ‖ŷ_i − y_i‖_1 / ‖y_i‖_1        (Charton's tolerance metric).

Summaries over prompts: MSE, nMSE, R² = 1 − nMSE, MAE, mean relative error, accuracy within 5/2/1 %, and
95 % bootstrap intervals. Paired comparisons resample the same prompts for both learners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "TOLERANCES",
    "PromptErrors",
    "prompt_errors",
    "summarize",
    "bootstrap_mean_ci",
    "paired_diff_ci",
    "ratio_ci",
    "independent_ratio_ci",
    "max_over",
    "min_over",
]

TOLERANCES = (0.05, 0.02, 0.01)
N_BOOT = 1000


@dataclass(frozen=True)
class PromptErrors:
    """Per-prompt errors, each a float64 numpy array (P,)."""

    se: np.ndarray
    nse: np.ndarray
    ae: np.ndarray
    re: np.ndarray


def prompt_errors(pred: Tensor, target: Tensor, var: Tensor) -> PromptErrors:
    """Errors of predictions (P, k) against targets (P, k), with task variances (k,)."""
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"pred: expected the target's shape (P, k) = {tuple(target.shape)}, got {tuple(pred.shape)}")
    if var.shape != (target.shape[1],) or not bool((var > 0).all()):
        raise ValueError(f"var: expected positive task variances of shape ({target.shape[1]},), got {tuple(var.shape)}")
    if not bool(torch.isfinite(pred).all()):
        raise ValueError("pred: contains NaN or infinite predictions (score malformed answers before this)")
    e = pred.to(torch.float64) - target.to(torch.float64)
    se = (e**2).mean(-1)
    nse = (e**2 / var.to(torch.float64)).mean(-1)
    ae = e.abs().mean(-1)
    re = e.abs().sum(-1) / target.abs().sum(-1).clamp_min(1e-300)
    return PromptErrors(se.numpy(), nse.numpy(), ae.numpy(), re.numpy())


def _boot_indices(P: int, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    return rng.integers(0, P, size=(n_boot, P))


def bootstrap_mean_ci(v: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of v (P,)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size < 1:
        raise ValueError(f"v: expected a non-empty 1-d array, got shape {v.shape}")
    means = v[_boot_indices(v.size, rng, n_boot)].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def paired_diff_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT,
                   level: float = 0.95) -> tuple[float, float, float]:
    """mean(a − b) and its paired bootstrap interval (same prompts resampled for a and b)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a {a.shape} (paired prompts), got {b.shape}")
    lo, hi = bootstrap_mean_ci(a - b, rng, n_boot, level)
    return float((a - b).mean()), lo, hi


def ratio_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT,
             level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) / mean(b) and its paired bootstrap interval."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a {a.shape} (paired prompts), got {b.shape}")
    idx = _boot_indices(a.size, rng, n_boot)
    r = a[idx].mean(1) / np.maximum(b[idx].mean(1), 1e-300)
    q = (1 - level) / 2
    return float(a.mean() / max(b.mean(), 1e-300)), float(np.quantile(r, q)), float(np.quantile(r, 1 - q))


def independent_ratio_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_boot: int = N_BOOT,
                         level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) / mean(b) for two independent samples (different prompts): each resampled on its own."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    r = a[_boot_indices(a.size, rng, n_boot)].mean(1) / np.maximum(b[_boot_indices(b.size, rng, n_boot)].mean(1),
                                                                    1e-300)
    q = (1 - level) / 2
    return float(a.mean() / max(b.mean(), 1e-300)), float(np.quantile(r, q)), float(np.quantile(r, 1 - q))


def max_over(cis: list[tuple[float, float, float]]) -> tuple[float, tuple[float, float]]:
    """'Every effect is below a threshold' as one check: (max estimate, (max lower, max upper)).

    Judged with ``<``: it passes iff every upper bound is below the threshold (an intersection-union test,
    valid at the per-interval level without correction) and fails iff some interval lies wholly at or above it."""
    if not cis:
        raise ValueError("cis: expected at least one (estimate, low, high)")
    est, lo, hi = zip(*cis, strict=True)
    return max(est), (max(lo), max(hi))


def min_over(cis: list[tuple[float, float, float]]) -> tuple[float, tuple[float, float]]:
    """'Every effect is above a threshold' as one check: (min estimate, (min lower, min upper)); see
    :func:`max_over`."""
    if not cis:
        raise ValueError("cis: expected at least one (estimate, low, high)")
    est, lo, hi = zip(*cis, strict=True)
    return min(est), (min(lo), min(hi))


def summarize(err: PromptErrors, rng: np.random.Generator, n_boot: int = N_BOOT) -> dict[str, Any]:
    """JSON-ready summary: raw MSE, nMSE (+ 95 % CI), R², MAE, relative error, tolerance accuracies."""
    lo, hi = bootstrap_mean_ci(err.nse, rng, n_boot)
    nmse = float(err.nse.mean())
    out: dict[str, Any] = {
        "mse": float(err.se.mean()),
        "rmse_of_mean": float(np.sqrt(err.se.mean())),
        "mean_rmse": float(np.sqrt(err.se).mean()),
        "mae": float(err.ae.mean()),
        "nmse": nmse,
        "nmse_ci": [lo, hi],
        "r2": 1.0 - nmse,
        "rel_err": float(err.re.mean()),
        "prompts": int(err.se.size),
    }
    for tau in TOLERANCES:
        out[f"acc_{round(tau * 100)}pct"] = float((err.re <= tau).mean())
    return out
