"""ryu24 reference operators: kernel eigenpairs (analytic, dense, Nyström), Hermite functions, levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import eval_hermite, factorial

from theory.operators_reference import (
    gaussian_kernel,
    gaussian_kernel_eigen_1d,
    hermite_functions,
    hydrogen2d_eigenfunctions,
    hydrogen2d_eigenvalues,
    hydrogen2d_states,
    kernel_eigen_reference,
    nystrom_extend,
    oscillator_eigenfunctions,
    oscillator_levels,
)

f64 = torch.float64


def test_ryu24_hermite_functions_match_scipy_and_are_orthonormal():
    x = torch.linspace(-6, 6, 41, dtype=f64)
    h = hermite_functions(7, x).numpy()
    for n in range(8):
        norm = math.sqrt(2**n * factorial(n) * math.sqrt(math.pi))
        ref = eval_hermite(n, x.numpy()) * np.exp(-(x.numpy() ** 2) / 2) / norm
        assert np.allclose(h[:, n], ref, atol=1e-12)
    # Gauss–Hermite quadrature (exact for these polynomial × e^{-x²} integrands)
    nodes, w = np.polynomial.hermite.hermgauss(40)
    H = hermite_functions(7, torch.tensor(nodes)).numpy() * np.exp(nodes**2 / 2)[:, None]
    assert np.allclose(H.T @ (w[:, None] * H), np.eye(8), atol=1e-12)


def test_ryu24_oscillator_levels():
    ev, idx = oscillator_levels(2, 6)
    assert ev.tolist() == [2, 4, 4, 6, 6, 6]
    assert sorted(idx[1:3]) == [(0, 1), (1, 0)]
    assert oscillator_levels(1, 3)[0].tolist() == [1, 3, 5]
    x = torch.randn(5, 2, dtype=f64)
    phi = oscillator_eigenfunctions(x, [(1, 2)])
    h = hermite_functions(2, x)
    assert torch.allclose(phi[:, 0], h[:, 0, 1] * h[:, 1, 2])


def test_ryu24_gaussian_kernel_analytic_eigenpairs_satisfy_eigen_equation():
    # ∫ k(x, y) φ(y) p(y) dy = λ φ(x), by Gauss–Hermite quadrature for p = N(0, s²) (independent of the formula)
    s, ell = 0.8, 0.6
    nodes, w = np.polynomial.hermite.hermgauss(120)
    y = torch.tensor(math.sqrt(2) * s * nodes)
    wy = torch.tensor(w / math.sqrt(math.pi))
    x = torch.linspace(-2, 2, 9, dtype=f64)
    lam, phi_x = gaussian_kernel_eigen_1d(x, 5, ell, s)
    _, phi_y = gaussian_kernel_eigen_1d(y, 5, ell, s)
    K = gaussian_kernel(x[:, None], y[:, None], ell)
    assert torch.allclose(K @ (wy[:, None] * phi_y), lam * phi_x, atol=1e-10)
    assert torch.allclose(phi_y.T @ (wy[:, None] * phi_y), torch.eye(5, dtype=f64), atol=1e-10)


def test_ryu24_dense_reference_and_nystrom(gen):
    pool = torch.randn(300, 1, generator=gen, dtype=f64)
    K = gaussian_kernel(pool, pool, 1.0)
    ev, phi = kernel_eigen_reference(K, 4)
    ref = np.sort(np.linalg.eigvalsh(K.numpy() / 300))[::-1][:4]
    assert np.allclose(ev.numpy(), ref, atol=1e-12)
    assert torch.allclose((phi**2).mean(0), torch.ones(4, dtype=f64))
    assert torch.allclose(nystrom_extend(K, ev, phi), phi, atol=1e-9)  # extension reproduces the pool values
    # population eigenvalues (analytic) within Monte-Carlo error O(1/√N) ~ 6% of the empirical ones
    lam, _ = gaussian_kernel_eigen_1d(pool[:, 0], 4, 1.0, 1.0)
    assert np.allclose(ev.numpy(), lam.numpy(), rtol=0.15)


def test_ryu24_hydrogen_levels():
    assert hydrogen2d_eigenvalues(9).tolist() == pytest.approx([1] + [1 / 9] * 3 + [1 / 25] * 5)
    assert [n for n, _, _ in hydrogen2d_states(9)] == [0, 1, 1, 1, 2, 2, 2, 2, 2]


def test_ryu24_hydrogen_eigenfunctions_solve_the_eigen_equation_and_are_orthonormal(gen):
    """−Δψ − ψ/r = −1/(2n+1)² ψ pointwise (autograd Laplacian), and orthonormal by a polar Gauss–Legendre rule."""
    L = 16  # shells n = 0..3
    x = (torch.randn(40, 2, generator=gen, dtype=f64) * 5).requires_grad_(True)
    psi = hydrogen2d_eigenfunctions(x, L)
    lap = []
    for l in range(L):
        g = torch.autograd.grad(psi[:, l].sum(), x, create_graph=True)[0]
        lap.append(sum(torch.autograd.grad(g[:, k].sum(), x, retain_graph=True)[0][:, k] for k in range(2)))
    H_psi = -torch.stack(lap, -1) - psi / x.norm(dim=-1, keepdim=True)
    assert torch.allclose(H_psi, -hydrogen2d_eigenvalues(L) * psi, atol=1e-12 * float(psi.detach().abs().max()))
    s, ws = np.polynomial.legendre.leggauss(400)
    r, wr = (s + 1) * 200, ws * 200  # radius 400: the n = 3 shell decays like e^{−r/7}
    th = np.arange(64) * 2 * np.pi / 64
    pts = torch.tensor(np.stack([np.outer(r, np.cos(th)), np.outer(r, np.sin(th))], -1).reshape(-1, 2))
    w = torch.tensor(np.repeat(wr * r, 64) * 2 * np.pi / 64)
    P = hydrogen2d_eigenfunctions(pts, L)
    assert torch.allclose(P.T @ (w[:, None] * P), torch.eye(L, dtype=f64), atol=1e-10)


def test_ryu24_operators_reference_error():
    with pytest.raises(ValueError, match="L"):
        oscillator_levels(2, 2)
    with pytest.raises(ValueError, match="bandwidth"):
        gaussian_kernel(torch.zeros(2, 1), torch.zeros(2, 1), 0.0)
    with pytest.raises(ValueError, match="K"):
        kernel_eigen_reference(torch.eye(3, dtype=f64), 4)
    with pytest.raises(ValueError, match="eigenvalues"):
        nystrom_extend(torch.ones(2, 3, dtype=f64), torch.tensor([-1.0], dtype=f64), torch.ones(3, 1, dtype=f64))
    with pytest.raises(ValueError, match="n_max"):
        hermite_functions(-1, torch.zeros(2))
    with pytest.raises(ValueError, match="x"):
        hydrogen2d_eigenfunctions(torch.zeros(3, 3), 2)
    with pytest.raises(ValueError, match="L"):
        hydrogen2d_states(0)
