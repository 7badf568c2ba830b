"""The regression check as an instrument: a real 3× slowdown is caught; load on both cores is not a regression.

Timing tests: they run under ``nox -s bench`` (``--benchmark-only``) and are skipped in the default test run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from empirical.bench_compare import DEFAULT_THRESHOLD, SCHEMA, compare
from empirical.bench_timing import paired_ratios, paired_summary

from .conftest import full_timing, mm_reference


@pytest.fixture(autouse=True)
def _only_when_timing(request):
    if not full_timing(request.config):
        pytest.skip("timing test: runs under --benchmark-only (nox -s bench)")


def _workload():
    """A small training-like step: overhead-bound, like most benchmarks here."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 64, generator=g, requires_grad=True)
    x = torch.randn(256, 64, generator=g)
    return lambda: ((x @ w).relu().sum()).backward()


def _record(ratio: float) -> dict:
    return {"group": "g", "ratio_paired": ratio, "ratio_min": ratio, "min_s": 0.0, "median_s": 0.0, "numerics": {},
            "info": {}}


def _measure(fn) -> float:
    return paired_summary(paired_ratios(fn, mm_reference(2048, 64), rounds=9))["ratio_paired"]


def test_planted_3x_slowdown_is_flagged(benchmark):
    fn = _workload()
    benchmark.group = "regression check"
    benchmark.pedantic(fn, rounds=1, iterations=1)  # --benchmark-only runs only tests that use the fixture
    base = {"schema": SCHEMA, "threshold": DEFAULT_THRESHOLD, "benchmarks": {"w": _record(_measure(fn))}}
    slow = lambda: (fn(), fn(), fn())
    found = compare({"benchmarks": {"w": _record(_measure(slow))}}, base)
    benchmark.extra_info.update(base_ratio=base["benchmarks"]["w"]["ratio_paired"])
    assert [f.kind for f in found] == ["regression"], found


def test_load_on_both_cores_is_no_regression(benchmark):
    fn = _workload()
    benchmark.group = "regression check"
    benchmark.pedantic(fn, rounds=1, iterations=1)
    base = {"schema": SCHEMA, "threshold": DEFAULT_THRESHOLD, "benchmarks": {"w": _record(_measure(fn))}}
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = _measure(fn)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    found = compare({"benchmarks": {"w": _record(loaded)}}, base)
    benchmark.extra_info.update(base_ratio=base["benchmarks"]["w"]["ratio_paired"], loaded_ratio=loaded)
    assert [f.kind for f in found if f.fails] == [], found
