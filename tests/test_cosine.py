"""Spherical (cosine) k-means against a NumPy reference."""

import numpy as np
import pytest

from tfkmeans import KMeans


def spherical_kmeans(X, init, n_iter=100):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = init / np.linalg.norm(init, axis=1, keepdims=True)
    for _ in range(n_iter):
        labels = (U @ C.T).argmax(1)
        new = np.stack([U[labels == j].sum(0) for j in range(len(C))])
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        if np.allclose(new, C, atol=1e-14):
            break
        C = new
    labels = (U @ C.T).argmax(1)
    return C, labels, float(np.sum(1 - (U * C[labels]).sum(1)))


@pytest.fixture(scope="module")
def directions():
    rng = np.random.RandomState(0)
    axes = rng.randn(5, 10)
    X = np.vstack([a + 0.3 * rng.randn(400, 10) for a in axes])
    return X * rng.uniform(0.1, 50, (len(X), 1))  # scale must not matter


def test_lloyd_cosine_matches_numpy(directions):
    X = directions
    init = X[np.random.RandomState(1).choice(len(X), 5, replace=False)]
    ref_c, ref_labels, ref_cost = spherical_kmeans(X, init)
    km = KMeans(5, init=init, metric="cosine", tol=0).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref_c, atol=1e-8)
    np.testing.assert_array_equal(km.labels_, ref_labels)
    assert km.inertia_ == pytest.approx(ref_cost, rel=1e-8)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(km.transform(X), 1 - U @ ref_c.T, atol=1e-8)
    assert km.score(X) == pytest.approx(-ref_cost, rel=1e-8)


@pytest.mark.parametrize("algorithm", ["gradient", "minibatch"])
def test_other_algorithms_stay_on_the_sphere(directions, algorithm):
    X = directions.astype(np.float32)
    km = KMeans(5, metric="cosine", algorithm=algorithm, random_state=0, max_iter=200).fit(X)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0, rtol=1e-5)
    init = X[np.random.RandomState(1).choice(len(X), 5, replace=False)]
    _, _, best = spherical_kmeans(X.astype(np.float64), init)
    assert km.inertia_ <= best * 1.05


def test_zero_row_is_rejected(directions):
    X = directions.copy()
    X[7] = 0
    with pytest.raises(ValueError, match="row 7"):
        KMeans(5, metric="cosine").fit(X)
