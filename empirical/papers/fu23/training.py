"""fu23 trained models: the recipes (quick and full profile), training through :func:`empirical.train.train`,
and the stored quick-profile checkpoints under ``empirical/checkpoints/fu23/``.

Retrain the quick-profile models (CPU, about 18 minutes each on an idle 2-core machine) into a results
folder, and (maintainers) promote them to the shipped checkpoints::

    python -m empirical.papers.fu23.training --out results/retrain
    python -m empirical.checkpoints promote results/retrain fu23

Task (Garg et al. format, Fu et al. 2023 §4): x ~ N(0, Σ), w ~ N(0, I), y = wᵀx (no noise); loss = mean
squared error of the predictions at x_1 … x_n (each from the preceding examples) and at the query.
The paper trains a 12-layer, 8-head, width-256 GPT-2 at d = 20, n = 40 for 500k steps with a curriculum;
the quick profile is a reduced scale (d = 5, n = 10, 4 layers, width 64, 12000 steps at batch 64, curriculum
on d from 2) and says so. Interrupted training resumes from its ``.resume.pt`` state next to the model
(written atomically every 500 steps, removed once the model is stored).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from empirical.checkpoints import STORED, recipe_argument, recipes_to_train
from empirical.models.gpt2_icl import GPT2ICL
from empirical.models.lstm import LSTMICL
from empirical.precision import add_precision_argument, training_precision
from empirical.seeding import torch_generator
from empirical.train import TrainConfig, train
from theory.prompts import PromptBatch
from theory.samplers import LinearRegressionTask

__all__ = ["ModelRecipe", "RECIPES", "CHECKPOINT_DIR", "build_model", "task_of", "train_recipe", "load_or_train",
           "curriculum_dims", "truncate_dims", "icl_loss"]

#: The shipped quick-profile models (read-only for runs).
CHECKPOINT_DIR = STORED / "fu23"
Kind = Literal["gpt2", "lstm"]


@dataclass(frozen=True)
class ModelRecipe:
    """Everything that determines a trained model (stored in the sidecar JSON)."""

    name: str
    kind: Kind
    d: int
    n: int
    cond: float
    width: int
    layers: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    seed: int
    curriculum_start_dims: int
    curriculum_every: int

    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, optimizer="adam",
                           schedule="cosine", warmup=self.warmup, grad_clip=1.0, seed=self.seed)


def _quick(name: str, kind: Kind, cond: float, layers: int) -> ModelRecipe:
    # lr 3e-4 at batch 64: at 1e-3 / batch 32 (the first recipe) the 4-layer model never left the zero-predictor
    # plateau in 4000 steps; at 3e-4 / 64 it leaves it within the curriculum (d = 2 → 5 by step 1500)
    return ModelRecipe(name, kind, d=5, n=10, cond=cond, width=64, layers=layers, heads=4, steps=12000,
                       batch_size=64, lr=3e-4, warmup=200, seed=0, curriculum_start_dims=2, curriculum_every=500)


def _full(name: str, kind: Kind, cond: float, layers: int) -> ModelRecipe:
    width = 256
    return ModelRecipe(name, kind, d=20, n=40, cond=cond, width=width, layers=layers, heads=8, steps=100_000,
                       batch_size=64, lr=1e-4, warmup=2000, seed=0, curriculum_start_dims=5, curriculum_every=2000)


#: Per profile: the isotropic transformer, the ill-conditioned transformer (cond Σ = 100), the LSTM.
RECIPES: dict[str, dict[str, ModelRecipe]] = {
    "quick": {"gpt2_iso": _quick("gpt2_iso", "gpt2", 1.0, 4), "gpt2_ill": _quick("gpt2_ill", "gpt2", 100.0, 4),
              "lstm_iso": _quick("lstm_iso", "lstm", 1.0, 2)},
    "full": {"gpt2_iso": _full("gpt2_iso", "gpt2", 1.0, 12), "gpt2_ill": _full("gpt2_ill", "gpt2", 100.0, 12),
             "lstm_iso": _full("lstm_iso", "lstm", 1.0, 3)},
}


def task_of(r: ModelRecipe) -> LinearRegressionTask:
    """Prompts of the recipe: a fresh Σ with cond(Σ) = r.cond per prompt (Σ = I when cond = 1), one query."""
    return LinearRegressionTask(d=r.d, n=r.n, m=1, cond=r.cond)


def curriculum_dims(r: ModelRecipe, step: int) -> int:
    """Active input dimensions at ``step`` (Garg et al.'s curriculum on d: +1 every ``curriculum_every`` steps)."""
    return min(r.d, r.curriculum_start_dims + step // r.curriculum_every)


def truncate_dims(prompt: PromptBatch, dims: int) -> PromptBatch:
    """Zero the features beyond ``dims`` and recompute the labels from the prompt's true w (noiseless task)."""
    if dims >= prompt.d:
        return prompt
    mask = (torch.arange(prompt.d, device=prompt.device) < dims).to(prompt.dtype)
    w = prompt.meta["w"].to(device=prompt.device, dtype=prompt.dtype)
    X, xq = prompt.X * mask, prompt.xq * mask
    return PromptBatch(X, (X @ w.unsqueeze(-1)).squeeze(-1), xq, (xq @ w.unsqueeze(-1)).squeeze(-1), prompt.meta)


def build_model(r: ModelRecipe, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> nn.Module:
    g = torch_generator(r.seed, "fu23", r.name, "init")
    if r.kind == "gpt2":
        return GPT2ICL(r.d, r.width, r.layers, r.heads, max_tokens=2 * r.n + 1, generator=g, device=device,
                       dtype=dtype)
    if r.kind == "lstm":
        return LSTMICL(r.d, r.width, r.layers, generator=g, device=device, dtype=dtype)
    raise ValueError(f"kind: expected 'gpt2' or 'lstm', got {r.kind!r}")


def icl_loss(model: nn.Module, prompt: PromptBatch) -> torch.Tensor:
    """Mean squared error over all prediction positions (x_1 … x_n and the query)."""
    pred = model.predict(prompt)
    return ((pred - torch.cat([prompt.y, prompt.yq], 1).to(pred.dtype)) ** 2).mean()


RESUME_EVERY = 500


def _fit(r: ModelRecipe, model: nn.Module, device: torch.device | str, progress: bool,
         resume_path: Path | None) -> list[float]:
    """Train ``model`` (built by :func:`build_model`) in place on the recipe's curriculum; the loss history.

    ``resume_path``: training state written every ``RESUME_EVERY`` steps and resumed from when present."""
    task = task_of(r)
    dev = torch.device(device)

    def sample(g: torch.Generator, step: int) -> PromptBatch:
        return truncate_dims(task.sample(r.batch_size, g, dtype=torch.float32, device=dev), curriculum_dims(r, step))

    cfg = r.train_config()
    if resume_path is not None:
        cfg = replace(cfg, checkpoint_every=RESUME_EVERY)
    res = train(model, sample, icl_loss, cfg, checkpoint_path=resume_path, progress=progress, desc=f"fu23 {r.name}",
                identity={"recipe": asdict(r)})
    return res.losses


def train_recipe(r: ModelRecipe, device: torch.device | str = "cpu", progress: bool = True,
                 resume_path: Path | None = None) -> tuple[nn.Module, list]:
    """Train one recipe with the suite's training loop (nothing stored); returns (model, loss history)."""
    model = build_model(r, device)
    return model, _fit(r, model, device, progress, resume_path)


def _metrics(losses: list[float], device: str) -> dict:
    """Final loss (mean of the last 100 steps) and the loss curve averaged over blocks of 100 steps."""
    blocks = [sum(losses[i:i + 100]) / len(losses[i:i + 100]) for i in range(0, len(losses), 100)]
    return {"final_loss_mean_last100": blocks[-1] if blocks else float("nan"), "loss_per_100_steps": blocks,
            "device": device}


def _command(out: Path, r: ModelRecipe) -> str:
    """The command that retrains ``r`` alone: by profile and name for a profile's recipe, else (a recipe shrunk or
    changed through settings) by the recipe itself, so the recorded command always rebuilds the same model."""
    profile = profile_of(r)
    which = recipe_argument(r) if profile == "custom" else [
        "--profile", profile, "--models", r.name]
    return "python -m empirical.papers.fu23.training " + " ".join(shlex.quote(a) for a in ["--out", str(out), *which])


def profile_of(r: ModelRecipe) -> str:
    return next((p for p, rs in RECIPES.items() if rs.get(r.name) == r), "custom")


def load_or_train(r: ModelRecipe, device: torch.device | str = "cpu", out_dir: Path | str = "results/quick",
                  progress: bool = True, retrain: bool = False) -> tuple[nn.Module, dict]:
    """The shipped model of ``r`` (or one trained earlier into ``out_dir``) when its recipe matches and
    ``retrain`` is False; else train it into ``<out_dir>/checkpoints/fu23/`` (resumable).

    Returns:
        (model in eval mode, info: ``config`` (the recipe), ``source``, ``path``, ``command``, ``metrics``,
        ``trained_now``).
    """
    from empirical.checkpoints import load_or_train as stored_or_new

    model, info = stored_or_new(
        paper="fu23", name=r.name, recipe=asdict(r), out_dir=out_dir, build=lambda: build_model(r, device),
        fit=lambda m, resume: _metrics(_fit(r, m, device, progress, resume), str(device)),
        command=_command(Path(out_dir), r), seed=r.seed, retrain=retrain, device=device)
    return model, {"config": asdict(r), **info, "trained_now": info["source"] == "trained"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m empirical.papers.fu23.training", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None,
                    help="results folder; models go to <out>/checkpoints/fu23/ (default: results/<profile>). "
                         "Shipped models are refreshed with `python -m empirical.checkpoints promote OUT fu23`")
    ap.add_argument("--profile", choices=sorted(RECIPES), default="quick")
    ap.add_argument("--models", nargs="*", default=None, help=f"subset of {sorted(RECIPES['quick'])}")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--recipe", default=None, metavar="JSON",
                    help="train this one recipe (the JSON a checkpoint's sidecar records under 'recipe') instead "
                         "of --profile/--models: how a model shrunk or changed through settings is retrained")
    add_precision_argument(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.out is None:
        args.out = Path("results") / args.profile
    known = {name: RECIPES[args.profile][name] for name in sorted(RECIPES[args.profile])}
    try:
        recipes = recipes_to_train(args.recipe, args.models or [], known, ModelRecipe, "--models")
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for r in recipes:
        name = r.name
        with training_precision(args.precision):
            _, info = load_or_train(r, args.device, args.out, progress=True, retrain=True)
        print(f"{name}: final loss (mean of last 100 steps) {info['metrics']['final_loss_mean_last100']:.4g}; "
              f"{info['path']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
