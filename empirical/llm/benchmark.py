"""Benchmark of goulart24: every learner on the same prompts, per task, per context size c.

For each task: P prompts of c_max + 1 examples are drawn once; at context size c every learner sees the
first c demonstrations and predicts example c (paired comparisons: the same prompts for all learners).
Learners: the per-prompt baselines of :mod:`empirical.llm.baselines` and the meta-trained transformer of
:mod:`empirical.llm.meta_model` (one forward pass gives every c). The LLM arm is
:func:`evaluate_llm` (slow: one generation per prompt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from empirical.llm.backends import Backend
from empirical.llm.baselines import MATRIX_ONLY, BaselineSettings, predict_baseline
from empirical.llm.meta_model import ICLTransformer, predict_all
from empirical.llm.metrics import PromptErrors, prompt_errors, summarize
from empirical.llm.prompting import answers_to_tensor, build_prompt, parse_answer
from empirical.llm.tasks import FunctionPrompts, MatrixFunctionTask, target_stats
from empirical.seeding import numpy_rng, torch_generator

__all__ = ["BenchConfig", "TaskResult", "run_task", "run_benchmark", "evaluate_llm", "META"]

META = "meta_transformer"


@dataclass(frozen=True)
class BenchConfig:
    """What to run. ``cnn_tasks``: task names on which the (costly) CNN runs; None = every matrix task."""

    tasks: tuple[MatrixFunctionTask, ...]
    cs: tuple[int, ...] = (1, 2, 4, 8, 16)
    prompts: int = 200
    baselines: tuple[str, ...] = ("mean", "last_y", "knn", "ridge", "sgd_linear", "mlp", "cnn")
    cnn_tasks: tuple[str, ...] | None = None
    settings: BaselineSettings = field(default_factory=BaselineSettings)

    def __post_init__(self) -> None:
        if not self.cs or any((not isinstance(c, int)) or c < 1 for c in self.cs):
            raise ValueError(f"cs: expected context sizes >= 1, got {self.cs}")
        if self.prompts < 2:
            raise ValueError(f"prompts: need >= 2 prompts for intervals, got {self.prompts}")


@dataclass
class TaskResult:
    """Per-prompt errors ``errors[learner][c]`` on one task, plus the task variance used for nMSE."""

    task: MatrixFunctionTask
    var: Tensor
    cs: tuple[int, ...]
    errors: dict[str, dict[int, PromptErrors]] = field(default_factory=dict)

    def summary(self, seed: int) -> dict[str, dict[str, dict[str, Any]]]:
        """JSON-ready ``{learner: {str(c): summarize(...)}}`` with fixed-seed bootstrap streams."""
        return {name: {str(c): summarize(e, numpy_rng(seed, "summary", self.task.name, name, c))
                       for c, e in per_c.items()}
                for name, per_c in self.errors.items()}


def run_task(task: MatrixFunctionTask, cfg: BenchConfig, seed: int, meta_model: ICLTransformer | None = None,
             progress=None) -> TaskResult:
    """Draw the task's prompts and score every learner at every c."""
    c_max = max(cfg.cs)
    prompts = task.sample(cfg.prompts, c_max + 1, torch_generator(seed, "goulart24-prompts", task.name))
    _, var = target_stats(task)
    res = TaskResult(task=task, var=var, cs=tuple(cfg.cs))
    names = [b for b in cfg.baselines if task.is_matrix or b not in MATRIX_ONLY]
    if "cnn" in names and cfg.cnn_tasks is not None and task.name not in cfg.cnn_tasks:
        names.remove("cnn")
    meta_pred = predict_all(meta_model, prompts) if meta_model is not None else None
    cs = progress(cfg.cs, f"{task.name}") if progress is not None else cfg.cs
    for c in cs:
        Xc, Yc, xq, yq = prompts.split(c)
        for b in names:
            pred = predict_baseline(b, Xc, Yc, xq, g=torch_generator(seed, "goulart24-fit", task.name, b, c),
                                    settings=cfg.settings)
            res.errors.setdefault(b, {})[c] = prompt_errors(pred, yq, var)
        if meta_pred is not None:
            res.errors.setdefault(META, {})[c] = prompt_errors(meta_pred[:, c], yq, var)
    return res


def run_benchmark(cfg: BenchConfig, seed: int, meta_models: dict[str, ICLTransformer | None],
                  progress=None) -> dict[str, TaskResult]:
    """run_task for every task of ``cfg``; ``meta_models`` maps a regime to its model (or None)."""
    return {t.name: run_task(t, cfg, seed, meta_models.get(t.regime), progress) for t in cfg.tasks}


# -- LLM arm -----------------------------------------------------------------------------------------------
def evaluate_llm(backend: Backend, task: MatrixFunctionTask, cs: tuple[int, ...], prompts: int, seed: int,
                 *, decimals: int = 2, max_new_tokens: int = 12, baselines: tuple[str, ...] = ("mean", "mlp"),
                 progress=None) -> dict[str, Any]:
    """Prompt the LLM on ``prompts`` prompts per c (the paper's format, ``decimals`` decimals) and score it.

    Malformed answers (lenient parser) are counted, never redrawn; the LLM is scored two ways: on the
    parsed answers only, and with malformed answers replaced by the context mean (the fallback that the
    mean predictor would give). Baselines are scored on the same prompts. Returns
    ``{"per_c": {c: {...}}, "errors": {learner: {c: PromptErrors}}, "backend": ...}``.
    """
    c_max = max(cs)
    data: FunctionPrompts = task.sample(prompts, c_max + 1, torch_generator(seed, "goulart24-llm", task.name),
                                        decimals=decimals)
    _, var = target_stats(task)
    side = task.n if task.is_matrix else None
    k = task.k_out
    errors: dict[str, dict[int, PromptErrors]] = {}
    per_c: dict[int, dict[str, Any]] = {}
    items = [(c, i) for c in cs for i in range(prompts)]
    it = progress(items, f"{task.name} LLM") if progress is not None else items
    texts: dict[int, list[str]] = {c: [] for c in cs}
    for c, i in it:
        Xc, Yc, xq, _ = data.split(c)
        texts[c].append(backend.complete(build_prompt(Xc[i], Yc[i], xq[i], matrix_side=side, decimals=decimals),
                                         max_new_tokens))
    for c in cs:
        Xc, Yc, xq, yq = data.split(c)
        lenient = [parse_answer(t, k, "lenient") for t in texts[c]]
        paper = [parse_answer(t, k, "paper") for t in texts[c]]
        vals, ok = answers_to_tensor(lenient, k)
        fallback = torch.where(ok[:, None], vals, Yc.mean(1))
        # An answer that equals a demonstration's y (at the shown precision) is a copy.
        shown = torch.round(Yc, decimals=decimals)
        copies = ((vals[:, None, :] - shown).abs().amax(-1) < 0.5 * 10.0**-decimals).any(-1) & ok
        per_c[c] = {
            "answers": len(texts[c]),
            "malformed_lenient": int((~ok).sum()),
            "malformed_paper": sum(p is None for p in paper),
            "accepted_only_by_lenient": sum(p is None and q is not None for p, q in zip(paper, lenient, strict=True)),
            # e.g. an echo "- Given x=[94.01, …" that the paper's regex reads as the answer 94.01
            "accepted_only_by_paper": sum(p is not None and q is None for p, q in zip(paper, lenient, strict=True)),
            "copy_rate": float(copies.sum()) / max(int(ok.sum()), 1),
            "examples": texts[c][:3],
        }
        errors.setdefault("llm_fallback_mean", {})[c] = prompt_errors(fallback, yq, var)
        if bool(ok.any()):
            errors.setdefault("llm_parsed_only", {})[c] = prompt_errors(vals[ok], yq[ok], var)
            errors.setdefault("mean_on_parsed", {})[c] = prompt_errors(Yc.mean(1)[ok], yq[ok], var)
        for b in baselines:
            pred = predict_baseline(b, Xc, Yc, xq, g=torch_generator(seed, "goulart24-llm-fit", task.name, b, c))
            errors.setdefault(b, {})[c] = prompt_errors(pred, yq, var)
    return {"per_c": per_c, "errors": errors, "backend": backend.describe(), "decimals": decimals,
            "max_new_tokens": max_new_tokens, "prompts": prompts, "var": var.tolist()}


def nse_matrix(errors: dict[int, PromptErrors], cs: tuple[int, ...]) -> np.ndarray:
    """(len(cs), P) normalised squared errors."""
    return np.stack([errors[c].nse for c in cs])
