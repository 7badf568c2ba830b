"""Paired timing: a workload's time as a ratio to a reference operation timed right next to it.

Load on a shared machine comes and goes within seconds. A reference timed once before a benchmark and once
after it sees different load than the benchmark's own rounds, so the ratio moves with the load (one ratio
went from 46 to 5896 between two runs with no code change). Here each round times the reference and the
workload back to back, alternating which goes first, and the ratio is taken *per round*; the median over
rounds then discards the rounds in which a burst hit only one of the two.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["calls_per_timing", "time_calls", "paired_ratios", "paired_summary", "median_interval"]


def calls_per_timing(fn: Callable[[], Any], min_s: float) -> int:
    """How many calls of ``fn`` make one timing last at least ``min_s`` (timer resolution stops mattering)."""
    if not min_s > 0:
        raise ValueError(f"min_s: expected a positive duration, got {min_s}")
    n = 1
    while True:
        if time_calls(fn, n) * n >= min_s or n >= 1 << 20:
            return n
        n *= 2


def time_calls(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over ``number`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def paired_ratios(fn: Callable[[], Any], reference: Callable[[], Any], rounds: int = 7,
                  min_s: float = 0.005) -> list[float]:
    """Per round: (seconds per call of ``fn``) / (seconds per call of ``reference``), timed back to back.

    The order alternates between rounds, so a load that rises or falls steadily biases neither side.
    """
    if rounds < 1:
        raise ValueError(f"rounds: expected at least 1, got {rounds}")
    n_fn, n_ref = calls_per_timing(fn, min_s), calls_per_timing(reference, min_s)
    ratios = []
    for r in range(rounds):
        if r % 2:
            t_fn = time_calls(fn, n_fn)
            t_ref = time_calls(reference, n_ref)
        else:
            t_ref = time_calls(reference, n_ref)
            t_fn = time_calls(fn, n_fn)
        ratios.append(t_fn / t_ref)
    return ratios


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the median: order statistics (x_(k), x_(n+1-k)) with the
    largest k whose binomial coverage 1 − 2·P(Bin(n, ½) ≤ k − 1) is at least ``level``. Needs no assumption on
    the shape of the timing noise (which is skewed: load only ever slows a round down). With too few values for
    ``level`` (n = 5 covers at most 94 %) the interval is (min, max)."""
    if not values:
        raise ValueError("values: need at least one")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a probability in (0, 1), got {level}")
    x, n = sorted(values), len(values)
    k, tail = 1, 0.0  # tail = P(Bin(n, 1/2) <= k - 1)
    while k < (n + 1) // 2:
        nxt = tail + math.comb(n, k) / 2**n
        if 1 - 2 * nxt < level:
            break
        k, tail = k + 1, nxt
    return x[k - 1], x[n - k]


def paired_summary(ratios: list[float]) -> dict[str, float]:
    """Median (the compared statistic), the quartiles and a 95 % interval of the median of the per-round
    ratios (:func:`median_interval`)."""
    if not ratios:
        raise ValueError("ratios: need at least one round")
    q = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else [ratios[0]] * 3
    low, high = median_interval(ratios)
    return {"ratio_paired": statistics.median(ratios), "ratio_paired_q1": q[0], "ratio_paired_q3": q[2],
            "ratio_paired_ci95_low": low, "ratio_paired_ci95_high": high, "paired_rounds": float(len(ratios))}
