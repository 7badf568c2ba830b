"""fu23: Fu, Chen, Jia, Sharan — Transformers learn higher-order optimization methods for ICL.

Claims in :mod:`.claims`, their runners in :mod:`.runners`, figures in :mod:`.plots`.
"""
