"""Per-prompt baselines of goulart24: each is fitted on ONE prompt's c demonstrations only and predicts its
query (fact sheet §2, "Learners the suite compares"; the paper's own baseline protocol is not known).

All baselines are batched over prompts: every prompt has its own parameters, stacked along the first
dimension, and the prompts never share a gradient (the loss is a sum over prompts, Adam is elementwise).

Standardisation uses context statistics only: inputs by the prompt's pooled mean/std over all context
entries (defined at c = 1 as d ≥ 2); targets per output by the context mean and std, where c = 1 (std
undefined) falls back to |mean| — a stated choice, not a fitted one.

Shapes: Xc (P, c, d), Yc (P, c, k), xq (P, d) -> prediction (P, k), float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "BASELINES",
    "MATRIX_ONLY",
    "BaselineSettings",
    "predict_baseline",
    "mean_predictor",
    "last_y",
    "knn",
    "ridge",
    "ridgeless",
    "sgd_linear",
    "mlp",
    "cnn",
    "fit_bytes",
]


@dataclass(frozen=True)
class BaselineSettings:
    """Hyper-parameters, fixed in advance (never tuned on the evaluation prompts).

    ridge_lambda_per_feature: λ = this × d on standardised data (prior w ~ N(0, I/d): a linear map with
    unit total signal variance). sgd_*: plain SGD on the squared loss, mini-batches of min(c, 4).
    mlp_hidden/mlp_steps/mlp_lr: 2-layer ReLU net trained by Adam, full batch. cnn_channels: two 3×3 conv
    layers (padding 1) then a linear head, Adam.
    """

    knn_k: int = 3
    ridge_lambda_per_feature: float = 1.0
    sgd_steps: int = 200
    sgd_lr: float = 0.02
    sgd_batch: int = 4
    mlp_hidden: int = 64
    mlp_steps: int = 300
    mlp_lr: float = 1e-2
    cnn_channels: int = 8
    cnn_steps: int = 200
    cnn_lr: float = 1e-2


def _standardise(Xc: Tensor, Yc: Tensor, xq: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(Zc, Uc, zq, y_mean, y_std): standardised context inputs/targets, query, target statistics."""
    P, c, d = Xc.shape
    mx = Xc.reshape(P, -1).mean(1)[:, None, None]
    sx = Xc.reshape(P, -1).std(1, correction=0).clamp_min(1e-12)[:, None, None]
    Zc = (Xc - mx) / sx
    zq = (xq[:, None] - mx)[:, 0] / sx[:, 0]
    ym = Yc.mean(1)
    ys = Yc.std(1, correction=1) if c >= 2 else Yc[:, 0].abs()
    ys = ys.clamp_min(1e-12)
    Uc = (Yc - ym[:, None]) / ys[:, None]
    return Zc, Uc, zq, ym, ys


def mean_predictor(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
                   s: BaselineSettings = BaselineSettings()) -> Tensor:
    """ŷ = (1/c) Σ_j y_j (nMSE = 1 + 1/c, claim ``goulart24.mean_predictor_mse``)."""
    return Yc.mean(1)


def last_y(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
           s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Copy baseline: the last demonstration's y (what an LLM that echoes the context would score)."""
    return Yc[:, -1]


def knn(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
        s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Average y of the k = min(knn_k, c) nearest demonstrations (Euclidean, raw inputs)."""
    k = min(s.knn_k, Xc.shape[1])
    dist = torch.cdist(xq[:, None], Xc)[:, 0]  # (P, c)
    idx = dist.topk(k, dim=1, largest=False).indices
    return torch.gather(Yc, 1, idx[..., None].expand(-1, -1, Yc.shape[2])).mean(1)


def ridge(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
          s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Closed-form ridge on standardised data with λ = ridge_lambda_per_feature · d (see settings)."""
    Zc, Uc, zq, ym, ys = _standardise(Xc, Yc, xq)
    d = Zc.shape[2]
    lam = s.ridge_lambda_per_feature * d
    # Dual form (c×c system) — cheaper than d×d when c < d and identical in exact arithmetic.
    K = Zc @ Zc.transpose(1, 2) + lam * torch.eye(Zc.shape[1], dtype=Zc.dtype)
    alpha = torch.linalg.solve(K, Uc)  # (P, c, k)
    u = (zq[:, None] @ Zc.transpose(1, 2)) @ alpha  # (P, 1, k)
    return ym + ys * u[:, 0]


def ridgeless(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
              s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Minimum-norm least squares on standardised data (ridge with λ = 1e-6·d, i.e. λ → 0).

    A control with a known learning curve, not a competitor: the targets are even functions of x
    (f(−x) = f(x)), so under the symmetric input law they are uncorrelated with every linear feature, and the
    interpolating fit adds variance that grows towards the interpolation threshold c = d (for isotropic
    Gaussian features nMSE ≈ 1 + 1/c + c/(d − c − 1) for c < d − 1; Hastie et al., *Surprises in
    high-dimensional ridgeless least squares interpolation*, 2019)."""
    return ridge(Xc, Yc, xq, g=g, s=BaselineSettings(ridge_lambda_per_feature=1e-6))


def sgd_linear(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
               s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Linear regression y = w·z + b by plain SGD (zero init) on standardised data, sgd_steps steps."""
    if g is None:
        raise ValueError("g: sgd_linear draws its mini-batches from an explicit generator")
    Zc, Uc, zq, ym, ys = _standardise(Xc, Yc, xq)
    P, c, d = Zc.shape
    k = Uc.shape[2]
    w = torch.zeros(P, d, k, dtype=Zc.dtype)
    b = torch.zeros(P, 1, k, dtype=Zc.dtype)
    mb = min(c, s.sgd_batch)
    rows = torch.arange(P)[:, None]
    for _ in range(s.sgd_steps):
        idx = torch.randint(0, c, (P, mb), generator=g)
        z, u = Zc[rows, idx], Uc[rows, idx]  # (P, mb, d), (P, mb, k)
        r = z @ w + b - u  # gradient of ½·mean squared residual
        w = w - s.sgd_lr * z.transpose(1, 2) @ r / mb
        b = b - s.sgd_lr * r.mean(1, keepdim=True)
    return ym + ys * (zq[:, None] @ w + b)[:, 0]


def _adam_fit(params: list[Tensor], loss_fn: Callable[[], Tensor], steps: int, lr: float) -> None:
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()


def _init(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> Tensor:
    """Kaiming-uniform-like init U[−1/√fan_in, 1/√fan_in] (PyTorch's Linear default), float32."""
    bound = fan_in**-0.5
    return ((2 * torch.rand(shape, generator=g) - 1) * bound).requires_grad_(True)


def mlp(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
        s: BaselineSettings = BaselineSettings()) -> Tensor:
    """2-layer ReLU network (d -> H -> k), Adam, full batch, on standardised data."""
    if g is None:
        raise ValueError("g: mlp draws its initial weights from an explicit generator")
    Zc, Uc, zq, ym, ys = _standardise(Xc, Yc, xq)
    P, c, d = Zc.shape
    k, H = Uc.shape[2], s.mlp_hidden
    Z, U = Zc.float(), Uc.float()
    W1, b1 = _init((P, d, H), d, g), _init((P, 1, H), d, g)
    W2, b2 = _init((P, H, k), H, g), _init((P, 1, k), H, g)
    f = lambda z: torch.relu(z @ W1 + b1) @ W2 + b2
    # Sum over prompts of each prompt's mean loss: prompts stay independent.
    _adam_fit([W1, b1, W2, b2], lambda: ((f(Z) - U) ** 2).mean(dim=(1, 2)).sum(), s.mlp_steps, s.mlp_lr)
    with torch.no_grad():
        u = f(zq.float()[:, None])[:, 0].to(torch.float64)
    return ym + ys * u


def cnn(Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
        s: BaselineSettings = BaselineSettings()) -> Tensor:
    """Small CNN for square-matrix inputs: conv3×3(1→C) ReLU conv3×3(C→C) ReLU, linear head; Adam,
    full batch, on standardised data.

    Batched over prompts with grouped convolutions: the channel axis holds the prompts, group p holds
    prompt p's filters, so no prompt sees another's weights or data."""
    if g is None:
        raise ValueError("g: cnn draws its initial weights from an explicit generator")
    Zc, Uc, zq, ym, ys = _standardise(Xc, Yc, xq)
    P, c, d = Zc.shape
    n = round(d**0.5)
    if n * n != d:
        raise ValueError(f"Xc: the CNN baseline needs square-matrix inputs (d = n²), got d = {d}")
    k, C = Uc.shape[2], s.cnn_channels
    W1, b1 = _init((P * C, 1, 3, 3), 9, g), _init((P * C,), 9, g)
    W2, b2 = _init((P * C, C, 3, 3), 9 * C, g), _init((P * C,), 9 * C, g)
    Wh, bh = _init((P, C * d, k), C * d, g), _init((P, 1, k), C * d, g)

    def f(z: Tensor) -> Tensor:  # z (P, m, d) -> (P, m, k)
        m = z.shape[1]
        h = z.transpose(0, 1).reshape(m, P, n, n)
        h = torch.relu(torch.nn.functional.conv2d(h, W1, b1, padding=1, groups=P))
        h = torch.relu(torch.nn.functional.conv2d(h, W2, b2, padding=1, groups=P))
        h = h.reshape(m, P, C * d).transpose(0, 1)  # (P, m, C·d)
        return h @ Wh + bh

    Z, U = Zc.float(), Uc.float()
    _adam_fit([W1, b1, W2, b2, Wh, bh], lambda: ((f(Z) - U) ** 2).mean(dim=(1, 2)).sum(), s.cnn_steps, s.cnn_lr)
    with torch.no_grad():
        u = f(zq.float()[:, None])[:, 0].to(torch.float64)
    return ym + ys * u


def fit_bytes(name: str, P: int, c: int, d: int, k: int, s: BaselineSettings = BaselineSettings()) -> int:
    """Peak tensor bytes of :func:`predict_baseline` for the per-prompt networks (``mlp``, ``cnn``) on P prompts
    of c demonstrations, inputs of size d (n² for the CNN), outputs of size k:

    * the standardised context, float64 and its float32 copy: 12·P·c·(d + k), and the query, 8·P·d;
    * parameters p (float32), with their gradients, Adam's two moments and two update temporaries: 6·4·p;
    * activations: MLP 4·P·c·(3H + 2k) (the ReLU output and two gradients of that size, the output and its
      gradient); CNN 16·c·P·C·d (the two ReLU outputs, the head's input and its gradient).
    Measured with :class:`empirical.memory.PeakTensorBytes`. Other baselines are closed forms or a linear model
    (bytes of the order of the data): ValueError.
    """
    if name == "mlp":
        H = s.mlp_hidden
        params = P * (d * H + H + H * k + k)
        acts = 4 * P * c * (3 * H + 2 * k)
    elif name == "cnn":
        C = s.cnn_channels
        params = P * (C * 9 + C + C * C * 9 + C + C * d * k + k)
        acts = 16 * c * P * C * d + 8 * P * c * k
    else:
        raise ValueError(f"name: fit_bytes models the per-prompt networks 'mlp' and 'cnn', got {name!r}")
    return 12 * P * c * (d + k) + 8 * P * d + 24 * params + acts


BASELINES: dict[str, Callable[..., Tensor]] = {
    "mean": mean_predictor,
    "last_y": last_y,
    "knn": knn,
    "ridge": ridge,
    "ridgeless": ridgeless,
    "sgd_linear": sgd_linear,
    "mlp": mlp,
    "cnn": cnn,
}
#: Baselines that only apply to matrix inputs.
MATRIX_ONLY = ("cnn",)


def predict_baseline(name: str, Xc: Tensor, Yc: Tensor, xq: Tensor, *, g: torch.Generator | None = None,
                     settings: BaselineSettings = BaselineSettings()) -> Tensor:
    """Fit baseline ``name`` on each prompt's context and predict its query: (P, k) float64."""
    if name not in BASELINES:
        raise ValueError(f"name: unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    if Xc.ndim != 3 or Yc.ndim != 3 or xq.ndim != 2 or Xc.shape[:2] != Yc.shape[:2] or xq.shape != (
            Xc.shape[0], Xc.shape[2]):
        raise ValueError(f"Xc/Yc/xq: expected shapes (P,c,d), (P,c,k), (P,d); got {tuple(Xc.shape)}, "
                         f"{tuple(Yc.shape)}, {tuple(xq.shape)}")
    if Xc.shape[1] < 1:
        raise ValueError("Xc: a per-prompt baseline needs at least one demonstration (c >= 1)")
    Xc, Yc, xq = (t.to(torch.float64) for t in (Xc, Yc, xq))
    return BASELINES[name](Xc, Yc, xq, g=g, s=settings)
