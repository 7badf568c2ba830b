"""The full profile is known to run (issue #17 §4): every full-profile runner, on the CPU, shrunk to seconds.

Every size, step count and batch a runner uses is a named setting (:meth:`RunContext.setting`). :data:`SHRINK`
overrides them per claim, so each claim runs its full-profile code path — data, model, training, checkpoints,
probes, figures, JSON — in a subprocess under an address-space cap, and must end with a verdict (``error`` never).
``require_cuda`` is one of the settings: off here only, it lets the full profile's CUDA gate pass on the CPU.

The memory half: each runner whose allocations grow with the full-profile sizes has a pure estimate of its peak
tensor bytes from its settings. Each is checked against :class:`empirical.memory.PeakTensorBytes` at small sizes
(an upper bound, at most 2x the measurement: a formula off by a factor cannot pass) and, at the full-profile
settings, against :data:`empirical.memory.DEVICE_BUDGET_BYTES`.

Adding a paper means adding its key to :data:`PAPERS` and one row per claim to :data:`SHRINK` (or
:data:`NOT_IMPLEMENTED`, or :data:`NOT_RUN_HERE` with the reason); :func:`test_every_claim_has_a_row` names any
claim without one.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from empirical.memory import DEVICE_BUDGET_BYTES, GIB, peak_tensor_bytes
from empirical.registry import select_claims

ROOT = Path(__file__).resolve().parents[2]
PAPERS = ("ahn23", "fu23", "he25", "ryu24", "goulart24")
#: address-space cap of a paper's subprocess: torch's libraries map ≈ 1.5 GiB; a shrunk run needs little more
CAP_BYTES = 6 * GIB
#: wall-clock limit of a paper's subprocess (≈ 20–40 s each on the loaded 2-core machine)
TIMEOUT_S = 240
#: the module fixture runs every paper inside the first test that asks for it
_RUNS_TIMEOUT = pytest.mark.timeout(2 * len(PAPERS) * TIMEOUT_S + 60)  # the float32 and bf16 runs

_OFF = {"require_cuda": False}
#: fu23 trained models, shrunk: d = 3, n = 5, 2 layers of width 16, 20 steps (the judges need >= 2 layers)
_FU23_MODEL = {"prompt_d": 3, "prompt_n": 5, "probe_train_prompts": 32, "held_out_prompts": 16}
_FU23_GPT2 = {"gpt2_width": 16, "gpt2_layers": 2, "gpt2_heads": 2, "gpt2_steps": 20, "gpt2_batch_size": 8,
              "gpt2_warmup": 2, "gpt2_curriculum_start_dims": 2, "gpt2_curriculum_every": 10}
_FU23_LSTM = {"lstm_width": 16, "lstm_layers": 2, "lstm_steps": 20, "lstm_batch_size": 8, "lstm_warmup": 2,
              "lstm_curriculum_start_dims": 2, "lstm_curriculum_every": 10}
_MATRIX = {"matrix.shapes": [(6, 5, 2), (5, 5, 2)], "matrix.train_shape": (6, 5, 2), "matrix.steps": 20,
           "matrix.n_gauges": 2}
_NET = {"steps": 20, "batch": 16, "width": 8}
#: ahn23 trained LSAs, shrunk: the full profile's AdamW schedule and clipping at 20 steps of batch 50
_AHN23_TRAIN = {"train": {"steps": 20, "batch_size": 50, "lr": 0.02, "schedule": "halve", "halve_every": 10,
                          "optimizer": "adamw", "grad_clip": 0.01}, "eval_prompts": 2000}
#: he25 trained models, shrunk: width 8, 2 heads, 3 steps of batch 8 (the full profile's warm-up, cosine and clipping);
#: PCA d = 3, N = 6, k = 2 (claims 13 and 18 score v_2), 2 layers; the larger d = 4; GMM d = 3; 40 test prompts
_HE25_MODEL = {"require_cuda": False, "model.E": 8, "model.heads": 2, "model.steps": 3, "model.batch": 8,
               "model.warmup": 1}
_HE25_PCA = {"pca.d": 3, "pca.N": 6, "pca.k": 2}
_HE25_MAIN = {**_HE25_MODEL, **_HE25_PCA, "pca.layers": 2}


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in values.items()}


#: goulart24 benchmark, shrunk: c ∈ {1, 2, 4, 8}, 8 prompts for the per-prompt networks and 16 for the others, a few
#: optimiser steps per fit; the three meta models (one per regime) 1 layer of width 16 for 20 steps at 9 examples
_GOULART24_META = {"embed": 16, "layers": 1, "heads": 2, "mlp": 32, "max_len": 9, "steps": 20, "per_task": 4}
_GOULART24_BENCH = {
    **_OFF, "bench_cs": (1, 2, 4, 8), "bench_prompts": 8, "bench_cheap_prompts": 16, "bench_family_prompts": 16,
    "baseline_sgd_steps": 5, "baseline_sgd_batch": 2, "baseline_mlp_hidden": 8, "baseline_mlp_steps": 5,
    "baseline_cnn_channels": 2, "baseline_cnn_steps": 3,
    **_prefixed("meta_fixed", _GOULART24_META), **_prefixed("meta_family", _GOULART24_META),
    **_prefixed("meta_heldout", _GOULART24_META),
}
#: goulart24 claims on the shared benchmark that judge a meta-trained model (the benchmark loads all three)
_GOULART24_JUDGED = ("simple_task_nn_competitive", "complex_tasks_icl_beats_baselines", "icl_beats_mean_predictor",
                     "fast_convergence_in_examples", "scales_with_matrix_size", "function_family_icl")

#: claim id -> setting overrides that shrink its full profile to seconds on the CPU
SHRINK: dict[str, dict[str, Any]] = {
    "ahn23.lemma1": {"settings": [(2, 3, 2, 1.0), (3, 5, 2, 10.0)]},
    "ahn23.thm1": {"settings": [(3, 10, 10.0)], "mc_prompts": 2000},
    "ahn23.thm1_isotropic": {"settings": [(2, 5)], "mc_prompts": 2000},
    "ahn23.data_inadequacy": {},
    "ahn23.thm3_critical": {"mc_batches": 2, "mc_per_batch": 200, "hessian_samples": 100},
    "ahn23.fig2": {},
    "ahn23.thm4_gdpp": {"fit_prompts": 2000, "eval_prompts": 5000, "lbfgs_iterations": 10, "random_starts": 1,
                        "n10_prompts": 200},
    "ahn23.trained_1layer": dict(_AHN23_TRAIN),
    "ahn23.trained_3layer": dict(_AHN23_TRAIN),
    "fu23.newton_recursion": {"sympy_dims": [2], "sympy_power_steps": 2, "numeric_prompts": 4,
                              "numeric_newton_steps": 8},
    "fu23.newton_alpha_boundary": {"alpha_newton_steps": 40, "alpha_prompts": 4},
    "fu23.rates": {"rates_draws": 2, "rates_conds": [1.0, 10.0], "rates_max_gd": 500, "rates_reference_prompts": 2},
    "fu23.paper_construction_corrected": {"paper_construction_settings": [(3, 10, 1.0, 2), (4, 3, 10.0, 1)],
                                          "construction_prompts": 2, "boundary_setting": (3, 18, 4),
                                          "growth_setting": (3, 8, 6)},
    "fu23.paper_construction_as_printed": {"printed_settings": [(3, 10, 1.0, 2), (4, 12, 30.0, 0)],
                                           "construction_prompts": 2, "growth_setting": (3, 8, 6)},
    "fu23.compact_construction": {"construction_settings": [(3, 10, 1.0, 2), (4, 3, 10.0, 1)],
                                  "construction_prompts": 2, "layer_cost_steps": 3},
    "fu23.layers_track_newton": {**_OFF, **_FU23_MODEL, **_FU23_GPT2},
    "fu23.gd_needs_exponentially_more": {**_OFF, **_FU23_MODEL, **_FU23_GPT2},
    "fu23.ill_conditioned": {**_OFF, **_FU23_MODEL, **_FU23_GPT2},
    "fu23.lstm_not_newton": {**_OFF, **_FU23_MODEL, **_FU23_GPT2, **_FU23_LSTM},
    "he25.relu_pair_linear_attention": {"relu_pair": [(2, 6, 5, 2)]},
    "he25.covariance_layer": {"covariance": [(3, 6, 2), (3, 3, 2)]},
    "he25.inverse_sqrt_relu_error": {"inverse_sqrt_M": [8, 16]},
    "he25.seed_overlap_lemma": {"seed_draws": 20_000},
    "he25.power_method_bound": {"bound_spectra": [(3, 10)]},
    "he25.power_method_construction": {"power_construction": [(3, 8, 2, 4, 2)]},
    "he25.inexact_normalisation_effects": {"inexact": (4, 12, 2, 10, 2), "deflation_boundary": (100, 20)},
    "he25.topk_pca_construction": {"topk": [(4, 16, 2, 20, 2, 1e-3, 0.3)]},
    "he25.construction_size": {"size_d": (2, 4)},
    "he25.spectral_clustering_reference": {"cluster_ref": {"N": 40, "trials": 6, "d": (10,), "mu": (1.5,)}},
    "he25.spectral_clustering_construction": {"cluster_construction": {"B": 2, "grid": [(5, 24, 2.0)]}},
    "he25.pretrained_pca_first_eigenpair": {**_HE25_MAIN, "test_instances": 40, "baseline_instances": 40},
    "he25.pretrained_pca_harder_later_and_larger": {**_HE25_MAIN, "harder_instances": 40,
                                                    **_prefixed("pca_large", {"d": 4, "N": 8, "k": 1, "layers": 2})},
    "he25.pretrained_pca_depth_diminishing": {**_HE25_MODEL, **_HE25_PCA, "depths": (1, 2, 3), "test_instances": 40},
    "he25.pretrained_gmm_near_spectral": {**_HE25_MODEL, **_prefixed("gmm", {"d": 3, "N": 8, "layers": 2}),
                                          "test_instances": 40},
    "he25.pretrained_layers_track_iterates": {**_HE25_MAIN, "test_instances": 40, "probe_train": 40},
    "he25.generalization_rate": {**_HE25_MAIN, "test_instances": 40, "train_sizes": (8, 16, 32)},
    "he25.real_data_transfer": {**_HE25_MAIN, "test_instances": 40, "real_frames": 2},
    "ryu24.lora_subspace_only": dict(_MATRIX),
    "ryu24.nested_optimum_is_truncated_svd": dict(_MATRIX),
    "ryu24.kernel_vs_nystrom": {**_OFF, **_prefixed("kernel", {**_NET, "N": 50, "n_heldout": 20, "L": 2,
                                                               "L_train": 3})},
    "ryu24.oscillator": {**_OFF, **_prefixed("oscillator", {**_NET, "grid": (40, 12), "runs": [
        {"d": 1, "L": 2, "L_train": 3}, {"d": 2, "L": 3, "L_train": 4}]})},
    "ryu24.vs_neuralef": {**_OFF, **_prefixed("vs_neuralef", {**_NET, "seeds": 2, "d": 1, "L": 2, "L_train": 3,
                                                               "grid": (40, 12)})},
    "ryu24.seq_vs_joint": {**_OFF, **_prefixed("nesting", {**_NET, "seeds": 2, "d": 1, "L": 2, "L_train": 3,
                                                           "grid": (40, 12)})},
    "ryu24.hydrogen": {**_OFF, **_prefixed("hydrogen", {**_NET, "L": 1, "L_train": 2, "fourier": (8, 0.1),
                                                        "polar": (60.0, 10, 8)})},
    "goulart24.scale_homogeneity": {},
    "goulart24.target_concentration": {"concentration_draws": 2000, "concentration_batch": 500},
    "goulart24.mean_predictor_mse": {"mean_predictor_prompts": 200, "mean_predictor_cs": (1, 2, 4, 8)},
    "goulart24.baselines_overfit_few_examples": dict(_GOULART24_BENCH),
    **{f"goulart24.{name}": dict(_GOULART24_BENCH) for name in _GOULART24_JUDGED},
    # claim 4 judges c >= 32 at the full profile: the shrunk grid stops at 8
    "goulart24.simple_task_nn_competitive": {**_GOULART24_BENCH, "nn_comparable_c_min": 8},
}

#: claims whose full profile is not implemented: they must say so (a row goes once it is, and gets a SHRINK row)
NOT_IMPLEMENTED: set[str] = set()
#: claims this test does not run, and why; each skips on its own where it cannot run
#: (test_claims_not_run_here_skip_without_their_requirement)
#: claims that need an optional extra: claim id -> the module it imports. Without it (the CI's test environment has
#: only the ``test`` extra) the claim must skip naming what to install, and nothing else is asked of it.
NEEDS_EXTRA = {"he25.real_data_transfer": "sklearn"}


def _skipped_for_a_missing_extra(cid: str, r: dict) -> bool:
    """True when ``cid`` needs an extra that is not installed here and its run says so (asserted)."""
    import importlib.util

    module = NEEDS_EXTRA.get(cid)
    if module is None or importlib.util.find_spec(module) is not None:
        return False
    assert r["verdict"].startswith("skipped") and "not installed" in r["verdict"], r["verdict"]
    return True


NOT_RUN_HERE = {
    "goulart24.local_llm_in_context": "SmolLM2-135M on the CPU: each prompt's prefill takes seconds (187 s measured "
                                      "for the full profile's three tasks at c = 2, 4, 8 with 2 prompts each), and the "
                                      "claim is skipped without the llm extra; its scoring pipeline runs with "
                                      "stand-in backends in tests/claims/test_goulart24_*.py",
    "goulart24.paper_scale_gemini": "needs a remote API (Gemini 1.5 Flash): skipped in every profile",
}
#: trained claims whose models go through empirical.checkpoints: a full-profile run must store them in its out folder
CHECKPOINTED = {"ahn23.trained_1layer": ("trained_1layer",), "ahn23.trained_3layer": ("trained_3layer",),
                "fu23.layers_track_newton": ("gpt2_iso",), "fu23.gd_needs_exponentially_more": ("gpt2_iso",),
                "fu23.ill_conditioned": ("gpt2_ill",), "fu23.lstm_not_newton": ("gpt2_iso", "lstm_iso"),
                # he25: names from the shrunk sizes (empirical.papers.he25.training.recipe_name)
                "he25.pretrained_pca_first_eigenpair": ("pca_d3_L2",),
                "he25.pretrained_pca_harder_later_and_larger": ("pca_d3_L2", "pca_d4_L2"),
                "he25.pretrained_pca_depth_diminishing": ("pca_d3_L1", "pca_d3_L2", "pca_d3_L3"),
                "he25.pretrained_gmm_near_spectral": ("gmm_d3_L2",),
                "he25.pretrained_layers_track_iterates": ("pca_d3_L2",),
                "he25.generalization_rate": ("pca_d3_L2_n8", "pca_d3_L2_n16", "pca_d3_L2_n32"),
                "he25.real_data_transfer": ("pca_d3_L2",)}
#: goulart24: the benchmark loads (or trains) the three meta models, one per regime; measured["checkpoint"] is the
#: judged one's
CHECKPOINTED.update({f"goulart24.{name}": ("meta_fixed", "meta_family", "meta_heldout") for name in _GOULART24_JUDGED})


def test_every_claim_has_a_row():
    """A new claim of a listed paper must be shrunk here (or declared not implemented at full profile)."""
    ids = {c.id for c in select_claims(list(PAPERS))}
    rows = set(SHRINK) | NOT_IMPLEMENTED | set(NOT_RUN_HERE)
    assert not ids - rows, f"claims without a SHRINK row: {sorted(ids - rows)}"
    assert not rows - ids, f"rows for unknown claims: {sorted(rows - ids)}"
    assert not set(SHRINK) & NOT_IMPLEMENTED and not (set(SHRINK) | NOT_IMPLEMENTED) & set(NOT_RUN_HERE)


# -- the runs: one subprocess per paper (one torch import), under an address-space cap -------------------

_DRIVER = """
import importlib.util, json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
spec = importlib.util.spec_from_file_location("shrunk", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
from empirical.registry import select_claims
from empirical.runner import run_claims
out = Path(sys.argv[3])
claims = [c for c in select_claims([sys.argv[2]]) if c.id not in mod.NOT_RUN_HERE]
run_claims(claims, profile="full", device=torch.device("cpu"), seed=0, out_dir=out, progress=False,
           overrides={c.id: mod.SHRINK.get(c.id, {}) for c in claims}, precision=sys.argv[4])
"""


def _cap_address_space() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def _runs(tmp_path_factory, precision: str) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    runs = {}
    for paper in PAPERS:
        out = tmp_path_factory.mktemp(f"full_{paper}_{precision}")
        runs[paper] = out, subprocess.run(
            [sys.executable, "-c", _DRIVER, __file__, paper, str(out), precision], cwd=ROOT, capture_output=True,
            text=True, timeout=TIMEOUT_S, preexec_fn=_cap_address_space)
    return runs


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """paper -> (out folder, finished subprocess) of ``icl-verify run <paper> --profile full`` shrunk by SHRINK."""
    return _runs(tmp_path_factory, "float32")


@pytest.fixture(scope="module")
def bf16_runs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """The same runs with ``--precision bf16``: every full-profile training path under autocast."""
    return _runs(tmp_path_factory, "bf16")


def _payload(full_runs, cid: str) -> tuple[Path, dict]:
    out, proc = full_runs[cid.split(".")[0]]
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = out / f"{cid}.json"
    assert path.exists(), f"{cid}: no JSON; stderr: {proc.stderr[-2000:]}"
    return out, json.loads(path.read_text())


@_RUNS_TIMEOUT
@pytest.mark.parametrize("cid", sorted(SHRINK))
def test_full_profile_runs_shrunk(full_runs, cid):
    """A verdict (not error, not skipped), every figure on disk, the overrides read and recorded, one thread."""
    out, r = _payload(full_runs, cid)
    assert r["profile"] == "full"
    if _skipped_for_a_missing_extra(cid, r):
        return
    assert r["verdict"] != "error", f"{r.get('error')}\n{r.get('traceback', '')[-3000:]}"
    assert not r["verdict"].startswith("skipped"), r["verdict"]
    assert r["checks"]
    for f in r["figures"]:
        assert (out / f).is_file(), f
    recorded = r["settings"]
    for name, value in SHRINK[cid].items():
        assert json.dumps(recorded[name]) == json.dumps(value), name  # read, with the override's value
    assert r["threads"]["torch_num_threads"] == 1


@_RUNS_TIMEOUT
@pytest.mark.parametrize("cid", sorted(CHECKPOINTED))
def test_full_profile_models_are_stored_in_the_out_folder(full_runs, cid):
    """Full-profile models are never shipped: each is trained now and stored under <out>/checkpoints/."""
    out, r = _payload(full_runs, cid)
    if _skipped_for_a_missing_extra(cid, r):
        return
    stored = {p.name.split(".")[0] for p in (out / "checkpoints" / cid.split(".")[0]).glob("*.safetensors")}
    assert set(CHECKPOINTED[cid]) <= stored, stored
    side = r["measured"]["checkpoint"]
    assert side["source"] in ("trained", "run") and str(out) in side["path"], side


@_RUNS_TIMEOUT
@pytest.mark.parametrize("cid", sorted(SHRINK))
def test_full_profile_runs_shrunk_in_bf16(bf16_runs, cid):
    """Every full-profile path also runs in bf16 mixed precision (the shrunk numbers judge nothing: a verdict, not
    an error), and the JSON says so."""
    _, r = _payload(bf16_runs, cid)
    if _skipped_for_a_missing_extra(cid, r):
        return
    assert r["verdict"] != "error", f"{r.get('error')}\n{r.get('traceback', '')[-3000:]}"
    assert r["precision"] == "bf16" and r["checks"]


@_RUNS_TIMEOUT
@pytest.mark.parametrize("cid", sorted(CHECKPOINTED))
def test_bf16_models_are_stored_as_bf16_models(bf16_runs, cid):
    """A bf16 model's recipe and retrain command name its precision (so no float32 run ever loads it)."""
    out, r = _payload(bf16_runs, cid)
    if _skipped_for_a_missing_extra(cid, r):
        return
    sidecars = [json.loads(p.read_text()) for p in (out / "checkpoints" / cid.split(".")[0]).glob("*.json")]
    names = {side["weights"].split(".")[0] for side in sidecars}
    assert set(CHECKPOINTED[cid]) <= names, names
    for side in sidecars:
        assert side["config"]["precision"] == "bf16" and side["command"].endswith("--precision bf16"), side


@_RUNS_TIMEOUT
@pytest.mark.parametrize("cid", sorted(NOT_IMPLEMENTED) or [pytest.param(None, marks=pytest.mark.skip(
    reason="NOT_IMPLEMENTED is empty: every claim of PAPERS has a full profile"))])
def test_full_profile_not_implemented_says_so(full_runs, cid):
    _, r = _payload(full_runs, cid)
    assert r["verdict"].startswith("skipped") and "not implemented" in r["verdict"], r["verdict"]


@_RUNS_TIMEOUT
@pytest.mark.parametrize("regime", ["fixed", "family", "heldout"])
def test_goulart24_meta_models_are_found_by_a_later_process(full_runs, regime):
    """The full-profile meta models are trained once: a later process into the same out folder finds them by their
    recipe (the shrunk sizes) instead of training again."""
    from empirical.checkpoints import find_checkpoint
    from empirical.papers.goulart24.llm.train_meta import meta_recipe

    out, proc = full_runs["goulart24"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = find_checkpoint("goulart24", f"meta_{regime}", meta_recipe(regime, "full", _GOULART24_META), out)
    assert path is not None and path.parent == out / "checkpoints" / "goulart24", path


@pytest.mark.parametrize("cid", sorted(NOT_RUN_HERE))
def test_claims_not_run_here_skip_without_their_requirement(cid, tmp_path, monkeypatch):
    """A claim left out of the runs above is skipped at the full profile where its requirement is missing (the llm
    extra, made missing here; a remote API), never an error: the reason given in NOT_RUN_HERE is the claim's own."""
    import empirical.papers.goulart24.llm.backends as backends
    from empirical.registry import get_claim
    from empirical.runner import run_claim

    monkeypatch.setattr(backends, "llm_extra_missing", lambda: "llm extra not installed (made missing by the test)")
    r = run_claim(get_claim(cid), profile="full", device=torch.device("cpu"), seed=0, out_dir=tmp_path, progress=False)
    assert r["verdict"].startswith("skipped: "), r["verdict"]


# -- overrides are checked --------------------------------------------------------------------------------


def test_an_override_never_read_is_an_error(tmp_path):
    """A misspelt key must not leave the runner at full size silently: error, one line, naming key and settings."""
    from empirical.registry import get_claim
    from empirical.runner import run_claim

    r = run_claim(get_claim("fu23.newton_recursion"), profile="quick", device=torch.device("cpu"), seed=0,
                  out_dir=tmp_path, progress=False, overrides={"sympy_dimz": [2], "numeric_prompts": 4})
    assert r["verdict"] == "error"
    msg = r["error"]
    assert "\n" not in msg and "'sympy_dimz'" in msg and "fu23.newton_recursion" in msg, msg
    assert "sympy_dims" in msg and "numeric_prompts" in msg, msg  # the settings it does read
    assert r["settings"]["numeric_prompts"] == 4


def test_one_name_one_quantity(tmp_path):
    """Reading one setting name with two different defaults is refused (one override would set both)."""
    from empirical.registry.core import RunContext

    ctx = RunContext(profile="quick", device=torch.device("cpu"), seed=0, out_dir=tmp_path, claim_id="x.y")
    assert ctx.setting("steps", 10, 100) == 10 and ctx.setting("steps", 10, 100) == 10
    with pytest.raises(ValueError, match="'steps'"):
        ctx.setting("steps", 20, 100)


# -- memory: estimates checked against a measurement, then at full size against the device budget ----------


def _within(estimate: int, measured: int) -> None:
    """An upper bound at most 2x the measurement: the formula has the right terms and scale."""
    assert measured <= estimate <= 2 * measured, (estimate, measured, estimate / measured)


def _fu23_small(kind: str, **sizes: int):
    from empirical.papers.fu23.training import RECIPES

    return dataclasses.replace(RECIPES["full"]["gpt2_iso" if kind == "gpt2" else "lstm_iso"], **sizes)


@pytest.mark.parametrize(("kind", "sizes", "chunk"), [
    ("gpt2", {"layers": 2, "width": 16, "heads": 2, "d": 3, "n": 5, "batch_size": 8}, 8192),
    ("gpt2", {"layers": 3, "width": 32, "heads": 4, "d": 4, "n": 8, "batch_size": 16}, 24),  # chunked pass
    ("lstm", {"layers": 2, "width": 32, "d": 4, "n": 8, "batch_size": 16}, 8192),
])
def test_fu23_memory_estimate_vs_measured(kind, sizes, chunk, monkeypatch):
    import empirical.probes as probes
    from empirical.papers.fu23.runners import memory_estimate
    from empirical.papers.fu23.training import build_model, icl_loss, task_of
    from empirical.probes import paper_protocol, similarity_study

    monkeypatch.setattr(probes, "INDUCED_CHUNK_SEQUENCES", chunk)
    torch.set_num_threads(1)
    r = _fu23_small(kind, **sizes)
    n_train, n_test = 4 * r.batch_size, r.batch_size
    est = memory_estimate(r, n_train, n_test)
    model = build_model(r)
    opt = torch.optim.Adam(model.parameters())
    batch = task_of(r).sample(r.batch_size, torch.Generator().manual_seed(0), dtype=torch.float32)

    def step() -> None:  # the first step: Adam's moments are made here
        loss = icl_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    _within(est["training_step"], peak_tensor_bytes(step)[0])
    model.eval()
    g = torch.Generator().manual_seed(1)
    tr = task_of(r).sample(n_train, g)
    te = type(task_of(r))(d=r.d, n=r.n, m=2 * r.d, cond=r.cond).sample(n_test, g)
    measured = peak_tensor_bytes(lambda: similarity_study(model, tr, te, paper_protocol(r.layers)))[0]
    _within(max(est["probe_features"], est["induced_weights"]), measured)


def test_he25_probe_memory_estimate_vs_measured():
    from empirical.papers.he25.runners import _pool, probe_memory_estimate
    from empirical.papers.he25.training import RECIPES, build_model, pca_batch, predict_pca

    torch.set_num_threads(1)
    for r, (n1, n2) in [(RECIPES["pca_d5_L4"], (120, 40)),
                        (dataclasses.replace(RECIPES["pca_d10_L4"], E=32, layers=2), (30, 60))]:
        model = build_model(r).eval()
        X1, X2 = (pca_batch(r, torch.Generator().manual_seed(s), n)["X64"] for s, n in ((0, n1), (1, n2)))

        def passes(model=model, r=r, X1=X1, X2=X2) -> list:
            return [_pool(predict_pca(model, r, X)[2]) for X in (X1, X2)]

        _within(probe_memory_estimate(r, n1, n2), peak_tensor_bytes(passes)[0])


@pytest.mark.parametrize(("d", "N", "k", "n"), [(3, 6, 2, 5000), (10, 40, 3, 2500), (4, 8, 1, 12000), (3, 6, 2, 8)])
def test_he25_train_set_memory_estimate_vs_measured(d, N, k, n):
    """The generalization sweep's fixed training set (1e5 instances at the full profile): the set plus one chunk."""
    from empirical.papers.he25.training import RECIPES, fixed_pca_set, train_set_bytes

    torch.set_num_threads(1)
    r = dataclasses.replace(RECIPES["pca_d5_L4"], d=d, N=N, k=k, train_instances=n)
    _within(train_set_bytes(r), peak_tensor_bytes(lambda: fixed_pca_set(r))[0])


def test_ryu24_hydrogen_memory_estimate_vs_measured():
    from empirical.papers.ryu24.neuralsvd.experiments import (
        NetConfig,
        TopModes,
        WeightAverage,
        make_loss_fn,
        polar_quadrature,
        psi_on_points,
    )
    from empirical.papers.ryu24.neuralsvd.operators import SchrodingerOperator, coulomb2d_potential
    from empirical.papers.ryu24.runners import CONFIG, HYDROGEN_DEPTH, hydrogen_memory_estimate

    torch.set_num_threads(1)
    for small in ({"L_train": 3, "width": 16, "fourier": (8, 0.1), "batch": 32, "polar": (60.0, 10, 8)},
                  {"L_train": 4, "width": 16, "fourier": (64, 0.1), "batch": 128, "polar": (60.0, 16, 16)}):
        c = {**CONFIG["hydrogen"]["full"], **small}
        est = hydrogen_memory_estimate(c)
        op = SchrodingerOperator(d=2, potential=coulomb2d_potential, shift=0.0, scale=c["scale"],
                                 sampler_std=c["sampler_std"])
        net = NetConfig(param="disjoint", width=c["width"], depth=HYDROGEN_DEPTH, fourier=c["fourier"]).build(
            2, c["L_train"], generator=torch.Generator().manual_seed(0), device="cpu")
        x = op.sample(torch.Generator().manual_seed(1), c["batch"], "cpu")
        loss_fn, opt = make_loss_fn(op, "sequential"), torch.optim.Adam(net.parameters())

        def step(net=net, x=x, loss_fn=loss_fn, opt=opt) -> WeightAverage:
            avg = WeightAverage(net, c["ema"])
            loss = loss_fn(net, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            avg.update()
            return avg

        _within(est["training_step"], peak_tensor_bytes(step)[0])
        pts, _ = polar_quadrature(*c["polar"])
        _within(est["evaluation"], peak_tensor_bytes(lambda net=net, pts=pts: psi_on_points(
            TopModes(net, 1), op, pts))[0])


@pytest.mark.parametrize(("regime", "sizes"), [
    ("fixed", {"embed": 16, "layers": 1, "heads": 2, "mlp": 32, "max_len": 9, "per_task": 4}),
    ("family", {"embed": 64, "layers": 3, "heads": 4, "mlp": 256, "max_len": 65, "per_task": 4}),
    ("heldout", {"embed": 32, "layers": 2, "heads": 4, "mlp": 128, "max_len": 33, "per_task": 8}),
])
def test_goulart24_meta_training_memory_estimate_vs_measured(regime, sizes):
    """One meta-training step (loss, backward, clipping, Adam's first step) of a small model of each regime."""
    from empirical.papers.goulart24.llm.meta_model import (
        init_meta_model,
        masked_mse,
        mixture_sampler,
        training_step_bytes,
    )
    from empirical.papers.goulart24.llm.suite import TASKS, meta_training

    torch.set_num_threads(1)
    mt = meta_training(regime, "full", sizes)
    model = init_meta_model(mt.model, 0).train()
    opt = torch.optim.Adam(model.parameters())
    batch = mixture_sampler(list(TASKS[regime]), mt.model, mt.per_task, torch.device("cpu"))(
        torch.Generator().manual_seed(0), 0)

    def step() -> None:
        loss = masked_mse(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    _within(training_step_bytes(mt.model, mt.per_task * len(TASKS[regime])), peak_tensor_bytes(step)[0])


@pytest.mark.parametrize(("name", "task", "P", "c", "sizes"), [
    ("mlp", ("pnorm", 5), 200, 16, {"mlp_hidden": 16}),
    ("mlp", ("nuclear", 5), 100, 8, {"mlp_hidden": 64}),
    ("cnn", ("topk", 5), 50, 8, {"cnn_channels": 4}),
    ("cnn", ("nuclear", 3), 100, 16, {"cnn_channels": 8}),
])
def test_goulart24_baseline_fit_memory_estimate_vs_measured(name, task, P, c, sizes):
    """A per-prompt network fitted on P prompts at once (3 Adam steps: the moments exist from the first)."""
    from empirical.papers.goulart24.llm.baselines import BaselineSettings, fit_bytes, predict_baseline
    from empirical.papers.goulart24.llm.tasks import MatrixFunctionTask

    torch.set_num_threads(1)
    t = MatrixFunctionTask(*task, k=2) if task[0] == "topk" else MatrixFunctionTask(*task)
    s = BaselineSettings(mlp_steps=3, cnn_steps=3, **sizes)
    Xc, Yc, xq, _ = t.sample(P, c + 1, torch.Generator().manual_seed(0)).split(c)
    measured = peak_tensor_bytes(lambda: predict_baseline(name, Xc, Yc, xq, g=torch.Generator().manual_seed(1),
                                                          settings=s))[0]
    _within(fit_bytes(name, P, c, t.d_in, t.k_out, s), measured)


def _full_estimates() -> dict[str, int]:
    """Every estimate at its claim's full-profile settings (bytes)."""
    from empirical.papers.fu23 import runners as fu23
    from empirical.papers.fu23.training import RECIPES as FU23
    from empirical.papers.he25 import runners as he25
    from empirical.papers.he25.training import FULL_RECIPES as HE25
    from empirical.papers.he25.training import ROLES as HE25_ROLES
    from empirical.papers.he25.training import train_set_bytes
    from empirical.papers.ryu24 import runners as ryu24

    train, test = fu23.STUDY_SIZES["full"]
    out = {f"fu23 {name} {phase}": b for name in ("gpt2_iso", "gpt2_ill", "lstm_iso")
           for phase, b in fu23.memory_estimate(FU23["full"][name], train, test).items()}
    sizes = {k: he25.FULL_SIZES[k](v) if k in he25.FULL_SIZES else v for k, v in he25.SIZES.items()}
    out["he25 probe features"] = he25.probe_memory_estimate(HE25[HE25_ROLES[he25.PROBE_MODEL][1]],
                                                             sizes["probe_train"], sizes["test_instances"])
    out["he25 training set"] = max(train_set_bytes(r) for r in HE25.values())
    # any evaluation pass of a full model is bounded by a feature pass (it keeps every layer's stream as well)
    prompts = max(sizes["test_instances"], sizes["harder_instances"])
    out["he25 evaluation pass"] = max(he25._feature_pass_bytes(r, prompts) for r in HE25.values())
    from empirical.papers.goulart24 import runners as goulart24
    from empirical.papers.goulart24.llm.suite import meta_training

    trainings = {r: meta_training(r, "full") for r in goulart24.REGIMES}
    out |= {f"goulart24 {k}": b for k, b in goulart24.memory_estimate(goulart24.bench_config("full"),
                                                                       trainings).items()}
    hydrogen = ryu24.hydrogen_memory_estimate(ryu24.CONFIG["hydrogen"]["full"])
    out |= {f"ryu24 hydrogen {k}": b for k, b in hydrogen.items()}
    return out


def test_full_profile_estimates_fit_the_device_budget():
    """At the full-profile settings every estimated peak fits one 80 GB GPU (DEVICE_BUDGET_REASON)."""
    over = {k: f"{b / GIB:.1f} GiB" for k, b in _full_estimates().items() if b > DEVICE_BUDGET_BYTES}
    assert not over, f"over the {DEVICE_BUDGET_BYTES / GIB:.0f} GiB budget: {over}"


def test_budget_check_catches_an_unchunked_pass(monkeypatch):
    """Negative control: fu23's held-out pass unchunked (all 1024·40 sequences at once, as before the chunking)
    is estimated far over the budget, so the check above can fail."""
    import empirical.probes as probes
    from empirical.papers.fu23.runners import STUDY_SIZES, memory_estimate
    from empirical.papers.fu23.training import RECIPES

    monkeypatch.setattr(probes, "INDUCED_CHUNK_SEQUENCES", 10**9)
    est = memory_estimate(RECIPES["full"]["gpt2_iso"], *STUDY_SIZES["full"])
    assert est["induced_weights"] > DEVICE_BUDGET_BYTES
