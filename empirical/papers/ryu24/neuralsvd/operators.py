"""Operators applied to learned functions, as minibatch :class:`~empirical.papers.ryu24.neuralsvd.objective.Moments`.

Three forms (ryu24, Sec. 5 and App. E):

* :class:`MatrixOperator` — a finite matrix T (m, n); SVD form with a :class:`~.models.SVDPair`, or EVD
  form for symmetric T. Exact (all indices) or minibatch: rows I and columns J drawn uniformly with
  replacement, ``⟨f, T g⟩ = m n E_{i,j}[f_i T_ij g_j]`` and ``⟨f, f'⟩ = m E_i[f_i f'_i]``.
* :class:`KernelOperator` — ``(T f)(x) = (1/N) Σ_j k(x, x_j) f(x_j)`` on a pool of N points (the empirical
  measure); a batch is B pool indices with replacement; ``⟨f, T f⟩`` is estimated by the U-statistic over
  pairs a ≠ c (the diagonal would add the bias ``E[k(x,x) f(x)²]/B``).
* :class:`SchrodingerOperator` — ``T = scale · (shift · I − H)``, ``H = −Δ + V`` (the paper's code: no ½;
  only positive eigenvalues of T are learned, so H is negated and shifted). Importance sampling: x ~ q =
  N(0, s² I), the network outputs ``u = ψ/√q`` so that sample means of ``u_l u_l'`` estimate Lebesgue inner
  products, and ``⟨ψ, Tψ⟩ = E_q[u · Tψ/√q]``. ``Δψ`` is computed with autograd (torch.func, parameters
  detached: T ψ is never differentiated, the gradient ``2 T ψ`` of ``⟨ψ, Tψ⟩`` comes from the surrogate
  ``2⟨ψ, sg(Tψ)⟩``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from empirical.papers.ryu24.neuralsvd.objective import Moments
from theory.operators_reference import gaussian_kernel
from theory.validation import check_finite, check_ndim, check_positive, check_positive_int

__all__ = [
    "MatrixOperator",
    "KernelOperator",
    "SchrodingerOperator",
    "harmonic_potential",
    "coulomb2d_potential",
    "apply_with_detached_params",
    "supports_forward_laplacian",
]


def _halves(X: Tensor) -> tuple[Tensor, Tensor]:
    h = X.shape[0] // 2
    if h < 1:
        raise ValueError(f"batch: need at least 2 samples for two independent half-batches, got {X.shape[0]}")
    return X[:h], X[h:]


@dataclass
class MatrixOperator:
    """A finite matrix ``T`` (m, n). ``symmetric=True`` selects the EVD form (needs m == n, T = Tᵀ)."""

    T: Tensor
    symmetric: bool = False

    def __post_init__(self) -> None:
        check_ndim("T", self.T, 2, "(m, n)")
        check_finite("T", self.T)
        if self.symmetric and (self.T.shape[0] != self.T.shape[1] or not torch.allclose(self.T, self.T.T)):
            raise ValueError("T: symmetric=True needs a square symmetric matrix")

    def sample(self, generator: torch.Generator, batch_size: int) -> tuple[Tensor, Tensor]:
        """Row and column indices (B,), (B,), uniform with replacement."""
        check_positive_int("batch_size", batch_size, 2)
        m, n = self.T.shape
        rows = torch.randint(m, (batch_size,), generator=generator)
        cols = rows if self.symmetric else torch.randint(n, (batch_size,), generator=generator)
        return rows.to(self.T.device), cols.to(self.T.device)

    def moments(self, model: nn.Module, batch: tuple[Tensor, Tensor] | None = None) -> Moments:
        """Exact moments when ``batch`` is None, else the minibatch estimator of the class docstring."""
        f, g = (model, model) if self.symmetric else (model.f, model.g)
        m, n = self.T.shape
        if batch is None:
            F = f(torch.arange(m, device=self.T.device))
            G = F if self.symmetric else g(torch.arange(n, device=self.T.device))
            cross = torch.einsum("il,ij,jl->l", F, self.T.to(F), G)
            # Scale by √m, √n so that the mean over all indices is the Euclidean inner product.
            Fs, Gs = F * math.sqrt(m), G * math.sqrt(n)
            return Moments(cross, Fs, Fs, Gs, Gs)
        rows, cols = batch
        F = f(rows) * math.sqrt(m)
        G = F if self.symmetric else g(cols) * math.sqrt(n)
        Tb = self.T[rows][:, cols].to(F) * math.sqrt(m * n)
        if self.symmetric:
            # U-statistic over a ≠ c: with one index set, the diagonal pairs are not independent draws.
            B = F.shape[0]
            Tb = Tb * (1 - torch.eye(B, dtype=F.dtype, device=F.device))
            cross = torch.einsum("al,ac,cl->l", F, Tb, G) / (B * (B - 1))
        else:
            cross = torch.einsum("al,ac,cl->l", F, Tb, G) / (F.shape[0] * G.shape[0])
        Fa, Fb = _halves(F)
        Ga, Gb = _halves(G)
        return Moments(cross, Fa, Fb, Ga, Gb)


@dataclass
class KernelOperator:
    """Gaussian kernel integral operator on the empirical measure of ``pool`` (N, d); EVD form."""

    pool: Tensor
    bandwidth: float

    def __post_init__(self) -> None:
        check_ndim("pool", self.pool, 2, "(N, d)")
        check_finite("pool", self.pool)
        check_positive("bandwidth", self.bandwidth)

    def sample(self, generator: torch.Generator, batch_size: int) -> Tensor:
        """Pool indices (B,), uniform with replacement."""
        check_positive_int("batch_size", batch_size, 2)
        return torch.randint(self.pool.shape[0], (batch_size,), generator=generator).to(self.pool.device)

    def moments(self, model: nn.Module, idx: Tensor) -> Moments:
        x = self.pool[idx]
        F = model(x.to(next(model.parameters()).dtype))
        K = gaussian_kernel(x, x, self.bandwidth).to(F)
        B = F.shape[0]
        K = K * (1 - torch.eye(B, dtype=F.dtype, device=F.device))  # U-statistic: drop a = c
        cross = torch.einsum("al,ac,cl->l", F, K, F) / (B * (B - 1))
        Fa, Fb = _halves(F)
        return Moments(cross, Fa, Fb, Fa, Fb)


def harmonic_potential(x: Tensor) -> Tensor:
    """``V(x) = ‖x‖²`` (paper's code convention, eigenvalues of −Δ + V are 2|n| + d); x (B, d) -> (B,)."""
    return (x**2).sum(-1)


def coulomb2d_potential(x: Tensor) -> Tensor:
    """``V(x) = −1/‖x‖`` of the 2-D hydrogen atom (eigenvalues of −H: 1/(2n+1)²); x (B, 2) -> (B,)."""
    return -1 / x.norm(dim=-1).clamp_min(1e-6)


def apply_with_detached_params(
    model: nn.Module, fn: Callable[[Callable[[Tensor], Tensor], Tensor], Tensor], x: Tensor
) -> Tensor:
    """``fn(batched_model, x)`` with the model's parameters detached (no graph to the weights)."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def batched(p: Tensor) -> Tensor:
        return functional_call(model, (params, buffers), (p,))

    return fn(batched, x)


def supports_forward_laplacian(model: nn.Module) -> bool:
    """Whether ``model.forward_laplacian`` exists and works: a wrapper (e.g. one that keeps the top L outputs)
    says so through ``supports_forward_laplacian``, otherwise the method's presence decides."""
    return bool(getattr(model, "supports_forward_laplacian", hasattr(model, "forward_laplacian")))


@dataclass
class SchrodingerOperator:
    """``T = scale · (shift · I − H)`` with ``H = −Δ + V`` on ℝ^d; sampling q = N(0, sampler_std² I).

    ``method`` selects how Δψ is computed (see :meth:`laplacian`)."""

    d: int
    potential: Callable[[Tensor], Tensor]
    shift: float
    scale: float
    sampler_std: float
    method: str = "forward"

    def __post_init__(self) -> None:
        if self.method not in ("forward", "autograd"):
            raise ValueError(f"method: expected 'forward' or 'autograd', got {self.method!r}")
        check_positive_int("d", self.d)
        check_positive("scale", self.scale)
        check_positive("sampler_std", self.sampler_std)
        if not math.isfinite(self.shift):
            raise ValueError(f"shift: expected a finite number, got {self.shift}")

    def sample(
        self,
        generator: torch.Generator,
        batch_size: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """x (B, d) ~ N(0, s² I)."""
        check_positive_int("batch_size", batch_size, 2)
        x = torch.randn(batch_size, self.d, generator=generator, dtype=torch.float64) * self.sampler_std
        return x.to(device=device, dtype=dtype)

    def sqrt_density(self, x: Tensor) -> Tensor:
        """``√q(x)`` (B,) for q = N(0, s² I)."""
        s2 = self.sampler_std**2
        return torch.exp(-(x**2).sum(-1) / (4 * s2)) / (2 * math.pi * s2) ** (self.d / 4)

    def psi(self, model: nn.Module, x: Tensor) -> Tensor:
        """The eigenfunction candidates ``ψ = u · √q`` (B, L) in Lebesgue L²."""
        return model(x) * self.sqrt_density(x)[..., None]

    def laplacian(self, model: nn.Module, x: Tensor) -> Tensor:
        """``Δψ_l(x)`` (B, L) for ``ψ = u √q``, parameters detached.

        ``method="autograd"``: reverse-mode autograd (first derivatives with ``create_graph``, then one
        more pass per coordinate), for any model. ``method="forward"``: the model's exact
        ``forward_laplacian`` (value, gradient and Laplacian propagated through the layers, ~(d+2)× a
        forward pass) combined with the product rule ``Δ(u s) = s Δu + 2 ∇u·∇s + u Δs`` for ``s = √q``
        (``∇s = −x s/(2σ²)``, ``Δs = s (‖x‖²/(4σ⁴) − d/(2σ²))``); the tests check it against autograd.
        """
        if self.method == "forward" and supports_forward_laplacian(model):
            with torch.no_grad():
                u, J, lap_u = model.forward_laplacian(x)
                s2 = self.sampler_std**2
                s = self.sqrt_density(x)[:, None]
                grad_s = -x[..., None] / (2 * s2)  # ∇s / s, (B, d, 1)
                lap_s = (x**2).sum(-1, keepdim=True) / (4 * s2**2) - self.d / (2 * s2)  # Δs / s
                return s * (lap_u + 2 * (J * grad_s).sum(1) + u * lap_s)

        def lap(batched, pts):
            pts = pts.detach().requires_grad_(True)
            with torch.enable_grad():
                psi = batched(pts) * self.sqrt_density(pts)[..., None]
                cols = []
                for l in range(psi.shape[1]):
                    g = torch.autograd.grad(psi[:, l].sum(), pts, create_graph=True)[0]
                    cols.append(
                        sum(torch.autograd.grad(g[:, k].sum(), pts, retain_graph=True)[0][:, k] for k in range(self.d))
                    )
            return torch.stack(cols, -1).detach()

        return apply_with_detached_params(model, lap, x)

    def apply(self, model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(u, Tψ/√q)``, both (B, L): the scaled values and the operator (the latter detached)."""
        u = model(x)
        with torch.no_grad():
            sq = self.sqrt_density(x)[..., None]
            psi = u.detach() * sq
            Hpsi = -self.laplacian(model, x) + self.potential(x)[..., None] * psi
            Tpsi = self.scale * (self.shift * psi - Hpsi)
        return u, Tpsi / sq

    def moments(self, model: nn.Module, x: Tensor) -> Moments:
        u, TU = self.apply(model, x)
        value = (u.detach() * TU).mean(0)
        cross = value + 2 * ((u * TU).mean(0) - value)  # value ⟨ψ,Tψ⟩, gradient 2⟨∂ψ, Tψ⟩
        Ua, Ub = _halves(u)
        return Moments(cross, Ua, Ub, Ua, Ub)

    def eigenvalue_of_H(self, lam: Tensor) -> Tensor:
        """Map an eigenvalue of T back to H: ``E = shift − λ/scale``."""
        return self.shift - lam / self.scale
