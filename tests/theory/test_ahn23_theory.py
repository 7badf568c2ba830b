"""ahn23 theory: closed forms vs Monte Carlo and known formulas; Wishart moments; landscape."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from theory.landscape import matrix_loss_per_sample, optimal_scalars, sample_covariances, scalar_loss
from theory.samplers import spd_with_condition
from theory.symbolic.ahn23 import (
    check_isotropic_loss,
    check_stationary_point,
    expected_S_squared,
    optimal_loss,
    optimal_preconditioner,
    population_loss,
)
from theory.symbolic.moments import isserlis, pairings
from theory.wishart import empirical_covariance_trace_moment, wishart_trace_moment


def test_pairings_count():
    assert [sum(1 for _ in pairings(list(range(2 * k)))) for k in range(1, 6)] == [1, 3, 15, 105, 945]
    assert list(pairings([0, 1, 2])) == []


def test_isserlis_fourth_moment_vs_monte_carlo(rng):
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    x = rng.multivariate_normal(np.zeros(2), S, size=400_000)
    mc = np.mean(x[:, 0] ** 2 * x[:, 1] ** 2)
    exact = float(isserlis(lambda i, j: S[i, j], (0, 0, 1, 1)))
    assert exact == pytest.approx(S[0, 0] * S[1, 1] + 2 * S[0, 1] ** 2)
    assert abs(mc - exact) < 4 * np.std(x[:, 0] ** 2 * x[:, 1] ** 2) / np.sqrt(len(x))


def test_wishart_moments_known_formulas():
    n, d = sp.symbols("n d", positive=True)
    assert sp.expand(wishart_trace_moment(1) - n * d) == 0
    assert sp.expand(wishart_trace_moment(2) - n * d * (n + d + 1)) == 0
    # Real Wishart third moment (e.g. Letac & Massam): nd(n² + d² + 3nd + 3n + 3d + 4)
    assert sp.expand(wishart_trace_moment(3) - n * d * (n**2 + d**2 + 3 * n * d + 3 * n + 3 * d + 4)) == 0


def test_wishart_moments_vs_monte_carlo(rng):
    n, d = 7, 3
    G = rng.normal(size=(200_000, n, d))
    W = np.einsum("bnd,bne->bde", G, G) / n
    for p in (2, 4):
        v = np.trace(np.linalg.matrix_power(W, p), axis1=1, axis2=2)
        assert abs(v.mean() - empirical_covariance_trace_moment(p, n, d)) < 4 * v.std() / np.sqrt(len(v))


def test_optimal_preconditioner_closed_form_vs_numpy(gen):
    S = spd_with_condition(4, 30.0, gen)
    n = 9
    Sn = S.numpy()
    ref = np.linalg.inv((n + 1) / n * Sn + np.trace(Sn) / n * np.eye(4))
    np.testing.assert_allclose(optimal_preconditioner(S, n).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(float(optimal_loss(S, n)), np.trace(Sn) - np.trace(Sn @ Sn @ ref), rtol=1e-12)


def test_expected_S_squared_vs_monte_carlo(gen):
    S = spd_with_condition(3, 4.0, gen)
    n = 6
    Sh = sample_covariances(S, n, 200_000, gen)
    SS = Sh @ Sh
    mc, se = SS.mean(0), SS.std(0) / SS.shape[0] ** 0.5
    assert bool(((mc - expected_S_squared(S, n)).abs() <= 5 * se).all())


def test_population_loss_is_minimised_at_A0(gen):
    S = spd_with_condition(3, 10.0, gen)
    A0 = optimal_preconditioner(S, 8).requires_grad_(True)
    f = population_loss(A0, S, 8)
    (g,) = torch.autograd.grad(f, A0)
    assert float(g.abs().max()) < 1e-12
    for _ in range(5):
        D = torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.01
        assert float(population_loss(A0.detach() + D, S, 8)) > float(f.detach())


def test_symbolic_checks():
    assert check_stationary_point(1)
    assert check_isotropic_loss()


def test_scalar_loss_matches_one_layer_closed_form_and_mc(gen):
    d, n = 5, 20
    # L = 1: optimum n/(n+d+1) with loss d(d+1)/(n+d+1) for whitened data
    assert scalar_loss([n / (n + d + 1)], n, d) == pytest.approx(d * (d + 1) / (n + d + 1), rel=1e-12)
    S = spd_with_condition(d, 16.0, gen)
    a = [0.4, 0.7, 1.7]
    A = torch.stack([ai * torch.linalg.inv(S) for ai in a])
    v = matrix_loss_per_sample(A, S, sample_covariances(S, n, 100_000, gen))
    assert abs(float(v.mean()) - scalar_loss(a, n, d)) < 4 * float(v.std()) / 100_000**0.5


def test_optimal_scalars_L3_is_critical_and_minimal():
    r = optimal_scalars(3, 20, 5, starts=4)
    assert np.abs(r["grad"]).max() < 1e-9
    assert min(r["hessian_eigenvalues"]) > 0
    for delta in np.eye(3) * 1e-3:
        assert scalar_loss(r["a"] + delta, 20, 5) > r["loss"]
