"""fu23 docs material: the layer-cost table (counted from built weights) and the printed-vs-corrected comparison."""

from __future__ import annotations

import math

import pytest
import torch

import empirical.papers.fu23.runners as fu23
from empirical.registry.core import RunContext


def test_counted_layers_follow_the_theorems():
    rows = fu23._counted_layers(4)
    assert [r["k"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["paper_working_layers"] for r in rows] == [8, 9, 10, 11, 12]  # Theorem 5.1: k + 8
    assert [r["compact_working_layers"] for r in rows] == [3, 4, 5, 6, 7]  # the compact construction: k + 3
    # one Newton layer = one signed pair (two ReLU heads); MLP: d linear units (paper), 2d ReLU units (compact)
    assert rows[1]["paper_heads"] - rows[0]["paper_heads"] == 2
    assert rows[1]["paper_mlp_units"] - rows[0]["paper_mlp_units"] == fu23.LAYER_COST_D
    assert rows[1]["compact_mlp_units"] - rows[0]["compact_mlp_units"] == 2 * fu23.LAYER_COST_D


def test_layer_cost_table_rows():
    table = fu23._layer_cost(fu23._counted_layers(3))
    paper, compact, giannou24, looped = table
    assert (paper["layers_at_k0"], paper["layers_per_newton_step"], paper["linear_in_k"]) == (8, 1.0, True)
    assert (compact["layers_at_k0"], compact["layers_per_newton_step"], compact["linear_in_k"]) == (3, 1.0, True)
    # literature rows are the fact sheet's numbers, and say what the sheet does not state
    assert giannou24["layers_per_newton_step"] == 2 and looped["layers_per_newton_step"] == 13
    assert giannou24["layers_at_k0"] == looped["layers_at_k0"] == "not stated"
    assert all(r.keys() == paper.keys() for r in table)


def test_per_step_detects_a_layer_that_does_not_work():
    # a construction whose k = 2 weights had an all-zero layer would count one layer short there
    rows = [{"c": 3}, {"c": 4}, {"c": 4}, {"c": 6}]
    cost = fu23._per_step(rows, "c")
    assert cost == {"at_k0": 3, "per_step": 1.0, "constant": False}
    cost = fu23._per_step([{"c": 8}, {"c": 10}, {"c": 12}], "c")
    assert cost["per_step"] == 2.0 and cost["constant"]


@pytest.fixture
def ctx(tmp_path):
    return RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path,
                      claim_id="fu23.paper_construction_as_printed", progress=False)


def test_variant_comparison_printed_leaves_newton_corrected_does_not(ctx, monkeypatch):
    monkeypatch.setattr(fu23, "GROWTH_SETTING", (3, 8, 4))
    both = fu23._variant_comparison(ctx)
    printed, corrected = both["per_layer_max_rel_dev"]["printed"], both["per_layer_max_rel_dev"]["corrected"]
    assert len(printed) == len(corrected) == 4 + 8
    assert both["first_layer_over_1e-10"] == {"printed": 2, "corrected": None}  # layer 2: the first signed pair
    assert max(corrected) <= 1e-10 and all(math.isfinite(v) for v in corrected)
    assert both["first_non_finite_layer"]["corrected"] is None
