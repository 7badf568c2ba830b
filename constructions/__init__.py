"""Hand-built transformer weights that implement reference algorithms (float64)."""
