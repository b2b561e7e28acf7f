"""TensorFlow kernels for sparse (CSR) rows: the sparse twin of ``kernels``.

Rows are never densified. A pass walks fixed-size chunks of rows; each chunk's
stored values become a ``tf.SparseTensor`` and its dot products with the dense
centres come from ``tf.sparse.sparse_dense_matmul`` (on CPU about 5x faster than a
gather / segment-sum formulation; 100k x 50k at 0.1%, k=20: 65 vs 320-570 ms).
Memory beyond the rows is O(chunk_rows x k + k x d).

Rows are not centred (subtracting the mean would densify them), so distances use
||x||^2 - 2 x.c + ||c||^2 with row norms and reported distances in float64, as
scikit-learn does for sparse input; the argmin of a Lloyd pass keeps the row dtype.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfkmeans.kernels import PassStats, chunk_count, for_chunks
from tfkmeans.tfload import tf

# Rows per per-cluster sums product in a Lloyd pass (see ``lloyd_stats``).
SUMS_ROWS = 1 << 16
# Distances per chunk (rows x k) where the caller leaves the chunk size to the kernels.
CHUNK_DISTANCES = 1 << 16


def auto_chunk_rows(n_clusters: int) -> int:
    """Rows per chunk so that a chunk's rows x k distances stay in L2 (256 KiB float32)."""
    return int(min(max(CHUNK_DISTANCES // max(n_clusters, 1), 256), 1 << 16))


class CSR(NamedTuple):
    """A CSR matrix as tensors. ``rows`` is the row of each stored value (so a chunk's
    values index its rows without a search); ``rows``/``cols`` are int32 where they fit."""

    indptr: tf.Tensor  # (n + 1,) int64
    rows: tf.Tensor  # (nnz,) int32 or int64
    cols: tf.Tensor  # (nnz,) int32 or int64
    data: tf.Tensor  # (nnz,) float32 or float64


def csr_tensors(matrix, dtype: np.dtype) -> CSR:
    """Tensors of a canonical scipy CSR matrix (sorted, no duplicates), values in ``dtype``."""
    n, d = matrix.shape
    index_dtype = np.int32 if max(n, d) < 2**31 else np.int64
    rows = np.repeat(np.arange(n, dtype=index_dtype), np.diff(matrix.indptr))
    return CSR(
        tf.constant(matrix.indptr.astype(np.int64)),
        tf.constant(rows),
        tf.constant(matrix.indices.astype(index_dtype, copy=False)),
        tf.constant(matrix.data.astype(dtype, copy=False)),
    )


def _chunk(csr: CSR, n_features, start, size, dtype=None) -> tuple[tf.SparseTensor, tf.Tensor]:
    """Rows [start, start + size) as a SparseTensor (size x d), and their local row ids."""
    first, last = csr.indptr[start], csr.indptr[start + size]
    local = tf.cast(csr.rows[first:last], tf.int64) - tf.cast(start, tf.int64)
    cols = tf.cast(csr.cols[first:last], tf.int64)
    values = csr.data[first:last]
    if dtype is not None:
        values = tf.cast(values, dtype)
    shape = tf.stack([tf.cast(size, tf.int64), tf.cast(n_features, tf.int64)])
    return tf.SparseTensor(tf.stack([local, cols], 1), values, shape), local


def _n_rows(csr: CSR) -> tf.Tensor:
    return tf.shape(csr.indptr, out_type=tf.int32)[0] - 1


def _pass(csr: CSR, chunk_rows, n_parts: int, body, start_state, per_row=()):
    """``state = body(start, size, state)`` over the row chunks of ``csr``.

    The rows are cut into ``n_parts`` ranges, each walked by its own graph loop from
    ``start_state``; the loops do not depend on each other, so TensorFlow runs them at
    once on its inter-op threads (the sparse product runs on one core). The parts'
    states are summed, except TensorArrays (flagged by ``per_row``, one per state
    item), which are joined in row order.
    """
    n = _n_rows(csr)
    outs = []
    for part in range(n_parts):
        lo, hi = n * part // n_parts, n * (part + 1) // n_parts

        def step(i, state, lo=lo, hi=hi):
            start = lo + i * chunk_rows
            return body(start, tf.minimum(chunk_rows, hi - start), state)

        outs.append(for_chunks(chunk_count(hi - lo, chunk_rows), step, start_state()))
    joined = []
    for i, items in enumerate(zip(*[tf.nest.flatten(o) for o in outs], strict=True)):
        if i < len(per_row) and per_row[i]:
            joined.append(tf.concat([item.concat() for item in items], 0))
        else:
            joined.append(tf.add_n(list(items)))
    return tf.nest.pack_sequence_as(outs[0], joined) if not per_row else joined


def _rows_out(dtype):
    return tf.TensorArray(dtype, size=0, dynamic_size=True, infer_shape=False)


def _chunk_sqnorms(chunk: tf.SparseTensor, local, size) -> tf.Tensor:
    """||x||^2 of each row of a chunk, in float64."""
    values = tf.cast(chunk.values, tf.float64)
    return tf.math.unsorted_segment_sum(tf.square(values), local, size)


# TensorFlow's CPU SparseTensorDenseMatMul runs a plain loop for up to 31 dense
# columns and an Eigen expression from 32 on, ~10x slower per column here (100k x 50k,
# 5M values: 31 columns 45-50 ms, 32 columns 260 ms): wider products go in groups.
PRODUCT_COLUMNS = 31
# From this many clusters the per-cluster sums add each stored value once into a k x d
# table (a segment sum), instead of a product with one-hot labels whose cost grows
# with k (50k x 50k, 2.4M values: k=20 11 ms vs 22-32 ms; k=256 ~150 ms vs 80 ms).
SCATTER_SUMS_CLUSTERS = 128


def _product(chunk: tf.SparseTensor, dense, adjoint_a: bool = False, transpose_out=False):
    """chunk @ dense (chunk^T @ dense with ``adjoint_a``), transposed with
    ``transpose_out``, as products of at most PRODUCT_COLUMNS columns of ``dense``."""

    def whole():
        out = tf.sparse.sparse_dense_matmul(chunk, dense, adjoint_a=adjoint_a)
        return tf.transpose(out) if transpose_out else out

    def grouped():
        k = tf.shape(dense)[1]
        groups = (k + PRODUCT_COLUMNS - 1) // PRODUCT_COLUMNS
        width = (k + groups - 1) // groups

        def step(i, out):
            piece = dense[:, i * width : (i + 1) * width]
            product = tf.sparse.sparse_dense_matmul(chunk, piece, adjoint_a=adjoint_a)
            return i + 1, out.write(i, tf.transpose(product))

        pieces = tf.TensorArray(dense.dtype, size=groups, infer_shape=False)
        out = tf.while_loop(lambda i, _: i < groups, step, (tf.constant(0), pieces))[1].concat()
        return out if transpose_out else tf.transpose(out)

    k = dense.shape[1]
    if k is not None:
        return whole() if k <= PRODUCT_COLUMNS else grouped()
    return tf.cond(tf.shape(dense)[1] <= PRODUCT_COLUMNS, whole, grouped)


def _dots(chunk: tf.SparseTensor, centers_t) -> tf.Tensor:
    """x.c for every row of the chunk and every centre (size x k); ``centers_t`` is
    d x k, so each stored value reads one contiguous row of it (with ``adjoint_b`` on
    k x d centres the product reads them strided: 3x slower at d=50,000)."""
    return _product(chunk, centers_t)


def _add_chunk_stats(total, chunk, local, labels, nearest, w, k):
    """``total`` (float64 sums, weights, inertia) plus one chunk's weighted share."""
    sums = _weighted_sums(chunk, local, labels, w, k)
    w64 = tf.cast(w, tf.float64)
    added = (
        total[0] + tf.cast(sums, tf.float64),
        total[1] + tf.math.unsorted_segment_sum(w64, labels, k),
        total[2] + tf.reduce_sum(w64 * nearest),
    )
    return tuple(tf.ensure_shape(a, t.shape) for a, t in zip(added, total, strict=True))


def _weighted_sums(chunk: tf.SparseTensor, local, labels, weights, k) -> tf.Tensor:
    """Per-cluster sums of the chunk's rows times their ``weights`` (k x d), in the rows'
    dtype: rows^T @ (one-hot labels x weights), or from SCATTER_SUMS_CLUSTERS clusters
    a segment sum of each stored value into its (label, column) cell."""

    def product():
        weighted = tf.one_hot(labels, k, dtype=weights.dtype) * weights[:, tf.newaxis]
        return _product(chunk, weighted, adjoint_a=True, transpose_out=True)

    def scatter():
        d = chunk.dense_shape[1]
        rows = tf.cast(local, tf.int64)
        cells = tf.gather(tf.cast(labels, tf.int64), rows) * d + chunk.indices[:, 1]
        values = chunk.values * tf.gather(weights, rows)
        sums = tf.math.unsorted_segment_sum(values, cells, tf.cast(k, tf.int64) * d)
        return tf.reshape(sums, tf.stack([tf.cast(k, tf.int64), d]))

    if isinstance(k, int):
        return product() if k < SCATTER_SUMS_CLUSTERS else scatter()
    return tf.cond(k < SCATTER_SUMS_CLUSTERS, product, scatter)


def _nearest(chunk: tf.SparseTensor, centers_t, center_sqnorm):
    """Nearest centre of each row and min_c (||c||^2 - 2 x.c), in the chunk's dtype."""
    shifted = center_sqnorm[tf.newaxis, :] - 2.0 * _dots(chunk, centers_t)
    return tf.argmin(shifted, axis=1, output_type=tf.int32), tf.reduce_min(shifted, axis=1)


@tf.function(reduce_retracing=True, autograph=False)
def row_sqnorms(csr: CSR, n_features, chunk_rows: int = 65536) -> tf.Tensor:
    """||x||^2 of every row, float64 (n values), chunk by chunk."""

    def body(start, size, out):
        chunk, local = _chunk(csr, n_features, start, size)
        return (out[0].write(out[0].size(), _chunk_sqnorms(chunk, local, size)),)

    return _pass(csr, chunk_rows, 1, body, lambda: (_rows_out(tf.float64),), (True,))[0]


@tf.function(reduce_retracing=True, autograph=False)
def lloyd_stats(
    csr: CSR, weights, centers, chunk_rows: int, row_norms: bool = False, n_parts: int = 1
) -> PassStats:
    """Per nearest centre: weighted sums of rows (k x d), weights, and the inertia
    sum_i w_i min_c (||c||^2 - 2 x_i.c) (plus ||x_i||^2 with ``row_norms``), in float64.

    The argmin is computed in the rows' dtype (as scikit-learn's sparse Lloyd does), on
    chunks of ``chunk_rows`` rows whose distances stay in cache. Sums are one more sparse
    product per SUMS_ROWS rows (``_weighted_sums``), in the rows' dtype, added up in float64: taken per small
    chunk, adding the d x k result cost more than the product at d=50,000.
    """
    k, d = tf.shape(centers)[0], tf.shape(centers)[1]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    centers_t = tf.transpose(centers)

    def nearest_rows(start, size, outs):
        chunk, local = _chunk(csr, d, start, size)
        labels, nearest = _nearest(chunk, centers_t, center_sqnorm)
        nearest = tf.cast(nearest, tf.float64)
        if row_norms:
            nearest = tf.maximum(nearest + _chunk_sqnorms(chunk, local, size), 0.0)
        return outs[0].write(outs[0].size(), labels), outs[1].write(outs[1].size(), nearest)

    def body(start, size, total):
        def step(i, outs):
            first = start + i * chunk_rows
            return nearest_rows(first, tf.minimum(chunk_rows, start + size - first), outs)

        outs = (_rows_out(tf.int32), _rows_out(tf.float64))
        outs = for_chunks(chunk_count(size, chunk_rows), step, outs)
        labels, nearest = outs[0].concat(), outs[1].concat()
        chunk, local = _chunk(csr, d, start, size)
        return _add_chunk_stats(
            total, chunk, local, labels, nearest, weights[start : start + size], k
        )

    def zero():
        return tf.zeros([k, d], tf.float64), tf.zeros([k], tf.float64), tf.zeros([], tf.float64)

    return PassStats(*_pass(csr, max(chunk_rows, SUMS_ROWS), n_parts, body, zero))


def _exact_sq_distances(chunk, local, size, labels, centers64, center_sqnorm64):
    """Squared distance of each row of a chunk to its labelled centre in float64: sum
    over stored values of (x_j - c_j)^2 - c_j^2, plus ||c||^2, clipped at zero."""
    value_labels = tf.cast(tf.gather(labels, local), tf.int64)
    c = tf.gather_nd(centers64, tf.stack([value_labels, chunk.indices[:, 1]], 1))
    x = tf.cast(chunk.values, tf.float64)
    exact = tf.math.unsorted_segment_sum(tf.square(x - c) - tf.square(c), local, size)
    return tf.maximum(exact + tf.gather(center_sqnorm64, labels), 0.0)


@tf.function(reduce_retracing=True, autograph=False)
def assign(csr: CSR, centers, centers64, chunk_rows: int, n_parts: int = 1):
    """Labels (argmin in the rows' dtype) and squared distances to them in float64:
    sum over stored values of (x_j - c_j)^2 - c_j^2, plus ||c||^2 (scikit-learn's
    sparse form), clipped at zero."""
    d = tf.shape(centers)[1]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    center_sqnorm64 = tf.reduce_sum(tf.square(centers64), axis=1)
    centers_t = tf.transpose(centers)

    def body(start, size, outs):
        chunk, local = _chunk(csr, d, start, size)
        labels, _ = _nearest(chunk, centers_t, center_sqnorm)
        exact = _exact_sq_distances(chunk, local, size, labels, centers64, center_sqnorm64)
        return outs[0].write(outs[0].size(), labels), outs[1].write(outs[1].size(), exact)

    def start():
        return _rows_out(tf.int32), _rows_out(tf.float64)

    labels, exact = _pass(csr, chunk_rows, n_parts, body, start, (True, True))
    return labels, exact


def _sq_distances64(csr: CSR, d, start, size, row_sqnorm, centers_t, center_sqnorm):
    """A chunk's squared distances to every centre in float64 (not yet clipped at 0)."""
    chunk, _ = _chunk(csr, d, start, size, tf.float64)
    norms = row_sqnorm[start : start + size]
    return norms[:, tf.newaxis] - 2.0 * _dots(chunk, centers_t) + center_sqnorm


@tf.function(reduce_retracing=True, autograph=False)
def sq_distances(csr: CSR, row_sqnorm, centers64, chunk_rows: int, n_parts: int = 1):
    """All squared distances (n x m) in float64: ||x||^2 - 2 x.c + ||c||^2, clipped at 0."""
    d = tf.shape(centers64)[1]
    center_sqnorm = tf.reduce_sum(tf.square(centers64), axis=1)
    centers64_t = tf.transpose(centers64)

    def body(start, size, out):
        squared = _sq_distances64(csr, d, start, size, row_sqnorm, centers64_t, center_sqnorm)
        return (out[0].write(out[0].size(), tf.maximum(squared, 0.0)),)

    return _pass(csr, chunk_rows, n_parts, body, lambda: (_rows_out(tf.float64),), (True,))[0]


@tf.function(reduce_retracing=True, autograph=False)
def kmeanspp_pass(
    csr: CSR, weights64, row_sqnorm, closest, centers64, chunk_rows: int, n_parts: int = 1
):
    """One k-means++ pass (see ``kmeanspp.kmeanspp_pass``), all in float64 as
    scikit-learn's k-means++ computes its distances: the potential of each candidate
    and ``closest`` updated by ``centers64[0]``."""
    d = tf.shape(centers64)[1]
    center_sqnorm = tf.reduce_sum(tf.square(centers64), axis=1)
    centers64_t = tf.transpose(centers64)

    def body(start, size, state):
        squared = _sq_distances64(csr, d, start, size, row_sqnorm, centers64_t, center_sqnorm)
        nearer = tf.minimum(closest[start : start + size, tf.newaxis], tf.maximum(squared, 0.0))
        potentials = tf.reduce_sum(weights64[start : start + size, tf.newaxis] * nearer, 0)
        return state[0] + potentials, state[1].write(state[1].size(), nearer[:, 0])

    def start():
        return tf.zeros_like(center_sqnorm), _rows_out(tf.float64)

    potentials, closest_out = _pass(csr, chunk_rows, n_parts, body, start, (False, True))
    return potentials, closest_out


@tf.function(reduce_retracing=True, autograph=False)
def objective_and_gradient(csr: CSR, weights, row_sqnorm, centers, chunk_rows: int):
    """E(W) = sum_i w_i min_c ||x_i - c||^2 and dE/dW, differentiated by GradientTape
    through the sparse-dense product, chunk by chunk."""
    d = tf.shape(centers)[1]

    def body(start, size, state):
        chunk, _ = _chunk(csr, d, start, size)
        norms = tf.cast(row_sqnorm[start : start + size], centers.dtype)
        with tf.GradientTape() as tape:
            tape.watch(centers)
            center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
            centers_t = tf.transpose(centers)
            squared = norms[:, tf.newaxis] - 2.0 * _dots(chunk, centers_t) + center_sqnorm
            value = tf.reduce_sum(weights[start : start + size] * tf.reduce_min(squared, 1))
        grad = tape.gradient(value, centers)
        return state[0] + tf.cast(value, tf.float64), state[1] + grad

    def start():
        return tf.zeros([], tf.float64), tf.zeros_like(centers)

    return tuple(_pass(csr, chunk_rows, 1, body, start))
