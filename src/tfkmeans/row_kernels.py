"""Per-row kernels beside the Lloyd pass: the final assignment, distances for
``transform``, row norms, per-feature moments, and gradient k-means' objective.

They share the pass's chunking and GEMM argmin (``kernels``); what they report to the
user (assigned distances, ``transform``) comes from exact differences in float64.
"""

from __future__ import annotations

import numpy as np

from tfkmeans.kernels import (
    DEFAULT_CHUNK_ROWS,
    XLA_MIN_ROWS,
    chunk_count,
    chunk_sq_distances,
    for_chunks,
    nearest,
    nearest_shifted,
    pass_layout,
    pinned,
    side_by_side,
)
from tfkmeans.tfload import tf


@tf.function(reduce_retracing=True, autograph=False)
def weighted_sqnorm(rows, weights, origin, by_column: bool = False, chunk_rows: int = 65536):
    """sum_i w_i ||x_i - origin||^2 in float64, chunk by chunk: what
    ``lloyd_stats(..., row_norms=False)`` leaves out of the inertia."""
    n = tf.shape(rows)[1 if by_column else 0]

    def add_chunk(i, total):
        if by_column:
            x = rows[:, i * chunk_rows : (i + 1) * chunk_rows] - origin[:, tf.newaxis]
            norms = tf.reduce_sum(tf.square(x), axis=0)
        else:
            norms = tf.reduce_sum(
                tf.square(rows[i * chunk_rows : (i + 1) * chunk_rows] - origin), 1
            )
        w = weights[i * chunk_rows : (i + 1) * chunk_rows]
        return total + tf.reduce_sum(tf.cast(w, tf.float64) * tf.cast(norms, tf.float64))

    return for_chunks(chunk_count(n, chunk_rows), add_chunk, tf.zeros([], tf.float64))


@tf.function(reduce_retracing=True, autograph=False)
def row_sqnorms(rows, origin, chunk_rows: int = 65536):
    """||x - origin||^2 of every row, computed chunk by chunk (n values)."""
    n = tf.shape(rows)[0]

    def write_chunk(i, out):
        x = rows[i * chunk_rows : (i + 1) * chunk_rows] - origin
        return out.write(i, tf.reduce_sum(tf.square(x), axis=1))

    out = tf.TensorArray(rows.dtype, size=0, dynamic_size=True, infer_shape=False)
    return for_chunks(chunk_count(n, chunk_rows), write_chunk, out).concat()


def _assign_chunk(rows, origin, centers, center_sqnorm, start, size, xla):
    """Labels and exact squared distances (float64) of rows[start:start + size], centred.

    The argmin keeps the GEMM form; the distance to the chosen centre is the sum of
    squared differences, taken and summed in float64."""
    d = tf.shape(rows)[1] if rows.shape[1] is None else rows.shape[1]
    x = tf.slice(rows, [start, 0], [size, d]) - origin
    labels, _ = nearest_shifted(x, centers, center_sqnorm, xla)
    diff = tf.cast(x, tf.float64) - tf.cast(tf.gather(centers, labels), tf.float64)
    return labels, tf.reduce_sum(tf.square(diff), axis=1)


@tf.function(reduce_retracing=True, autograph=False)
def _assign_dynamic(rows, origin, centers, chunk_rows: int, dims: tuple[int, int]):
    """Any number of rows: from the second row count on, one trace serves them all."""
    rows, centers = pinned(rows, centers, dims)
    n = tf.shape(rows)[0]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)

    def write_chunk(i, outs):
        start = i * chunk_rows
        size = tf.minimum(chunk_rows, n - start)
        labels, exact = _assign_chunk(rows, origin, centers, center_sqnorm, start, size, False)
        return outs[0].write(i, labels), outs[1].write(i, exact)

    outs = (
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False),
        tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False),
    )
    labels_out, dist_out = for_chunks(chunk_count(n, chunk_rows), write_chunk, outs)
    return labels_out.concat(), dist_out.concat()


def assign_rows(rows, origin, centers, chunk_rows: int, start: int, n_rows: int):
    """Labels and exact squared distances of rows[start:start + n_rows], in static
    shapes: full chunks in a loop, then the tail. The body of ``_assign_static``, plain
    so that a program traced around it (the whole fit) inlines it rather than calling a
    compiled function."""
    n_chunks, tail = divmod(n_rows, chunk_rows)
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    args = (rows, origin, centers, center_sqnorm)

    def write_chunk(i, outs):
        labels, exact = _assign_chunk(*args, start + i * chunk_rows, chunk_rows, True)
        return outs[0].write(i, labels), outs[1].write(i, exact)

    outs = (
        tf.TensorArray(tf.int32, size=n_chunks, element_shape=[chunk_rows]),
        tf.TensorArray(tf.float64, size=n_chunks, element_shape=[chunk_rows]),
    )
    labels_out, dist_out = for_chunks(n_chunks, write_chunk, outs)
    labels, exact = tf.reshape(labels_out.stack(), [-1]), tf.reshape(dist_out.stack(), [-1])
    if tail:
        tail_labels, tail_exact = _assign_chunk(*args, start + n_chunks * chunk_rows, tail, True)
        labels, exact = tf.concat([labels, tail_labels], 0), tf.concat([exact, tail_exact], 0)
    return labels, exact


# ``assign_rows`` XLA-compiled, one trace per shape and static argument.
_assign_static = tf.function(assign_rows, jit_compile=True, autograph=False)


def assign(rows, origin, centers, chunk_rows: int | None = None):
    """Labels and exact squared distances to the nearest centre, row by row.

    Large inputs run XLA-compiled, in concurrent parts, as the Lloyd pass
    (1M x 32, k=64: 91 -> 55 ms on 2 cores); small ones in a dynamic-shape graph.
    """
    n, k = rows.shape[0], int(centers.shape[0])
    if n is None or n < XLA_MIN_ROWS:
        dims = (int(rows.shape[1]), k)
        return _assign_dynamic(rows, origin, centers, chunk_rows or DEFAULT_CHUNK_ROWS, dims)
    chunk, bounds = pass_layout(n, k, int(rows.shape[1]), chunk_rows)
    if len(bounds) == 2:
        return _assign_static(rows, origin, centers, chunk, 0, n)
    return tuple(side_by_side(_assign_static, (rows, origin, centers), chunk, bounds, (True,) * 2))


@tf.function(reduce_retracing=True, autograph=False)
def sq_distances(rows, origin, centers, chunk_rows: int = DEFAULT_CHUNK_ROWS):
    """All squared distances (n x m) in GEMM form, clipped at zero; m is small or the output."""
    n = tf.shape(rows)[0]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)

    def write_chunk(i, out):
        x = rows[i * chunk_rows : (i + 1) * chunk_rows] - origin
        return out.write(i, chunk_sq_distances(x, centers, center_sqnorm))

    out = tf.TensorArray(rows.dtype, size=0, dynamic_size=True, infer_shape=False)
    return for_chunks(chunk_count(n, chunk_rows), write_chunk, out).concat()


# Values (rows x centres x features) of the differences one chunk of
# ``exact_sq_distances`` holds: 8 MiB of float64.
EXACT_CHUNK_VALUES = 1 << 20


@tf.function(reduce_retracing=True, autograph=False)
def _exact_sq_distances(rows, origin, centers, chunk_rows):
    n = tf.shape(rows)[0]

    def write_chunk(i, out):
        x = tf.cast(rows[i * chunk_rows : (i + 1) * chunk_rows], tf.float64) - origin
        diff = x[:, tf.newaxis, :] - centers[tf.newaxis, :, :]
        return out.write(i, tf.reduce_sum(tf.square(diff), axis=2))

    out = tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False)
    return for_chunks(chunk_count(n, chunk_rows), write_chunk, out).concat()


def exact_sq_distances(rows, origin: np.ndarray, centers: np.ndarray) -> tf.Tensor:
    """All squared distances (n x m, float64) as sums of squared differences in float64.

    For ``transform``: the GEMM form cancels catastrophically for a row on a centre
    (1.4e-3 instead of 0 in float32), so reported distances are exact; the rows are
    widened to float64 a chunk at a time (``EXACT_CHUNK_VALUES`` differences held).
    ``origin`` and ``centers`` (centred) are float64.
    """
    m, d = int(centers.shape[0]), int(rows.shape[1])
    chunk_rows = max(EXACT_CHUNK_VALUES // max(m * d, 1), 1)
    args = (tf.constant(origin, tf.float64), tf.constant(centers, tf.float64))
    return _exact_sq_distances(rows, *args, tf.constant(chunk_rows))


def objective(x: tf.Tensor, w: tf.Tensor, centers: tf.Tensor) -> tf.Tensor:
    """The k-means objective of a chunk: sum_i w_i min_k ||x_i - c_k||^2 (GEMM form).

    The same distance code as assignment (``nearest``); GradientTape differentiates
    it for gradient k-means (argmin has no gradient, reduce_min does).
    """
    _, min_sq = nearest(x, centers, tf.reduce_sum(tf.square(centers), axis=1))
    return tf.reduce_sum(w * min_sq)


def _objective_and_gradient(rows, weights, origin, centers, chunk_rows):
    n = tf.shape(rows)[0]

    def add_chunk(i, state):
        start = i * chunk_rows
        stop = tf.minimum(start + chunk_rows, n)
        x = rows[start:stop] - origin
        with tf.GradientTape() as tape:
            tape.watch(centers)
            value = objective(x, weights[start:stop], centers)
        return state[0] + tf.cast(value, tf.float64), state[1] + tape.gradient(value, centers)

    start = (tf.zeros([], tf.float64), tf.zeros_like(centers))
    return for_chunks(chunk_count(n, chunk_rows), add_chunk, start)


def _shapeless(dtype: tf.DType):
    # One trace per dtype with every dimension unknown: shape-specialised traces of a
    # GradientTape inside tf.function were seen to reuse a gradient graph of another shape.
    matrix, vector = tf.TensorSpec([None, None], dtype), tf.TensorSpec([None], dtype)
    scalar = tf.TensorSpec([], tf.int32)
    signature = [matrix, vector, vector, matrix, scalar]
    return tf.function(_objective_and_gradient, input_signature=signature, autograph=False)


_OBJECTIVE_AND_GRADIENT = {dtype: _shapeless(dtype) for dtype in (tf.float32, tf.float64)}


def objective_and_gradient(rows, weights, origin, centers, chunk_rows: int = DEFAULT_CHUNK_ROWS):
    """E(W) and dE/dW over all ``rows``, one chunk at a time inside the graph."""
    centers = tf.convert_to_tensor(centers)
    return _OBJECTIVE_AND_GRADIENT[centers.dtype](
        rows, weights, origin, centers, tf.constant(chunk_rows, tf.int32)
    )


# Values per chunk of ``moments`` (4 MiB as float64, cache-sized): 65,536-row chunks
# (128 MiB of float64 at d=256) took 121 ms on 100,000 x 256 float32, 2,048-row chunks
# 40 ms (loaded 2-core AMD EPYC; the mean rounds to the same float32 origin).
MOMENTS_CHUNK_VALUES = 1 << 19


def moments(rows, chunk_rows: int | None = None):
    """Per-feature mean and variance in float64: two passes over chunks, so no float64
    copy of the rows is ever made."""
    if chunk_rows is None:
        chunk_rows = max(MOMENTS_CHUNK_VALUES // max(int(rows.shape[1] or 1), 1), 1)
    return _moments(rows, tf.constant(chunk_rows))  # a tensor: one trace for every size


@tf.function(reduce_retracing=True, autograph=False)
def _moments(rows, chunk_rows):
    n = tf.shape(rows)[0]
    n_chunks = chunk_count(n, chunk_rows)

    def chunk(i):
        return tf.cast(rows[i * chunk_rows : (i + 1) * chunk_rows], tf.float64)

    def add_sum(i, total):
        return total + tf.reduce_sum(chunk(i), 0)

    mean = for_chunks(n_chunks, add_sum, tf.zeros_like(rows[0], tf.float64))
    mean /= tf.cast(n, tf.float64)

    def add_squares(i, squares):
        return squares + tf.reduce_sum(tf.square(chunk(i) - mean), 0)

    squares = for_chunks(n_chunks, add_squares, tf.zeros_like(mean))
    return mean, squares / tf.cast(n, tf.float64)


def as_tensor(values, dtype) -> tf.Tensor:
    """A tensor of ``dtype`` from NumPy or TF input, on the device TF chooses."""
    if isinstance(values, tf.Tensor) and values.dtype == dtype:
        return values
    return tf.convert_to_tensor(np.asarray(values), dtype=dtype)
