"""he25 pre-training: small ReLU-attention encoders on random PCA and 2-GMM instances (supervised on solver outputs).

Recipes (fact sheet §6 quick profile; the paper's optimiser, widths and steps are not known): pre-LN
encoder, E = 64, H = 4, MLP 4E, ReLU attention divided by N; Adam 1e-3, batch 64, fresh instances every step.

* PCA: Λ ~ U[0.1, 4.1] sorted, Haar basis, x_j = UΛ^{1/2}z_j; labels = eigh of Σ̂ = XᵀX/N (sign-canonicalised,
  largest-|entry| positive); read-out: mean-pooled → k·d vector entries + k eigenvalues;
  loss Σ_i (1 − cos(v̂_i, v_i))/k + mean (λ̂_i − λ_i)² (precursor's loss shape per its reviews; weighting ours).
* GMM: x_i = y_i μ + z_i, ‖μ‖ = 1.5, random μ direction; per-token logit; loss per instance
  min(BCE(z, y), BCE(z, 1 − y)) (swap-invariant).

Quick models are stored under ``empirical/checkpoints/he25/`` with the retrain command
``python -m empirical.he25_training NAME [NAME ...]``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from empirical.checkpoints import load_model_state, read_sidecar, save_model
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

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints" / "he25"


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


def _paths(name: str, directory: Path) -> Path:
    return directory / f"{name}.safetensors"


def train_recipe(
    r: Recipe, device: torch.device | str = "cpu", progress: bool = False, directory: Path | None = None
) -> ReLUEncoder:
    """Train with :func:`empirical.train.train` and store under ``directory`` (default CHECKPOINT_DIR)."""
    torch.set_num_threads(1)  # 2-core CI: small tensors are faster on one thread (fact sheet §5)
    model = build_model(r, device)
    cfg = TrainConfig(steps=r.steps, batch_size=r.batch, lr=r.lr, seed=r.seed)
    if r.task == "pca":
        result = train(
            model,
            lambda g, s: pca_batch(r, g, r.batch, device),
            lambda m, b: pca_loss(m, b, r),
            cfg,
            progress=progress,
            desc=r.name,
        )
    else:
        result = train(
            model, lambda g, s: gmm_batch(r, g, r.batch, device), gmm_loss, cfg, progress=progress, desc=r.name
        )
    path = _paths(r.name, directory or CHECKPOINT_DIR)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(
        model,
        path,
        config=asdict(r),
        command=f"python -m empirical.he25_training {r.name}",
        seed=r.seed,
        metrics={"final_loss_mean_last50": float(sum(result.losses[-50:]) / max(1, len(result.losses[-50:])))},
    )
    return model


#: Recipes retrained in this process: a ``retrain`` run trains each model once, however many claims use it.
_RETRAINED: set[str] = set()


def load_or_train(
    name: str, device: torch.device | str = "cpu", progress: bool = False, directory: Path | None = None,
    retrain: bool = False,
) -> tuple[ReLUEncoder, bool]:
    """The stored quick model if its sidecar config matches the recipe (and ``retrain`` is False), else train it
    (which stores it). Returns (model, trained)."""
    r = RECIPES[name]
    path = _paths(name, directory or CHECKPOINT_DIR)
    if path.exists() and (not retrain or name in _RETRAINED):
        try:
            if read_sidecar(path)["config"] == asdict(r):
                return load_model_state(build_model(r, "cpu"), path).to(device).eval(), False
        except (FileNotFoundError, KeyError):
            pass
    model = train_recipe(r, device, progress, directory).eval()
    _RETRAINED.add(name)
    return model, True


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


if __name__ == "__main__":  # retrain: python -m empirical.he25_training NAME [NAME ...]
    names = sys.argv[1:] or list(RECIPES)
    for n in names:
        if n not in RECIPES:
            raise SystemExit(f"NAME: unknown recipe {n!r} (known: {', '.join(RECIPES)})")
        train_recipe(RECIPES[n], progress=True)
