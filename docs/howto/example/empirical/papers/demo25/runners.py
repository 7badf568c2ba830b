# ruff: noqa: I001  (theory.demo25 is the example's own module: ruff cannot classify it)
"""demo25 claim runners — Demo et al. (2025), fact sheet ``shared/papers/demo25.md``: the experiment behind
each claim of :mod:`empirical.papers.demo25.claims`."""

from __future__ import annotations

import torch

from empirical.registry.core import Check, Outcome, RunContext


def descent(ctx: RunContext) -> Outcome:
    from empirical.papers.demo25.plots import plot_loss_ratio
    from theory.demo25 import insample_loss, one_gd_step
    from theory.samplers import LinearRegressionTask

    task = LinearRegressionTask(d=5, n=ctx.pick(20, 200), cond=10.0)
    prompt = task.sample(ctx.pick(256, 4096), ctx.generator("prompts"))
    w0 = torch.zeros(prompt.batch_size, prompt.d, dtype=torch.float64)
    ratio = insample_loss(prompt, one_gd_step(prompt, 1.0)) / insample_loss(prompt, w0)
    fig = plot_loss_ratio(ratio, ctx.figure_path("loss_ratio"))
    return Outcome(
        checks=[
            Check(
                "max_loss_ratio",
                float(ratio.max()),
                "<=",
                1 + 1e-12,
                "R(w_1) <= R(0) exactly (Lemma 1); 1e-12 allows float64 round-off",
            )
        ],
        measured={"mean_loss_ratio": float(ratio.mean())},
        figures=[fig],
        config={"d": task.d, "n": task.n, "cond": task.cond, "batch": prompt.batch_size},
    )
