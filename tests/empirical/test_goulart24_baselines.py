"""goulart24 per-prompt baselines against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.papers.goulart24.llm.baselines import BaselineSettings, predict_baseline

FAST = BaselineSettings(sgd_steps=400, mlp_steps=60, cnn_steps=30, cnn_channels=4, mlp_hidden=16)


def _data(rng, P=5, c=6, d=4, k=1):
    Xc = torch.from_numpy(rng.uniform(-100, 100, size=(P, c, d)))
    Yc = torch.from_numpy(rng.uniform(0, 10, size=(P, c, k)))
    xq = torch.from_numpy(rng.uniform(-100, 100, size=(P, d)))
    return Xc, Yc, xq


def test_mean_knn_last_y_brute_force(rng):
    Xc, Yc, xq = _data(rng)
    np.testing.assert_allclose(predict_baseline("mean", Xc, Yc, xq).numpy(), Yc.numpy().mean(1))
    np.testing.assert_allclose(predict_baseline("last_y", Xc, Yc, xq).numpy(), Yc.numpy()[:, -1])
    X, Y, q = Xc.numpy(), Yc.numpy(), xq.numpy()
    for p in range(X.shape[0]):
        nearest = np.argsort(((X[p] - q[p]) ** 2).sum(1))[:3]
        np.testing.assert_allclose(predict_baseline("knn", Xc, Yc, xq)[p].numpy(), Y[p, nearest].mean(0))


def test_ridge_matches_primal_closed_form(rng):
    Xc, Yc, xq = _data(rng, c=7, d=3, k=2)
    got = predict_baseline("ridge", Xc, Yc, xq).numpy()
    for p in range(Xc.shape[0]):
        X, Y, q = Xc[p].numpy(), Yc[p].numpy(), xq[p].numpy()
        mx, sx = X.mean(), X.std()
        Z, zq = (X - mx) / sx, (q - mx) / sx
        ym, ys = Y.mean(0), Y.std(0, ddof=1)
        W = np.linalg.solve(Z.T @ Z + 3.0 * np.eye(3), Z.T @ ((Y - ym) / ys))  # λ = 1·d, primal form
        np.testing.assert_allclose(got[p], ym + ys * (zq @ W), rtol=1e-10)


def test_ridgeless_interpolates_and_its_error_rises_towards_c_equal_d():
    from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask as T
    from empirical.papers.goulart24.llm.tasks import target_stats

    task = T("nuclear", 4)  # d = 16
    d = task.sample(400, 13, torch.Generator().manual_seed(0))
    _, var = target_stats(task)
    nmse = []
    for c in (2, 6, 12):
        Xc, Yc, xq, yq = d.split(c)
        fit = predict_baseline("ridgeless", Xc, Yc, Xc[:, 0])
        np.testing.assert_allclose(fit.numpy(), Yc[:, 0].numpy(), rtol=1e-4)  # it interpolates its context
        nmse.append(float((((predict_baseline("ridgeless", Xc, Yc, xq) - yq) ** 2) / var).mean()))
    assert nmse[0] < nmse[1] < nmse[2]


def test_sgd_linear_recovers_a_noiseless_linear_map(rng):
    P, c, d = 4, 40, 3
    Xc = torch.from_numpy(rng.uniform(-1, 1, size=(P, c, d)))
    w = torch.from_numpy(rng.normal(size=(P, d, 1)))
    xq = torch.from_numpy(rng.uniform(-1, 1, size=(P, d)))
    got = predict_baseline("sgd_linear", Xc, Xc @ w + 5.0, xq, g=torch.Generator().manual_seed(0),
                           settings=BaselineSettings(sgd_steps=3000, sgd_lr=0.05))
    np.testing.assert_allclose(got.numpy(), (xq[:, None] @ w)[:, 0].numpy() + 5.0, atol=0.05)


@pytest.mark.parametrize("name", ["mlp", "cnn", "sgd_linear"])
def test_trained_baselines_keep_prompts_independent(rng, name):
    Xc, Yc, xq = _data(rng, P=3, c=5, d=9)
    a = predict_baseline(name, Xc, Yc, xq, g=torch.Generator().manual_seed(1), settings=FAST)
    assert a.shape == (3, 1) and a.dtype == torch.float64 and bool(torch.isfinite(a).all())
    Xc2, Yc2 = Xc.clone(), Yc.clone()
    Xc2[1:], Yc2[1:] = Xc2[1:] * 0.3, Yc2[1:] + 50  # change the other prompts only
    b = predict_baseline(name, Xc2, Yc2, xq, g=torch.Generator().manual_seed(1), settings=FAST)
    # Same draws for prompt 0 (the generator is consumed identically) and no cross-talk between prompts.
    np.testing.assert_allclose(a[0].numpy(), b[0].numpy(), rtol=1e-5, atol=1e-6)
    c = predict_baseline(name, Xc, Yc, xq, g=torch.Generator().manual_seed(1), settings=FAST)
    assert torch.equal(a, c)


def test_mlp_fits_its_context(rng):
    Xc, Yc, xq = _data(rng, P=2, c=6, d=3)
    s = BaselineSettings(mlp_steps=400, mlp_hidden=32)
    fit = predict_baseline("mlp", Xc, Yc, Xc[:, 0], g=torch.Generator().manual_seed(0), settings=s)
    np.testing.assert_allclose(fit.numpy(), Yc[:, 0].numpy(), atol=0.05 * float(Yc.std()))


def test_baselines_error(rng):
    Xc, Yc, xq = _data(rng, d=5)
    with pytest.raises(ValueError, match="name"):
        predict_baseline("svm", Xc, Yc, xq)
    with pytest.raises(ValueError, match="Xc/Yc/xq"):
        predict_baseline("mean", Xc, Yc[:, :2], xq)
    with pytest.raises(ValueError, match="Xc"):
        predict_baseline("cnn", Xc, Yc, xq, g=torch.Generator())
    with pytest.raises(ValueError, match="g:"):
        predict_baseline("mlp", Xc, Yc, xq)
