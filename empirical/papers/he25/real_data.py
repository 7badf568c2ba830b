"""Real-image PCA instances for ``he25.real_data_transfer`` (fact sheet ``shared/papers/he25.md``, claim 18).

The precursor evaluates models pre-trained on synthetic Gaussians on MNIST / Fashion-MNIST (per its reviews),
which need downloads. The stand-in, as the sheet says, is scikit-learn's bundled 8 × 8 digits
(``sklearn.datasets.load_digits``: 1797 images, 64 pixels, shipped with the package, no download).

An instance of the he25 PCA task is N tokens x_j ∈ R^d (:class:`theory.spectral.PCAInstances`). Real instances:

1. centre the images (pixel means over the whole set);
2. project the 64 pixels onto d orthonormal directions drawn once per run (a Haar-random 64 × d frame):
   the projected data keep the images' strongly uneven spectrum, at the model's input dimension;
3. rescale by one global constant so that the mean eigenvalue of the projected second moment equals that of
   the synthetic training distribution (eigenvalues U[0.1, 4.1], mean 2.1): the comparison is then about the
   *shape* of real spectra and directions, not their overall scale;
4. each instance is N images drawn without replacement; the targets are the eigenvectors of the instance's own
   second moment XᵀX/N, exactly as for synthetic instances.
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.samplers import random_rotation
from theory.spectral import PCAInstances
from theory.validation import check_positive_int

__all__ = ["SYNTHETIC_MEAN_EIGENVALUE", "load_digit_images", "real_pca_instances"]

#: Mean of U[0.1, 4.1], the population eigenvalues of :func:`theory.spectral.sample_pca_instances`.
SYNTHETIC_MEAN_EIGENVALUE = 2.1


def load_digit_images() -> Tensor:
    """scikit-learn's bundled digits as (1797, 64) float64 pixel rows.

    Raises:
        ImportError: scikit-learn is not installed (``pip install 'icl-verify[data]'``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("scikit-learn is not installed: pip install 'icl-verify[data]' (bundled digits, "
                          "no download)") from e
    return torch.as_tensor(load_digits().data, dtype=torch.float64)


def real_pca_instances(images: Tensor, d: int, N: int, batch: int, generator: torch.Generator) -> PCAInstances:
    """PCA instances of N real images each, projected to d dimensions (steps 1–4 of the module doc).

    Args:
        images: (M, p) pixel rows, M >= N, p >= d, finite and not all equal.
        generator: draws the projection frame and the images of each instance.

    Returns:
        PCAInstances with X (batch, N, d); ``population`` is the spectrum of the whole projected set.
    """
    check_positive_int("d", d)
    check_positive_int("N", N)
    check_positive_int("batch", batch)
    if not isinstance(images, Tensor) or images.ndim != 2:
        raise ValueError(f"images: expected a 2-D tensor (M, p), got {getattr(images, 'shape', type(images))}")
    M, p = images.shape
    if M < N or p < d:
        raise ValueError(f"images: need at least N = {N} rows and d = {d} columns, got shape ({M}, {p})")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images: contains NaN or inf")
    Z = images.to(torch.float64) - images.to(torch.float64).mean(0)
    Z = Z @ random_rotation(p, generator)[:, :d]  # (M, d)
    second_moment = Z.T @ Z / M
    mean_eig = float(torch.trace(second_moment)) / d
    if not mean_eig > 0:
        raise ValueError("images: every row is the same, the projected data have no variance")
    Z = Z * (SYNTHETIC_MEAN_EIGENVALUE / mean_eig) ** 0.5
    population = torch.linalg.eigvalsh(Z.T @ Z / M).flip(-1)
    idx = torch.stack([torch.randperm(M, generator=generator)[:N] for _ in range(batch)])
    return PCAInstances(Z[idx], population.expand(batch, d).clone())
