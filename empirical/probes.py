"""Layer-wise linear probes and Fu et al. (2023)'s similarity metrics (§4, "Similarity of Errors" and
"Similarity of Induced Weights"), shared by every *subject* with a ``hidden_states(tokens)`` method: the trained
models, and the known-answer stand-ins (:class:`AlgorithmStandIn`) that the claims run as controls.

Protocol (held-out prompts throughout; everything compared in float64):

1. **Probes.** For each layer ℓ, a linear read-out ŷ = aᵀh + b of the hidden state at the prediction
   positions (x_1 … x_n and the query), fitted to the true labels on *training* prompts. The paper's probe
   (official code) trains it with Adam (lr 1e-4, a ~ N(0, 0.01²), b = 0) on the frozen model
   (:func:`fit_probes_adam`); the suite's (:func:`fit_probes`) is that objective's minimiser in closed form
   (ridge least squares, a vanishing ridge), deterministic and three orders of magnitude faster.
2. **Algorithm predictions** at the same n + 1 positions: position i uses only the first i examples (prefix),
   exactly like the causal model; position 0 predicts 0. With S = XᵀX = V diag(λ) Vᵀ (prefix i) all of them
   are spectral filters of the least-squares solution, computed in closed form (exact in real arithmetic, so
   long step grids cost nothing and suffer no accumulated round-off):

   * Iterative Newton (the paper's eq. M_0 = αS, M_{k+1} = 2M_k − M_kSM_k, ŵ_k = M_kXᵀy) with the suite's safe
     α = 1/λ_max²: ŵ_k = V diag((1 − (1 − αλ²)^{2^k})/λ) VᵀXᵀy (since I − M_kS = (I − M_0S)^{2^k}).
     (The official code's α = 2/‖SSᵀ‖_F is on the divergence boundary for a one-example prefix, where it gives
     M_k = 0 for every k >= 1.)
   * GD on ½‖Xw − y‖² from w = 0 with a fixed step η: ŵ_t = V diag((1 − (1 − ηλ)^t)/λ) VᵀXᵀy. Step rules
     (:data:`GD_STEP_RULES`): ``official`` η = 0.01 (the official code's ``lr``), ``best`` η = 2/(λ_max + λ_min⁺)
     per prompt (the best fixed step for a quadratic), ``suite`` η = 1/λ_max.
   * Online GD, one pass (normalised LMS; the official code's adaptive online GD is μ = 1, its start is
     random, ours 0): w_i = w_{i−1} + μ (y_i − x_iᵀw_{i−1}) x_i/‖x_i‖².

3. **Similarity of errors** (SimE) between predictors A and B: per prompt, cos(ŷ_A − y, ŷ_B − y) of the residual
   vectors, averaged over prompts. The paper's definition takes positions 2 … n+1 (1-indexed: every position
   that has seen an example; :data:`PAPER_FIRST_POSITION`); the official code's evaluation takes all n + 1.
4. **Similarity of induced weights** (SimW): with the full context fixed, each predictor induces a map x ↦ ŷ(x);
   its weight vector is estimated by least squares over ``queries`` fresh query points (for a linear
   algorithm this recovers ŵ exactly); mean over prompts of the cosine between weight vectors.
5. **Best match** per layer: the algorithm step with the highest mean similarity. Its uncertainty comes from
   a bootstrap over held-out prompts (:func:`bootstrap_weights`, :func:`bootstrap_best`): resampling prompts
   resamples the per-prompt similarities, and every statistic built on the best matches is recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from empirical.models.gpt2_icl import x_positions
from theory.prompts import PromptBatch

__all__ = [
    "GD_STEP_RULES",
    "OFFICIAL_GD_STEP",
    "PAPER_FIRST_POSITION",
    "PAPER_GD_MAX_EXPONENT",
    "PAPER_NEWTON_MAX",
    "layer_features",
    "fit_probes",
    "fit_probes_adam",
    "apply_probes",
    "prefix_prompts",
    "Spectrum",
    "spectrum",
    "newton_filter",
    "gd_filter",
    "gd_step_size",
    "newton_prefix_predictions",
    "gd_prefix_predictions",
    "online_gd_prefix_predictions",
    "error_similarity",
    "error_similarity_per_prompt",
    "weight_similarity",
    "induced_weights",
    "probe_layer_predictions",
    "best_match",
    "linear_fit",
    "AlgorithmStandIn",
    "Protocol",
    "paper_protocol",
    "Reference",
    "reference_predictions",
    "RefSimilarity",
    "SimilarityResult",
    "similarity_study",
    "newton_settle_step",
    "bootstrap_weights",
    "bootstrap_best",
    "line_slopes",
    "percentile_interval",
]

#: SimE positions as the paper defines them: 2 … n+1 (1-indexed), i.e. index >= 1 of the n + 1 positions.
PAPER_FIRST_POSITION = 1
#: Sequences per forward pass of :func:`induced_weights` (B·m of them: one per query). Every layer's states of a
#: pass are alive at once, (L+1)·chunk·(2n+1)·D floats; at the fu23 full profile all 1024·40 sequences in one pass
#: needed ≈ 145 GiB (estimate, empirical.papers.fu23.runners.memory_estimate). The fu23 quick profile's 512·10 fit
#: in one pass, computed exactly as before the chunking (same numbers).
INDUCED_CHUNK_SEQUENCES = 8192
#: The official code's fixed GD step (``lr = 0.01`` on ½‖Xw − y‖², gradient XᵀXw − Xᵀy).
OFFICIAL_GD_STEP = 0.01
#: The paper's grids (official ``eval_similarity.py``): Newton steps 1 … 23, GD steps 2^0 … 2^12.
PAPER_NEWTON_MAX = 23
PAPER_GD_MAX_EXPONENT = 12
GD_STEP_RULES = ("official", "best", "suite")
GDRule = Literal["official", "best", "suite"]


# -- probes -----------------------------------------------------------------------------------------------


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where a subject computes: its parameters' device and dtype (a parameter-free stand-in: CPU, float64)."""
    p = next(model.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float64)


@torch.no_grad()
def layer_features(model: nn.Module, prompt: PromptBatch) -> Tensor:
    """Hidden states at the prediction positions, every layer: (L+1, B, n+m, D) float64."""
    dev, dt = _device_dtype(model)
    p = prompt.to(device=dev, dtype=dt)
    H = model.hidden_states(p.to_interleaved())
    return H[:, :, x_positions(p.n, p.m, dev)].to(device="cpu", dtype=torch.float64)


def _check_probe_inputs(H: Tensor, target: Tensor) -> None:
    if H.ndim != 4 or target.shape != H.shape[1:3]:
        raise ValueError(f"H, target: expected (L+1, B, P, D) and (B, P), got {tuple(H.shape)}, {tuple(target.shape)}")


def _design(H: Tensor) -> Tensor:
    """[h, 1] rows per layer: H (L+1, B, P, D) -> (L+1, B·P, D+1)."""
    Lp1, B, P, D = H.shape
    return torch.cat([H.reshape(Lp1, B * P, D), torch.ones(Lp1, B * P, 1, dtype=H.dtype)], -1)


def fit_probes(H: Tensor, target: Tensor, ridge: float = 1e-6) -> Tensor:
    """Ridge least-squares probe per layer: H (L+1, B, P, D), target (B, P) -> weights (L+1, D+1) (bias last).

    ``ridge`` is relative to the mean feature energy, so it means the same at every layer.
    """
    _check_probe_inputs(H, target)
    A = _design(H)
    y = target.reshape(-1, 1).to(H.dtype)
    G = A.transpose(1, 2) @ A
    scale = torch.diagonal(G, dim1=1, dim2=2).mean(-1).clamp_min(1e-300)
    G = G + ridge * scale.view(-1, 1, 1) * torch.eye(A.shape[-1], dtype=H.dtype)
    return torch.linalg.solve(G, A.transpose(1, 2) @ y).squeeze(-1)


def fit_probes_adam(H: Tensor, target: Tensor, steps: int, generator: torch.Generator, lr: float = 1e-4,
                    init_std: float = 0.01) -> Tensor:
    """The paper's probe: a read-out per layer trained by full-batch Adam on the frozen features, from
    a ~ N(0, init_std²), b = 0 (official ``train_linear.py``; it draws fresh prompts each step, here the fixed
    training set). H (L+1, B, P, D), target (B, P) -> (L+1, D+1) (bias last), as :func:`fit_probes`.

    The sheet gives no step count; the minimiser of the same loss is :func:`fit_probes` (ridge -> 0).
    """
    _check_probe_inputs(H, target)
    A = _design(H)
    y = target.reshape(1, -1).to(H.dtype)
    W = torch.cat([torch.randn(A.shape[0], A.shape[-1] - 1, generator=generator, dtype=H.dtype) * init_std,
                   torch.zeros(A.shape[0], 1, dtype=H.dtype)], 1).requires_grad_()
    opt = torch.optim.Adam([W], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((torch.einsum("lnd,ld->ln", A, W) - y) ** 2).mean(1).sum()  # layers are independent
        loss.backward()
        opt.step()
    return W.detach()


def apply_probes(W: Tensor, H: Tensor) -> Tensor:
    """Probe predictions: W (L+1, D+1), H (L+1, B, P, D) -> (L+1, B, P)."""
    return torch.einsum("lbpd,ld->lbp", H, W[:, :-1]) + W[:, -1].view(-1, 1, 1)


# -- algorithm predictions (exact spectral closed forms) ---------------------------------------------------


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


@dataclass(frozen=True)
class Spectrum:
    """S = XᵀX = V diag(lam) Vᵀ for N least-squares problems, and Xᵀy in that basis.

    Attributes:
        lam: (N, d) eigenvalues, ascending. V: (N, d, d) eigenvectors (columns). c: (N, d) VᵀXᵀy.
        keep: (N, d) the nonzero eigenvalues (relative cut 1e-12): a rank-deficient prefix has no Xᵀy component
            in null(S), so every filter below is applied on range(S) only.
    """

    lam: Tensor
    V: Tensor
    c: Tensor
    keep: Tensor

    @property
    def lmax(self) -> Tensor:
        """(N, 1)."""
        return self.lam[:, -1:]

    def estimates(self, filt: Tensor) -> Tensor:
        """ŵ = V diag(filt/λ) VᵀXᵀy for a filter (K, N, d) on the eigenvalues -> (K, N, d)."""
        phi = torch.where(self.keep, filt / self.lam.clamp_min(1e-300), torch.zeros_like(filt))
        return torch.einsum("nij,knj->kni", self.V, phi * self.c)


def spectrum(X: Tensor, y: Tensor) -> Spectrum:
    """:class:`Spectrum` of X (N, n, d), y (N, n) (float64)."""
    X, y = X.to(torch.float64), y.to(torch.float64)
    lam, V = torch.linalg.eigh(X.transpose(1, 2) @ X)
    c = torch.einsum("nji,nj->ni", V, (X.transpose(1, 2) @ y.unsqueeze(-1)).squeeze(-1))
    if bool((lam[:, -1] <= 0).any()):
        raise ValueError("X: a problem has X = 0 (XᵀX has no positive eigenvalue)")
    return Spectrum(lam, V, c, lam > 1e-12 * lam[:, -1:])


def _steps(steps: int | Sequence[int]) -> list[int]:
    """``k`` means 0 … k; a sequence is taken as given (non-negative integers)."""
    out = list(range(steps + 1)) if isinstance(steps, int) else [int(s) for s in steps]
    if not out or min(out) < 0:
        raise ValueError(f"steps: expected a non-negative integer or a non-empty list of them, got {steps!r}")
    return out


def newton_filter(spec: Spectrum, steps: int | Sequence[int]) -> Tensor:
    """Newton with α = 1/λ_max²: 1 − (1 − αλ²)^{2^k} per eigenvalue, (K, N, d) (eq. I − M_kS = (I − M_0S)^{2^k})."""
    k = torch.as_tensor(_steps(steps), dtype=torch.float64).view(-1, 1, 1)
    log_res = torch.log1p(-((spec.lam / spec.lmax) ** 2).clamp(max=1.0))  # log(1 − αλ²) <= 0; −inf at λ_max
    return -torch.expm1(2.0**k * log_res)


def gd_step_size(spec: Spectrum, rule: GDRule) -> Tensor:
    """GD step η on ½‖Xw − y‖² per problem (:data:`GD_STEP_RULES`): (N, 1)."""
    if rule == "official":
        return torch.full_like(spec.lmax, OFFICIAL_GD_STEP)
    if rule == "best":
        lmin = torch.where(spec.keep, spec.lam, torch.full_like(spec.lam, float("inf"))).min(-1, keepdim=True).values
        return 2.0 / (spec.lmax + lmin)
    if rule == "suite":
        return 1.0 / spec.lmax
    raise ValueError(f"rule: expected one of {GD_STEP_RULES}, got {rule!r}")


def gd_filter(spec: Spectrum, steps: int | Sequence[int], eta: Tensor) -> Tensor:
    """GD from 0 with step ``eta`` (N, 1): 1 − (1 − ηλ)^t per eigenvalue, (K, N, d).

    Raises:
        ValueError: η·λ_max >= 2 for some problem (GD diverges along the top eigenvector).
    """
    base = 1.0 - eta * spec.lam
    if bool(((eta * spec.lam >= 2) & spec.keep).any()):
        raise ValueError(f"eta: GD diverges, η·λ_max up to {float((eta * spec.lmax).max()):.3g} >= 2")
    t = torch.as_tensor(_steps(steps), dtype=torch.float64).view(-1, 1, 1)
    # (1 − ηλ)^t for a base in (−1, 1]: sign^t · |base|^t, integer t (the best step makes the top base negative)
    sign = torch.where((base < 0) & (t.remainder(2) == 1), -1.0, 1.0)
    return 1.0 - sign * torch.exp(t * torch.log(base.abs().clamp_min(1e-300)))


def _at_prefixes(prompt: PromptBatch, filt: Callable[[Spectrum], Tensor]) -> Tensor:
    """Predictions of a spectral filter at the n + 1 positions: (K, B, n+1), position 0 = 0."""
    pp = prefix_prompts(prompt)
    spec = spectrum(pp.X, pp.y)
    w = spec.estimates(filt(spec))
    preds = torch.einsum("knd,nd->kn", w, pp.xq[:, 0]).reshape(w.shape[0], prompt.batch_size, prompt.n)
    return torch.cat([torch.zeros_like(preds[:, :, :1]), preds], -1)


def newton_prefix_predictions(prompt: PromptBatch, steps: int | Sequence[int]) -> Tensor:
    """Newton (safe α) predictions at the n + 1 positions, steps 0 … ``steps`` (or the listed steps):
    (K, B, n+1)."""
    return _at_prefixes(prompt, lambda s: newton_filter(s, steps))


def gd_prefix_predictions(prompt: PromptBatch, steps: int | Sequence[int], rule: GDRule = "suite") -> Tensor:
    """GD predictions (step rule ``rule``) at the n + 1 positions for the listed step counts: (K, B, n+1)."""
    return _at_prefixes(prompt, lambda s: gd_filter(s, steps, gd_step_size(s, rule)))


def _online_gd(prompt: PromptBatch, relaxations: Sequence[float]) -> tuple[Tensor, Tensor]:
    """One pass of normalised LMS per relaxation μ: predictions (K, B, n+1) before each update (position i
    has seen i examples) and the final weights (K, B, d)."""
    p = prompt.to(dtype=torch.float64)
    mu = torch.as_tensor(list(relaxations), dtype=torch.float64).view(-1, 1, 1)
    w = torch.zeros(mu.shape[0], p.batch_size, p.d, dtype=torch.float64)
    nxt = torch.cat([p.X, p.xq[:, :1]], 1)  # the point each position predicts
    preds = []
    for i in range(p.n + 1):
        preds.append(torch.einsum("kbd,bd->kb", w, nxt[:, i]))
        if i < p.n:
            x = p.X[:, i]
            r = p.y[:, i] - torch.einsum("kbd,bd->kb", w, x)
            w = w + mu * (r / (x * x).sum(-1).clamp_min(1e-300)).unsqueeze(-1) * x
    return torch.stack(preds, -1), w


def online_gd_prefix_predictions(prompt: PromptBatch, relaxations: Sequence[float]) -> Tensor:
    """One-pass online GD (normalised LMS, relaxation μ) at the n + 1 positions: (K, B, n+1)."""
    return _online_gd(prompt, relaxations)[0]


# -- similarity metrics -----------------------------------------------------------------------------------


def _cos(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1) / (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)).clamp_min(
        1e-300)


def error_similarity_per_prompt(pred_a: Tensor, pred_b: Tensor, y: Tensor, first: int = PAPER_FIRST_POSITION
                                ) -> Tensor:
    """SimE per prompt, every pair, over positions ``first`` …: pred_a (A, B, P), pred_b (K, B, P), y (B, P)
    -> (A, K, B)."""
    ra = (pred_a - y)[..., first:].unsqueeze(1)
    rb = (pred_b - y)[..., first:].unsqueeze(0)
    return _cos(ra, rb)


def error_similarity(pred_a: Tensor, pred_b: Tensor, y: Tensor, first: int = 0) -> Tensor:
    """Mean SimE over prompts, every pair: (A, B, P), (K, B, P), (B, P) -> (A, K). ``first = 0`` (all positions)
    is the official code's evaluation, :data:`PAPER_FIRST_POSITION` the paper's definition."""
    return error_similarity_per_prompt(pred_a, pred_b, y, first).mean(-1)


def weight_similarity(w_a: Tensor, w_b: Tensor) -> Tensor:
    """Similarity of induced weights, every pair: w_a (A, B, d), w_b (K, B, d) -> (A, K)."""
    return _cos(w_a.unsqueeze(1), w_b.unsqueeze(0)).mean(-1)


def probe_layer_predictions(model: nn.Module, W: Tensor, prompt: PromptBatch) -> Tensor:
    """Per-layer probe predictions at the n + 1 positions (uses the first query only): (L+1, B, n+1)."""
    return apply_probes(W, layer_features(model, prompt.with_queries(prompt.xq[:, :1], prompt.yq[:, :1])))


def induced_weights(model: nn.Module, W: Tensor, prompt: PromptBatch) -> Tensor:
    """Per-layer induced weight vectors, estimated from the prompt's m >= d + 1 queries (one sequence per query,
    so queries never see each other) by an affine least-squares fit: (L+1, B, d)."""
    B, m, d = prompt.xq.shape
    if m < d + 1:
        raise ValueError(f"prompt: need m >= d + 1 queries to fit a d-dim weight vector and a bias, got m={m}, d={d}")
    rep = PromptBatch(prompt.X.repeat_interleave(m, 0), prompt.y.repeat_interleave(m, 0),
                      prompt.xq.reshape(B * m, 1, d), prompt.yq.reshape(B * m, 1))
    if B * m <= INDUCED_CHUNK_SEQUENCES:  # one pass, exactly as before the chunking (the same numbers)
        H = layer_features(model, rep)[:, :, -1:]  # the query position
    else:  # a copy of the query position per pass, so that each pass's states are freed before the next
        H = torch.cat([layer_features(model, PromptBatch(*(t[i:i + INDUCED_CHUNK_SEQUENCES] for t in (
            rep.X, rep.y, rep.xq, rep.yq))))[:, :, -1:].clone() for i in range(0, B * m, INDUCED_CHUNK_SEQUENCES)], 1)
    yhat = apply_probes(W, H).reshape(-1, B, m)  # (L+1, B, m)
    Xq = torch.cat([prompt.xq.to(torch.float64), torch.ones(B, m, 1, dtype=torch.float64)], -1)  # affine fit
    # Householder QR, then R w = Qᵀ ŷ: torch.linalg.lstsq (MKL) gave results whose last bits depend on where its
    # inputs sit in memory, so one commit's SimW took one of two values on alternate runs; QR does not.
    Q, R = torch.linalg.qr(Xq)  # (B, m, d+1), (B, d+1, d+1); full column rank for m >= d + 1 generic queries
    sol = torch.linalg.solve_triangular(R, Q.mT @ yhat.unsqueeze(-1), upper=True)  # (L+1, B, d+1, 1)
    return sol[..., :d, 0]


def best_match(sim: Tensor, steps: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per layer (row): the step (column label) with the highest similarity, and that similarity."""
    idx = torch.argmax(sim, dim=1)
    st = np.asarray(steps)[idx.numpy()]
    return st, sim.max(dim=1).values.numpy()


def linear_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least-squares line y ≈ slope·x + intercept and its R² (NaN when y is constant)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    A = np.column_stack([x, np.ones_like(x)])
    (slope, icpt), *_ = np.linalg.lstsq(A, y, rcond=None)
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - A @ np.array([slope, icpt])) ** 2).sum()) / ss if ss > 0 else float("nan")
    return {"slope": float(slope), "intercept": float(icpt), "r2": r2}


# -- known-answer subjects --------------------------------------------------------------------------------


class AlgorithmStandIn(nn.Module):
    """A subject whose layer ℓ holds a known algorithm's prediction: the probe pipeline's control object.

    ``predict(prompt) -> (L+1, B, n+1)`` gives each layer's predictions at the n + 1 positions (e.g. Newton
    step 3ℓ, or GD step ℓ). ``hidden_states(tokens)`` (B, 2n+1, d+1) -> (L+1, B, 2n+1, d+2): at the prediction
    positions [ŷ_ℓ + ε, token], elsewhere [0, token], with ε ~ N(0, (noise · rms ŷ_ℓ)²) drawn afresh per call
    from the stand-in's own generator, so a probe reads the prediction only up to that noise.
    """

    def __init__(self, predict: Callable[[PromptBatch], Tensor], noise: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if not noise >= 0:
            raise ValueError(f"noise: expected a relative noise level >= 0, got {noise!r}")
        self.predict_layers, self.noise = predict, float(noise)
        self._gen = torch.Generator().manual_seed(seed)

    def hidden_states(self, tokens: Tensor) -> Tensor:
        B, T, d1 = tokens.shape
        if T % 2 == 0:
            raise ValueError(f"tokens: expected 2n + 1 tokens (one query), got {T}")
        n, d = (T - 1) // 2, d1 - 1
        t = tokens.to(torch.float64)
        prompt = PromptBatch(t[:, 0:2 * n:2, :d], t[:, 1:2 * n:2, d], t[:, 2 * n:, :d], t.new_zeros(B, 1))
        pred = self.predict_layers(prompt)  # (L+1, B, n+1)
        rms = pred.pow(2).mean(dim=(1, 2), keepdim=True).sqrt()
        pred = pred + self.noise * rms * torch.randn(pred.shape, generator=self._gen, dtype=torch.float64)
        H = torch.zeros(pred.shape[0], B, T, d + 2, dtype=torch.float64)
        H[..., 1:] = t
        H[:, :, x_positions(n, 1), 0] = pred
        return H


# -- the study --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """What a subject is compared with.

    Attributes:
        newton_steps: Newton grid. gd_steps: GD grid, run with every rule in ``gd_rules``.
        ogd_relaxations: online-GD relaxations μ (empty: no online GD).
        first_position: SimE over positions ``first_position`` … n (0-indexed).
        adam_probe_steps: None: closed-form probes (:func:`fit_probes`); an integer: the paper's Adam-trained probes
            (:func:`fit_probes_adam`, that many full-batch steps, initialisation from a generator seeded 0).
    """

    newton_steps: tuple[int, ...]
    gd_steps: tuple[int, ...]
    gd_rules: tuple[GDRule, ...] = ("official", "best")
    ogd_relaxations: tuple[float, ...] = ()
    first_position: int = PAPER_FIRST_POSITION
    adam_probe_steps: int | None = None


def paper_protocol(layers: int, ogd_relaxations: tuple[float, ...] = ()) -> Protocol:
    """The paper's grids (Newton 1 … 23, GD 2^0 … 2^12, official and best fixed step), extended where ``layers``
    needs more: the Newton grid reaches 4L (3 steps per layer, the paper's rate, with room above), the GD grid
    2^{2L}. Closed-form probes (the suite's; see :class:`Protocol`)."""
    return Protocol(tuple(range(1, max(PAPER_NEWTON_MAX, 4 * layers) + 1)),
                    tuple(2**j for j in range(max(PAPER_GD_MAX_EXPONENT, 2 * layers) + 1)),
                    ogd_relaxations=ogd_relaxations)


@dataclass(frozen=True)
class Reference:
    """One algorithm family on one prompt batch: step labels, predictions at the n + 1 positions (K, B, n+1) and
    the full-context weights (K, B, d)."""

    labels: list[float]
    prefix: Tensor
    full: Tensor


def reference_predictions(prompt: PromptBatch, protocol: Protocol) -> dict[str, Reference]:
    """Every algorithm of ``protocol``: ``newton``, ``gd_<rule>`` and (when asked) ``online_gd``."""
    full = spectrum(prompt.X, prompt.y)
    refs = {"newton": Reference(list(protocol.newton_steps),
                                newton_prefix_predictions(prompt, protocol.newton_steps),
                                full.estimates(newton_filter(full, protocol.newton_steps)))}
    for rule in protocol.gd_rules:
        refs[f"gd_{rule}"] = Reference(list(protocol.gd_steps), gd_prefix_predictions(prompt, protocol.gd_steps, rule),
                                       full.estimates(gd_filter(full, protocol.gd_steps, gd_step_size(full, rule))))
    if protocol.ogd_relaxations:
        pred, w = _online_gd(prompt, protocol.ogd_relaxations)
        refs["online_gd"] = Reference(list(protocol.ogd_relaxations), pred, w)
    return refs


@dataclass
class RefSimilarity:
    """A subject against one algorithm family.

    Attributes:
        labels: the family's steps (K). errors: (L+1, K, B) per-prompt SimE over the protocol's positions.
        errors_all_positions: (L+1, K) mean SimE over all n + 1 positions (the official code's evaluation).
        weights: (L+1, K) mean SimW.
    """

    labels: list[float]
    errors: Tensor
    errors_all_positions: Tensor
    weights: Tensor

    @property
    def mean_errors(self) -> Tensor:
        """(L+1, K)."""
        return self.errors.mean(-1)

    def best(self, layers: slice | list[int] = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Best-matching label and its mean SimE per layer."""
        return best_match(self.mean_errors[layers], self.labels)

    def as_dict(self) -> dict[str, object]:
        return {"labels": self.labels, "errors": self.mean_errors.tolist(),
                "errors_all_positions": self.errors_all_positions.tolist(), "weights": self.weights.tolist(),
                "best_errors": best_match(self.mean_errors, self.labels)[0].tolist(),
                "best_errors_all_positions": best_match(self.errors_all_positions, self.labels)[0].tolist(),
                "best_weights": best_match(self.weights, self.labels)[0].tolist()}


@dataclass
class SimilarityResult:
    """One subject against every algorithm family of a protocol, on held-out prompts."""

    refs: dict[str, RefSimilarity]
    probe_mse: list[float]

    @property
    def layers(self) -> int:
        return len(self.probe_mse) - 1

    def as_dict(self) -> dict[str, object]:
        return {"probe_mse": self.probe_mse, **{k: v.as_dict() for k, v in self.refs.items()}}


def similarity_study(model: nn.Module, train_prompt: PromptBatch, test_prompt: PromptBatch, protocol: Protocol
                     ) -> SimilarityResult:
    """Fit probes on ``train_prompt``; on ``test_prompt`` (held out, m >= d queries) compare every layer with
    every algorithm of ``protocol`` by SimE (per prompt) and SimW."""
    Htr = layer_features(model, train_prompt.with_queries(train_prompt.xq[:, :1], train_prompt.yq[:, :1]))
    ytr = torch.cat([train_prompt.y, train_prompt.yq[:, :1]], 1).to(torch.float64)
    W = (fit_probes(Htr, ytr) if protocol.adam_probe_steps is None else
         fit_probes_adam(Htr, ytr, protocol.adam_probe_steps, torch.Generator().manual_seed(0)))
    y = torch.cat([test_prompt.y, test_prompt.yq[:, :1]], 1).to(torch.float64)
    layer_pred = probe_layer_predictions(model, W, test_prompt)
    probe_mse = ((layer_pred - y) ** 2).mean(dim=(1, 2)).tolist()
    lw = induced_weights(model, W, test_prompt)
    refs = {name: RefSimilarity(r.labels, error_similarity_per_prompt(layer_pred, r.prefix, y, protocol.first_position),
                                error_similarity(layer_pred, r.prefix, y, 0), weight_similarity(lw, r.full))
            for name, r in reference_predictions(test_prompt, protocol).items()}
    return SimilarityResult(refs, probe_mse)


def newton_settle_step(prompt: PromptBatch, tol: float = 1e-3, horizon: int = 60) -> int:
    """The first Newton step whose mean SimE (paper positions) with step ``horizon`` (converged) is >= 1 − tol:
    past it, Newton steps are near-ties for the metric and per-layer progress cannot be resolved."""
    nt = newton_prefix_predictions(prompt, horizon)
    y = torch.cat([prompt.y, prompt.yq[:, :1]], 1).to(torch.float64)
    sim = error_similarity(nt, nt[-1:], y, PAPER_FIRST_POSITION)[:, 0]
    return int(torch.nonzero(sim >= 1 - tol)[0])


# -- bootstrap over held-out prompts ----------------------------------------------------------------------


def bootstrap_weights(batch: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Prompt weights of ``resamples`` bootstrap resamples (multinomial counts / batch): (R, B), rows sum to 1."""
    return rng.multinomial(batch, np.full(batch, 1.0 / batch), size=resamples) / batch


def bootstrap_best(per_prompt: Tensor, labels: Sequence[float], weights: np.ndarray) -> np.ndarray:
    """Best-matching label per layer in every resample: per_prompt (L, K, B), weights (R, B) -> (R, L)."""
    L, K, B = per_prompt.shape
    means = (weights @ per_prompt.reshape(L * K, B).numpy().T).reshape(-1, L, K)
    return np.asarray(labels, float)[means.argmax(-1)]


def line_slopes(x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and R² of each row of Y (R, len(x)) against x: ((R,), (R,)); R² NaN for a flat row."""
    x = np.asarray(x, float)
    xc = x - x.mean()
    Yc = Y - Y.mean(-1, keepdims=True)
    slope = Yc @ xc / (xc @ xc)
    ss = (Yc**2).sum(-1)
    resid = ((Yc - slope[:, None] * xc) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss > 0, 1.0 - resid / np.where(ss > 0, ss, 1.0), np.nan)
    return slope, r2


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval; NaN samples make it NaN (a check on it never passes)."""
    s = np.asarray(samples, float)
    if np.isnan(s).any():
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)
