"""A small transformer meta-trained from scratch on goulart24's tasks, in Garg et al.'s prompt format
(*What can transformers learn in-context?*, NeurIPS 2022; fact sheet §2).

Format: tokens x_0, y_0, x_1, y_1, … (alternating), x flattened and zero-padded to ``d_max``, y padded to
``k_max``; separate linear read-ins for x and y tokens, learned positions, a causal pre-norm transformer,
and a linear read-out at every x position: the output at x_i predicts y_i from (x_0, y_0, …, x_i), so
one forward pass gives the prediction for every context size c = 0 … L−1.

Scaling (``encoding``):

* ``task_stats`` (:class:`MetaConfig`, the fixed and family models): inputs are divided by the entry scale a
  and targets standardised with the *task-distribution* mean and std (from
  :func:`empirical.papers.goulart24.llm.tasks.target_stats`, never from the prompt), so one model handles tasks
  whose targets differ by 10³; predictions are mapped back to the raw scale. In the family regime these statistics are
  those of the whole family, so the per-prompt parameter must still be inferred. Used on a function it never
  saw, this would hand the model that function's mean and spread: it is not used for held-out tests.
* ``relative`` (:class:`RelativeMetaConfig`, the held-out model): no statistic of the test function is used.
  Inputs are divided by a (a property of the data generator, the same for every task); an n×n matrix sits in
  the top-left corner of a G×G grid (G² = d_max), so every size has the same layout and the same singular
  values (plus zeros); targets are divided by ‖y_0‖, the norm of the prompt's first demonstration target.
  Prediction c = 0 would need y_0 itself and is NaN.

Training: the suite's one loop (:func:`empirical.train.train`) on a mixture of tasks (each step holds
``per_task`` prompts of every task), MSE at every x position over the valid output coordinates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from empirical.papers.goulart24.llm.tasks import FunctionPrompts, MatrixFunctionTask, target_stats

__all__ = ["MetaConfig", "RelativeMetaConfig", "ICLTransformer", "encode", "predict_all", "meta_train",
           "mixture_sampler", "parameter_count", "training_step_bytes"]


@dataclass(frozen=True)
class MetaConfig:
    """Model size and padding. quick: 2 layers, E = 64, 4 heads (fact sheet §6)."""

    d_max: int = 25
    k_max: int = 2
    max_len: int = 33
    embed: int = 64
    layers: int = 2
    heads: int = 4
    mlp: int = 256


@dataclass(frozen=True)
class RelativeMetaConfig(MetaConfig):
    """A :class:`MetaConfig` with the ``relative`` encoding (module docstring): for functions never seen."""

    encoding: str = "relative"

    def __post_init__(self) -> None:
        if self.encoding != "relative":
            raise ValueError(f"encoding: expected 'relative', got {self.encoding!r}")
        if math.isqrt(self.d_max) ** 2 != self.d_max:
            raise ValueError(f"d_max: the relative encoding lays matrices on a square grid, got d_max = {self.d_max}")


def is_relative(cfg: MetaConfig) -> bool:
    return getattr(cfg, "encoding", "task_stats") == "relative"


class ICLTransformer(nn.Module):
    """Causal transformer over interleaved (x, y) tokens. forward: X (B, L, d_max), Y (B, L, k_max) ->
    predictions (B, L, k_max) in standardised units, entry i predicting y_i from examples < i and x_i."""

    def __init__(self, cfg: MetaConfig, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        self.read_x = nn.Linear(cfg.d_max, cfg.embed, **kw)
        self.read_y = nn.Linear(cfg.k_max, cfg.embed, **kw)
        self.pos = nn.Parameter(0.02 * torch.randn(2 * cfg.max_len, cfg.embed, **kw))
        layer = nn.TransformerEncoderLayer(cfg.embed, cfg.heads, cfg.mlp, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, **kw)
        self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(cfg.embed, **kw)
        self.head = nn.Linear(cfg.embed, cfg.k_max, **kw)

    def forward(self, X: Tensor, Y: Tensor) -> Tensor:
        B, L, _ = X.shape
        if L > self.cfg.max_len:
            raise ValueError(f"X: at most {self.cfg.max_len} examples per prompt, got {L}")
        tok = torch.stack([self.read_x(X), self.read_y(Y)], dim=2).reshape(B, 2 * L, -1) + self.pos[: 2 * L]
        mask = nn.Transformer.generate_square_subsequent_mask(2 * L, device=X.device, dtype=tok.dtype)
        h = self.blocks(tok, mask=mask, is_causal=True)
        return self.head(self.ln_f(h[:, 0::2]))


def _task_stats(task: MatrixFunctionTask) -> tuple[Tensor, Tensor]:
    mean, var = target_stats(task.with_scale(1.0))
    return mean, var.sqrt()


def _first_target_norm(prompts: FunctionPrompts) -> Tensor:
    """‖y_0‖ per prompt (P,): the relative encoding's target unit (targets are positive norms/σ's)."""
    return prompts.Y[:, 0].norm(dim=-1).clamp_min(1e-300)


def _encode_relative(prompts: FunctionPrompts, cfg: MetaConfig) -> tuple[Tensor, Tensor, Tensor]:
    t = prompts.task
    G = math.isqrt(cfg.d_max)
    P, L, _ = prompts.X.shape
    x = prompts.X / t.scale
    if t.is_matrix:
        if t.n > G:
            raise ValueError(f"prompts: task {t.name} needs a {t.n}x{t.n} grid; the model's is {G}x{G}")
        grid = torch.zeros(P, L, G, G, dtype=x.dtype)
        grid[..., : t.n, : t.n] = x.reshape(P, L, t.n, t.n)
        x = grid.reshape(P, L, G * G)
    X = torch.zeros(P, L, cfg.d_max)
    X[..., : x.shape[-1]] = x.float()
    Y = torch.zeros(P, L, cfg.k_max)
    Y[..., : t.k_out] = (prompts.Y / _first_target_norm(prompts)[:, None, None]).float()
    mask = torch.zeros(cfg.k_max)
    mask[: t.k_out] = 1.0
    return X, Y, mask


def encode(prompts: FunctionPrompts, cfg: MetaConfig) -> tuple[Tensor, Tensor, Tensor]:
    """(X (P, L, d_max), Y (P, L, k_max), mask (k_max,)) in model units, float32."""
    t = prompts.task
    if t.d_in > cfg.d_max or t.k_out > cfg.k_max:
        raise ValueError(f"prompts: task {t.name} needs d = {t.d_in}, k = {t.k_out}; model pads to "
                         f"d_max = {cfg.d_max}, k_max = {cfg.k_max}")
    if is_relative(cfg):
        return _encode_relative(prompts, cfg)
    mean, std = _task_stats(t)
    P, L, _ = prompts.X.shape
    X = torch.zeros(P, L, cfg.d_max)
    Y = torch.zeros(P, L, cfg.k_max)
    X[..., : t.d_in] = (prompts.X / t.scale).float()
    Y[..., : t.k_out] = ((prompts.Y / t.scale - mean) / std).float()
    mask = torch.zeros(cfg.k_max)
    mask[: t.k_out] = 1.0
    return X, Y, mask


@torch.no_grad()
def predict_all(model: ICLTransformer, prompts: FunctionPrompts, batch: int = 256) -> Tensor:
    """Raw-scale predictions (P, L, k) float64; entry c is the prediction with c demonstrations (entry 0 is NaN
    under the relative encoding)."""
    model.eval()
    dev = next(model.parameters()).device
    X, Y, _ = encode(prompts, model.cfg)
    out = torch.cat([model(X[i:i + batch].to(dev), Y[i:i + batch].to(dev)).cpu()
                     for i in range(0, X.shape[0], batch)])
    t = prompts.task
    if is_relative(model.cfg):
        pred = out[..., : t.k_out].to(torch.float64) * _first_target_norm(prompts)[:, None, None]
        pred[:, 0] = float("nan")  # c = 0 would be scored in units of its own target
        return pred
    mean, std = _task_stats(t)
    return t.scale * (out[..., : t.k_out].to(torch.float64) * std + mean)


def mixture_sampler(tasks: list[MatrixFunctionTask], cfg: MetaConfig, per_task: int, device: torch.device):
    """sample_batch(generator, step) for :func:`empirical.train.train`: per_task prompts of every task."""
    def sample(g: torch.Generator, step: int) -> tuple[Tensor, Tensor, Tensor]:
        parts = [encode(t.sample(per_task, cfg.max_len, g), cfg) for t in tasks]
        X = torch.cat([p[0] for p in parts])
        Y = torch.cat([p[1] for p in parts])
        M = torch.cat([p[2].expand(per_task, -1) for p in parts])
        return X.to(device), Y.to(device), M.to(device)

    return sample


def masked_mse(model: ICLTransformer, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Mean squared error at every x position over the valid output coordinates (standardised units)."""
    X, Y, M = batch
    err = (model(X, Y) - Y) ** 2 * M[:, None, :]
    return err.sum() / (M.sum() * X.shape[1])


def init_meta_model(cfg: MetaConfig, seed: int, device: torch.device | str = "cpu") -> ICLTransformer:
    """A freshly initialised model: PyTorch's default init drawn from a global state seeded by ``seed``, inside
    ``fork_rng`` so the caller's global RNG state is untouched."""
    from empirical.seeding import torch_generator

    g = torch_generator(seed, "goulart24-meta-init")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        return ICLTransformer(cfg, device=torch.device(device))


def meta_fit(model: ICLTransformer, tasks: list[MatrixFunctionTask], cfg: MetaConfig, *, steps: int, per_task: int,
             lr: float, seed: int, device: torch.device | str = "cpu", progress: bool = True,
             desc: str = "goulart24 meta-train", resume_path: Path | None = None) -> list[float]:
    """Meta-train ``model`` in place on the task mixture with the suite's training loop; the loss history.
    ``resume_path``: resumable training state (every 100 steps) or None."""
    from empirical.train import TrainConfig, train

    tc = TrainConfig(steps=steps, batch_size=per_task * len(tasks), lr=lr, optimizer="adam", grad_clip=1.0,
                     schedule="cosine", warmup=min(100, steps // 10), seed=seed,
                     checkpoint_every=100 if resume_path is not None else 0)
    res = train(model, mixture_sampler(tasks, cfg, per_task, torch.device(device)), masked_mse, tc,
                checkpoint_path=resume_path, progress=progress, desc=desc,
                identity={"tasks": [t.name for t in tasks], "model": asdict(cfg)})
    return res.losses


def parameter_count(cfg: MetaConfig) -> int:
    """Parameters of :class:`ICLTransformer` (cfg): read-ins (d_max + k_max + 2)·E, positions 2·max_len·E, per
    layer 4E² + 2EF + 9E + F (qkv and output maps, the F-wide MLP, two LayerNorms), final LayerNorm 2E and
    read-out (E + 1)·k_max."""
    E, F = cfg.embed, cfg.mlp
    return ((cfg.d_max + cfg.k_max + 2) * E + 2 * cfg.max_len * E + cfg.layers * (4 * E * E + 2 * E * F + 9 * E + F)
            + 2 * E + (E + 1) * cfg.k_max)


def training_step_bytes(cfg: MetaConfig, batch: int) -> int:
    """Peak tensor bytes of one meta-training step (:func:`masked_mse`, backward, clipping, Adam) on ``batch``
    prompts of ``max_len`` examples, i.e. N = batch·2·max_len tokens, float32:

    * activations autograd keeps, per token and layer 2F + 8E + H + 4 numbers (the MLP's pre- and post-GELU
      F-vectors; qkv 3E, the attention output and its transposed copy 2E, two residual sums 2E, a LayerNorm output;
      the fused attention's log-sum-exp per head; LayerNorm statistics), plus F + 2E per token of gradients alive
      at the backward's peak (measured with :class:`empirical.memory.PeakTensorBytes`). The fused attention keeps
      no S x S matrix per head; an unfused one would add 12·batch·heads·(2·max_len)² bytes per layer;
    * the batch itself, batch·max_len·(d_max + k_max) numbers;
    * gradients and Adam's two moments, 12 bytes per parameter (:func:`parameter_count`).
    """
    E, F, H, L = cfg.embed, cfg.mlp, cfg.heads, cfg.layers
    tokens = batch * 2 * cfg.max_len
    activations = 4 * tokens * (L * (2 * F + 8 * E + H + 4) + F + 2 * E)
    return activations + 4 * batch * cfg.max_len * (cfg.d_max + cfg.k_max) + 12 * parameter_count(cfg)


def meta_train(tasks: list[MatrixFunctionTask], cfg: MetaConfig, *, steps: int, per_task: int, lr: float,
               seed: int, device: torch.device | str = "cpu", progress: bool = True,
               desc: str = "goulart24 meta-train") -> tuple[ICLTransformer, list[float]]:
    """Meta-train a fresh model on the task mixture with the suite's training loop."""
    model = init_meta_model(cfg, seed, device)
    return model, meta_fit(model, tasks, cfg, steps=steps, per_task=per_task, lr=lr, seed=seed, device=device,
                           progress=progress, desc=desc)


def config_dict(cfg: MetaConfig) -> dict:
    return asdict(cfg)


def checkpoint_path(folder: Path | str, regime: str) -> Path:
    return Path(folder) / f"meta_{regime}.safetensors"
