"""Run claims: time them, derive verdicts, write ``<out>/<id>.json`` and ``<out>/summary.md``."""

from __future__ import annotations

import sys
import time
import traceback
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
from empirical.claims.core import Claim, RunContext, SkipClaim, verdict_of

__all__ = ["run_claim", "run_claims"]


def _peak_rss_mb() -> float | None:
    """The process's peak resident memory so far in MiB (Linux reports KiB, macOS bytes); None elsewhere."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_claim(claim: Claim, *, profile: str, device: torch.device, seed: int, out_dir: Path,
              progress: bool = True, retrain: bool = False) -> dict[str, Any]:
    """Run one claim and write its JSON atomically; returns the JSON payload."""
    ctx = RunContext(profile=profile, device=device, seed=seed, out_dir=out_dir, claim_id=claim.id,
                     progress=progress, retrain=retrain)  # type: ignore[arg-type]
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
        "seed": seed,
    }
    try:
        outcome = claim.runner(ctx)
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
    payload["peak_rss_mb"] = _peak_rss_mb()
    payload["versions"] = package_versions()
    payload["git_sha"] = git_sha()
    # the recorded end time decides which of two files with the same claim id the summary uses (a copied
    # backup keeps its old time; a file's mtime changes when it is copied)
    payload["finished_at"] = datetime.now(UTC).isoformat()
    write_json(out_dir / f"{claim.id}.json", payload)
    return payload


def run_claims(claims: list[Claim], *, profile: str, device: torch.device, seed: int, out_dir: Path,
               progress: bool = True, retrain: bool = False, on_result=None) -> dict[str, dict[str, Any]]:
    """Run claims in order; ``summary.md`` covers every claim JSON in ``out_dir`` (earlier runs included).

    Of two files with the same claim id the newest run counts; unreadable files are listed in it as skipped.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for claim in claims:
        r = run_claim(claim, profile=profile, device=device, seed=seed, out_dir=out_dir, progress=progress,
                      retrain=retrain)
        results[claim.id] = r
        if on_result is not None:
            on_result(r)
    atomic_write_text(out_dir / "summary.md", folder_summary(out_dir))
    return results
