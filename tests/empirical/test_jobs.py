"""``icl-verify run --jobs``: papers in parallel processes give the JSON a one-process run gives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from empirical import cli
from empirical.jobs import Group, plan, resolve_jobs, run_groups
from empirical.results_diff import IGNORED_KEYS, diff_folders

CHEAP = ["fu23.newton_recursion", "he25.covariance_layer", "he25.relu_pair_linear_attention"]


def _claims(*ids: str):
    return [SimpleNamespace(id=i, paper=i.split(".")[0]) for i in ids]


def test_plan_groups_by_paper_longest_first_unknown_cost_first():
    claims = _claims("a.1", "a.2", "b.1", "c.1", "d.1")
    groups = plan(claims, {"a.1": 5.0, "a.2": 1.0, "b.1": 100.0, "c.1": 2.0})
    assert [g.paper for g in groups] == ["d", "b", "a", "c"]  # d: no estimate, may be the longest
    assert groups[2] == Group("a", ("a.1", "a.2"), 6.0) and groups[0].estimate_s is None


@pytest.mark.parametrize(("spec", "groups", "threads", "cpus", "expected"), [
    ("auto", 5, None, 2, (2, 1)),
    ("auto", 5, None, 16, (5, 3)),
    ("auto", 1, None, 16, (1, 16)),
    (4, 2, None, 8, (2, 4)),  # never more processes than papers
    (2, 5, 3, 2, (2, 3)),  # --threads given wins
])
def test_resolve_jobs(spec, groups, threads, cpus, expected):
    assert resolve_jobs(spec, groups, threads, cpus) == expected


def test_parallel_run_writes_what_one_process_writes(tmp_path, capsys):
    """Two processes x 1 thread against one process with --threads 1: the same claim JSON apart from times."""
    assert cli.main(["run", *CHEAP, "--out", str(tmp_path / "one"), "--threads", "1", "--quiet"]) == 0
    assert cli.main(["run", *CHEAP, "--out", str(tmp_path / "two"), "--jobs", "2", "--threads", "1"]) == 0
    # the parallel processes also carry the BLAS thread variables (env): the numbers do not depend on them here
    assert diff_folders(tmp_path / "one", tmp_path / "two", IGNORED_KEYS | {"env"}) == {}
    out, err = capsys.readouterr()
    assert "in 2 processes x 1 threads" in err and all(i in out for i in CHEAP)
    assert (tmp_path / "two" / "summary.md").read_text().count("verified") >= len(CHEAP)


def test_a_process_that_writes_nothing_is_an_error_naming_its_status(tmp_path):
    groups = [Group("fu23", ("fu23.newton_recursion",), None)]
    results = run_groups(groups, jobs=1, threads=1, common=["--profile", "huge", "--out", str(tmp_path)],
                         out_dir=tmp_path, say=lambda s: None)
    r = results["fu23.newton_recursion"]
    assert r["verdict"] == "error" and "exited with status 2" in r["error"], r


@pytest.mark.parametrize(("given", "expected"), [(None, "AUTO,STRICT"), ("COMPATIBLE", "COMPATIBLE")])
def test_the_package_asks_mkl_for_reproducible_results(given, expected):
    """Importing the suite sets MKL_CBWR (alignment-independent MKL results) unless the user chose a mode: without
    it fu23.ill_conditioned's float64 similarities took one of two last bits on alternate runs of one commit."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | ({"MKL_CBWR": given} if given else {})
    out = subprocess.run([sys.executable, "-c", "import os, empirical; print(os.environ['MKL_CBWR'])"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
