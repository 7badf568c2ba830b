"""Training steps of every registered family (``empirical.families.FAMILIES``), the NeuralSVD step when
present, and the suite's loop against a minimal loop at equal model and batch: a Garg-style loop on their
GPT-2, and the same plain loop over the LSA model (``empirical.models.lsa``, issue #17 §2).

Reference operation for the ratios: a float32 matmul (batch·32, 64) @ (64, 64).

**The Garg-style loop** (target: suite ≤ 1× its time per step) is written here from the description in
Garg et al. (2022, §3 and App. A): every step draws a fresh batch (x ~ N(0, I_d), w ~ N(0, I_d), y = xᵀw),
runs the model, takes the squared error, makes one Adam step and reads the loss back with ``.item()``.
No code of theirs is used. Both loops train the same module with the same loss on the same batch size
for the same number of steps, so the difference is the loop's own overhead: the suite's per-step seeded
generator, float64-then-cast sampling with validation, the finiteness check and the LR scheduler.
The LSA pair (``impl`` = suite | plain) runs the same minimal loop over the LSA family's model and loss.
"""

from __future__ import annotations

import pytest
import torch

from empirical.families import FAMILIES
from empirical.train import TrainConfig, train
from theory.prompts import PromptBatch

from .conftest import mm_reference

BATCH, STEPS = 64, 5
#: small options per family (CPU-sized); families not listed use their defaults
BENCH_OPTIONS: dict[str, dict[str, str]] = {
    "toy-linreg": {"d": "5", "n": "11", "hidden": "64"},
    "lsa": {"d": "5", "n": "20", "layers": "3"},
    # Garg et al.'s "tiny" GPT-2 (3 layers, 2 heads, width 64) at their curriculum's start (d = 5, n = 11)
    "gpt2-icl": {"d": "5", "n": "11", "width": "64", "layers": "3", "heads": "2"},
    "lstm-icl": {"d": "5", "n": "11", "width": "64", "layers": "2"},
}


def _setup(name: str):
    fam = FAMILIES[name]
    opts = fam.parse_options(BENCH_OPTIONS.get(name, {}))
    model = fam.build(opts, torch.device("cpu"), torch.float32, 0)
    return fam, opts, model


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bench_train_step(timed, family):
    fam, opts, model = _setup(family)
    sample = fam.sampler(opts, BATCH, torch.device("cpu"), torch.float32)
    cfg = TrainConfig(steps=STEPS, batch_size=BATCH, lr=1e-4)
    res = timed(
        lambda: train(model, sample, fam.loss_fn(opts), cfg, progress=False),
        reference=mm_reference(BATCH * 32, 64),
        group=f"train {family}",
        family=family,
        options=opts,
        batch=BATCH,
        steps_per_call=STEPS,
    )
    assert len(res.losses) == STEPS and all(torch.isfinite(torch.tensor(res.losses)))


def minimal_loop(
    model: torch.nn.Module,
    loss_fn,
    *,
    d: int,
    n: int,
    batch: int,
    steps: int,
    lr: float,
    generator: torch.Generator,
) -> list[float]:
    """The minimal Garg et al. training loop (see the module docstring) for any model of linear-regression
    prompts (m = 1 query) and its ``loss_fn(model, PromptBatch)``; float32 on the CPU. Returns the
    per-step losses (``steps``)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        xs = torch.randn(batch, n + 1, d, generator=generator)  # fresh prompts every step
        w = torch.randn(batch, d, 1, generator=generator)
        ys = (xs @ w)[..., 0]
        prompt = PromptBatch(X=xs[:, :n], y=ys[:, :n], xq=xs[:, n:], yq=ys[:, n:])
        loss = loss_fn(model, prompt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    return losses


#: Garg et al.'s comparison family: their GPT-2 model when the suite has it, else the plumbing model.
GARG_FAMILY = "gpt2-icl" if "gpt2-icl" in FAMILIES else "toy-linreg"


def _time_loop(timed, family: str, impl: str, group: str) -> list[float]:
    """Time ``impl`` ("suite": :func:`empirical.train.train`; any other name: :func:`minimal_loop`) on the
    family's model and loss, BATCH prompts per step, STEPS Adam steps at lr 1e-4; the per-step losses."""
    fam, opts, model = _setup(family)
    if impl == "suite":
        sample = fam.sampler(opts, BATCH, torch.device("cpu"), torch.float32)
        cfg = TrainConfig(steps=STEPS, batch_size=BATCH, lr=1e-4)
        fn = lambda: train(model, sample, fam.loss_fn(opts), cfg, progress=False).losses
    else:
        d, n, g = int(opts["d"]), int(opts["n"]), torch.Generator().manual_seed(0)
        fn = lambda: minimal_loop(model, fam.loss_fn(opts), d=d, n=n, batch=BATCH, steps=STEPS, lr=1e-4, generator=g)
    losses = timed(
        fn,
        reference=mm_reference(BATCH * 32, 64),
        group=group,
        impl=impl,
        family=family,
        options=opts,
        batch=BATCH,
        steps_per_call=STEPS,
    )
    assert len(losses) == STEPS
    return losses


#: Head-to-head rounds and the least time per side in a round: 41 rounds give a 97 % interval of the median
#: ratio between its 14th and 28th values (empirical.bench_timing.median_interval); 0.1 s per side averages a
#: round over ~20 calls of 5 steps, so a scheduler hiccup moves one round, not the interval.
HEAD_TO_HEAD_ROUNDS, HEAD_TO_HEAD_MIN_S = 41, 0.1


@pytest.mark.parametrize(("family", "versus"), [(GARG_FAMILY, "garg_style"), ("lsa", "plain")])
def test_bench_loop_head_to_head(timed, family, versus):
    """The suite's loop timed against the minimal loop round by round (each the other's reference): the median
    per-round ratio with its interval is what the loop targets are read from (``bench_compare targets``)."""
    if family not in FAMILIES:
        pytest.skip(f"the {family} family is not registered")
    fam, opts, model = _setup(family)
    sample = fam.sampler(opts, BATCH, torch.device("cpu"), torch.float32)
    cfg = TrainConfig(steps=STEPS, batch_size=BATCH, lr=1e-4)
    d, n, g = int(opts["d"]), int(opts["n"]), torch.Generator().manual_seed(0)
    suite = lambda: train(model, sample, fam.loss_fn(opts), cfg, progress=False).losses
    minimal = lambda: minimal_loop(model, fam.loss_fn(opts), d=d, n=n, batch=BATCH, steps=STEPS, lr=1e-4,
                                   generator=g)
    losses = timed(suite, reference=minimal, group=f"loop head-to-head ({family})", rounds=HEAD_TO_HEAD_ROUNDS,
                   min_s=HEAD_TO_HEAD_MIN_S, impl="suite", versus=versus, family=family, options=opts, batch=BATCH,
                   steps_per_call=STEPS)
    assert len(losses) == STEPS


@pytest.mark.parametrize("impl", ["suite", "garg_style"])
def test_bench_loop_vs_garg_style(timed, impl):
    _time_loop(timed, GARG_FAMILY, impl, f"loop vs garg-style ({GARG_FAMILY})")


@pytest.mark.parametrize("impl", ["suite", "plain"])
def test_bench_loop_vs_plain_lsa(timed, impl):
    if "lsa" not in FAMILIES:
        pytest.skip("the lsa family needs empirical.models.lsa")
    _time_loop(timed, "lsa", impl, "loop vs plain (lsa)")


#: NeuralSVD (ryu24): a 2-D harmonic oscillator, 6 modes, joint net width 64 depth 3, batch 128 (the
#: hydrogen setting's batch, at CPU size). Laplacian by the forward method and by double backward.
NSVD_CASES = [("sequential", "forward"), ("sequential", "autograd"), ("neuralef", "forward")]


@pytest.mark.parametrize(("method", "laplacian"), NSVD_CASES, ids=[f"{m}-{lap}" for m, lap in NSVD_CASES])
def test_bench_neuralsvd_step(timed, method, laplacian):
    ex = pytest.importorskip("empirical.papers.ryu24.neuralsvd.experiments")
    ops = pytest.importorskip("empirical.papers.ryu24.neuralsvd.operators")

    op = ops.SchrodingerOperator(
        d=2, potential=ops.harmonic_potential, shift=20.0, scale=1.0, sampler_std=1.5, method=laplacian
    )
    model = ex.NetConfig(width=64, depth=3).build(2, 6, generator=torch.Generator().manual_seed(0), device="cpu")
    sample = ex.make_sampler(op, 128, "cpu")
    cfg = TrainConfig(steps=STEPS, batch_size=128, lr=1e-3)
    res = timed(
        lambda: train(model, sample, ex.make_loss_fn(op, method), cfg, progress=False),
        reference=mm_reference(128 * 32, 64),
        group="train neuralsvd",
        family="neuralsvd",
        method=method,
        laplacian=laplacian,
        batch=128,
        steps_per_call=STEPS,
    )
    assert len(res.losses) == STEPS
