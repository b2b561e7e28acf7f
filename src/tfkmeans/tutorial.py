"""The tutorial's Lloyd steps as public functions, on tensors or array-likes.

They use the same kernels as the estimator (GEMM distances on chunks, never an
n x k x d tensor), so the tutorial code scales and agrees with ``KMeans``.
"""

from __future__ import annotations

import numpy as np

from tfkmeans.sources import InMemory
from tfkmeans.tfload import tf
from tfkmeans.validation import compute_dtype


def _as_rows(values, name: str) -> np.ndarray:
    array = values.numpy() if isinstance(values, (tf.Tensor, tf.Variable)) else np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, n_features), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity")
    return array.astype(compute_dtype(array.dtype), copy=False)


def choose_random_centroids(samples, n_clusters: int, seed: int | None = None) -> tf.Tensor:
    """``n_clusters`` distinct samples picked uniformly at random (seeded when ``seed`` is set)."""
    rows = _as_rows(samples, "samples")
    n = rows.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 1 and the {n} samples, got {n_clusters}")
    if seed is None:
        keys = tf.random.uniform([n])
    else:
        keys = tf.random.stateless_uniform([n], seed=[int(seed), 0])
    picked = tf.argsort(keys)[:n_clusters]
    return tf.gather(tf.constant(rows), picked)


def assign_to_nearest(samples, centroids) -> tf.Tensor:
    """Index (int64) of the nearest centroid for each sample."""
    rows = _as_rows(samples, "samples")
    centers = _as_rows(centroids, "centroids").astype(np.float64)
    if centers.shape[1] != rows.shape[1]:
        raise ValueError(
            f"centroids have {centers.shape[1]} features but samples have {rows.shape[1]}"
        )
    source = InMemory(rows)
    labels = np.concatenate([a.labels for a in source.assign(centers - source.origin)])
    return tf.constant(labels.astype(np.int64))


def update_centroids(samples, nearest_indices, n_clusters: int, previous=None) -> tf.Tensor:
    """Mean of the samples assigned to each cluster.

    An empty cluster keeps its ``previous`` centroid when given; without it, an
    empty cluster is an error rather than a NaN centroid.
    """
    rows = _as_rows(samples, "samples")
    labels = tf.cast(tf.convert_to_tensor(nearest_indices), tf.int32)
    if labels.shape.rank != 1 or labels.shape[0] != rows.shape[0]:
        raise ValueError(f"nearest_indices must have one label per sample ({rows.shape[0]})")
    if rows.shape[0] and (tf.reduce_min(labels) < 0 or tf.reduce_max(labels) >= n_clusters):
        raise ValueError(f"nearest_indices must lie in [0, {n_clusters})")
    sums = tf.math.unsorted_segment_sum(tf.constant(rows), labels, n_clusters)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(labels, rows.dtype), labels, n_clusters)
    empty = counts == 0
    if bool(tf.reduce_any(empty)):
        if previous is None:
            missing = np.flatnonzero(empty.numpy()).tolist()
            raise ValueError(f"clusters {missing} have no samples; pass previous= to keep them")
        kept = tf.constant(_as_rows(previous, "previous").astype(rows.dtype))
        means = sums / tf.maximum(counts, 1)[:, tf.newaxis]
        return tf.where(empty[:, tf.newaxis], kept, means)
    return sums / counts[:, tf.newaxis]
