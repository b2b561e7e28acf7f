"""Sparse rows kept on the device in the form the sparse product wants, for Lloyd passes.

``sparse_kernels`` cuts a chunk out of int32 CSR tensors on every pass and builds its
int64 ``(row, column)`` pairs anew; at 100k x 50k with 5M stored values that
conversion cost more than the products themselves. Here the rows are cut once into
blocks of a fixed number of rows, each kept as the parts of a ``tf.SparseTensor``
(int64 pairs with the row counted within its block, and the values), so a pass is two
sparse products per block and nothing else over the stored values: x.c for the
argmin, and rows^T @ (one-hot labels x weights) for the per-cluster sums
(``sparse_kernels._weighted_sums``).

Blocks live in a ``TensorArray`` inside a pass (a read shares the block's buffer; a
slice of one long (nnz, 2) tensor would copy it: 16 bytes a row are never aligned for
TensorFlow's zero-copy slice). Memory: 20 bytes per stored value (float32), plus
block x k distances and one k x d float64 sum per concurrent part.

On CPU (``csr_matmul``) the rows are kept instead as CSR blocks, each block twice
(its rows, and its rows transposed for the sums): 16 bytes per stored value in
float32, 24 in float64. A Lloyd pass is then two CSR products per block, unrolled in
the graph (``_csr_stats``; 100k x 50k, 5M values, k=20, float32: 24-45 ms a pass
against 75-150 ms on the SparseTensor blocks, loaded machine); assign and row norms,
once per fit, build each block's int64 pairs from its CSR components as they go.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfkmeans import csr_matmul
from tfkmeans.device_steps import steps_loop
from tfkmeans.kernels import PassStats
from tfkmeans.sparse_kernels import (
    SCATTER_SUMS_CLUSTERS,
    _add_chunk_stats,
    _chunk_sqnorms,
    _exact_sq_distances,
    _nearest,
    _rows_out,
)
from tfkmeans.tfload import tf

# Distances per block (rows x k): a block's dots and one-hot labels stay a few MB.
BLOCK_DISTANCES = 1 << 20


def block_rows(n_clusters: int, n_features: int) -> int:
    """Rows per block: rows x k about BLOCK_DISTANCES (100k x 50k, k=20: one block of
    52,428 rows per part; 16,384-65,536-row blocks measured within 10% of each other),
    and at least d rows, so that each block's k x d sums (added up in float64, zeroed
    for a segment sum) cost no more than its k x rows distances (30k x 50k, k=256:
    4,096-row blocks spent 0.8 s a pass on that, more than the products)."""
    return int(max(BLOCK_DISTANCES // max(n_clusters, 1), n_features, 256))


class Blocks(NamedTuple):
    """CSR rows in blocks: per block the int64 (row within block, column) pairs and
    values, or (where ``csr_matmul`` runs) per block the rows and the transposed rows as
    TensorFlow CSR matrices."""

    indices: tuple[tf.Tensor, ...]  # per block, (nnz_b, 2) int64; () with csr
    values: tuple[tf.Tensor, ...]  # per block, (nnz_b,) rows' dtype; () with csr
    starts: tf.Tensor  # (n_blocks + 1,) int32: first row of each block, then n
    n_features: int
    csr: tuple[tuple[tf.Tensor, tf.Tensor], ...] | None = None  # per block (rows, rows^T)
    csr_starts: tuple[int, ...] | None = None  # ``starts`` as ints, with csr
    dtype: str = "float32"  # the values' dtype

    @property
    def count(self) -> int:
        return len(self.csr) if self.csr is not None else len(self.indices)


def csr_pays(dtype: np.dtype, n_clusters: int) -> bool:
    """Whether CSR blocks make the faster Lloyd pass (where ``csr_matmul`` runs): float32
    always (30k x 50k, 5 values in 10,000, k=256: 190 vs 330 ms); float64 below
    SCATTER_SUMS_CLUSTERS, where the SparseTensor pass adds its sums by a segment sum
    (100k x 50k, k=20: 75 vs 127 ms; 30k x 50k, k=256: 670 vs 480 ms)."""
    return np.dtype(dtype) == np.float32 or n_clusters < SCATTER_SUMS_CLUSTERS


# Passes over CSR blocks are unrolled in the graph: at most this many blocks (runs of
# ``rows_per_block`` rows beyond that).
CSR_BLOCKS = 64


def blocks_of(matrix, dtype: np.dtype, rows_per_block: int, csr: bool = True) -> Blocks:
    """A canonical scipy CSR matrix as Blocks, converted block by block (the int64
    pairs are made for one block at a time), or CSR blocks where ``csr_matmul`` runs
    (unless ``csr`` is False)."""
    n, d = matrix.shape
    if csr and n and csr_matmul.available(dtype):
        rows_per_block *= -(-n // rows_per_block // CSR_BLOCKS) or 1
        starts = tuple(range(0, n, rows_per_block)) + (n,)
        forms = tuple(
            (
                csr_matmul.csr_matrix(matrix[lo:hi], dtype),
                csr_matmul.csr_matrix(matrix[lo:hi].T.tocsr(), dtype),
            )
            for lo, hi in zip(starts[:-1], starts[1:], strict=True)
        )
        dtype_name = np.dtype(dtype).name
        return Blocks((), (), tf.constant(starts, tf.int32), d, forms, starts, dtype_name)
    starts = list(range(0, n, rows_per_block)) + [n]
    indices, values = [], []
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        first, last = matrix.indptr[lo], matrix.indptr[hi]
        local = np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(matrix.indptr[lo : hi + 1]))
        pairs = np.stack([local, matrix.indices[first:last].astype(np.int64)], 1)
        indices.append(tf.constant(pairs))
        values.append(tf.constant(matrix.data[first:last].astype(dtype, copy=False)))
    starts_t = tf.constant(starts, tf.int32)
    return Blocks(tuple(indices), tuple(values), starts_t, d, dtype=np.dtype(dtype).name)


def _block_arrays(blocks: Blocks):
    """The blocks as two TensorArrays (built inside a traced function; reads share buffers)."""
    count = len(blocks.indices)
    pairs = tf.TensorArray(tf.int64, size=count, infer_shape=False, element_shape=[None, 2])
    values = tf.TensorArray(blocks.values[0].dtype, size=count, infer_shape=False)
    for i, (p, v) in enumerate(zip(blocks.indices, blocks.values, strict=True)):
        pairs, values = pairs.write(i, p), values.write(i, v)
    return pairs, values


def _after(state) -> list[tf.Tensor]:
    """Tensors that finish with ``state`` (a TensorArray's flow), to order ops after it."""
    flat = tf.nest.flatten(state)
    return [item.flow if isinstance(item, tf.TensorArray) else item for item in flat]


def _csr_block_pass(blocks: Blocks, n_parts: int, body, start_state):
    """``_block_pass`` over CSR blocks, unrolled: each block's SparseTensor is made
    from its CSR matrix's components once the previous block's body is done, so a part
    holds one block's int64 pairs at a time."""
    starts, d = blocks.csr_starts, blocks.n_features
    dtype = tf.as_dtype(blocks.dtype)
    outs = []
    for part in range(n_parts):
        state = start_state()
        for b in range(blocks.count * part // n_parts, blocks.count * (part + 1) // n_parts):
            size = starts[b + 1] - starts[b]
            with tf.control_dependencies(_after(state)):
                row_ptrs, cols, values = tf.raw_ops.CSRSparseMatrixComponents(
                    csr_sparse_matrix=blocks.csr[b][0], index=0, type=dtype
                )
            local = tf.ragged.row_splits_to_segment_ids(row_ptrs, out_type=tf.int64)
            pairs = tf.stack([local, tf.cast(cols, tf.int64)], 1)
            chunk = tf.SparseTensor(pairs, values, tf.constant([size, d], tf.int64))
            start = tf.constant(starts[b])
            state = body(chunk, start, tf.constant(size), state, blocks.csr[b][0])
        outs.append(state)
    return outs


def _block_pass(blocks: Blocks, n_parts: int, body, start_state):
    """``state = body(chunk, start, size, state, rows_csr)`` over the blocks, as
    ``n_parts`` independent graph loops over contiguous runs of blocks (TensorFlow runs
    them at once on its inter-op threads); returns each part's final state, in row
    order. ``rows_csr`` is the block as a CSR matrix with CSR blocks, else None."""
    n_parts = max(1, min(n_parts, blocks.count))  # no part without a block
    if blocks.csr is not None:
        return _csr_block_pass(blocks, n_parts, body, start_state)
    pairs, values = _block_arrays(blocks)
    count = len(blocks.indices)
    d = tf.constant(blocks.n_features, tf.int64)
    outs = []
    for part in range(n_parts):
        lo, hi = count * part // n_parts, count * (part + 1) // n_parts

        def step(b, state):
            start, stop = blocks.starts[b], blocks.starts[b + 1]
            size = stop - start
            shape = tf.stack([tf.cast(size, tf.int64), d])
            chunk = tf.SparseTensor(pairs.read(b), values.read(b), shape)
            return b + 1, body(chunk, start, size, state, None)

        cond = lambda b, _, hi=hi: b < hi  # noqa: E731
        outs.append(tf.while_loop(cond, step, (tf.constant(lo), start_state()))[1])
    return outs


def _add_parts(outs):
    return tf.nest.map_structure(lambda *items: tf.add_n(list(items)), *outs)


def _concat_parts(outs):
    return [tf.concat([part[i].concat() for part in outs], 0) for i in range(len(outs[0]))]


def _csr_nearest(rows, centers_t, center_sqnorm):
    """Nearest centre of each row of a CSR block, and ||c||^2 - 2 x.c for every centre
    (rows x k), from one CSR product."""
    shifted = center_sqnorm[tf.newaxis, :] - 2.0 * csr_matmul.matmul(rows, centers_t)
    return tf.argmin(shifted, axis=1, output_type=tf.int32), shifted


def _csr_stats(blocks: Blocks, weights, centers, center_sqnorm) -> PassStats:
    """One Lloyd pass with CSR products (``csr_matmul``), unrolled over the CSR
    blocks: per block x.c, then rows^T @ (one-hot labels x weights), d x k, added up
    in float64 and transposed once."""
    k, d = tf.shape(centers)[0], blocks.n_features
    centers_t = tf.transpose(centers)
    sums = tf.zeros([d, k], tf.float64)
    counts, inertia = tf.zeros([k], tf.float64), tf.zeros([], tf.float64)
    for (rows, rows_t), lo, hi in zip(
        blocks.csr, blocks.csr_starts[:-1], blocks.csr_starts[1:], strict=True
    ):
        w = weights[lo:hi]
        labels, shifted = _csr_nearest(rows, centers_t, center_sqnorm)
        weighted = tf.one_hot(labels, k, dtype=w.dtype) * w[:, tf.newaxis]
        sums += tf.cast(csr_matmul.matmul(rows_t, weighted), tf.float64)
        w64 = tf.cast(w, tf.float64)
        counts += tf.math.unsorted_segment_sum(w64, labels, k)
        inertia += tf.reduce_sum(w64 * tf.cast(tf.reduce_min(shifted, axis=1), tf.float64))
    return PassStats(tf.transpose(sums), counts, inertia)


def _stats(
    blocks: Blocks, weights, centers, center_sqnorm, n_parts: int, row_norms: bool
) -> PassStats:
    """One Lloyd pass (see ``lloyd_stats``), traced inside the caller's function."""
    if blocks.csr is not None and not row_norms:
        return _csr_stats(blocks, weights, centers, center_sqnorm)
    k, d = tf.shape(centers)[0], blocks.n_features
    centers_t = tf.transpose(centers)

    def body(chunk, start, size, total, _):
        labels, nearest = _nearest(chunk, centers_t, center_sqnorm)
        nearest = tf.cast(nearest, tf.float64)
        if row_norms:
            local = chunk.indices[:, 0]
            nearest = tf.maximum(nearest + _chunk_sqnorms(chunk, local, size), 0.0)
        w = weights[start : start + size]
        return _add_chunk_stats(total, chunk, chunk.indices[:, 0], labels, nearest, w, k)

    def zero():
        return tf.zeros([k, d], tf.float64), tf.zeros([k], tf.float64), tf.zeros([], tf.float64)

    return PassStats(*_add_parts(_block_pass(blocks, n_parts, body, zero)))


@tf.function(reduce_retracing=True, autograph=False)
def lloyd_stats(
    blocks: Blocks, weights, centers, center_sqnorm, row_norms: bool = False, n_parts: int = 1
) -> PassStats:
    """Per nearest centre: weighted sums of rows (k x d), weights, and the inertia
    sum_i w_i min_c (||c||^2 - 2 x_i.c) (plus ||x_i||^2 with ``row_norms``), in float64.

    The argmin is in the rows' dtype, as scikit-learn's sparse Lloyd does, with the
    caller's ``center_sqnorm`` (``centre_sqnorms``); each block's sums come from one
    sparse product in the rows' dtype and are added up in float64.
    """
    return _stats(blocks, weights, centers, center_sqnorm, n_parts, row_norms)


@tf.function(reduce_retracing=True, autograph=False)
def lloyd_steps(
    blocks: Blocks,
    weights,
    centers64,
    center_sqnorm,
    max_steps,
    tol,
    spark_rule: bool,
    history,
    n_parts: int,
):
    """Up to ``max_steps`` Lloyd iterations in one call (``device_steps.LloydSteps``): the
    dense path's device loop (``device_steps.steps_loop``) over these blocks' passes;
    ``history`` (an int tensor) sizes the per-step records. ``center_sqnorm`` are the
    norms of ``centers64`` in the rows' dtype as scikit-learn computes them; later
    steps compute their own."""
    first = centers64

    def pass_stats(centers):
        rounded = tf.cast(centers, weights.dtype)
        own = tf.reduce_sum(tf.square(rounded), axis=1)
        given = tf.reduce_all(tf.equal(centers, first))
        norms = tf.where(given, center_sqnorm, own)
        return _stats(blocks, weights, rounded, norms, n_parts, False)

    return steps_loop(pass_stats, centers64, max_steps, tol, spark_rule, history)


@tf.function(reduce_retracing=True, autograph=False)
def assign(blocks: Blocks, centers, centers64, center_sqnorm, n_parts: int = 1):
    """Labels (argmin in the rows' dtype, with the caller's ``center_sqnorm``) and
    squared distances to them in float64: sum over stored values of
    (x_j - c_j)^2 - c_j^2, plus ||c||^2 (scikit-learn's sparse form), clipped at zero."""
    center_sqnorm64 = tf.reduce_sum(tf.square(centers64), axis=1)
    centers_t = tf.transpose(centers)

    def body(chunk, start, size, outs, rows_csr):
        if rows_csr is None:
            labels, _ = _nearest(chunk, centers_t, center_sqnorm)
        else:  # the Lloyd passes' argmin (``_csr_stats``)
            labels, _ = _csr_nearest(rows_csr, centers_t, center_sqnorm)
        local = chunk.indices[:, 0]
        exact = _exact_sq_distances(chunk, local, size, labels, centers64, center_sqnorm64)
        return outs[0].write(outs[0].size(), labels), outs[1].write(outs[1].size(), exact)

    def start():
        return _rows_out(tf.int32), _rows_out(tf.float64)

    labels, exact = _concat_parts(_block_pass(blocks, n_parts, body, start))
    return labels, exact


@tf.function(reduce_retracing=True, autograph=False)
def row_sqnorms(blocks: Blocks) -> tf.Tensor:
    """||x||^2 of every row, float64 (n values)."""
    if blocks.csr is not None:  # values and int32 row ids, block after block: no pairs
        dtype, norms = tf.as_dtype(blocks.dtype), []
        for (rows, _), size in zip(blocks.csr, np.diff(blocks.csr_starts), strict=True):
            with tf.control_dependencies(norms[-1:]):
                row_ptrs, _, values = tf.raw_ops.CSRSparseMatrixComponents(
                    csr_sparse_matrix=rows, index=0, type=dtype
                )
            local = tf.ragged.row_splits_to_segment_ids(row_ptrs)
            squares = tf.square(tf.cast(values, tf.float64))
            norms.append(tf.math.unsorted_segment_sum(squares, local, int(size)))
        return tf.concat(norms, 0)

    def body(chunk, start, size, out, _):
        return (out[0].write(out[0].size(), _chunk_sqnorms(chunk, chunk.indices[:, 0], size)),)

    return _concat_parts(_block_pass(blocks, 1, body, lambda: (_rows_out(tf.float64),)))[0]
