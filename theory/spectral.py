"""PCA instances, sign-invariant metrics and the power-method bounds of He et al. (2025) (fact sheet §2).

* Angle bound (textbook; finite-iteration term of the precursor's theorem), exact deflation:
  tan θ(v_τ, v_i) ≤ (λ_{i+1}/λ_i)^τ tan θ(p_i, v_i), so 1 − |cos θ_τ| ≤ ½ tan²θ_τ.
* Seed lemma, sharp form derived (not from the paper), d ≥ 3: P(|⟨p̂, v⟩| < η/√d) ≤ √(2/π) η.
* Inexact normaliser, derived: c = s^(−1/2)(1 + η) keeps the direction, ‖v‖ = 1 + η, uncorrected Rayleigh
  value λ(1 + η)²; right-projection deflation leaves λ(1 − (1 + η)²) ≈ −2ηλ on the extracted direction.
* Rayleigh quotient of a unit vector at angle θ: |vᵀΣv − λ_1| ≤ (λ_1 − λ_d) sin²θ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from theory.samplers import random_rotation
from theory.validation import check_generator, check_positive, check_positive_int, check_real

__all__ = [
    "PCAInstances",
    "sample_pca_instances",
    "abs_cos",
    "tan_angle",
    "sign_canonicalise",
    "angle_bound",
    "exact_deflation",
    "iterations_needed",
    "seed_overlap_bound",
    "seed_overlap_probability",
    "chance_abs_cos",
    "rayleigh_angle_bound",
    "inexact_rayleigh_bias",
    "deflation_residual",
    "deflation_boundary_violated",
]


class PCAInstances:
    """A batch of PCA problems: data X (B, N, d) (rows are tokens x_j), Σ̂ = XᵀX/N and its eigenpairs.

    Attributes:
        X: (B, N, d). S: (B, d, d) = XᵀX/N (uncentred second moment, fact sheet §2).
        eigvals: (B, d) descending. eigvecs: (B, d, d), column i = v_{i+1}, sign-canonicalised.
        population: (B, d) the population spectrum Λ the data were drawn with.
    """

    def __init__(self, X: Tensor, population: Tensor) -> None:
        self.X = X
        self.population = population
        self.S = X.transpose(1, 2) @ X / X.shape[1]
        self.S = 0.5 * (self.S + self.S.transpose(1, 2))
        vals, vecs = torch.linalg.eigh(self.S)
        self.eigvals = vals.flip(-1)
        self.eigvecs = sign_canonicalise(vecs.flip(-1).transpose(1, 2)).transpose(1, 2)

    @property
    def batch_size(self) -> int:
        return int(self.X.shape[0])


def sample_pca_instances(
    batch: int,
    d: int,
    N: int,
    generator: torch.Generator,
    lam_range: tuple[float, float] = (0.1, 4.1),
    min_gap: float = 0.0,
) -> PCAInstances:
    """Random PCA instances: Λ ~ U[lam_range] sorted, Haar basis U, x_j = U Λ^{1/2} z_j, z_j ~ N(0, I).

    A fresh basis per instance, so a model cannot store the answer (fact sheet §5). ``min_gap`` resamples
    population spectra whose consecutive gaps fall below it.
    """
    check_positive_int("batch", batch)
    check_positive_int("d", d)
    check_positive_int("N", N)
    check_generator("generator", generator)
    lo, hi = float(lam_range[0]), float(lam_range[1])
    if not (0 < lo < hi < math.inf):  # an infinite end would give inf/NaN data silently
        raise ValueError(f"lam_range: need 0 < low < high < inf, got {lam_range}")
    check_positive("min_gap", min_gap, allow_zero=True)
    lam = torch.empty(batch, d, dtype=torch.float64)
    todo = torch.ones(batch, dtype=torch.bool)
    for _ in range(1000):
        draw = (lo + (hi - lo) * torch.rand(batch, d, generator=generator, dtype=torch.float64)).sort(-1, True).values
        lam = torch.where(todo.unsqueeze(-1), draw, lam)
        gaps = (lam[:, :-1] - lam[:, 1:]).amin(-1) if d > 1 else torch.full((batch,), math.inf, dtype=torch.float64)
        todo = gaps < min_gap
        if not bool(todo.any()):
            break
    else:
        raise ValueError(f"min_gap: {min_gap} too large for d = {d} eigenvalues in {lam_range}")
    U = random_rotation(d, generator, batch)
    Z = torch.randn(batch, N, d, generator=generator, dtype=torch.float64)
    X = (Z * lam.sqrt().unsqueeze(1)) @ U.transpose(1, 2)
    return PCAInstances(X, lam)


def sign_canonicalise(v: Tensor) -> Tensor:
    """Flip each vector (last dim) so that its largest-|entry| is positive (fact sheet §5 pitfall 'Sign')."""
    idx = v.abs().argmax(-1, keepdim=True)
    sgn = torch.sign(torch.gather(v, -1, idx))
    return v * torch.where(sgn == 0, torch.ones_like(sgn), sgn)


def abs_cos(a: Tensor, b: Tensor) -> Tensor:
    """|aᵀb| / (‖a‖‖b‖) along the last dim (sign-invariant)."""
    num = (a * b).sum(-1).abs()
    return num / (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)).clamp_min(1e-300)


def tan_angle(v: Tensor, u: Tensor) -> Tensor:
    """tan θ(v, u) = ‖v − (v·û)û‖ / |v·û| along the last dim (inf if orthogonal)."""
    uh = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    along = (v * uh).sum(-1)
    perp = torch.linalg.vector_norm(v - along.unsqueeze(-1) * uh, dim=-1)
    return perp / along.abs()


def angle_bound(ratio: Tensor | float, steps: int, tan0: Tensor | float) -> Tensor:
    """(λ_{i+1}/λ_i)^τ · tan θ_0."""
    check_positive_int("steps", steps, minimum=0)
    return torch.as_tensor(ratio, dtype=torch.float64) ** steps * torch.as_tensor(tan0, dtype=torch.float64)


def exact_deflation(S: Tensor, eigvals: Tensor, eigvecs: Tensor, i: int) -> Tensor:
    """S − Σ_{j<i} λ_j v_j v_jᵀ with the *true* eigenpairs (exact deflation; i is 0-based).

    S (B, d, d); eigvals (B, d) descending; eigvecs (B, d, d) columns.
    """
    check_positive_int("i", i, minimum=0)
    if i > S.shape[-1]:
        raise ValueError(f"i: at most d = {S.shape[-1]} eigenpairs can be removed, got {i}")
    V = eigvecs[..., :i]
    return S - (V * eigvals[:, None, :i]) @ V.transpose(-1, -2)


def iterations_needed(tan0: float, eps: float, ratio: float) -> int:
    """τ ≥ ln(tan θ_0 / ε) / ln(λ_i/λ_{i+1}) for tan θ_τ ≤ ε (ratio = λ_{i+1}/λ_i < 1)."""
    if not 0 < ratio < 1:
        raise ValueError(f"ratio: need 0 < λ_(i+1)/λ_i < 1, got {ratio}")
    return max(0, math.ceil(math.log(check_positive("tan0", tan0) / check_positive("eps", eps)) / -math.log(ratio)))


def seed_overlap_bound(eta: float) -> float:
    """√(2/π)·η ≥ P(|⟨p̂, v⟩| < η/√d) for a uniform unit p̂ and d ≥ 3 (derived; Gautschi's inequality)."""
    return math.sqrt(2.0 / math.pi) * check_positive("eta", eta, allow_zero=True)


def seed_overlap_probability(eta: float, d: int) -> float:
    """Exact P(|⟨p̂, v⟩| < η/√d): ⟨p̂, v⟩² ~ Beta(1/2, (d−1)/2), so it is I_{η²/d}(1/2, (d−1)/2)."""
    from scipy.special import betainc

    check_positive_int("d", d, minimum=2)
    t = min(1.0, check_positive("eta", eta, allow_zero=True) ** 2 / d)
    return float(betainc(0.5, (d - 1) / 2.0, t))


def chance_abs_cos(d: int) -> float:
    """E|cos| between a fixed and a uniform random direction: Γ(d/2) / (√π Γ((d+1)/2))."""
    check_positive_int("d", d)
    return math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)


def rayleigh_angle_bound(lam_max: Tensor, lam_min: Tensor, sin2: Tensor) -> Tensor:
    """(λ_1 − λ_d) sin²θ ≥ |vᵀΣv − λ_1| for a unit v at angle θ to v_1."""
    return (lam_max - lam_min) * sin2


def inexact_rayleigh_bias(eta: float) -> float:
    """(1 + η)² − 1 = 2η + η²: relative bias of the uncorrected Rayleigh value when ‖v‖ = 1 + η."""
    eta = check_real("eta", eta, low=-1.0, low_open=True)  # ‖v‖ = 1 + η > 0
    return 2 * eta + eta * eta


def deflation_residual(lam: Tensor | float, eta: float) -> Tensor:
    """λ(1 − (1 + η)²) ≈ −2ηλ: the eigenvalue right-projection deflation leaves on the extracted direction."""
    eta = check_real("eta", eta, low=-1.0, low_open=True)
    return torch.as_tensor(lam, dtype=torch.float64) * (1 - (1 + eta) ** 2)


def deflation_boundary_violated(eigvals: Tensor, k: int, eta: float) -> Tensor:
    """(B,) True where some i < k has |λ_i((1+η)² − 1)| ≥ λ_{i+1}: the next power run re-converges to v_i.

    eigvals (B, d) descending. Only the first k − 1 deflations matter (the k-th feeds no further run).
    """
    check_positive_int("k", k, minimum=0)
    if eigvals.ndim != 2 or k > eigvals.shape[-1]:
        raise ValueError(f"eigvals: expected shape (B, d) with d >= k = {k}, got {tuple(eigvals.shape)}")
    if k <= 1:
        return torch.zeros(eigvals.shape[0], dtype=torch.bool)
    resid = deflation_residual(eigvals[:, : k - 1], eta).abs()
    return (resid >= eigvals[:, 1:k]).any(-1)
