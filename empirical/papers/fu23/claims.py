"""fu23: the claims the suite checks, one entry each: statement, where the paper makes it, evidence kinds,
acceptance in words (controls included) and the runner that measures it.

The runners, the experiments behind each verdict, are in :mod:`empirical.papers.fu23.runners`.
"""

from __future__ import annotations

from empirical.papers.fu23 import runners as run
from empirical.registry.core import Claim, Paper

PAPER = Paper(
    key="fu23",
    title="Transformers Learn to Achieve Second-Order Convergence Rates for In-Context Linear Regression "
    "(v1: Transformers Learn Higher-Order Optimization Methods for In-Context Learning)",
    authors="Deqing Fu, Tian-Qi Chen, Robin Jia, Vatsal Sharan",
    venue="NeurIPS 2024",
    arxiv="2310.17086",
)


CLAIMS = [
    Claim("fu23.newton_recursion", "fu23", "Iterative Newton's error obeys I − M_{k+1}S = (I − M_kS)² (quadratic "
          "convergence once ‖I − M_kS‖ < 1).", "§3 (Iterative Newton's method)", ("symbolic", "numerical"),
          run.newton_recursion, "sympy identity on symbolic matrices; ‖E_{k+1}‖ = ‖E_k‖² to round-off"),
    Claim("fu23.newton_alpha_boundary", "fu23", "Newton–Schulz converges only for 0 < α < 2/λ_max(S)²; the value "
          "2/‖SSᵀ‖₂ is on the boundary and does not contract the top direction.", "§3 initialisation (derived)",
          ("numerical",), run.alpha_boundary, "rejection + float64 demonstration; safe α converges"),
    Claim("fu23.rates", "fu23", "Steps to relative error ε: Newton ≈ log κ + log log 1/ε, GD with the best fixed step "
          "≈ κ log 1/ε.", "§3 / §4 (convergence rates)", ("benchmark",), run.rates,
          "fitted coefficients within stated bands of theory over ε ∈ 1e-2..1e-12, κ ∈ 1..1e4"),
    Claim("fu23.paper_construction_corrected", "fu23", "A transformer implements k Newton iterations with k + 8 "
          "layers (3 set-up, k Newton, 5 read-out), built as in the paper's appendix with the paired heads' second "
          "value matrix negated (V₂ = −V₁).", "Theorem 5.1 and its proof (Appendix B)", ("construction",),
          run.paper_construction_corrected, "k + 8 layers, all with nonzero weights; every layer <= 1e-10 relative "
          "from Newton's iterates in float64, k <= 8; α = 2/‖SSᵀ‖₂ stalls exactly as the reference"),
    Claim("fu23.paper_construction_as_printed", "fu23", "The appendix construction of Theorem 5.1 with its weights "
          "as printed (paired heads share one value matrix) implements k Newton iterations in k + 8 layers.",
          "Theorem 5.1 and its proof (Appendix B)", ("construction",), run.paper_construction_as_printed,
          "every layer <= 1e-10 relative from Newton's iterates (expected to fail: each pair computes |a|, not a)"),
    Claim("fu23.compact_construction", "fu23", "The suite's own construction implements k Newton iterations in "
          "k + 3 layers of ReLU attention (within the paper's k + 8; v3: k + O(1)).", "§5 Theorem (depth bound)",
          ("construction",), run.compact_construction,
          "layer count = k + 3, no zero-weight layer; per-step agreement <= 1e-10 relative in float64, k <= 8"),
    Claim("fu23.layers_track_newton", "fu23", "Successive transformer layers match successive Newton iterations, "
          "roughly linearly in depth (about 3 per layer).", "§4, Fig. (similarity heatmaps)", ("trained",),
          run.layers_track_newton,
          "best-matching Newton step (paper SimE, grid 1 … 23) vs layer: slope > 2.5 steps per "
          "layer and R² >= 0.8, each on its 95% bootstrap interval over held-out prompts; controls: Newton at 3 steps "
          "per layer (positive), GD doubling its steps per layer (negative)"),
    Claim("fu23.gd_needs_exponentially_more", "fu23", "Matching a layer needs exponentially more GD steps than "
          "Newton steps.", "§4", ("trained",), run.gd_exponential,
          "log₂ of the best-matching GD step (step 0.01, grid 2^0 … 2^12) rises over the deeper half of the layers "
          "faster than any linear schedule allows (95% bootstrap interval); controls: Newton at 3 steps per layer "
          "(positive), GD one step per layer (negative)"),
    Claim("fu23.ill_conditioned", "fu23", "On ill-conditioned data (cond Σ = 100) the transformer still tracks "
          "Newton, where GD struggles.", "§4 (ill-conditioned)", ("trained",), run.ill_conditioned,
          "as layers_track_newton at cond 100, and GD (step 0.01) needs more than 2^(1.5·L) steps to match the last "
          "layer (95% bootstrap intervals); controls: Newton at 3 steps per layer (positive), GD one step per layer "
          "(negative)"),
    Claim("fu23.lstm_not_newton", "fu23", "An LSTM trained the same way does not behave like Newton.",
          "§4 (LSTM), Table 1", ("trained",), run.lstm,
          "the LSTM's last layer is more similar (SimE) to one-pass online GD than to any Newton step (95% bootstrap "
          "interval of the difference above 0); controls: online GD and the zero predictor (positive), Newton at 3 "
          "steps per layer (negative)"),
]

__all__ = ["PAPER", "CLAIMS"]
