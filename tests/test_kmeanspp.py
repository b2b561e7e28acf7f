"""Greedy k-means++ in one device call picks scikit-learn's rows from the same seed."""

import numpy as np
import pytest
from sklearn.cluster import kmeans_plusplus
from sklearn.datasets import make_blobs

from tfkmeans import kernels, kmeanspp
from tfkmeans.initialization import greedy_kmeans_plusplus, greedy_steps_by_pass
from tfkmeans.sources import InMemory


# One plain-graph call below kernels.XLA_MIN_ROWS (its passes XLA-compiled from
# kmeanspp.COMPILED_MIN_VALUES of work: 12,000 x 40, k=20); compiled passes above it.
@pytest.mark.parametrize(
    ("n", "d", "k", "weighted"),
    [
        (2000, 4, 5, False),
        (3000, 40, 13, True),
        (12_000, 40, 20, True),
        (kernels.XLA_MIN_ROWS + 999, 3, 6, True),
    ],
)
def test_device_kmeanspp_picks_sklearns_rows(n, d, k, weighted):
    X, _ = make_blobs(n, n_features=d, centers=k, cluster_std=5.0, random_state=1)
    weights = np.random.RandomState(3).uniform(0.5, 2.0, n) if weighted else None
    source = InMemory(X, weights)
    centred = X - source.origin  # scikit-learn's KMeans centres X before its init too
    _, expected = kmeans_plusplus(centred, k, sample_weight=weights, random_state=0)

    draws = np.random.RandomState(0)
    first = int(draws.choice(n, p=source.sample_weight / source.sample_weight.sum()))
    uniforms = draws.uniform(size=(k - 1, 2 + int(np.log(k))))
    np.testing.assert_array_equal(source.kmeanspp_steps(first, uniforms), expected)
    np.testing.assert_array_equal(greedy_steps_by_pass(source, first, uniforms), expected)

    centers = greedy_kmeans_plusplus(source, k, np.random.RandomState(0))
    np.testing.assert_allclose(centers, centred[expected], rtol=0, atol=1e-12)


def test_compiled_steps_in_parts_pick_sklearns_rows(monkeypatch):
    # The compiled passes cut in three concurrent parts (as pass_layout cuts large ones).
    monkeypatch.setattr(kmeanspp, "pass_layout", lambda n, m, d, chunk: (512, (0, 1500, 3000, n)))
    X, _ = make_blobs(4100, n_features=5, centers=7, cluster_std=5.0, random_state=2)
    source = InMemory(X)
    _, expected = kmeans_plusplus(X - source.origin, 7, random_state=0)
    draws = np.random.RandomState(0)
    first = int(draws.choice(len(X), p=np.full(len(X), 1 / len(X))))
    uniforms = draws.uniform(size=(6, 2 + int(np.log(7))))
    args = (
        source.rows,
        source._exact_weights(),
        source._row_sqnorms(),
        source._tensor(source.origin),
    )
    positions = kmeanspp.compiled_positions(*args, first, uniforms)
    np.testing.assert_array_equal(positions, expected)
