"""constructions.newton_paper: Theorem 5.1 layer for layer, printed and corrected, vs an independent numpy Newton."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.base import ConstructionConfig
from constructions.evaluate import evaluate
from constructions.newton_paper import (
    EXTRA_LAYERS,
    alpha_for,
    build_newton_paper,
    embed,
    paper_layout,
    run_newton_paper,
    stall_diagnostics,
    working_layers,
)
from constructions.registry import get_construction
from constructions.structure import structure
from empirical.cli import main
from theory.algorithms.newton import newton_schulz
from theory.samplers import LinearRegressionTask, spd_with_condition


def _numpy_newton(X: np.ndarray, k: int, alpha: float) -> list[np.ndarray]:
    """M_0 … M_k for one prompt, plain numpy (independent of theory.algorithms)."""
    S = X.T @ X
    M = [alpha * S]
    for _ in range(k):
        M.append(2 * M[-1] - M[-1] @ S @ M[-1])
    return M


def _prompt(d: int, n: int, gen: torch.Generator, batch: int = 3, cond: float = 1.0):
    sigma = spd_with_condition(d, cond, gen) if cond > 1 else torch.eye(d, dtype=torch.float64)
    return LinearRegressionTask(d=d, n=n, m=1, sigma=sigma).sample(batch, gen)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _assert_matches_numpy_newton(p, tr, tol: float) -> None:
    """Layer 3 + j holds M_j x_i on x-token i (j = 0 … k); the query's y slot holds x_qᵀŵ_k."""
    n, k = p.n, tr.model.params["k"]
    for b in range(p.batch_size):
        X, y, xq = p.X[b].numpy(), p.y[b].numpy(), p.xq[b, 0].numpy()
        M = _numpy_newton(X, k, tr.alpha)
        for j in range(k + 1):
            held = tr.trace.slot("top", 3 + j)[b, 0: 2 * n: 2].numpy()  # x-tokens at even positions
            assert _rel(held, X @ M[j]) <= tol, (b, j)
        w = M[-1] @ X.T @ y
        pred = float(tr.trace.slot("y")[b, 2 * n, 0])
        assert abs(pred - xq @ w) <= tol * np.linalg.norm(xq) * np.linalg.norm(w)


@pytest.mark.parametrize(("d", "n", "k", "cond"), [(3, 10, 6, 1.0), (5, 20, 4, 100.0), (6, 3, 5, 1.0), (4, 4, 3, 10.0),
                                                   (2, 7, 0, 1.0), (7, 2, 0, 1.0), (1, 1, 2, 1.0), (8, 30, 8, 10.0)])
def test_fu23_paper_corrected_equals_numpy_newton_at_every_layer(d, n, k, cond, gen):
    p = _prompt(d, n, gen, cond=cond)
    for mode in ("fast", "literal"):
        tr = run_newton_paper(p, k, variant="corrected", mode=mode)
        assert tr.model.num_layers == k + 8
        # every layer against its reference (theory.algorithms.newton), and the Newton layers against plain numpy
        assert float(tr.deviations.max()) <= 1e-10, tr.rows()
        _assert_matches_numpy_newton(p, tr, 1e-10)
        np.testing.assert_array_equal(tr.trace.slot("bot", 1)[:, 0: 2 * n: 2].numpy(), p.X.numpy())  # mov


@settings(max_examples=10, deadline=None)
@given(d=st.integers(1, 5), n=st.integers(1, 8), k=st.integers(0, 6), seed=st.integers(0, 2**31))
def test_fu23_paper_corrected_property(d, n, k, seed):
    p = LinearRegressionTask(d=d, n=n, m=1).sample(2, torch.Generator().manual_seed(seed))
    tr = run_newton_paper(p, k, variant="corrected")
    assert float(tr.deviations.max()) <= 1e-10
    _assert_matches_numpy_newton(p, tr, 1e-10)


def test_fu23_paper_printed_computes_abs_and_leaves_newton(gen):
    d, n, k = 4, 12, 4
    p = _prompt(d, n, gen)
    tr = run_newton_paper(p, k, variant="printed")
    dev = tr.deviations.max(1).values  # per layer 1 … k+8
    assert float(dev[0]) == 0.0  # mov is untouched by the sign error
    assert float(dev[1]) > 1e-3 and float(dev[2:].min()) > 1e-2  # far above round-off from layer 2 on
    # the diagnosis: each pair computes |a|, so layer 2 adds α Σ_j |x_tᵀx_j| x_j (plain numpy)
    a = tr.alpha
    for mode in ("fast", "literal"):
        held = run_newton_paper(p, k, variant="printed", mode=mode).trace.slot("top", 2)
        for b in range(p.batch_size):
            X = p.X[b].numpy()
            expected = X + a * np.abs(X @ X.T) @ X
            assert _rel(held[b, 0: 2 * n: 2].numpy(), expected) <= 1e-12


def test_fu23_paper_variants_differ_only_in_the_second_value_matrix():
    pr, co = (build_newton_paper(3, 5, 2, 0.1, v) for v in ("printed", "corrected"))
    for lp, lc in zip(pr.layers, co.layers, strict=True):
        assert lp.name == lc.name
        for hp, hc in zip(lp.heads, lc.heads, strict=True):
            assert hp.kind == hc.kind and torch.equal(hp.Q, hc.Q) and torch.equal(hp.K, hc.K)
            assert torch.equal(hp.V, hc.V)
            # the pair's second head has value c·V: c = +1 as printed, −1 corrected
            assert (hp.second_value, hc.second_value) == ((1.0, -1.0) if hp.kind == "signed_pair" else (-1.0, -1.0))


def test_fu23_paper_alpha_boundary_stalls_and_the_reference_agrees(gen):
    d, n, k = 5, 30, 14  # n = 6d: S well conditioned, so the official α converges within k steps
    p = _prompt(d, n, gen, batch=1)
    paper = run_newton_paper(p, k, alpha="paper")
    assert abs(float(paper.alpha_lambda2[0]) - 2.0) <= 1e-12  # α = 2/‖SSᵀ‖₂ = 2/λ_max²: the boundary
    with pytest.raises(ValueError, match="alpha"):  # the reference refuses it unless asked to demonstrate it
        newton_schulz(p.X.transpose(1, 2) @ p.X, k, paper.alpha)
    con, ref = stall_diagnostics(p, paper.estimates), stall_diagnostics(p, paper.ref_estimates)
    missing = float(con["missing"][0])
    for s in (con, ref):
        assert float(s["top_fraction"][1:].abs().max()) <= 1e-9  # M_j v₁ = 0 from j = 1 on: top direction zeroed
        err = s["error"][:, 0]
        assert abs(float(err[-1]) - missing) <= 1e-8 and abs(float(err[-1] - err[-2])) <= 1e-8  # stalled
    assert missing > 1e-3
    assert float(paper.deviations.max()) <= 1e-10  # the construction follows the reference into the stall
    official = run_newton_paper(p, k, alpha="official")
    assert float(stall_diagnostics(p, official.estimates)["error"][-1, 0]) <= 1e-8  # inside the region: converges


def test_fu23_paper_alpha_rules(gen):
    p = _prompt(3, 9, gen, batch=4)
    S = p.X.transpose(1, 2) @ p.X
    lam = torch.linalg.eigvalsh(S)[:, -1]
    assert alpha_for(p, "paper") == pytest.approx(2 / float((lam**2).max()), rel=1e-12)
    fro = torch.linalg.matrix_norm(S @ S, ord="fro").max()
    assert alpha_for(p, "official") == pytest.approx(1 / float(fro), rel=1e-14)
    assert float((alpha_for(p, "official") * lam**2).max()) < 1.0  # strictly inside the convergence region
    with pytest.raises(ValueError, match="alpha"):
        alpha_for(p, "huge")  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["printed", "corrected"])
@pytest.mark.parametrize("k", [0, 3])
def test_fu23_paper_every_layer_has_weights_and_changes_the_stream(variant, k, gen):
    model = build_newton_paper(3, 6, k, 0.01, variant)
    assert model.num_layers == k + EXTRA_LAYERS == working_layers(model) == structure(model).depth
    assert all(any(bool(W.ne(0).any()) for W in layer.weights()) for layer in model.layers)
    states = evaluate(model, embed(_prompt(3, 6, gen), model.layout)).states
    for ell in range(1, model.num_layers + 1):
        assert not torch.equal(states[ell], states[ell - 1]), model.layers[ell - 1].name


def test_fu23_paper_widths():
    L = paper_layout(4)
    assert L.D == 5 * 4 + 2
    assert (L["top"].start, L["bot"].stop) == (0, 8)  # the paper's 2d of the Newton layers
    assert L.index("y") == 3 * 4  # u = [0_{3d}; 1] reads the last of the paper's 3d + 1


def test_fu23_paper_error_lists_every_invalid_argument():
    with pytest.raises(ValueError) as e:
        build_newton_paper(0, 0, -1, alpha=float("nan"), variant="typo")  # type: ignore[arg-type]
    for arg in ("d:", "n:", "k:", "alpha:", "variant:"):
        assert arg in str(e.value)


def test_fu23_paper_error_prompt_shape(gen):
    model = build_newton_paper(3, 5, 1, 0.01)
    with pytest.raises(ValueError, match="h0"):
        evaluate(model, embed(_prompt(3, 6, gen), model.layout))  # built for n = 5
    two_queries = LinearRegressionTask(d=3, n=5, m=2).sample(1, gen)
    with pytest.raises(ValueError, match="one query"):
        embed(two_queries, model.layout)


def test_fu23_paper_wrong_layer_count_is_refused(capsys):
    spec = get_construction("newton-paper")
    with pytest.raises(ValueError, match=r"^--layers: .*k \+ 8"):
        spec.execute(ConstructionConfig(d=3, n=5, layers=7))
    assert main(["construct", "newton-paper", "--d", "3", "--n", "5", "--layers", "7"]) == 2
    err = capsys.readouterr().err
    assert "--layers" in err and "k + 8" in err


def test_fu23_paper_unknown_variant_and_key_are_refused(capsys):
    spec = get_construction("newton-paper")
    with pytest.raises(ValueError, match="^--option variant: expected"):
        spec.execute(ConstructionConfig(d=3, n=5, layers=9, options={"variant": "as-printed"}))
    with pytest.raises(ValueError, match="^--option alpha: expected"):
        spec.execute(ConstructionConfig(d=3, n=5, layers=9, options={"alpha": "0.1"}))
    assert main(["construct", "newton-paper", "--d", "3", "--n", "5", "--layers", "9", "--option", "varient=printed"]
                ) == 2
    assert "unknown key" in capsys.readouterr().err


def test_fu23_paper_cli(capsys):
    base = ["construct", "newton-paper", "--d", "4", "--n", "10", "--layers", "11", "--batch", "3"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "k = 3 Newton steps in 11 layers" in out and "within" in out
    assert main([*base, "--option", "variant=printed"]) == 1  # as printed it leaves Newton: tolerance exceeded
    assert "EXCEEDED" in capsys.readouterr().out
    assert main([*base, "--option", "alpha=paper", "--layers", "16"]) == 0  # the stall is reproduced exactly
    assert "stalls" in capsys.readouterr().out
