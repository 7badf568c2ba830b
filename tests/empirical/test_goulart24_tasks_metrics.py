"""goulart24 tasks, metrics and prompt formatting/parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from empirical.papers.goulart24.llm.metrics import (
    bootstrap_mean_ci,
    independent_ratio_ci,
    max_over,
    min_over,
    paired_diff_ci,
    prompt_errors,
    ratio_ci,
    summarize,
)
from empirical.papers.goulart24.llm.prompting import (
    answers_to_tensor,
    build_prompt,
    format_number,
    parse_answer,
    parse_prompt,
)
from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask as T
from empirical.papers.goulart24.llm.tasks import target_stats, uniform_outside, within_prompt_variance


def test_task_sampling_shapes_seeding_and_targets(gen):
    task = T("topk", 4, k=2)
    a = task.sample(6, 5, torch.Generator().manual_seed(3))
    b = task.sample(6, 5, torch.Generator().manual_seed(3))
    assert a.X.shape == (6, 5, 16) and a.Y.shape == (6, 5, 2) and a.X.dtype == torch.float64
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y)
    assert float(a.X.abs().max()) <= 100.0
    s = np.linalg.svd(a.X.numpy().reshape(6, 5, 4, 4), compute_uv=False)[..., :2]
    np.testing.assert_allclose(a.Y.numpy(), s, rtol=1e-12)
    Xc, Yc, xq, yq = a.split(3)
    assert Xc.shape == (6, 3, 16) and torch.equal(xq, a.X[:, 3]) and torch.equal(yq, a.Y[:, 3])


def test_rounded_prompts_score_what_is_shown(gen):
    task = T("pnorm", 5, p=0.5)
    d = task.sample(4, 3, gen, decimals=2)
    np.testing.assert_array_equal(d.X.numpy(), np.round(d.X.numpy(), 2))
    expected = (np.abs(d.X.numpy()) ** 0.5).sum(-1) ** 2
    np.testing.assert_allclose(d.Y[..., 0].numpy(), expected, rtol=1e-12)


def test_family_regime_parameters(gen):
    fam = T("nuclear", 3, regime="family")
    d = fam.sample(300, 2, gen)
    assert set(d.params["q"].tolist()) <= {1.0, 2.0, math.inf}
    assert float(d.params["s"].min()) >= 0.5 and float(d.params["s"].max()) <= 2.0
    A = d.X.numpy().reshape(300, 2, 3, 3)
    for i in range(5):
        q, s = float(d.params["q"][i]), float(d.params["s"][i])
        ref = {1.0: "nuc", 2.0: "fro", math.inf: 2}[q]
        np.testing.assert_allclose(float(d.Y[i, 0, 0]), s * np.linalg.norm(A[i, 0], ref), rtol=1e-12)
    assert fam.name == "schatten_3x3_family" and T("pnorm", 5).name == "pnorm_n5_p0.5"


def test_heldout_regime_parameters_and_windows(gen):
    u = torch.linspace(0, 0.999, 1000, dtype=torch.float64)
    v = uniform_outside(u, 0.0, 2.0, (0.8, 1.25))
    assert not bool(((v > 0.8) & (v < 1.25)).any()) and float(v.min()) == 0.0 and float(v.max()) < 2.0
    assert abs(float((v < 0.8).double().mean()) - 0.8 / 1.55) < 0.01  # uniform over the union
    win = T("topk", 4, k=2, regime="heldout")
    d = win.sample(200, 2, gen)
    s = np.linalg.svd(d.X.numpy().reshape(200, 2, 4, 4), compute_uv=False)
    j = d.params["j"].long().numpy()
    assert set(j.tolist()) == {2, 3}
    np.testing.assert_allclose(d.Y.numpy(), np.stack([s[i, :, j[i] - 1:j[i] + 1] for i in range(200)]), rtol=1e-12)
    assert win.name == "window2_4x4_heldout" and T("pnorm", 5, regime="heldout").name == "pnorm_n5_heldout"
    with pytest.raises(ValueError, match="k:"):
        T("topk", 3, k=3, regime="heldout")  # no window below the top
    with pytest.raises(ValueError, match="band"):
        uniform_outside(u, 0.0, 1.0, (0.5, 2.0))


def test_within_prompt_variance():
    fixed = T("nuclear", 3)
    assert torch.equal(within_prompt_variance(fixed), target_stats(fixed)[1])
    fam = T("nuclear", 3, regime="family")
    w, v = within_prompt_variance(fam, prompts=500, length=16), target_stats(fam, draws=20_000)[1]
    assert 0.05 < float(w / v) < 0.5  # the shared θ and scale s carry most of the family's variance


def test_target_stats_match_fact_sheet():
    # Fact sheet §2: vector n = 5, p = 0.5 at a = 100: mean 1136, std 346 (Monte Carlo, approximate).
    mean, var = target_stats(T("pnorm", 5, p=0.5), draws=20_000, seed=1)
    assert abs(float(mean) / 1136 - 1) < 0.01 and abs(math.sqrt(float(var)) / 346 - 1) < 0.03


def test_task_error():
    with pytest.raises(ValueError, match="kind"):
        T("trace", 3)
    with pytest.raises(ValueError, match="k:"):
        T("topk", 3, k=4)
    with pytest.raises(ValueError, match="p:"):
        T("pnorm", 3, p=0.0)
    with pytest.raises(ValueError, match="n:"):
        T("pnorm", 0)
    with pytest.raises(ValueError, match="c:"):
        T("pnorm", 3).sample(2, 3, torch.Generator()).split(3)


def test_metrics_against_numpy(rng):
    pred = rng.normal(size=(50, 2)) + 10
    tgt = rng.normal(size=(50, 2)) + 10
    var = np.array([2.0, 0.5])
    e = prompt_errors(torch.from_numpy(pred), torch.from_numpy(tgt), torch.from_numpy(var))
    np.testing.assert_allclose(e.se, ((pred - tgt) ** 2).mean(1))
    np.testing.assert_allclose(e.nse, ((pred - tgt) ** 2 / var).mean(1))
    np.testing.assert_allclose(e.re, np.abs(pred - tgt).sum(1) / np.abs(tgt).sum(1))
    s = summarize(e, rng)
    assert s["nmse_ci"][0] <= s["nmse"] <= s["nmse_ci"][1]
    assert s["acc_5pct"] == pytest.approx(float((e.re <= 0.05).mean()))
    assert s["r2"] == pytest.approx(1 - s["nmse"])
    assert s["mean_rmse"] <= s["rmse_of_mean"] + 1e-12  # Jensen: mean of roots <= root of mean


def test_bootstrap_intervals(rng):
    v = rng.normal(loc=3.0, size=2000)
    lo, hi = bootstrap_mean_ci(v, rng)
    se = v.std() / math.sqrt(v.size)
    assert lo < 3.0 + 4 * se and hi > 3.0 - 4 * se and hi - lo == pytest.approx(2 * 1.96 * se, rel=0.2)
    a = v + 1.0
    d, dlo, dhi = paired_diff_ci(a, v, rng)
    assert d == pytest.approx(1.0) and dlo == pytest.approx(1.0) and dhi == pytest.approx(1.0)  # paired: no noise
    r, rlo, rhi = ratio_ci(2 * np.abs(v), np.abs(v), rng)
    assert r == pytest.approx(2.0) and rlo == pytest.approx(2.0) and rhi == pytest.approx(2.0)


def test_interval_aggregates_and_independent_ratio(rng):
    cis = [(-0.5, -0.7, -0.3), (-0.1, -0.2, 0.05), (-0.4, -0.6, -0.2)]
    assert max_over(cis) == (-0.1, (-0.2, 0.05)) and min_over(cis) == (-0.5, (-0.7, -0.3))
    with pytest.raises(ValueError, match="cis"):
        max_over([])
    a, b = rng.exponential(2.0, size=4000), rng.exponential(1.0, size=3000)  # independent, unequal sizes
    r, lo, hi = independent_ratio_ci(a, b, rng)
    assert lo < 2.0 < hi and r == pytest.approx(a.mean() / b.mean())


def test_metrics_error():
    with pytest.raises(ValueError, match="pred"):
        prompt_errors(torch.zeros(3, 1), torch.zeros(3, 2), torch.ones(2))
    with pytest.raises(ValueError, match="var"):
        prompt_errors(torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(1))
    with pytest.raises(ValueError, match="pred"):
        prompt_errors(torch.full((3, 1), float("nan")), torch.zeros(3, 1), torch.ones(1))
    with pytest.raises(ValueError, match="b:"):
        paired_diff_ci(np.zeros(3), np.zeros(4), np.random.default_rng(0))


def test_prompt_format_is_the_papers():
    Xc = torch.tensor([[1.0, -2.5], [0.004, 3.0]], dtype=torch.float64)
    Yc = torch.tensor([[3.5], [3.0]], dtype=torch.float64)
    text = build_prompt(Xc, Yc, torch.tensor([7.0, 8.0], dtype=torch.float64), matrix_side=None, decimals=2)
    lines = text.splitlines()
    assert lines[-3:] == ["- Given x=[1.00, -2.50], y=3.50;", "- Given x=[0.00, 3.00], y=3.00;",
                          "- Given x=[7.00, 8.00], Predict y: _____"]
    M = build_prompt(torch.arange(4.0)[None], torch.ones(1, 2), torch.zeros(4), matrix_side=2, decimals=1)
    assert "x=[[0.0 1.0]\n [2.0 3.0]], y=1.0; 1.0;" in M
    assert format_number(-0.001, 2) == "0.00"


@pytest.mark.parametrize(
    ("text", "k", "lenient", "paper"),
    [
        ("12.5;", 1, [12.5], [12.5]),
        ("The answer is: 122.51", 1, [122.51], [122.51]),
        ("7", 1, [7.0], None),  # the paper's regex needs a decimal point
        ("- Given x=[94.01, 4", 1, None, [94.01]),  # an echo of the format is not an answer
        ("1.5; 2.5; 3.5;", 2, [1.5, 2.5], None),  # the paper's parser wants exactly k values
        ("nan;", 1, None, None),
        ("I don't know", 1, None, None),
        ("3.0;", 2, None, None),
    ],
)
def test_parse_answer(text, k, lenient, paper):
    assert parse_answer(text, k, "lenient") == lenient
    assert parse_answer(text, k, "paper") == paper


@pytest.mark.parametrize("task", [T("pnorm", 5, p=0.5), T("nuclear", 3), T("topk", 4, k=2)])
def test_parse_prompt_reads_back_what_is_shown(task, gen):
    d = task.sample(2, 4, gen, decimals=2)
    Xc, Yc, xq, _ = d.split(3)
    text = build_prompt(Xc[1], Yc[1], xq[1], matrix_side=task.n if task.is_matrix else None, decimals=2)
    X, Y, x = parse_prompt(text)
    # Inputs are sampled at 2 decimals, so they read back exactly; targets are shown rounded (half a unit off).
    assert torch.equal(X, Xc[1]) and torch.equal(x, xq[1])
    assert Y.shape == Yc[1].shape and float((Y - Yc[1]).abs().max()) <= 0.005 + 1e-9


def test_parse_prompt_rejects_other_text():
    with pytest.raises(ValueError, match="text:"):
        parse_prompt("- Given x=[1.00], y=2.00;")  # no query line
    with pytest.raises(ValueError, match="different sizes"):
        parse_prompt("- Given x=[1.00, 2.00], y=2.00;\n- Given x=[1.00], Predict y: _____")


def test_answers_to_tensor_counts_malformed():
    vals, ok = answers_to_tensor([[1.0], None, [2.0]], 1)
    assert ok.tolist() == [True, False, True] and math.isnan(float(vals[1, 0]))


def test_prompting_error():
    with pytest.raises(ValueError, match="k:"):
        parse_answer("1.0", 0)
    with pytest.raises(ValueError, match="mode"):
        parse_answer("1.0", 1, "strict")
    with pytest.raises(ValueError, match="Xc/Yc/xq"):
        build_prompt(torch.zeros(2, 3), torch.zeros(1, 1), torch.zeros(3), matrix_side=None)
