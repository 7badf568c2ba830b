"""goulart24 tasks: prompts of (x, f(x)) pairs for the vector p-norm, the nuclear norm and top-k singular values.

Entries are i.i.d. Uniform[−a, a] (the paper's a = 100 by default), float64, all drawn from an explicit
``torch.Generator``. Two regimes (fact sheet §2, "Learners the suite compares"):

* ``fixed`` (R1, paper-faithful): one function for the whole run;
* ``family`` (R2): each prompt draws a parameter the learner has to infer from its examples —
  p ~ U[0.5, 4] for the vector task, Schatten index q ∈ {1, 2, ∞} for the matrix-norm task, and an output
  scale s ~ U[0.5, 2] for every task.

Shapes: P prompts, L = c + 1 examples per prompt (c demonstrations then the query), d = input size
(n for vectors, n² for matrices, row-major), k = output size (1, or k for top-k).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor

from empirical.seeding import torch_generator
from theory.matrix_functions import p_norm, schatten_norm, top_k_singular_values

__all__ = ["MatrixFunctionTask", "FunctionPrompts", "target_stats"]

Kind = Literal["pnorm", "nuclear", "topk"]
Regime = Literal["fixed", "family"]

#: Parameter ranges of the family regime (R2), fact sheet §2.
FAMILY_P = (0.5, 4.0)
FAMILY_Q = (1.0, 2.0, float("inf"))
FAMILY_SCALE = (0.5, 2.0)


@dataclass(frozen=True)
class MatrixFunctionTask:
    """One task of the paper (kind, size, parameter) in one regime, at entry scale ``scale`` = a.

    Attributes:
        kind: ``pnorm`` (x ∈ Rⁿ), ``nuclear`` (A ∈ R^{n×n}; Schatten-q family in R2), ``topk``.
        n: vector length or matrix side. p: the fixed p of the p-norm (R1). k: number of singular values.
    """

    kind: Kind
    n: int
    p: float = 0.5
    k: int = 1
    regime: Regime = "fixed"
    scale: float = 100.0

    def __post_init__(self) -> None:
        if self.kind not in ("pnorm", "nuclear", "topk"):
            raise ValueError(f"kind: expected pnorm|nuclear|topk, got {self.kind!r}")
        if self.regime not in ("fixed", "family"):
            raise ValueError(f"regime: expected fixed|family, got {self.regime!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {self.n!r}")
        if not (float(self.p) > 0):
            raise ValueError(f"p: expected p > 0, got {self.p}")
        if self.kind == "topk" and not (isinstance(self.k, int) and 1 <= self.k <= self.n):
            raise ValueError(f"k: expected 1 <= k <= n = {self.n} for top-k, got {self.k!r}")
        if not (float(self.scale) > 0):
            raise ValueError(f"scale: expected a > 0, got {self.scale}")

    @property
    def name(self) -> str:
        base = {"pnorm": f"pnorm_n{self.n}" + ("" if self.regime == "family" else f"_p{self.p:g}"),
                "nuclear": f"{'schatten' if self.regime == 'family' else 'nuclear'}_{self.n}x{self.n}",
                "topk": f"top{self.k}_{self.n}x{self.n}"}[self.kind]
        return base + ("_family" if self.regime == "family" else "")

    @property
    def is_matrix(self) -> bool:
        return self.kind != "pnorm"

    @property
    def d_in(self) -> int:
        return self.n * self.n if self.is_matrix else self.n

    @property
    def k_out(self) -> int:
        return self.k if self.kind == "topk" else 1

    def with_scale(self, scale: float) -> MatrixFunctionTask:
        return MatrixFunctionTask(self.kind, self.n, self.p, self.k, self.regime, scale)

    # -- sampling ---------------------------------------------------------------------------------------
    def sample_params(self, num_prompts: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Per-prompt parameters (P,): fixed values in R1, draws in R2."""
        P = num_prompts
        ones = torch.ones(P, dtype=torch.float64)
        if self.regime == "fixed":
            return {"p": ones * float(self.p), "q": ones, "s": ones}
        lo, hi = FAMILY_SCALE
        u = torch.rand(3, P, generator=generator, dtype=torch.float64)
        s = lo + (hi - lo) * u[0]
        p = FAMILY_P[0] + (FAMILY_P[1] - FAMILY_P[0]) * u[1]
        q = torch.tensor(FAMILY_Q, dtype=torch.float64)[(u[2] * len(FAMILY_Q)).long().clamp_max(len(FAMILY_Q) - 1)]
        return {"p": p, "q": q, "s": s}

    def evaluate(self, X: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Targets f(x) for inputs X (P, L, d) and per-prompt params (P,) -> (P, L, k)."""
        s = params["s"][:, None, None]
        if self.kind == "pnorm":
            y = p_norm(X, params["p"][:, None])[..., None]
        else:
            A = X.reshape(*X.shape[:-1], self.n, self.n)
            if self.kind == "nuclear":
                y = schatten_norm(A, params["q"][:, None])[..., None]
            else:
                y = top_k_singular_values(A, self.k)
        return s * y

    def sample(self, num_prompts: int, length: int, generator: torch.Generator,
               decimals: int | None = None) -> FunctionPrompts:
        """P prompts of L examples each. With ``decimals`` the inputs are rounded first and the targets
        computed from the rounded inputs (what an LLM is shown is then exactly what is scored)."""
        if num_prompts < 1 or length < 1:
            raise ValueError(f"num_prompts/length: expected >= 1, got {num_prompts}, {length}")
        params = self.sample_params(num_prompts, generator)
        u = torch.rand(num_prompts, length, self.d_in, generator=generator, dtype=torch.float64)
        X = self.scale * (2.0 * u - 1.0)
        if decimals is not None:
            X = torch.round(X, decimals=decimals)
        return FunctionPrompts(task=self, X=X, Y=self.evaluate(X, params), params=params)


@dataclass(frozen=True)
class FunctionPrompts:
    """P prompts: X (P, L, d), Y (P, L, k) float64; for context size c the demonstrations are
    ``[:, :c]`` and the query is example ``c``."""

    task: MatrixFunctionTask
    X: Tensor
    Y: Tensor
    params: dict[str, Tensor] = field(default_factory=dict)

    @property
    def num_prompts(self) -> int:
        return self.X.shape[0]

    @property
    def length(self) -> int:
        return self.X.shape[1]

    def split(self, c: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(X_ctx (P,c,d), Y_ctx (P,c,k), x_query (P,d), y_query (P,k)) for context size c."""
        if isinstance(c, bool) or not isinstance(c, int) or not (1 <= c < self.length):
            raise ValueError(f"c: expected 1 <= c < {self.length} (prompt length), got {c!r}")
        return self.X[:, :c], self.Y[:, :c], self.X[:, c], self.Y[:, c]


@lru_cache(maxsize=64)
def _stats(task: MatrixFunctionTask, draws: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch_generator(seed, "goulart24-target-stats", task.name, task.scale)
    ys = []
    chunk = 20_000
    for start in range(0, draws, chunk):
        ys.append(task.sample(min(chunk, draws - start), 1, g).Y[:, 0])
    y = torch.cat(ys)
    return y.mean(0), y.var(0)


def target_stats(task: MatrixFunctionTask, draws: int = 100_000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and variance (k,) of f(x) under the task distribution (parameters included), from ``draws``
    fixed-seed Monte-Carlo draws (fact sheet: Var_task from ≥ 1e5 draws, never from the prompt)."""
    return _stats(task, int(draws), int(seed))
