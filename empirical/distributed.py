"""Scale-out training: :func:`empirical.train.train` under ``torchrun`` with DistributedDataParallel.

One process per device. ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`setup` reads them, picks NCCL for CUDA devices and gloo for the CPU, and binds each
process to ``cuda:LOCAL_RANK``. Without those variables it is a plain single process.

Why the result does not depend on the number of processes: ``train`` draws the *global* batch of step t from
a generator seeded by (seed, "data", t) on every rank, and :func:`shard_batch` hands rank r the r-th of
``world`` equal slices. Each rank's loss is the mean over its slice; DDP averages the gradients over ranks, so
with equal slices the averaged gradient is the gradient of the global-batch mean — the single-process
gradient, up to floating-point reassociation of the sum. DDP also broadcasts rank 0's initial weights, and
every rank then applies the same optimizer update, so the replicas stay identical.

The price of that invariance: every rank draws the whole global batch (on the CPU, in float64) and keeps
1/world of it. For the suite's prompt sizes the draw costs milliseconds per step; a rank drawing only its
own slice would need a generator that can skip ahead, which ``torch.Generator`` cannot do.

Command line (one process per device; see the README's "Scaling out" section)::

    torchrun --standalone --nproc_per_node 4 -m empirical.distributed --family toy-linreg \
        --steps 1000 --batch-size 256 --out runs/toy
    python -m empirical.distributed --family toy-linreg --steps 1000 --batch-size 256 --out runs/toy1

Writes ``<out>/model.safetensors`` (rank 0's weights, no ``module.`` prefix) with a sidecar JSON holding the
config, the exact command, the seed, the world size and the per-step global-mean losses.

Exit codes (as ``icl-verify``): 0 trained; 2 a bad command-line value, one line naming the argument, found
before training starts; 1 a corrupt stored file (one line naming it) or an error while training (one line
naming ``<out>/logs/<file>.log``, which holds the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from empirical.device import resolve_device
from empirical.errors import IntegrityError, UsageError, one_line, report_internal_error
from empirical.precision import add_precision_argument, training_precision
from empirical.train import TrainConfig, TrainResult, train
from theory.prompts import PromptBatch

__all__ = ["DistEnv", "setup", "teardown", "shard_batch", "wrap", "unwrap", "train_distributed", "main"]


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank in [0, world), its device, the process-group backend (None: single)."""

    rank: int
    world: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer in the environment, got {raw!r}") from None


def setup(device: str = "auto", backend: str = "auto") -> DistEnv:
    """Initialise the default process group from torchrun's environment (or stay single-process).

    Args:
        device: ``auto`` | ``cpu`` | ``cuda``. Under torchrun with CUDA each process takes cuda:LOCAL_RANK.
        backend: ``auto`` (NCCL on CUDA, gloo on CPU) | ``gloo`` | ``nccl``.

    Raises:
        ValueError: unknown backend, NCCL without CUDA, or LOCAL_RANK beyond the visible GPUs.
    """
    if backend not in ("auto", "gloo", "nccl"):
        raise ValueError(f"backend: expected auto|gloo|nccl, got {backend!r}")
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK: {local_rank} but only {torch.cuda.device_count()} CUDA devices are visible")
        dev = torch.device("cuda", local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world == 1:
        return DistEnv(rank=0, world=1, local_rank=0, device=dev, backend=None)
    chosen = backend if backend != "auto" else ("nccl" if dev.type == "cuda" else "gloo")
    if chosen == "nccl" and dev.type != "cuda":
        raise ValueError("backend: nccl needs CUDA devices; use gloo on the CPU")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=chosen, init_method="env://", world_size=world, rank=rank)
    return DistEnv(rank=rank, world=world, local_rank=local_rank, device=dev, backend=chosen)


def teardown() -> None:
    """Destroy the process group if one is up (safe to call in a single process).

    Objects still holding the group's work (a DDP wrapper caught in a reference cycle) are collected first, while the
    group is up: gloo work destroyed at interpreter exit can abort the process ("terminate called without an active
    exception", seen once in a two-process test on a loaded machine).
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        gc.collect()
        torch.distributed.destroy_process_group()


def _slice(t: Any, rank: int, world: int, B: int) -> Any:
    if isinstance(t, torch.Tensor) and t.ndim >= 1 and t.shape[0] == B:
        per = B // world
        return t[rank * per : (rank + 1) * per]
    return t


def shard_batch(batch: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s equal slice (along dim 0) of a global batch.

    Handles a :class:`PromptBatch` (its tensors and the per-prompt tensors in ``meta``), a tensor, and
    tuples / lists / dicts of those. Every tensor whose first dimension is the batch size B is sliced.

    Raises:
        ValueError: B not divisible by ``world`` (unequal slices would weight ranks' examples unequally and
            break the equality with the single-process gradient), or rank outside [0, world).
    """
    if not 0 <= rank < world:
        raise ValueError(f"rank: expected 0 <= rank < world = {world}, got {rank}")
    B = _batch_size(batch)
    if B % world:
        raise ValueError(f"batch: global batch size {B} is not divisible by the world size {world}")
    return _shard(batch, rank, world, B)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, PromptBatch):
        return batch.batch_size
    if isinstance(batch, torch.Tensor) and batch.ndim >= 1:
        return int(batch.shape[0])
    if isinstance(batch, tuple | list) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    raise ValueError(f"batch: cannot find a batch dimension in a {type(batch).__name__}")


def _shard(batch: Any, rank: int, world: int, B: int) -> Any:
    if isinstance(batch, PromptBatch):
        meta = {k: _slice(v, rank, world, B) for k, v in batch.meta.items()}
        return dataclasses.replace(
            batch,
            X=_slice(batch.X, rank, world, B),
            y=_slice(batch.y, rank, world, B),
            xq=_slice(batch.xq, rank, world, B),
            yq=_slice(batch.yq, rank, world, B),
            meta=meta,
        )
    if isinstance(batch, tuple | list):
        return type(batch)(_shard(b, rank, world, B) for b in batch)
    if isinstance(batch, dict):
        return {k: _shard(v, rank, world, B) for k, v in batch.items()}
    return _slice(batch, rank, world, B)


def wrap(model: nn.Module, env: DistEnv, *, find_unused_parameters: bool = False) -> nn.Module:
    """DDP-wrap ``model`` (already on ``env.device``) when world > 1; the model itself otherwise.

    The loss function must call the wrapper (``model(...)``): DDP reduces gradients in hooks that only a
    forward through the wrapper installs.
    """
    if env.world == 1:
        return model
    ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The inner module of a DDP wrapper (state-dict keys without ``module.``)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def train_distributed(
    model: nn.Module,
    sample_batch: Callable[[torch.Generator, int], Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    cfg: TrainConfig,
    env: DistEnv,
    **train_kwargs: Any,
) -> TrainResult:
    """:func:`empirical.train.train` with DDP and :func:`shard_batch` when world > 1 (a plain call otherwise).

    ``model`` must already be on ``env.device``; it is trained in place (the wrapper shares its parameters).
    """
    return train(
        wrap(model, env),
        sample_batch,
        loss_fn,
        cfg,
        shard=shard_batch if env.world > 1 else None,
        **train_kwargs,
    )


# -- command line -------------------------------------------------------------------------------------------

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _options(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise ValueError(f"--option: expected KEY=VALUE, got {p!r}")
        out[key] = value
    return out


PROG = "python -m empirical.distributed"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line naming the argument, exit 2 (not argparse's usage dump)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from empirical.families import FAMILIES

    p = _Parser(
        prog=PROG,
        description="Train one model family, one process per device (launch with torchrun).",
    )
    p.add_argument("--family", required=True, choices=sorted(FAMILIES), help="what to train (see empirical.families)")
    # None: the family's own training settings (a claim recipe), else the fallbacks in TRAIN_FALLBACKS
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="GLOBAL batch (split over the processes)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default=None)
    p.add_argument("--schedule", choices=("constant", "halve", "cosine"), default=None)
    p.add_argument("--halve-every", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--grad-clip", type=float, default=None)
    p.add_argument("--seed", type=int, default=None, help="data seed (and init seed unless the family fixes it)")
    p.add_argument("--dtype", choices=sorted(_DTYPES), default="float32")
    add_precision_argument(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="family option (d=, n=, ...)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="resumable state every N steps (0: off)")
    # a str until main() checks it: Path("") is ".", so an empty --out would write into the current folder
    p.add_argument("--out", required=True, help="folder for model.safetensors (+ sidecar JSON)")
    p.add_argument("--quiet", action="store_true")
    return p


#: Training settings used when neither the command line nor the family gives one (steps and batch have none).
TRAIN_FALLBACKS: dict[str, Any] = {
    "lr": 1e-3,
    "optimizer": "adam",
    "schedule": "constant",
    "halve_every": 0,
    "warmup": 0,
    "grad_clip": None,
    "seed": 0,
}
_TRAIN_FIELDS = ("steps", "batch_size", "lr", "optimizer", "schedule", "halve_every", "warmup", "grad_clip", "seed")


def train_config(args: argparse.Namespace, family_defaults: dict[str, Any]) -> TrainConfig:
    """TrainConfig from the command line, else the family's defaults, else :data:`TRAIN_FALLBACKS`.

    Raises:
        ValueError: no steps or batch size from either source; a batch not divisible by the world size.
    """
    values: dict[str, Any] = {}
    for f in _TRAIN_FIELDS:
        given = getattr(args, f)
        values[f] = given if given is not None else family_defaults.get(f, TRAIN_FALLBACKS.get(f))
    for f in ("steps", "batch_size"):
        if values[f] is None:
            raise ValueError(f"--{f.replace('_', '-')}: required for family {args.family!r} (it has no default)")
    world = _env_int("WORLD_SIZE", 1)
    if values["batch_size"] % world:
        raise ValueError(f"--batch-size: {values['batch_size']} is not divisible by the {world} processes")
    return TrainConfig(**values, checkpoint_every=args.checkpoint_every)


def run(args: argparse.Namespace, argv: Sequence[str]) -> TrainResult:
    """Train per ``args`` in this process (rank taken from the environment); rank 0 writes the model."""
    from empirical.checkpoints import save_model
    from empirical.families import FAMILIES

    fam = FAMILIES[args.family]
    opts = fam.parse_options(_options(args.option))
    cfg = train_config(args, fam.train_defaults(opts) if fam.train_defaults else {})
    env = setup(args.device, args.backend)
    try:
        dtype = _DTYPES[args.dtype]
        model = fam.build(opts, env.device, dtype, cfg.seed)
        ckpt = args.out / "train_state.pt" if args.checkpoint_every else None
        t0 = time.perf_counter()
        with training_precision(args.precision):
            result = train_distributed(
                model,
                fam.sampler(opts, cfg.batch_size, env.device, dtype),
                fam.loss_fn(opts),
                cfg,
                env,
                checkpoint_path=ckpt,
                progress=not args.quiet,
                desc=args.family,
                identity={"family": args.family, "options": opts, "dtype": args.dtype},
            )
        wall = time.perf_counter() - t0  # includes sampling and the all-reduces: the budget a run costs
        done = cfg.steps - result.resumed_from
        if env.is_main:
            config = {
                "family": args.family,
                "options": opts,
                "train": dataclasses.asdict(cfg),
                "dtype": args.dtype,
                "precision": args.precision,
                "world_size": env.world,
                "backend": env.backend,
                "device": str(env.device),
            }
            save_model(
                model,
                args.out / "model.safetensors",
                config=config,
                command=shlex.join(["python", "-m", "empirical.distributed", *argv]),
                seed=cfg.seed,
                metrics={
                    "losses": result.losses,
                    "world_size": env.world,
                    "wall_time_s": wall,
                    "steps_per_s": done / wall if wall > 0 else None,
                },
            )
            if not args.quiet:
                last = f", final loss {result.losses[-1]:.4g}" if result.losses else ""
                print(
                    f"{args.family}: {done} steps on {env.world} process(es) in {wall:.1f} s{last}; "
                    f"wrote {args.out / 'model.safetensors'}"
                )
        if env.world > 1:  # every rank done (rank 0's file written) before any takes down its end of the group; not
            torch.distributed.barrier()  # on the error path, where a barrier would wait for a rank that has failed
        return result
    finally:
        teardown()


#: Leading names of the library's "name: reason" ValueErrors -> the command-line argument they come from.
_ARGUMENT_OF = {
    "option": "--option",
    "device": "--device",
    "backend": "--backend",
    "steps/batch_size": "--steps/--batch-size",
    **{f: "--" + f.replace("_", "-") for f in (*_TRAIN_FIELDS, "checkpoint_every")},
}


def _as_usage(e: ValueError) -> UsageError | None:
    """``e`` as a usage error naming its command-line argument (``option d: ...`` -> ``--option d: ...``).

    None when the message names no argument: then it is not the user's typo and is reported as an error.
    """
    msg = str(e)
    if msg.startswith("--"):
        return UsageError(msg)
    head, sep, rest = msg.partition(":")
    name, _, detail = head.partition(" ")
    flag = _ARGUMENT_OF.get(name)
    if not sep or flag is None:
        return None
    return UsageError(f"{flag}{' ' + detail if detail else ''}:{rest}")


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything :func:`run` derives from the command line, checked before any work (cheap, no side effects).

    Raises:
        UsageError: a bad option, training setting, device or backend, naming the argument.
    """
    from empirical.families import FAMILIES

    fam = FAMILIES[args.family]
    try:
        opts = fam.parse_options(_options(args.option))
        train_config(args, fam.train_defaults(opts) if fam.train_defaults else {})
        dev = resolve_device(args.device)
    except ValueError as e:
        usage = _as_usage(e)
        if usage is None:
            raise
        raise usage from None
    if args.precision != "float32" and args.dtype != "float32":  # mixed precision keeps float32 weights
        raise UsageError(f"--precision: {args.precision} mixed precision trains float32 weights; "
                         f"--dtype is {args.dtype}")
    if args.backend == "nccl" and dev.type != "cuda":  # what setup() would refuse after the out folder is made
        raise UsageError("--backend: nccl needs CUDA devices; use gloo on the CPU")


def main(argv: Sequence[str] | None = None) -> int:
    """Train per ``argv`` (default: ``sys.argv[1:]``); returns the exit code (see the module docstring)."""
    from empirical.artifacts import check_out_dir

    argv = list(sys.argv[1:] if argv is None else argv)
    log_dir = None
    try:
        args = build_parser().parse_args(argv)
        _check_arguments(args)
        args.out = check_out_dir(args.out)
        log_dir = args.out / "logs"
        run(args, argv)
    except UsageError as e:
        print(f"{PROG}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except IntegrityError as e:  # a corrupt or replaced stored file: the message names it
        print(f"{PROG}: error: {one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # raised while training: one line here, the traceback in a log file
        return report_internal_error(PROG, e, log_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
