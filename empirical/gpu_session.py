"""``nox -s gpu -- --budget-s 480``: the full profile on one CUDA device, within a wall-clock budget.

Claims run one at a time, most informative first (:data:`PLAN`: the trained claims whose full-profile path
differs most from the quick one and is cheapest to reach), each as its own ``icl-verify run ID --profile full
--device cuda`` process into ``--out``. Each claim runs in every precision of ``--precisions`` (default float32,
then bf16 mixed precision into ``<out>-bf16``); ``<out>/precision_comparison.md`` sets the mixed-precision numbers
next to float32's (:mod:`empirical.precision_compare`). A claim whose estimate exceeds the budget left is not started; a
claim still running when the budget ends is stopped (its process group killed) and recorded as such. The
measured times and the estimates go to ``<out>/gpu_timing.md`` and ``gpu_timing.json``, next to the claims'
JSON, so the GPU budget page can show measurements instead of estimates.

Without a CUDA device the session stops at once with one line (exit 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from empirical.artifacts import atomic_write_text, table_row, write_json
from empirical.precision import DEFAULT as FLOAT32
from empirical.precision import check_precision, precision_folder

__all__ = ["PLAN", "PlanItem", "Outcome", "plan_run", "timing_table", "main"]


@dataclass(frozen=True)
class PlanItem:
    """A claim and its estimated seconds on one H100 (docs/gpu_budget.md; an estimate until measured)."""

    claim_id: str
    estimate_s: float
    why: str


#: Most informative first: full-profile training paths never measured on a GPU, cheapest first, then the
#: long ones (which a short budget leaves for a dedicated run).
PLAN: tuple[PlanItem, ...] = (
    PlanItem("ahn23.trained_1layer", 120, "paper's Σ and AdamW schedule at batch 20000"),
    PlanItem("ahn23.trained_3layer", 130, "Theorem 4 scalars at paper scale"),
    PlanItem("ryu24.kernel_vs_nystrom", 300, "small MLPs, paper-size kernel"),
    PlanItem("ryu24.oscillator", 300, "2-D oscillator at paper accuracy"),
    PlanItem("he25.pretrained_pca_depth_diminishing", 1100, "depths 2-12 at 100k steps"),
    PlanItem("goulart24.icl_beats_mean_predictor", 900, "meta-trained 4-layer model"),
    PlanItem("he25.pretrained_pca_first_eigenpair", 2200, "d up to 20, k up to 5"),
    PlanItem("fu23.lstm_not_newton", 2900, "LSTM at d = 20, n = 40"),
    PlanItem("fu23.layers_track_newton", 6100, "12-layer GPT-2 at d = 20, n = 40"),
    PlanItem("ryu24.hydrogen", 2500, "one hydrogen run"),
)


@dataclass
class Outcome:
    claim_id: str
    estimate_s: float
    status: str  # "finished (exit N)" | "stopped at budget" | "not started: ..."
    wall_s: float | None
    precision: str = FLOAT32


def _run_one(claim_id: str, out: Path, timeout_s: float, precision: str = FLOAT32) -> tuple[str, float]:
    """One claim in its own process group; killed whole when the budget ends."""
    cmd = [sys.executable, "-m", "empirical.cli", "run", claim_id, "--profile", "full", "--device", "cuda",
           "--out", str(precision_folder(out, precision)), "--precision", precision, "--no-fail", "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout_s)
        return f"finished (exit {code})", time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return "stopped at budget", time.perf_counter() - t0


def plan_run(plan: tuple[PlanItem, ...], budget_s: float, out: Path, run_one=_run_one,
             precisions: tuple[str, ...] = (FLOAT32,)) -> list[Outcome]:
    """Run ``plan`` in order within ``budget_s`` seconds, each claim in each of ``precisions`` in turn
    (``run_one(id, out, timeout, precision) -> (status, wall_s)``). The float32 estimate stands for every
    precision: mixed precision is measured, not assumed, to be faster."""
    start = time.perf_counter()
    results = []
    for item in plan:
        for precision in precisions:
            left = budget_s - (time.perf_counter() - start)
            if item.estimate_s > left:
                results.append(Outcome(item.claim_id, item.estimate_s,
                                       f"not started: estimate {item.estimate_s:.0f} s > {max(left, 0):.0f} s left",
                                       None, precision))
                continue
            status, wall = run_one(item.claim_id, out, left, precision)
            results.append(Outcome(item.claim_id, item.estimate_s, status, wall, precision))
    return results


def timing_table(results: list[Outcome], budget_s: float, device: str) -> str:
    lines = [f"# GPU session: {device}, budget {budget_s:.0f} s", "",
             "| claim | precision | estimate s | measured s | status |", "|---|---|---|---|---|"]
    for r in results:
        wall = "—" if r.wall_s is None else f"{r.wall_s:.1f}"
        lines.append(table_row([f"`{r.claim_id}`", r.precision, f"{r.estimate_s:.0f}", wall, r.status]))
    return "\n".join(lines) + "\n"


def _precisions(text: str) -> tuple[str, ...]:
    """``--precisions float32,bf16`` as a tuple, float32 first (the reference the others are set against)."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    try:
        for n in names:
            check_precision(n, "--precisions")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--precisions: ")) from None
    if FLOAT32 not in names:
        raise argparse.ArgumentTypeError("must include float32, the reference mixed precision is reported against")
    return (FLOAT32, *(n for n in names if n != FLOAT32))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nox -s gpu --", description=__doc__.splitlines()[0])
    ap.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget in seconds (default 480)")
    ap.add_argument("--out", type=Path, default=Path("results/full"))
    ap.add_argument("--precisions", type=_precisions, default=(FLOAT32, "bf16"), metavar="LIST",
                    help="comma-separated training precisions, each claim run in each (default float32,bf16; "
                         "float32 alone halves the time)")
    args = ap.parse_args(argv)
    if not (args.budget_s > 0 and args.budget_s < float("inf")):
        print(f"nox -s gpu: error: --budget-s: expected a positive number of seconds, got {args.budget_s}",
              file=sys.stderr)
        return 2
    import torch

    if not torch.cuda.is_available():
        print("nox -s gpu: error: --device: no CUDA device here (torch.cuda.is_available() is False); "
              "this session runs the full profile on a GPU", file=sys.stderr)
        return 1
    device = torch.cuda.get_device_name(0)
    args.out.mkdir(parents=True, exist_ok=True)
    results = plan_run(PLAN, args.budget_s, args.out, precisions=args.precisions)
    table = timing_table(results, args.budget_s, device)
    atomic_write_text(args.out / "gpu_timing.md", table)
    write_json(args.out / "gpu_timing.json", {"device": device, "budget_s": args.budget_s,
                                              "torch": torch.__version__, "results": [asdict(r) for r in results]})
    print(table)
    _compare_precisions(args.out, args.precisions[1:])
    return 0


def _compare_precisions(out: Path, mixed: tuple[str, ...]) -> None:
    """``<out>/precision_comparison.md``: each mixed precision's numbers next to float32's, where both ran."""
    from empirical.precision_compare import comparison_markdown

    parts = []
    for p in mixed:
        try:
            parts.append(comparison_markdown(out, precision_folder(out, p)))
        except ValueError:  # a folder with no results: its claims never started within the budget
            continue
    if parts:
        atomic_write_text(out / "precision_comparison.md", "\n".join(parts))
        print(f"mixed precision next to float32: {out / 'precision_comparison.md'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
