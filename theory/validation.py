"""Argument checks shared by every public entry point: each error names the offending argument."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "check_ndim",
    "check_finite",
    "check_spd",
    "check_symmetric",
    "check_psd",
    "check_positive_int",
    "check_positive",
    "check_real",
    "check_square",
    "check_generator",
    "check_prompt",
    "check_nonzero_rows",
    "MAX_CONDITION",
]

#: Largest condition number a float64 covariance can carry: eigenvalue ratios beyond about 1/ε ≈ 4.5e15 are lost
#: in round-off, so the matrix is no longer numerically positive definite.
MAX_CONDITION = 1e15


def check_ndim(name: str, t: object, ndim: int, shape_doc: str) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape {shape_doc}, got {type(t).__name__}")
    if t.ndim != ndim:
        raise ValueError(f"{name}: expected shape {shape_doc} ({ndim} dims), got {tuple(t.shape)}")


def check_finite(name: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or infinite entries")


def check_square(name: str, t: Tensor) -> None:
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name}: expected square matrices (..., d, d), got shape {tuple(t.shape)}")


def check_symmetric(name: str, S: Tensor, *, rtol: float = 1e-10) -> None:
    """Square, finite and symmetric to ``rtol`` relative to the largest entry, batched over leading dims."""
    check_square(name, S)
    check_finite(name, S)
    S64 = S.detach().to(torch.float64)
    scale = S64.abs().amax(dim=(-2, -1)).clamp_min(1e-300)
    asym = (S64 - S64.transpose(-1, -2)).abs().amax(dim=(-2, -1)) / scale
    if bool((asym > rtol).any()):
        raise ValueError(f"{name}: not symmetric (max relative asymmetry {float(asym.max()):.3g} > {rtol:g})")


def check_psd(name: str, S: Tensor, *, rtol: float = 1e-10) -> Tensor:
    """Symmetric positive semidefinite up to round-off: λ_min >= −rtol·max|λ|. Returns the eigenvalues (..., d)
    ascending, float64 (callers that need λ_max reuse them)."""
    check_symmetric(name, S, rtol=rtol)
    S64 = S.detach().to(torch.float64)
    lam = torch.linalg.eigvalsh(0.5 * (S64 + S64.transpose(-1, -2)))
    floor = -rtol * lam.abs().amax(dim=-1).clamp_min(1e-300)
    if bool((lam[..., 0] < floor).any()):
        raise ValueError(f"{name}: not positive semidefinite (smallest eigenvalue {float(lam[..., 0].min()):.3g})")
    return lam


def check_spd(name: str, S: Tensor, *, rtol: float = 1e-10) -> None:
    """Symmetric positive definite, batched over leading dims.

    Symmetry is checked relative to the matrix norm at ``rtol`` (round-off of a product ``U D U^T``);
    definiteness by a Cholesky factorisation in float64.
    """
    check_symmetric(name, S, rtol=rtol)
    S64 = S.detach().to(torch.float64)
    _, info = torch.linalg.cholesky_ex(0.5 * (S64 + S64.transpose(-1, -2)))
    if bool((info != 0).any()):
        raise ValueError(f"{name}: not positive definite (Cholesky failed)")


def check_positive_int(name: str, v: object, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {v!r}")
    if v < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {v}")
    return v


def check_positive(name: str, v: object, *, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    if float(v) < 0 or (float(v) == 0 and not allow_zero):
        raise ValueError(f"{name}: expected a {'non-negative' if allow_zero else 'positive'} number, got {v}")
    return float(v)


def check_real(name: str, v: object, *, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
               high_open: bool = False) -> float:
    """A finite real number in [low, high] (an end excluded with ``low_open``/``high_open``)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    x = float(v)
    if (x <= low if low_open else x < low) or (x >= high if high_open else x > high):
        if math.isinf(high):
            rng = f"{'>' if low_open else '>='} {low:g}"
        elif math.isinf(low):
            rng = f"{'<' if high_open else '<='} {high:g}"
        else:
            rng = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name}: expected a number {rng}, got {v}")
    return x


def check_generator(name: str, g: object) -> torch.Generator:
    """A ``torch.Generator``: None would silently fall back to the global RNG, which the suite never uses."""
    if not isinstance(g, torch.Generator):
        raise ValueError(f"{name}: expected a torch.Generator (the suite never uses global RNG state), "
                         f"got {type(g).__name__}")
    return g


def check_prompt(name: str, p: object) -> None:
    """A :class:`theory.prompts.PromptBatch` (which validates its own shapes and finiteness)."""
    from theory.prompts import PromptBatch  # prompts imports this module

    if not isinstance(p, PromptBatch):
        raise ValueError(f"{name}: expected a PromptBatch, got {type(p).__name__}")


def check_nonzero_rows(name: str, v: Tensor) -> None:
    """No all-zero vector along the last dim (a seed or direction that cannot be normalised)."""
    if bool((torch.linalg.vector_norm(v.detach().to(torch.float64), dim=-1) == 0).any()):
        raise ValueError(f"{name}: contains an all-zero vector (cannot be normalised)")
