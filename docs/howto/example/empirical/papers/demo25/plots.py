# ruff: noqa: I001  (theory.demo25 is the example's own module: ruff cannot classify it)
"""demo25 figures: one function per figure; each takes measured data and never recomputes it."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from empirical.plotting import plt, save_figure


def plot_loss_ratio(ratio: Tensor, path: Path) -> str:
    """Histogram of R(w_1)/R(0) over prompts (Lemma 1 says every value is <= 1)."""
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.hist(ratio.numpy(), bins=30)
    ax.axvline(1.0, color="k", ls="--")
    ax.set_xlabel("R(w_1) / R(0)")
    ax.set_ylabel("prompts")
    return save_figure(fig, path)
