# ruff: noqa: I001  (theory.demo25 is the example's own module: ruff cannot classify it)
"""demo25 claims — Demo et al. (2025), fact sheet ``shared/papers/demo25.md``."""

from __future__ import annotations

import torch

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext

PAPER = Paper(
    key="demo25",
    title="One gradient step never hurts",
    authors="A. Demo, B. Example",
    venue="preprint",
    arxiv="2501.00000",
)


def _descent(ctx: RunContext) -> Outcome:
    from empirical.plotting.demo25 import plot_loss_ratio
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


CLAIMS = [
    Claim(
        id="demo25.lemma1",
        paper="demo25",
        statement="One GD step with step 1/λ_max(Ŝ) from w = 0 never increases the in-context loss.",
        source="Lemma 1",
        evidence=("numerical",),
        runner=_descent,
        acceptance="max over prompts of R(w_1)/R(0) <= 1 + 1e-12 (float64 round-off)",
    ),
]
