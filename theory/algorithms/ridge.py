"""Closed-form least squares and ridge: the fixed points that iterative methods approach."""

from __future__ import annotations

import torch
from torch import Tensor

from theory.prompts import PromptBatch
from theory.validation import check_positive

__all__ = ["ols", "ridge"]


def ols(prompt: PromptBatch) -> Tensor:
    """Minimum-norm least-squares solution w = X⁺ y (covers n < d): (B, d), float64."""
    X = prompt.X.to(torch.float64)
    y = prompt.y.to(torch.float64)
    return (torch.linalg.pinv(X) @ y.unsqueeze(-1)).squeeze(-1)


def ridge(prompt: PromptBatch, lam: float) -> Tensor:
    """argmin_w (1/2n)‖Xw − y‖² + (λ/2)‖w‖² = (XᵀX/n + λI)⁻¹ Xᵀy/n: (B, d), float64."""
    lam = check_positive("lam", lam)
    X = prompt.X.to(torch.float64)
    y = prompt.y.to(torch.float64)
    n, d = X.shape[1], X.shape[2]
    S = X.transpose(1, 2) @ X / n + lam * torch.eye(d, dtype=torch.float64)
    return torch.linalg.solve(S, (X.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1) / n)
