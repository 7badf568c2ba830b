"""Benchmark helpers: every timing is also recorded as a RATIO to a reference operation timed in the same run.

Absolute seconds depend on the machine; the ratio of a workload's time to a plain matmul of the same size,
measured moments apart on the same machine, mostly does not. ``nox -s bench`` compares these ratios with
the committed baseline (``tests/benchmarks/baselines/baseline.json``) via ``python -m
empirical.bench_compare``. Under ``--benchmark-disable`` (the default ``nox -s tests`` run) each benchmark
body runs once as a smoke test and no reference is timed. Full timing needs ``--benchmark-only`` (what
``nox -s bench`` passes); a plain ``pytest`` run without either flag times each body once (one round), so
the benchmarks never cost minutes in a developer's ordinary test run.

Every test in this folder is marked ``benchmark``.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from empirical.bench_timing import paired_ratios, paired_summary

#: Each reference repeat lasts at least this long (seconds) so timer resolution does not matter.
_MIN_REPEAT_S = 0.005
_REPEATS = 15
#: Rounds of paired timing per benchmark: the median of 7 per-round ratios ignores up to 3 rounds hit by a
#: burst of load on one side only.
PAIRED_ROUNDS = 7


#: torch CPU threads while benchmarks run. A ratio to the reference matmul depends on the thread count (the matmul
#: parallelises, a chain of small ops does not): a baseline taken with one thread read as 2-4x "regressions" when
#: compared with a run of two. One thread also keeps a benchmark from competing with itself on a loaded machine.
BENCH_THREADS = 1


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(BENCH_THREADS)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.benchmark)


def time_reference(fn: Callable[[], Any]) -> dict[str, float]:
    """Per-call min and median seconds of ``fn`` over ``_REPEATS`` repeats of a calibrated loop."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # smallest 1, 2, 5, 10, ... with total >= 0.2 s
    number = max(1, int(number * _MIN_REPEAT_S / 0.2) or 1)
    per = [t / number for t in timer.repeat(repeat=_REPEATS, number=number)]
    return {"min": min(per), "median": statistics.median(per)}


def bmm_reference(B: int, D: int, T: int, dtype: torch.dtype = torch.float64) -> Callable[[], Any]:
    """A plain batched matmul (B, D, T) @ (B, T, D): the reference operation for forward passes."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(B, D, T, generator=g, dtype=dtype)
    b = torch.randn(B, T, D, generator=g, dtype=dtype)
    return lambda: torch.bmm(a, b)


def mm_reference(rows: int, width: int, dtype: torch.dtype = torch.float32) -> Callable[[], Any]:
    """A plain matmul (rows, width) @ (width, width): the reference operation for training steps."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(rows, width, generator=g, dtype=dtype)
    b = torch.randn(width, width, generator=g, dtype=dtype)
    return lambda: a @ b


def full_timing(config: pytest.Config) -> bool:
    """True only under ``--benchmark-only``: calibrated rounds, references, the whole rates table."""
    return bool(config.getoption("benchmark_only"))


@pytest.fixture
def timed(benchmark, request):
    """``timed(fn, reference=..., group=..., rounds=PAIRED_ROUNDS, min_s=..., **info)``: benchmark ``fn``, record
    its ratio to ``reference``.

    ``extra_info`` gets ``ratio_paired`` (the median over rounds of ``fn``'s time over the reference's, the two
    timed back to back in each round: :mod:`empirical.bench_timing`; the statistic compared with the
    baseline), its quartiles, and for information ``reference_min_s``, ``reference_median_s``, ``ratio_min``
    (min time / reference min, the reference timed before and after ``fn``) and ``ratio_median``.
    """

    def run(fn: Callable[[], Any], *, reference: Callable[[], Any], group: str, rounds: int = PAIRED_ROUNDS,
            min_s: float = _MIN_REPEAT_S, **info: Any) -> Any:
        benchmark.group = group
        benchmark.extra_info.update(info, torch_threads=torch.get_num_threads())
        if benchmark.disabled:
            return benchmark(fn)
        if not full_timing(request.config):  # timed once; no ratio recorded
            return benchmark.pedantic(fn, rounds=1, iterations=1)
        before = time_reference(reference)
        out = benchmark(fn)
        after = time_reference(reference)
        ref = {k: min(before[k], after[k]) for k in before}
        st = benchmark.stats.stats
        benchmark.extra_info.update(
            reference_min_s=ref["min"],
            reference_median_s=ref["median"],
            ratio_min=st.min / ref["min"],
            ratio_median=st.median / ref["median"],
            **paired_summary(paired_ratios(fn, reference, rounds=rounds, min_s=min_s)),
        )
        return out

    return run
