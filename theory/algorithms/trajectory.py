"""What every iterative reference algorithm returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["Trajectory", "relative_deviation"]


def relative_deviation(a: Tensor, b: Tensor, dim: int | tuple[int, ...] = -1, floor: float = 1e-300) -> Tensor:
    """‖a − b‖ / max(‖b‖, floor) along ``dim`` (b is the reference)."""
    return torch.linalg.vector_norm(a - b, dim=dim) / torch.linalg.vector_norm(b, dim=dim).clamp_min(floor)


@dataclass(frozen=True)
class Trajectory:
    """Per-step iterates of an algorithm run on a batch.

    Attributes:
        iterates: (K+1, B, d) — step 0 is the initial point.
        meta: algorithm name, parameters, convergence flags.
    """

    iterates: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.iterates.shape[0]) - 1

    @property
    def final(self) -> Tensor:
        """(B, d) the last iterate."""
        return self.iterates[-1]

    def predictions(self, xq: Tensor) -> Tensor:
        """Linear predictions xqᵀ w_k for every step: xq (B, m, d) -> (K+1, B, m)."""
        return torch.einsum("bmd,kbd->kbm", xq.to(self.iterates.dtype), self.iterates)

    def relative_errors(self, target: Tensor) -> Tensor:
        """‖w_k − w*‖/‖w*‖ for each step: target (B, d) -> (K+1, B)."""
        return relative_deviation(self.iterates, target.unsqueeze(0).to(self.iterates.dtype))

    def steps_to(self, target: Tensor, eps: float) -> Tensor:
        """First step k with relative error <= eps per prompt (B,); -1 where never reached."""
        err = self.relative_errors(target) <= eps  # (K+1, B)
        hit = err.any(dim=0)
        first = torch.argmax(err.to(torch.int64), dim=0)
        return torch.where(hit, first, torch.full_like(first, -1))
