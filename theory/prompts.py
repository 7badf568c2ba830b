"""The one ICL prompt batch type, and the only place where token layouts are defined.

Glossary (used in every shape annotation of the suite):

=====  ===========================================
B      batch (independent prompts)
n      in-context examples per prompt
m      queries per prompt
d      features (dimension of x)
L      layers
k      algorithm steps
T      tokens
D      residual-stream width
=====  ===========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from theory.validation import check_finite, check_ndim

__all__ = ["PromptBatch"]


@dataclass(frozen=True)
class PromptBatch:
    """A batch of in-context regression prompts.

    Attributes:
        X: (B, n, d) in-context inputs, one row per example.
        y: (B, n) in-context targets.
        xq: (B, m, d) query inputs.
        yq: (B, m) query targets (ground truth, never shown to a model).
        meta: free-form record of how the batch was drawn (task parameters, seeds, true weights ...).
    """

    X: Tensor
    y: Tensor
    xq: Tensor
    yq: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_draws(cls, X: Tensor, y: Tensor, xq: Tensor, yq: Tensor, meta: dict[str, Any]) -> PromptBatch:
        """A batch a sampler drew itself (normal draws, their products with finite matrices): every check of
        :meth:`validate` but finiteness, which holds by construction. The finiteness scan is a third of a
        small batch's sampling time, paid at every training step."""
        batch = object.__new__(cls)
        for name, value in (("X", X), ("y", y), ("xq", xq), ("yq", yq), ("meta", meta)):
            object.__setattr__(batch, name, value)
        batch.validate(finite=False)
        return batch

    # -- validation -----------------------------------------------------------------------------------
    def validate(self, *, finite: bool = True) -> None:
        """Check shapes, dtypes, devices and (unless ``finite`` is False) finiteness; raise ``ValueError``
        naming the field."""
        check_ndim("X", self.X, 3, "(B, n, d)")
        check_ndim("y", self.y, 2, "(B, n)")
        check_ndim("xq", self.xq, 3, "(B, m, d)")
        check_ndim("yq", self.yq, 2, "(B, m)")
        B, n, d = self.X.shape
        if self.y.shape != (B, n):
            raise ValueError(f"y: expected shape (B, n) = {(B, n)} to match X, got {tuple(self.y.shape)}")
        if self.xq.shape[0] != B or self.xq.shape[2] != d:
            raise ValueError(
                f"xq: expected shape (B, m, d) with B={B}, d={d} to match X, got {tuple(self.xq.shape)}"
            )
        if self.yq.shape != self.xq.shape[:2]:
            raise ValueError(f"yq: expected shape (B, m) = {tuple(self.xq.shape[:2])}, got {tuple(self.yq.shape)}")
        if n < 1 or d < 1 or B < 1:
            raise ValueError(f"X: need B, n, d >= 1, got shape {tuple(self.X.shape)}")
        for name in ("y", "xq", "yq"):
            t = getattr(self, name)
            if t.dtype != self.X.dtype:
                raise ValueError(f"{name}: dtype {t.dtype} differs from X's {self.X.dtype}")
            if t.device != self.X.device:
                raise ValueError(f"{name}: device {t.device} differs from X's {self.X.device}")
        if not self.X.is_floating_point():
            raise ValueError(f"X: expected a floating dtype, got {self.X.dtype}")
        for name in ("X", "y", "xq", "yq") if finite else ():
            check_finite(name, getattr(self, name))

    # -- basic properties -----------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.X.shape[0])

    @property
    def n(self) -> int:
        return int(self.X.shape[1])

    @property
    def d(self) -> int:
        return int(self.X.shape[2])

    @property
    def m(self) -> int:
        return int(self.xq.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    @property
    def device(self) -> torch.device:
        return self.X.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> PromptBatch:
        """Move every tensor (and only tensors) to ``device`` / ``dtype``; ``self`` when they are there already (no
        second validation scan of the same numbers)."""
        moved = {k: getattr(self, k).to(device=device, dtype=dtype) for k in ("X", "y", "xq", "yq")}
        if all(t is getattr(self, k) for k, t in moved.items()):
            return self
        return replace(self, **moved)

    def with_queries(self, xq: Tensor, yq: Tensor) -> PromptBatch:
        """Same context, other queries (used to estimate the linear map a predictor induces)."""
        return replace(self, xq=xq, yq=yq)

    def prefix(self, n: int) -> PromptBatch:
        """The first ``n`` in-context examples, same queries."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.n:
            raise ValueError(f"n: prefix length must be an integer in [1, {self.n}], got {n!r}")
        return replace(self, X=self.X[:, :n], y=self.y[:, :n])

    # -- layouts --------------------------------------------------------------------------------------
    def to_stacked(self) -> Tensor:
        """Ahn et al. (2023) embedding, tokens as columns: Z_0 = [[X^T, xq^T], [y^T, 0]].

        Returns:
            Z0: (B, d+1, n+m). The last m columns are queries, whose label row is 0.
        """
        B, m = self.batch_size, self.m
        top = torch.cat([self.X, self.xq], dim=1).transpose(1, 2)  # (B, d, n+m)
        bottom = torch.cat([self.y, self.yq.new_zeros(B, m)], dim=1).unsqueeze(1)  # (B, 1, n+m)
        return torch.cat([top, bottom], dim=1)

    def to_interleaved(self) -> Tensor:
        """Garg et al. (2022) format: tokens x_1, y_1, ..., x_n, y_n, xq_1, ..., xq_m as rows.

        x tokens are [x, 0]; y tokens are [0, ..., 0, y]. Predictions are read at the x-token positions:
        position 2i is x_{i+1} for i < n, then queries at 2n, ..., 2n+m-1. Queries attend to the whole
        context but (under a causal mask) not to each other's labels, since query labels never appear.

        Returns:
            tokens: (B, 2n + m, d+1).
        """
        B, n, d = self.X.shape
        xt = torch.cat([self.X, self.X.new_zeros(B, n, 1)], dim=-1)  # (B, n, d+1)
        yt = torch.cat([self.X.new_zeros(B, n, d), self.y.unsqueeze(-1)], dim=-1)  # (B, n, d+1)
        ctx = torch.stack([xt, yt], dim=2).reshape(B, 2 * n, d + 1)
        qt = torch.cat([self.xq, self.xq.new_zeros(B, self.m, 1)], dim=-1)
        return torch.cat([ctx, qt], dim=1)

    @staticmethod
    def interleaved_query_positions(n: int, m: int) -> Tensor:
        """Row indices of the query tokens in :meth:`to_interleaved`'s output: (m,)."""
        return torch.arange(2 * n, 2 * n + m)
