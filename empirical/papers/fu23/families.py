"""fu23's claim recipes as a model family of the distributed entry point (:mod:`empirical.families`):
a claim's own model, data (with the curriculum) and training settings, trainable under torchrun; on one
process it is bit for bit the claim trainer's run."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirical.families import Family, garg_loss, leaves_global_rng, register
from theory.prompts import PromptBatch


def _fu23_recipe(opts: dict[str, Any]):
    from empirical.papers.fu23.training import RECIPES

    try:
        return RECIPES[opts["profile"]][opts["recipe"]]
    except KeyError:
        known = {p: sorted(r) for p, r in RECIPES.items()}
        raise ValueError(
            f"option: no fu23 recipe {opts['recipe']!r} in profile {opts['profile']!r}; known: {known}"
        ) from None


@leaves_global_rng
def _fu23_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    from empirical.papers.fu23.training import build_model

    return build_model(_fu23_recipe(opts), device, dtype)  # init seed fixed by the recipe, as in the claims


def _fu23_sampler(opts: dict[str, Any], batch_size: int, device: torch.device, dtype: torch.dtype):
    from empirical.papers.fu23.training import curriculum_dims, task_of, truncate_dims

    r = _fu23_recipe(opts)
    task = task_of(r)

    def sample(g: torch.Generator, step: int) -> PromptBatch:  # the recipe's curriculum on d
        return truncate_dims(task.sample(batch_size, g, dtype=dtype, device=device), curriculum_dims(r, step))

    return sample


def _fu23_train_defaults(opts: dict[str, Any]) -> dict[str, Any]:
    cfg = _fu23_recipe(opts).train_config()
    return {
        k: getattr(cfg, k)
        for k in ("steps", "batch_size", "lr", "optimizer", "schedule", "warmup", "grad_clip", "seed")
    }


register(
    Family(
        name="fu23",
        summary="a fu23 claim recipe (empirical.papers.fu23.training.RECIPES: recipe=gpt2_iso|gpt2_ill|lstm_iso, "
        "profile=quick|full) with its model, curriculum and training settings",
        defaults={"recipe": "gpt2_iso", "profile": "quick"},
        build=_fu23_build,
        sampler=_fu23_sampler,
        loss=garg_loss,
        requires=("empirical.papers.fu23.training",),
        train_defaults=_fu23_train_defaults,
    )
)
