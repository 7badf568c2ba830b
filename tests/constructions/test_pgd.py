"""ahn23 Lemma 1 construction vs an independent numpy preconditioned GD, over random settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.linear_attention import lsa_forward
from constructions.pgd import build_preconditioned_gd, layerwise_deviation, read_weights, run_preconditioned_gd
from theory.samplers import LinearRegressionTask, spd_with_condition


def _np_pgd(X, y, As):
    n = X.shape[0]
    w = np.zeros(X.shape[1])
    out = []
    for A in As:
        w = w - A @ (X.T @ (X @ w - y) / n)
        out.append(w)
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 8), n=st.integers(1, 32), L=st.integers(1, 4), logcond=st.floats(0, 3),
       seed=st.integers(0, 2**31 - 1), symmetric=st.booleans())
def test_construction_equals_numpy_pgd(d, n, L, logcond, seed, symmetric):
    g = torch.Generator().manual_seed(seed)
    cond = 1.0 if d == 1 else 10**logcond
    sigma = spd_with_condition(d, cond, g)
    p = LinearRegressionTask(d=d, n=n, m=3, sigma=sigma).sample(3, g)
    lmax = float(torch.linalg.eigvalsh(sigma)[-1])
    As = []
    for _ in range(L):
        G = torch.randn(d, d, generator=g, dtype=torch.float64)
        A = G @ G.T / d if symmetric else G / max(float(torch.linalg.matrix_norm(G, 2)), 1e-3)
        As.append(A / (lmax * (1 + d / n)))
    resid = run_preconditioned_gd(p, As)
    w_hat = read_weights(resid, p.n, p.d).numpy()
    pred = -resid[:, :, d, n : n + 3].numpy()  # the prompt's own queries
    for b in range(3):
        ref = _np_pgd(p.X[b].numpy(), p.y[b].numpy(), [A.numpy() for A in As])
        scale = np.abs(ref).max() + 1e-300
        # float64 round-off, a few ulps per layer relative to the iterate scale
        assert np.abs(w_hat[1:, b] - ref).max() <= 1e-12 * scale
        np.testing.assert_allclose(pred[1:, b], ref @ p.xq[b].numpy().T,
                                   atol=1e-11 * scale * np.abs(p.xq[b].numpy()).sum())
        # x rows untouched, context label row holds the residuals y - X w_l
        np.testing.assert_array_equal(resid[-1, b, :d].numpy(), resid[0, b, :d].numpy())
        np.testing.assert_allclose(resid[-1, b, d, :n].numpy(), p.y[b].numpy() - p.X[b].numpy() @ ref[-1],
                                   atol=1e-11 * (np.abs(p.y[b].numpy()).max() + 1))


def test_paper_convention_applies_transpose():
    g = torch.Generator().manual_seed(5)
    p = LinearRegressionTask(d=4, n=9).sample(4, g)
    As = [torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.2 for _ in range(3)]
    assert float(layerwise_deviation(p, As, "paper", [A.T for A in As]).max()) <= 1e-12
    assert float(layerwise_deviation(p, As, "paper").max()) > 1e-3
    assert float(layerwise_deviation(p, [A @ A.T for A in As], "paper").max()) <= 1e-12  # symmetric: same


def test_lsa_layer_matches_paper_formula_literally():
    """Z + (1/n) P Z M (Zᵀ Q Z) with the explicit mask matrix M, in numpy."""
    g = torch.Generator().manual_seed(2)
    p = LinearRegressionTask(d=3, n=5, m=2).sample(1, g)
    P = torch.randn(1, 4, 4, generator=g, dtype=torch.float64)
    Q = torch.randn(1, 4, 4, generator=g, dtype=torch.float64)
    Z = p.to_stacked()[0].numpy()
    M = np.diag([1.0] * 5 + [0.0] * 2)
    ref = Z + P[0].numpy() @ Z @ M @ (Z.T @ Q[0].numpy() @ Z) / 5
    np.testing.assert_allclose(lsa_forward(p.to_stacked(), P, Q, 5)[1, 0].numpy(), ref, rtol=1e-13, atol=1e-13)


def test_float32_forward_runs_in_float32():
    P, Q = build_preconditioned_gd([torch.eye(2, dtype=torch.float64)])
    Z = torch.zeros(1, 3, 4, dtype=torch.float32)
    assert lsa_forward(Z, P.float(), Q.float(), 3).dtype == torch.float32


def test_build_error():
    with pytest.raises(ValueError, match="A_seq: need at least one"):
        build_preconditioned_gd([])
    with pytest.raises(ValueError, match=r"A_seq\[1\]: expected shape"):
        build_preconditioned_gd([torch.eye(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64)])
    with pytest.raises(ValueError, match=r"A_seq\[0\]: contains NaN"):
        build_preconditioned_gd([torch.full((2, 2), float("nan"), dtype=torch.float64)])
    with pytest.raises(ValueError, match="convention"):
        build_preconditioned_gd([torch.eye(2, dtype=torch.float64)], "other")


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_iterates_read_as_the_pass_goes_equal_those_of_the_kept_trace(mode):
    """constructed_iterates reads w_ℓ off one stream updated in place: the numbers of read_weights on the kept
    trace, bit for bit."""
    from constructions.pgd import constructed_iterates, preconditioned_gd_transformer

    d, n, L = 4, 9, 3
    prompt = LinearRegressionTask(d=d, n=n, m=2).sample(5, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(4)
    A_seq = [torch.randn(d, d, generator=gen, dtype=torch.float64) * 0.1 for _ in range(L)]
    got = constructed_iterates(preconditioned_gd_transformer(A_seq, n), prompt, mode)
    want = read_weights(run_preconditioned_gd(prompt, A_seq, mode=mode), n + prompt.m, d)
    assert got.shape == (L + 1, 5, d) and torch.equal(got, want)
