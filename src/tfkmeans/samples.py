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


def sparse_topics(
    n_rows: int,
    n_features: int,
    n_clusters: int,
    density: float,
    seed: int,
    *,
    dtype=np.float32,
    topic_share: float = 0.7,
):
    """``(X, labels)``: TF-IDF-like sparse rows (scipy CSR, unit L2 norm) in topics.

    Each cluster (topic) owns a random vocabulary of 1% of the features; a row stores
    about ``density * n_features`` values, ``topic_share`` of them from its topic's
    vocabulary and the rest from a Zipf-like background over all features, with
    positive weights (log term counts). Generated row block by row block, so memory
    stays O(nnz) at any size: data for sparse benchmarks and examples.
    """
    import scipy.sparse as sp

    rng = np.random.RandomState(seed)
    vocab_size = max(int(0.01 * n_features), 8)
    vocabularies = np.stack(
        [rng.choice(n_features, vocab_size, replace=False) for _ in range(n_clusters)]
    )
    background = 1.0 / np.arange(1, n_features + 1) ** 0.8
    background = np.cumsum(rng.permutation(background) / background.sum())
    labels = rng.randint(0, n_clusters, n_rows)
    per_row = np.maximum(rng.poisson(density * n_features, n_rows), 1)
    blocks = []
    for start in range(0, n_rows, 1 << 16):
        stop = min(start + (1 << 16), n_rows)
        counts = per_row[start:stop]
        row_of = np.repeat(np.arange(stop - start), counts)
        topical = rng.random_sample(len(row_of)) < topic_share
        cols = np.minimum(
            np.searchsorted(background, rng.random_sample(len(row_of))), n_features - 1
        )
        picks = rng.randint(0, vocab_size, len(row_of))
        cols[topical] = vocabularies[labels[start + row_of[topical]], picks[topical]]
        values = np.log1p(rng.geometric(0.5, len(row_of))).astype(np.float64)
        block = sp.csr_matrix((values, (row_of, cols)), shape=(stop - start, n_features))
        block.sum_duplicates()
        norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
        block.data /= np.repeat(norms, np.diff(block.indptr))
        blocks.append(block.astype(dtype))
    return sp.vstack(blocks, format="csr"), labels
