"""he25 figures: one function per figure; each takes measured data and writes a PNG (never recomputes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from empirical.plotting import plt, save_figure

__all__ = [
    "plot_inverse_sqrt_error",
    "plot_angle_bound",
    "plot_layer_deviation",
    "plot_clustering_error",
    "plot_probe_curve",
    "plot_real_vs_synthetic",
]


def plot_inverse_sqrt_error(rows: Sequence[dict], path: Path) -> str:
    """Measured sup relative error vs ln(b/a)/M, with the (3/32)h² prediction."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    h = [r["h"] for r in rows]
    ax.loglog(h, [r["measured"] for r in rows], "o", label="measured (geometric knots)")
    hs = sorted(h)
    ax.loglog(hs, [3 / 32 * x * x for x in hs], "-", label="(3/32) h²")
    ax.set_xlabel("h = ln(b/a)/M")
    ax.set_ylabel("sup |g/f − 1|")
    ax.legend()
    return save_figure(fig, path)


def plot_angle_bound(measured: Sequence[float], bound: Sequence[float], path: Path) -> str:
    """tan θ_τ vs (λ_{i+1}/λ_i)^τ tan θ_0 (points must lie below the diagonal)."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.loglog(bound, measured, ".", ms=2, alpha=0.5)
    lo = max(1e-17, min(min(bound), min(measured)))
    hi = max(max(bound), max(measured))
    ax.loglog([lo, hi], [lo, hi], "k--", lw=1, label="tan θ_τ = bound")
    ax.set_xlabel("(λ_{i+1}/λ_i)^τ tan θ_0")
    ax.set_ylabel("tan θ_τ (measured)")
    ax.legend()
    return save_figure(fig, path)


def plot_layer_deviation(series: dict[str, Sequence[float]], tol: float, path: Path) -> str:
    """Per-layer max relative deviation of the construction from the reference run."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, dev in series.items():
        ax.semilogy(range(len(dev)), [max(x, 1e-18) for x in dev], lw=1, label=name)
    ax.axhline(tol, color="k", ls="--", lw=1, label=f"tolerance {tol:g}")
    ax.set_xlabel("layer")
    ax.set_ylabel("max relative deviation")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_clustering_error(rows: Sequence[dict], path: Path) -> str:
    """Swap-invariant misclustering vs ‖μ‖ per d: spectral, τ-step power method, oracle, exp(−SNR/2)."""
    ds = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(1, len(ds), figsize=(4.2 * len(ds), 3.2), squeeze=False)
    for ax, d in zip(axes[0], ds, strict=True):
        rr = sorted((r for r in rows if r["d"] == d), key=lambda r: r["mu"])
        mu = [r["mu"] for r in rr]
        for key, style in (
            ("spectral", "o-"),
            ("power_tau", "s--"),
            ("unhollowed", "^:"),
            ("oracle", "k-"),
            ("exp_bound", "r--"),
        ):
            ax.semilogy(mu, [max(r[key], 1e-5) for r in rr], style, label=key, ms=4)
        ax.set_title(f"d = {d}, N = {rr[0]['N']}")
        ax.set_xlabel("‖μ‖")
        ax.set_ylabel("error")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)


def plot_probe_curve(
    probe: Sequence[float], power: Sequence[float], path: Path, controls: dict[str, Sequence[float]] | None = None
) -> str:
    """|cos(v̂_1, v_1)|: ridge probe per layer vs power method per iteration, plus the same probe on each control."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(range(len(probe)), probe, "o-", label="probe on layer ℓ")
    ax.plot(range(len(power)), power, "s--", label="power method, ℓ iterations")
    for name, curve in (controls or {}).items():
        ax.plot(range(len(curve)), curve, ":", marker=".", label=f"probe, control: {name}")
    ax.set_xlabel("layer / iteration")
    ax.set_ylabel("mean |cos| with v_1")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_real_vs_synthetic(synthetic: Sequence[float], real: Sequence[float], path: Path) -> str:
    """Mean |cos(v̂_i, v_i)| per eigenvector on synthetic Gaussian and on real-image instances."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    idx = range(len(synthetic))
    ax.bar([i - 0.2 for i in idx], synthetic, width=0.4, label="synthetic (training distribution)")
    ax.bar([i + 0.2 for i in idx], real, width=0.4, label="real (digits)")
    ax.set_xticks(list(idx), [f"v_{i + 1}" for i in idx])
    ax.set_ylabel("mean |cos| with the true eigenvector")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
