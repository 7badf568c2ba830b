"""fu23 figures: one function per figure; each takes measured data and writes a PNG (never recomputes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from empirical.plotting import plt, save_figure

__all__ = ["plot_alpha_boundary", "plot_rates", "plot_similarity_heatmaps", "plot_best_match",
           "plot_construction_deviation", "plot_layer_cost", "plot_printed_vs_corrected"]


def plot_alpha_boundary(curves: dict[str, Sequence[float]], path: Path) -> str:
    """‖I − M_kS‖₂ (on range S) vs Newton step k for several initial scales α (log y)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, vals in curves.items():
        v = np.asarray(vals, float)
        # diverged values (inf/NaN, or beyond 1e6) are drawn at the 1e6 ceiling
        ax.semilogy(np.arange(len(v)), np.where(np.isfinite(v), np.clip(v, 1e-17, 1e6), 1e6), label=name)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("Newton step k")
    ax.set_ylabel("‖I − M_k S‖₂ on range(S) (max over prompts)")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_rates(eps: Sequence[float], kappa: Sequence[float], newton: np.ndarray, gd: np.ndarray, path: Path) -> str:
    """Steps to relative error ε vs ε, one line per cond(S), Newton (left) and best-step GD (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for i, k in enumerate(kappa):
        axes[0].semilogx(eps, newton[i], "o-", ms=3, label=f"κ = {k:g}")
        axes[1].loglog(eps, np.maximum(gd[i], 1), "o-", ms=3, label=f"κ = {k:g}")
    for ax, title in zip(axes, ("Iterative Newton (α = 1/λ_max²)", "GD, best fixed step"), strict=True):
        ax.invert_xaxis()
        ax.set_xlabel("target relative error ε")
        ax.set_title(title)
    axes[0].set_ylabel("steps (median over draws)")
    axes[1].legend(fontsize=8)
    return save_figure(fig, path)


def plot_similarity_heatmaps(heatmaps: dict[str, np.ndarray], steps: dict[str, Sequence[int]], path: Path,
                             title: str = "") -> str:
    """One heatmap per (metric, algorithm): layers (x) × algorithm steps (y), best match per layer boxed."""
    names = list(heatmaps)
    fig, axes = plt.subplots(1, len(names), figsize=(3.8 * len(names), 3.8), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], names, strict=True)):
        H = np.asarray(heatmaps[name], float)  # (layers, steps)
        im = ax.imshow(H.T, aspect="auto", origin="lower", cmap="viridis", vmin=min(0.0, float(np.nanmin(H))), vmax=1)
        best = np.argmax(H, axis=1)
        ax.plot(np.arange(H.shape[0]), best, "rs", ms=5, mfc="none")
        st = list(steps[name])
        ticks = np.arange(len(st)) if len(st) <= 14 else np.linspace(0, len(st) - 1, 8).astype(int)
        ax.set_yticks(ticks)
        ax.set_yticklabels([str(st[t]) for t in ticks])
        ax.set_xlabel("layer")
        if i == 0:
            ax.set_ylabel("algorithm step")
        ax.set_title(name, fontsize=9)
        ax.grid(False)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_best_match(layers: Sequence[int], series: dict[str, Sequence[float]], path: Path, log_y: bool = False) -> str:
    """Best-matching algorithm step vs layer, one line per (model, algorithm)."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, vals in series.items():
        v = np.asarray(vals, float)
        (ax.semilogy if log_y else ax.plot)(layers[: len(v)], np.maximum(v, 0.5) if log_y else v, "o-", label=name)
    ax.set_xlabel("layer")
    ax.set_ylabel("best-matching step")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_construction_deviation(rows: dict[str, Sequence[float]], tol: float, path: Path, first_layer: int = 2,
                                xlabel: str = "layer (2 = newton_init)") -> str:
    """Per-layer relative deviation of a construction from the Newton iterates, one line per setting; the first
    value is layer ``first_layer``. Non-finite deviations (an overflowed run) are drawn at 1e300."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, v in rows.items():
        a = np.asarray(v, float)
        a = np.where(np.isfinite(a), np.clip(a, 1e-18, 1e300), 1e300)
        ax.semilogy(np.arange(first_layer, first_layer + len(a)), a, "o-", ms=3, label=name)
    ax.axhline(tol, color="r", ls="--", lw=1, label=f"tolerance {tol:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("max relative deviation")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_layer_cost(ks: Sequence[int], measured: dict[str, Sequence[int]], per_step: dict[str, float],
                    path: Path) -> str:
    """Layers vs Newton steps k: ``measured`` constructions (counted from their weights) as markers, and
    literature costs ``per_step`` (layers per Newton step) as dashed lines c·k: their set-up and read-out layers
    are not stated, so those lines count the Newton layers only."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    k = np.asarray(ks, float)
    for name, layers in measured.items():
        ax.plot(k, np.asarray(layers, float), "o-", ms=3, label=name)
    for name, cost in per_step.items():
        ax.plot(k, cost * k, "--", lw=1, label=f"{name}: {cost:g}·k (Newton layers only)")
    ax.set_xlabel("Newton steps k")
    ax.set_ylabel("layers")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_printed_vs_corrected(per_layer: dict[str, Sequence[float]], tol: float, newton_layers: tuple[int, int],
                              path: Path, zoom: str = "corrected") -> str:
    """Per-layer relative deviation from Newton, one line per variant (layer 1 first), on the same prompts.

    Left: all variants; non-finite values (float64 overflow) are left out and the first such layer is marked.
    Right: the ``zoom`` variant alone, with the tolerance ``tol`` and a ×2-per-layer guide over the Newton layers
    ``newton_layers`` = (first, last), through the value at the last (the round-off doubling)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, vals in per_layer.items():
        v = np.asarray(vals, float)
        x = np.arange(1, len(v) + 1)
        finite = np.isfinite(v)
        (line,) = axes[0].semilogy(x[finite], np.clip(v[finite], 1e-18, None), "o-", ms=3, label=name)
        if not finite.all():
            first = int(x[~finite][0])
            axes[0].axvline(first, color=line.get_color(), ls=":", lw=1, label=f"{name}: overflow from layer {first}")
    axes[0].axhline(tol, color="r", ls="--", lw=1, label=f"tolerance {tol:g}")
    axes[0].set_title("both variants", fontsize=9)
    v = np.asarray(per_layer[zoom], float)
    x = np.arange(1, len(v) + 1)
    axes[1].semilogy(x, np.clip(v, 1e-18, None), "o-", ms=3, color="C1", label=zoom)
    lo, hi = newton_layers
    xg = np.arange(lo, hi + 1)
    axes[1].semilogy(xg, v[hi - 1] * 2.0 ** (xg - hi), ":", color="k", lw=1, label="×2 per Newton layer (guide)")
    axes[1].axhline(tol, color="r", ls="--", lw=1, label=f"tolerance {tol:g}")
    axes[1].set_ylim(1e-18, max(1e-6, float(np.nanmax(v)) * 10))
    axes[1].set_title(f"{zoom} only", fontsize=9)
    for ax in axes:
        ax.set_xlabel("layer")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("max relative deviation from Newton")
    return save_figure(fig, path)
