"""goulart24: Goulart, Papalexakis — Can a large language model learn matrix functions in context?.

Claims in :mod:`.claims`, their runners in :mod:`.runners`, figures in :mod:`.plots`.
"""
