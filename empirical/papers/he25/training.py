"""he25 pre-training: small ReLU-attention encoders on random PCA and 2-GMM instances (supervised on solver outputs).

Quick recipes (:data:`RECIPES`, fact sheet §6 quick profile; the paper's optimiser, widths and steps are not known):
pre-LN encoder, E = 64, H = 4, MLP 4E, ReLU attention divided by N; Adam 1e-3, batch 64, fresh instances every step.

Full recipes (:data:`FULL_RECIPES`, GPU): the sheet's full-profile grid where it gives one — d ∈ {10, 20},
L ∈ {2, 4, 8, 12}, GMM at d = 10, N = 64, ‖μ‖ = 2, generalization sweep n ∈ {1e3, 3e3, 1e4, 3e4, 1e5} fixed
instances — and one value of its ranges (k = 3 of 1..5, H = 4 of {2, 4, 8}, 100k of 20k–100k steps, the plan of
docs/gpu_budget.md). What the sheet leaves unknown is the suite's choice, not the paper's: N = 4d, E = 64 and batch 64
(as the quick recipes), Adam 1e-3 with 1000 linear warm-up steps, cosine decay and gradient clipping at norm 1.

* PCA: Λ ~ U[0.1, 4.1] sorted, Haar basis, x_j = UΛ^{1/2}z_j; labels = eigh of Σ̂ = XᵀX/N (sign-canonicalised,
  largest-|entry| positive); read-out: mean-pooled → k·d vector entries + k eigenvalues;
  loss Σ_i (1 − cos(v̂_i, v_i))/k + mean (λ̂_i − λ_i)² (precursor's loss shape per its reviews; weighting ours).
* GMM: x_i = y_i μ + z_i, ‖μ‖ = 1.5, random μ direction; per-token logit; loss per instance
  min(BCE(z, y), BCE(z, 1 − y)) (swap-invariant).

Quick models are shipped under ``empirical/checkpoints/he25/``; retrain with
``python -m empirical.papers.he25.training --out results/retrain NAME [NAME ...]`` and (maintainers) promote with
``python -m empirical.checkpoints promote results/retrain he25``. Full-profile models are never shipped: a run trains
them into ``<out>/checkpoints/he25/`` (resumable) and later runs into the same folder load them
(``python -m empirical.papers.he25.training --profile full --out OUT NAME`` trains one ahead of a run).
"""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from empirical.checkpoints import STORED, recipe_argument, recipes_to_train
from empirical.models.relu_encoder import ReLUEncoder
from empirical.precision import add_precision_argument, training_precision
from empirical.seeding import torch_generator
from empirical.train import TrainConfig, train
from theory.clustering import sample_gmm
from theory.spectral import sample_pca_instances

__all__ = [
    "Recipe",
    "RECIPES",
    "FULL_RECIPES",
    "ROLES",
    "DEPTHS",
    "GENERALIZATION_SIZES",
    "SHARED_SIZES",
    "CHECKPOINT_DIR",
    "recipe_identity",
    "recipe_name",
    "recipes",
    "profile_of",
    "build_model",
    "pca_batch",
    "gmm_batch",
    "fixed_pca_set",
    "train_set_bytes",
    "pca_loss",
    "pca_risk",
    "gmm_loss",
    "load_or_train",
    "load_recipe",
    "predict_pca",
    "predict_gmm_labels",
    "seeded_linear_init_",
]

#: The shipped quick-profile models (read-only for runs).
CHECKPOINT_DIR = STORED / "he25"


@dataclass(frozen=True)
class Recipe:
    """One model: task, sizes, optimisation.

    ``train_instances``: 0 trains on fresh instances every step; n > 0 on a fixed set of n PCA instances
    (:func:`fixed_pca_set`, the generalization sweep). The last four fields came after the quick models shipped:
    they enter a model's identity (:func:`recipe_identity`) only when they differ from their defaults, so the
    shipped recipes keep their hashes.
    """

    name: str
    task: str  # "pca" | "gmm"
    d: int
    N: int
    k: int = 1
    mu_norm: float = 1.5
    layers: int = 4
    E: int = 64
    heads: int = 4
    steps: int = 1100
    batch: int = 64
    lr: float = 1e-3
    seed: int = 0
    warmup: int = 0
    schedule: str = "constant"
    grad_clip: float | None = None
    train_instances: int = 0

    def __post_init__(self) -> None:
        if self.task not in ("pca", "gmm"):
            raise ValueError(f"task: expected 'pca' or 'gmm', got {self.task!r}")
        if isinstance(self.train_instances, bool) or not isinstance(self.train_instances, int) or \
                self.train_instances < 0:
            raise ValueError(f"train_instances: expected an integer >= 0, got {self.train_instances!r}")
        if self.train_instances and self.task != "pca":
            raise ValueError(f"train_instances: a fixed training set is a PCA recipe's option, not {self.task!r}'s")

    def train_config(self, checkpoint_every: int = 0) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch, lr=self.lr, seed=self.seed, warmup=self.warmup,
                           schedule=self.schedule, grad_clip=self.grad_clip,  # type: ignore[arg-type]
                           checkpoint_every=checkpoint_every)


#: Recipe fields added after the quick models shipped, with their defaults (:func:`recipe_identity`).
_LATER_FIELDS = {f.name: f.default for f in fields(Recipe)
                 if f.name in ("warmup", "schedule", "grad_clip", "train_instances")}


def recipe_identity(r: Recipe) -> dict[str, Any]:
    """The recipe as a model's identity (:func:`empirical.checkpoints.recipe_sha256`): every field, except the
    later ones (:data:`_LATER_FIELDS`) at their defaults — the shipped quick models were stored before those fields
    existed, and a recipe that does not use them is the same model."""
    return {k: v for k, v in asdict(r).items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


def recipe_name(task: str, d: int, layers: int, train_instances: int = 0) -> str:
    """``<task>_d<d>_L<layers>`` (``_n<n>`` with a fixed training set): the quick names, e.g. ``pca_d5_L4``."""
    return f"{task}_d{d}_L{layers}" + (f"_n{train_instances}" if train_instances else "")


RECIPES = {
    r.name: r
    for r in [
        Recipe("pca_d5_L4", "pca", d=5, N=20, k=2, layers=4),
        Recipe("pca_d5_L2", "pca", d=5, N=20, k=2, layers=2),
        Recipe("pca_d10_L4", "pca", d=10, N=40, k=3, layers=4),
        Recipe("gmm_d5_L4", "gmm", d=5, N=32, layers=4),
    ]
}

#: Depths of the depth claim per profile (sheet §3 claim 14: quick L ∈ {2, 4}, full L ∈ {2, 4, 8, 12}).
DEPTHS = {"quick": (2, 4), "full": (2, 4, 8, 12)}
#: Fixed training-set sizes of the generalization sweep (sheet §6 full profile).
GENERALIZATION_SIZES = (1000, 3000, 10_000, 30_000, 100_000)
#: Recipe fields every model of a profile shares (one setting each in the claims: ``model.<field>``).
SHARED_SIZES = ("E", "heads", "steps", "batch", "warmup")


def _full(task: str, d: int, N: int, layers: int, k: int = 1, mu_norm: float = 1.5,
          train_instances: int = 0) -> Recipe:
    """A full-profile recipe (module docstring: which numbers are the sheet's and which the suite's)."""
    return Recipe(recipe_name(task, d, layers, train_instances), task, d=d, N=N, k=k, mu_norm=mu_norm, layers=layers,
                  E=64, heads=4, steps=100_000, batch=64, lr=1e-3, seed=0, warmup=1000, schedule="cosine",
                  grad_clip=1.0, train_instances=train_instances)


FULL_RECIPES = {
    r.name: r
    for r in [
        *(_full("pca", 10, 40, L, k=3) for L in DEPTHS["full"]),
        _full("pca", 20, 80, 8, k=3),
        _full("gmm", 10, 64, 8, mu_norm=2.0),
        *(_full("pca", 10, 40, 8, k=3, train_instances=n) for n in GENERALIZATION_SIZES),
    ]
}

#: The claims' model roles: role -> (quick recipe, full recipe). "pca": the main PCA model (claims 12, 13, 16,
#: 18; the depth and generalization sweeps vary its depth and training set); "pca_large": the larger d of claim 13.
ROLES = {"pca": ("pca_d5_L4", "pca_d10_L8"), "pca_large": ("pca_d10_L4", "pca_d20_L8"),
         "gmm": ("gmm_d5_L4", "gmm_d10_L8")}


def recipes(profile: str) -> dict[str, Recipe]:
    """The recipes of ``profile`` ("quick" or "full") by name."""
    if profile not in ("quick", "full"):
        raise ValueError(f"profile: expected 'quick' or 'full', got {profile!r}")
    return RECIPES if profile == "quick" else FULL_RECIPES


def profile_of(r: Recipe) -> str:
    """"quick" or "full" when a profile holds exactly this recipe, else "custom" (sizes changed through settings)."""
    return next((p for p in ("quick", "full") if recipes(p).get(r.name) == r), "custom")


def seeded_linear_init_(model: nn.Module, seed: int) -> nn.Module:
    """Linear weights ~ U(±1/√fan_in) from an explicit generator, biases 0; LayerNorms keep (1, 0)."""
    g = torch_generator(seed, "init")
    with torch.no_grad():
        for _, m in sorted(model.named_modules(), key=lambda t: t[0]):
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_((torch.rand(m.weight.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.zero_()
    return model


def build_model(r: Recipe, device: torch.device | str = "cpu") -> ReLUEncoder:
    pooled = r.k * r.d + r.k if r.task == "pca" else 0
    token = 1 if r.task == "gmm" else 0
    m = ReLUEncoder(r.d, r.E, r.layers, r.heads, 4, pooled, token, device=device)
    return seeded_linear_init_(m, r.seed).to(device)


def pca_batch(r: Recipe, g: torch.Generator, batch: int, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """X (B, N, d) float32; vecs (B, k, d) canonicalised; vals (B, k); float64 copies for evaluation."""
    inst = sample_pca_instances(batch, r.d, r.N, g)
    vecs = inst.eigvecs[..., : r.k].transpose(1, 2)
    return {
        "X": inst.X.float().to(device),
        "vecs": vecs.float().to(device),
        "vals": inst.eigvals[:, : r.k].float().to(device),
        "X64": inst.X,
        "vecs64": vecs,
        "vals64": inst.eigvals,
        "S64": inst.S,
    }


def gmm_batch(r: Recipe, g: torch.Generator, batch: int, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    inst = sample_gmm(batch, r.d, r.N, r.mu_norm, g)
    return {
        "X": inst.X.float().to(device),
        "y": inst.y.float().to(device),
        "X64": inst.X,
        "y64": inst.y,
        "mu64": inst.mu,
    }


def split_pca_output(out: Tensor, k: int, d: int) -> tuple[Tensor, Tensor]:
    """(B, k·d + k) -> vectors (B, k, d), eigenvalues (B, k)."""
    return out[:, : k * d].view(-1, k, d), out[:, k * d :]


def pca_loss(model: nn.Module, batch: dict[str, Tensor], r: Recipe) -> Tensor:
    vec, val = split_pca_output(model(batch["X"])["pooled"], r.k, r.d)
    cos = F.cosine_similarity(vec, batch["vecs"], dim=-1)
    return (1 - cos).mean() + ((val - batch["vals"]) ** 2).mean()


def pca_risk(vectors: Tensor, values: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """The pre-training objective per instance, float64: vectors (B, k, d), values (B, k) -> (B,) =
    mean_i (1 − cos(v̂_i, v_i)) + mean_i (λ̂_i − λ_i)² against the batch's float64 labels (what :func:`pca_loss`
    averages over a batch): the test risk of claim 17."""
    k = vectors.shape[1]
    cos = F.cosine_similarity(vectors.double(), batch["vecs64"][:, :k].double(), dim=-1)
    return (1 - cos).mean(-1) + ((values.double() - batch["vals64"][:, :k].double()) ** 2).mean(-1)


#: Instances per generator of a fixed training set (:func:`fixed_pca_set`).
TRAIN_SET_CHUNK = 1000
#: The training-set tensors, with their float32 sizes per instance as functions of a recipe (N·d, k·d, k).
_SET_KEYS = {"X": lambda r: r.N * r.d, "vecs": lambda r: r.k * r.d, "vals": lambda r: r.k}


def _set_chunk(r: Recipe, c: int) -> dict[str, Tensor]:
    """Chunk ``c`` of the recipe's fixed set: TRAIN_SET_CHUNK instances from the stream (seed, "train-set", c),
    float32 (the float64 copies die here)."""
    part = pca_batch(r, torch_generator(r.seed, "he25", "train-set", c), TRAIN_SET_CHUNK)
    return {key: part[key] for key in _SET_KEYS}


def fixed_pca_set(r: Recipe, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """The fixed training set of a recipe with ``train_instances`` = n > 0: X (n, N, d), vecs (n, k, d) and vals
    (n, k), float32 on ``device``, labelled like :func:`pca_batch`.

    Whole chunks are drawn and the set is their first n instances, so the sets of a sweep are nested (the set of n
    is the start of the set of any larger n): the sizes differ in data, never in which instances they start from.
    """
    n = r.train_instances
    if n < 1:
        raise ValueError(f"r: recipe {r.name!r} has no fixed training set (train_instances = {n})")
    out = {"X": torch.empty(n, r.N, r.d), "vecs": torch.empty(n, r.k, r.d), "vals": torch.empty(n, r.k)}
    for c, start in enumerate(range(0, n, TRAIN_SET_CHUNK)):
        stop = min(n, start + TRAIN_SET_CHUNK)
        part = _set_chunk(r, c)
        for key, t in out.items():
            t[start:stop] = part[key][: stop - start]
        del part  # before the next chunk is drawn: one chunk alive at a time (train_set_bytes)
    return {key: t.to(device) for key, t in out.items()}


def train_set_bytes(r: Recipe) -> int:
    """Peak tensor bytes of :func:`fixed_pca_set` (it grows with ``train_instances``, 1e5 at the full profile): the
    float32 set, 4n·(N·d + k·d + k), plus one chunk of C = TRAIN_SET_CHUNK instances being drawn in float64 — the
    standard normals, their scaling and X (3·N·d per instance), X's float32 copy (N·d/2), the basis, Σ̂ and its
    eigenvectors with the QR and eigh work (≤ 2d²) and the spectra (≤ 10d), an upper bound of
    :class:`empirical.memory.PeakTensorBytes` measurements (d = 3..20)."""
    n, C = r.train_instances, TRAIN_SET_CHUNK
    per_instance = sum(size(r) for size in _SET_KEYS.values())
    return 4 * n * per_instance + 4 * C * (7 * r.N * r.d + 4 * r.d * r.d + 20 * r.d)  # 8C·(3.5Nd + 2d² + 10d)


def gmm_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    z = model(batch["X"])["token"][..., 0]
    y01 = (batch["y"] > 0).float()
    a = F.binary_cross_entropy_with_logits(z, y01, reduction="none").mean(-1)
    b = F.binary_cross_entropy_with_logits(z, 1 - y01, reduction="none").mean(-1)
    return torch.minimum(a, b).mean()


def _fit(r: Recipe, model: ReLUEncoder, device: torch.device | str, progress: bool,
         resume_path: Path | None) -> dict:
    """Train ``model`` in place with :func:`empirical.train.train` (resumable from ``resume_path``); metrics.

    Trains on one CPU thread (2-core CI: small tensors are faster on one, fact sheet §5) and restores the
    caller's thread count afterwards (the claim JSON records both)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_one_thread(r, model, device, progress, resume_path)
    finally:
        torch.set_num_threads(before)


def _fit_one_thread(r: Recipe, model: ReLUEncoder, device: torch.device | str, progress: bool,
                    resume_path: Path | None) -> dict:
    cfg = r.train_config(RESUME_EVERY if resume_path is not None else 0)
    if r.train_instances:  # a fixed set: each step draws its batch from it (with replacement)
        pool = fixed_pca_set(r, device)
        n = r.train_instances

        def sample(g: torch.Generator, s: int) -> dict[str, Tensor]:
            idx = torch.randint(n, (r.batch,), generator=g).to(pool["X"].device)
            return {key: t[idx] for key, t in pool.items()}
    elif r.task == "pca":
        def sample(g: torch.Generator, s: int) -> dict[str, Tensor]:
            return pca_batch(r, g, r.batch, device)
    else:
        def sample(g: torch.Generator, s: int) -> dict[str, Tensor]:
            return gmm_batch(r, g, r.batch, device)
    loss = (lambda m, b: pca_loss(m, b, r)) if r.task == "pca" else gmm_loss
    result = train(model, sample, loss, cfg, checkpoint_path=resume_path, progress=progress, desc=r.name,
                   identity={"recipe": recipe_identity(r)})
    return {"final_loss_mean_last50": float(sum(result.losses[-50:]) / max(1, len(result.losses[-50:])))}


RESUME_EVERY = 200


def train_recipe(r: Recipe, device: torch.device | str = "cpu", progress: bool = False) -> ReLUEncoder:
    """A freshly trained model of ``r`` (nothing stored)."""
    model = build_model(r, device)
    _fit(r, model, device, progress, None)
    return model


def _command(out: Path | str, r: Recipe) -> str:
    """The command that retrains ``r`` alone: by name for a profile's recipe, else (sizes changed through settings)
    by the recipe itself, so the recorded command always rebuilds the same model."""
    profile = profile_of(r)
    which = recipe_argument(r) if profile == "custom" else (
        [r.name] if profile == "quick" else ["--profile", "full", r.name])
    return "python -m empirical.papers.he25.training " + " ".join(shlex.quote(str(a)) for a in ["--out", out, *which])


def load_recipe(r: Recipe, device: torch.device | str = "cpu", out_dir: Path | str = "results/quick",
                progress: bool = False, retrain: bool = False) -> tuple[ReLUEncoder, dict[str, Any]]:
    """The model of recipe ``r``: the shipped quick model (or one trained earlier into ``out_dir``) when its
    identity matches and ``retrain`` is False, else trained now into ``<out_dir>/checkpoints/he25/`` (resumable;
    a ``retrain`` run trains each recipe once).

    Returns:
        (model in eval mode, info: ``source`` ("shipped" | "run" | "trained"), ``path``, ``command``, ``metrics``,
        ``recipe_sha256`` and ``config`` (the recipe's identity)).
    """
    from empirical.checkpoints import load_or_train as stored_or_new

    identity = recipe_identity(r)
    model, info = stored_or_new(
        paper="he25", name=r.name, recipe=identity, out_dir=out_dir, build=lambda: build_model(r, device),
        fit=lambda m, resume: _fit(r, m, device, progress, resume), command=_command(out_dir, r), seed=r.seed,
        retrain=retrain, device=device)
    return model, {**info, "config": identity}


def load_or_train(
    name: str, device: torch.device | str = "cpu", progress: bool = False, out_dir: Path | str = "results/quick",
    retrain: bool = False,
) -> tuple[ReLUEncoder, bool]:
    """The quick recipe ``name`` through :func:`load_recipe`. Returns (model in eval mode, trained now)."""
    if name not in RECIPES:
        raise ValueError(f"name: unknown he25 recipe {name!r} (known: {', '.join(RECIPES)})")
    model, info = load_recipe(RECIPES[name], device, out_dir, progress, retrain)
    return model, info["source"] == "trained"


@torch.no_grad()
def predict_pca(model: ReLUEncoder, r: Recipe, X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """float64 (vectors (B, k, d), eigenvalues (B, k), hidden (L+1, B, N, E))."""
    dev = next(model.parameters()).device
    out = model(X.float().to(dev), return_hidden=True)
    vec, val = split_pca_output(out["pooled"].double().cpu(), r.k, r.d)
    return vec, val, out["hidden"].double().cpu()


@torch.no_grad()
def predict_gmm_labels(model: ReLUEncoder, X: Tensor) -> Tensor:
    """±1 labels (B, N) float64 (sign of the per-token logit; 0 counts as an error)."""
    dev = next(model.parameters()).device
    return torch.sign(model(X.float().to(dev))["token"][..., 0].double().cpu())


def main(argv: list[str] | None = None) -> int:
    """Retrain recipes into ``<out>/checkpoints/he25/`` (promote quick ones: ``python -m empirical.checkpoints``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m empirical.papers.he25.training", description="Retrain he25 models.")
    ap.add_argument("names", nargs="*", metavar="NAME", help="recipes of --profile (default: all of them)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default results/<profile>)")
    ap.add_argument("--profile", choices=("quick", "full"), default="quick")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--recipe", default=None, metavar="JSON",
                    help="train this one recipe (the JSON of Recipe's fields) instead of NAMEs: how a model shrunk or "
                         "changed through settings is retrained")
    add_precision_argument(ap)
    args = ap.parse_args(argv)
    out = args.out if args.out is not None else Path("results") / args.profile
    try:
        todo = recipes_to_train(args.recipe, args.names, recipes(args.profile), Recipe, "NAME")
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for r in todo:
        with training_precision(args.precision):
            _, info = load_recipe(r, args.device, out, progress=True, retrain=True)
        print(f"{r.name}: {info['path']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
