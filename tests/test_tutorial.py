"""The tutorial's functions against NumPy brute force."""

import numpy as np
import pytest
import tensorflow as tf

import tfkmeans


def brute_labels(samples, centroids):
    d = (np.asarray(samples, np.float64)[:, None] - np.asarray(centroids, np.float64)[None]) ** 2
    return d.sum(-1).argmin(1)


def test_create_samples_is_seeded_and_shaped():
    centroids, samples = tfkmeans.create_samples(3, 500, 2, 70, 700)
    again_c, again_s = tfkmeans.create_samples(3, 500, 2, 70, 700)
    assert isinstance(samples, tf.Tensor) and samples.shape == (1500, 2)
    assert centroids.shape == (3, 2)
    np.testing.assert_array_equal(samples.numpy(), again_s.numpy())
    np.testing.assert_array_equal(centroids.numpy(), again_c.numpy())
    assert np.all(np.abs(centroids.numpy()) <= 35)
    # Each block of 500 is a blob around its centroid with stddev 5.
    for i in range(3):
        block = samples.numpy()[i * 500 : (i + 1) * 500]
        np.testing.assert_allclose(block.mean(0), centroids.numpy()[i], atol=1.0)
        np.testing.assert_allclose(block.std(0), 5.0, rtol=0.15)
    other = tfkmeans.create_samples(3, 500, 2, 70, 701)[1]
    assert not np.array_equal(other.numpy(), samples.numpy())


def test_choose_random_centroids_is_seeded_and_distinct():
    _, samples = tfkmeans.create_samples(3, 100, 2, 70, 1)
    a = tfkmeans.choose_random_centroids(samples, 5, seed=3).numpy()
    b = tfkmeans.choose_random_centroids(samples.numpy(), 5, seed=3).numpy()
    np.testing.assert_array_equal(a, b)
    rows = {tuple(r) for r in samples.numpy()}
    assert all(tuple(r) in rows for r in a) and len({tuple(r) for r in a}) == 5
    with pytest.raises(ValueError, match="n_clusters"):
        tfkmeans.choose_random_centroids(samples, 301)


def test_assign_and_update_match_numpy():
    rng = np.random.RandomState(0)
    samples = rng.randn(5000, 7) * 3 + 100
    centroids = samples[rng.choice(5000, 9, replace=False)]
    nearest = tfkmeans.assign_to_nearest(samples, tf.constant(centroids))
    np.testing.assert_array_equal(nearest.numpy(), brute_labels(samples, centroids))
    updated = tfkmeans.update_centroids(samples, nearest, 9).numpy()
    expected = np.stack([samples[nearest.numpy() == j].mean(0) for j in range(9)])
    np.testing.assert_allclose(updated, expected, rtol=1e-12)


def test_update_centroids_never_returns_nan():
    samples = np.array([[0.0, 0.0], [1.0, 1.0]])
    labels = np.array([0, 0])
    with pytest.raises(ValueError, match=r"clusters \[1\] have no samples"):
        tfkmeans.update_centroids(samples, labels, 2)
    previous = np.array([[9.0, 9.0], [5.0, 5.0]])
    kept = tfkmeans.update_centroids(samples, labels, 2, previous=previous).numpy()
    np.testing.assert_allclose(kept, [[0.5, 0.5], [5.0, 5.0]])


def test_tutorial_functions_reject_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        tfkmeans.assign_to_nearest(np.zeros(3), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="features"):
        tfkmeans.assign_to_nearest(np.zeros((3, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        tfkmeans.assign_to_nearest(np.full((3, 2), np.nan), np.zeros((1, 2)))


def test_plot_clusters_writes_png_headless(tmp_path):
    centroids, samples = tfkmeans.create_samples(3, 50, 2, 70, 700)
    path = tmp_path / "clusters.png"
    tfkmeans.plot_clusters(samples, centroids, 50, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
