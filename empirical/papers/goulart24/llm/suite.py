"""goulart24 suite settings: which tasks, context sizes, prompt counts and model sizes each profile uses.

One place, so the claims, the meta-training command and the tests agree (fact sheet §6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from empirical.papers.goulart24.llm.meta_model import MetaConfig, RelativeMetaConfig
from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask as T

__all__ = ["TASKS", "HELDOUT_TESTS", "MetaTraining", "META_TRAINING", "HELDOUT_TRAINING", "meta_training",
           "MODEL_SIZES", "TRAINING_SIZES", "meta_sizes", "CHECKPOINT_DIR"]

#: Tasks per regime. The meta-trained model of a regime is trained on the mixture of its tasks, so the
#: benchmark may evaluate any subset of them. Fixed regime (R1): the paper's vector p-norm (n = 5, p = 0.5),
#: nuclear norm n = 2 … 5 (scaling claim), top-2 singular values of 5×5. Family regime (R2): p ~ U[0.5, 4],
#: Schatten q ∈ {1, 2, ∞}, output scale s ~ U[0.5, 2].
TASKS: dict[str, tuple[T, ...]] = {
    "fixed": (T("pnorm", 5, p=0.5), T("nuclear", 2), T("nuclear", 3), T("nuclear", 4), T("nuclear", 5),
              T("topk", 5, k=2)),
    "family": (T("pnorm", 5, regime="family"), T("nuclear", 3, regime="family"),
               T("nuclear", 5, regime="family"), T("topk", 5, k=2, regime="family")),
    # Held-out regime (meta-training only): p-norms without p near 0.5, Schatten norms without q near 1 and
    # never at n = 4, spectral windows below the top (j >= 2) and never at n = 4.
    "heldout": (T("pnorm", 5, regime="heldout"), T("nuclear", 2, regime="heldout"),
                T("nuclear", 3, regime="heldout"), T("nuclear", 5, regime="heldout"),
                T("topk", 3, k=2, regime="heldout"), T("topk", 5, k=2, regime="heldout")),
}

#: What the held-out model is tested on: the paper's own functions, none of which it met in meta-training —
#: p = 0.5 lies in the held-out p band, the nuclear norm (q = 1) in the held-out q band, 4x4 matrices never
#: occur, and the top window (σ_1, σ_2) is never a target.
HELDOUT_TESTS: tuple[T, ...] = TASKS["fixed"]


@dataclass(frozen=True)
class MetaTraining:
    """Meta-training settings of one profile (the quick one is what the stored checkpoints used)."""

    model: MetaConfig = field(default_factory=MetaConfig)
    steps: int = 1500
    per_task: int = 16
    lr: float = 2e-3
    seed: int = 0


META_TRAINING = {
    "quick": MetaTraining(MetaConfig(d_max=25, k_max=2, max_len=17, embed=48, layers=2, heads=4, mlp=128),
                          steps=1500, per_task=16, lr=2e-3, seed=0),
    "full": MetaTraining(MetaConfig(d_max=25, k_max=2, max_len=65, embed=128, layers=4, heads=4, mlp=512),
                         steps=30_000, per_task=64, lr=3e-4, seed=0),
}

#: The held-out model (relative encoding, module ``meta_model``); the quick one trains in a few CPU minutes.
HELDOUT_TRAINING = {
    "quick": MetaTraining(RelativeMetaConfig(d_max=25, k_max=2, max_len=17, embed=48, layers=2, heads=4, mlp=128),
                          steps=2000, per_task=16, lr=2e-3, seed=0),
    "full": MetaTraining(RelativeMetaConfig(d_max=25, k_max=2, max_len=65, embed=128, layers=4, heads=4, mlp=512),
                         steps=30_000, per_task=64, lr=3e-4, seed=0),
}


#: The sizes of a meta-training a run may change (claims read each through a named setting): the model's ...
MODEL_SIZES = ("embed", "layers", "heads", "mlp", "max_len")
#: ... and the training's (steps; prompts of every task per step, so the batch is per_task x the regime's tasks).
TRAINING_SIZES = ("steps", "per_task")


def meta_sizes(mt: MetaTraining) -> dict[str, int]:
    """The :data:`MODEL_SIZES` and :data:`TRAINING_SIZES` of ``mt``, by name."""
    return {k: getattr(mt.model, k) for k in MODEL_SIZES} | {k: getattr(mt, k) for k in TRAINING_SIZES}


def meta_training(regime: str, profile: str, sizes: Mapping[str, int] | None = None) -> MetaTraining:
    """The meta-training settings of a regime's model in a profile; ``sizes`` (names of :func:`meta_sizes`)
    replace the profile's sizes (at the profile's own sizes it is the profile's settings, equal field by field)."""
    mt = (HELDOUT_TRAINING if regime == "heldout" else META_TRAINING)[profile]
    sizes = dict(sizes or {})
    unknown = sorted(set(sizes) - set(MODEL_SIZES) - set(TRAINING_SIZES))
    if unknown:
        raise ValueError(f"sizes: unknown meta-training sizes {unknown} (known: {MODEL_SIZES + TRAINING_SIZES})")
    model = replace(mt.model, **{k: v for k, v in sizes.items() if k in MODEL_SIZES})
    return replace(mt, model=model, **{k: v for k, v in sizes.items() if k in TRAINING_SIZES})


#: Where the shipped quick-profile weights live (safetensors + sidecar JSON with the retrain command); read-only.
CHECKPOINT_DIR = "empirical/checkpoints/goulart24"
