"""Float64 reference algorithms: the ground truth that constructions and probes compare against."""

from theory.algorithms.gd import gd, gd_best_step, least_squares_gradient, preconditioned_gd
from theory.algorithms.newton import newton_schulz, newton_schulz_default_alpha, newton_solution_path
from theory.algorithms.power import deflate, power_method, top_k_eig
from theory.algorithms.ridge import ols, ridge
from theory.algorithms.trajectory import Trajectory

__all__ = [
    "Trajectory",
    "gd",
    "gd_best_step",
    "preconditioned_gd",
    "least_squares_gradient",
    "newton_schulz",
    "newton_schulz_default_alpha",
    "newton_solution_path",
    "power_method",
    "deflate",
    "top_k_eig",
    "ols",
    "ridge",
]
