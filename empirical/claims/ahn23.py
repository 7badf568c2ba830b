"""ahn23 claims — Ahn, Cheng, Daneshmand, Sra (NeurIPS 2023), fact sheet ``shared/papers/ahn23.md``."""

from __future__ import annotations

import torch

from empirical.claims.core import Check, Claim, Outcome, Paper, RunContext

PAPER = Paper(
    key="ahn23",
    title="Transformers learn to implement preconditioned gradient descent for in-context learning",
    authors="Kwangjun Ahn, Xiang Cheng, Hadi Daneshmand, Suvrit Sra",
    venue="NeurIPS 2023",
    arxiv="2306.00297",
)

#: Relative agreement of the construction with preconditioned GD. Both compute the same sums in another
#: order; over ≤ 6 layers with moderate preconditioners round-off stays below 1e-12 (fact sheet's bound).
LEMMA1_TOL = 1e-12


def _lemma1(ctx: RunContext) -> Outcome:
    from constructions.pgd import layerwise_deviation
    from theory.samplers import LinearRegressionTask, spd_with_condition

    g = ctx.generator("prompts")
    settings = ctx.pick(
        [(2, 3, 2, 1.0), (5, 20, 3, 10.0), (8, 4, 4, 100.0), (7, 30, 6, 30.0), (3, 50, 5, 1.0)],
        [(2, 3, 2, 1.0), (5, 20, 3, 10.0), (8, 4, 4, 100.0), (7, 30, 6, 30.0), (3, 50, 5, 1.0),
         (20, 40, 8, 100.0), (16, 8, 6, 10.0), (32, 64, 6, 1000.0)],
    )
    worst = {"symmetric": 0.0, "nonsymmetric": 0.0}
    paper_vs_transpose = 0.0
    paper_vs_A = float("inf")
    rows = []
    for d, n, L, cond in ctx.track(settings, "settings"):
        sigma = spd_with_condition(d, cond, g) if cond > 1 else torch.eye(d, dtype=torch.float64)
        prompt = LinearRegressionTask(d=d, n=n, m=2, sigma=sigma).sample(32, g)
        lmax = float(torch.linalg.eigvalsh(sigma)[-1])
        sym, nonsym = [], []
        for _ in range(L):
            G = torch.randn(d, d, generator=g, dtype=torch.float64)
            sym.append((G @ G.T) / (d * lmax * (1 + d / n)))  # PSD, moderate step
            nonsym.append(G / (torch.linalg.matrix_norm(G, 2) * lmax * (1 + d / n)))
        dev_sym = float(layerwise_deviation(prompt, sym).max())
        dev_non = float(layerwise_deviation(prompt, nonsym).max())
        # The paper's printed Q (top-left −A) applies Aᵀ: equal to GD with Aᵀ, not with A, when A ≠ Aᵀ.
        dev_paper_T = float(layerwise_deviation(prompt, nonsym, "paper", [A.T for A in nonsym]).max())
        dev_paper_A = float(layerwise_deviation(prompt, nonsym, "paper").max())
        worst["symmetric"] = max(worst["symmetric"], dev_sym)
        worst["nonsymmetric"] = max(worst["nonsymmetric"], dev_non)
        paper_vs_transpose = max(paper_vs_transpose, dev_paper_T)
        paper_vs_A = min(paper_vs_A, dev_paper_A)
        rows.append({"d": d, "n": n, "L": L, "cond": cond, "symmetric": dev_sym, "nonsymmetric": dev_non,
                     "paper_convention_vs_At": dev_paper_T, "paper_convention_vs_A": dev_paper_A})
    reason = "float64 round-off over <= 8 layers (fact sheet acceptance 1e-12)"
    return Outcome(
        checks=[
            Check("max_rel_dev_symmetric_A", worst["symmetric"], "<=", LEMMA1_TOL, reason),
            Check("max_rel_dev_nonsymmetric_A", worst["nonsymmetric"], "<=", LEMMA1_TOL, reason),
            Check("paper_convention_equals_GD_with_At", paper_vs_transpose, "<=", LEMMA1_TOL, reason),
            Check("paper_convention_differs_from_GD_with_A", paper_vs_A, ">=", 1e-3,
                  "a non-symmetric A must expose the transpose (differences are O(‖A − Aᵀ‖), far above round-off)"),
        ],
        measured={"per_setting": rows},
        notes=["Suite convention: Q_ℓ = −[[A_ℓᵀ, 0], [0, 0]] implements w ← w − A_ℓ∇R(w) for any A_ℓ; the "
               "paper's printed Q_ℓ = −[[A_ℓ, 0], [0, 0]] implements the step with A_ℓᵀ."],
        config={"settings (d, n, L, cond)": settings, "batch": 32},
    )


CLAIMS = [
    Claim(
        id="ahn23.lemma1",
        paper="ahn23",
        statement="L linear self-attention layers with P=[[0,0],[0,1]], Q=-[[A_l,0],[0,0]] implement L steps of "
        "preconditioned GD on the in-context least-squares loss.",
        source="Lemma 1 (Section 3)",
        evidence=("construction",),
        runner=_lemma1,
        acceptance="<= 1e-12 relative per layer in float64, symmetric and non-symmetric A; convention stated",
    ),
]
