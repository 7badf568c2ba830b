"""he25's pre-training recipes as a model family of the distributed entry point (:mod:`empirical.families`):
ReLU-attention encoders on PCA / GMM prompts, with each recipe's model, data and training settings."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from empirical.families import Family, leaves_global_rng, register


def _he25_recipe(opts: dict[str, Any]):
    from empirical.papers.he25.training import RECIPES

    if opts["recipe"] not in RECIPES:
        raise ValueError(f"option: no he25 recipe {opts['recipe']!r}; known: {sorted(RECIPES)}")
    return RECIPES[opts["recipe"]]


@leaves_global_rng
def _he25_build(opts: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    from empirical.papers.he25.training import build_model

    return build_model(_he25_recipe(opts), device)  # float32 and the recipe's init seed, as in the claims


def _he25_sampler(opts: dict[str, Any], batch_size: int, device: torch.device, dtype: torch.dtype):
    from empirical.papers.he25.training import gmm_batch, pca_batch

    r = _he25_recipe(opts)
    draw = pca_batch if r.task == "pca" else gmm_batch
    return lambda g, step: draw(r, g, batch_size, device)


def _he25_make_loss(opts: dict[str, Any]):
    from empirical.papers.he25.training import gmm_loss, pca_loss

    r = _he25_recipe(opts)
    return (lambda m, b: pca_loss(m, b, r)) if r.task == "pca" else gmm_loss


register(
    Family(
        name="he25",
        summary="a he25 pre-training recipe (empirical.papers.he25.training.RECIPES, e.g. recipe=pca_d5_L4) with its "
        "model, data and training settings",
        defaults={"recipe": "pca_d5_L4"},
        build=_he25_build,
        sampler=_he25_sampler,
        loss=None,
        make_loss=_he25_make_loss,
        requires=("empirical.papers.he25.training",),
        train_defaults=lambda opts: {
            "steps": _he25_recipe(opts).steps,
            "batch_size": _he25_recipe(opts).batch,
            "lr": _he25_recipe(opts).lr,
            "seed": _he25_recipe(opts).seed,
        },
    )
)
