"""Population losses of L-layer linear transformers (Ahn et al. 2023, Theorems 3 and 4), in float64.

Setting of Theorem 3: x ~ N(0, Σ), w⋆ ~ N(0, Σ⁻¹), layer ℓ applies w ← w − A_ℓ Ŝ (w − w⋆) (noise-free
preconditioned GD, Lemma 1), so w⋆ − w_L = Π w⋆ with Π = (I − A_L Ŝ) ⋯ (I − A_1 Ŝ) and

    f(A_1..A_L) = E_Ŝ tr(Σ Π Σ⁻¹ Πᵀ)                    (x_q, w⋆ integrated exactly)

On {A_ℓ = a_ℓ Σ⁻¹}, whitening (Ŝ = Σ^{1/2} Û Σ^{1/2}) gives f = E Σ_k Π_ℓ (1 − a_ℓ μ_k)², μ_k the eigenvalues of
a whitened sample covariance Û = W/n; expanding the polynomial in μ, f is an exact combination of Wishart trace
moments E tr(Û^p), p ≤ 2L (:mod:`theory.wishart`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp
import torch
from scipy.optimize import minimize
from torch import Tensor

from theory.validation import check_generator, check_ndim, check_positive_int, check_real, check_spd
from theory.wishart import empirical_covariance_trace_moment

__all__ = [
    "scalar_loss",
    "scalar_loss_symbolic",
    "optimal_scalars",
    "sample_covariances",
    "matrix_loss_per_sample",
    "mc_gradient",
    "mc_hessian_eigenvalues",
]


def _moments(L: int, n: int, d: int) -> np.ndarray:
    return np.array([empirical_covariance_trace_moment(p, n, d) for p in range(2 * L + 1)])


def scalar_loss(a: Sequence[float], n: int, d: int) -> float:
    """Exact f(a_1 Σ⁻¹, ..., a_L Σ⁻¹) = Σ_p c_p(a) E tr(Û^p), c_p the coefficients of Π_ℓ (1 − a_ℓ μ)²."""
    check_positive_int("n", n)
    check_positive_int("d", d)
    for i, al in enumerate(a):  # a NaN step would give a NaN loss, silently
        try:
            check_real(f"a[{i}]", float(al))
        except (TypeError, ValueError):
            raise ValueError(f"a[{i}]: expected a finite number, got {al!r}") from None
    poly = np.polynomial.Polynomial([1.0])
    for al in a:
        poly = poly * np.polynomial.Polynomial([1.0, -float(al)]) ** 2
    m = _moments(len(a), n, d)
    return float(np.dot(poly.coef, m[: len(poly.coef)]))


def scalar_loss_symbolic(L: int, n: int, d: int) -> tuple[sp.Expr, list[sp.Symbol]]:
    """The same loss as an exact sympy polynomial in symbols a1..aL (rational coefficients)."""
    check_positive_int("L", L)
    a = sp.symbols(f"a1:{L + 1}", real=True)
    mu = sp.Symbol("mu")
    poly = sp.Poly(sp.Mul(*[(1 - ai * mu) ** 2 for ai in a]), mu)
    from theory.wishart import wishart_trace_moment

    ns, ds = sp.symbols("n d", positive=True)
    m = [wishart_trace_moment(p).subs({ns: n, ds: d}) / sp.Integer(n) ** p for p in range(2 * L + 1)]
    expr = sp.Add(*[coef * m[k[0]] for k, coef in zip(poly.monoms(), poly.coeffs(), strict=True)])
    return sp.expand(expr), list(a)


def optimal_scalars(L: int, n: int, d: int, starts: int = 8, seed: int = 0) -> dict[str, object]:
    """Minimise the exact scalar loss; returns a* (sorted), loss, exact gradient and Hessian eigenvalues there.

    The loss is invariant under permuting layers, so minimisers are reported sorted.
    """
    check_positive_int("starts", starts)
    expr, a = scalar_loss_symbolic(L, n, d)
    f = sp.lambdify([a], expr, "numpy")
    grad = [sp.lambdify([a], sp.diff(expr, ai), "numpy") for ai in a]
    hess = [[sp.lambdify([a], sp.diff(expr, ai, aj), "numpy") for aj in a] for ai in a]
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(starts):
        x0 = np.sort(rng.uniform(0.1, 2.0, size=L))
        res = minimize(lambda x: float(f(x)), x0, jac=lambda x: np.array([g(x) for g in grad], dtype=float),
                       method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000})
        if best is None or res.fun < best.fun:
            best = res
    x = np.sort(best.x)
    # Newton polish on the exact polynomial: BFGS stops at ~1e-9; two Newton steps reach round-off.
    for _ in range(3):
        g = np.array([gi(x) for gi in grad], dtype=float)
        H = np.array([[h(x) for h in row] for row in hess], dtype=float)
        x = x - np.linalg.solve(H, g)
    g = np.array([gi(x) for gi in grad], dtype=float)
    H = np.array([[h(x) for h in row] for row in hess], dtype=float)
    return {"a": np.sort(x), "loss": float(f(x)), "grad": g, "hessian_eigenvalues": np.linalg.eigvalsh(H)}


def sample_covariances(sigma: Tensor, n: int, count: int, generator: torch.Generator) -> Tensor:
    """Ŝ = XᵀX/n for ``count`` independent X (n, d) with rows N(0, Σ): (count, d, d) float64."""
    check_spd("sigma", sigma)
    check_positive_int("n", n)
    check_positive_int("count", count)
    check_generator("generator", generator)
    C = torch.linalg.cholesky(sigma.to(torch.float64))
    X = torch.randn(count, n, sigma.shape[0], generator=generator, dtype=torch.float64) @ C.T
    return X.transpose(1, 2) @ X / n


def matrix_loss_per_sample(A: Tensor, sigma: Tensor, S_hat: Tensor) -> Tensor:
    """tr(Σ Π Σ⁻¹ Πᵀ) per sampled Ŝ, Π = (I − A_L Ŝ)⋯(I − A_1 Ŝ): A (L, d, d), S_hat (N, d, d) -> (N,)."""
    check_ndim("sigma", sigma, 2, "(d, d)")
    d = sigma.shape[0]
    check_ndim("A", A, 3, "(L, d, d)")
    check_ndim("S_hat", S_hat, 3, "(N, d, d)")
    if A.shape[1:] != (d, d) or S_hat.shape[1:] != (d, d):
        raise ValueError(f"A/S_hat: expected (L, {d}, {d}) and (N, {d}, {d}) to match sigma, got "
                         f"{tuple(A.shape)} and {tuple(S_hat.shape)}")
    I = torch.eye(d, dtype=torch.float64)
    Pi = I.expand_as(S_hat)
    for ell in range(A.shape[0]):
        Pi = (I - A[ell] @ S_hat) @ Pi
    sinv = torch.linalg.inv(sigma)
    return torch.einsum("ij,njk,kl,nil->n", sigma, Pi, sinv, Pi)


def mc_gradient(A: Tensor, sigma: Tensor, n: int, batches: int, per_batch: int,
                generator: torch.Generator) -> tuple[Tensor, Tensor, float, float]:
    """Monte-Carlo gradient of f w.r.t. the full matrices A (L, d, d) with its standard error.

    The gradient of the batch mean is computed on ``batches`` independent batches; the mean over batches
    estimates ∇f and std/√batches its standard error, entry by entry.

    Returns:
        (mean gradient (L, d, d), standard error (L, d, d), mean loss, loss standard error)
    """
    check_positive_int("batches", batches, minimum=2)  # one batch has no standard error (std would be NaN)
    check_positive_int("per_batch", per_batch)
    grads, losses = [], []
    for _ in range(batches):
        S_hat = sample_covariances(sigma, n, per_batch, generator)
        Av = A.detach().clone().requires_grad_(True)
        loss = matrix_loss_per_sample(Av, sigma, S_hat).mean()
        (g,) = torch.autograd.grad(loss, Av)
        grads.append(g)
        losses.append(float(loss.detach()))
    G = torch.stack(grads)
    lv = torch.tensor(losses, dtype=torch.float64)
    return G.mean(0), G.std(0) / batches**0.5, float(lv.mean()), float(lv.std() / batches**0.5)


def mc_hessian_eigenvalues(A: Tensor, sigma: Tensor, n: int, count: int, generator: torch.Generator) -> Tensor:
    """Eigenvalues of the Monte-Carlo Hessian of f w.r.t. all entries of A (L, d, d) on ``count`` samples of Ŝ:
    (L·d²,) ascending. A sample-average Hessian: eigenvalues near 0 are within Monte-Carlo noise of either sign."""
    S_hat = sample_covariances(sigma, n, count, generator)
    shape = A.shape
    H = torch.autograd.functional.hessian(
        lambda v: matrix_loss_per_sample(v.reshape(shape), sigma, S_hat).mean(), A.detach().reshape(-1))
    return torch.linalg.eigvalsh(0.5 * (H + H.T))
