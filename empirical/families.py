"""Trainable model families for the distributed entry point and the benchmarks.

A :class:`Family` bundles what :func:`empirical.train.train` needs for one kind of model: a builder
(options, device, dtype, seed) -> module, a sampler factory (options, global batch size, device, dtype) ->
((generator, step) -> global batch), and a loss
(model, batch) -> scalar mean. Families whose model module has not been written yet are simply absent, so
the registry holds what exists (``FAMILIES``).

Built in:

* ``toy-linreg`` — a 2-layer MLP reading the whole Garg-format prompt (flattened interleaved tokens) and
  predicting the query label. Not a model of any paper: it exists to check the training plumbing
  (DDP equivalence, resume) with a model that every checkout has.

Adapted when present:

* ``lsa`` — ahn23 linear self-attention (``empirical.models.lsa``) on linear-regression prompts.
* ``gpt2-icl`` — the Garg et al. GPT-2 format model (``empirical.models.gpt2_icl``) on linear regression.
* ``lstm-icl`` — the LSTM of fu23's comparison (``empirical.models.lstm``), same prompts and loss.

From the paper folders (``empirical/papers/<key>/families.py``, found and imported at the end of this module):

* ``fu23`` / ``he25`` — a claim's own recipe (:mod:`empirical.papers.fu23.families`,
  :mod:`empirical.papers.he25.families`): its model, data (with the fu23 curriculum), loss and training settings,
  so a paper-scale claim model can be trained under torchrun; on one process it is bit for bit the claim
  trainer's run.

Losses call ``model(...)`` only: under DDP the model is the wrapper, whose forward performs the gradient
synchronisation; a helper like ``model.predict`` would not exist on the wrapper.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from empirical.seeding import torch_generator
from theory.prompts import PromptBatch
from theory.samplers import LinearRegressionTask

__all__ = ["Family", "FAMILIES", "ToyRegressor", "seeded_init_", "linreg_sampler", "garg_loss", "register"]


@dataclass(frozen=True)
class Family:
    """One trainable family. ``defaults`` give every option and its type (values arrive as strings)."""

    name: str
    summary: str
    defaults: Mapping[str, int | float | str]
    build: Callable[[dict[str, Any], torch.device, torch.dtype, int], nn.Module]
    sampler: Callable[[dict[str, Any], int, torch.device, torch.dtype], Callable[[torch.Generator, int], Any]]
    loss: Callable[[nn.Module, Any], Tensor] | None
    requires: tuple[str, ...] = field(default_factory=tuple)
    #: TrainConfig fields the family fixes unless the command line overrides them (e.g. a claim's recipe)
    train_defaults: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: a loss that depends on the options (used instead of ``loss`` when set)
    make_loss: Callable[[dict[str, Any]], Callable[[nn.Module, Any], Tensor]] | None = None

    def loss_fn(self, opts: dict[str, Any]) -> Callable[[nn.Module, Any], Tensor]:
        """(model, batch) -> scalar mean loss for these options. It must call ``model(...)`` (the forward a
        DDP wrapper intercepts), never another method of the model."""
        if self.make_loss is not None:
            return self.make_loss(opts)
        assert self.loss is not None, f"family {self.name}: needs loss or make_loss"
        return self.loss

    def parse_options(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Typed options: defaults overridden by ``raw``; unknown keys or bad values raise ValueError."""
        unknown = sorted(set(raw) - set(self.defaults))
        if unknown:
            raise ValueError(f"option: {self.name} has no option(s) {unknown}; known: {sorted(self.defaults)}")
        out: dict[str, Any] = dict(self.defaults)
        for k, v in raw.items():
            kind = type(self.defaults[k])
            try:
                out[k] = kind(v)
            except ValueError:
                raise ValueError(f"option {k}: expected {kind.__name__}, got {v!r}") from None
        return out


def seeded_init_(module: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every parameter from an explicit generator (PyTorch's default init uses global RNG).

    Matrices: U(−1/√fan_in, 1/√fan_in) (the nn.Linear default bound); vectors: zeros.
    """
    g = torch_generator(seed, "init")
    with torch.no_grad():
        for _, p in sorted(module.named_parameters()):
            if p.ndim >= 2:
                bound = 1.0 / math.sqrt(p.shape[-1])
                p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)
            else:
                p.zero_()
    return module


def leaves_global_rng(build):
    """Run a builder under ``torch.random.fork_rng``: PyTorch modules (nn.Linear, nn.LSTM) draw their default
    initialisation from the global RNG at construction even when the model then overwrites every weight from
    its own generator; forking restores the global state afterwards, so building never shifts it."""

    @functools.wraps(build)
    def wrapped(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            return build(opts, device, dtype, seed)

    return wrapped


def linreg_sampler(opts: dict[str, Any], batch_size: int, device: torch.device, dtype: torch.dtype):
    """(generator, step) -> a global batch of ``batch_size`` fresh linear-regression prompts (m = 1 query).

    Fresh prompts every step, x ~ N(0, I), w ~ N(0, I), no noise: the Garg et al. setting. Drawn in the
    training dtype (no model of these families is shipped, so nothing depends on the float64 stream the claims
    draw): the loop's sampling costs what a minimal loop's does.
    """
    task = LinearRegressionTask(d=int(opts["d"]), n=int(opts["n"]), m=1)

    def sample(g: torch.Generator, step: int) -> PromptBatch:
        return task.sample(batch_size, g, dtype=dtype, device=device, draw_dtype=dtype)

    return sample


# -- toy-linreg ------------------------------------------------------------------------------------------


class ToyRegressor(nn.Module):
    """MLP on the flattened interleaved prompt: (B, 2n+1, d+1) -> (B, 1) query prediction."""

    def __init__(
        self,
        d: int,
        n: int,
        hidden: int,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        width = (2 * n + 1) * (d + 1)
        # meta then to_empty: no draw from the global RNG at construction (weights come from seeded_init_)
        self.net = (
            nn.Sequential(nn.Linear(width, hidden, device="meta"), nn.ReLU(), nn.Linear(hidden, 1, device="meta"))
            .to_empty(device=device)
            .to(dtype)
        )

    def forward(self, tokens: Tensor) -> Tensor:
        return self.net(tokens.flatten(1))


@leaves_global_rng
def _toy_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    model = ToyRegressor(opts["d"], opts["n"], opts["hidden"], device=device, dtype=dtype)
    return seeded_init_(model, seed)


def _toy_loss(model: nn.Module, batch: PromptBatch) -> Tensor:
    return ((model(batch.to_interleaved()) - batch.yq) ** 2).mean()


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family`` if the modules it needs import (a family whose model is not written yet is absent)."""
    for mod in family.requires:
        try:
            importlib.import_module(mod)
        except ImportError:
            return family
    FAMILIES[family.name] = family
    return family


register(
    Family(
        name="toy-linreg",
        summary="2-layer MLP on the flattened Garg-format prompt (plumbing check, not a paper's model)",
        defaults={"d": 5, "n": 10, "hidden": 32},
        build=_toy_build,
        sampler=linreg_sampler,
        loss=_toy_loss,
    )
)


# -- lsa (ahn23) ---------------------------------------------------------------------------------------------


@leaves_global_rng
def _lsa_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    from empirical.models.lsa import LinearTransformer

    return LinearTransformer(
        opts["d"],
        opts["layers"],
        opts["parameterization"],
        opts["init_std"],
        generator=torch_generator(seed, "init"),
        device=device,
        dtype=dtype,
    )


def _query_mse(model: nn.Module, batch: PromptBatch) -> Tensor:
    """Mean squared error of the query predictions: model(prompt) -> (B, m) vs yq."""
    return ((model(batch) - batch.yq) ** 2).mean()


register(
    Family(
        name="lsa",
        summary="ahn23 linear self-attention (empirical.models.lsa.LinearTransformer) on linear regression",
        defaults={"d": 5, "n": 20, "layers": 3, "parameterization": "full", "init_std": 1e-3},
        build=_lsa_build,
        sampler=linreg_sampler,
        loss=_query_mse,
        requires=("empirical.models.lsa",),
    )
)


# -- Garg-format sequence models (fu23, goulart24): GPT-2 and LSTM --------------------------------------------


def garg_loss(model: nn.Module, batch: PromptBatch) -> Tensor:
    """Garg et al.'s objective: squared error of the prediction at every x position (each from the examples
    before it) and at the query. Calls ``model(tokens)`` — the forward a DDP wrapper intercepts — rather than
    ``model.predict``, which would bypass the gradient all-reduce."""
    from empirical.models.gpt2_icl import x_positions

    preds = model(batch.to_interleaved())[:, x_positions(batch.n, batch.m, batch.device)]
    return ((preds - torch.cat([batch.y, batch.yq], 1)) ** 2).mean()


@leaves_global_rng
def _gpt2_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    from empirical.models.gpt2_icl import GPT2ICL

    return GPT2ICL(
        opts["d"],
        opts["width"],
        opts["layers"],
        opts["heads"],
        2 * opts["n"] + 1,
        generator=torch_generator(seed, "init"),
        device=device,
        dtype=dtype,
    )


@leaves_global_rng
def _lstm_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    from empirical.models.lstm import LSTMICL

    return LSTMICL(
        opts["d"], opts["width"], opts["layers"], generator=torch_generator(seed, "init"), device=device, dtype=dtype
    )


register(
    Family(
        name="gpt2-icl",
        summary="Garg et al. GPT-2 format model (empirical.models.gpt2_icl.GPT2ICL); Garg 'standard' is "
        "width=256 layers=12 heads=8 with d=20 n=40",
        defaults={"d": 5, "n": 10, "width": 64, "layers": 4, "heads": 4},
        build=_gpt2_build,
        sampler=linreg_sampler,
        loss=garg_loss,
        requires=("empirical.models.gpt2_icl",),
    )
)

register(
    Family(
        name="lstm-icl",
        summary="LSTM on the Garg-format prompt (empirical.models.lstm.LSTMICL; fu23's LSTM comparison)",
        defaults={"d": 5, "n": 10, "width": 64, "layers": 2},
        build=_lstm_build,
        sampler=linreg_sampler,
        loss=garg_loss,
        requires=("empirical.models.lstm", "empirical.models.gpt2_icl"),
    )
)


# -- families of one paper: empirical/papers/<key>/families.py ------------------------------------------------


def _register_paper_families() -> None:
    """Import each paper folder's ``families`` module, which registers that paper's own families (a claim's
    recipe, say): a new paper adds its families in its own folder, never here."""
    from empirical.papers import paper_modules

    for name in paper_modules("families"):
        importlib.import_module(name)


_register_paper_families()
