"""Hand-built transformer weights that implement reference algorithms (float64).

Every construction is a program of one representation (:mod:`constructions.residual`: named residual slots,
heads, MLPs, layers), run by one evaluator (:mod:`constructions.evaluate`, fast or literal, traced per layer),
sized from its weights (:mod:`constructions.structure`) and exportable as an ``nn.Module``
(:mod:`constructions.export`).
"""
