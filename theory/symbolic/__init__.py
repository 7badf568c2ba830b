"""Symbolic derivations (sympy), one module per paper, sharing :mod:`theory.symbolic.moments`."""
