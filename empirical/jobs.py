"""``icl-verify run --jobs N``: claims in parallel processes, one paper per process at a time.

A paper's claims stay in one process because they share what a process caches (goulart24's benchmark, the trained
models a paper's claims load). Papers are started longest first, by the wall times of an earlier run (the out
folder's own results, else the committed ``docs/snapshot``), so the longest paper never starts last. Each process
runs the same ``icl-verify run`` on its paper's claims with ``--threads T`` and the BLAS thread variables set to T
(T = CPUs // jobs unless ``--threads`` is given): the JSON of a claim is what a one-process run with T threads
writes, and at T = 1 it is bit for bit the committed snapshot's (which was run with one thread).

The parent reads back each claim's JSON, written after it started, for the verdict table and the exit code; a
claim without one (its process died) is reported as an error naming the process's exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from empirical.artifacts import load_results

__all__ = ["Group", "plan", "resolve_jobs", "run_groups", "cost_estimates", "BLAS_THREAD_VARS"]

#: thread variables the BLAS libraries read at import: set to T in each process unless the user set them
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SNAPSHOT = Path(__file__).resolve().parents[1] / "docs" / "snapshot"


@dataclass(frozen=True)
class Group:
    """The claims one process runs: one paper's, in registry order, and their estimated wall time (s)."""

    paper: str
    ids: tuple[str, ...]
    estimate_s: float | None


def resolve_jobs(spec: str | int, groups: int, threads: int | None, cpus: int | None = None) -> tuple[int, int]:
    """(processes, threads per process) for ``--jobs spec`` over ``groups`` papers on ``cpus`` CPUs.

    ``auto``: one process per CPU, at most one per paper. Threads: ``threads`` when given, else CPUs // jobs.
    """
    cpus = cpus or os.cpu_count() or 1
    jobs = min(cpus, groups) if spec == "auto" else int(spec)
    jobs = max(1, min(jobs, groups))
    return jobs, threads if threads is not None else max(1, cpus // jobs)


def cost_estimates(*folders: Path) -> dict[str, float]:
    """claim id -> wall time (s) from the first folder that holds a result for it."""
    found: dict[str, float] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for cid, r in load_results(folder).items():
            if isinstance(r.get("wall_time_s"), int | float):
                found.setdefault(cid, float(r["wall_time_s"]))
    return found


def plan(claims: Sequence[Any], estimates: Mapping[str, float]) -> list[Group]:
    """One group per paper, longest estimated first; a paper with a claim of unknown cost goes first of all
    (it may be the longest), in registry order among themselves."""
    papers: dict[str, list[str]] = {}
    for c in claims:
        papers.setdefault(c.paper, []).append(c.id)
    groups = []
    for paper, ids in papers.items():
        known = [estimates.get(i) for i in ids]
        groups.append(Group(paper, tuple(ids), None if None in known else sum(known)))  # type: ignore[arg-type]
    order = {g.paper: k for k, g in enumerate(groups)}
    return sorted(groups, key=lambda g: (g.estimate_s is not None, -(g.estimate_s or 0.0), order[g.paper]))


def _command(group: Group, common: Sequence[str], threads: int,
             overrides: Mapping[str, Mapping[str, Any]]) -> list[str]:
    sets = [f"--set={cid}:{name}={json.dumps(value)}" for cid in group.ids for name, value in
            overrides.get(cid, {}).items()]
    return [sys.executable, "-m", "empirical.cli", "run", *group.ids, *common, "--threads", str(threads),
            "--no-fail", "--quiet", *sets]


def _environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in BLAS_THREAD_VARS:
        env.setdefault(var, str(threads))
    return env


def run_groups(groups: Sequence[Group], *, jobs: int, threads: int, common: Sequence[str], out_dir: Path,
               overrides: Mapping[str, Mapping[str, Any]] | None = None,
               say: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
               poll_s: float = 0.2) -> dict[str, dict[str, Any]]:
    """Run each group in its own ``icl-verify run`` process, at most ``jobs`` at once; claim id -> result.

    ``common``: the arguments every process gets (profile, device, seed, out, retrain). The processes print their
    ``[verdict] id (time)`` lines as they finish; the results are read back from ``out_dir``.
    """
    started = datetime.now(UTC).isoformat()
    queue = list(groups)
    running: list[tuple[Group, subprocess.Popen]] = []
    codes: dict[str, int] = {}
    say(f"running {len(groups)} papers in {jobs} processes x {threads} threads: "
        + ", ".join(f"{g.paper} (~{g.estimate_s:.0f} s)" if g.estimate_s is not None else g.paper for g in groups))
    try:
        while queue or running:
            while queue and len(running) < jobs:
                g = queue.pop(0)
                running.append((g, subprocess.Popen(_command(g, common, threads, overrides or {}),
                                                    env=_environment(threads), stdout=subprocess.DEVNULL)))
            for g, proc in list(running):
                if proc.poll() is not None:
                    codes[g.paper] = proc.returncode
                    running.remove((g, proc))
            time.sleep(poll_s)
    finally:  # an interrupt stops every process it started
        for _, proc in running:
            proc.terminate()
        for _, proc in running:
            proc.wait()
    stored = load_results(out_dir)
    results: dict[str, dict[str, Any]] = {}
    for g in groups:
        for cid in g.ids:
            r = stored.get(cid)
            if r is not None and str(r.get("finished_at", "")) >= started:
                results[cid] = r
            else:
                results[cid] = {"id": cid, "paper": g.paper, "verdict": "error", "wall_time_s": 0.0, "checks": [],
                                "error": f"the process running {g.paper} exited with status {codes.get(g.paper)} "
                                         f"before writing a result for {cid}"}
    return results
