"""Meta-train goulart24's small transformer and store it (safetensors + sidecar with this command).

    python -m empirical.llm.train_meta --regime fixed --profile quick --out empirical/checkpoints/goulart24
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from empirical.checkpoints import save_model
from empirical.llm.meta_model import ICLTransformer, checkpoint_path, meta_train
from empirical.llm.suite import CHECKPOINT_DIR, META_TRAINING, TASKS

__all__ = ["train_and_save", "main"]


def train_and_save(regime: str, profile: str, out: Path | str, *, device: str = "cpu",
                   progress: bool = True) -> tuple[ICLTransformer, Path]:
    if regime not in TASKS:
        raise ValueError(f"regime: expected one of {sorted(TASKS)}, got {regime!r}")
    mt = META_TRAINING[profile]
    t0 = time.perf_counter()
    model, losses = meta_train(list(TASKS[regime]), mt.model, steps=mt.steps, per_task=mt.per_task, lr=mt.lr,
                               seed=mt.seed, device=device, progress=progress, desc=f"goulart24 meta {regime}")
    path = checkpoint_path(out, regime)
    tail = losses[-50:] if losses else [float("nan")]
    cmd = (f"python -m empirical.llm.train_meta --regime {regime} --profile {profile} --out {out}")
    save_model(model, path, config={"model": asdict(mt.model), "training": {**asdict(mt), "model": None},
                                    "tasks": [t.name for t in TASKS[regime]], "regime": regime,
                                    "profile": profile},
               command=cmd, seed=mt.seed,
               metrics={"final_loss_mean_last50": sum(tail) / len(tail), "wall_time_s": time.perf_counter() - t0,
                        "torch": torch.__version__})
    return model, path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regime", choices=sorted(TASKS), required=True)
    ap.add_argument("--profile", choices=sorted(META_TRAINING), default="quick")
    ap.add_argument("--out", default=CHECKPOINT_DIR)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    _, path = train_and_save(args.regime, args.profile, args.out, device=args.device)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
