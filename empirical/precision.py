"""Training precision: float32, or mixed precision (``bf16`` / ``fp16``) as an option reported next to float32.

Mixed precision follows PyTorch's automatic mixed precision recipe: the model keeps float32 weights and optimiser
state, and each step's forward pass *and loss* run under :func:`torch.autocast`, so matrix products run in the
16-bit type (what makes them fast on a GPU's tensor cores). ``fp16``, whose range is narrow, also scales the
loss (:class:`torch.amp.GradScaler`) so that small gradients do not flush to zero; ``bf16`` has float32's range
and needs no scaling. Everything outside the training steps (probes, evaluation, the constructions, which are
float64 and which autocast never touches) runs as in float32.

The precision is a property of a run, not of a claim: ``icl-verify run --precision bf16`` sets it for every claim
through :func:`training_precision`, and :func:`empirical.train.train` reads it. A model trained in mixed
precision is a different model: the precision joins its recipe (:func:`with_precision`), so it is stored beside,
never over, the float32 one, and the float32 models the suite ships are not used for a mixed-precision run.
``python -m empirical.precision_compare`` sets a mixed-precision run's numbers next to float32's.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # torch is imported where it is used: the command line's --help and argument checks do without
    import torch

__all__ = ["PRECISIONS", "Precision", "DEFAULT", "training_precision", "current_precision", "autocast_dtype",
           "check_precision", "with_precision", "precision_arguments", "add_precision_argument", "autocast",
           "default_out", "precision_folder"]

Precision = Literal["float32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("float32", "bf16", "fp16")
DEFAULT: Precision = "float32"
_AUTOCAST = {"bf16": "bfloat16", "fp16": "float16"}

_current: ContextVar[str] = ContextVar("icl_verify_training_precision", default=DEFAULT)


def check_precision(name: object, argument: str = "precision") -> str:
    """``name`` when it is one of :data:`PRECISIONS`; else ValueError naming ``argument``."""
    if name not in PRECISIONS:
        raise ValueError(f"{argument}: expected one of {', '.join(PRECISIONS)}, got {name!r}")
    return str(name)


@contextlib.contextmanager
def training_precision(name: str) -> Iterator[str]:
    """Within the block, :func:`empirical.train.train` trains in precision ``name`` (float32 | bf16 | fp16)."""
    token = _current.set(check_precision(name))
    try:
        yield name
    finally:
        _current.reset(token)


def current_precision() -> str:
    """The training precision of the enclosing :func:`training_precision` block (float32 outside any)."""
    return _current.get()


def autocast_dtype(name: str) -> torch.dtype | None:
    """The 16-bit type autocast computes in for ``name``; None for float32."""
    import torch

    dtype = _AUTOCAST.get(check_precision(name))
    return None if dtype is None else getattr(torch, dtype)


def autocast(name: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast block of precision ``name`` on ``device``'s type (a no-op block for float32)."""
    import torch

    dtype = autocast_dtype(name)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_folder(folder: Path, precision: str) -> Path:
    """``folder`` for float32, ``<folder>-<precision>`` beside it for mixed precision: a mixed-precision run's
    results land next to the float32 ones (for :mod:`empirical.precision_compare`), never over them."""
    return folder if check_precision(precision) == DEFAULT else folder.with_name(f"{folder.name}-{precision}")


def default_out(profile: str, precision: str) -> Path:
    """``icl-verify run``'s results folder: ``results/<profile>``, or ``results/<profile>-<precision>``."""
    return precision_folder(Path("results") / profile, precision)


def _given_or_current(name: str | None) -> str:
    return current_precision() if name is None else check_precision(name)


def with_precision(recipe: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """``recipe`` with the training precision added when it is not float32 (``name``, default the current one).

    A float32 recipe is left as it is, so the identities (and file names) of float32 models, the shipped ones
    included, do not change; a mixed-precision model gets an identity of its own.
    """
    name = _given_or_current(name)
    if "precision" in recipe:
        raise ValueError("recipe: 'precision' is set by the run (icl-verify run --precision), not by a recipe")
    return dict(recipe) if name == DEFAULT else {**recipe, "precision": name}


def precision_arguments(name: str | None = None) -> list[str]:
    """``["--precision", name]`` for a retrain command when ``name`` (default: the current one) is not float32."""
    name = _given_or_current(name)
    return [] if name == DEFAULT else ["--precision", name]


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--precision`` option every training command shares."""
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT,
                        help="training precision: float32 (default), or mixed precision with bf16 or fp16 "
                             "autocast (float32 weights; meant for CUDA, where tensor cores make it fast)")
