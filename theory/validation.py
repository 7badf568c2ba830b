"""Argument checks shared by every public entry point: each error names the offending argument."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "check_ndim",
    "check_finite",
    "check_spd",
    "check_positive_int",
    "check_positive",
    "check_square",
]


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


def check_spd(name: str, S: Tensor, *, rtol: float = 1e-10) -> None:
    """Symmetric positive definite, batched over leading dims.

    Symmetry is checked relative to the matrix norm at ``rtol`` (round-off of a product ``U D U^T``);
    definiteness by a Cholesky factorisation in float64.
    """
    check_square(name, S)
    check_finite(name, S)
    S64 = S.detach().to(torch.float64)
    scale = S64.abs().amax(dim=(-2, -1)).clamp_min(1e-300)
    asym = (S64 - S64.transpose(-1, -2)).abs().amax(dim=(-2, -1)) / scale
    if bool((asym > rtol).any()):
        raise ValueError(f"{name}: not symmetric (max relative asymmetry {float(asym.max()):.3g} > {rtol:g})")
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
