"""Meta-train goulart24's small transformer into a results folder (safetensors + sidecar with this command).

    python -m empirical.papers.goulart24.llm.train_meta --regime fixed --profile quick --out results/retrain
    python -m empirical.papers.goulart24.llm.train_meta --regime heldout --profile quick --out results/retrain
    python -m empirical.checkpoints promote results/retrain goulart24      # maintainers: refresh the shipped ones

``--sizes '{"steps": 20, "layers": 1}'`` changes sizes of the profile's settings (``suite.meta_sizes``): the command
recorded next to a model trained at other sizes (a shrunk test run) rebuilds that same model. ``wall_time_s`` and
``cpu_time_s`` (process CPU time, all threads) of the training are recorded in the sidecar.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from empirical.papers.goulart24.llm.meta_model import ICLTransformer, init_meta_model, meta_fit
from empirical.papers.goulart24.llm.suite import META_TRAINING, TASKS, meta_sizes, meta_training
from empirical.precision import add_precision_argument, training_precision

__all__ = ["meta_recipe", "load_or_train_meta", "train_and_save", "main"]


def meta_recipe(regime: str, profile: str, sizes: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What determines a meta-trained model (its checkpoint identity): settings as given, no computed numbers.
    ``sizes``: :func:`empirical.papers.goulart24.llm.suite.meta_training`'s; at the profile's own sizes the recipe
    (and its hash) is the profile's, so the shipped quick-profile models load."""
    if regime not in TASKS:
        raise ValueError(f"regime: expected one of {sorted(TASKS)}, got {regime!r}")
    if profile not in META_TRAINING:
        raise ValueError(f"profile: expected one of {sorted(META_TRAINING)}, got {profile!r}")
    mt = meta_training(regime, profile, sizes)
    return {"model": asdict(mt.model), "training": {**asdict(mt), "model": None},
            "tasks": [t.name for t in TASKS[regime]], "regime": regime, "profile": profile}


def _command(regime: str, profile: str, out: Path | str, sizes: Mapping[str, int] | None) -> str:
    """The command that retrains this model: ``--sizes`` only where they differ from the profile's."""
    changed = {k: v for k, v in (sizes or {}).items() if meta_sizes(meta_training(regime, profile))[k] != v}
    args = ["--regime", regime, "--profile", profile, "--out", str(out)]
    args += ["--sizes", json.dumps(changed, sort_keys=True)] if changed else []
    return "python -m empirical.papers.goulart24.llm.train_meta " + " ".join(shlex.quote(a) for a in args)


def load_or_train_meta(regime: str, profile: str, out: Path | str, *, sizes: Mapping[str, int] | None = None,
                       device: str = "cpu", progress: bool = True,
                       retrain: bool = False) -> tuple[ICLTransformer, dict[str, Any]]:
    """The shipped model of (regime, profile, sizes), or one trained earlier into ``out``, else meta-train it now
    into ``<out>/checkpoints/goulart24/``. Returns (model, info of :func:`empirical.checkpoints.load_or_train`)."""
    from empirical.checkpoints import load_or_train

    mt = meta_training(regime, profile, sizes)
    recipe = meta_recipe(regime, profile, sizes)
    tasks = list(TASKS[regime])

    def fit(model: ICLTransformer, resume: Path) -> dict[str, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        losses = meta_fit(model, tasks, mt.model, steps=mt.steps, per_task=mt.per_task, lr=mt.lr, seed=mt.seed,
                          device=device, progress=progress, desc=f"goulart24 meta {regime}", resume_path=resume)
        tail = losses[-50:] if losses else [float("nan")]
        return {"final_loss_mean_last50": sum(tail) / len(tail), "wall_time_s": time.perf_counter() - t0,
                "cpu_time_s": time.process_time() - c0, "torch_threads": torch.get_num_threads()}

    cmd = _command(regime, profile, out, sizes)
    return load_or_train(paper="goulart24", name=f"meta_{regime}", recipe=recipe, out_dir=out,
                         build=lambda: init_meta_model(mt.model, mt.seed, device), fit=fit, command=cmd,
                         seed=mt.seed, retrain=retrain, device=device)


def train_and_save(regime: str, profile: str, out: Path | str, *, sizes: Mapping[str, int] | None = None,
                   device: str = "cpu", progress: bool = True) -> tuple[ICLTransformer, Path]:
    """Meta-train now (ignoring stored models) into ``<out>/checkpoints/goulart24/``; (model, weights path)."""
    model, info = load_or_train_meta(regime, profile, out, sizes=sizes, device=device, progress=progress,
                                     retrain=True)
    return model, Path(info["path"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regime", choices=sorted(TASKS), required=True)
    ap.add_argument("--profile", choices=sorted(META_TRAINING), default="quick")
    ap.add_argument("--out", type=Path, default=Path("results/quick"), help="results folder (default results/quick)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=json.loads, default=None, metavar="JSON",
                    help="sizes replacing the profile's, e.g. '{\"steps\": 20}' (names: suite.meta_sizes)")
    add_precision_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with training_precision(args.precision):
        _, path = train_and_save(args.regime, args.profile, args.out, sizes=args.sizes, device=args.device)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
