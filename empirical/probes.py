"""Layer-wise linear probes and Fu et al. (2023)'s two similarity metrics (§4, "Similarity of Errors" and
"Similarity of Induced Weights"), shared by every trained model with a ``hidden_states(tokens)`` method.

Protocol (held-out prompts throughout; everything compared in float64):

1. **Probes.** For each layer ℓ, a linear read-out ŷ = aᵀh + b of the hidden state at the prediction
   positions (x_1 … x_n and the query), fitted by ridge least squares (closed form) on *training* prompts
   to the true labels — the paper trains a linear read-out per layer on the frozen model; the closed form
   is its deterministic equivalent. The same fit is used for every layer (same normalisation).
2. **Algorithm predictions** at the same positions: position i uses only the first i examples (prefix),
   exactly like the causal model; position 0 predicts 0. Newton uses the suite's safe α = 1/λ_max(S)²
   (the official code's α = 2/‖SSᵀ‖_F sits on the divergence boundary for the rank-one prefix i = 1);
   GD uses step 1/λ_max(XᵀX) on ½‖Xw − y‖² from w = 0.
3. **Similarity of errors** between predictors A and B: mean over prompts of cos(ŷ_A − y, ŷ_B − y), the
   residual vectors over the n + 1 positions.
4. **Similarity of induced weights**: with the full context fixed, each predictor induces a map x ↦ ŷ(x);
   its weight vector is estimated by least squares over ``queries`` fresh query points (for a linear
   algorithm this recovers ŵ exactly); mean over prompts of the cosine between weight vectors.
5. **Best match** per layer: the algorithm step with the highest similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from empirical.models.gpt2_icl import x_positions
from theory.algorithms import gd, newton_solution_path
from theory.prompts import PromptBatch

__all__ = [
    "layer_features",
    "fit_probes",
    "apply_probes",
    "prefix_prompts",
    "newton_prefix_predictions",
    "gd_prefix_predictions",
    "error_similarity",
    "weight_similarity",
    "induced_weights",
    "probe_layer_predictions",
    "best_match",
    "linear_fit",
    "SimilarityResult",
    "similarity_study",
]


@torch.no_grad()
def layer_features(model: nn.Module, prompt: PromptBatch) -> Tensor:
    """Hidden states at the prediction positions, every layer: (L+1, B, n+m, D) float64."""
    dev = next(model.parameters()).device
    dt = next(model.parameters()).dtype
    p = prompt.to(device=dev, dtype=dt)
    H = model.hidden_states(p.to_interleaved())
    return H[:, :, x_positions(p.n, p.m, dev)].to(device="cpu", dtype=torch.float64)


def fit_probes(H: Tensor, target: Tensor, ridge: float = 1e-6) -> Tensor:
    """Ridge least-squares probe per layer: H (L+1, B, P, D), target (B, P) -> weights (L+1, D+1) (bias last).

    ``ridge`` is relative to the mean feature energy, so it means the same at every layer.
    """
    if H.ndim != 4 or target.shape != H.shape[1:3]:
        raise ValueError(f"H, target: expected (L+1, B, P, D) and (B, P), got {tuple(H.shape)}, {tuple(target.shape)}")
    Lp1, B, P, D = H.shape
    A = torch.cat([H.reshape(Lp1, B * P, D), torch.ones(Lp1, B * P, 1, dtype=H.dtype)], -1)
    y = target.reshape(B * P, 1).to(H.dtype)
    G = A.transpose(1, 2) @ A
    scale = torch.diagonal(G, dim1=1, dim2=2).mean(-1).clamp_min(1e-300)
    G = G + ridge * scale.view(-1, 1, 1) * torch.eye(D + 1, dtype=H.dtype)
    return torch.linalg.solve(G, A.transpose(1, 2) @ y).squeeze(-1)


def apply_probes(W: Tensor, H: Tensor) -> Tensor:
    """Probe predictions: W (L+1, D+1), H (L+1, B, P, D) -> (L+1, B, P)."""
    return torch.einsum("lbpd,ld->lbp", H, W[:, :-1]) + W[:, -1].view(-1, 1, 1)


def prefix_prompts(prompt: PromptBatch) -> PromptBatch:
    """One prompt per (prompt, prefix length i = 1 … n): examples beyond i zeroed (they then add nothing to
    XᵀX or Xᵀy), query = x_{i+1} (or the real query for i = n). Batch order (B, n) flattened."""
    p = prompt.to(dtype=torch.float64)
    B, n, d = p.X.shape
    mask = (torch.arange(n).view(1, n) < torch.arange(1, n + 1).view(n, 1)).to(torch.float64)  # (prefix i, row)
    X = (p.X.unsqueeze(1) * mask.view(1, n, n, 1)).reshape(B * n, n, d)
    y = (p.y.unsqueeze(1) * mask.view(1, n, n)).reshape(B * n, n)
    nxt = torch.cat([p.X[:, 1:], p.xq[:, :1]], 1)  # x_{i+1} for i = 1 … n (the query after the last)
    nyt = torch.cat([p.y[:, 1:], p.yq[:, :1]], 1)
    return PromptBatch(X, y, nxt.reshape(B * n, 1, d), nyt.reshape(B * n, 1))


def _prefix_from_path(iterates: Tensor, prompt: PromptBatch, pp: PromptBatch) -> Tensor:
    """(K+1, B·n, d) iterates on prefix prompts -> predictions (K+1, B, n+1) with position 0 = 0."""
    B, n = prompt.batch_size, prompt.n
    preds = torch.einsum("kbd,bd->kb", iterates, pp.xq[:, 0]).reshape(-1, B, n)
    return torch.cat([torch.zeros_like(preds[:, :, :1]), preds], -1)


def newton_prefix_predictions(prompt: PromptBatch, steps: int) -> Tensor:
    """Newton (safe α) predictions at the n + 1 positions, for steps 0 … steps: (steps+1, B, n+1)."""
    pp = prefix_prompts(prompt)
    return _prefix_from_path(newton_solution_path(pp, steps).iterates, prompt, pp)


def gd_prefix_predictions(prompt: PromptBatch, steps: list[int]) -> Tensor:
    """GD (step 1/λ_max(XᵀX) on ½‖Xw − y‖²) predictions at the n + 1 positions for the listed step counts:
    (len(steps), B, n+1)."""
    pp = prefix_prompts(prompt)
    n = pp.n
    lmax = torch.linalg.eigvalsh(pp.X.transpose(1, 2) @ pp.X)[:, -1]
    # theory.algorithms.gd minimises (1/2n)‖Xw − y‖², so step n/λ_max there is step 1/λ_max on ½‖Xw − y‖².
    path = gd(pp, max(steps), n / lmax).iterates[torch.as_tensor(steps)]
    return _prefix_from_path(path, prompt, pp)


def _cos(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1) / (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)).clamp_min(
        1e-300)


def error_similarity(pred_a: Tensor, pred_b: Tensor, y: Tensor) -> Tensor:
    """Similarity of errors, every pair: pred_a (A, B, P), pred_b (K, B, P), y (B, P) -> (A, K)."""
    ra = (pred_a - y).unsqueeze(1)
    rb = (pred_b - y).unsqueeze(0)
    return _cos(ra, rb).mean(-1)


def weight_similarity(w_a: Tensor, w_b: Tensor) -> Tensor:
    """Similarity of induced weights, every pair: w_a (A, B, d), w_b (K, B, d) -> (A, K)."""
    return _cos(w_a.unsqueeze(1), w_b.unsqueeze(0)).mean(-1)


def probe_layer_predictions(model: nn.Module, W: Tensor, prompt: PromptBatch) -> Tensor:
    """Per-layer probe predictions at the n + 1 positions (uses the first query only): (L+1, B, n+1)."""
    return apply_probes(W, layer_features(model, prompt.with_queries(prompt.xq[:, :1], prompt.yq[:, :1])))


def induced_weights(model: nn.Module, W: Tensor, prompt: PromptBatch) -> Tensor:
    """Per-layer induced weight vectors, estimated from the prompt's m >= d queries (one sequence per query,
    so queries never see each other): (L+1, B, d)."""
    B, m, d = prompt.xq.shape
    if m < d:
        raise ValueError(f"prompt: need m >= d queries to estimate a d-dim weight vector, got m={m}, d={d}")
    rep = PromptBatch(prompt.X.repeat_interleave(m, 0), prompt.y.repeat_interleave(m, 0),
                      prompt.xq.reshape(B * m, 1, d), prompt.yq.reshape(B * m, 1))
    H = layer_features(model, rep)[:, :, -1:]  # the query position
    yhat = apply_probes(W, H).reshape(-1, B, m)  # (L+1, B, m)
    Xq = torch.cat([prompt.xq.to(torch.float64), torch.ones(B, m, 1, dtype=torch.float64)], -1)  # affine fit
    sol = torch.linalg.lstsq(Xq.unsqueeze(0).expand(yhat.shape[0], -1, -1, -1), yhat.unsqueeze(-1)).solution
    return sol[..., :d, 0]


def best_match(sim: Tensor, steps: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per layer (row): the step (column label) with the highest similarity, and that similarity."""
    idx = torch.argmax(sim, dim=1)
    st = np.asarray(steps)[idx.numpy()]
    return st, sim.max(dim=1).values.numpy()


def linear_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares line y ≈ slope·x + intercept and its R² (R² = 1 when y is constant and fitted exactly)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    A = np.column_stack([x, np.ones_like(x)])
    (slope, icpt), *_ = np.linalg.lstsq(A, y, rcond=None)
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - A @ np.array([slope, icpt])) ** 2).sum()) / ss if ss > 0 else float("nan")
    return {"slope": float(slope), "intercept": float(icpt), "r2": r2}


@dataclass
class SimilarityResult:
    """Heatmaps (layers × steps) and best matches of one model against Newton and GD."""

    newton_steps: list[int]
    gd_steps: list[int]
    err_newton: Tensor
    err_gd: Tensor
    w_newton: Tensor
    w_gd: Tensor
    probe_mse: list[float]

    def best(self) -> dict[str, dict[str, list]]:
        out = {}
        pairs = (("err_newton", self.err_newton, self.newton_steps), ("err_gd", self.err_gd, self.gd_steps),
                 ("w_newton", self.w_newton, self.newton_steps), ("w_gd", self.w_gd, self.gd_steps))
        for name, sim, steps in pairs:
            st, val = best_match(sim, steps)
            out[name] = {"step": st.tolist(), "similarity": val.tolist()}
        return out

    def as_dict(self) -> dict[str, object]:
        return {"newton_steps": self.newton_steps, "gd_steps": self.gd_steps,
                "err_newton": self.err_newton.tolist(), "err_gd": self.err_gd.tolist(),
                "w_newton": self.w_newton.tolist(), "w_gd": self.w_gd.tolist(), "probe_mse": self.probe_mse,
                "best": self.best()}


def similarity_study(model: nn.Module, train_prompt: PromptBatch, test_prompt: PromptBatch, newton_steps: int,
                     gd_steps: list[int]) -> SimilarityResult:
    """Fit probes on ``train_prompt``; on ``test_prompt`` (held out, m >= d queries) compute both metrics
    against Newton steps 0 … newton_steps and the listed GD steps."""
    Htr = layer_features(model, train_prompt.with_queries(train_prompt.xq[:, :1], train_prompt.yq[:, :1]))
    ytr = torch.cat([train_prompt.y, train_prompt.yq[:, :1]], 1).to(torch.float64)
    W = fit_probes(Htr, ytr)
    y = torch.cat([test_prompt.y, test_prompt.yq[:, :1]], 1).to(torch.float64)
    layer_pred = probe_layer_predictions(model, W, test_prompt)
    probe_mse = ((layer_pred - y) ** 2).mean(dim=(1, 2)).tolist()
    nt = newton_prefix_predictions(test_prompt, newton_steps)
    gdp = gd_prefix_predictions(test_prompt, gd_steps)
    lw = induced_weights(model, W, test_prompt)
    full = test_prompt.to(dtype=torch.float64)
    nw = newton_solution_path(full, newton_steps).iterates
    n = full.n
    lmax = torch.linalg.eigvalsh(full.X.transpose(1, 2) @ full.X)[:, -1]
    gw = gd(full, max(gd_steps), n / lmax).iterates[torch.as_tensor(gd_steps)]
    return SimilarityResult(list(range(newton_steps + 1)), list(gd_steps), error_similarity(layer_pred, nt, y),
                            error_similarity(layer_pred, gdp, y), weight_similarity(lw, nw),
                            weight_similarity(lw, gw), probe_mse)
