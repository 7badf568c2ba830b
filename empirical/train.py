"""The one training loop of the suite.

* Data: ``sample_batch(generator, step)`` draws the *global* batch of a step from a generator seeded by
  (seed, "data", step). The batch therefore depends only on the step, never on how often training was
  interrupted, nor on the number of processes (each rank takes its shard of the same global batch).
* Checkpoints: every ``checkpoint_every`` steps the model, optimizer, scheduler, step and loss history are
  written atomically; ``train`` resumes from that file when it exists and its identity matches: the
  TrainConfig, the world size, the model's parameter names, shapes and dtypes, and whatever the caller adds
  (family, options). The file is read with ``torch.load(weights_only=True)``: tensors, numbers and strings
  only, so a planted pickle runs no code.
* Progress: a tqdm bar showing the running loss.
* Precision: float32, or mixed precision (bf16 / fp16 autocast over the forward pass and loss, float32 weights)
  inside an :func:`empirical.precision.training_precision` block; a mixed-precision run's identity names its
  precision, so it never resumes a float32 state nor the reverse.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from empirical.artifacts import atomic_write_bytes
from empirical.errors import IntegrityError
from empirical.precision import DEFAULT as FLOAT32
from empirical.precision import autocast, current_precision
from empirical.progress import progress_bar
from empirical.seeding import child_seeds

__all__ = ["TrainConfig", "TrainResult", "train", "Shard"]

Shard = Callable[[Any, int, int], Any]


def _is_real(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


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
        for name, low in (("steps", 0), ("batch_size", 1), ("halve_every", 0), ("warmup", 0), ("seed", 0),
                          ("checkpoint_every", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {v!r}")
        if not (_is_real(self.lr) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr: expected a positive finite learning rate, got {self.lr!r}")
        if not (_is_real(self.weight_decay) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"weight_decay: expected a finite number >= 0, got {self.weight_decay!r}")
        # a negative or zero max-norm would flip or erase every gradient: gradient ascent, or no training
        if self.grad_clip is not None and not (_is_real(self.grad_clip) and 0 < self.grad_clip < math.inf):
            raise ValueError(f"grad_clip: expected a positive finite max-norm (or None), got {self.grad_clip!r}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer: expected adam|adamw|sgd, got {self.optimizer!r}")
        if self.schedule not in ("constant", "halve", "cosine"):
            raise ValueError(f"schedule: expected constant|halve|cosine, got {self.schedule!r}")
        if self.schedule == "halve" and self.halve_every < 1:
            raise ValueError("halve_every: must be >= 1 with schedule='halve'")


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


#: Parameter tensors from which one fused (foreach) update beats the per-tensor loop on the CPU. Adam step, one
#: thread: 2 tensors (LSA) 52 µs per-tensor vs 59 fused, 4 tensors 107 vs 98, 43 tensors (GPT-2) 984 vs 717. Both
#: give the same bits (checked for adam, adamw and sgd on the LSA and GPT-2 families).
FOREACH_MIN_TENSORS = 4


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    foreach = len(params) >= FOREACH_MIN_TENSORS or any(p.is_cuda for p in params)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, foreach=foreach)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=foreach)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=foreach)


def run_identity(model: nn.Module, cfg: TrainConfig, world: int, extra: Mapping[str, Any] | None,
                 precision: str = FLOAT32) -> dict[str, Any]:
    """What a resumable state must share with the run that resumes it (JSON-like, compared key by key).

    The model is described by its parameter names, shapes and dtypes, which covers the family, the width and
    depth options and the dtype even when a caller adds nothing; the caller's ``extra`` adds what the
    parameters cannot show (options that change the data, not the shapes). A mixed ``precision`` is named;
    float32 adds nothing, so the states written before precision was an option still resume.
    """
    inner = getattr(model, "module", model)  # a DDP wrapper's parameters carry a "module." prefix
    params = {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in inner.state_dict().items()}
    train_settings = {k: v for k, v in asdict(cfg).items() if k != "checkpoint_every"}
    if precision != FLOAT32:
        train_settings["precision"] = precision
    return {"train": train_settings, "world_size": world,
            "model": {"class": type(inner).__name__, "parameters": params}, **{"run": dict(extra or {})}}


def _mixed_precision_device(model: nn.Module, precision: str) -> torch.device:
    """The device autocast runs on. Mixed precision needs float32 trainable weights: autocast leaves float64 as it
    is, so a float64 model would silently train in float64 under a run that says bf16."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no trainable parameters")
    other = sorted({str(p.dtype).removeprefix("torch.") for p in params if p.dtype != torch.float32})
    if other:
        raise ValueError(f"precision: {precision} mixed precision trains float32 weights; this model has "
                         f"{', '.join(other)} parameters (train it with --precision float32)")
    return params[0].device


def _identity_diff(stored: Any, current: dict[str, Any]) -> str:
    """'' when equal, else one short phrase naming the first settings that differ."""
    if not isinstance(stored, dict):
        return "no identity recorded"
    out = []
    for section in sorted(set(stored) | set(current)):
        a, b = stored.get(section), current.get(section)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(f"{section}: " + ", ".join(f"{k} {_short(a.get(k))} -> {_short(b.get(k))}" for k in keys[:3]))
        else:
            out.append(f"{section} {_short(a)} -> {_short(b)}")
    return "; ".join(out)


def _short(v: Any) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _read_state(path: Path) -> dict[str, Any]:
    """The resumable state, unpickled with ``weights_only=True`` (no code runs from the file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        raise IntegrityError(f"{path}: refused as training state ({type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0][:120] if str(e).strip() else 'unreadable'})") from None
    if not isinstance(state, dict) or not {"model", "optimizer", "scheduler", "step", "losses"} <= set(state):
        raise IntegrityError(f"{path}: not a training state of this suite")
    return state


def _data_seeds(seed: int, start: int, stop: int, chunk: int = 256) -> Iterator[int]:
    """child_seed(seed, "data", step) for start <= step < stop, computed ``chunk`` at a time by
    :func:`~empirical.seeding.child_seeds` (numpy's SeedSequence, one at a time between a model's forward and
    backward passes, cost ~90 µs per step, a fourteenth of a small model's step)."""
    for first in range(start, stop, chunk):
        yield from child_seeds(seed, "data", last=range(first, min(first + chunk, stop)))


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
    identity: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` in place, in the precision of the enclosing :func:`empirical.precision.training_precision`
    block (float32 outside any).

    Args:
        sample_batch: (generator, step) -> global batch (on the model's device).
        loss_fn: (model, batch) -> scalar mean loss over the batch (or this rank's shard).
        checkpoint_path: resumable state file (written atomically); None disables resume.
        shard: (batch, rank, world) -> this rank's part, used under torch.distributed. Losses are averaged
            over ranks; gradients are all-reduced by DistributedDataParallel if ``model`` is wrapped in it.
        identity: what else must match for a resume (e.g. the model family and its options); JSON-like.

    Returns:
        TrainResult with the per-step loss (global mean) history.
    """
    rank, world = _dist_info()
    if world > 1 and shard is None:
        raise ValueError("shard: required under torch.distributed, to split each global batch across ranks")
    precision = current_precision()
    device = _mixed_precision_device(model, precision) if precision != FLOAT32 else None
    opt = _make_optimizer(model, cfg)
    # fp16's narrow range flushes small gradients to zero unless the loss is scaled; bf16 has float32's range
    scaler = torch.amp.GradScaler(device.type) if device is not None and precision == "fp16" else None
    # a constant rate without warm-up never changes the lr: no scheduler (its step, and the wrapper it puts around
    # the optimiser's, cost a twentieth of a small model's step); its state in a resumable file is then {}
    scheduled = cfg.schedule != "constant" or cfg.warmup > 0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(cfg, s)) if scheduled else None
    # one generator, reseeded at every step: the stream of a fresh generator seeded (seed, "data", step), without
    # building one per step (a sixteenth of a small model's step)
    data = torch.Generator(device="cpu")
    result = TrainResult()
    start = 0
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    # only a resumable run needs an identity
    ident = run_identity(model, cfg, world, identity, precision) if ckpt is not None else None
    if ckpt is not None and ckpt.exists():
        state = _read_state(ckpt)
        differs = _identity_diff(state.get("identity"), ident)
        if differs:
            raise ValueError(f"checkpoint_path: {ckpt} belongs to another run ({differs}); remove it or change path")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler"])
        start = int(state["step"])
        result.losses = list(state["losses"])
        result.resumed_from = start

    def save(step: int) -> None:
        if ckpt is None or rank != 0:
            return
        buf = io.BytesIO()
        scheduler = sched.state_dict() if sched is not None else {}
        extra = {"scaler": scaler.state_dict()} if scaler is not None else {}
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": scheduler,
                    "step": step, "losses": result.losses, "identity": ident, **extra}, buf)
        atomic_write_bytes(ckpt, buf.getvalue())

    model.train()
    # no bar object at all when none is shown: building one costs a step's worth of a tiny model per call
    bar = progress_bar(range(start, cfg.steps), desc=desc, total=cfg.steps - start) if progress and rank == 0 else None
    seeds = _data_seeds(cfg.seed, start, cfg.steps)
    for step in bar if bar is not None else range(start, cfg.steps):
        batch = sample_batch(data.manual_seed(next(seeds)), step)
        if world > 1:
            batch = shard(batch, rank, world)  # type: ignore[misc]
        if precision == FLOAT32:
            loss = loss_fn(model, batch)
        else:  # PyTorch's AMP recipe: autocast spans the forward pass and the loss; backward runs outside it
            with autocast(precision, device):  # type: ignore[arg-type]
                loss = loss_fn(model, batch)
            loss = loss.float()
        value = float(loss.detach())  # one read serves the finiteness check before the step and the loss history
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at step {step} (lr {opt.param_groups[0]['lr']:.3g})")
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
        else:  # a step whose scaled gradients overflowed is skipped and the scale halved
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
        if sched is not None:
            sched.step()
        if world > 1:
            val = loss.detach().clone()
            torch.distributed.all_reduce(val)
            value = float(val / world)
        result.losses.append(value)
        if bar is not None and step % 50 == 0:
            bar.set_postfix(loss=f"{value:.4g}")
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            save(step + 1)
    if ckpt is not None:
        save(cfg.steps)
    model.eval()
    return result
