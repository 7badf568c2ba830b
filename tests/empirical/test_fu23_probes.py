"""fu23 probes and similarity metrics, against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.probes import (
    PAPER_FIRST_POSITION,
    AlgorithmStandIn,
    apply_probes,
    best_match,
    bootstrap_best,
    bootstrap_weights,
    error_similarity,
    error_similarity_per_prompt,
    fit_probes,
    fit_probes_adam,
    gd_filter,
    gd_prefix_predictions,
    gd_step_size,
    line_slopes,
    linear_fit,
    newton_filter,
    newton_prefix_predictions,
    online_gd_prefix_predictions,
    paper_protocol,
    percentile_interval,
    prefix_prompts,
    similarity_study,
    spectrum,
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


def test_fu23_spectral_paths_equal_the_iterations(gen):
    """The closed forms (Newton (1 − (1 − αλ²)^{2^k})/λ, GD (1 − (1 − ηλ)^t)/λ) equal theory's float64 iterations."""
    from theory.algorithms import gd, newton_solution_path

    p = LinearRegressionTask(d=4, n=9, m=1, cond=30.0).sample(6, gen)
    spec = spectrum(p.X, p.y)
    torch.testing.assert_close(spec.estimates(newton_filter(spec, 10)), newton_solution_path(p, 10).iterates,
                               rtol=1e-9, atol=1e-12)
    for rule in ("official", "best", "suite"):
        eta = gd_step_size(spec, rule)  # on ½‖Xw − y‖²; theory.gd minimises (1/2n)‖Xw − y‖²
        ref = gd(p, 40, p.n * eta[:, 0]).iterates[[0, 1, 7, 40]]
        torch.testing.assert_close(spec.estimates(gd_filter(spec, [0, 1, 7, 40], eta)), ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="diverges"):
        gd_filter(spec, [3], 3.0 / spec.lmax)


def test_fu23_online_gd_is_one_pass_normalised_lms(gen):
    p = LinearRegressionTask(d=3, n=5, m=1).sample(2, gen)
    pred = online_gd_prefix_predictions(p, [0.5])[0]  # (B, n+1)
    X, y, xq = p.X.numpy(), p.y.numpy(), p.xq.numpy()
    for b in range(2):
        w = np.zeros(3)
        for i in range(6):
            nxt = X[b, i] if i < 5 else xq[b, 0]
            assert float(pred[b, i]) == pytest.approx(nxt @ w, abs=1e-12)
            if i < 5:
                w = w + 0.5 * (y[b, i] - X[b, i] @ w) * X[b, i] / (X[b, i] @ X[b, i])


def test_fu23_paper_sime_skips_the_first_position():
    y = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    a = torch.tensor([[[9.0, 3.0, 3.0]]], dtype=torch.float64)  # residuals (8, 1, 0)
    b = torch.tensor([[[-7.0, 3.0, 3.0]]], dtype=torch.float64)  # residuals (−8, 1, 0)
    assert float(error_similarity_per_prompt(a, b, y, PAPER_FIRST_POSITION)) == pytest.approx(1.0)
    assert float(error_similarity(a, b, y)) == pytest.approx(-63 / 65)


def test_fu23_stand_in_carries_its_predictions_through_the_probe(gen):
    """A noise-free stand-in: the study's best Newton match per layer is within one step of the step it holds (the
    affine probe rescales a layer's predictions to fit y, which can shift a best match by one step)."""
    tr = LinearRegressionTask(d=5, n=10, m=1).sample(128, gen)
    te = LinearRegressionTask(d=5, n=10, m=6).sample(32, gen)
    sub = AlgorithmStandIn(lambda p: newton_prefix_predictions(p, [0, 3, 6]))
    res = similarity_study(sub, tr, te, paper_protocol(2))
    assert np.abs(res.refs["newton"].best(slice(1, None))[0] - [3, 6]).max() <= 1
    with pytest.raises(ValueError, match="2n \\+ 1"):
        sub.hidden_states(torch.zeros(1, 4, 4))


def test_fu23_bootstrap_helpers(rng):
    w = bootstrap_weights(5, 100, rng)
    assert w.shape == (100, 5) and np.allclose(w.sum(1), 1)
    per_prompt = torch.zeros(2, 3, 5, dtype=torch.float64)
    per_prompt[0, 1], per_prompt[1, 2] = 1.0, 1.0
    assert (bootstrap_best(per_prompt, [1, 2, 4], w) == [2, 4]).all()
    slope, r2 = line_slopes(np.array([1, 2, 3]), np.array([[3.0, 6.0, 9.0], [1.0, 1.0, 1.0]]))
    assert slope.tolist() == pytest.approx([3.0, 0.0]) and r2[0] == pytest.approx(1.0) and np.isnan(r2[1])
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert np.isnan(percentile_interval(np.array([1.0, np.nan]))[0])


def test_fu23_adam_probe_approaches_the_closed_form(gen):
    H = torch.randn(2, 40, 3, 4, generator=gen, dtype=torch.float64)
    target = H[1] @ torch.tensor([1.0, -1.0, 0.5, 2.0], dtype=torch.float64) + 0.3
    W = fit_probes_adam(H, target, 3000, gen, lr=3e-2)
    torch.testing.assert_close(W[1], fit_probes(H, target, ridge=0.0)[1], rtol=1e-3, atol=1e-3)


def test_induced_weights_need_one_query_more_than_d(gen):
    """d weights and a bias are d + 1 unknowns: m = d queries leave the affine fit undetermined (an error, not
    the minimum-norm pick of an underdetermined system)."""
    from empirical.probes import induced_weights

    te = LinearRegressionTask(d=3, n=6, m=3).sample(2, gen)
    with pytest.raises(ValueError, match="m >= d \\+ 1"):
        induced_weights(torch.nn.Identity(), torch.zeros(1, 1), te)


def test_induced_weights_recover_an_affine_read_out_exactly(gen, monkeypatch):
    """A model whose every layer reads out ŷ = w·x_q + b exactly: the fit returns w to round-off (QR solve)."""
    import empirical.probes as probes

    te = LinearRegressionTask(d=4, n=6, m=9).sample(3, gen)
    w = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    monkeypatch.setattr(probes, "layer_features", lambda model, p: p.xq.double().unsqueeze(0).repeat(2, 1, 1, 1))
    monkeypatch.setattr(probes, "apply_probes", lambda W, H: (H[..., 0, :] * w.repeat_interleave(9, 0)).sum(-1)
                        + 0.5)
    got = probes.induced_weights(None, None, te)
    assert got.shape == (2, 3, 4) and torch.allclose(got, w.expand(2, -1, -1), rtol=0, atol=1e-12)
