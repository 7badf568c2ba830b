"""goulart24 figures: error vs number of in-context examples (per task), error vs matrix size.

Each function takes measured summaries (``{learner: {str(c): {"nmse", "nmse_ci", ...}}}``) and draws them;
nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from empirical.plotting import plt, save_figure

__all__ = ["plot_error_vs_examples", "plot_error_vs_size"]


def plot_error_vs_examples(summary: dict[str, dict[str, dict[str, Any]]], title: str, path: Path, *,
                           iid_mean_line: bool = True) -> str:
    """nMSE (log scale, 95 % bootstrap band) vs c for every learner; with ``iid_mean_line`` also the mean
    predictor's 1 + 1/c (valid for i.i.d. targets, i.e. the fixed regime)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    cs_all: list[int] = []
    for name, per_c in summary.items():
        cs = sorted(int(c) for c in per_c)
        cs_all = sorted(set(cs_all) | set(cs))
        y = [per_c[str(c)]["nmse"] for c in cs]
        lo = [per_c[str(c)]["nmse_ci"][0] for c in cs]
        hi = [per_c[str(c)]["nmse_ci"][1] for c in cs]
        (line,) = ax.plot(cs, y, marker="o", label=name)
        ax.fill_between(cs, lo, hi, color=line.get_color(), alpha=0.15)
    if cs_all and iid_mean_line:
        ax.plot(cs_all, [1 + 1 / c for c in cs_all], "k--", lw=1, label="mean predictor, theory 1 + 1/c")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("in-context examples c")
    ax.set_ylabel("nMSE = MSE / Var_task(y)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_error_vs_size(ns: list[int], curves: dict[str, list[float]], c: int, path: Path) -> str:
    """nMSE at fixed c vs matrix side n (nuclear norm), one line per learner."""
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    for name, ys in curves.items():
        ax.plot(ns, ys, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("matrix side n (nuclear norm of n×n)")
    ax.set_ylabel(f"nMSE at c = {c}")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
