"""Constructed forward pass vs the bare reference algorithm, per construction, at several (d, n, layers).

Each pair (``impl`` = constructed | bare) shares a group, so the pytest-benchmark table shows them side
by side; ``python -m empirical.bench_compare targets <json>`` prints constructed/bare per size against the
construction's target in :data:`empirical.bench_compare.TARGETS` (≤ 2×; he25 ≤ 10×), reported, not asserted:
timings on a shared CI machine are noise, not evidence.

The constructed side is the forward pass of prebuilt weights in the fast mode of
:func:`constructions.evaluate.evaluate` (through the weights' support), as a trained model's forward would be
timed: building the program and compiling its support happen once, outside the timed call.
Reference operation for the ratios: a float64 batched matmul (B, D, T) @ (B, T, D) of the construction's
residual width D and token count T.
"""

from __future__ import annotations

import pytest
import torch

from theory.samplers import LinearRegressionTask

from .conftest import bmm_reference

B = 64
SIZES = [(5, 20, 3), (10, 40, 6), (20, 80, 8)]  # (d, n, layers)


def _prompt(d: int, n: int, seed: int):
    return LinearRegressionTask(d=d, n=n, m=1).sample(B, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("impl", ["constructed", "bare"])
@pytest.mark.parametrize(("d", "n", "layers"), SIZES, ids=[f"d{d}-n{n}-L{L}" for d, n, L in SIZES])
def test_bench_ahn23_preconditioned_gd(timed, impl, d, n, layers):
    from constructions.pgd import constructed_iterates, preconditioned_gd_transformer
    from theory.algorithms import preconditioned_gd

    prompt = _prompt(d, n, seed=d * 1000 + n)
    A_seq = [torch.eye(d, dtype=torch.float64) * (0.5 / (1 + d / n))] * layers
    if impl == "constructed":  # embedding (basis queries appended), L layers, w_ℓ read after every layer
        model = preconditioned_gd_transformer(A_seq, n)
        fn = lambda: constructed_iterates(model, prompt)
    else:
        fn = lambda: preconditioned_gd(prompt, A_seq).iterates
    out = timed(
        fn,
        reference=bmm_reference(B, d + 1, n + 1 + d),
        group=f"forward ahn23 pgd d{d} n{n} L{layers}",
        construction="ahn23.preconditioned-gd",
        impl=impl,
        d=d,
        n=n,
        layers=layers,
        batch=B,
    )
    assert out.shape == (layers + 1, B, d)  # both return w_0..w_L


#: (d, N, k, tau): depth 1 + k(3τ + 2) of the he25 construction = 18, 23, 34 layers. (Before the one evaluator,
#: dense D x D heads over N tokens made it ~20-60x the bare algorithm; the fast mode reads only the slots a head
#: touches, re-associates its ± pairs as linear heads and its ± unit MLPs as linear maps.)
PM_SIZES = [(4, 16, 1, 5), (8, 32, 2, 3), (8, 32, 3, 3)]
PM_BATCH = 16


@pytest.mark.parametrize("impl", ["constructed", "bare"])
@pytest.mark.parametrize(("d", "N", "k", "tau"), PM_SIZES, ids=[f"d{d}-N{N}-k{k}-tau{t}" for d, N, k, t in PM_SIZES])
def test_bench_he25_power_method(timed, impl, d, N, k, tau):
    pm = pytest.importorskip("constructions.power_method")
    from theory.algorithms.power_deflation import power_deflation

    g = torch.Generator().manual_seed(d * 100 + N + k)
    X = torch.randn(PM_BATCH, N, d, generator=g, dtype=torch.float64)
    seeds = torch.randn(PM_BATCH, k, d, generator=g, dtype=torch.float64)
    con = pm.build_power_method(d, N, k, tau)  # exact normalisation: the construction's weights, built once
    if impl == "constructed":  # the forward pass alone: embedding, every layer, λ̂ read from the last stream
        fn = lambda: pm.constructed_eigenvalues(con, X, seeds)
    else:
        fn = lambda: power_deflation(X.transpose(1, 2) @ X / N, seeds, tau).lam
    D = 5 * d + 3 + k + k * d
    out = timed(
        fn,
        reference=bmm_reference(PM_BATCH, D, N),
        group=f"forward he25 power d{d} N{N} k{k} tau{tau}",
        construction="he25.power-method",
        impl=impl,
        d=d,
        n=N,
        k=k,
        tau=tau,
        layers=len(con.layers),
        batch=PM_BATCH,
    )
    assert out.numel() == PM_BATCH * k  # one eigenvalue estimate per prompt and eigenvector


#: (d, N, tau): depth 3τ + 1 = 13, 31, 31 layers; the last two are claim 11's (d, N) grid points at its τ = 10.
SC_SIZES = [(4, 32, 4), (10, 64, 10), (50, 200, 10)]
SC_BATCH = 8  # claim 11's batch (``cluster_construction`` in empirical.papers.he25.runners)


@pytest.mark.parametrize("impl", ["constructed", "bare"])
@pytest.mark.parametrize(("d", "N", "tau"), SC_SIZES, ids=[f"d{d}-N{N}-tau{t}" for d, N, t in SC_SIZES])
def test_bench_he25_spectral_clustering(timed, impl, d, N, tau):
    sc = pytest.importorskip("constructions.spectral_clustering")
    from theory.clustering import sample_gmm

    g = torch.Generator().manual_seed(d * 1000 + N + tau)
    X = sample_gmm(SC_BATCH, d, N, 2.0, g).X  # |μ| = 2: the construction's default mixture
    seeds = torch.randn(SC_BATCH, N, generator=g, dtype=torch.float64)
    con = sc.build_spectral_clustering(d, tau)  # exact normalisation: the construction's weights, built once
    if impl == "constructed":  # the forward pass alone: embedding, 3τ + 1 layers, the labels read from the stream
        from constructions.evaluate import final_state

        yhat = con.layout.index("yhat")
        fn = lambda: final_state(con, sc.embed_gmm(X, seeds, con.layout))[:, yhat]
    else:  # what claim 11 compares with: τ power iterations on the unhollowed Gram, labels = sign(u_τ)
        fn = lambda: torch.sign(sc.reference_iterates(X, seeds, tau)[-1])
    out = timed(
        fn,
        reference=bmm_reference(SC_BATCH, sc.gmm_layout(d).D, N),
        group=f"forward he25 clustering d{d} N{N} tau{tau}",
        construction="he25.spectral-clustering",
        impl=impl,
        d=d,
        n=N,
        tau=tau,
        layers=len(con.layers),
        batch=SC_BATCH,
    )
    assert out.shape == (SC_BATCH, N)  # one label per sample


#: (d, n, k): k Newton steps in k + 3 layers (fu23, the suite's compact construction)
NEWTON_SIZES = [(5, 10, 3), (5, 20, 3), (10, 20, 5)]


@pytest.mark.parametrize("impl", ["constructed", "bare"])
@pytest.mark.parametrize(("d", "n", "k"), NEWTON_SIZES, ids=[f"d{d}-n{n}-k{k}" for d, n, k in NEWTON_SIZES])
def test_bench_fu23_newton(timed, impl, d, n, k):
    nt = pytest.importorskip("constructions.newton")
    from theory.algorithms import newton_solution_path

    prompt = _prompt(d, n, seed=d * 1000 + n + k)
    alpha, bound = nt.default_scale(prompt)  # one α for both: fixed weights, as a trained model would have
    if impl == "constructed":  # the forward pass of prebuilt weights: embedding, k + 3 layers, per-layer read-out
        model = nt.build_newton(d, k, alpha, bound)
        fn = lambda: nt.estimates_path(model, prompt)
    else:
        fn = lambda: newton_solution_path(prompt, k, alpha).iterates
    D, T = 3 * d + 6, 2 * n + 1 + d
    out = timed(
        fn,
        reference=bmm_reference(B, D, T),
        group=f"forward fu23 newton d{d} n{n} k{k}",
        construction="fu23.newton",
        impl=impl,
        d=d,
        n=n,
        k=k,
        layers=k + 3,
        batch=B,
    )
    assert out.shape[-2:] == (B, d)
