"""ahn23: Ahn, Cheng, Daneshmand, Sra — Transformers learn to implement preconditioned GD for ICL.

Claims in :mod:`.claims`, their runners in :mod:`.runners`, figures in :mod:`.plots`.
"""
