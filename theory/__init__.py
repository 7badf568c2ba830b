"""Exact statements and float64 reference algorithms (no nn.Module lives here).

Imports go one way: ``theory`` <- ``constructions`` <- ``empirical``.
"""

from theory.prompts import PromptBatch

__all__ = ["PromptBatch"]
