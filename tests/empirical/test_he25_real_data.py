"""Real-image PCA instances (he25.real_data_transfer): sampling, scale, determinism, errors."""

from __future__ import annotations

import pytest
import torch

from empirical.papers.he25.real_data import SYNTHETIC_MEAN_EIGENVALUE, load_digit_images, real_pca_instances


def _images(n=200, p=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, p, generator=g, dtype=torch.float64) * torch.linspace(3, 0.1, p, dtype=torch.float64) + 2


def test_instances_shape_and_distinct_rows():
    inst = real_pca_instances(_images(), d=5, N=20, batch=7, generator=torch.Generator().manual_seed(1))
    assert inst.X.shape == (7, 20, 5) and inst.eigvecs.shape == (7, 5, 5) and inst.population.shape == (7, 5)
    for X in inst.X:  # N images drawn without replacement
        assert torch.unique(X, dim=0).shape[0] == 20


def test_same_seed_same_instances_and_overall_scale_is_removed():
    a = real_pca_instances(_images(), 4, 10, 3, torch.Generator().manual_seed(5))
    b = real_pca_instances(_images(), 4, 10, 3, torch.Generator().manual_seed(5))
    c = real_pca_instances(7.0 * _images(), 4, 10, 3, torch.Generator().manual_seed(5))
    assert torch.equal(a.X, b.X)
    torch.testing.assert_close(a.X, c.X, rtol=1e-12, atol=1e-12)  # a global pixel scale cannot matter


def test_expected_instance_second_moment_has_the_synthetic_mean_eigenvalue():
    # rows are drawn uniformly, so E[tr(XᵀX/N)]/d = tr(ZᵀZ/M)/d = 2.1 by the rescaling; the average over 4000
    # instances has a relative standard error well below 1 % here, so 3 % is a safe bound
    inst = real_pca_instances(_images(), d=6, N=12, batch=4000, generator=torch.Generator().manual_seed(2))
    mean_eig = inst.S.diagonal(dim1=-2, dim2=-1).sum(-1).mean() / 6
    assert abs(float(mean_eig) / SYNTHETIC_MEAN_EIGENVALUE - 1) < 0.03
    assert float(inst.population[0].sum()) / 6 == pytest.approx(SYNTHETIC_MEAN_EIGENVALUE, rel=1e-12)


@pytest.mark.parametrize(("images", "match"), [
    (torch.ones(3), "images: expected a 2-D"),
    (torch.zeros(5, 16, dtype=torch.float64), "images: need at least N"),
    (torch.ones(50, 16, dtype=torch.float64), "no variance"),
    (torch.full((50, 16), float("nan"), dtype=torch.float64), "NaN"),
    (torch.zeros(50, 3, dtype=torch.float64), "images: need at least N = 10 rows and d = 4 columns"),
])
def test_bad_images_are_rejected(images, match):
    with pytest.raises(ValueError, match=match):
        real_pca_instances(images, 4, 10, 2, torch.Generator().manual_seed(0))


def test_digits_load_when_scikit_learn_is_installed():
    pytest.importorskip("sklearn")
    X = load_digit_images()
    assert X.shape == (1797, 64) and X.dtype == torch.float64 and float(X.max()) == 16.0
