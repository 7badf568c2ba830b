"""goulart24 suite settings: which tasks, context sizes, prompt counts and model sizes each profile uses.

One place, so the claims, the meta-training command and the tests agree (fact sheet §6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from empirical.llm.meta_model import MetaConfig
from empirical.llm.tasks import MatrixFunctionTask as T

__all__ = ["TASKS", "MetaTraining", "META_TRAINING", "CHECKPOINT_DIR"]

#: Tasks per regime. The meta-trained model of a regime is trained on the mixture of its tasks, so the
#: benchmark may evaluate any subset of them. Fixed regime (R1): the paper's vector p-norm (n = 5, p = 0.5),
#: nuclear norm n = 2 … 5 (scaling claim), top-2 singular values of 5×5. Family regime (R2): p ~ U[0.5, 4],
#: Schatten q ∈ {1, 2, ∞}, output scale s ~ U[0.5, 2].
TASKS: dict[str, tuple[T, ...]] = {
    "fixed": (T("pnorm", 5, p=0.5), T("nuclear", 2), T("nuclear", 3), T("nuclear", 4), T("nuclear", 5),
              T("topk", 5, k=2)),
    "family": (T("pnorm", 5, regime="family"), T("nuclear", 3, regime="family"),
               T("nuclear", 5, regime="family"), T("topk", 5, k=2, regime="family")),
}


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

#: Where the shipped quick-profile weights live (safetensors + sidecar JSON with the retrain command); read-only.
CHECKPOINT_DIR = "empirical/checkpoints/goulart24"
