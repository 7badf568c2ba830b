"""Run claims: time them, derive verdicts, write ``<out>/<id>.json`` and ``<out>/summary.md``."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from empirical.artifacts import (
    SCHEMA,
    atomic_write_text,
    folder_summary,
    git_sha,
    package_versions,
    write_json,
)
from empirical.jobs import BLAS_THREAD_VARS
from empirical.precision import DEFAULT as DEFAULT_PRECISION
from empirical.precision import check_precision, training_precision
from empirical.registry.core import Claim, RunContext, SkipClaim, verdict_of

__all__ = ["THREAD_ENV_VARS", "run_claim", "run_claims", "thread_settings"]

#: environment variables that set the thread pools of the BLAS / OpenMP libraries under torch and numpy (those
#: ``--jobs`` sets in its processes first), and MKL's reproducibility mode (set by the package: empirical/__init__.py)
THREAD_ENV_VARS = (*BLAS_THREAD_VARS, "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "MKL_CBWR")


def _peak_rss_mb() -> float | None:
    """The process's peak resident memory so far in MiB (Linux reports KiB, macOS bytes); None elsewhere."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def thread_settings() -> dict[str, Any]:
    """The thread settings a timing depends on: torch's intra- and inter-op pools and the BLAS variables that
    are set (a batched eigh took 20 s with 2 BLAS threads on the loaded 2-core machine against 0.11 s with 1)."""
    return {"torch_num_threads": torch.get_num_threads(), "torch_num_interop_threads": torch.get_num_interop_threads(),
            "env": {k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ}}


def run_claim(claim: Claim, *, profile: str, device: torch.device, seed: int, out_dir: Path,
              progress: bool = True, retrain: bool = False,
              overrides: Mapping[str, Any] | None = None, precision: str = DEFAULT_PRECISION) -> dict[str, Any]:
    """Run one claim and write its JSON atomically; returns the JSON payload.

    ``precision``: what the claim's training runs in (:mod:`empirical.precision`; float32, or bf16 / fp16 mixed
    precision), recorded in the JSON.

    ``overrides``: setting name -> value (:meth:`RunContext.setting`); one the runner never reads makes the
    verdict ``error`` with a one-line message naming it and the settings the claim does read. The JSON records
    every setting read (``settings``) and the thread settings at the start and, where the runner changed them,
    at the end (``threads``).
    """
    check_precision(precision)
    ctx = RunContext(profile=profile, device=device, seed=seed, out_dir=out_dir, claim_id=claim.id,
                     progress=progress, retrain=retrain, overrides=dict(overrides or {}))  # type: ignore[arg-type]
    threads = thread_settings()
    t0 = time.perf_counter()
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "id": claim.id,
        "paper": claim.paper,
        "statement": claim.statement,
        "source": claim.source,
        "evidence": list(claim.evidence),
        "acceptance": claim.acceptance,
        "profile": profile,
        "device": str(device),
        "precision": precision,
        "seed": seed,
    }
    try:
        with training_precision(precision):
            outcome = claim.runner(ctx)
        ctx.check_overrides()  # after the run: settings are read lazily, some only on a later branch
        verdict = verdict_of(outcome.checks, outcome.controls)
        payload.update(
            verdict=verdict,
            checks=[c.as_dict() for c in outcome.checks],
            controls=[c.as_dict() for c in outcome.controls],
            measured=outcome.measured,
            tolerances={c.name: {"op": c.op, "threshold": c.threshold, "reason": c.reason} for c in outcome.checks},
            figures=outcome.figures,
            notes=outcome.notes,
            config=outcome.config,
        )
    except SkipClaim as e:
        payload.update(verdict=f"skipped: {e}", checks=[], controls=[], measured={}, tolerances={}, figures=[],
                       notes=[])
    except Exception as e:  # a bug or a numerical failure: recorded, and the run fails
        payload.update(verdict="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(),
                       checks=[], controls=[], measured={}, tolerances={}, figures=[], notes=[])
    payload["wall_time_s"] = time.perf_counter() - t0
    payload["settings"] = ctx.settings
    after = thread_settings()
    payload["threads"] = threads if after == threads else {**threads, "at_end": after}
    payload["peak_rss_mb"] = _peak_rss_mb()
    payload["versions"] = package_versions()
    payload["git_sha"] = git_sha()
    # the recorded end time decides which of two files with the same claim id the summary uses (a copied
    # backup keeps its old time; a file's mtime changes when it is copied)
    payload["finished_at"] = datetime.now(UTC).isoformat()
    write_json(out_dir / f"{claim.id}.json", payload)
    return payload


def run_claims(claims: list[Claim], *, profile: str, device: torch.device, seed: int, out_dir: Path,
               progress: bool = True, retrain: bool = False, on_result=None,
               overrides: Mapping[str, Mapping[str, Any]] | None = None,
               precision: str = DEFAULT_PRECISION) -> dict[str, dict[str, Any]]:
    """Run claims in order; ``summary.md`` covers every claim JSON in ``out_dir`` (earlier runs included).

    Of two files with the same claim id the newest run counts; unreadable files are listed in it as skipped.
    ``overrides``: claim id -> setting overrides for that claim (:func:`run_claim`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for claim in claims:
        r = run_claim(claim, profile=profile, device=device, seed=seed, out_dir=out_dir, progress=progress,
                      retrain=retrain, overrides=(overrides or {}).get(claim.id), precision=precision)
        results[claim.id] = r
        if on_result is not None:
            on_result(r)
    atomic_write_text(out_dir / "summary.md", folder_summary(out_dir))
    return results
