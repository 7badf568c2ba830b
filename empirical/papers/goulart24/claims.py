"""goulart24: the claims the suite checks, one entry each: statement, where the paper makes it, evidence kinds,
acceptance in words (controls included) and the runner that measures it.

The runners, the experiments behind each verdict, are in :mod:`empirical.papers.goulart24.runners`.
"""

from __future__ import annotations

from empirical.papers.goulart24 import runners as run
from empirical.registry.core import Claim, Paper

PAPER = Paper(
    key="goulart24",
    title="Can a Large Language Model Learn Matrix Functions In Context?",
    authors="Paimon Goulart, Evangelos E. Papalexakis",
    venue="arXiv preprint",
    arxiv="2411.15675",
)


def _claim(name: str, statement: str, source: str, evidence: tuple[str, ...], runner, acceptance: str) -> Claim:
    return Claim(id=f"goulart24.{name}", paper="goulart24", statement=statement, source=source, evidence=evidence,
                 runner=runner, acceptance=acceptance)


CLAIMS = [
    _claim("scale_homogeneity", "Every target is positively 1-homogeneous, so errors convert exactly between "
           "entry scales.", "derived", ("numerical",), run.scale_homogeneity, "relative deviation <= 1e-12"),
    _claim("target_concentration", "Target spread relative to the mean falls with n (nuclear CV 0.28 -> 0.013 "
           "from 2x2 to 40x40).", "derived (random-matrix theory)", ("numerical",), run.target_concentration,
           "means within 1 %, stds within 3 % of the fact sheet; quarter-circle law within 2 %"),
    _claim("mean_predictor_mse", "The context-mean predictor has nMSE = 1 + 1/c.", "derived", ("numerical",),
           run.mean_predictor_mse, "|z| <= 3.92 (the sheet's 3 SE held by the family of 30 comparisons, Šidák) for c "
           "in {1,2,4,8,32} on every fixed-regime task; controls: Gaussian targets pass, an off-by-one mean fails"),
    _claim("simple_task_nn_competitive", "On the vector p-norm (n=5, p=0.5) a per-prompt 2-layer NN is at least "
           "comparable to the in-context learner.", "abstract", ("benchmark", "trained"), run.simple_task,
           "95 % interval of nMSE_NN / nMSE_learner below 1.25 at large c; learner meta-trained without p near 0.5"),
    _claim("complex_tasks_icl_beats_baselines", "On the nuclear norm and top-k singular values the in-context "
           "learner beats per-prompt SGD linear regression, the 2-layer NN and the CNN at every c.", "abstract",
           ("benchmark", "trained"), run.complex_tasks,
           "paired 95 % CI of nMSE_learner − nMSE_baseline below 0 at every "
           "c; learner never met the nuclear norm or the top window of the spectrum"),
    _claim("icl_beats_mean_predictor", "The in-context learner beats the context mean.", "derived (no such "
           "baseline in the paper)", ("benchmark", "trained"), run.beats_mean, "paired CI below 0 for c >= 4 on the "
           "paper's functions, unseen in meta-training"),
    _claim("fast_convergence_in_examples", "The learner's error settles after few examples.", "abstract",
           ("benchmark", "trained"), run.fast_convergence, "falls (c_first -> 8) and levels off (|late slope| < early "
           "slope), each with a 95 % interval excluding 0; the sheet's ratio nMSE(8)/nMSE(c_max) reported"),
    _claim("baselines_overfit_few_examples", "Per-prompt SGD linear regression and the NN are worse than the "
           "mean predictor at small c on matrix tasks.", "abstract ('overfitting seen in classical models')",
           ("benchmark",), run.overfit, "paired CI of nMSE_baseline − nMSE_mean above 0 for 2 <= c <= 8"),
    _claim("scales_with_matrix_size", "The learner stays accurate as the matrix grows.", "abstract",
           ("benchmark", "trained"), run.scaling, "CI of nMSE(n=5)/nMSE(n=2) below 1.5 and paired CI below the mean "
           "predictor for all n"),
    _claim("function_family_icl", "In the function-family regime a meta-trained transformer's error falls with c "
           "and beats the per-prompt baselines.", "derived (genuine ICL test)", ("trained", "benchmark"),
           run.function_family, "CI of nMSE(c_max) − nMSE(2) below 0, and claim 5's rule"),
    _claim("local_llm_in_context", "SmolLM2-135M-Instruct, prompted in the paper's format on tiny instances, "
           "judged by the rules of claims 4-7.", "the paper's LLM claims at tiny scale", ("benchmark",), run.local_llm,
           "claims 4-7's rules on grammar-constrained greedy answers; malformed answers counted and scored as the "
           "context mean; controls as stand-in backends: noisy oracle (pass) / ridgeless (fail) for claims 5-7, NN "
           "refitted (pass) / noisy oracle (fail) for claim 4; skipped without the llm extra"),
    _claim("paper_scale_gemini", "The paper's own arm (Gemini 1.5 Flash, top-3 σ of 40x40, 50 examples).",
           "abstract / authors' scripts", ("benchmark",), run.paper_scale_gemini, "skipped (remote API)"),
]

__all__ = ["PAPER", "CLAIMS"]
