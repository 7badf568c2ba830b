"""he25: He, Cao, Chen, Wu, Fan, Liu — Learning spectral methods by transformers.

Claims in :mod:`.claims`, their runners in :mod:`.runners`, figures in :mod:`.plots`.
"""
