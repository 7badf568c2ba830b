# ruff: noqa: I001  (theory.demo25 is the example's own module: ruff cannot classify it)
"""Demo et al. (2025), Lemma 1: one GD step with step η ≤ 1/λ_max(Ŝ) from w = 0 never increases R."""

from __future__ import annotations

import torch
from torch import Tensor

from theory.prompts import PromptBatch
from theory.validation import check_positive

__all__ = ["insample_loss", "one_gd_step"]


def insample_loss(prompt: PromptBatch, w: Tensor) -> Tensor:
    """R(w) = (1/2n) Σ_i (wᵀx_i − y_i)²: w (B, d) -> (B,), float64."""
    X, y = prompt.X.double(), prompt.y.double()
    r = (X @ w.unsqueeze(-1)).squeeze(-1) - y
    return 0.5 * (r**2).mean(-1)


def one_gd_step(prompt: PromptBatch, eta_scale: float) -> Tensor:
    """w_1 = −η∇R(0) = η Xᵀy/n with η = eta_scale/λ_max(Ŝ) (Lemma 1): -> (B, d), float64."""
    check_positive("eta_scale", eta_scale)
    X, y = prompt.X.double(), prompt.y.double()
    n = X.shape[1]
    eta = eta_scale / torch.linalg.eigvalsh(X.transpose(1, 2) @ X / n)[:, -1]
    return eta[:, None] * (X.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1) / n
