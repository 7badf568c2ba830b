"""constructions.newton: k Newton steps in k + 3 layers, compared with an independent numpy Newton–Schulz."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.evaluate import apply_layer
from constructions.newton import (
    SETUP_LAYERS,
    build_newton,
    newton_layout,
    newton_step_block,
    read_estimates,
    read_paired,
    read_predictions,
    run_newton_construction,
    working_layers,
)
from constructions.residual import Layer, Transformer
from constructions.structure import structure
from empirical.cli import main
from theory.prompts import PromptBatch
from theory.samplers import LinearRegressionTask, spd_with_condition


def _numpy_newton(X: np.ndarray, y: np.ndarray, k: int, alpha: float) -> list[np.ndarray]:
    """ŵ_0 … ŵ_k for one prompt, plain numpy (independent of theory.algorithms)."""
    S = X.T @ X
    M = alpha * S
    out = [M @ X.T @ y]
    for _ in range(k):
        M = 2 * M - M @ S @ M
        out.append(M @ X.T @ y)
    return out


def _prompt(d, n, cond, gen, batch=4, m=2):
    sigma = spd_with_condition(d, cond, gen) if cond > 1 else torch.eye(d, dtype=torch.float64)
    return LinearRegressionTask(d=d, n=n, m=m, sigma=sigma).sample(batch, gen)


@pytest.mark.parametrize(("d", "n", "cond", "k"), [(3, 10, 1.0, 8), (5, 20, 100.0, 6), (9, 30, 1000.0, 4),
                                                   (6, 4, 10.0, 5)])
def test_fu23_construction_matches_numpy_newton(d, n, cond, k, gen):
    p = _prompt(d, n, cond, gen)
    for mode in ("fast", "literal"):
        tr = run_newton_construction(p, k, mode=mode)
        alpha = tr.transformer.params["alpha"]
        assert tr.transformer.num_layers == k + 3
        estimates = read_estimates(tr.transformer, tr.states)
        predictions = read_predictions(tr, p.n, p.m)
        X, y, xq = p.X.numpy(), p.y.numpy(), p.xq.numpy()
        for b in range(p.batch_size):
            ref = _numpy_newton(X[b], y[b], k, alpha)
            for j in range(k + 1):  # layer 2 + j holds ŵ_j
                est = estimates[2 + j, b].numpy()
                assert np.linalg.norm(est - ref[j]) <= 1e-10 * np.linalg.norm(ref[j])
            np.testing.assert_allclose(predictions[b].numpy(), xq[b] @ ref[-1], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(read_paired(tr, p.n).numpy(), X)  # layer 1 copies x_i exactly


def test_fu23_newton_step_block_is_one_relu_head_pair_and_a_doubling_mlp(gen):
    L = newton_layout(4)
    blk = newton_step_block(L, 0)
    assert [h.kind for h in blk.heads] == ["signed_pair"]
    assert structure(Transformer(L, (blk,))).heads_per_layer == (2,)  # a pair is two ReLU heads
    h = torch.zeros(2, L.D, 5, dtype=torch.float64)
    h[:, L["u"]] = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64)
    for mode in ("fast", "literal"):
        out = apply_layer(h, Layer("mlp only", (), blk.mlp), mode)
        assert torch.equal(out[:, L["u"]], 2 * h[:, L["u"]])  # σ(u) − σ(−u) = u exactly


def test_fu23_construction_layer_counts_and_no_zero_weight_layer(gen):
    p = _prompt(4, 8, 1.0, gen, batch=2)
    for k in (0, 1, 3):
        tr = run_newton_construction(p, k)
        model = tr.transformer
        assert model.num_layers == k + SETUP_LAYERS == k + 3 == working_layers(model) == structure(model).depth
        for ell in range(1, model.num_layers + 1):  # every layer changes the stream
            assert not torch.equal(tr.states[ell], tr.states[ell - 1]), model.layers[ell - 1].name


def test_fu23_construction_converges_to_min_norm_solution_when_n_lt_d(gen):
    # k = 20: converged on range(S) (κ small), while round-off in null(S) has grown only by 2^20 (≈ 1e-10)
    p = _prompt(6, 3, 1.0, gen, batch=3)
    tr = run_newton_construction(p, 20)
    w = np.stack([np.linalg.pinv(x) @ yy for x, yy in zip(p.X.numpy(), p.y.numpy(), strict=True)])
    np.testing.assert_allclose(read_estimates(tr.transformer, tr.states)[-1].numpy(), w, rtol=1e-6, atol=1e-8)


@settings(max_examples=8, deadline=None)
@given(d=st.integers(1, 5), n=st.integers(1, 8), k=st.integers(0, 5), seed=st.integers(0, 2**31))
def test_fu23_construction_property(d, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    p = LinearRegressionTask(d=d, n=n, m=1).sample(2, g)
    tr = run_newton_construction(p, k)
    estimates = read_estimates(tr.transformer, tr.states)
    for b in range(2):
        ref = _numpy_newton(p.X[b].numpy(), p.y[b].numpy(), k, tr.transformer.params["alpha"])[-1]
        assert np.linalg.norm(estimates[-1, b].numpy() - ref) <= 1e-10 * max(np.linalg.norm(ref), 1e-300)


def test_fu23_construction_error_lists_all_violations():
    with pytest.raises(ValueError) as e:
        build_newton(0, -1, alpha=-1.0, norm_bound=float("nan"))
    msg = str(e.value)
    for arg in ("d:", "k:", "alpha:", "norm_bound:"):
        assert arg in msg


def test_fu23_construction_error_boundary_alpha_and_norm_bound(gen):
    with pytest.raises(ValueError, match="alpha.*< 2"):
        build_newton(3, 2, alpha=2.0, norm_bound=1.0)  # α·B² = 2: the boundary
    p = _prompt(3, 10, 1.0, gen)
    with pytest.raises(ValueError, match="norm_bound: .*prompt"):
        run_newton_construction(p, 2, alpha=1e-6, norm_bound=1e-3)  # every prompt has λ_max(XᵀX) > B


def test_fu23_construction_error_zero_prompt():
    z = torch.zeros(1, 3, 2, dtype=torch.float64)
    p = PromptBatch(z, torch.zeros(1, 3, dtype=torch.float64), z[:, :1], torch.zeros(1, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="prompt"):
        run_newton_construction(p, 1)


def test_fu23_cli_construct_newton(capsys):
    args = ["construct", "newton", "--d", "5", "--n", "12", "--layers", "6", "--cond", "100", "--batch", "4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "k = 3 Newton steps in 6 layers" in out and "within" in out
    assert "structure (counted from the weights): depth 6 (6 working), width 21" in out
    assert main([*args, "--eval", "literal"]) == 0
    out = capsys.readouterr().out
    assert "evaluation: literal" in out and "within" in out


def test_fu23_cli_construct_newton_error(capsys):
    assert main(["construct", "newton", "--d", "5", "--n", "12", "--layers", "3"]) == 2
    assert "--layers" in capsys.readouterr().err
    assert main(["construct", "newton", "--d", "5", "--n", "12", "--layers", "6", "--option", "budget=paper"]) == 2
    assert "unknown key" in capsys.readouterr().err  # the zero-weight padding (and its option) is gone


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_estimates_read_as_the_pass_goes_equal_those_of_the_kept_trace(mode, gen):
    from constructions.newton import estimates_path

    p = _prompt(5, 12, 10.0, gen)
    tr = run_newton_construction(p, 4, mode=mode)
    got = estimates_path(tr.transformer, p, mode)
    assert got.shape == (4 + 3 + 1, p.batch_size, 5) and torch.equal(got, read_estimates(tr.transformer, tr.states))
