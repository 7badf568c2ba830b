"""Comparing two methods over seeds: the paired interval behind ryu24's ordering claims.

Two methods run on the same seeds (same initialisation stream, batches, optimiser and steps) give errors
``a_s``, ``b_s`` (s = 1..n). Errors of trained eigensolvers spread over orders of magnitude and combine
multiplicatively, so the effect is the mean log-ratio

    D̄ = (1/n) Σ_s d_s,   d_s = log10(a_s / b_s)                                   (1)

(D̄ = −0.3: a's error is half of b's), and its two-sided Student-t interval at level 1 − α,

    D̄ ± t_{n−1, 1−α/2} · sd(d) / √n,                                              (2)

which pairs the seeds (seed-to-seed variation common to both methods cancels in d_s). With n = 5 a
bootstrap of five values covers badly; the t interval assumes the d_s roughly normal, which log-ratios
of errors are closer to than raw differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedEffect", "paired_log_ratio"]


@dataclass(frozen=True)
class PairedEffect:
    """Eq. (1)-(2): per-seed log10 ratios, their mean and t interval; ``method`` names them in words."""

    per_seed: list[float]
    mean: float
    low: float
    high: float
    level: float

    @property
    def interval(self) -> tuple[float, float]:
        return self.low, self.high

    @property
    def method(self) -> str:
        return (f"paired over {len(self.per_seed)} seeds: mean of log10(a_s/b_s) with its two-sided "
                f"{self.level:.0%} Student-t interval (n − 1 = {len(self.per_seed) - 1} degrees of freedom)")

    def as_dict(self) -> dict[str, object]:
        return {"per_seed_log10_ratio": self.per_seed, "mean": self.mean, "interval": [self.low, self.high],
                "level": self.level, "method": self.method}


def paired_log_ratio(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> PairedEffect:
    """Eq. (1)-(2) for errors a (n,), b (n,) on the same n ≥ 2 seeds.

    A non-positive or NaN error makes the interval NaN (a check on it then never passes).

    Raises:
        ValueError: different lengths, fewer than two seeds, or a level outside (0, 1).
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a/b: need two equally long lists of at least 2 seeds, got {len(a)} and {len(b)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (np.all(x > 0) and np.all(y > 0)):
        nan = math.nan
        return PairedEffect([nan] * len(x), nan, nan, nan, level)
    d = np.log10(x) - np.log10(y)
    n = d.size
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    m = float(d.mean())
    return PairedEffect(d.tolist(), m, m - half, m + half, level)
