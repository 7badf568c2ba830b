"""ryu24: Ryu, Xu, Erol, Bu, Zheng, Wornell — Operator SVD with neural networks via nested LoRA.

Claims in :mod:`.claims`, their runners in :mod:`.runners`, figures in :mod:`.plots`.
"""
