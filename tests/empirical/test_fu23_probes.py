"""fu23 probes and similarity metrics, against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.probes import (
    apply_probes,
    best_match,
    error_similarity,
    fit_probes,
    gd_prefix_predictions,
    linear_fit,
    newton_prefix_predictions,
    prefix_prompts,
    weight_similarity,
)
from theory.samplers import LinearRegressionTask


def test_fu23_probe_recovers_linear_map(gen):
    H = torch.randn(3, 20, 4, 5, generator=gen, dtype=torch.float64)
    a = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    target = H[1] @ a + 0.25
    W = fit_probes(H, target, ridge=0.0)
    torch.testing.assert_close(W[1], torch.cat([a, torch.tensor([0.25], dtype=torch.float64)]))
    torch.testing.assert_close(apply_probes(W, H)[1], target)


def test_fu23_prefix_predictions_converge_to_prefix_ols(gen):
    p = LinearRegressionTask(d=3, n=6, m=1).sample(4, gen)
    nt = newton_prefix_predictions(p, 45)[-1]  # (B, n+1); a 3-point prefix can have cond ≈ 1e4: ~35 steps
    X, y, xq = p.X.numpy(), p.y.numpy(), p.xq.numpy()
    for b in range(4):
        assert nt[b, 0] == 0.0
        for i in range(1, 7):
            w = np.linalg.pinv(X[b, :i]) @ y[b, :i]
            nxt = X[b, i] if i < 6 else xq[b, 0]
            assert abs(float(nt[b, i]) - nxt @ w) <= 1e-8 * max(1.0, abs(nxt @ w))
    gd_pred = gd_prefix_predictions(p, [0, 1])
    assert (gd_pred[0] == 0).all()
    # one GD step with η = 1/λ_max from 0 on ½‖Xw − y‖²: w_1 = Xᵀy/λ_max (numpy, first prompt, prefix 3)
    Xb, yb = X[0, :3], y[0, :3]
    w1 = Xb.T @ yb / np.linalg.eigvalsh(Xb.T @ Xb)[-1]
    assert float(gd_pred[1, 0, 3]) == pytest.approx(X[0, 3] @ w1, rel=1e-10)


def test_fu23_prefix_prompts_shapes(gen):
    p = LinearRegressionTask(d=2, n=3, m=1).sample(2, gen)
    pp = prefix_prompts(p)
    assert pp.X.shape == (6, 3, 2) and (pp.X[0, 1:] == 0).all() and torch.equal(pp.xq[0, 0], p.X[0, 1])


def test_fu23_similarities():
    y = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    a = torch.tensor([[[2.0, 2.0, 3.0]], [[0.0, 2.0, 3.0]]], dtype=torch.float64)  # residuals ±e_1
    S = error_similarity(a, a, y)
    np.testing.assert_allclose(S.numpy(), [[1.0, -1.0], [-1.0, 1.0]])
    w = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]], dtype=torch.float64)
    np.testing.assert_allclose(weight_similarity(w, w).numpy(), [[1, 2**-0.5], [2**-0.5, 1]])


def test_fu23_best_match_and_linear_fit():
    st, val = best_match(torch.tensor([[0.1, 0.9, 0.3], [0.2, 0.1, 0.95]]), [0, 4, 8])
    assert st.tolist() == [4, 8] and val.tolist() == pytest.approx([0.9, 0.95])
    fit = linear_fit(np.array([1, 2, 3]), np.array([3.0, 5.0, 7.0]))
    assert fit["slope"] == pytest.approx(2) and fit["intercept"] == pytest.approx(1) and fit["r2"] == pytest.approx(1)


def test_fu23_probe_error():
    with pytest.raises(ValueError, match="H, target"):
        fit_probes(torch.zeros(2, 3, 4, 5), torch.zeros(3, 5))
