"""ryu24: the claims the suite checks, one entry each: statement, where the paper makes it, evidence kinds,
acceptance in words (controls included) and the runner that measures it.

The runners, the experiments behind each verdict, are in :mod:`empirical.papers.ryu24.runners`.
"""

from __future__ import annotations

from empirical.papers.ryu24 import runners as run
from empirical.registry.core import Claim, Paper

PAPER = Paper(
    key="ryu24",
    title="Operator SVD with Neural Networks via Nested Low-Rank Approximation",
    authors="J. Jon Ryu, Xiangxiang Xu, H. S. Melihcan Erol, Yuheng Bu, Lizhong Zheng, Gregory W. Wornell",
    venue="ICML 2024",
    arxiv="2402.03655",
)


_COMMON = dict(paper="ryu24")


CLAIMS = [
    Claim(
        id="ryu24.lora_subspace_only",
        statement="The un-nested LoRA objective fixes only the top-L subspace (invariant under (F A, G A⁻ᵀ)); "
        "training it recovers the subspace but not the ordered singular vectors.",
        source="Sec. 3 (LoRA objective and the motivation of nesting; fact sheet §1)",
        evidence=("numerical", "trained"),
        runner=run.subspace_only,
        acceptance="invariance at round-off; subspace sine ≤ 1e-2; some |cos| ≤ 0.99; controls: gauged exact optimum "
        "passes, an ordered un-nested solution fails",
        **_COMMON,
    ),
    Claim(
        id="ryu24.nested_optimum_is_truncated_svd",
        statement="Joint and sequential nesting have the truncated SVD (σ_l, u_l, v_l in order) as their optimum "
        "/ fixed point, and training recovers it.",
        source="Sec. 3 (joint and sequential nesting; fact sheet §1)",
        evidence=("numerical", "trained"),
        runner=run.nested_optimum,
        acceptance="closed form vs the construction at 1e-10; L-BFGS at 1e-6; trained σ̂ and 1 − |cos| ≤ 1e-3; "
        "controls: exact optimum in float32 passes, untrained tables fail",
        **_COMMON,
    ),
    Claim(
        id="ryu24.kernel_vs_nystrom",
        statement="NeuralSVD learns the eigenpairs of a Gaussian-kernel integral operator, matching the dense / "
        "Nyström reference, including at points outside the sample.",
        source="Sec. 1 (parametric advantage), App. E",
        evidence=("trained",),
        runner=run.kernel,
        acceptance="reference vs scipy eigsh at 1e-10; eigenvalues within 3.5% (quick; 5% full), |cos| ≥ 0.98, "
        "held-out relative L² ≤ 0.2; controls: Nyström eigenfunctions pass, an untrained network fails",
        **_COMMON,
    ),
    Claim(
        id="ryu24.oscillator",
        statement="NeuralSVD recovers the 1-D and 2-D harmonic-oscillator eigenvalues 2|n| + d in order, with "
        "orthogonal eigenfunctions spanning the Hermite eigenspaces.",
        source="Sec. 5 (Schrödinger operators), App. E",
        evidence=("trained",),
        runner=run.oscillator,
        acceptance="1-D L = 4 ≤ 3e-3, 2-D L = 10 ≤ 5e-3 relative eigenvalue error (fact sheet budgets); controls: "
        "exact eigenfunctions pass, untrained networks fail",
        **_COMMON,
    ),
    Claim(
        id="ryu24.vs_neuralef",
        statement="At equal budget NeuralSVD is more accurate than NeuralEF.",
        source="Sec. 5, hydrogen table",
        evidence=("trained",),
        runner=run.vs_neuralef,
        acceptance="paired over 5 seeds: the t interval of mean log10(error ratio NeuralSVD/NeuralEF) lies below 0; "
        "controls: a known ordering passes, the reversed one fails",
        **_COMMON,
    ),
    Claim(
        id="ryu24.seq_vs_joint",
        statement="Sequential nesting is at least as accurate as joint nesting at the same memory; joint vs "
        "disjoint parameterisation trades parameters for accuracy.",
        source="Sec. 3.2, Sec. 5",
        evidence=("trained", "benchmark"),
        runner=run.nesting_param,
        acceptance="paired over 5 seeds: the t interval of mean log10(error ratio sequential/joint) ≤ log10(1.2); "
        "activation memory ratio ≤ 1.05; parameters reported; controls: a known ordering passes, the reversed one "
        "fails",
        **_COMMON,
    ),
    Claim(
        id="ryu24.hydrogen",
        statement="NeuralSVD recovers the 2-D hydrogen eigenvalues 1/(2n+1)² (degeneracy 2n+1).",
        source="Sec. 5, Fig. 2 and table",
        evidence=("trained",),
        runner=run.hydrogen,
        acceptance="quick: smoke test, mean relative error ≤ 10% at L = 4; full profile on CUDA (≈ 2500 s, estimate): "
        "≤ 5% at L = 16; controls: exact eigenfunctions pass, an untrained network fails",
        **_COMMON,
    ),
]

__all__ = ["PAPER", "CLAIMS"]
