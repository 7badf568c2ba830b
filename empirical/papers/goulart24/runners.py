"""goulart24 claim runners — Goulart & Papalexakis, *Can a Large Language Model Learn Matrix Functions In Context?*
(arXiv 2411.15675), fact sheet ``shared/papers/goulart24.md``.

The paper's in-context learner is Gemini 1.5 Flash (remote; not run here). The suite's in-context learners
are (a) small transformers meta-trained from scratch (Garg format, stored quick-profile weights) and (b)
SmolLM2-135M-Instruct run locally (the ``llm`` extra). Every comparison is on nMSE (MSE / task variance; the
paper's raw MSE is recorded too), paired over the same prompts, with 95 % bootstrap intervals, and states
whether the learner beats the context-mean predictor (nMSE = 1 + 1/c). No number of the paper is known, so
no check compares with one.

In-context means unseen. The judged meta-trained learner of claims 4-7 and 9 (``icl_heldout``) was
meta-trained on a family that never contains the paper's functions
(``empirical.papers.goulart24.llm.suite.TASKS['heldout']``:
no p near 0.5, no Schatten q near 1, no 4x4 matrix, no top window of the spectrum) and is tested on exactly
those functions (``HELDOUT_TESTS``), without any statistic of them (relative encoding). The model trained on
the paper's fixed functions (R1) stores f in its weights; its rows are recorded as a reference, not judged.

Controls. Every trained claim runs its checks, unchanged, on a positive control (an estimator for which the
statement holds by construction) and a negative control (one for which it is false); ``verified`` needs the
learner to pass, the positive control to pass and the negative control to fail (``core.verdict_of``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import torch

from empirical.papers.goulart24.llm.baselines import BaselineSettings
from empirical.papers.goulart24.llm.benchmark import HELDOUT, META, BenchConfig, TaskResult, evaluate_llm, run_benchmark
from empirical.papers.goulart24.llm.metrics import (
    bootstrap_mean_ci,
    independent_ratio_ci,
    max_over,
    min_over,
    paired_diff_ci,
    ratio_ci,
    summarize,
)
from empirical.papers.goulart24.llm.suite import HELDOUT_TESTS, TASKS, MetaTraining, meta_sizes, meta_training
from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask as T
from empirical.papers.goulart24.llm.tasks import target_moments
from empirical.registry.core import Check, Control, Outcome, RunContext, SkipClaim

#: "comparable" is undefined in the paper; the 25 % band is the fact sheet's (claim 4).
COMPARABLE_RATIO = 1.25
#: "settles quickly": nMSE(c = 8) within 25 % of nMSE(c_max) (fact sheet claim 7, our reading; reported).
SETTLE_RATIO = 1.25
#: "stays accurate as n grows": nMSE(n = 5) <= 1.5 nMSE(n = 2) (fact sheet claim 9).
SCALING_RATIO = 1.5
CPLX_BASELINES = ("sgd_linear", "mlp", "cnn")
#: The paper's complex tasks (claim 5), as held-out tests of the judged learner.
CPLX_TASKS = ("nuclear_5x5", "top2_5x5")
#: Monte-Carlo sizes of claims 2 and 3 (the defaults of settings ``concentration_draws`` and
#: ``mean_predictor_prompts``). Claim 2 uses 2e5 draws, not the sheet's 2e4: see its note (the sheet's reference
#: stds are off by up to 2.1 %, which 2e4 draws cannot resolve).
CONCENTRATION_DRAWS = {"quick": 200_000, "full": 200_000}
MEAN_PREDICTOR_PROMPTS = {"quick": 4000, "full": 20_000}
#: Claim 2's matrices per batched SVD (setting ``concentration_batch``); claim 3's context sizes.
CONCENTRATION_BATCH = 2000
MEAN_PREDICTOR_CS = (1, 2, 4, 8, 32)
#: The fact sheet's per-comparison band for claim 3: 3 standard errors, i.e. a two-sided level of 0.27 %.
MEAN_PREDICTOR_SE_BAND = 3.0
#: Minimal overfitting worth the name (claim 8): 5 % of the mean predictor's nMSE, fixed before any run.
OVERFIT_MIN_EFFECT = 0.05
#: Claim 8's context sizes. The NN is fitted there on all (cheap_prompts) prompts: at 200 prompts its paired
#: minimal detectable excess was 0.11-0.79 (seed 0), 2-10x the 5 % effect; at 2000 it is about √10 smaller.
OVERFIT_CS = (2, 4, 8)
#: Claim 10's prompts for the models and the noisy oracle on the family tasks (the NN and CNN stay at ``prompts``).
#: Sized before judging, for 99 % power (z = 1.96 + 2.33) against the smallest fall of interest, the positive
#: control's own fall δ = τ (1/2 − 1/16) E[Var(y|θ)]/Var(y) (a learner whose error falls less than a quarter as
#: much as the context mean's is not credited with learning from the context): P = (4.29 SD/δ)² with SD the
#: per-prompt SD of nse(16) − nse(2) in a pilot (the family model, seed 0, 2000 prompts): pnorm δ = 0.0120,
#: SD 0.277 -> 9,879; Schatten 3x3 997; Schatten 5x5 2,140; top-2 5x5 1,953. At 2000 prompts the p-norm fall
#: (about 0.013 over seeds 0-4) was detected at 4 seeds of 5 (seed 2: interval [−0.015, 0.010]).
FAMILY_PROMPTS = 10_000
#: Learners that are controls, not competitors (benchmark module docstring).
ORACLE, RIDGELESS, RESEED = "oracle_noisy", "ridgeless", "mlp_reseed"
HELDOUT_INIT, FAMILY_INIT = "icl_heldout_at_init", "meta_family_at_init"


# -- settings per profile: the defaults of the named settings (RunContext.setting) the runners read --------------
def _settings(ctx: RunContext, prefix: str, quick: Any, full: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Each of ``names`` read through ``ctx.setting(prefix + name)``, its quick and full defaults the attributes (or
    keys) of ``quick`` and ``full``. Claims sharing the benchmark read the same names with the same defaults."""
    def get(obj: Any, name: str) -> Any:
        return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)

    return {k: ctx.setting(f"{prefix}{k}", get(quick, k), get(full, k)) for k in names}


#: :class:`BenchConfig` fields that are sizes, each the setting ``bench_<field>``; the per-prompt baselines' sizes
#: (:class:`BaselineSettings`) are the settings ``baseline_<field>``.
BENCH_SIZES = ("cs", "prompts", "cheap_prompts", "family_prompts")
BASELINE_SIZES = ("sgd_steps", "sgd_batch", "mlp_hidden", "mlp_steps", "cnn_channels", "cnn_steps")
#: The meta-trained models: one per regime, their sizes (suite.meta_sizes) the settings ``meta_<regime>.<size>``.
REGIMES = ("fixed", "family", "heldout")


def bench_config(profile: str) -> BenchConfig:
    """The benchmark of a profile at its default sizes (:func:`bench_settings` reads the sizes a run uses)."""
    tasks = TASKS["fixed"] + TASKS["family"]
    if profile == "quick":
        return BenchConfig(tasks=tasks, cs=(1, 2, 4, 8, 16), prompts=200, cheap_prompts=2000,
                           cnn_tasks=("nuclear_5x5", "top2_5x5", "schatten_5x5_family", "top2_5x5_family"),
                           reseed_tasks=("pnorm_n5_p0.5",), mlp_power_cs=OVERFIT_CS, family_prompts=FAMILY_PROMPTS)
    return BenchConfig(tasks=tasks, cs=(1, 2, 4, 8, 16, 32, 64), prompts=500, cheap_prompts=5000,
                       settings=BaselineSettings(mlp_steps=500, cnn_steps=500), reseed_tasks=("pnorm_n5_p0.5",),
                       mlp_power_cs=OVERFIT_CS, family_prompts=FAMILY_PROMPTS)


#: The LLM arm's prompts per c, and at claim 4's context sizes (c >= 8) on the vector task. Sized before any LLM
#: ran, from the power of its controls (a design analysis with the controls' estimators: a pool of 1500 prompts
#: per task on the quick grid c ∈ {2, 4, 8}, 100 random subsamples per size, the claim's judges): the noisy oracle
#: passes claims 5-7's rules with probability 0.35-0.40 at 8 prompts, 0.67-0.85 at 20, 0.96-1.00 at 40 and
#: 1.00 at 60; the NN refitted passes claim 4's 25 % band with probability 0.38 at 8, 0.52 at 20, 0.72 at 60,
#: 0.93 at 100 and 0.99 at 160. The full profile keeps the same sizes (not re-analysed for its larger c).
LLM_PROMPTS = 64
LLM_NN_PROMPTS = 160


def llm_config(profile: str) -> dict[str, Any]:
    """LLM arm: tiny instances at 2 decimals (fact sheet §6, §7); greedy decoding constrained to the answer's
    number grammar, plus a likelihood read-out over ``grid`` candidate answers. The defaults of the settings
    ``llm_<size>`` (:data:`LLM_SIZES`, read by :func:`llm_settings`)."""
    tasks = (T("pnorm", 5, p=0.5), T("nuclear", 2))
    sizes = {"prompts": LLM_PROMPTS, "nn_prompts": LLM_NN_PROMPTS, "decimals": 2, "max_new_tokens": 12}
    if profile == "quick":
        return {"tasks": tasks, "cs": (2, 4, 8), **sizes, "grid": 9}
    return {"tasks": tasks + (T("nuclear", 3),), "cs": (2, 4, 8, 16, 32), **sizes, "grid": 17}


#: The LLM arm's sizes read through settings ``llm_<name>``.
LLM_SIZES = ("cs", "prompts", "nn_prompts", "grid")


def llm_settings(ctx: RunContext) -> dict[str, Any]:
    """:func:`llm_config` of the run's profile with its sizes read through ``ctx.setting`` (``llm_cs``, ...)."""
    sizes = _settings(ctx, "llm_", llm_config("quick"), llm_config("full"), LLM_SIZES)
    return {**llm_config(ctx.profile), **sizes, "cs": tuple(sizes["cs"])}


def bench_settings(ctx: RunContext) -> BenchConfig:
    """:func:`bench_config` of the run's profile with every size read through ``ctx.setting`` (:data:`BENCH_SIZES`,
    :data:`BASELINE_SIZES`); at the defaults it equals ``bench_config(ctx.profile)``."""
    q, f, cfg = bench_config("quick"), bench_config("full"), bench_config(ctx.profile)
    sizes = _settings(ctx, "bench_", q, f, BENCH_SIZES)
    fits = _settings(ctx, "baseline_", q.settings, f.settings, BASELINE_SIZES)
    return replace(cfg, **{**sizes, "cs": tuple(sizes["cs"])}, settings=replace(cfg.settings, **fits))


def meta_settings(ctx: RunContext, regime: str) -> dict[str, int]:
    """The sizes of ``regime``'s meta-training (:func:`empirical.papers.goulart24.llm.suite.meta_sizes`), each read
    through ``ctx.setting("meta_<regime>.<size>")``."""
    q, f = (meta_sizes(meta_training(regime, p)) for p in ("quick", "full"))
    return _settings(ctx, f"meta_{regime}.", q, f, tuple(q))


# -- the shared benchmark (computed once per process and setting) -------------------------------------------
#: Why the full profile needs a GPU (ctx.require_cuda; a shrunk test turns the gate off).
FULL_PROFILE_CUDA = ("the full profile meta-trains three 4-layer E = 128 transformers (30k steps each) and fits "
                     "per-prompt networks on up to 5000 prompts per context size")


@dataclass(frozen=True)
class Bench:
    """The shared benchmark of a run: per-task results, the config, and per regime where its model came from
    (``origin``: a sentence; ``checkpoints``: :func:`empirical.checkpoints.load_or_train`'s info)."""

    results: dict[str, TaskResult]
    config: BenchConfig
    origin: dict[str, str]
    checkpoints: dict[str, dict[str, Any]]


_BENCH_CACHE: dict[tuple, Bench] = {}


def _load_or_train_meta(ctx: RunContext, regime: str, sizes: Mapping[str, int] | None = None):
    """(model, origin sentence, checkpoint info) of ``regime`` at ``sizes`` (default: read from the settings): the
    shipped model, one a run stored in ``<out>/checkpoints/goulart24/``, else trained now into it."""
    from empirical.papers.goulart24.llm.train_meta import load_or_train_meta

    ctx.require_cuda(FULL_PROFILE_CUDA)
    sizes = meta_settings(ctx, regime) if sizes is None else sizes
    model, info = load_or_train_meta(regime, ctx.profile, ctx.out_dir, sizes=sizes, device=str(ctx.device),
                                     progress=ctx.progress, retrain=ctx.retrain)
    origin = f"trained now ({info['path']})" if info["source"] == "trained" else f"loaded {info['path']}"
    return model, origin, {k: info[k] for k in ("source", "path", "recipe_sha256", "command", "metrics")}


def _at_init(regime: str, profile: str, sizes: Mapping[str, int] | None = None):
    """The regime's network exactly as its meta-training starts (same config and init seed), untrained."""
    from empirical.papers.goulart24.llm.meta_model import init_meta_model

    mt = meta_training(regime, profile, sizes)
    return init_meta_model(mt.model, mt.seed).eval()


def _bench(ctx: RunContext) -> Bench:
    """Every learner and control on every task of :func:`bench_settings`, computed once per process for the
    profile, seed, device, benchmark sizes and meta-model sizes (a shrunk run never reuses a full-size result).
    Thread count: the caller's (``icl-verify run --threads``)."""
    ctx.require_cuda(FULL_PROFILE_CUDA)
    cfg = bench_settings(ctx)
    sizes = {r: meta_settings(ctx, r) for r in REGIMES}
    too_short = {r: s["max_len"] for r, s in sizes.items() if s["max_len"] < max(cfg.cs) + 1}
    if too_short:
        raise ValueError(f"meta_<regime>.max_len: the benchmark's prompts hold max(bench_cs) + 1 = {max(cfg.cs) + 1} "
                         f"examples, more than the models' {too_short}")
    key = (ctx.profile, ctx.seed, str(ctx.device), repr(cfg), repr(sorted((r, sorted(s.items()))
                                                                         for r, s in sizes.items())))
    if key not in _BENCH_CACHE:
        loaded = {r: _load_or_train_meta(ctx, r, sizes[r]) for r in REGIMES}
        m = {r: model.cpu() for r, (model, _, _) in loaded.items()}
        models = {"fixed": {META: m["fixed"], HELDOUT: m["heldout"],
                            HELDOUT_INIT: _at_init("heldout", ctx.profile, sizes["heldout"])},
                  "family": {META: m["family"], FAMILY_INIT: _at_init("family", ctx.profile, sizes["family"])}}
        # The benchmark's seed is the run's seed (not the claim's): every claim reads the same prompts.
        _BENCH_CACHE[key] = Bench(run_benchmark(cfg, ctx.seed, models, progress=ctx.track), cfg,
                                  {r: o for r, (_, o, _) in loaded.items()},
                                  {r: info for r, (_, _, info) in loaded.items()})
    return _BENCH_CACHE[key]


def memory_estimate(cfg: BenchConfig, trainings: Mapping[str, MetaTraining]) -> dict[str, int]:
    """Peak tensor bytes of the benchmark claims' phases that grow with the profile's sizes: one meta-training step
    of each regime's model (batch = per_task x the regime's tasks;
    :func:`~empirical.papers.goulart24.llm.meta_model.training_step_bytes`) and the largest per-prompt network fit of
    the benchmark (:func:`~empirical.papers.goulart24.llm.baselines.fit_bytes` over
    :func:`~empirical.papers.goulart24.llm.benchmark.baseline_fits`). The rest
    (forward passes in batches of 256, closed-form baselines) is of the order of one task's drawn prompts,
    family_prompts x (c_max + 1) x (d + k) float64 numbers and their float32 encoding (about 0.2 GB at the full
    profile's sizes)."""
    from empirical.papers.goulart24.llm.baselines import fit_bytes
    from empirical.papers.goulart24.llm.benchmark import baseline_fits
    from empirical.papers.goulart24.llm.meta_model import training_step_bytes

    out = {f"meta_{r}_training_step": training_step_bytes(mt.model, mt.per_task * len(TASKS[r]))
           for r, mt in trainings.items()}
    for net in ("mlp", "cnn"):
        sizes = [fit_bytes(net, n, c, t.d_in, t.k_out, cfg.settings) for t, c, b, n in baseline_fits(cfg)
                 if b in (net, f"{net}_reseed")]
        out[f"{net}_fit"] = max(sizes, default=0)
    return out


def benchmark(ctx: RunContext) -> tuple[dict[str, TaskResult], BenchConfig, dict[str, str]]:
    """(results, config, origin of each meta model) of the shared benchmark (:func:`_bench`)."""
    b = _bench(ctx)
    return b.results, b.config, b.origin


# -- judging a learner and its controls with the same checks ------------------------------------------------
Judge = Callable[[str, np.random.Generator], tuple[list[Check], dict[str, Any]]]


@dataclass(frozen=True)
class ControlSpec:
    """A control: which learner of the benchmark stands in for the judged one, and why its answer is known."""

    name: str
    role: str
    learner: str
    description: str


_CONTROL_TEXT = {
    ORACLE: "the exact function plus noise of known size: a quarter of the context mean's expected error, "
            "τ (1 + 1/c) E[Var(y|θ)]/Var(y) with τ = 0.25, by construction (one normal draw per prompt shared by "
            "all c), so it beats the mean predictor and every learner worse than that, and its error falls and "
            "levels off like 1/c",
    "mean": "the context-mean predictor: nMSE = 1 + 1/c exactly for i.i.d. targets (claim mean_predictor_mse), "
            "a curve that falls and then levels off",
    RIDGELESS: "minimum-norm least squares: its error rises towards the interpolation threshold c = d (the "
               "targets are even in x, so linear features only add variance)",
    RESEED: "the same 2-layer NN refitted from another initialisation: its expected nMSE is the NN's own, "
            "the ratio is 1 up to sampling",
    HELDOUT_INIT: "the held-out network before meta-training (same architecture, encoding and init seed): "
                  "it has learned nothing",
    FAMILY_INIT: "the function-family network before meta-training (same architecture and init seed)",
}


def _spec(role: str, learner: str) -> ControlSpec:
    return ControlSpec(f"{role}_{learner}", role, learner, _CONTROL_TEXT[learner])


def _controls(judge: Judge, specs: list[ControlSpec], ctx: RunContext) -> list[Control]:
    """Each control through the judge (own bootstrap stream each)."""
    out = []
    for spec in specs:
        checks, rows = judge(spec.learner, ctx.rng("boot", spec.learner))
        out.append(Control(spec.name, spec.role, spec.description, checks, measured=rows))  # type: ignore[arg-type]
    return out


def _judged(judge: Judge, learner: str, controls: list[ControlSpec], ctx: RunContext
            ) -> tuple[list[Check], dict[str, Any], list[Control]]:
    """The learner's checks and rows, and its controls through the same judge."""
    checks, rows = judge(learner, ctx.rng("boot", learner))
    return checks, rows, _controls(judge, controls, ctx)


def _present(res: dict[str, TaskResult], names, learner: str) -> list[str]:
    return [n for n in names if n in res and learner in res[n].errors]


def _diff(tr: TaskResult, a: str, b: str, c: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Paired nMSE_a − nMSE_b at c and its 95 % bootstrap interval, on the learners' common prompts."""
    return paired_diff_ci(*tr.paired(a, b, c), rng)


def _vs_mean(tr: TaskResult, learner: str, c: int, rng: np.random.Generator) -> dict[str, Any]:
    a, m = tr.paired(learner, "mean", c)
    d, lo, hi = paired_diff_ci(a, m, rng)
    return {"nmse": float(a.mean()), "nmse_mean_predictor": float(m.mean()), "theory_mean": 1 + 1 / c,
            "diff_ci": [lo, hi], "beats_mean_predictor": bool(hi < 0), "prompts": int(a.size)}


#: Controls left out of the learning-curve figures (an untrained network's error dwarfs every other curve).
_NOT_PLOTTED = (HELDOUT_INIT, FAMILY_INIT, RESEED)


def _summary(tr: TaskResult, ctx: RunContext, *, plotted: bool = False) -> dict[str, Any]:
    """Per-learner summaries with bootstrap intervals; ``plotted``: only the learners a figure draws."""
    if plotted:
        tr = TaskResult(tr.task, tr.var, tr.cs, {k: v for k, v in tr.errors.items() if k not in _NOT_PLOTTED})
    return tr.summary(ctx.child_seed("summary"))


# -- claims 1-3: theory and Monte Carlo ---------------------------------------------------------------------
def scale_homogeneity(ctx: RunContext) -> Outcome:
    from theory.matrix_functions import entrywise_p_norm, nuclear_norm, p_norm, schatten_norm, top_k_singular_values

    g = ctx.generator("inputs")
    x = 2 * torch.rand(200, 5, generator=g, dtype=torch.float64) - 1
    A = 2 * torch.rand(200, 5, 5, generator=g, dtype=torch.float64) - 1
    fns = {
        "p_norm_p0.5": lambda t: p_norm(t * x, 0.5), "p_norm_p1": lambda t: p_norm(t * x, 1.0),
        "p_norm_p2": lambda t: p_norm(t * x, 2.0), "p_norm_p3.7": lambda t: p_norm(t * x, 3.7),
        "entrywise_p0.5": lambda t: entrywise_p_norm(t * A, 0.5), "nuclear": lambda t: nuclear_norm(t * A),
        "schatten_2": lambda t: schatten_norm(t * A, 2.0), "schatten_inf": lambda t: schatten_norm(t * A, math.inf),
        "top3": lambda t: top_k_singular_values(t * A, 3),
    }
    worst: dict[str, float] = {}
    for name, f in fns.items():
        base = f(1.0)
        worst[name] = max(float(((f(t) - abs(t) * base).abs() / (abs(t) * base.abs())).max())
                          for t in (-100.0, 0.01, 100.0))
    return Outcome(
        checks=[Check("max_rel_dev_f(tx)_vs_|t|f(x)", max(worst.values()), "<=", 1e-12,
                      "float64 round-off of |x|^p sums and SVDs (fact sheet claim 1)")],
        measured={"per_function": worst},
        notes=["Consequence: errors computed at a = 1 convert exactly to a = 100 (×100; MSE ×10⁴)."],
        config={"t": [-100.0, 0.01, 100.0], "inputs": "200 vectors (n=5) and 5×5 matrices, U[-1, 1]"},
    )


#: Fact sheet §2 "Derived facts" at a = 100 (Monte Carlo, approximate): (mean, std).
_NUCLEAR_REF = {2: (139.0, 38.7), 3: (255.0, 44.5), 5: (546.0, 57.3), 10: (1547.0, 81.0), 20: (4378.0, 115.0),
                40: (12381.0, 162.0)}
_PNORM05_REF = (1136.0, 346.0)


def _moments(y: torch.Tensor) -> dict[str, float]:
    """Mean, std and their standard errors for draws y (N,): SE(mean) = s/√N, SE(s)/s = √((κ − 1)/(4N))."""
    n, m, s = y.numel(), float(y.mean()), float(y.std())
    kurt = float(((y - m) ** 4).mean()) / s**4
    return {"mean": m, "std": s, "se_mean": s / math.sqrt(n), "se_std": s * math.sqrt((kurt - 1) / (4 * n))}


def max_abs_interval(devs: list[float], ses: list[float], level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """max_i |d_i| and its interval from simultaneous Šidák intervals d_i ± z SE_i (joint coverage ``level``):
    (max_i |d_i|, (max_i distance of interval i from 0, max_i (|d_i| + z SE_i)))."""
    z = NormalDist().inv_cdf(1 - (1 - level ** (1 / len(devs))) / 2)
    lo = max(max(0.0, abs(d) - z * se) for d, se in zip(devs, ses, strict=True))
    return max(abs(d) for d in devs), (lo, max(abs(d) + z * se for d, se in zip(devs, ses, strict=True)))


#: A sample's mean, std and their standard errors (:func:`_moments`).
Moments = dict[str, float]


def _concentration_checks(sized: dict[int, Moments], refs: dict[int, tuple[float, float]],
                          law: Callable[[int], float], extra: list[tuple[Moments, float, float]]) -> list[Check]:
    """Claim 2's checks on measured moments: means and stds (per size and the ``extra`` rows) against their
    references, the mean law against the measured means, and a CV that falls with n."""
    both = [(mo, *refs[n]) for n, mo in sized.items()] + extra
    mean_dev = max_abs_interval([mo["mean"] / m - 1 for mo, m, _ in both], [mo["se_mean"] / m for mo, m, _ in both])
    std_dev = max_abs_interval([mo["std"] / sd - 1 for mo, _, sd in both], [mo["se_std"] / sd for mo, _, sd in both])
    law_dev = max_abs_interval([law(n) / mo["mean"] - 1 for n, mo in sized.items()],
                               [law(n) * mo["se_mean"] / mo["mean"] ** 2 for n, mo in sized.items()])
    cvs = [sized[n]["std"] / sized[n]["mean"] for n in sorted(sized)]
    simultaneous = "simultaneous 95 % interval (Šidák over the sizes) from the draws' standard errors"
    return [
        Check("max_rel_dev_mean_vs_fact_sheet", mean_dev[0], "<=", 0.01, f"fact sheet: 1 %; {simultaneous}",
              interval=mean_dev[1]),
        Check("max_rel_dev_std_vs_fact_sheet", std_dev[0], "<=", 0.03, f"fact sheet: 3 %; {simultaneous}",
              interval=std_dev[1]),
        Check("max_rel_dev_quarter_circle_law", law_dev[0], "<=", 0.02, f"fact sheet: within 2 % for n >= 2; "
              f"{simultaneous}", interval=law_dev[1]),
        Check("cv_monotone_decreasing_violations", float(sum(b >= a for a, b in zip(cvs, cvs[1:], strict=False))),
              "<=", 0.0, "concentration: CV falls with n (∝ 1/n)"),
    ]


def _quarter_circle_mean(n: int) -> float:
    """E‖A‖_* ≈ (8/(3π)) n^{3/2} σ for i.i.d. entries of std σ = a/√3, a = 100 (fact sheet §2)."""
    return 8 / (3 * math.pi) * n**1.5 * 100 / math.sqrt(3)


#: |x| for x ~ U[−100, 100] is U[0, 100]: mean 50, std 100/√12 (the positive control's exact moments).
_ABS_MEAN, _ABS_STD = 50.0, 100.0 / math.sqrt(12.0)


def _uniform(g: torch.Generator, *shape: int) -> torch.Tensor:
    return 100.0 * (2 * torch.rand(*shape, generator=g, dtype=torch.float64) - 1)


def target_concentration(ctx: RunContext) -> Outcome:
    from theory.matrix_functions import nuclear_norm, p_norm

    draws = ctx.setting("concentration_draws", CONCENTRATION_DRAWS["quick"], CONCENTRATION_DRAWS["full"])
    batch = ctx.setting("concentration_batch", CONCENTRATION_BATCH, CONCENTRATION_BATCH)
    g = ctx.generator("draws")
    nuclear: dict[int, torch.Tensor] = {}
    for n in ctx.track(list(_NUCLEAR_REF), "sizes"):
        nuclear[n] = torch.cat([nuclear_norm(_uniform(g, min(batch, draws - start), n, n))
                                for start in range(0, draws, batch)])
    vec = p_norm(_uniform(g, draws, 5), 0.5)
    sized = {n: _moments(y) for n, y in nuclear.items()}
    rows = {n: {**mo, "cv": mo["std"] / mo["mean"], "quarter_circle_mean": _quarter_circle_mean(n),
                "ref_mean": _NUCLEAR_REF[n][0], "ref_std": _NUCLEAR_REF[n][1]} for n, mo in sized.items()}
    checks = _concentration_checks(sized, _NUCLEAR_REF, _quarter_circle_mean, [(_moments(vec), *_PNORM05_REF)])
    # Positive control: ℓ1 norms of n entries (sums of n i.i.d. U[0, 100]) have exact moments: mean 50 n,
    # std (100/√12) √n, and "law" 50 n; |x| (n = 1) stands in for the vector row.
    gp = ctx.generator("positive")
    l1 = {n: _moments(_uniform(gp, draws, n).abs().sum(-1)) for n in _NUCLEAR_REF}
    l1_refs = {n: (_ABS_MEAN * n, _ABS_STD * math.sqrt(n)) for n in _NUCLEAR_REF}
    positive = _concentration_checks(l1, l1_refs, lambda n: _ABS_MEAN * n,
                                     [(_moments(_uniform(gp, draws).abs()), _ABS_MEAN, _ABS_STD)])
    # Negative control: the same draws times an independent output scale s ~ U[0.5, 2] (the family regime's):
    # their spread does not concentrate (CV >= CV(s) ≈ 0.35) and their means are 1.25x the sheet's.
    gn = ctx.generator("negative")
    scaled = {n: _moments(y * (0.5 + 1.5 * torch.rand(y.shape, generator=gn, dtype=torch.float64)))
              for n, y in nuclear.items()}
    negative = _concentration_checks(scaled, _NUCLEAR_REF, _quarter_circle_mean, [(_moments(
        vec * (0.5 + 1.5 * torch.rand(vec.shape, generator=gn, dtype=torch.float64))), *_PNORM05_REF)])
    return Outcome(
        checks=checks,
        controls=[Control("positive_l1_norms", "positive", "the same checks on ℓ1 norms of n uniform entries, whose "
                          "moments are known exactly (mean 50 n, std 28.87 √n, law 50 n; |x| for the vector row): "
                          "every check holds by construction", positive,
                          measured={str(n): mo for n, mo in l1.items()}),
                  Control("negative_random_output_scale", "negative", "the claim's own draws times an independent "
                          "output scale s ~ U[0.5, 2]: means 25 % above the sheet's and a spread that does not "
                          "concentrate (CV >= 0.35), so the sheet's moments fail", negative,
                          measured={str(n): mo for n, mo in scaled.items()})],
        measured={"nuclear_norm": {str(n): r for n, r in rows.items()}, "pnorm_n5_p0.5": _moments(vec)},
        notes=["Even the mean predictor's relative error shrinks with n: 'scalability' must be judged on nMSE.",
               f"{draws:,} draws per size, not the sheet's 2e4: the sheet's reference stds are themselves approximate "
               "(measured with 2e5 draws: 2x2 −2.0 %, 3x3 +1.7 %, 20x20 −2.1 %, 40x40 −1.7 % off), which leaves "
               "0.9 % of the 3 % band; the sheet's '≥ 4 standard errors of slack' then needs SE(std) <= 0.22 %, "
               "i.e. >= 1e5 draws (2e4 draws gave max deviations 2.1-3.05 % over seeds 0-3, one beyond 3 %).",
               "Controls: exact-moment ℓ1 norms (positive) and the same draws with a random output scale "
               "(negative), through the same checks."],
        config={"draws": draws, "a": 100.0, "sizes": list(_NUCLEAR_REF)},
    )


def sidak_band(m: int, per_comparison_z: float = MEAN_PREDICTOR_SE_BAND) -> float:
    """The |z| band for m two-sided comparisons that together reject a true identity as rarely as one
    comparison at ±``per_comparison_z`` does (Šidák).

    α_F = 2(1 − Φ(z₀)) is the sheet's per-comparison level, now for the whole family; each comparison gets
    α₁ = 1 − (1 − α_F)^{1/m}, so P(all m within the band) = (1 − α₁)^m = 1 − α_F for independent z's (and at
    least that for z's with positive dependence, Šidák 1967); z* = Φ⁻¹(1 − α₁/2). m = 30, z₀ = 3: z* ≈ 3.92.
    """
    if m < 1:
        raise ValueError(f"m: expected >= 1 comparisons, got {m}")
    nd = NormalDist()
    alpha_family = 2 * (1 - nd.cdf(per_comparison_z))
    return nd.inv_cdf(1 - (1 - (1 - alpha_family) ** (1 / m)) / 2)


def mean_predictor_null_se(mom: dict[str, torch.Tensor], c: int, prompts: int) -> tuple[float, float]:
    """(SE of the mean of ``prompts`` per-prompt nse of the context mean under i.i.d. targets, SE added by the
    normaliser's own Monte Carlo), from the law's moments (:func:`empirical.papers.goulart24.llm.tasks.target_moments`).

    With e = ȳ_c − y (k,): Cov(e) = C (1 + 1/c); the joint fourth cumulant is κ_iijj(e) = κ_iijj(y)(1 + 1/c³),
    κ_iijj(y) = m22_ij − V_i V_j − 2 C_ij²; so Cov(e_i², e_j²) = κ_iijj(e) + 2 Cov(e)_ij² and
    Var(nse) = Σ_ij Cov(e_i², e_j²) / (k² V_i V_j). The normaliser V̂ (N draws) has
    Cov(V̂_i, V̂_j) ≈ (m22_ij − V_i V_j)/N, which moves nMSE = (1/k) Σ_i MSE_i / V̂_i by the delta method.
    Neither SE is estimated from the sample being tested (that one's SE falls with its mean: a skewed z).
    """
    V, C, m22, N = mom["var"], mom["cov"], mom["m22"], float(mom["draws"])
    k = V.numel()
    VV = V[:, None] * V[None, :]
    kappa4 = m22 - VV - 2 * C**2
    cov_sq = kappa4 * (1 + 1 / c**3) + 2 * (C * (1 + 1 / c)) ** 2
    var_nse = float((cov_sq / VV).sum()) / k**2
    var_norm = 0.0 if math.isinf(N) else float(((1 + 1 / c) ** 2 * (m22 - VV) / VV).sum()) / (k**2 * N)
    return math.sqrt(var_nse / prompts), math.sqrt(var_norm)


Predictor = Callable[[torch.Tensor, int], torch.Tensor]


def _context_mean(Y: torch.Tensor, c: int) -> torch.Tensor:
    return Y[:, :c].mean(1)


def _off_by_one_mean(Y: torch.Tensor, c: int) -> torch.Tensor:
    """The negative control: the mean of the first c − 1 demonstrations (nMSE = 1 + 1/(c − 1), c >= 2)."""
    return Y[:, : c - 1].mean(1)


def _mean_predictor_rows(Y: torch.Tensor, mom: dict[str, torch.Tensor], cs: tuple[int, ...],
                         predict: Predictor) -> dict[str, dict[str, float]]:
    """Per c: nMSE of ``predict`` on targets Y (P, L, k), its null SE, z against 1 + 1/c, and the sample-SE z
    the claim used before (recorded for comparison)."""
    rows = {}
    P = Y.shape[0]
    for c in cs:
        nse = (((predict(Y, c) - Y[:, c]) ** 2) / mom["var"]).mean(-1)
        m, theory = float(nse.mean()), 1 + 1 / c
        se_mc, se_norm = mean_predictor_null_se(mom, c, P)
        se = math.hypot(se_mc, se_norm)
        se_sample = float(nse.std() / math.sqrt(P))
        rows[str(c)] = {"nmse": m, "theory_iid": theory, "se": se, "se_sampling": se_mc, "se_normaliser": se_norm,
                        "z": (m - theory) / se, "se_sample": se_sample, "z_sample_se": (m - theory) / se_sample}
    return rows


def _max_abs_z(per_task: dict[str, dict[str, dict[str, float]]]) -> tuple[float, int]:
    zs = [abs(r["z"]) for rows in per_task.values() for r in rows.values()]
    return max(zs), len(zs)


def _mean_predictor_check(per_task: dict[str, dict[str, dict[str, float]]], z_star: float, m: int) -> Check:
    worst, _ = _max_abs_z(per_task)
    return Check(f"max |z| of nMSE − (1 + 1/c) over {m} (task, c) comparisons", worst, "<=", z_star,
                 f"the sheet's 3 SE (two-sided level {2 * (1 - NormalDist().cdf(MEAN_PREDICTOR_SE_BAND)):.2%}) "
                 f"held by the family of {m} comparisons (Šidák: each at ±{z_star:.2f}); SE from the law's exact "
                 "moments plus the Monte-Carlo error of the Var_task normaliser")


def mean_predictor_mse(ctx: RunContext) -> Outcome:
    cs = tuple(ctx.setting("mean_predictor_cs", MEAN_PREDICTOR_CS, MEAN_PREDICTOR_CS))
    P = ctx.setting("mean_predictor_prompts", MEAN_PREDICTOR_PROMPTS["quick"], MEAN_PREDICTOR_PROMPTS["full"])
    judged, reported, off_by_one = {}, {}, {}
    for task in ctx.track(TASKS["fixed"] + TASKS["family"], "tasks"):
        mom = target_moments(task)
        Y = task.sample(P, max(cs) + 1, ctx.generator("prompts", task.name)).Y
        if task.regime == "fixed":  # i.i.d. targets: the identity applies
            judged[task.name] = _mean_predictor_rows(Y, mom, cs, _context_mean)
            off_by_one[task.name] = _mean_predictor_rows(Y, mom, tuple(c for c in cs if c >= 2), _off_by_one_mean)
        else:
            reported[task.name] = _mean_predictor_rows(Y, mom, cs, _context_mean)
    m = sum(len(r) for r in judged.values())
    z_star = sidak_band(m)
    exact = {"var": torch.ones(1), "cov": torch.ones(1, 1), "m22": torch.full((1, 1), 3.0),
             "draws": torch.tensor(math.inf)}  # N(0, 1): V = 1, E e⁴ = 3, no normaliser to estimate
    gauss = {f"gaussian_{i}": _mean_predictor_rows(torch.randn(P, max(cs) + 1, 1, generator=ctx.generator("gauss", i),
                                                               dtype=torch.float64), exact, cs, _context_mean)
             for i in range(len(judged))}
    controls = [
        Control("positive_gaussian_targets", "positive", f"the same pipeline on {len(gauss)} samples of i.i.d. "
                "N(0, 1) targets with their exact variance: the identity holds and every SE is exact",
                [_mean_predictor_check(gauss, z_star, m)], measured={"per_sample": gauss}),
        Control("negative_off_by_one", "negative", "the mean of the first c − 1 demonstrations (c >= 2) on the same "
                "prompts: its nMSE is 1 + 1/(c − 1), not 1 + 1/c",
                [_mean_predictor_check(off_by_one, z_star, m)], measured={"per_task": off_by_one}),
    ]
    return Outcome(
        checks=[_mean_predictor_check(judged, z_star, m)],
        measured={"per_task": judged, "family_regime_reported": reported, "z_star": z_star, "comparisons": m,
                  "max_abs_z": _max_abs_z(judged)[0],
                  "within_uncorrected_3se": _max_abs_z(judged)[0] <= MEAN_PREDICTOR_SE_BAND},
        controls=controls,
        notes=["E(y − ȳ_c)² = Var(y)(1 + 1/c) for i.i.d. targets (fixed regime): the line every learner must beat.",
               "Why the sample-SE z-scores leaned negative (seed 0: max |z| 3.27, all three beyond 3 negative): "
               "(1) the normaliser: Var_task from 1e5 fixed-seed draws differs from a 2e6-draw estimate by −0.6 % "
               "… +0.7 % (nuclear 3x3 +0.66 %: every z of that task moves by about −0.3); its Monte-Carlo error "
               "is now part of the SE. (2) the studentisation: squared errors are right-skewed, so a sample with a "
               "low mean also has a low SD, and (mean − theory)/SD_sample has a heavy left tail; the SE now comes "
               "from the law's exact moments. Measured over seeds 0-29 x 30 comparisons: sample-SE z, 7 below −3 "
               "and 1 above +3; null-SE z, 0 below −3 and 1 above +3 (SD 0.995). Nested splits are not a cause: "
               "Cov(ȳ_c − y_c, ȳ_c' − y_c') = 0 for c < c', and the per-c SEs matched the spread of the means "
               "across seeds.",
               f"Multiple comparisons: the sheet's band (3 SE, two-sided level 0.27 %) is applied to the family of "
               f"{m} comparisons by Šidák's rule, |z| <= {z_star:.2f} for each (derivation in sidak_band); "
               "without it a true identity fails about 8 % of seeds.",
               "Family regime: targets of one prompt share the parameter θ, so the mean predictor's nMSE is "
               "(1 + 1/c)·E[Var(y|θ)]/Var(y), far below 1 + 1/c (measured values recorded, not judged); the "
               "benchmark claims therefore compare with the measured mean predictor, never with 1 + 1/c alone."],
        config={"cs": cs, "prompts": P, "per_comparison_band_se": MEAN_PREDICTOR_SE_BAND},
    )


# -- claims 4-10: the benchmark ----------------------------------------------------------------------------
def _judge_nn_comparable(res: dict[str, TaskResult], cs: list[int]) -> Judge:
    """Claim 4's rule: for every c in ``cs``, the 95 % interval of nMSE_mlp / nMSE_learner lies below 1.25."""
    tr = res["pnorm_n5_p0.5"]

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for c in cs:
            r, lo, hi = ratio_ci(*tr.paired("mlp", learner, c), rng)
            rows[str(c)] = {"nmse_mlp_over_learner": [r, lo, hi], "learner_vs_mean": _vs_mean(tr, learner, c, rng)}
            checks.append(Check(f"c={c}: nMSE_mlp / nMSE_learner", r, "<=", COMPARABLE_RATIO,
                                "'comparable': a 25 % band (fact sheet claim 4; undefined in the paper); paired "
                                "bootstrap 95 % interval", interval=(lo, hi)))
        return checks, rows

    return judge


def simple_task(ctx: RunContext) -> Outcome:
    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    c_min = ctx.setting("nn_comparable_c_min", 8, 32)
    cs = [c for c in cfg.cs if c >= c_min]
    judge = _judge_nn_comparable(res, cs)
    checks, rows, controls = _judged(judge, HELDOUT, [_spec("positive", RESEED), _spec("negative", ORACLE)], ctx)
    tr = res["pnorm_n5_p0.5"]
    return Outcome(checks=checks, controls=controls,
                   measured={"per_c": rows, "memorised_R1_reference": judge(META, ctx.rng("boot", META))[1],
                             "summary": _summary(tr, ctx), "meta_models": origin,
                             "checkpoint": b.checkpoints["heldout"]},
                   notes=["Learner: icl_heldout, meta-trained without any p in [0.4, 0.625]; p = 0.5 is unseen. The "
                          "negative control (the noisy oracle) is false only while the NN's nMSE exceeds "
                          "1.25 τ (1 + 1/c); its measured ratio is recorded.",
                          _c_min_note(ctx, c_min)],
                   config={"task": tr.task.name, "cs": cs, "prompts": cfg.prompts})


def _c_min_note(ctx: RunContext, c_min: int) -> str:
    """Which context sizes claim 4 judges, in the profile that ran."""
    if ctx.quick:
        return f"Quick profile judges c >= {c_min} (the fact sheet's c >= 32 needs the full profile)."
    sheet = ("the fact sheet's c >= 32" if c_min >= 32
             else "below the fact sheet's c >= 32 (setting nn_comparable_c_min)")
    return f"Full profile judges c >= {c_min}, {sheet}."


def _judge_beats_baselines(res: dict[str, TaskResult], names: list[str], cs: tuple[int, ...]) -> Judge:
    """Claim 5's rule: for every task, baseline and c, the paired 95 % interval of nMSE_learner − nMSE_baseline
    lies below 0 (one check per task and baseline, :func:`max_over` the c's)."""

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for name in _present(res, names, learner):
            tr = res[name]
            for b in [b for b in CPLX_BASELINES if b in tr.errors]:
                cis = [_diff(tr, learner, b, c, rng) for c in cs]
                rows.setdefault(name, {})[b] = {str(c): list(ci) for c, ci in zip(cs, cis, strict=True)}
                est, interval = max_over(cis)
                checks.append(Check(f"{name}: every c: nMSE_learner − nMSE_{b}", est, "<", 0.0,
                                    "paired bootstrap 95 % CI below 0 at every c (fact sheet claim 5); interval: the "
                                    "largest lower and upper bound over c", interval=interval))
            rows.setdefault(name, {})["learner_vs_mean"] = {str(c): _vs_mean(tr, learner, c, rng) for c in cs}
        return checks, rows

    return judge


def complex_tasks(ctx: RunContext) -> Outcome:
    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    names = _present(res, CPLX_TASKS, HELDOUT)
    judge = _judge_beats_baselines(res, names, cfg.cs)
    checks, rows, controls = _judged(judge, HELDOUT, [_spec("positive", ORACLE), _spec("negative", HELDOUT_INIT)],
                                     ctx)
    family = _present(res, ("schatten_5x5_family", "top2_5x5_family"), META)
    return Outcome(checks=checks, controls=controls,
                   measured={"paired_diff_nmse": rows, "meta_models": origin, "checkpoint": b.checkpoints["heldout"],
                             "memorised_R1_reference": judge(META, ctx.rng("boot", "R1"))[1],
                             "function_family_R2_reference": _judge_beats_baselines(res, family, cfg.cs)(
                                 META, ctx.rng("boot", "R2"))[1]},
                   notes=["Learner: icl_heldout, which never met the nuclear norm (no Schatten q in [0.8, 1.25]) "
                          "nor the top window (σ_1, σ_2) of the spectrum in meta-training. The R1 model (trained on "
                          "these very functions) and the R2 model (in its own family) are recorded, not judged: "
                          "they measure function approximation, not in-context learning.",
                          f"Paired over the first {cfg.prompts} prompts (the NN and CNN are fitted on those)."],
                   config={"tasks": names, "cs": cfg.cs, "prompts": cfg.prompts})


def _judge_beats_mean(res: dict[str, TaskResult], names: list[str], cs: list[int]) -> Judge:
    """Claim 6's rule: for every task and c in ``cs``, the paired interval of nMSE_learner − nMSE_mean < 0."""

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for name in _present(res, names, learner):
            rows[name] = {str(c): _vs_mean(res[name], learner, c, rng) for c in cs}
            cis = [(r["nmse"] - r["nmse_mean_predictor"], *r["diff_ci"]) for r in rows[name].values()]
            est, interval = max_over(cis)
            checks.append(Check(f"{name}: every c >= {min(cs)}: nMSE_learner − nMSE_mean", est, "<", 0.0,
                                "paired bootstrap 95 % CI below 0 (fact sheet claim 6)", interval=interval))
        return checks, rows

    return judge


def _heldout_tests(res: dict[str, TaskResult]) -> list[str]:
    return _present(res, [t.name for t in HELDOUT_TESTS], HELDOUT)


def beats_mean(ctx: RunContext) -> Outcome:
    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    names = _heldout_tests(res)
    judge = _judge_beats_mean(res, names, [c for c in cfg.cs if c >= 4])
    checks, rows, controls = _judged(judge, HELDOUT, [_spec("positive", ORACLE), _spec("negative", HELDOUT_INIT)],
                                     ctx)
    return Outcome(checks=checks, controls=controls,
                   measured={"per_task": rows, "memorised_R1_reference": judge(META, ctx.rng("boot", META))[1],
                             "meta_models": origin, "checkpoint": b.checkpoints["heldout"]},
                   notes=["Learner: icl_heldout on the paper's functions, none of which it met in meta-training; "
                          "it is given no statistic of them (relative encoding), so it cannot beat the context mean "
                          "by knowing E[y] in advance, which the R1 model (recorded) can."],
                   config={"tasks": names, "cs": cfg.cs, "prompts": cfg.all_prompts})


def _curve_points(cs: tuple[int, ...]) -> tuple[int, int, int]:
    """(c_first, c_knee, c_max): the early segment c_first -> c_knee and the late one c_knee -> c_max; the knee
    is the sheet's c = 8 when it lies strictly inside the grid, else the middle context size."""
    grid = sorted(cs)
    if len(grid) < 3:
        raise ValueError(f"cs: a learning-curve shape needs >= 3 context sizes, got {cs}")
    knee = 8 if 8 in grid[1:-1] else grid[len(grid) // 2]
    return grid[0], knee, grid[-1]


def curve_contrasts(e_first: np.ndarray, e_knee: np.ndarray, e_max: np.ndarray, c_first: int, c_knee: int,
                    c_max: int) -> dict[str, np.ndarray]:
    """Per-prompt contrasts (P,) of a learning curve sampled at three context sizes.

    ``falls`` = e(c_knee) − e(c_first) (< 0: the error fell); with the fall per added example
    s_early = (e(c_first) − e(c_knee)) / (c_knee − c_first) and s_late = (e(c_knee) − e(c_max)) / (c_max − c_knee):
    ``slows`` = s_early − s_late (> 0: the late fall is slower) and ``no_late_rise`` = s_early + s_late (> 0: any
    late rise is slower than the early fall). Both > 0 means |s_late| < s_early: the curve levels off."""
    s_early = (e_first - e_knee) / (c_knee - c_first)
    s_late = (e_knee - e_max) / (c_max - c_knee)
    return {"falls": e_knee - e_first, "slows": s_early - s_late, "no_late_rise": s_early + s_late}


_CURVE_RULES = {"falls": ("<", "the error falls from c_first to c_knee"),
                "slows": (">", "levels off: the late fall per example is smaller than the early one"),
                "no_late_rise": (">", "levels off: no late rise as steep as the early fall")}


def _judge_curve(res: dict[str, TaskResult], names: list[str], cs: tuple[int, ...]) -> Judge:
    """Claim 7's rule: per task, each part of 'falls, then levels off' detected (95 % interval excludes 0)."""
    c1, ck, cm = _curve_points(cs)

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for name in _present(res, names, learner):
            e = res[name].errors[learner]
            contrasts = curve_contrasts(*_first_common(e[c1].nse, e[ck].nse, e[cm].nse), c1, ck, cm)
            rows[name] = {"nmse": {str(c): float(e[c].nse.mean()) for c in cs}}
            for part, v in contrasts.items():
                lo, hi = bootstrap_mean_ci(v, rng)
                op, what = _CURVE_RULES[part]
                rows[name][part] = [float(v.mean()), lo, hi]
                checks.append(Check(f"{name}: {part} (c = {c1} -> {ck} -> {cm})", float(v.mean()), op, 0.0,
                                    f"{what}; per-prompt contrast, bootstrap 95 % interval excludes 0",
                                    interval=(lo, hi)))
        return checks, rows

    return judge


def _first_common(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays (P_i,) cut to their common first prompts (a learner may hold more prompts at some c)."""
    n = min(a.size for a in arrays)
    return [a[:n] for a in arrays]


def _settle_ratios(tr: TaskResult, c_knee: int, c_max: int, rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    """The sheet's reading of 'quickly' for every learner: nMSE(c_knee) / nMSE(c_max) with a paired interval, and
    whether its upper bound is within :data:`SETTLE_RATIO` (recorded, not judged: a growing curve passes it)."""
    out = {}
    for name, e in tr.errors.items():
        r, lo, hi = ratio_ci(*_first_common(e[c_knee].nse, e[c_max].nse), rng)
        out[name] = {"ratio": [r, lo, hi], "upper_within_sheet_band": bool(hi <= SETTLE_RATIO)}
    return out


def fast_convergence(ctx: RunContext) -> Outcome:
    from empirical.papers.goulart24.plots import plot_error_vs_examples

    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    names = _heldout_tests(res)
    c1, ck, cm = _curve_points(cfg.cs)
    checks, rows, controls = _judged(_judge_curve(res, names, cfg.cs), HELDOUT,
                                     [_spec("positive", "mean"), _spec("negative", RIDGELESS)], ctx)
    figs = [plot_error_vs_examples(_summary(tr, ctx, plotted=True), f"goulart24 {name}",
                                   ctx.figure_path(f"nmse_vs_c.{name}"),
                                   iid_mean_line=tr.task.regime == "fixed") for name, tr in res.items()]
    ratios = {name: _settle_ratios(res[name], ck, cm, ctx.rng("settle", name)) for name in res}
    return Outcome(checks=checks, controls=controls, figures=figs,
                   measured={"per_task": rows, "settle_ratio_c_knee_over_c_max": ratios, "meta_models": origin,
                             "checkpoint": b.checkpoints["heldout"]},
                   notes=["Learner: icl_heldout on functions it never met. 'Settles after few examples' is judged as "
                          "a shape: the error falls (c_first -> c_knee) and then levels off (|late slope| < early "
                          "slope), each part detected. The sheet's ratio nMSE(c_knee)/nMSE(c_max) <= 1.25 is "
                          "recorded for every learner but not judged alone: it also passes a curve that grows.",
                          "Positive control: the mean predictor (1 + 1/c falls, then levels off); negative: "
                          "ridgeless least squares, whose error rises towards c = d."],
                   config={"c_first": c1, "c_knee": ck, "c_max": cm, "prompts": cfg.all_prompts})


def _judge_overfit(res: dict[str, TaskResult], names: list[str], cs: list[int]) -> Judge:
    """Claim 8's rule for one learner: on every task and c, nMSE_learner − nMSE_mean has its paired interval
    above 0 (one check per task, :func:`min_over` the c's); with the power to see a 5 % excess recorded."""

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for name in _present(res, names, learner):
            tr = res[name]
            cis, rows[name] = [], {}
            for c in cs:
                a, m = tr.paired(learner, "mean", c)
                ci = paired_diff_ci(a, m, rng)
                cis.append(ci)
                rows[name][str(c)] = {"diff_vs_mean": list(ci), "prompts": int(a.size),
                                      "min_detectable_80pct": _min_detectable(a - m),
                                      "effect_of_interest": OVERFIT_MIN_EFFECT * float(m.mean())}
            est, interval = min_over(cis)
            checks.append(Check(f"{name}: every c in {cs}: nMSE_learner − nMSE_mean", est, ">", 0.0,
                                "worse than the mean predictor on the same prompts: paired bootstrap 95 % CI above 0 "
                                "at every c", interval=interval))
        return checks, rows

    return judge


def _min_detectable(d: np.ndarray) -> float:
    """The mean paired difference a 95 % two-sided interval excludes 0 with 80 % probability: 2.80 SD/√P."""
    return float((NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)) * d.std(ddof=1) / math.sqrt(d.size))


def overfit(ctx: RunContext) -> Outcome:
    res, cfg, _ = benchmark(ctx)
    names = [n for n, tr in res.items() if tr.task.is_matrix and tr.task.regime == "fixed"]
    cs = [c for c in cfg.cs if c in OVERFIT_CS]
    judge = _judge_overfit(res, names, cs)
    rows = {b: judge(b, ctx.rng("boot", b)) for b in ("sgd_linear", "mlp", "ridge")}
    checks = [Check(f"{b}: {c.name}", c.measured, c.op, c.threshold, c.reason, c.interval)
              for b in ("sgd_linear", "mlp") for c in rows[b][0]]
    return Outcome(checks=checks, controls=_controls(judge, [_spec("positive", RIDGELESS), _spec("negative", ORACLE)],
                                                     ctx),
                   measured={"per_baseline": {b: r for b, (_, r) in rows.items()}},
                   notes=["Paired with the mean predictor on the same prompts (not against 1 + 1/c): the query's "
                          "noise cancels, which is where the power comes from. SGD and the NN are fitted on "
                          f"{cfg.all_prompts} prompts per c (the NN's size chosen from the per-prompt SD of its "
                          "paired differences at 200 prompts, for a 5 % excess fixed in advance as the smallest "
                          "overfitting of interest); min_detectable_80pct is the excess each comparison detects "
                          "with 80 % probability. A check whose interval straddles 0 is inconclusive with that "
                          "interval.",
                          "c = 1 is left out: with one demonstration the centred target is 0, so the zero-initialised "
                          "SGD fit IS the mean predictor.",
                          "Ridge (λ = d on standardised data) is reported, not judged. Controls: ridgeless least "
                          "squares overfits by construction (positive), the noisy oracle beats the mean (negative)."],
                   config={"tasks": names, "cs": cs, "prompts": cfg.all_prompts})


def _judge_scaling(res: dict[str, TaskResult], ns: list[int], c: int) -> Judge:
    """Claim 9's rule: nMSE(n_max)/nMSE(n_min) <= 1.5 (independent prompts: each resampled on its own) and the
    learner beats the mean predictor at every n (paired)."""
    trs = {n: res[f"nuclear_{n}x{n}"] for n in ns}

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        rows = {str(n): {"learner": summarize(tr.errors[learner][c], rng), "mean_predictor":
                         summarize(tr.errors["mean"][c], rng), "vs_mean": _vs_mean(tr, learner, c, rng)}
                for n, tr in trs.items()}
        r, lo, hi = independent_ratio_ci(trs[ns[-1]].errors[learner][c].nse, trs[ns[0]].errors[learner][c].nse, rng)
        est, interval = max_over([(v["vs_mean"]["nmse"] - v["vs_mean"]["nmse_mean_predictor"],
                                   *v["vs_mean"]["diff_ci"]) for v in rows.values()])
        checks = [Check(f"nMSE_learner(n={ns[-1]}) / nMSE_learner(n={ns[0]}) at c={c}", r, "<=", SCALING_RATIO,
                        "'stays accurate' on the normalised scale (fact sheet claim 9); bootstrap 95 % interval",
                        interval=(lo, hi)),
                  Check(f"every n in {ns}: nMSE_learner − nMSE_mean at c={c}", est, "<", 0.0,
                        "paired bootstrap 95 % CI below 0 for every n", interval=interval)]
        return checks, {"per_n": rows, "ratio": [r, lo, hi]}

    return judge


def scaling(ctx: RunContext) -> Outcome:
    from empirical.papers.goulart24.plots import plot_error_vs_size

    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    c = max(cfg.cs)
    ns = [n for n in (2, 3, 4, 5) if f"nuclear_{n}x{n}" in res]
    checks, rows, controls = _judged(_judge_scaling(res, ns, c), HELDOUT,
                                     [_spec("positive", ORACLE), _spec("negative", HELDOUT_INIT)], ctx)
    curves = {name: [float(res[f"nuclear_{n}x{n}"].errors[name][c].nse.mean()) for n in ns]
              for name in (HELDOUT, META, "mean", "ridge", "mlp", "knn")}
    fig = plot_error_vs_size(ns, curves, c, ctx.figure_path("nmse_vs_n"))
    return Outcome(checks=checks, controls=controls, figures=[fig],
                   measured={**rows, "meta_models": origin, "checkpoint": b.checkpoints["heldout"]},
                   notes=["Learner: icl_heldout (4x4 matrices and the nuclear norm never met in meta-training). Raw "
                          "relative error and 5 % accuracy are printed next to the mean predictor's: their improvement "
                          "with n is concentration (claim target_concentration), not learning."],
                   config={"c": c, "ns": ns, "prompts": cfg.all_prompts})


def _judge_family(res: dict[str, TaskResult], names: list[str], cs: tuple[int, ...]) -> Judge:
    """Claim 10's rule: per task the paired interval of nMSE(c_max) − nMSE(c_lo) lies below 0, and claim 5's."""
    c_lo, c_hi = min(c for c in cs if c >= 2), max(cs)
    beats = _judge_beats_baselines(res, names, cs)

    def judge(learner: str, rng: np.random.Generator) -> tuple[list[Check], dict[str, Any]]:
        checks, rows = [], {}
        for name in _present(res, names, learner):
            e = res[name].errors[learner]
            d, lo, hi = paired_diff_ci(*_first_common(e[c_hi].nse, e[c_lo].nse), rng)
            rows[name] = [d, lo, hi]
            checks.append(Check(f"{name}: nMSE(c={c_hi}) − nMSE(c={c_lo})", d, "<", 0.0,
                                "error falls with c: paired bootstrap 95 % CI below 0 (fact sheet claim 10)",
                                interval=(lo, hi)))
        bchecks, brows = beats(learner, rng)
        return checks + bchecks, {"falls_with_c": rows, "vs_baselines": brows}

    return judge


def function_family(ctx: RunContext) -> Outcome:
    b = _bench(ctx)
    res, cfg, origin = b.results, b.config, b.origin
    names = [n for n, tr in res.items() if tr.task.regime == "family" and META in tr.errors]
    checks, rows, controls = _judged(_judge_family(res, names, cfg.cs), META,
                                     [_spec("positive", ORACLE), _spec("negative", FAMILY_INIT)], ctx)
    return Outcome(checks=checks, controls=controls,
                   measured={**rows, "meta_models": origin, "checkpoint": b.checkpoints["family"]},
                   notes=["Learner: the R2 model in its own family (p ~ U[0.5, 4], q ∈ {1, 2, ∞}, s ~ U[0.5, 2]); each "
                          "prompt's parameter is inferred in context, but the family is the training family.",
                          f"The fall with c is judged on {cfg.family_prompts or cfg.all_prompts} prompts (model and "
                          "controls alike; sizing in FAMILY_PROMPTS); the baseline comparisons are paired on the "
                          "first prompts each baseline was fitted on."],
                   config={"tasks": names, "cs": cfg.cs, "prompts": cfg.prompts,
                           "prompts_fall_with_c": cfg.family_prompts or cfg.all_prompts})


# -- claims 11-12: LLMs ------------------------------------------------------------------------------------
def _nn_cs(cs: tuple[int, ...]) -> list[int]:
    """Claim 4's context sizes in the LLM arm: c >= 8, or the largest c of a shorter grid."""
    return [c for c in cs if c >= 8] or [max(cs)]


def _llm_groups(task: T) -> tuple[str, ...]:
    return ("shape", "nn") if task.kind == "pnorm" else ("shape",)


def _llm_prompts(task: T, lc: dict[str, Any]) -> dict[int, int]:
    """Prompts per c for one LLM task: ``prompts``, and ``nn_prompts`` at claim 4's c on the vector task."""
    nn = set(_nn_cs(lc["cs"])) if "nn" in _llm_groups(task) else set()
    return {c: lc.get("nn_prompts", lc["prompts"]) if c in nn else lc["prompts"] for c in lc["cs"]}


def _llm_rule_groups(tr: TaskResult, cs: tuple[int, ...]) -> dict[str, dict[str, Judge]]:
    """The rules of claims 4-7 for one LLM task, grouped by the controls that calibrate them (:data:`_LLM_CONTROLS`):
    ``shape``: claims 6 and 7 always and claim 5 on a matrix task; ``nn``: claim 4 on the vector task."""
    res, names = {tr.task.name: tr}, [tr.task.name]
    shape = {"claim6_beats_mean": _judge_beats_mean(res, names, [c for c in cs if c >= 4]),
             "claim7_curve": _judge_curve(res, names, cs)}
    if "nn" in _llm_groups(tr.task):
        return {"shape": shape, "nn": {"claim4_nn_comparable": _judge_nn_comparable(res, _nn_cs(cs))}}
    return {"shape": {**shape, "claim5_beats_baselines": _judge_beats_baselines(res, names, cs)}}


#: Per rule group: the positive and the negative control (backends of benchmark.llm_control_backends) and why.
#: No one object passes all four rules (claim 4 asks the learner to be no better than the NN, claim 6 to beat the
#: mean), so each group has its own pair.
_LLM_CONTROLS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "shape": (("positive", "control_oracle",
               "the exact function plus noise of a quarter of the context mean's expected error (τ = 0.25, one "
               "normal draw per prompt shared by all c), written as the answer text: it beats the mean predictor "
               "and the per-prompt baselines, and its error falls and levels off like 1/c (claims 5-7 hold by "
               "construction)"),
              ("negative", "control_ridgeless",
               "minimum-norm least squares on the shown numbers, written as the answer text: its error rises "
               "towards the interpolation threshold c = d (d = 5 for the vector, n² for a matrix), so it neither "
               "beats the mean predictor nor falls with c")),
    "nn": (("positive", "control_mlp_reseed",
            "the baselines' 2-layer NN refitted on the shown numbers from another initialisation, written as the "
            "answer text: its expected nMSE is the NN's own, ratio 1 (claim 4 holds)"),
           ("negative", "control_oracle",
            "the noisy oracle: its nMSE is τ (1 + 1/c) with τ = 0.25, far below the NN's, so the NN is not "
            "'comparable' to it (claim 4 fails while the NN's nMSE exceeds 1.25 τ (1 + 1/c))")),
}


def local_llm(ctx: RunContext) -> Outcome:
    from empirical.papers.goulart24.llm.backends import SmolLM2Backend, llm_extra_missing

    reason = llm_extra_missing()
    if reason is not None:
        raise SkipClaim(reason)
    lc = llm_settings(ctx)
    backend = SmolLM2Backend(mode="chat")
    return judge_llm(ctx, backend, lc)


def _llm_task(ctx: RunContext, backend, task: T, lc: dict[str, Any]
              ) -> tuple[list[Check], dict[tuple[str, str, str], list[Check]], dict[str, Any]]:
    """One task of the LLM arm: the LLM's and its controls' answers on the same prompts, judged by the same rules.
    Returns (the LLM's checks, {(group, role, control): the control's checks}, the task's record)."""
    from empirical.papers.goulart24.llm.benchmark import llm_control_backends

    bl = ("mean", "last_y", "knn", "ridge", "sgd_linear", "mlp") + (("cnn",) if task.is_matrix else ())
    names = tuple(dict.fromkeys(learner for g in _llm_groups(task) for _, learner, _ in _LLM_CONTROLS[g]))
    ev = evaluate_llm(backend, task, lc["cs"], _llm_prompts(task, lc), ctx.child_seed("llm"),
                      decimals=lc["decimals"], max_new_tokens=lc["max_new_tokens"], grid=lc.get("grid", 0),
                      baselines=bl, progress=ctx.track,
                      controls=llm_control_backends(task, lc["decimals"], ctx.child_seed("llm-controls"), names))
    tr = ev["result"]
    checks, controls, rows = [], {}, {}
    for group, judges in _llm_rule_groups(tr, lc["cs"]).items():
        for rule, judge in judges.items():
            cks, rows[rule] = judge("llm", ctx.rng("boot", task.name, rule))
            checks += cks
            for role, learner, _ in _LLM_CONTROLS[group]:
                controls.setdefault((group, role, learner), []).extend(
                    judge(learner, ctx.rng("boot", task.name, rule, learner))[0])
    if "llm_likelihood" in tr.errors:  # reported next to the judged answers, same prompts
        rows["likelihood_read_out_vs_mean"] = {str(c): _vs_mean(tr, "llm_likelihood", c, ctx.rng("lik", c))
                                               for c in lc["cs"]}
    record = {"rules": rows, "answers": {str(c): v for c, v in ev["per_c"].items()}, "prompts_per_c": ev["prompts"],
              "summary": tr.summary(ctx.child_seed("llm-summary", task.name)), "grammar": ev["grammar"],
              "likelihood_grid": ev["likelihood_grid"], "prompt_example": ev["prompt_example"],
              "backend": ev["backend"], "control_backends": ev["controls"]}
    return checks, controls, record


def _llm_controls(per_task: list[dict[tuple[str, str, str], list[Check]]]) -> list[Control]:
    """One Control per (rule group, role): its checks over every task, in task order."""
    merged: dict[tuple[str, str, str], list[Check]] = {}
    for controls in per_task:
        for key, checks in controls.items():
            merged.setdefault(key, []).extend(checks)
    text = {(g, role, name): why for g, specs in _LLM_CONTROLS.items() for role, name, why in specs}
    return [Control(f"{role}_{name}_{group}_rules", role, text[(group, role, name)], checks)  # type: ignore[arg-type]
            for (group, role, name), checks in merged.items()]


def judge_llm(ctx: RunContext, backend, lc: dict[str, Any]) -> Outcome:
    """Run the LLM arm with ``backend`` and judge its answers (learner ``llm``) by the rules of claims 4-7, with
    the arm's controls (stand-in backends with a known answer) through the same prompts, parser and rules (also
    used with fake backends)."""
    from empirical.papers.goulart24.plots import plot_error_vs_examples

    checks, measured, figs, per_task_controls = [], {}, [], []
    for task in lc["tasks"]:
        cks, controls, measured[task.name] = _llm_task(ctx, backend, task, lc)
        checks += cks
        per_task_controls.append(controls)
        figs.append(plot_error_vs_examples(measured[task.name]["summary"], f"goulart24 LLM {task.name}",
                                           ctx.figure_path(f"llm_nmse_vs_c.{task.name}")))
    measured["backend"] = measured[lc["tasks"][0].name]["backend"]
    tasks = [t.name for t in lc["tasks"]]
    malformed = {t: sum(v["malformed_lenient"] for v in measured[t]["answers"].values()) for t in tasks}
    malformed_controls = {t: {name: sum(v["controls"][name]["malformed_lenient"] for v in measured[t]["answers"]
                                        .values()) for name in measured[t]["control_backends"]} for t in tasks}
    return Outcome(checks=checks, controls=_llm_controls(per_task_controls), figures=figs,
                   measured={**measured, "malformed_total_lenient": malformed,
                             "controls_malformed_total_lenient": malformed_controls},
                   notes=["Judged learner 'llm': greedy answers constrained to the number grammar k x (number ';') "
                          "when the backend supports it (recorded per task); a malformed answer (e.g. cut by "
                          "max_new_tokens) is counted per c and scored as the context mean, never redrawn or "
                          "dropped; parsed-only scores are recorded apart.",
                          "Controls: stand-in backends that read the prompt's numbers and answer a known "
                          "estimator as text, on the same prompts, through the same parser, fallback and rules. "
                          "No single object passes claims 4-7 together (claim 4: no better than the NN; claim 6: "
                          "better than the mean), so the rules come in two groups, each with a positive and a "
                          "negative control: 'shape' (claims 5-7; noisy oracle / ridgeless) and 'nn' (claim 4, "
                          "vector task; the NN refitted / noisy oracle). Sample sizes (prompts, nn_prompts) are "
                          "those at which the controls behave with probability >= 0.99 in a design analysis run "
                          "before any LLM (see LLM_PROMPTS); at the former 8 prompts per c the positive controls "
                          "passed only 35-40 % of the time.",
                          "llm_likelihood (scalar tasks): the likelihood-weighted mean of candidate answers spread "
                          "over the context's range, read from the model's log-probabilities without decoding; "
                          "recorded next to the judged answers.",
                          f"{lc['decimals']}-decimal numbers; targets computed from the rounded inputs shown; prompt "
                          "format, decoding settings and tokens per prompt are recorded per task and c."],
                   config={k: (v if k != "tasks" else [t.name for t in v]) for k, v in lc.items()})


def paper_scale_gemini(ctx: RunContext) -> Outcome:
    from empirical.papers.goulart24.llm.prompting import build_prompt
    from empirical.seeding import torch_generator

    task = T("topk", 40, k=3)
    # One fixed-seed prompt: its length varies by ~0.01 % with the draw, and the skip reason (the verdict) should
    # not change with the run's seed.
    data = task.sample(1, 50, torch_generator(0, "goulart24.paper_scale_gemini", "prompt"))
    Xc, Yc, xq, _ = data.split(49)
    chars = len(build_prompt(Xc[0], Yc[0], xq[0], matrix_side=40, decimals=8))
    raise SkipClaim(f"needs a remote API (Gemini 1.5 Flash) and a prompt of {chars:,} characters (top-3 σ of "
                    "40×40, 49 demonstrations at 8 decimals, measured here); not run")


__all__ = ["bench_config", "bench_settings", "llm_config", "llm_settings", "meta_settings",
           "benchmark", "judge_llm", "sidak_band", "curve_contrasts", "mean_predictor_null_se", "memory_estimate"]
