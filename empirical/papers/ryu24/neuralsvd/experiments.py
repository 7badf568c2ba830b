"""Training and evaluation recipes shared by the ryu24 claims, tests and benchmarks.

Every recipe trains with :func:`empirical.train.train` (``sample_batch(generator, step)`` /
``loss_fn(model, batch)``), and evaluates in float64 on a copy of the trained model.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.optim.optimizer as _optim_hooks
from torch import Tensor, nn

from empirical.papers.ryu24.neuralsvd.models import DisjointNet, FourierFeatures, SVDPair, make_net
from empirical.papers.ryu24.neuralsvd.objective import Moments, lora_loss, neuralef_loss
from empirical.papers.ryu24.neuralsvd.operators import (
    KernelOperator,
    MatrixOperator,
    SchrodingerOperator,
    supports_forward_laplacian,
)
from empirical.train import TrainConfig, TrainResult, train
from theory.validation import check_positive_int

__all__ = [
    "Method",
    "NetConfig",
    "make_loss_fn",
    "train_step_fn",
    "fit",
    "psi_on_points",
    "rayleigh_quotients",
    "schrodinger_eval",
    "quadrature_grid",
    "polar_quadrature",
    "kernel_eval",
    "saved_activation_bytes",
    "model_state_bytes",
]

Method = Literal["joint", "sequential", "none", "neuralef"]


@dataclass(frozen=True)
class NetConfig:
    """Network settings: parameterisation (joint | disjoint), width, depth, activation, Fourier features."""

    param: Literal["joint", "disjoint"] = "joint"
    width: int = 64
    depth: int = 3
    activation: str = "softplus"
    fourier: tuple[int, float] | None = None

    def build(
        self,
        in_dim: int,
        L: int,
        *,
        generator: torch.Generator,
        device: torch.device | str,
        dtype: torch.dtype = torch.float32,
    ) -> nn.Module:
        return make_net(
            self.param,
            in_dim,
            L,
            width=self.width,
            depth=self.depth,
            activation=self.activation,
            fourier=self.fourier,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Operator = MatrixOperator | KernelOperator | SchrodingerOperator


def make_loss_fn(op: Operator, method: Method) -> Callable[[nn.Module, Any], Tensor]:
    """``loss_fn(model, batch)`` for :func:`empirical.train.train`: NeuralSVD with a nesting, or NeuralEF."""
    if method == "neuralef":
        if not isinstance(op, SchrodingerOperator):
            raise ValueError("method: the NeuralEF baseline is implemented for the Schrödinger operator only")

        def ef(model: nn.Module, batch: Tensor) -> Tensor:
            return neuralef_loss(*op.apply(model, batch))

        return ef

    def svd(model: nn.Module, batch: Any) -> Tensor:
        return lora_loss(op.moments(model, batch), method)  # type: ignore[arg-type]

    return svd


def make_sampler(
    op: Operator, batch_size: int, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> Callable[[torch.Generator, int], Any]:
    """``sample_batch(generator, step)``; a MatrixOperator with ``batch_size=0`` gives the exact (full) batch."""
    if isinstance(op, SchrodingerOperator):
        return lambda g, step: op.sample(g, batch_size, device, dtype)
    if isinstance(op, MatrixOperator) and batch_size == 0:
        return lambda g, step: None
    return lambda g, step: op.sample(g, batch_size)


class WeightAverage:
    """Exponential moving average of a model's parameters, ``θ̄ ← ρ θ̄ + (1 − ρ) θ`` after every optimizer step
    (ryu24 App. E: ρ = 0.995). Averaging the last ~1/(1 − ρ) iterates cancels most of the minibatch noise
    that a single iterate carries, at no extra gradient evaluations."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay: expected a number in (0, 1), got {decay!r}")
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self._ids = {id(p) for p in self.params}

    def update(self) -> None:
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay)

    def owns(self, optimizer: torch.optim.Optimizer) -> bool:
        """Whether ``optimizer`` steps this model (a global hook sees every optimizer in the process)."""
        return any(id(p) in self._ids for g in optimizer.param_groups for p in g["params"])

    def copy_to_model(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)

    @contextlib.contextmanager
    def tracking(self) -> Iterator[WeightAverage]:
        """Update after each step of this model's optimizer while inside the block (the optimizer is built
        inside :func:`empirical.train.train`, so the hook is registered globally and filtered by :meth:`owns`)."""

        def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            if self.owns(optimizer):
                self.update()

        handle = _optim_hooks.register_optimizer_step_post_hook(hook)
        try:
            yield self
        finally:
            handle.remove()


def fit(
    model: nn.Module,
    op: Operator,
    method: Method,
    cfg: TrainConfig,
    *,
    device: torch.device | str,
    exact: bool = False,
    progress: bool = False,
    desc: str = "ryu24",
    ema: float | None = None,
) -> TrainResult:
    """Train ``model`` on ``op`` with ``method`` (the suite's one training loop).

    ``exact=True`` (matrices only) applies T to all indices each step (``cfg.batch_size`` is then unused).
    ``ema``: decay ρ of a :class:`WeightAverage`; the model ends with the averaged weights (None: last iterate).
    """
    if exact and not isinstance(op, MatrixOperator):
        raise ValueError("exact: only a MatrixOperator can be applied exactly")
    avg = WeightAverage(model, ema) if ema is not None else None
    with avg.tracking() if avg is not None else contextlib.nullcontext():
        result = train(
            model,
            make_sampler(op, 0 if exact else cfg.batch_size, device),
            make_loss_fn(op, method),
            cfg,
            progress=progress,
            desc=desc,
        )
    if avg is not None:
        avg.copy_to_model()
    return result


def train_step_fn(
    model: nn.Module, op: Operator, method: Method, batch_size: int, device: torch.device | str
) -> Callable[[], float]:
    """A closure doing one optimizer step (Adam, lr 1e-3) on a fresh batch: what a benchmark times."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sample = make_sampler(op, batch_size, device)
    loss_fn = make_loss_fn(op, method)
    gen = torch.Generator().manual_seed(0)

    def step() -> float:
        loss = loss_fn(model, sample(gen, 0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def _float64_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(torch.float64).eval()


def _device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    t = next(iter([*model.parameters(), *model.buffers()]), None)
    return torch.device("cpu") if t is None else t.device


class FixedFunctions(nn.Module):
    """A stand-in for a trained model whose L outputs are given functions, ``forward(x) = fn(x)`` (B, L).

    Controls feed known answers (exact eigenfunctions, a Nyström extension, a perturbed or untrained
    solution) through exactly the evaluation a trained model goes through. ``fn`` must be differentiable
    in x with torch operations (the Schrödinger operator then takes its Laplacian by autograd) and work in
    float64.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


class TopModes(nn.Module):
    """The first L outputs of a model trained with extra modes (fact sheet pitfall: the last mode converges
    slowest, so train L_train > L and assess the top L)."""

    def __init__(self, model: nn.Module, L: int) -> None:
        super().__init__()
        self.model, self.L = model, L

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)[..., : self.L]

    @property
    def supports_forward_laplacian(self) -> bool:
        return supports_forward_laplacian(self.model)

    def forward_laplacian(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return tuple(t[..., : self.L] for t in self.model.forward_laplacian(x))  # type: ignore[return-value]


def _unwrap(model: nn.Module) -> nn.Module:
    while isinstance(model, TopModes):
        model = model.model
    return model


#: bytes one evaluation chunk may hold in its largest intermediate tensors (float64); 1 GiB
EVAL_CHUNK_BYTES = 2**30


def eval_chunk_points(model: nn.Module, d: int, budget_bytes: int = EVAL_CHUNK_BYTES) -> int:
    """Points per evaluation chunk so that the forward Laplacian's intermediates stay within ``budget_bytes``.

    Per point the forward Laplacian keeps the value, the d input derivatives and the Laplacian (d + 2
    numbers) of every hidden unit of every network: ``8 (d + 2) · n_nets · width`` bytes per layer; a few
    layers' worth are alive at once (factor 4), and the shared Fourier features add ``8 (d + 2) · 2k``.
    """
    model = _unwrap(model)
    nets = model.L if isinstance(model, DisjointNet) else 1
    widths = [p.shape[-1] for p in model.parameters() if p.ndim >= 2] or [1]
    feats = getattr(model, "features", None)
    return chunk_points(d, nets, max(widths), feats.out_dim if isinstance(feats, FourierFeatures) else 0,
                        budget_bytes)


def chunk_points(d: int, nets: int, width: int, feature_dim: int, budget_bytes: int = EVAL_CHUNK_BYTES) -> int:
    """:func:`eval_chunk_points` from the sizes: ``nets`` networks of hidden width ``width`` (largest weight dim),
    ``feature_dim`` Fourier features (0: none); per point ``8(d+2)·4·max(nets·width, width) + 8(d+2)·feature_dim``."""
    per_point = 8 * (d + 2) * 4 * max(nets * width, width) + 8 * (d + 2) * feature_dim
    return max(1, int(budget_bytes // per_point))


@dataclass
class SchrodingerEval:
    """Float64 evaluation of learned functions against analytic eigenpairs (degenerate levels handled).

    Attributes:
        eig_T: Rayleigh quotients ``⟨ψ_l, Tψ_l⟩/⟨ψ_l, ψ_l⟩`` (L,). eig_T_norm: ``‖ψ_l‖²`` (NeuralSVD's
        estimate, ``f_l = √λ_l φ_l``). energies: ``shift − eig_T/scale`` (L,). rel_err: ``|E − E_true|/E_true``.
        capture: fraction of each normalised ψ_l inside the true eigenspace of its level (L,).
        orthogonality: max |off-diagonal| of the normalised Gram matrix. cos: |⟨ψ̂_l, φ_l⟩| for
        non-degenerate levels (NaN elsewhere).
    """

    eig_T: list[float]
    eig_T_norm: list[float]
    energies: list[float]
    rel_err: list[float]
    capture: list[float]
    orthogonality: float
    cos: list[float] = field(default_factory=list)


def quadrature_grid(d: int, half_width: float, n_per_dim: int) -> tuple[Tensor, Tensor]:
    """Cell centres of a uniform grid on [−R, R]^d (M, d) and their volumes (M,) (midpoint rule; the
    centres never hit the origin for even ``n_per_dim``, which keeps 1/‖x‖ finite)."""
    h = 2 * half_width / n_per_dim
    axis = -half_width + h * (torch.arange(n_per_dim, dtype=torch.float64) + 0.5)
    pts = torch.cartesian_prod(*([axis] * d)).reshape(-1, d)
    return pts, torch.full((pts.shape[0],), h**d, dtype=torch.float64)


def polar_quadrature(radius: float, n_r: int, n_theta: int) -> tuple[Tensor, Tensor]:
    """Points (n_r·n_theta, 2) and weights of a product rule for ∫_{‖x‖<R} f dx on the disc.

    Radius ``r = R s²`` with Gauss–Legendre nodes in s ∈ (0, 1) (nodes crowd the origin, where the 2-D
    hydrogen eigenfunctions have their cusp and 1/r its singularity; the area element r dr = 2R² s³ ds
    removes both), and the uniform rule in θ (exact for trigonometric polynomials of degree < n_theta).
    """
    for name, v in (("n_r", n_r), ("n_theta", n_theta)):
        check_positive_int(name, v)
    s, ws = np.polynomial.legendre.leggauss(n_r)
    s, ws = (s + 1) / 2, ws / 2
    r = radius * s**2
    wr = ws * 2 * radius * s * r  # dr = 2R s ds, times the Jacobian r
    th = 2 * np.pi * (np.arange(n_theta) + 0.5) / n_theta
    pts = np.stack([np.outer(r, np.cos(th)), np.outer(r, np.sin(th))], -1).reshape(-1, 2)
    w = np.repeat(wr, n_theta) * (2 * np.pi / n_theta)
    return torch.from_numpy(pts), torch.from_numpy(w)


def psi_on_points(
    model: nn.Module, op: SchrodingerOperator, points: Tensor, chunk: int | None = None
) -> tuple[Tensor, Tensor]:
    """The learned ψ = u√q and Tψ at ``points`` (M, d), in float64 on the CPU: ((M, L), (M, L)).

    ``chunk``: points per evaluation pass (default :func:`eval_chunk_points`: memory bounded by
    :data:`EVAL_CHUNK_BYTES` whatever the grid); every point is evaluated independently, so the result does
    not depend on it.
    """
    m64 = _float64_copy(model)
    dev = _device_of(m64)
    step = chunk if chunk is not None else eval_chunk_points(m64, op.d)
    check_positive_int("chunk", step)
    psi, Tpsi = [], []
    for part in torch.split(points, step):
        u, TU = op.apply(m64, part.to(dev))
        sq = op.sqrt_density(part.to(dev))[:, None]
        psi.append((u.detach() * sq).cpu())
        Tpsi.append((TU * sq).cpu())
    return torch.cat(psi), torch.cat(Tpsi)


def rayleigh_quotients(P: Tensor, TP: Tensor, weights: Tensor) -> tuple[Tensor, Tensor, float]:
    """From ψ and Tψ on quadrature points (M, L) with weights (M,): Rayleigh quotients ⟨ψ_l, Tψ_l⟩/‖ψ_l‖² (L,),
    squared norms (L,), and the largest off-diagonal |⟨ψ̂_l, ψ̂_m⟩| of the normalised functions."""
    w = weights[:, None]
    norms = torch.diagonal(P.T @ (w * P))
    rq = (P * w * TP).sum(0) / norms
    Ph = P / norms.sqrt()
    ghat = Ph.T @ (w * Ph)
    return rq, norms, float((ghat - torch.diag(torch.diagonal(ghat))).abs().max())


def schrodinger_eval(
    model: nn.Module,
    op: SchrodingerOperator,
    true_energies: Tensor,
    true_fn: Callable[[Tensor], Tensor],
    points: Tensor,
    weights: Tensor,
) -> SchrodingerEval:
    """Evaluate learned ψ = u√q in float64 with the quadrature rule ``∫ a b ≈ Σ_i w_i a(x_i) b(x_i)``.

    Args:
        true_energies: (L,) analytic eigenvalues of H, ascending. true_fn: x (M, d) -> (M, L) true
            eigenfunctions (Lebesgue-normalised). points, weights: (M, d), (M,) e.g. :func:`quadrature_grid`.
    """
    P, TP = psi_on_points(model, op, points)
    w = weights[:, None]
    rq, norms, ortho = rayleigh_quotients(P, TP, weights)
    energies = op.eigenvalue_of_H(rq)
    true_energies = true_energies.to(torch.float64)
    rel = (energies - true_energies).abs() / true_energies.abs()
    Ph = P / norms.sqrt()
    overlap = Ph.T @ (w * true_fn(points))  # (L, L): ⟨ψ̂_l, φ_k⟩
    same = (true_energies[:, None] - true_energies[None, :]).abs() < 1e-9
    capture = (overlap**2 * same).sum(1)
    cos = torch.where(same.sum(1) == 1, torch.diagonal(overlap).abs(), torch.nan)
    return SchrodingerEval(
        rq.tolist(), norms.tolist(), energies.tolist(), rel.tolist(), capture.tolist(), float(ortho), cos.tolist()
    )


@dataclass
class KernelEval:
    """Learned kernel eigenpairs vs the dense/Nyström reference (float64)."""

    eig: list[float]
    eig_norm: list[float]
    rel_err: list[float]
    cos_pool: list[float]
    rel_l2_heldout: list[float]


def kernel_eval(
    model: nn.Module, op: KernelOperator, ref_evals: Tensor, ref_pool: Tensor, ref_heldout: Tensor, heldout: Tensor
) -> KernelEval:
    """Eigenvalues (Rayleigh quotients on the full pool: exact for the empirical operator), |cos| of the
    pool values to the dense eigenvectors, and relative L² error of the sign-aligned, normalised functions
    at held-out points against the Nyström extension."""
    from theory.operators_reference import gaussian_kernel

    m64 = _float64_copy(model)
    dev = _device_of(m64)
    pool = op.pool.to(torch.float64)
    with torch.no_grad():
        F = m64(pool.to(dev)).cpu()
        Fh_new = m64(heldout.to(device=dev, dtype=torch.float64)).cpu()
    N = pool.shape[0]
    K = gaussian_kernel(pool, pool, op.bandwidth)
    norms = (F**2).mean(0)
    rq = torch.einsum("il,ij,jl->l", F, K / N, F) / N / norms
    rel = (rq - ref_evals).abs() / ref_evals
    Fn = F / norms.sqrt()
    cos = (Fn * ref_pool).mean(0)  # both normalised to mean square 1 on the pool
    sign = torch.sign(cos)
    Fh_new = Fh_new / norms.sqrt() * sign
    err = ((Fh_new - ref_heldout) ** 2).mean(0).sqrt() / (ref_heldout**2).mean(0).sqrt()
    return KernelEval(rq.tolist(), norms.tolist(), rel.tolist(), cos.abs().tolist(), err.tolist())


def saved_activation_bytes(loss_fn: Callable[[nn.Module, Any], Tensor], model: nn.Module, batch: Any) -> int:
    """Bytes of the tensors autograd saves for the backward pass of one loss evaluation (device-agnostic
    activation-memory measure; tensors saved more than once are counted once)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model, batch)
    return int(sum(seen.values()))


def model_state_bytes(model: nn.Module) -> int:
    """Parameter bytes × 4 (weights, gradients, Adam's two moments)."""
    return 4 * sum(p.numel() * p.element_size() for p in model.parameters())


def svd_pair(f: nn.Module, g: nn.Module) -> SVDPair:
    return SVDPair(f, g)


__all__ += ["SchrodingerEval", "KernelEval", "make_sampler", "svd_pair", "Moments", "TopModes", "FixedFunctions",
            "WeightAverage", "eval_chunk_points", "chunk_points", "EVAL_CHUNK_BYTES"]
