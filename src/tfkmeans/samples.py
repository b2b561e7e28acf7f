"""Synthetic blobs, seeded: the tutorial's ``create_samples`` in TensorFlow 2."""

from __future__ import annotations

import numpy as np

from tfkmeans.tfload import tf


def create_samples(
    n_clusters: int,
    n_samples_per_cluster: int,
    n_features: int,
    embiggen_factor: float,
    seed: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(centroids, samples)``: blobs of normal noise (stddev 5) around random centres.

    Centres are uniform in ``[-embiggen_factor/2, embiggen_factor/2)`` per feature, as in
    the tutorial; samples are ordered cluster by cluster. The same seed gives the same
    tensors on every run and device (stateless random ops).
    """
    for name, value in (
        ("n_clusters", n_clusters),
        ("n_samples_per_cluster", n_samples_per_cluster),
        ("n_features", n_features),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    rng = np.random.RandomState(seed)
    centroids = rng.random_sample((n_clusters, n_features)) * embiggen_factor - embiggen_factor / 2
    centroids = tf.constant(centroids, dtype=tf.float32)
    slices = []
    for i in range(n_clusters):
        noise = tf.random.stateless_normal(
            (n_samples_per_cluster, n_features), seed=[int(seed), i], stddev=5.0
        )
        slices.append(noise + centroids[i])
    return centroids, tf.concat(slices, axis=0)
