"""Task samplers for in-context linear regression. All randomness comes from an explicit generator.

Draws are made on the CPU in float64 from a ``torch.Generator`` and only then cast/moved, so one seed gives
the same numbers whatever the target device or dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from theory.prompts import PromptBatch
from theory.validation import MAX_CONDITION, check_generator, check_positive, check_positive_int, check_spd

__all__ = ["random_rotation", "spd_with_condition", "spd_from_spectrum", "LinearRegressionTask", "make_generator"]

Prior = Literal["isotropic", "inverse_cov"]


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (the suite never touches global RNG state)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:  # a 64-bit generator seed
        raise ValueError(f"seed: expected an integer in [0, 2^64), got {seed!r}")
    return torch.Generator(device="cpu").manual_seed(seed)


def random_rotation(d: int, generator: torch.Generator, batch: int | None = None) -> Tensor:
    """Haar-distributed orthogonal matrices (QR of a Gaussian, signs fixed by diag(R) > 0).

    Returns:
        U: (d, d), or (batch, d, d) when ``batch`` is given; float64, CPU.
    """
    check_positive_int("d", d)
    check_generator("generator", generator)
    shape = (d, d) if batch is None else (check_positive_int("batch", batch), d, d)
    G = torch.randn(shape, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(G)
    signs = torch.sign(torch.diagonal(R, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return Q * signs.unsqueeze(-2)


def spd_from_spectrum(eigenvalues: Tensor, generator: torch.Generator, batch: int | None = None) -> Tensor:
    """Σ = U diag(λ) Uᵀ with a Haar rotation U. Returns (d, d) or (batch, d, d), float64."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    if lam.ndim != 1 or lam.numel() == 0:
        raise ValueError(f"eigenvalues: expected a non-empty 1-D tensor, got shape {tuple(lam.shape)}")
    if not bool(torch.isfinite(lam).all()) or bool((lam <= 0).any()):
        raise ValueError("eigenvalues: must be finite and > 0 for a positive definite covariance")
    U = random_rotation(lam.numel(), generator, batch)
    S = (U * lam) @ U.transpose(-1, -2)
    return 0.5 * (S + S.transpose(-1, -2))


def spd_with_condition(
    d: int, kappa: float, generator: torch.Generator, batch: int | None = None
) -> Tensor:
    """Random SPD matrix with condition number exactly ``kappa`` and trace ``d``.

    Eigenvalues are geometrically spaced between λ_max and λ_max/κ (so every scale is represented),
    then scaled so tr Σ = d, which keeps E‖x‖² = d as for Σ = I. Rotation is Haar.
    """
    check_positive_int("d", d)
    kappa = check_positive("kappa", kappa)
    if not 1 <= kappa <= MAX_CONDITION:  # beyond, the result is not numerically SPD and its cond is not kappa
        raise ValueError(f"kappa: a condition number in [1, {MAX_CONDITION:g}] (float64), got {kappa}")
    if d == 1 and kappa != 1:
        raise ValueError(f"kappa: a 1x1 covariance has condition number 1, got {kappa}")
    lam = torch.logspace(0.0, -torch.log10(torch.tensor(kappa, dtype=torch.float64)).item(), d, dtype=torch.float64)
    lam = lam * (d / lam.sum())
    return spd_from_spectrum(lam, generator, batch)


@dataclass(frozen=True)
class LinearRegressionTask:
    """y = wᵀx + ε with x ~ N(0, Σ), w ~ prior, ε ~ N(0, noise²).

    Attributes:
        d: features.
        n: in-context examples.
        m: queries per prompt.
        sigma: fixed covariance (d, d); if None, one is drawn per prompt with condition number ``cond``
            (``cond = 1`` gives Σ = I exactly).
        cond: condition number of drawn covariances.
        noise: label noise standard deviation (applies to context and query labels).
        prior: ``"isotropic"`` w ~ N(0, I) (Ahn et al. Thm 1, Garg et al.) or ``"inverse_cov"``
            w ~ N(0, Σ⁻¹) (Ahn et al. Thm 3).
    """

    d: int
    n: int
    m: int = 1
    sigma: Tensor | None = None
    cond: float = 1.0
    noise: float = 0.0
    prior: Prior = "isotropic"

    def __post_init__(self) -> None:
        check_positive_int("d", self.d)
        check_positive_int("n", self.n)
        check_positive_int("m", self.m)
        check_positive("noise", self.noise, allow_zero=True)
        check_positive("cond", self.cond)
        if not 1 <= self.cond <= MAX_CONDITION:
            raise ValueError(f"cond: a condition number in [1, {MAX_CONDITION:g}] (float64), got {self.cond}")
        if self.prior not in ("isotropic", "inverse_cov"):
            raise ValueError(f"prior: expected 'isotropic' or 'inverse_cov', got {self.prior!r}")
        if self.sigma is not None:
            if not isinstance(self.sigma, Tensor):
                raise ValueError(f"sigma: expected a (d, d) tensor or None, got {type(self.sigma).__name__}")
            if tuple(self.sigma.shape) != (self.d, self.d):
                raise ValueError(f"sigma: expected shape (d, d) = {(self.d, self.d)}, got {tuple(self.sigma.shape)}")
            check_spd("sigma", self.sigma)

    def covariances(self, batch: int, generator: torch.Generator) -> Tensor:
        """(batch, d, d) float64 covariances: the fixed Σ repeated, I, or fresh draws."""
        if self.sigma is not None:
            return self.sigma.to(torch.float64).expand(batch, self.d, self.d).clone()
        if self.cond == 1.0:
            return torch.eye(self.d, dtype=torch.float64).expand(batch, self.d, self.d).clone()
        return spd_with_condition(self.d, self.cond, generator, batch)

    def sample(
        self,
        batch: int,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        draw_dtype: torch.dtype = torch.float64,
    ) -> PromptBatch:
        """Draw ``batch`` prompts. ``meta`` holds ``w`` (B, d) and ``sigma`` (B, d, d) in float64 on CPU.

        ``draw_dtype``: the dtype of the normal draws and of x, w, y (float64 by default, then cast to ``dtype``:
        the claims' data). A training loop that runs in float32 may draw in float32 (``draw_dtype=dtype``): an
        equally seeded, different stream, without the float64 draws and the casts (half of a small model's
        sampling time)."""
        check_positive_int("batch", batch)
        check_generator("generator", generator)
        for name, t in (("dtype", dtype), ("draw_dtype", draw_dtype)):
            if not isinstance(t, torch.dtype) or not t.is_floating_point:  # an integer dtype truncates silently
                raise ValueError(f"{name}: expected a floating torch.dtype, got {t!r}")
        d, n, m = self.d, self.n, self.m
        S = self.covariances(batch, generator)
        identity = self.sigma is None and self.cond == 1.0
        # Σ = I: C = I, and Z Cᵀ = Z and C⁻ᵀ g = g hold bit for bit (products with 1 and sums with 0 are exact),
        # so the factorisation is skipped: the same numbers, without a Cholesky and two products per step
        C = None if identity else torch.linalg.cholesky(S).to(draw_dtype)  # x = C g has covariance S
        Z = torch.randn(batch, n + m, d, generator=generator, dtype=draw_dtype)
        Xall = Z if C is None else Z @ C.transpose(-1, -2)
        g = torch.randn(batch, d, generator=generator, dtype=draw_dtype)
        if self.prior == "isotropic" or C is None:
            w = g
        else:  # w = C^{-T} g has covariance (C C^T)^{-1} = Σ^{-1}
            w = torch.linalg.solve_triangular(C.transpose(-1, -2), g.unsqueeze(-1), upper=True).squeeze(-1)
        yall = (Xall @ w.unsqueeze(-1)).squeeze(-1)
        if self.noise > 0:
            yall = yall + self.noise * torch.randn(batch, n + m, generator=generator, dtype=draw_dtype)
        meta = {"w": w.to(torch.float64), "sigma": S, "task": self.describe()}
        return PromptBatch.from_draws(
            X=Xall[:, :n].to(device=device, dtype=dtype),
            y=yall[:, :n].to(device=device, dtype=dtype),
            xq=Xall[:, n:].to(device=device, dtype=dtype),
            yq=yall[:, n:].to(device=device, dtype=dtype),
            meta=meta,
        )

    def describe(self) -> dict[str, object]:
        """JSON-friendly description (recorded in every artifact that uses the task)."""
        return {
            "d": self.d,
            "n": self.n,
            "m": self.m,
            "cond": self.cond,
            "noise": self.noise,
            "prior": self.prior,
            "sigma": None if self.sigma is None else self.sigma.tolist(),
        }
