"""Trainable models. Each takes ``device`` and ``dtype`` arguments; none calls ``.cuda()``."""
