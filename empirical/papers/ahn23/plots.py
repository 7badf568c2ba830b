"""Figures for the ahn23 claims; each takes measured numbers and draws nothing it did not receive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from empirical.plotting import plt, save_figure

__all__ = ["plot_data_inadequacy", "plot_scalars", "plot_matrices", "plot_gradient_check", "plot_losses"]


def plot_data_inadequacy(ns: Sequence[int], dist: Sequence[float], limit: float, path: Path) -> str:
    fig, ax = plt.subplots()
    ax.loglog(ns, dist, "o-", label=r"$\|A_0(n)-\Sigma^{-1}\|_F/\|\Sigma^{-1}\|_F$")
    ns_arr = np.asarray(ns, dtype=float)
    ax.loglog(ns_arr, limit / ns_arr, "--", label=r"first-order term $c/n$")
    ax.set_xlabel("n (in-context examples)")
    ax.set_ylabel("relative distance")
    ax.set_title("Theorem 1: optimal preconditioner vs $\\Sigma^{-1}$")
    ax.legend()
    return save_figure(fig, path)


def plot_scalars(labels: Sequence[str], measured: Sequence[float], paper: Sequence[float], title: str,
                 path: Path) -> str:
    fig, ax = plt.subplots()
    x = np.arange(len(labels))
    ax.bar(x - 0.2, measured, 0.4, label="suite")
    ax.bar(x + 0.2, paper, 0.4, label="paper")
    ax.set_xticks(x, labels)
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def plot_matrices(mats: dict[str, np.ndarray], title: str, path: Path) -> str:
    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2))
    axes = np.atleast_1d(axes)
    lim = max(float(np.abs(m).max()) for m in mats.values())
    for ax, (name, m) in zip(axes, mats.items(), strict=True):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_gradient_check(labels: Sequence[str], grad_norms: Sequence[float], error_bars: Sequence[float],
                        path: Path) -> str:
    fig, ax = plt.subplots()
    x = np.arange(len(labels))
    ax.bar(x, grad_norms, 0.5, label=r"$\|\nabla f\|$ (Monte Carlo)")
    ax.errorbar(x, grad_norms, yerr=3 * np.asarray(error_bars), fmt="none", ecolor="k", capsize=4,
                label="3 × Monte-Carlo error")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_title("Theorem 3: gradient on the critical set vs perturbed points")
    ax.legend()
    return save_figure(fig, path)


def plot_losses(losses: Sequence[float], theory: float, title: str, path: Path) -> str:
    fig, ax = plt.subplots()
    ls = np.asarray(losses)
    w = max(1, len(ls) // 100)
    smooth = np.convolve(ls, np.ones(w) / w, mode="valid")
    ax.semilogy(np.arange(len(smooth)) + w - 1, smooth, label="training loss (moving average)")
    ax.axhline(theory, color="k", ls="--", label=f"theory {theory:.4g}")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)
