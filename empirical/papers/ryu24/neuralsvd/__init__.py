"""NeuralSVD (ryu24): nested low-rank approximation that learns ordered singular functions.

* :mod:`.objective` — the LoRA objective with joint / sequential nesting, unbiased minibatch estimators,
  and the NeuralEF baseline;
* :mod:`.models` — function tables, joint (shared) and disjoint (one per mode) networks, Fourier features;
* :mod:`.operators` — a finite matrix, a Gaussian-kernel integral operator on samples, and a shifted,
  negated Schrödinger operator applied with autograd (or the exact forward Laplacian);
* :mod:`.experiments` — training with :func:`empirical.train.train` (optionally with weight averaging),
  float64 evaluation in memory-bounded chunks, stand-ins for known answers (controls), memory helpers;
* :mod:`.compare` — two methods over paired seeds: the mean log error ratio and its t interval.

Closed forms and references live in :mod:`theory.low_rank` and :mod:`theory.operators_reference`.
"""
