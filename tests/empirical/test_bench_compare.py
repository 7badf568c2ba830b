"""The ratio-based benchmark regression check (empirical.bench_compare) on hand-made benchmark JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from empirical.bench_compare import (
    DEFAULT_BASELINE,
    SCHEMA,
    compare,
    main,
    target_status,
    targets,
    trim,
)

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str, min_s: float, ratio: float | None, group: str = "g", **info) -> dict:
    extra = dict(info)
    if ratio is not None:
        extra.update(ratio_min=ratio, ratio_median=ratio * 1.1, reference_min_s=min_s / ratio)
    return {
        "fullname": name,
        "group": group,
        "stats": {"min": min_s, "median": min_s * 1.2},
        "extra_info": extra,
    }


def _json(*benches) -> dict:
    return {
        "benchmarks": list(benches),
        "machine_info": {"node": "x", "cpu": {"brand_raw": "cpu"}},
        "datetime": "t",
    }


def test_trim_keeps_ratios_and_numerics():
    rec = trim(_json(_bench("a", 2.0, 4.0, numerics={"k": [1, 2]}, impl="bare")))
    assert rec["schema"] == SCHEMA
    a = rec["benchmarks"]["a"]
    assert a["ratio_min"] == 4.0 and a["min_s"] == 2.0 and a["numerics"] == {"k": [1, 2]}
    assert a["info"] == {"impl": "bare"}  # reference timings and ratios are not duplicated into info


def test_compare_flags_ratio_regression_beyond_threshold_only():
    base = trim(_json(_bench("a", 1.0, 10.0), _bench("b", 1.0, 10.0), _bench("c", 1.0, 10.0)))
    # a: +40 % (inside 50 %), b: +60 % (regression), c: machine 3x slower but ratio unchanged
    cur = trim(_json(_bench("a", 1.4, 14.0), _bench("b", 1.6, 16.0), _bench("c", 3.0, 10.0)))
    found = {f.name: f.kind for f in compare(cur, base, threshold=0.5)}
    assert found == {"b": "regression"}
    assert [f.name for f in compare(cur, base, threshold=0.7) if f.fails] == []


def test_compare_numerics_exact_up_to_one_step():
    base = trim(_json(_bench("r", 1.0, None, numerics={"steps": {"gd": [279, 455]}})))
    ok = trim(_json(_bench("r", 5.0, None, numerics={"steps": {"gd": [280, 455]}})))
    bad = trim(_json(_bench("r", 1.0, None, numerics={"steps": {"gd": [279, 457]}})))
    assert not [f for f in compare(ok, base) if f.fails]
    assert [f.kind for f in compare(bad, base)] == ["numerics"]


def test_compare_reports_missing_and_new_without_failing():
    base = trim(_json(_bench("old", 1.0, 2.0)))
    cur = trim(_json(_bench("new", 1.0, 2.0)))
    found = compare(cur, base)
    assert sorted(f.kind for f in found) == ["missing", "new"] and not any(f.fails for f in found)


def test_targets_pairs_by_group():
    cur = trim(
        _json(
            _bench("c", 3.0, 1.0, group="fw", impl="constructed"),
            _bench("b", 1.0, 1.0, group="fw", impl="bare"),
            _bench("s", 2.0, 1.0, group="loop", impl="suite"),
            _bench("g", 4.0, 1.0, group="loop", impl="garg_style"),
        )
    )
    rows = {r["what"]: r["ratio"] for r in targets(cur)}
    assert rows == {"constructed/bare": 3.0, "suite/garg_style": 0.5}


def test_targets_per_construction_from_the_table():
    # he25 is held to 10x (issue #17 §1), ahn23 and fu23 to 2x, the LSA loop to 1x its plain loop (issue #17 §2)
    pair = lambda g, paper, con, bare: (  # noqa: E731
        _bench(f"{g}c", con, 1.0, group=g, impl="constructed", construction=f"{paper}.x"),
        _bench(f"{g}b", bare, 1.0, group=g, impl="bare", construction=f"{paper}.x"),
    )
    loop = (_bench("s", 3.0, 1.0, group="lsa", impl="suite"), _bench("p", 2.0, 1.0, group="lsa", impl="plain"))
    cur = trim(_json(*pair("he", "he25", 6.0, 1.0), *pair("ahn", "ahn23", 6.0, 1.0), *pair("fu", "fu23", 1.5, 1.0),
                     *loop))
    rows = {r["group"]: (r["what"], r["ratio"], r["target"]) for r in targets(cur)}
    assert rows == {"he": ("constructed/bare", 6.0, 10.0), "ahn": ("constructed/bare", 6.0, 2.0),
                    "fu": ("constructed/bare", 1.5, 2.0), "lsa": ("suite/plain", 1.5, 1.0)}
    assert all(r["source"] for r in targets(cur))


def _head_to_head(name: str, family: str, ratio: float, low: float, high: float, versus: str = "plain") -> dict:
    return _bench(name, 1.0, 1.0, group=f"h2h {family}", impl="suite", versus=versus, family=family,
                  ratio_paired=ratio, ratio_paired_ci95_low=low, ratio_paired_ci95_high=high)


def test_head_to_head_gives_the_ratio_with_its_interval_and_replaces_the_separate_pair():
    separate = (_bench("s", 3.0, 1.0, group="lsa", impl="suite", family="lsa"),
                _bench("p", 2.0, 1.0, group="lsa", impl="plain", family="lsa"))
    cur = trim(_json(*separate, _head_to_head("h", "lsa", 0.99, 0.97, 1.01)))
    rows = targets(cur)
    assert [(r["what"], r["ratio"], r["interval"]) for r in rows] == [("suite/plain", 0.99, (0.97, 1.01))]
    # without a head-to-head of that family the separate pair is read as before, with no interval
    other = trim(_json(*separate, _head_to_head("h", "gpt2", 0.9, 0.8, 0.95, versus="garg_style")))
    assert {(r["what"], r["interval"] is None) for r in targets(other)} == {("suite/plain", True),
                                                                             ("suite/garg_style", False)}


@pytest.mark.parametrize(("ratio", "interval", "status"), [
    (0.95, (0.93, 0.98), "met"), (1.05, (1.02, 1.08), "missed"), (0.99, (0.97, 1.01), "at the bound"),
    (1.01, (0.99, 1.03), "at the bound"), (0.9, None, "met"), (1.1, None, "missed"),
])
def test_target_status_reads_the_interval(ratio, interval, status):
    assert target_status({"ratio": ratio, "target": 1.0, "interval": interval}) == status


def test_cli_check_and_update(tmp_path, capsys):
    cur, base = tmp_path / "cur.json", tmp_path / "base.json"
    cur.write_text(json.dumps(_json(_bench("a", 1.0, 10.0))))
    assert main(["update", str(cur), "--baseline", str(base)]) == 0
    assert main(["check", str(cur), "--baseline", str(base)]) == 0
    cur.write_text(json.dumps(_json(_bench("a", 1.0, 25.0))))  # +150 %: beyond the default 100 %
    assert main(["check", str(cur), "--baseline", str(base), "--no-confirm"]) == 1
    assert "regression" in capsys.readouterr().out
    # with confirmation, a benchmark the rerun cannot time ("a" is no pytest node) stays a regression
    assert main(["check", str(cur), "--baseline", str(base)]) == 1


def _paired(name: str, ratio: float) -> dict:
    return {"group": "g", "ratio_paired": ratio, "ratio_min": ratio, "min_s": 1.0, "median_s": 1.0,
            "numerics": {}, "info": {}}


def test_paired_ratio_is_compared_when_both_sides_have_it():
    base = {"schema": SCHEMA, "threshold": 1.0, "benchmarks": {"a": _paired("a", 10.0)}}
    cur = {"benchmarks": {"a": {**_paired("a", 15.0), "ratio_min": 99.0}}}  # min hit by load, paired not
    assert [f.kind for f in compare(cur, base)] == []
    old_base = {**base, "benchmarks": {"a": {**_paired("a", 10.0), "ratio_paired": None}}}
    assert [f.kind for f in compare(cur, old_base)] == ["regression"]  # an old baseline: ratio_min vs ratio_min


def test_confirmation_clears_load_and_keeps_real_regressions():
    from empirical.bench_compare import confirm

    base = {"schema": SCHEMA, "threshold": 1.0, "benchmarks": {"a": _paired("a", 10.0), "b": _paired("b", 10.0)}}
    cur = {"benchmarks": {"a": _paired("a", 30.0), "b": _paired("b", 30.0)}}
    findings = compare(cur, base)
    assert sorted(f.name for f in findings if f.fails) == ["a", "b"]
    rerun = lambda names: {"benchmarks": {"a": _paired("a", 11.0), "b": _paired("b", 31.0)}}  # a was load
    after = {f.name: f for f in confirm(findings, rerun, 1.0, base)}
    assert after["a"].kind == "unconfirmed" and not after["a"].fails
    assert after["b"].kind == "regression" and after["b"].fails


def test_committed_baseline_is_valid():
    data = json.loads((ROOT / DEFAULT_BASELINE).read_text())
    assert data["schema"] == SCHEMA and data["benchmarks"]
    timed = [b for b in data["benchmarks"].values() if b["group"] != "rates"]
    assert timed and all(b["ratio_min"] > 0 for b in timed)
    assert all(b["numerics"] for b in data["benchmarks"].values() if b["group"] == "rates")


def test_compare_error(tmp_path):
    rec = trim(_json(_bench("a", 1.0, 1.0)))
    with pytest.raises(ValueError, match="baseline"):
        compare(rec, {"schema": "other", "benchmarks": {}})
    with pytest.raises(ValueError, match="threshold"):
        compare(rec, rec, threshold=-0.1)
    cur = tmp_path / "cur.json"
    cur.write_text(json.dumps(_json(_bench("a", 1.0, 1.0))))
    assert main(["check", str(cur), "--baseline", str(tmp_path / "absent.json")]) == 2
    assert main(["check", str(tmp_path / "absent.json")]) == 2


def test_trim_leaves_out_records_with_nothing_to_compare():
    """A benchmark without a ratio or numerics (the harness's self-tests) is not written into a baseline."""
    rec = trim(_json(_bench("timed", 1.0, 2.0), _bench("selftest", 1.0, None), _bench("rates", 1.0, None,
                                                                                       numerics={"steps": [3]})))
    assert set(rec["benchmarks"]) == {"timed", "rates"}


@pytest.mark.parametrize("n", [7, 21, 41])
def test_median_interval_covers_the_true_median_at_its_level(n):
    """Skewed noise as load gives (a lognormal: only ever slower); the interval must hold the true median in at
    least 95 % of 4000 draws, up to 3 binomial standard errors (0.0103)."""
    import numpy as np

    from empirical.bench_timing import median_interval

    rng = np.random.default_rng(0)
    draws = rng.lognormal(0.0, 0.5, size=(4000, n))  # true median exp(0) = 1
    covered = np.mean([lo <= 1.0 <= hi for lo, hi in (median_interval(list(row)) for row in draws)])
    assert covered >= 0.95 - 3 * (0.95 * 0.05 / 4000) ** 0.5
    lo, hi = median_interval([3.0, 1.0, 2.0] * 7)  # 21 values: the 6th and 16th of the sorted ones
    assert (lo, hi) == (1.0, 3.0)


def test_median_interval_bad_input():
    from empirical.bench_timing import median_interval

    with pytest.raises(ValueError, match="^values"):
        median_interval([])
    with pytest.raises(ValueError, match="^level"):
        median_interval([1.0], level=1.0)
