"""The one training loop of the suite.

* Data: ``sample_batch(generator, step)`` draws the *global* batch of a step from a generator seeded by
  (seed, "data", step). The batch therefore depends only on the step, never on how often training was
  interrupted, nor on the number of processes (each rank takes its shard of the same global batch).
* Checkpoints: every ``checkpoint_every`` steps the model, optimizer, scheduler, step and loss history are
  written atomically; ``train`` resumes from that file when it exists and its config matches.
* Progress: a tqdm bar showing the running loss.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from empirical.artifacts import atomic_write_bytes
from empirical.progress import progress_bar
from empirical.seeding import torch_generator

__all__ = ["TrainConfig", "TrainResult", "train", "Shard"]

Shard = Callable[[Any, int, int], Any]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (all recorded next to the weights).

    Attributes:
        steps: optimizer steps. batch_size: global batch. lr: peak learning rate.
        optimizer: ``adam`` | ``adamw`` | ``sgd``. weight_decay: for adamw/sgd.
        grad_clip: max gradient norm (global), None for none.
        schedule: ``constant`` | ``halve`` (halve every ``halve_every`` steps) | ``cosine``.
        warmup: linear warm-up steps. seed: data and init seed. checkpoint_every: 0 disables.
    """

    steps: int
    batch_size: int
    lr: float
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = 0.0
    grad_clip: float | None = None
    schedule: Literal["constant", "halve", "cosine"] = "constant"
    halve_every: int = 0
    warmup: int = 0
    seed: int = 0
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError(
                f"steps/batch_size: need steps >= 0 and batch_size >= 1, got {self.steps}, {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr: expected a positive finite learning rate, got {self.lr}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer: expected adam|adamw|sgd, got {self.optimizer!r}")
        if self.schedule not in ("constant", "halve", "cosine"):
            raise ValueError(f"schedule: expected constant|halve|cosine, got {self.schedule!r}")
        if self.schedule == "halve" and self.halve_every < 1:
            raise ValueError("halve_every: must be >= 1 with schedule='halve'")

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    f = 1.0
    if cfg.warmup and step < cfg.warmup:
        f *= (step + 1) / cfg.warmup
    if cfg.schedule == "halve":
        f *= 0.5 ** (step // cfg.halve_every)
    elif cfg.schedule == "cosine" and cfg.steps > 0:
        f *= 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    return f


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def train(
    model: nn.Module,
    sample_batch: Callable[[torch.Generator, int], Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    cfg: TrainConfig,
    *,
    checkpoint_path: Path | str | None = None,
    shard: Shard | None = None,
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` in place.

    Args:
        sample_batch: (generator, step) -> global batch (on the model's device).
        loss_fn: (model, batch) -> scalar mean loss over the batch (or this rank's shard).
        checkpoint_path: resumable state file (written atomically); None disables resume.
        shard: (batch, rank, world) -> this rank's part, used under torch.distributed. Losses are averaged
            over ranks; gradients are all-reduced by DistributedDataParallel if ``model`` is wrapped in it.

    Returns:
        TrainResult with the per-step loss (global mean) history.
    """
    rank, world = _dist_info()
    if world > 1 and shard is None:
        raise ValueError("shard: required under torch.distributed, to split each global batch across ranks")
    opt = _make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(cfg, s))
    result = TrainResult()
    start = 0
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != cfg.fingerprint():
            raise ValueError(f"checkpoint_path: {ckpt} was written with another TrainConfig; remove it or change path")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start = int(state["step"])
        result.losses = list(state["losses"])
        result.resumed_from = start

    def save(step: int) -> None:
        if ckpt is None or rank != 0:
            return
        buf = io.BytesIO()
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "step": step, "losses": result.losses, "fingerprint": cfg.fingerprint()}, buf)
        atomic_write_bytes(ckpt, buf.getvalue())

    model.train()
    bar = progress_bar(range(start, cfg.steps), desc=desc, total=cfg.steps - start, enabled=progress and rank == 0)
    for step in bar:
        batch = sample_batch(torch_generator(cfg.seed, "data", step), step)
        if world > 1:
            batch = shard(batch, rank, world)  # type: ignore[misc]
        loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at step {step} (lr {sched.get_last_lr()[0]:.3g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        val = loss.detach()
        if world > 1:
            torch.distributed.all_reduce(val)
            val = val / world
        result.losses.append(float(val))
        if step % 50 == 0:
            bar.set_postfix(loss=f"{float(val):.4g}")
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            save(step + 1)
    if ckpt is not None:
        save(cfg.steps)
    model.eval()
    return result
