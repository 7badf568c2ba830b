"""Reference algorithms against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theory.algorithms import (
    gd,
    gd_best_step,
    newton_schulz,
    newton_solution_path,
    ols,
    power_method,
    preconditioned_gd,
    ridge,
    top_k_eig,
)
from theory.samplers import LinearRegressionTask, make_generator


def _prompt(d=4, n=12, cond=10.0, B=3, seed=0):
    return LinearRegressionTask(d=d, n=n, cond=cond).sample(B, make_generator(seed))


def _np_pgd(X, y, As):
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    out = [w]
    for A in As:
        w = w - A @ (X.T @ (X @ w - y) / n)
        out.append(w)
    return np.array(out)


def test_preconditioned_gd_matches_numpy(rng):
    p = _prompt()
    As = [torch.tensor(rng.normal(size=(4, 4)) * 0.1) for _ in range(5)]
    tr = preconditioned_gd(p, As)
    for b in range(3):
        ref = _np_pgd(p.X[b].numpy(), p.y[b].numpy(), [A.numpy() for A in As])
        np.testing.assert_allclose(tr.iterates[:, b].numpy(), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("d,n", [(4, 20), (8, 5)])
def test_gd_converges_to_min_norm_least_squares(d, n):
    p = _prompt(d=d, n=n, cond=5.0)
    tr = gd(p, 4000, gd_best_step(p.X))
    for b in range(3):
        ref = np.linalg.lstsq(p.X[b].numpy(), p.y[b].numpy(), rcond=None)[0]
        np.testing.assert_allclose(tr.final[b].numpy(), ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ols(p)[b].numpy(), ref, rtol=1e-9, atol=1e-12)


def test_gd_error():
    p = _prompt()
    lmax = torch.linalg.eigvalsh(p.X.transpose(1, 2) @ p.X / p.n)[:, -1].max()
    with pytest.raises(ValueError, match="step_size: GD diverges"):
        gd(p, 3, float(2.0 / lmax) * 1.01)
    with pytest.raises(ValueError, match="step_size"):
        gd(p, 3, -0.1)
    with pytest.raises(ValueError, match="A_seq\\[0\\]"):
        preconditioned_gd(p, [torch.eye(3, dtype=torch.float64)])


def test_ridge_matches_numpy():
    p = _prompt(d=5, n=7)
    for b in range(3):
        X, y = p.X[b].numpy(), p.y[b].numpy()
        ref = np.linalg.solve(X.T @ X / 7 + 0.3 * np.eye(5), X.T @ y / 7)
        np.testing.assert_allclose(ridge(p, 0.3)[b].numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("d,n,cond", [(5, 20, 1.0), (6, 30, 1000.0), (8, 4, 10.0)])
def test_newton_converges_to_pinv_solution(d, n, cond):
    p = _prompt(d=d, n=n, cond=cond)
    tr = newton_solution_path(p, 60)
    for b in range(3):
        ref = np.linalg.pinv(p.X[b].numpy()) @ p.y[b].numpy()
        np.testing.assert_allclose(tr.final[b].numpy(), ref, rtol=1e-8, atol=1e-10)


def test_newton_error_recursion_numerically():
    p = _prompt(d=4, n=10)
    S = p.X.transpose(1, 2) @ p.X
    M = newton_schulz(S, 4)
    I = torch.eye(4, dtype=torch.float64)
    for k in range(4):
        lhs = I - M[k + 1] @ S
        rhs = (I - M[k] @ S) @ (I - M[k] @ S)
        assert torch.allclose(lhs, rhs, atol=1e-12)


def test_newton_alpha_boundary_error():
    p = _prompt(d=4, n=10)
    S = p.X.transpose(1, 2) @ p.X
    lmax = torch.linalg.eigvalsh(S)[:, -1]
    with pytest.raises(ValueError, match="alpha: Newton–Schulz converges only"):
        newton_schulz(S, 3, 2.0 / lmax**2)  # the paper's boundary value
    with pytest.raises(ValueError, match="alpha"):
        newton_schulz(S, 3, -1.0)
    newton_schulz(S, 3, 1.99 / lmax**2)  # inside the region: accepted


def test_power_method_and_deflation_vs_numpy(gen):
    B, d, k = 4, 6, 3
    G = torch.randn(B, d, d, generator=gen, dtype=torch.float64)
    lam = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.5, 0.1], dtype=torch.float64)
    Q, _ = torch.linalg.qr(G)
    S = (Q * lam) @ Q.transpose(1, 2)
    seeds = torch.randn(B, k, d, generator=gen, dtype=torch.float64)
    vals, vecs, _ = top_k_eig(S, seeds, steps=200)
    ev, V = np.linalg.eigh(S.numpy())
    for b in range(B):
        np.testing.assert_allclose(vals[b].numpy(), ev[b, ::-1][:k], rtol=1e-10)
        for i in range(k):
            assert abs(float(vecs[b, i] @ torch.from_numpy(V[b, :, -1 - i]))) == pytest.approx(1.0, abs=1e-10)
    tr = power_method(S, seeds[:, 0], 3)
    assert tr.iterates.shape == (4, B, d)
    with pytest.raises(ValueError, match="v0: contains a zero seed"):
        power_method(S, torch.zeros(B, d, dtype=torch.float64), 2)
