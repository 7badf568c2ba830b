"""Benchmark of goulart24: every learner on the same prompts, per task, per context size c.

For each task: prompts of c_max + 1 examples are drawn once; at context size c every learner sees the
first c demonstrations and predicts example c (paired comparisons: the same prompts for all learners).
Learners: the per-prompt baselines of :mod:`empirical.papers.goulart24.llm.baselines`, meta-trained transformers of
:mod:`empirical.papers.goulart24.llm.meta_model` (one forward pass gives every c) and the controls below. The LLM arm is
:func:`evaluate_llm` (slow: one generation per prompt).

Prompt counts: ``cheap_prompts`` for every learner whose cost is negligible (closed forms, SGD on a
linear model, forward passes), ``prompts`` for the per-prompt networks (MLP, CNN), and on family-regime tasks
``family_prompts`` for the forward-pass learners alone (models and the noisy oracle: claim function_family_icl
judges a model's own fall with c, a small effect). The extra family prompts come from their own random streams
after the first ``cheap_prompts``, so a learner's first prompts are the same draw whatever the counts, and every
pair of learners is compared on their common first prompts (:meth:`TaskResult.paired`).

Controls (learners whose error curve is known, run through the same pipeline):

* ``oracle_noisy``: f(x_q) + √(τ (1 + 1/c) W_j) ξ_ij with W_j = E_θ[Var(y_j | θ)] (the within-prompt variance,
  Var_j itself in the fixed regime) and one standard normal ξ_i per prompt and output, shared by all c: its
  expected nMSE is τ times the context mean's, τ (1 + 1/c) W/Var (τ = :data:`ORACLE_TAU`), so it beats the mean
  predictor and every baseline worse than that, and its error falls and levels off like 1/c;
* ``ridgeless``: minimum-norm least squares, whose error rises towards the interpolation threshold c = d;
* ``mlp_reseed`` (tasks in ``reseed_tasks``): the 2-layer NN refitted from another initialisation, an
  estimator with the NN's own expected error;
* models at initialisation, passed in like any other model (the same network before meta-training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from empirical.papers.goulart24.llm.backends import Backend, PredictorBackend
from empirical.papers.goulart24.llm.baselines import MATRIX_ONLY, BaselineSettings, predict_baseline
from empirical.papers.goulart24.llm.grammar import NumberGrammar, candidate_grid, likelihood_prediction
from empirical.papers.goulart24.llm.meta_model import ICLTransformer, predict_all
from empirical.papers.goulart24.llm.metrics import PromptErrors, prompt_errors, summarize
from empirical.papers.goulart24.llm.prompting import answers_to_tensor, build_prompt, parse_answer
from empirical.papers.goulart24.llm.tasks import (
    FunctionPrompts,
    MatrixFunctionTask,
    target_stats,
    within_prompt_variance,
)
from empirical.seeding import numpy_rng, torch_generator

__all__ = ["BenchConfig", "TaskResult", "run_task", "run_benchmark", "baseline_fits", "evaluate_llm",
           "llm_control_backends", "LLM_CONTROLS", "oracle_noisy", "META", "HELDOUT", "ORACLE_TAU", "COSTLY"]

META = "meta_transformer"
#: The meta-trained model that never saw the paper's functions (suite.HELDOUT_TESTS): the judged learner.
HELDOUT = "icl_heldout"
#: The positive control's error level: τ times the context mean's expected nMSE.
ORACLE_TAU = 0.25
#: Learners fitted by many optimiser steps per prompt: run on the first ``prompts`` prompts only.
COSTLY = ("mlp", "cnn", "mlp_reseed")


@dataclass(frozen=True)
class BenchConfig:
    """What to run. ``cnn_tasks``: task names on which the (costly) CNN runs; None = every matrix task.
    ``cheap_prompts``: prompts for the cheap learners (None = ``prompts``); ``reseed_tasks``: tasks on which the
    NN is refitted from a second initialisation (a control), both fits on all prompts; ``mlp_power_cs``: context
    sizes at which the NN is fitted on all prompts of the fixed-regime matrix tasks (the power of claim
    ``baselines_overfit_few_examples``); ``family_prompts``: prompts for the models and the noisy oracle on
    family-regime tasks (None = ``cheap_prompts``; the power of claim ``function_family_icl``)."""

    tasks: tuple[MatrixFunctionTask, ...]
    cs: tuple[int, ...] = (1, 2, 4, 8, 16)
    prompts: int = 200
    baselines: tuple[str, ...] = ("mean", "last_y", "knn", "ridge", "sgd_linear", "mlp", "cnn")
    cnn_tasks: tuple[str, ...] | None = None
    settings: BaselineSettings = field(default_factory=BaselineSettings)
    cheap_prompts: int | None = None
    reseed_tasks: tuple[str, ...] = ()
    mlp_power_cs: tuple[int, ...] = ()
    family_prompts: int | None = None

    def __post_init__(self) -> None:
        if not self.cs or any((not isinstance(c, int)) or c < 1 for c in self.cs):
            raise ValueError(f"cs: expected context sizes >= 1, got {self.cs}")
        if self.prompts < 2:
            raise ValueError(f"prompts: need >= 2 prompts for intervals, got {self.prompts}")
        if self.cheap_prompts is not None and self.cheap_prompts < self.prompts:
            raise ValueError(f"cheap_prompts: expected >= prompts = {self.prompts}, got {self.cheap_prompts}")
        if self.family_prompts is not None and self.family_prompts < self.all_prompts:
            raise ValueError(f"family_prompts: expected >= cheap_prompts = {self.all_prompts}, "
                             f"got {self.family_prompts}")

    @property
    def all_prompts(self) -> int:
        return self.prompts if self.cheap_prompts is None else self.cheap_prompts

    def drawn_prompts(self, task: MatrixFunctionTask) -> int:
        """Prompts drawn for ``task``: ``family_prompts`` on a family-regime task when set, else ``all_prompts``."""
        if task.regime == "family" and self.family_prompts is not None:
            return self.family_prompts
        return self.all_prompts


@dataclass
class TaskResult:
    """Per-prompt errors ``errors[learner][c]`` on one task, plus the task variance used for nMSE.

    Learners in :data:`COSTLY` hold the first ``prompts`` prompts (the NN all of them at ``mlp_power_cs`` on the
    fixed-regime matrix tasks and on ``reseed_tasks``), the other baselines the first ``all_prompts``, the models
    and the noisy oracle all drawn prompts (:meth:`BenchConfig.drawn_prompts`); prompt i is the same draw for
    every learner."""

    task: MatrixFunctionTask
    var: Tensor
    cs: tuple[int, ...]
    errors: dict[str, dict[int, PromptErrors]] = field(default_factory=dict)

    def paired(self, a: str, b: str, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-prompt nse of learners a and b at c on their common (first) prompts: two arrays (P_ab,)."""
        x, y = self.errors[a][c].nse, self.errors[b][c].nse
        n = min(x.size, y.size)
        return x[:n], y[:n]

    def summary(self, seed: int) -> dict[str, dict[str, dict[str, Any]]]:
        """JSON-ready ``{learner: {str(c): summarize(...)}}`` with fixed-seed bootstrap streams."""
        return {name: {str(c): summarize(e, numpy_rng(seed, "summary", self.task.name, name, c))
                       for c, e in per_c.items()}
                for name, per_c in self.errors.items()}


def oracle_noisy(yq: Tensor, within: Tensor, c: int, xi: Tensor, tau: float = ORACLE_TAU) -> Tensor:
    """The positive control: y_q (P, k) + √(τ (1 + 1/c) within) ξ with ξ (P, k) fixed across c -> (P, k);
    ``within`` (k,) is E_θ[Var(y | θ)] (:func:`empirical.papers.goulart24.llm.tasks.within_prompt_variance`)."""
    return yq + (tau * (1 + 1 / c) * within).sqrt() * xi


def _learner_names(task: MatrixFunctionTask, cfg: BenchConfig) -> list[str]:
    names = [b for b in cfg.baselines if task.is_matrix or b not in MATRIX_ONLY]
    if "cnn" in names and cfg.cnn_tasks is not None and task.name not in cfg.cnn_tasks:
        names.remove("cnn")
    names.append("ridgeless")
    if task.name in cfg.reseed_tasks:
        names.append("mlp_reseed")
    return names


def _prompts_for(learner: str, task: MatrixFunctionTask, c: int, cfg: BenchConfig) -> int:
    """How many of the drawn prompts a learner is fitted on (:class:`BenchConfig`)."""
    power = learner == "mlp" and c in cfg.mlp_power_cs and task.is_matrix and task.regime == "fixed"
    reseeded = learner in ("mlp", "mlp_reseed") and task.name in cfg.reseed_tasks
    return cfg.prompts if learner in COSTLY and not (power or reseeded) else cfg.all_prompts


def baseline_fits(cfg: BenchConfig) -> list[tuple[MatrixFunctionTask, int, str, int]]:
    """Every per-prompt fit :func:`run_task` makes: (task, c, learner, prompts it is fitted on)."""
    return [(t, c, b, _prompts_for(b, t, c, cfg)) for t in cfg.tasks for c in cfg.cs for b in _learner_names(t, cfg)]


def _concat(a: FunctionPrompts, b: FunctionPrompts) -> FunctionPrompts:
    """Prompts a then b (same task and length): X, Y and every parameter concatenated along the prompt axis."""
    return FunctionPrompts(task=a.task, X=torch.cat([a.X, b.X]), Y=torch.cat([a.Y, b.Y]),
                           params={k: torch.cat([v, b.params[k]]) for k, v in a.params.items()})


def _draw(task: MatrixFunctionTask, cfg: BenchConfig, seed: int) -> tuple[FunctionPrompts, Tensor]:
    """The task's prompts (P, c_max + 1, ·) and the oracle's normal draws ξ (P, k), P = cfg.drawn_prompts(task).

    The first ``all_prompts`` come from the benchmark's streams as they always did; any extra prompts (and their
    ξ) from streams of their own, so the first prompts do not depend on how many extra are drawn."""
    length, extra = max(cfg.cs) + 1, cfg.drawn_prompts(task) - cfg.all_prompts
    prompts = task.sample(cfg.all_prompts, length, torch_generator(seed, "goulart24-prompts", task.name))
    xi = torch.randn(cfg.all_prompts, task.k_out, generator=torch_generator(seed, "goulart24-oracle", task.name),
                     dtype=torch.float64)
    if extra:
        prompts = _concat(prompts, task.sample(extra, length, torch_generator(seed, "goulart24-prompts-extra",
                                                                                task.name)))
        xi = torch.cat([xi, torch.randn(extra, task.k_out, dtype=torch.float64,
                                        generator=torch_generator(seed, "goulart24-oracle-extra", task.name))])
    return prompts, xi


def run_task(task: MatrixFunctionTask, cfg: BenchConfig, seed: int,
             models: dict[str, ICLTransformer] | None = None, progress=None) -> TaskResult:
    """Draw the task's prompts and score every baseline, control and model (``{learner name: model}``) at
    every c."""
    prompts, xi = _draw(task, cfg, seed)
    _, var = target_stats(task)
    res = TaskResult(task=task, var=var, cs=tuple(cfg.cs))
    preds = {name: predict_all(m, prompts) for name, m in (models or {}).items()}
    within = within_prompt_variance(task)
    cs = progress(cfg.cs, f"{task.name}") if progress is not None else cfg.cs
    for c in cs:
        Xc, Yc, xq, yq = prompts.split(c)
        for b in _learner_names(task, cfg):
            n = _prompts_for(b, task, c, cfg)
            fit = "mlp" if b == "mlp_reseed" else b
            g = torch_generator(seed, "goulart24-fit" + ("-reseed" if b == "mlp_reseed" else ""), task.name, fit, c)
            pred = predict_baseline(fit, Xc[:n], Yc[:n], xq[:n], g=g, settings=cfg.settings)
            res.errors.setdefault(b, {})[c] = prompt_errors(pred, yq[:n], var)
        res.errors.setdefault("oracle_noisy", {})[c] = prompt_errors(oracle_noisy(yq, within, c, xi), yq, var)
        for name, pred in preds.items():
            res.errors.setdefault(name, {})[c] = prompt_errors(pred[:, c], yq, var)
    return res


def run_benchmark(cfg: BenchConfig, seed: int, models: dict[str, dict[str, ICLTransformer]],
                  progress=None) -> dict[str, TaskResult]:
    """run_task for every task of ``cfg``; ``models`` maps a task regime to ``{learner name: model}``."""
    return {t.name: run_task(t, cfg, seed, models.get(t.regime), progress) for t in cfg.tasks}


# -- LLM arm -----------------------------------------------------------------------------------------------
def _generate(backend: Backend, text: str, max_new_tokens: int, grammar: NumberGrammar) -> str:
    if getattr(backend, "supports_grammar", False):
        return backend.complete(text, max_new_tokens, grammar=grammar)  # type: ignore[call-arg]
    return backend.complete(text, max_new_tokens)


def _likelihood_read_out(backend: Backend, text: str, y_ctx: Tensor, grid: int, decimals: int) -> float:
    values, answers = candidate_grid(y_ctx, grid, decimals)
    mean, _ = likelihood_prediction(values, torch.tensor(backend.logprobs(text, answers)))  # type: ignore[attr-defined]
    return float(mean)


def _answer_stats(texts: list[str], k: int, Yc: Tensor, decimals: int) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Parse one c's answers: (values (P, k) NaN where malformed, ok (P,), counts for the record)."""
    lenient = [parse_answer(t, k, "lenient") for t in texts]
    paper = [parse_answer(t, k, "paper") for t in texts]
    vals, ok = answers_to_tensor(lenient, k)
    # An answer that equals a demonstration's y (at the shown precision) is a copy.
    shown = torch.round(Yc, decimals=decimals)
    copies = ((vals[:, None, :] - shown).abs().amax(-1) < 0.5 * 10.0**-decimals).any(-1) & ok
    return vals, ok, {
        "answers": len(texts),
        "malformed_lenient": int((~ok).sum()),
        "malformed_paper": sum(p is None for p in paper),
        "accepted_only_by_lenient": sum(p is None and q is not None for p, q in zip(paper, lenient, strict=True)),
        # e.g. an echo "- Given x=[94.01, …" that the paper's regex reads as the answer 94.01
        "accepted_only_by_paper": sum(p is not None and q is None for p, q in zip(paper, lenient, strict=True)),
        "copy_rate": float(copies.sum()) / max(int(ok.sum()), 1),
        "examples": texts[:3],
    }


def _score_answers(texts: list[str], Yc: Tensor, yq: Tensor, var: Tensor, decimals: int
                   ) -> tuple[PromptErrors, dict[str, Any]]:
    """One backend's answers at one c: per-prompt errors with malformed answers scored as the context mean (the
    mean predictor's answer; never dropped), and the answer record (counts, parsed-only scores)."""
    vals, ok, stats = _answer_stats(texts, yq.shape[-1], Yc, decimals)
    errors = prompt_errors(torch.where(ok[:, None], vals, Yc.mean(1)), yq, var)
    if bool(ok.any()):
        stats["parsed_only"] = {"prompts": int(ok.sum()), "nmse_llm": float(prompt_errors(
            vals[ok], yq[ok], var).nse.mean()), "nmse_mean": float(prompt_errors(Yc.mean(1)[ok], yq[ok],
                                                                                 var).nse.mean())}
    return errors, stats


def evaluate_llm(backend: Backend, task: MatrixFunctionTask, cs: tuple[int, ...], prompts: int | dict[int, int],
                 seed: int,
                 *, decimals: int = 2, max_new_tokens: int = 12, grid: int = 0,
                 baselines: tuple[str, ...] = ("mean", "mlp"), controls: dict[str, Backend] | None = None,
                 progress=None) -> dict[str, Any]:
    """Prompt the LLM on ``prompts`` prompts per c (or ``prompts[c]``: the first ``prompts[c]`` of one draw) in
    the paper's format with ``decimals`` decimals, and score it.

    Decoding is greedy, constrained to the answer's number grammar when the backend supports it; with
    ``grid`` >= 2 and a backend with ``logprobs`` (scalar tasks), the likelihood read-out over ``grid``
    candidates is scored too (learner ``llm_likelihood``). Malformed answers (lenient parser) are counted per
    c, never redrawn and never dropped: learner ``llm`` scores them as the context mean (the mean predictor's
    answer); the parsed-only scores are a separate record (``per_c[c]["parsed_only"]``), not a learner, as they
    sit on another set of prompts. Baselines and controls are scored on the same prompts. ``controls``: backends
    with a known answer (:class:`~empirical.papers.goulart24.llm.backends.PredictorBackend`) prompted with the same
    texts and scored by the same parser and fallback, each as the learner of its name (answer records in
    ``per_c[c]["controls"]``).

    Returns ``{"result": TaskResult, "per_c": {c: {...}}, "backend": ..., "grammar": ..., "prompt_example": ...}``.
    """
    c_max = max(cs)
    per_c_prompts = {c: prompts[c] if isinstance(prompts, dict) else prompts for c in cs}
    if min(per_c_prompts.values()) < 2:
        raise ValueError(f"prompts: need >= 2 prompts at every c for intervals, got {per_c_prompts}")
    data: FunctionPrompts = task.sample(max(per_c_prompts.values()), c_max + 1,
                                        torch_generator(seed, "goulart24-llm", task.name), decimals=decimals)
    _, var = target_stats(task)
    side = task.n if task.is_matrix else None
    k = task.k_out
    controls = dict(controls or {})
    if "llm" in controls:
        raise ValueError("controls: the name 'llm' is the judged backend's")
    grammar = NumberGrammar(k=k, decimals=decimals)
    score_likelihood = grid >= 2 and k == 1 and hasattr(backend, "logprobs")
    res = TaskResult(task=task, var=var, cs=tuple(cs))
    per_c: dict[int, dict[str, Any]] = {}
    items = [(c, i) for c in cs for i in range(per_c_prompts[c])]
    it = progress(items, f"{task.name} LLM") if progress is not None else items
    texts: dict[str, dict[int, list[str]]] = {name: {c: [] for c in cs} for name in ("llm", *controls)}
    read_out: dict[int, list[float]] = {c: [] for c in cs}
    tokens: dict[int, list[int]] = {c: [] for c in cs}
    for c, i in it:
        Xc, Yc, xq, _ = data.split(c)
        text = build_prompt(Xc[i], Yc[i], xq[i], matrix_side=side, decimals=decimals)
        texts["llm"][c].append(_generate(backend, text, max_new_tokens, grammar))
        for name, control in controls.items():
            texts[name][c].append(control.complete(text, max_new_tokens))
        if score_likelihood:
            read_out[c].append(_likelihood_read_out(backend, text, Yc[i], grid, decimals))
        if hasattr(backend, "prompt_tokens"):
            tokens[c].append(int(backend.prompt_tokens(text)))  # type: ignore[attr-defined]
    xi = torch.randn(data.num_prompts, k, generator=torch_generator(seed, "goulart24-llm-oracle", task.name),
                     dtype=torch.float64)
    for c in cs:
        P = per_c_prompts[c]
        Xc, Yc, xq, yq = (t[:P] for t in data.split(c))
        res.errors.setdefault("llm", {})[c], per_c[c] = _score_answers(texts["llm"][c], Yc, yq, var, decimals)
        if controls:
            per_c[c]["controls"] = {}
        for name in controls:
            res.errors.setdefault(name, {})[c], rec = _score_answers(texts[name][c], Yc, yq, var, decimals)
            per_c[c]["controls"][name] = {key: v for key, v in rec.items() if key != "examples"}
        if score_likelihood:
            res.errors.setdefault("llm_likelihood", {})[c] = prompt_errors(
                torch.tensor(read_out[c], dtype=torch.float64)[:, None], yq, var)
        if tokens[c]:
            per_c[c]["prompt_tokens"] = {"min": min(tokens[c]), "mean": sum(tokens[c]) / len(tokens[c]),
                                         "max": max(tokens[c])}
        for b in (*baselines, "ridgeless"):
            pred = predict_baseline(b, Xc, Yc, xq, g=torch_generator(seed, "goulart24-llm-fit", task.name, b, c))
            res.errors.setdefault(b, {})[c] = prompt_errors(pred, yq, var)
        res.errors.setdefault("oracle_noisy", {})[c] = prompt_errors(
            oracle_noisy(yq, within_prompt_variance(task), c, xi[:P]), yq, var)
    Xc, Yc, xq, _ = data.split(min(cs))
    return {"result": res, "per_c": per_c, "backend": backend.describe(), "decimals": decimals,
            "max_new_tokens": max_new_tokens, "prompts": per_c_prompts, "var": var.tolist(),
            "grammar": grammar.describe() if getattr(backend, "supports_grammar", False) else None,
            "likelihood_grid": grid if score_likelihood else None,
            "controls": {name: b.describe() for name, b in controls.items()},
            "prompt_example": build_prompt(Xc[0], Yc[0], xq[0], matrix_side=side, decimals=decimals)}


# -- the LLM arm's controls: stand-in backends with a known answer -------------------------------------------
def _fixed_function(task: MatrixFunctionTask):
    """x (d,) -> f(x) (k,) for a fixed-regime task (its parameters are constants)."""
    if task.regime != "fixed":
        raise ValueError(f"task: the LLM arm's controls need a fixed-regime task, got {task.name}")
    params = task.sample_params(1, torch.Generator().manual_seed(0))  # constants in the fixed regime
    return lambda x: task.evaluate(x[None, None], params)[0, 0]


LLM_CONTROLS = ("control_oracle", "control_ridgeless", "control_mlp_reseed")


def llm_control_backends(task: MatrixFunctionTask, decimals: int, seed: int,
                         names: tuple[str, ...] = LLM_CONTROLS) -> dict[str, PredictorBackend]:
    """The LLM arm's controls ``names`` for ``task`` (fixed regime), each answering from the prompt text alone:

    * ``control_oracle``: f(x_q) + √(τ (1 + 1/c) Var(y)) ξ, ξ ~ N(0, I_k) drawn once per prompt (keyed on its
      first demonstration, so shared by all c) — :func:`oracle_noisy` written as text: its expected nMSE is τ
      times the context mean's and falls and levels off like 1/c;
    * ``control_ridgeless``: minimum-norm least squares on the shown numbers, whose error rises towards the
      interpolation threshold c = d (:func:`empirical.papers.goulart24.llm.baselines.ridgeless`);
    * ``control_mlp_reseed``: the 2-layer NN of the baselines, fitted on the shown numbers from another
      initialisation (one per prompt and c): the NN's own expected error.
    """
    f, var = _fixed_function(task), within_prompt_variance(task)

    def oracle(Xc: Tensor, Yc: Tensor, xq: Tensor, key: int) -> Tensor:
        xi = torch.randn(1, task.k_out, dtype=torch.float64,
                         generator=torch_generator(seed, "goulart24-llm-control-oracle", task.name, key))
        return oracle_noisy(f(xq)[None], var, Xc.shape[0], xi)[0]

    def ridgeless(Xc: Tensor, Yc: Tensor, xq: Tensor, key: int) -> Tensor:
        return predict_baseline("ridgeless", Xc[None], Yc[None], xq[None])[0]

    def mlp_reseed(Xc: Tensor, Yc: Tensor, xq: Tensor, key: int) -> Tensor:
        g = torch_generator(seed, "goulart24-llm-control-mlp", task.name, key, Xc.shape[0])
        return predict_baseline("mlp", Xc[None], Yc[None], xq[None], g=g)[0]

    unknown = set(names) - set(LLM_CONTROLS)
    if unknown:
        raise ValueError(f"names: unknown controls {sorted(unknown)} (known: {', '.join(LLM_CONTROLS)})")
    return {name: PredictorBackend(name, fn, decimals, text) for name, fn, text in (
        ("control_oracle", oracle, f"f(x_q) + noise of a quarter (τ = {ORACLE_TAU}) of the context mean's expected "
                                   "error, one normal draw per prompt shared by all c"),
        ("control_ridgeless", ridgeless, "minimum-norm least squares on the shown numbers"),
        ("control_mlp_reseed", mlp_reseed, "the baselines' 2-layer NN from another initialisation")) if name in names}


def nse_matrix(errors: dict[int, PromptErrors], cs: tuple[int, ...]) -> np.ndarray:
    """(len(cs), P) normalised squared errors."""
    return np.stack([errors[c].nse for c in cs])
