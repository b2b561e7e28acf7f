"""The TensorFlow kernels against NumPy brute force."""

import numpy as np
import pytest
import tensorflow as tf

from tfkmeans import kernels


def brute(rows, weights, origin, centers):
    x = rows.astype(np.float64) - origin
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    labels = d2.argmin(1)
    k = len(centers)
    sums = np.stack([(x[labels == j] * weights[labels == j, None]).sum(0) for j in range(k)])
    totals = np.bincount(labels, weights=weights, minlength=k)
    return labels, d2.min(1), sums, totals, float(d2.min(1) @ weights)


@pytest.mark.parametrize(
    ("n", "chunk"),
    [(1000, 128), (1000, 4096), (kernels.XLA_MIN_ROWS + 1234, 8192), (kernels.XLA_MIN_ROWS, 4096)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_stats_and_assign_match_numpy(n, chunk, dtype):
    rng = np.random.RandomState(0)
    rows = (rng.randn(n, 3) * 4 + 1000).astype(dtype)
    weights = rng.uniform(0.5, 2.0, n)
    origin = rows.astype(np.float64).mean(0).astype(dtype).astype(np.float64)
    centers = rows[rng.choice(n, 5, replace=False)].astype(np.float64) - origin
    labels, dist, sums, totals, inertia = brute(rows, weights, origin, centers)
    t = lambda a: tf.constant(np.asarray(a, dtype))  # noqa: E731
    stats = kernels.lloyd_stats(t(rows), t(weights), t(origin), t(centers), chunk)
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(stats.weights.numpy(), totals, rtol=rtol)
    np.testing.assert_allclose(stats.sums.numpy(), sums, rtol=rtol, atol=rtol * np.abs(sums).max())
    assert float(stats.inertia) == pytest.approx(inertia, rel=1e-3 if dtype == np.float32 else 1e-9)
    got_labels, got_dist = kernels.assign(t(rows), t(origin), t(centers), chunk)
    assert np.mean(got_labels.numpy() == labels) > 0.9999
    np.testing.assert_allclose(got_dist.numpy(), dist, rtol=rtol * 10, atol=1e-3)


def test_sq_distances_match_numpy():
    rng = np.random.RandomState(1)
    rows = rng.randn(777, 4)
    centers = rng.randn(6, 4)
    got = kernels.sq_distances(
        tf.constant(rows), tf.zeros(4, tf.float64), tf.constant(centers), 100
    )
    expected = ((rows[:, None] - centers[None]) ** 2).sum(-1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
