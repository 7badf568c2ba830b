"""Trained models, probes, the claims registry, artifacts and the CLI; one folder per paper in ``papers/``.

Reproducibility: Intel MKL (torch's BLAS and LAPACK on x86) picks code paths by the memory alignment of its
arguments, so the same float64 least-squares fit gave two different last bits on alternate runs of one commit
(fu23.ill_conditioned's induced-weight similarities). ``MKL_CBWR=AUTO,STRICT`` (conditional numerical
reproducibility, alignment-independent) makes a run give the same numbers every time. It is set here, before
the first MKL call of a process that imports the suite, unless the user set it; runs record it in their JSON.
"""

import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
