"""goulart24 tasks: prompts of (x, f(x)) pairs for the vector p-norm, the nuclear norm and top-k singular values.

Entries are i.i.d. Uniform[−a, a] (the paper's a = 100 by default), float64, all drawn from an explicit
``torch.Generator``. Two regimes (fact sheet §2, "Learners the suite compares"):

* ``fixed`` (R1, paper-faithful): one function for the whole run;
* ``family`` (R2): each prompt draws a parameter the learner has to infer from its examples —
  p ~ U[0.5, 4] for the vector task, Schatten index q ∈ {1, 2, ∞} for the matrix-norm task, and an output
  scale s ~ U[0.5, 2] for every task;
* ``heldout`` (meta-training family that never contains the paper's functions, so that testing on them
  measures in-context learning of an unseen function): log p ~ U over [0.25, 4] minus the band
  [0.4, 0.625] around the paper's p = 0.5; 1/q ~ U over [0, 2] minus [0.8, 1.25] (the nuclear norm, q = 1,
  and its neighbours never occur); for ``topk`` a window (σ_j, …, σ_{j+k−1}) of the spectrum with
  j ~ U{2, …, n − k + 1} (the top window j = 1 never occurs). No output scale (s = 1).

Shapes: P prompts, L = c + 1 examples per prompt (c demonstrations then the query), d = input size
(n for vectors, n² for matrices, row-major), k = output size (1, or k for top-k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor

from empirical.seeding import torch_generator
from theory.matrix_functions import p_norm, schatten_norm, singular_values, top_k_singular_values

__all__ = ["MatrixFunctionTask", "FunctionPrompts", "target_stats", "target_moments", "within_prompt_variance",
           "uniform_outside"]

Kind = Literal["pnorm", "nuclear", "topk"]
Regime = Literal["fixed", "family", "heldout"]

#: Parameter ranges of the family regime (R2), fact sheet §2.
FAMILY_P = (0.5, 4.0)
FAMILY_Q = (1.0, 2.0, float("inf"))
FAMILY_SCALE = (0.5, 2.0)
#: Held-out regime: the range of p and of 1/q, and the band around the paper's function that is never drawn.
HELDOUT_P = (0.25, 4.0)
HELDOUT_P_BAND = (0.4, 0.625)
HELDOUT_QINV = (0.0, 2.0)
HELDOUT_QINV_BAND = (0.8, 1.25)


def uniform_outside(u: Tensor, lo: float, hi: float, band: tuple[float, float]) -> Tensor:
    """Map u ~ U[0, 1) (any shape) to a uniform draw on [lo, hi] minus the open band (b0, b1)."""
    b0, b1 = band
    if not lo <= b0 < b1 <= hi:
        raise ValueError(f"band: expected lo <= b0 < b1 <= hi, got {lo}, {band}, {hi}")
    left = b0 - lo
    t = u * (left + hi - b1)
    return torch.where(t < left, lo + t, b1 + (t - left))


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
        if self.regime not in ("fixed", "family", "heldout"):
            raise ValueError(f"regime: expected fixed|family|heldout, got {self.regime!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {self.n!r}")
        if not (float(self.p) > 0):
            raise ValueError(f"p: expected p > 0, got {self.p}")
        if self.kind == "topk" and not (isinstance(self.k, int) and 1 <= self.k <= self.n):
            raise ValueError(f"k: expected 1 <= k <= n = {self.n} for top-k, got {self.k!r}")
        if self.kind == "topk" and self.regime == "heldout" and self.k >= self.n:
            raise ValueError(f"k: a held-out spectral window needs k < n = {self.n} (j >= 2), got {self.k!r}")
        if not (float(self.scale) > 0):
            raise ValueError(f"scale: expected a > 0, got {self.scale}")

    @property
    def name(self) -> str:
        fixed = self.regime == "fixed"
        base = {"pnorm": f"pnorm_n{self.n}" + (f"_p{self.p:g}" if fixed else ""),
                "nuclear": f"{'nuclear' if fixed else 'schatten'}_{self.n}x{self.n}",
                "topk": f"{'window' if self.regime == 'heldout' else 'top'}{self.k}_{self.n}x{self.n}"}[self.kind]
        return base + ("" if fixed else f"_{self.regime}")

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
        if self.regime == "heldout":
            return self._heldout_params(P, generator)
        lo, hi = FAMILY_SCALE
        u = torch.rand(3, P, generator=generator, dtype=torch.float64)
        s = lo + (hi - lo) * u[0]
        p = FAMILY_P[0] + (FAMILY_P[1] - FAMILY_P[0]) * u[1]
        q = torch.tensor(FAMILY_Q, dtype=torch.float64)[(u[2] * len(FAMILY_Q)).long().clamp_max(len(FAMILY_Q) - 1)]
        return {"p": p, "q": q, "s": s}

    def _heldout_params(self, P: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Held-out regime (module docstring): p, q and the window start j never hit the paper's functions."""
        u = torch.rand(3, P, generator=generator, dtype=torch.float64)
        lo, hi = HELDOUT_P
        b0, b1 = HELDOUT_P_BAND
        log_p = uniform_outside(u[0], math.log(lo), math.log(hi), (math.log(b0), math.log(b1)))
        qinv = uniform_outside(u[1], *HELDOUT_QINV, HELDOUT_QINV_BAND)
        q = torch.where(qinv > 0, 1.0 / qinv.clamp_min(1e-300), torch.full_like(qinv, math.inf))
        out = {"p": log_p.exp(), "q": q, "s": torch.ones(P, dtype=torch.float64)}
        if self.kind == "topk":  # j ∈ {2, …, n − k + 1}: n − k choices
            starts = self.n - self.k
            out["j"] = 2.0 + (u[2] * starts).floor().clamp_max(starts - 1)
        return out

    def evaluate(self, X: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Targets f(x) for inputs X (P, L, d) and per-prompt params (P,) -> (P, L, k)."""
        s = params["s"][:, None, None]
        if self.kind == "pnorm":
            y = p_norm(X, params["p"][:, None])[..., None]
        else:
            A = X.reshape(*X.shape[:-1], self.n, self.n)
            if self.kind == "nuclear":
                y = schatten_norm(A, params["q"][:, None])[..., None]
            elif "j" in params:  # held-out regime: the window σ_j … σ_{j+k−1} of each prompt
                start = params["j"].long()[:, None, None] - 1 + torch.arange(self.k)
                y = singular_values(A).gather(-1, start.expand(*A.shape[:-2], self.k))
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
def _stats(task: MatrixFunctionTask, draws: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch_generator(seed, "goulart24-target-stats", task.name, task.scale)
    ys = []
    chunk = 20_000
    for start in range(0, draws, chunk):
        ys.append(task.sample(min(chunk, draws - start), 1, g).Y[:, 0])
    y = torch.cat(ys)
    mean = y.mean(0)
    e = y - mean
    return mean, y.var(0), e.T @ e / (draws - 1), (e**2).T @ (e**2) / draws


def target_stats(task: MatrixFunctionTask, draws: int = 100_000, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and variance (k,) of f(x) under the task distribution (parameters included), from ``draws``
    fixed-seed Monte-Carlo draws (fact sheet: Var_task from ≥ 1e5 draws, never from the prompt)."""
    return _stats(task, int(draws), int(seed))[:2]


def target_moments(task: MatrixFunctionTask, draws: int = 100_000, seed: int = 0) -> dict[str, Tensor]:
    """The moments behind :func:`target_stats`, from the same draws: ``mean`` (k,), ``var`` (k,),
    ``cov`` (k, k) and ``m22`` (k, k) = E[(y_i − μ_i)² (y_j − μ_j)²], plus ``draws`` (a 0-d tensor).

    They give exact sampling variances of squared-error statistics (the mean predictor's nMSE, the
    normaliser's own Monte-Carlo error) instead of estimates from the sample being tested."""
    mean, var, cov, m22 = _stats(task, int(draws), int(seed))
    return {"mean": mean, "var": var, "cov": cov, "m22": m22, "draws": torch.tensor(float(draws))}


@lru_cache(maxsize=64)
def _within(task: MatrixFunctionTask, prompts: int, length: int, seed: int) -> Tensor:
    g = torch_generator(seed, "goulart24-within-prompt-variance", task.name, task.scale)
    return task.sample(prompts, length, g).Y.var(1).mean(0)


def within_prompt_variance(task: MatrixFunctionTask, prompts: int = 2000, length: int = 32, seed: int = 0) -> Tensor:
    """E_θ[Var(y | θ)] (k,): the variance of the targets inside one prompt, averaged over the prompts'
    parameters (fixed-seed nested Monte Carlo: ``prompts`` parameters, ``length`` inputs each, unbiased
    within-prompt variances). The context mean's expected nMSE is (1 + 1/c) E_θ[Var(y|θ)] / Var(y); in the
    fixed regime θ is constant and this is Var(y) itself (returned from :func:`target_stats`)."""
    if task.regime == "fixed":
        return target_stats(task)[1]
    return _within(task, int(prompts), int(length), int(seed))
