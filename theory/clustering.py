"""Two-class Gaussian mixtures and spectral clustering (He et al. 2025; Abbe, Fan, Wang 2020, arXiv 2006.14062).

x_i = y_i μ + z_i, y_i ∈ {±1} equiprobable, z_i ~ N(0, I_d). Estimator: u = leading eigenvector of the
hollowed Gram matrix H(XXᵀ) = XXᵀ − diag(XXᵀ) (rows of X are samples, so the Gram is N × N), ŷ_i = sign(u_i).
SNR = ‖μ‖⁴ / (‖μ‖² + d/N); misclustering ≈ exp(−(1 + o(1)) SNR/2). Oracle (μ known): error Φ(−‖μ‖).
Every error is swap-invariant: min(err, 1 − err) per instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from theory.validation import check_finite, check_ndim, check_nonzero_rows, check_positive, check_positive_int

__all__ = [
    "GMMInstances",
    "sample_gmm",
    "gram",
    "spectral_labels",
    "power_labels",
    "swap_invariant_error",
    "swap_invariant_accuracy",
    "oracle_labels",
    "snr",
    "oracle_error",
    "asymptotic_error",
]


@dataclass(frozen=True)
class GMMInstances:
    """X (B, N, d) samples (rows), y (B, N) labels ±1 (float64), mu (B, d)."""

    X: Tensor
    y: Tensor
    mu: Tensor


def sample_gmm(batch: int, d: int, N: int, mu_norm: float, generator: torch.Generator) -> GMMInstances:
    """Random 2-GMM instances with a fresh uniformly random μ direction per instance (fact sheet §5)."""
    check_positive_int("batch", batch)
    check_positive_int("d", d)
    check_positive_int("N", N, minimum=2)
    mu_norm = check_positive("mu_norm", mu_norm, allow_zero=True)
    g = torch.randn(batch, d, generator=generator, dtype=torch.float64)
    mu = mu_norm * g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)
    y = torch.where(torch.rand(batch, N, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0).to(torch.float64)
    Z = torch.randn(batch, N, d, generator=generator, dtype=torch.float64)
    return GMMInstances(y.unsqueeze(-1) * mu.unsqueeze(1) + Z, y, mu)


def gram(X: Tensor, hollow: bool = True) -> Tensor:
    """XXᵀ (B, N, N), with its diagonal set to 0 when ``hollow``."""
    check_ndim("X", X, 3, "(B, N, d)")
    check_finite("X", X)
    G = X @ X.transpose(-1, -2)
    if hollow:
        G = G - torch.diag_embed(torch.diagonal(G, dim1=-2, dim2=-1))
    return G


def spectral_labels(X: Tensor, hollow: bool = True) -> Tensor:
    """sign of the leading (largest algebraic eigenvalue) eigenvector of the (hollowed) Gram: (B, N, d) -> (B, N)."""
    _, vecs = torch.linalg.eigh(gram(X.to(torch.float64), hollow))
    return torch.sign(vecs[..., -1])


def power_labels(X: Tensor, seeds: Tensor, steps: int, hollow: bool = False) -> tuple[Tensor, Tensor]:
    """τ normalised power iterations on the Gram from per-token seeds: returns (labels (B, N), u (B, N) unit).

    The construction's mirror uses the unhollowed (PSD) Gram by default (fact sheet §2 'Transformer mirror').
    """
    check_positive_int("steps", steps)
    G = gram(X.to(torch.float64), hollow)
    if not isinstance(seeds, Tensor) or seeds.shape != X.shape[:2]:
        raise ValueError(f"seeds: expected shape (B, N) = {tuple(X.shape[:2])}, got "
                         f"{tuple(seeds.shape) if isinstance(seeds, Tensor) else type(seeds).__name__}")
    check_finite("seeds", seeds)
    check_nonzero_rows("seeds", seeds)
    u = seeds.to(torch.float64) / torch.linalg.vector_norm(seeds, dim=-1, keepdim=True)
    for _ in range(steps):
        u = (G @ u.unsqueeze(-1)).squeeze(-1)
        u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    return torch.sign(u), u


def swap_invariant_error(labels: Tensor, y: Tensor) -> Tensor:
    """min(err, 1 − err) per instance: (B, N), (B, N) -> (B,). Zero labels count as errors."""
    err = (labels != y).to(torch.float64).mean(-1)
    err_swapped = (labels != -y).to(torch.float64).mean(-1)
    return torch.minimum(err, err_swapped)


def swap_invariant_accuracy(labels: Tensor, y: Tensor) -> Tensor:
    """max(acc, 1 − acc) per instance (B,) (chance ≈ 0.5 + 1/√(2πN) at small N)."""
    return 1.0 - swap_invariant_error(labels, y)


def oracle_labels(X: Tensor, mu: Tensor) -> Tensor:
    """sign(μᵀx_i) with μ known: (B, N, d), (B, d) -> (B, N)."""
    return torch.sign((X * mu.unsqueeze(1)).sum(-1))


def snr(mu_norm: float, d: int, N: int) -> float:
    """‖μ‖⁴ / (‖μ‖² + d/N)."""
    check_positive("mu_norm", mu_norm, allow_zero=True)
    check_positive_int("d", d)
    check_positive_int("N", N)
    return mu_norm**4 / (mu_norm**2 + d / N)


def oracle_error(mu_norm: float) -> float:
    """Φ(−‖μ‖)."""
    check_positive("mu_norm", mu_norm, allow_zero=True)
    return 0.5 * math.erfc(mu_norm / math.sqrt(2))


def asymptotic_error(mu_norm: float, d: int, N: int) -> float:
    """exp(−SNR/2) (Abbe–Fan–Wang, leading order)."""
    return math.exp(-snr(mu_norm, d, N) / 2)
