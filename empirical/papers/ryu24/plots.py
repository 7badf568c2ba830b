"""ryu24 figures: learned vs true eigenfunctions, eigenvalue error per index, nesting comparison.

Each function takes measured data (lists / arrays) and writes one PNG; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from empirical.plotting import plt, save_figure

__all__ = ["plot_functions_1d", "plot_eigenvalue_errors", "plot_singular_values", "plot_functions_2d"]


def plot_functions_1d(
    x: Sequence[float],
    learned: Sequence[Sequence[float]],
    true: Sequence[Sequence[float]],
    path: Path,
    title: str,
    labels: Sequence[str] | None = None,
) -> str:
    """Learned (dashed) vs reference (solid) functions on a 1-D grid; learned/true are (L, M) lists."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (lv, tv) in enumerate(zip(learned, true, strict=True)):
        c = f"C{i}"
        lab = labels[i] if labels else f"mode {i + 1}"
        ax.plot(x, tv, color=c, lw=1.5, label=f"{lab} (reference)")
        ax.plot(x, lv, color=c, lw=1.5, ls="--", label=f"{lab} (learned)")
    ax.set_xlabel("x")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path)


def plot_functions_2d(
    grid: Sequence[float], learned: Sequence[Sequence[Sequence[float]]], path: Path, title: str
) -> str:
    """Learned 2-D eigenfunctions (L, n, n) as images (degenerate levels mix, so no reference panel)."""
    L = len(learned)
    fig, axes = plt.subplots(1, L, figsize=(1.8 * L, 2.0))
    ext = (grid[0], grid[-1], grid[0], grid[-1])
    for i, ax in enumerate(np.atleast_1d(axes)):
        img = np.asarray(learned[i]).T
        vmax = float(np.abs(img).max()) or 1.0  # symmetric range: white is zero, the sign is the colour
        ax.imshow(img, origin="lower", extent=ext, cmap="RdBu", vmin=-vmax, vmax=vmax)
        ax.set_title(f"ψ{i + 1}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_eigenvalue_errors(
    series: Mapping[str, Sequence[float]], path: Path, title: str, threshold: float | None = None
) -> str:
    """Relative eigenvalue error per index (log scale), one line per method/setting."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, (name, errs) in enumerate(series.items()):
        ax.semilogy(
            np.arange(1, len(errs) + 1),
            np.maximum(np.asarray(errs, float), 1e-17),
            marker="o",
            color=f"C{i}",
            label=name,
        )
    if threshold is not None:
        ax.axhline(threshold, color="k", ls=":", lw=1, label="acceptance")
    ax.set_xlabel("index l")
    ax.set_ylabel("relative eigenvalue error")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_singular_values(true: Sequence[float], learned: Mapping[str, Sequence[float]], path: Path, title: str) -> str:
    """True (constructed) singular values vs learned σ̂_l = ‖f_l‖‖g_l‖ for several objectives."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    idx = np.arange(1, len(true) + 1)
    ax.plot(idx, true, "k-o", label="constructed σ")
    for i, (name, vals) in enumerate(learned.items()):
        ax.plot(idx, vals, ls="--", marker="x", color=f"C{i}", label=name)
    ax.set_xlabel("index l")
    ax.set_ylabel("σ_l")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
