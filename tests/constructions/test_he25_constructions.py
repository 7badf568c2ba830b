"""he25 constructions: ReLU-attention power method with deflation, and the Gram power method for 2-GMMs.

References are independent numpy loops (power method with right-projection deflation; Gram power method).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from constructions.power_method import (
    Normaliser,
    assumptions,
    build_power_method,
    construction_size,
    depth_formula,
    embed_pca,
    mlp_units_formula,
    run_power_method,
    tau_from_layers,
)
from constructions.relu_transformer import forward, linear_head_pair, relu_attention
from constructions.spectral_clustering import build_spectral_clustering, run_spectral_clustering


def _data(gen, B, N, d, k):
    X = torch.randn(B, N, d, generator=gen, dtype=torch.float64) * torch.linspace(2.0, 0.5, d, dtype=torch.float64)
    return X, torch.randn(B, k, d, generator=gen, dtype=torch.float64)


def _vt(states, k, tau):
    idx = [1 + i * (3 * tau + 2) + 3 * tau + 1 for i in range(k)]  # after (E1) of vector i: v = v_τ
    return torch.stack([states[j]["v"] for j in idx], 1)


def test_relu_pair_equals_linear_head(gen):
    H = torch.randn(3, 7, 9, generator=gen, dtype=torch.float64)
    Q, K, V = (torch.randn(*s, generator=gen, dtype=torch.float64) for s in [(2, 7), (2, 7), (7, 7)])
    got = relu_attention(H, linear_head_pair(Q, K, V)) - H
    Hn = H.numpy()
    want = np.stack([V.numpy() @ h @ ((Q.numpy() @ h).T @ (K.numpy() @ h)).T / 9 for h in Hn])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-13)


def test_covariance_layer(gen):
    X, seeds = _data(gen, 2, 7, 4, 1)
    con = build_power_method(4, 7, 1, 1)
    H, _ = forward(embed_pca(X, seeds, con.layout), con.layers[:1])
    scol = H[:, con.layout["scol"]].numpy()
    for b in range(2):
        S = X[b].numpy().T @ X[b].numpy() / 7
        np.testing.assert_allclose(scol[b, :, :4], S, rtol=1e-13, atol=1e-15)
        assert (scol[b, :, 4:] == 0).all()


@pytest.mark.parametrize(("d", "N", "k", "tau"), [(3, 6, 2, 6), (4, 9, 3, 4), (2, 2, 1, 3)])
def test_exact_mode_equals_numpy_power_method(gen, d, N, k, tau, numpy_power_deflation):
    X, seeds = _data(gen, 3, N, d, k)
    con = build_power_method(d, N, k, tau)
    _, states = run_power_method(con, X, seeds)
    vt, lam = _vt(states, k, tau), states[-1]["lam"]
    for b in range(3):
        S = X[b].numpy().T @ X[b].numpy() / N
        V, L, _ = numpy_power_deflation(S, seeds[b].numpy(), tau, lambda s: s**-0.5)
        np.testing.assert_allclose(vt[b].numpy(), V, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lam[b].numpy(), L, rtol=1e-12)
    assert len(con.layers) == depth_formula(k, tau)
    spread = max(float(s["spread"].max()) for s in states)
    assert spread <= 1e-13 * float(torch.einsum("bnd,bnd->b", X, X).max() / N)


def test_relu_normaliser_equals_numpy_reference_and_keeps_direction(gen, numpy_power_deflation):
    d, N, k, tau = 3, 8, 2, 8
    X, seeds = _data(gen, 2, N, d, k)
    nu = Normaliser.relu_for_eta(1e-3, 1e-3, 1e2)
    con = build_power_method(d, N, k, tau, nu)
    _, states = run_power_method(con, X, seeds)
    vt = _vt(states, k, tau)
    knots = nu.relu().knots.numpy()
    interp = lambda s: np.interp(s, knots, knots**-0.5)  # independent interpolant  # noqa: E731
    for b in range(2):
        S = X[b].numpy().T @ X[b].numpy() / N
        V, L, _ = numpy_power_deflation(S, seeds[b].numpy(), tau, interp)
        np.testing.assert_allclose(vt[b].numpy(), V, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(states[-1]["lam"][b].numpy(), L, rtol=1e-10)
        V0, _, _ = numpy_power_deflation(S, seeds[b].numpy()[:1], tau, lambda s: s**-0.5)
        np.testing.assert_allclose(V[0] / np.linalg.norm(V[0]), V0[0], atol=1e-12)  # direction kept
    assert np.abs(np.linalg.norm(vt.numpy(), axis=-1) - 1).max() <= nu.eta_max * (1 + 1e-9)


def test_size_formulas():
    for d, k, tau, M in [(2, 1, 1, 10), (5, 3, 4, 0), (8, 2, 2, 100)]:
        nu = Normaliser("relu", 0.0, 1e-2, 1e3, M) if M else Normaliser()
        sz = construction_size(build_power_method(d, d, k, tau, nu))
        assert sz["depth"] == 1 + k * (3 * tau + 2)
        assert sz["width"] == 5 * d + 3 + k + k * d
        assert sz["max_heads"] == 4 or (k == 1 and sz["max_heads"] <= 4)
        assert sz["mlp_units"] == mlp_units_formula(d, k, M)
    assert tau_from_layers(depth_formula(3, 7), 3) == 7


def test_power_method_error(gen):
    with pytest.raises(ValueError, match="N") as e:
        build_power_method(5, 3, 6, 0)
    assert "k" in str(e.value) or "tau" in str(e.value)
    with pytest.raises(ValueError, match="k"):
        build_power_method(3, 5, 4, 2)
    with pytest.raises(ValueError, match="--layers"):
        tau_from_layers(12, 2)
    con = build_power_method(3, 5, 2, 2)
    bad = assumptions(torch.full((1, 5, 3), float("nan"), dtype=torch.float64), torch.zeros(1, 2, 3), con)
    assert {v.argument for v in bad} == {"X", "seeds"} or {v.argument for v in bad} == {"X"}
    X, seeds = _data(gen, 1, 5, 3, 2)
    narrow = build_power_method(3, 5, 2, 2, Normaliser("relu", 0.0, 10.0, 11.0, 4))
    with pytest.raises(ValueError, match="normaliser"):
        run_power_method(narrow, X, seeds)
    ev = torch.tensor([[1.0, 0.3, 0.1]], dtype=torch.float64)
    viol = assumptions(X, seeds, build_power_method(3, 5, 2, 2, Normaliser("scaled", 0.5)), ev)
    assert any("deflation boundary" in v.message for v in viol)


def test_spectral_clustering_matches_numpy(gen):
    B, N, d, tau = 3, 20, 4, 6
    y = torch.where(torch.rand(B, N, generator=gen) < 0.5, -1.0, 1.0).double()
    X = y.unsqueeze(-1) * torch.tensor([2.0, 0, 0, 0], dtype=torch.float64) + torch.randn(
        B, N, d, generator=gen, dtype=torch.float64
    )
    seeds = torch.randn(B, N, generator=gen, dtype=torch.float64)
    for nu in (Normaliser(), Normaliser.relu_for_eta(1e-3, 1e-2, 1e4)):
        con = build_spectral_clustering(d, tau, nu, K=1e3)
        yhat, us, _ = run_spectral_clustering(con, X, seeds)
        assert len(con.layers) == 3 * tau + 1
        for b in range(B):
            G = X[b].numpy() @ X[b].numpy().T
            u = seeds[b].numpy() / np.linalg.norm(seeds[b].numpy())
            for _ in range(tau):
                u = G @ u
                u /= np.linalg.norm(u)
            got = us[-1][b].numpy()
            np.testing.assert_allclose(got / np.linalg.norm(got), u, atol=1e-12)
            sure = np.abs(u) * np.sqrt(N) >= 2e-3
            assert (np.sign(yhat[b].numpy())[sure] == np.sign(u)[sure]).all()
            assert (np.abs(yhat[b].numpy())[sure] == 1).all()


def test_spectral_clustering_error(gen):
    con = build_spectral_clustering(3, 2)
    with pytest.raises(ValueError, match="seeds"):
        run_spectral_clustering(con, torch.randn(2, 5, 3, generator=gen, dtype=torch.float64), torch.ones(2, 4))
    with pytest.raises(ValueError, match="tau"):
        build_spectral_clustering(3, 0)


@pytest.mark.parametrize("name", ["power-method", "spectral-clustering"])
def test_cli_constructions(name, capsys):
    from empirical.cli import main

    layers = "11" if name == "power-method" else "7"
    assert main(["construct", name, "--d", "3", "--n", "8", "--layers", layers, "--batch", "2"]) == 0
    assert "within" in capsys.readouterr().out
    assert main(["construct", name, "--d", "3", "--n", "8", "--layers", "12", "--batch", "2"]) == 2
    assert "--layers" in capsys.readouterr().err
    if name == "power-method":
        assert (
            main(["construct", name, "--d", "3", "--n", "8", "--layers", "11", "--batch", "2", "--option", "eta=1e-3"])
            == 0
        )


@pytest.mark.parametrize("mode", ["fast", "literal"])
def test_per_layer_readings_equal_those_of_the_kept_trace(gen, mode):
    """run_power_method reads each layer off one stream updated in place (evaluate_reading): the read-outs must be
    the very numbers read off the trace that keeps every stream (evaluate), and copies, not views."""
    from constructions.evaluate import evaluate
    from constructions.power_method import read_state

    d, N, k, tau = 4, 9, 2, 2
    X, seeds = _data(gen, 3, N, d, k)
    con = build_power_method(d, N, k, tau)
    final, readings = run_power_method(con, X, seeds, mode)
    trace = evaluate(con, embed_pca(X, seeds, con.layout), mode)
    assert torch.equal(final, trace.final) and len(readings) == len(trace.states)
    for got, H in zip(readings, trace.states, strict=True):
        want = read_state(H, con.layout, d)
        assert got.keys() == want.keys() and all(torch.equal(got[key], want[key]) for key in want)
        # the spread: max |slot_j − slot_0| over tokens and broadcast slots, as the definition writes it
        bc = torch.cat([H[:, con.layout[name]] for name in ("v", "w", "s", "c", "lam")], 1)
        assert torch.equal(want["spread"], (bc - bc[..., :1]).abs().amax(dim=(1, 2)))
    assert all(r["S"].untyped_storage().data_ptr() != final.untyped_storage().data_ptr() for r in readings)


@pytest.mark.parametrize(("d", "n", "layers", "batch", "options"), [
    (8, 32, 17, 4, {}), (32, 128, 35, 16, {}), (5, 200, 11, 16, {}), (3, 400, 11, 8, {}), (24, 24, 23, 2, {}),
    (4, 16, 11, 4, {"normaliser": "relu", "eta": "0.01"}),
])
def test_construct_memory_estimate_vs_measured(d, n, layers, batch, options):
    """The --max-memory-gb guard's estimate is an upper bound within 2x of the measured peak tensor bytes."""
    from constructions.base import ConstructionConfig
    from constructions.power_method import _cli, _memory
    from empirical.memory import peak_tensor_bytes

    cfg = ConstructionConfig(d=d, n=n, layers=layers, batch=batch, options=options)
    measured = peak_tensor_bytes(lambda: _cli(cfg))[0]
    estimate = sum(_memory(cfg).values())
    assert measured <= estimate <= 2 * measured, (estimate, measured, estimate / measured)
