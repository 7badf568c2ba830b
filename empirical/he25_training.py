"""he25 pre-training: small ReLU-attention encoders on random PCA and 2-GMM instances (supervised on solver outputs).

Recipes (fact sheet §6 quick profile; the paper's optimiser, widths and steps are not known): pre-LN
encoder, E = 64, H = 4, MLP 4E, ReLU attention divided by N; Adam 1e-3, batch 64, fresh instances every step.

* PCA: Λ ~ U[0.1, 4.1] sorted, Haar basis, x_j = UΛ^{1/2}z_j; labels = eigh of Σ̂ = XᵀX/N (sign-canonicalised,
  largest-|entry| positive); read-out: mean-pooled → k·d vector entries + k eigenvalues;
  loss Σ_i (1 − cos(v̂_i, v_i))/k + mean (λ̂_i − λ_i)² (precursor's loss shape per its reviews; weighting ours).
* GMM: x_i = y_i μ + z_i, ‖μ‖ = 1.5, random μ direction; per-token logit; loss per instance
  min(BCE(z, y), BCE(z, 1 − y)) (swap-invariant).

Quick models are shipped under ``empirical/checkpoints/he25/``; retrain with
``python -m empirical.he25_training --out results/retrain NAME [NAME ...]`` and (maintainers) promote with
``python -m empirical.checkpoints promote results/retrain he25``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from empirical.checkpoints import STORED
from empirical.models.relu_encoder import ReLUEncoder
from empirical.seeding import torch_generator
from empirical.train import TrainConfig, train
from theory.clustering import sample_gmm
from theory.spectral import sample_pca_instances

__all__ = [
    "Recipe",
    "RECIPES",
    "CHECKPOINT_DIR",
    "build_model",
    "pca_batch",
    "gmm_batch",
    "pca_loss",
    "gmm_loss",
    "load_or_train",
    "predict_pca",
    "predict_gmm_labels",
    "seeded_linear_init_",
]

#: The shipped quick-profile models (read-only for runs).
CHECKPOINT_DIR = STORED / "he25"


@dataclass(frozen=True)
class Recipe:
    """One quick-profile model: task, sizes, optimisation."""

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


RECIPES = {
    r.name: r
    for r in [
        Recipe("pca_d5_L4", "pca", d=5, N=20, k=2, layers=4),
        Recipe("pca_d5_L2", "pca", d=5, N=20, k=2, layers=2),
        Recipe("pca_d10_L4", "pca", d=10, N=40, k=3, layers=4),
        Recipe("gmm_d5_L4", "gmm", d=5, N=32, layers=4),
    ]
}


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
    cfg = TrainConfig(steps=r.steps, batch_size=r.batch, lr=r.lr, seed=r.seed,
                      checkpoint_every=RESUME_EVERY if resume_path is not None else 0)
    if r.task == "pca":
        sample, loss = (lambda g, s: pca_batch(r, g, r.batch, device)), (lambda m, b: pca_loss(m, b, r))
    else:
        sample, loss = (lambda g, s: gmm_batch(r, g, r.batch, device)), gmm_loss
    result = train(model, sample, loss, cfg, checkpoint_path=resume_path, progress=progress, desc=r.name,
                   identity={"recipe": asdict(r)})
    return {"final_loss_mean_last50": float(sum(result.losses[-50:]) / max(1, len(result.losses[-50:])))}


RESUME_EVERY = 200


def train_recipe(r: Recipe, device: torch.device | str = "cpu", progress: bool = False) -> ReLUEncoder:
    """A freshly trained model of ``r`` (nothing stored)."""
    model = build_model(r, device)
    _fit(r, model, device, progress, None)
    return model


def load_or_train(
    name: str, device: torch.device | str = "cpu", progress: bool = False, out_dir: Path | str = "results/quick",
    retrain: bool = False,
) -> tuple[ReLUEncoder, bool]:
    """The shipped quick model (or one trained earlier into ``out_dir``) when its recipe matches and ``retrain``
    is False, else train it into ``<out_dir>/checkpoints/he25/`` (a ``retrain`` run trains each recipe once).
    Returns (model in eval mode, trained now)."""
    from empirical.checkpoints import load_or_train as stored_or_new

    if name not in RECIPES:
        raise ValueError(f"name: unknown he25 recipe {name!r} (known: {', '.join(RECIPES)})")
    r = RECIPES[name]
    model, info = stored_or_new(
        paper="he25", name=name, recipe=asdict(r), out_dir=out_dir, build=lambda: build_model(r, device),
        fit=lambda m, resume: _fit(r, m, device, progress, resume),
        command=f"python -m empirical.he25_training --out {out_dir} {name}", seed=r.seed, retrain=retrain,
        device=device)
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
    """Retrain recipes into ``<out>/checkpoints/he25/`` (promote with ``python -m empirical.checkpoints``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m empirical.he25_training", description="Retrain he25 quick models.")
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"recipes (default all: {', '.join(RECIPES)})")
    ap.add_argument("--out", type=Path, default=Path("results/quick"), help="results folder (default results/quick)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        print(f"NAME: unknown recipe(s) {unknown} (known: {', '.join(RECIPES)})", file=sys.stderr)
        return 2
    for n in args.names or list(RECIPES):
        load_or_train(n, progress=True, out_dir=args.out, retrain=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
