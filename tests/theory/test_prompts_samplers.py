"""PromptBatch layouts and validation; samplers' distributions and reproducibility (vs numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theory.prompts import PromptBatch
from theory.samplers import LinearRegressionTask, make_generator, random_rotation, spd_with_condition


def _batch(B=2, n=3, m=2, d=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    return PromptBatch(torch.randn(B, n, d, generator=g, dtype=dtype), torch.randn(B, n, generator=g, dtype=dtype),
                       torch.randn(B, m, d, generator=g, dtype=dtype), torch.randn(B, m, generator=g, dtype=dtype))


def test_to_stacked_matches_hand_layout():
    p = _batch()
    Z = p.to_stacked().numpy()
    for b in range(2):
        expected = np.zeros((5, 5))
        expected[:4, :3] = p.X[b].numpy().T
        expected[:4, 3:] = p.xq[b].numpy().T
        expected[4, :3] = p.y[b].numpy()
        np.testing.assert_array_equal(Z[b], expected)


def test_to_interleaved_matches_hand_layout():
    p = _batch()
    T = p.to_interleaved().numpy()
    assert T.shape == (2, 2 * 3 + 2, 5)
    for b in range(2):
        for i in range(3):
            np.testing.assert_array_equal(T[b, 2 * i], np.r_[p.X[b, i].numpy(), 0.0])
            np.testing.assert_array_equal(T[b, 2 * i + 1], np.r_[np.zeros(4), p.y[b, i].item()])
        for j in range(2):
            np.testing.assert_array_equal(T[b, 6 + j], np.r_[p.xq[b, j].numpy(), 0.0])
    assert PromptBatch.interleaved_query_positions(3, 2).tolist() == [6, 7]


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("X", torch.zeros(2, 3), "X: expected shape"),
        ("y", torch.zeros(2, 4), "y: expected shape"),
        ("xq", torch.zeros(2, 2, 5), "xq: expected shape"),
        ("yq", torch.zeros(2, 3), "yq: expected shape"),
        ("y", torch.full((2, 3), float("nan"), dtype=torch.float64), "y: contains NaN"),
        ("y", torch.zeros(2, 3, dtype=torch.float32), "y: dtype"),
    ],
)
def test_prompt_validation_error(field, value, match):
    p = _batch()
    kw = dict(X=p.X, y=p.y, xq=p.xq, yq=p.yq)
    kw[field] = value
    with pytest.raises(ValueError, match=match):
        PromptBatch(**kw)


def test_spd_with_condition_has_exact_condition_and_trace(gen):
    for d, k in [(2, 10.0), (7, 1000.0), (20, 1e4)]:
        S = spd_with_condition(d, k, gen).numpy()
        ev = np.linalg.eigvalsh(S)
        assert ev[-1] / ev[0] == pytest.approx(k, rel=1e-9)
        assert np.trace(S) == pytest.approx(d, rel=1e-12)
        np.testing.assert_allclose(S, S.T, atol=0)


def test_random_rotation_is_orthogonal_and_haar_sign(gen):
    U = random_rotation(6, gen, batch=200).numpy()
    np.testing.assert_allclose(U @ U.transpose(0, 2, 1), np.broadcast_to(np.eye(6), U.shape), atol=1e-12)
    # Haar: E[U] = 0; the mean of 200 draws has entries of size ~ 1/sqrt(6*200)
    assert np.abs(U.mean(0)).max() < 0.25


def test_sampler_reproducible_and_device_dtype():
    t = LinearRegressionTask(d=3, n=5, m=2, cond=10.0, noise=0.1)
    a = t.sample(4, make_generator(7))
    b = t.sample(4, make_generator(7), dtype=torch.float32)
    np.testing.assert_array_equal(a.X.float().numpy(), b.X.numpy())
    assert b.X.dtype == b.y.dtype == b.xq.dtype == b.yq.dtype == torch.float32
    assert b.X.device.type == "cpu"


def test_sampler_covariance_and_prior_moments():
    """Empirical second moments against Σ and against the Σ⁻¹ prior (Ahn et al. Thm 3)."""
    g = make_generator(3)
    S = spd_with_condition(3, 5.0, g)
    t = LinearRegressionTask(d=3, n=50, sigma=S, prior="inverse_cov")
    p = t.sample(4000, g)
    X = p.X.reshape(-1, 3).numpy()
    np.testing.assert_allclose(X.T @ X / len(X), S.numpy(), atol=0.03)
    w = p.meta["w"].numpy()
    np.testing.assert_allclose(w.T @ w / len(w), np.linalg.inv(S.numpy()), rtol=0.15, atol=0.05)
    # noise-free labels are exactly linear
    np.testing.assert_allclose(p.y.numpy(), np.einsum("bnd,bd->bn", p.X.numpy(), w), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(d=0, n=3), "d: expected an integer"),
        (dict(d=2, n=3, cond=0.5), "cond: a condition number"),
        (dict(d=2, n=3, noise=-1.0), "noise"),
        (dict(d=2, n=3, prior="laplace"), "prior"),
        (dict(d=2, n=3, sigma=torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)), "sigma: not positive"),
        (dict(d=2, n=3, sigma=torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64)), "sigma: not symmetric"),
        (dict(d=2, n=3, sigma=torch.eye(3, dtype=torch.float64)), "sigma: expected shape"),
        (dict(d=2, n=3, sigma=torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]])), "sigma: contains NaN"),
    ],
)
def test_task_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearRegressionTask(**kwargs)


def test_make_generator_error():
    with pytest.raises(ValueError, match="seed"):
        make_generator(-1)


@pytest.mark.parametrize("prior", ["isotropic", "inverse_cov"])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_identity_covariance_skips_the_factorisation_bit_for_bit(prior, noise):
    """Σ = I drawn as cond = 1 takes no Cholesky; the numbers equal those of Σ = I given explicitly, which goes
    through the factorisation (both consume the generator identically)."""
    d, n = 4, 9
    fast = LinearRegressionTask(d=d, n=n, m=2, noise=noise, prior=prior)
    slow = LinearRegressionTask(d=d, n=n, m=2, noise=noise, prior=prior, sigma=torch.eye(d, dtype=torch.float64))
    for dtype in (torch.float64, torch.float32):
        a = fast.sample(16, torch.Generator().manual_seed(3), dtype=dtype)
        b = slow.sample(16, torch.Generator().manual_seed(3), dtype=dtype)
        for name in ("X", "y", "xq", "yq"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert torch.equal(a.meta["w"], b.meta["w"]) and torch.equal(a.meta["sigma"], b.meta["sigma"])


def test_from_draws_checks_shapes_but_not_finiteness():
    """A sampler's own batch skips only the finiteness scan (its draws are finite by construction)."""
    X, y = torch.zeros(2, 3, 4), torch.zeros(2, 3)
    with pytest.raises(ValueError, match="y: expected shape"):
        PromptBatch.from_draws(X=X, y=torch.zeros(2, 4), xq=torch.zeros(2, 1, 4), yq=torch.zeros(2, 1), meta={})
    p = PromptBatch.from_draws(X=X, y=y, xq=torch.zeros(2, 1, 4), yq=torch.zeros(2, 1), meta={"k": 1})
    assert p.meta == {"k": 1} and p.batch_size == 2
    with pytest.raises(ValueError, match="X: contains NaN"):  # a batch built from outside input still scans
        PromptBatch(X=X.fill_(float("nan")), y=y, xq=torch.zeros(2, 1, 4), yq=torch.zeros(2, 1))


def test_draw_dtype_float32_is_a_seeded_stream_of_the_same_law():
    """draw_dtype=float32 (training families): same seed, same numbers; y = w·x exactly in float32; x ~ N(0, I)
    within 5 standard errors on 64 000 draws per entry of the covariance."""
    task = LinearRegressionTask(d=3, n=20, m=1)
    a = task.sample(3200, torch.Generator().manual_seed(5), dtype=torch.float32, draw_dtype=torch.float32)
    b = task.sample(3200, torch.Generator().manual_seed(5), dtype=torch.float32, draw_dtype=torch.float32)
    assert a.X.dtype == torch.float32 and a.meta["w"].dtype == torch.float64 and torch.equal(a.X, b.X)
    w32 = a.meta["w"].to(torch.float32)
    assert torch.equal(a.y, (a.X @ w32.unsqueeze(-1)).squeeze(-1))
    x = a.X.reshape(-1, 3).double()
    cov = x.T @ x / x.shape[0]
    se = (2 / x.shape[0]) ** 0.5  # sd of a diagonal entry's estimate (off-diagonal: 1/sqrt(N), smaller)
    assert (cov - torch.eye(3, dtype=torch.float64)).abs().max() < 5 * se
    with pytest.raises(ValueError, match="draw_dtype"):
        task.sample(2, torch.Generator(), draw_dtype=torch.int32)


def test_to_without_a_change_is_the_same_batch_and_with_one_a_validated_copy():
    from theory.samplers import LinearRegressionTask

    p = LinearRegressionTask(d=3, n=5).sample(2, torch.Generator().manual_seed(0))
    assert p.to(dtype=p.X.dtype) is p and p.to(device=p.X.device) is p
    q = p.to(dtype=torch.float32)
    assert q is not p and q.X.dtype == torch.float32 and torch.equal(q.X, p.X.float())
