"""TensorFlow kernels: pure functions of (rows, centres[, weights]).

Every pass walks the rows in fixed-size chunks inside a compiled graph, so
memory beyond the rows is O(chunk_rows x k) and there is no Python per chunk;
on a multi-core CPU a large pass is a few such graphs on ranges of rows, run
side by side (one per core). Distances use the GEMM form
||x||^2 - 2 x.c + ||c||^2 on rows that were centred by ``origin`` first, which
keeps float32 accurate far from zero.
Reported distances and inertia come from exact squared differences, never
from the GEMM expansion, which cancels catastrophically when points sit on
their centres.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

from tfkmeans.tfload import tf

DEFAULT_CHUNK_ROWS = 8192


class PassStats(NamedTuple):
    """Per-cluster statistics of one pass; they add up across chunks and sources."""

    sums: tf.Tensor  # (k, d) float64, weighted sums of centred rows
    weights: tf.Tensor  # (k,) float64, total weight per cluster
    # () float64: sum of weighted squared distances (GEMM form), or that sum less
    # sum_i w_i ||x_i||^2 (lloyd_stats with row_norms=False).
    inertia: tf.Tensor


def _argmin_down(values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Index and value of the minimum of each column of ``values`` (k x rows).

    XLA's argmin is a variadic reduce that compiles to scalar code on CPU (about
    40 ms of a 70 ms pass on 1M x 32, k=64). Halving instead (adjacent pairs
    compared with elementwise min/select, log2(k) times) is whole-row vector work.
    Pairs are adjacent, so each slot always covers a contiguous run of indices and
    a tie keeps the lower one, as ``tf.argmin`` does. Needs a static k.
    """
    index = None
    while values.shape[0] > 1:
        width = values.shape[0]
        even, odd = values[0 : width - 1 : 2], values[1:width:2]
        take_odd = odd < even
        if index is None:
            pairs = tf.range(0, width - 1, 2)[:, tf.newaxis]
            even_index, odd_index = pairs, pairs + 1
        else:
            even_index, odd_index = index[0 : width - 1 : 2], index[1:width:2]
        smaller = tf.minimum(even, odd)
        chosen = tf.where(take_odd, odd_index, even_index)
        if width % 2:  # the last row has no partner: carried up unchanged
            smaller = tf.concat([smaller, values[width - 1 :]], 0)
            last = tf.fill([1, 1], width - 1) if index is None else index[width - 1 :]
            chosen = tf.concat([chosen, last + tf.zeros_like(chosen[:1])], 0)
        values, index = smaller, chosen
    if index is None:
        return tf.zeros_like(values[0], tf.int32), values[0]
    return index[0], values[0]


# Up to this many features the inner products are written out as multiply-adds:
# a dot this shallow is dispatch, not arithmetic (2-5x faster at d=2, k=3..64).
UNROLLED_MAX_FEATURES = 4


# Under XLA, with at most this many centres, the products are written out up to
# UNROLLED_MAX_WORK features x centres too: XLA's dot of a 10-feature chunk against 8
# centres is mostly call (in-process interleaved Lloyd loops, quiet 2-core AMD EPYC, ms
# per iteration, dot vs written out: 10k x 10, k=8 0.179 vs 0.127; 100k x 8, k=8 0.80 vs
# 0.47; 100k x 6, k=8 0.75 vs 0.43; 100k x 5, k=5 0.80 vs 0.62), but not beyond (100k x
# 12, k=8 1.49 vs 1.55; 100k x 10, k=10 1.25 vs 1.48; 100k x 6, k=16 1.12 vs 1.87).
UNROLLED_MAX_CENTERS = 8
UNROLLED_MAX_WORK = 80


def written_out(n_features: int | None, n_centers: int | None, xla: bool) -> bool:
    """Whether ``dots`` writes the products out as multiply-adds."""
    if n_features is not None and n_features <= UNROLLED_MAX_FEATURES:
        return True
    if not xla or n_features is None or n_centers is None:
        return False
    return n_centers <= UNROLLED_MAX_CENTERS and n_features * n_centers <= UNROLLED_MAX_WORK


def dots(a: tf.Tensor, b: tf.Tensor, unrolled: bool | None = None) -> tf.Tensor:
    """a @ b.T, the cross term of the GEMM form (either centres x rows or rows x centres);
    ``unrolled`` (default: d <= UNROLLED_MAX_FEATURES) writes it out as multiply-adds."""
    d = a.shape[1]
    if unrolled is None:
        unrolled = written_out(d, None, xla=False)
    if unrolled:
        return tf.add_n([a[:, j, tf.newaxis] * b[tf.newaxis, :, j] for j in range(d)])
    return tf.matmul(a, b, transpose_b=True)


# Up to this many clusters XLA's own argmin down the centre-major distances beat the
# halving (in-process interleaved Lloyd loops, 2-core AMD EPYC, ms per iteration,
# halving vs argmin: 200k x 8, k=16 3.41 vs 2.77; 500k x 4, k=8 3.89 vs 3.09; 50k x 16,
# k=16 1.41 vs 1.15; 10k x 10, k=8 0.210 vs 0.202); from 24 clusters it fell far
# behind (200k x 8, k=32: 5.7 vs 15.8; 50k x 16, k=32: 1.8 vs 4.0).
REDUCE_ARGMIN_MAX_CLUSTERS = 16


def nearest_shifted(x: tf.Tensor, centers: tf.Tensor, center_sqnorm: tf.Tensor, xla=False):
    """Nearest centre and min_c (||c||^2 - 2 x.c), the squared distance less ||x||^2.

    Under XLA (``xla=True``, static k) distances are laid out centre-major (k x rows)
    and, above REDUCE_ARGMIN_MAX_CLUSTERS, the argmin is the halving of
    ``_argmin_down``, down whole rows of the GEMM output; few centres and features have
    their products written out (``written_out``). A plain graph keeps rows x centres
    and ``tf.argmin``: there the halving is ~3 log2(k) separate ops (4x slower on
    ``assign``) and the centre-major layout alone cost 16-22% (``assign`` on 1M x 32,
    k=64: 101 vs 86 ms).
    """
    if xla and centers.shape[0] is not None:
        unrolled = written_out(centers.shape[1], centers.shape[0], xla=True)
        partial = center_sqnorm[:, tf.newaxis] - 2.0 * dots(centers, x, unrolled)
        if centers.shape[0] <= REDUCE_ARGMIN_MAX_CLUSTERS:
            return tf.argmin(partial, 0, output_type=tf.int32), tf.reduce_min(partial, 0)
        return _argmin_down(partial)
    partial = center_sqnorm[tf.newaxis, :] - 2.0 * dots(x, centers)
    return tf.argmin(partial, axis=1, output_type=tf.int32), tf.reduce_min(partial, axis=1)


def nearest(x: tf.Tensor, centers: tf.Tensor, center_sqnorm: tf.Tensor, xla=False):
    """Nearest centre and its squared distance (GEMM form, clipped at 0) for centred rows."""
    labels, shifted = nearest_shifted(x, centers, center_sqnorm, xla)
    return labels, tf.maximum(shifted + tf.reduce_sum(tf.square(x), axis=1), 0.0)


# Up to this many clusters, a plain graph (no XLA) takes per-cluster sums as a one-hot
# product: TF's own scatter kernel is 3x slower there (20k x 8, k=8: 0.61 vs 0.19 ms per
# chunk); at k=256 the product is slower (a 50k x 16 fit: 15.7 vs 18.7 ms per iteration).
ONE_HOT_MAX_CLUSTERS = 16


def cluster_sums(values, labels, k, xla: bool) -> tf.Tensor:
    """Per-cluster sums of the rows of ``values`` (``k``: static where it is known)."""

    def scatter():
        return tf.math.unsorted_segment_sum(values, labels, k)

    def one_hot():
        return tf.matmul(tf.one_hot(labels, k, dtype=values.dtype), values, transpose_a=True)

    if xla or not isinstance(k, int) or k > ONE_HOT_MAX_CLUSTERS:
        return scatter()
    return one_hot()


def chunk_count(n_rows: tf.Tensor, chunk_rows: int):
    n_chunks = (n_rows + chunk_rows - 1) // chunk_rows
    return n_chunks


def for_chunks(n_chunks, body, state):
    """``state = body(i, state)`` for i in range(n_chunks), as one graph loop.

    Every kernel is traced without autograph (``tf.function(autograph=False)``), so its
    loops are written as ``tf.while_loop``: autograph's conversion of this module's
    functions cost ~0.7 s of the first fit in a process (a CLI command is one).
    """
    step = lambda i, state: (i + 1, body(i, state))  # noqa: E731
    return tf.while_loop(lambda i, _: i < n_chunks, step, (tf.constant(0), state))[1]


def _chunk_stats(
    rows, weights, origin, centers, center_sqnorm, start, size, xla, by_column, row_norms
):
    """Sums, weights and inertia of rows[start:start + size], centred (``_centred_chunk``,
    then ``_stats_of``)."""
    x, w = _centred_chunk(rows, weights, origin, start, size, by_column)
    return _stats_of(x, w, centers, center_sqnorm, xla, row_norms)


def _centred_chunk(rows, weights, origin, start, size, by_column: bool):
    """rows[start:start + size] less ``origin``, and their weights.

    ``by_column``: ``rows`` is d x n (one row per feature, as columnar files store
    them); the chunk is transposed here, in cache.
    """
    # tf.slice keeps a static size where there is one, which XLA needs.
    if by_column:
        d = tf.shape(rows)[0] if rows.shape[0] is None else rows.shape[0]
        x = tf.transpose(tf.slice(rows, [0, start], [d, size])) - origin
    else:
        d = tf.shape(rows)[1] if rows.shape[1] is None else rows.shape[1]
        x = tf.slice(rows, [start, 0], [size, d]) - origin
    return x, tf.slice(weights, [start], [size])


def _stats_of(x, w, centers, center_sqnorm, xla: bool, row_norms: bool) -> PassStats:
    """Sums, weights and inertia of the centred rows ``x`` (weights ``w``).

    The nearest centre needs only ||c||^2 - 2 x.c; without ``row_norms`` the inertia is
    sum_i w_i min_c (||c||^2 - 2 x_i.c), and the row norms (a pass over the rows of
    their own) are added once by a caller that keeps the rows (``weighted_sqnorm``).
    """
    labels, shifted = nearest_shifted(x, centers, center_sqnorm, xla)
    k = tf.shape(centers)[0] if centers.shape[0] is None else centers.shape[0]
    sums = tf.cast(cluster_sums(x * w[:, tf.newaxis], labels, k, xla), tf.float64)
    totals = tf.cast(tf.math.unsorted_segment_sum(w, labels, k), tf.float64)
    if row_norms:
        shifted = tf.maximum(shifted + tf.reduce_sum(tf.square(x), axis=1), 0.0)
        inertia = tf.reduce_sum(tf.cast(w * shifted, tf.float64))
    else:
        inertia = _shifted_inertia(sums, totals, centers)
    return PassStats(sums, totals, inertia)


def _shifted_inertia(sums, totals, centers) -> tf.Tensor:
    """sum_i w_i (||c_l||^2 - 2 x_i.c_l), l the label of row i, from the per-cluster
    weights W and sums S: sum_j W_j ||c_j||^2 - 2 c_j.S_j, the same sum in k x d work,
    in float64.

    Why: the per-row minimum it replaces made XLA recompute every distance in a fusion
    of its own (loaded 2 cores, per iteration: 500k x 4, k=8 8.7 -> 7.0 ms; 200k x 8,
    k=16 4.5 -> 3.7 ms)."""
    c = tf.cast(centers, tf.float64)
    return tf.reduce_sum(totals * tf.reduce_sum(tf.square(c), axis=1)) - 2.0 * tf.reduce_sum(
        c * sums
    )


def _for_chunks_ahead(n_chunks: int, fetch, body, state):
    """``state = body(i, fetch(i), state)`` for i in range(n_chunks) (static), as one
    XLA loop in which chunk i + 1 is fetched while chunk i is used, and carried.

    Why: a fusion that reads a dynamic slice of the rows reloads the slice offset for
    every element (XLA:CPU cannot prove the output does not alias it), so LLVM leaves
    the distance fusion scalar; a chunk carried in the loop is a plain buffer and the
    fusions over it are vectorised (500k x 4, k=8: about 20% less per Lloyd pass). The
    fetch is a copy of the chunk, which the fused pass made anyway where the distances
    are written out (``UNROLLED_MAX_FEATURES``).
    """
    chunk = fetch(0)
    if n_chunks > 1:

        def step(i, state, chunk):
            return i + 1, body(i, chunk, state), fetch(i + 1)

        start = (tf.constant(0), state, chunk)
        _, state, chunk = tf.while_loop(lambda i, *_: i < n_chunks - 1, step, start)
    return body(n_chunks - 1, chunk, state)


def _add(total: PassStats, chunk: PassStats) -> PassStats:
    return PassStats(*(tf.ensure_shape(a + b, a.shape) for a, b in zip(total, chunk, strict=True)))


def _zero_stats(centers) -> PassStats:
    return PassStats(
        tf.zeros_like(centers, tf.float64),
        tf.zeros_like(centers[:, 0], tf.float64),
        tf.zeros([], tf.float64),
    )


def pinned(rows, centers, dims: tuple[int, int], by_column: bool = False):
    """``rows`` and ``centers`` with the feature and cluster counts ``dims`` static.

    A graph traced for any number of rows (``reduce_retracing``) may otherwise lose them
    too, after other shapes were traced, and then choose differently (a matmul for the
    unrolled dots, the scatter for one-hot sums): float32 results of the same fit would
    depend on what ran before in the process.
    """
    d, k = dims
    rows = tf.ensure_shape(rows, [d, None] if by_column else [None, d])
    return rows, tf.ensure_shape(centers, [k, d])


def dynamic_rows_stats(rows, weights, origin, centers, total, layout, chunk_rows, dims):
    """Any number of rows: from the second row count on, one trace serves them all.
    Traced as ``_lloyd_stats_dynamic``, or inside ``device_steps._lloyd_steps_dynamic``' loop."""
    rows, centers = pinned(rows, centers, dims, layout[0])
    n = tf.shape(rows)[1 if layout[0] else 0]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    args = (rows, weights, origin, centers, center_sqnorm)

    def add_chunk(i, total):
        start = i * chunk_rows
        size = tf.minimum(chunk_rows, n - start)
        return _add(total, _chunk_stats(*args, start, size, False, *layout))

    total = _zero_stats(centers) if total is None else total
    return for_chunks(chunk_count(n, chunk_rows), add_chunk, total)


_lloyd_stats_dynamic = tf.function(dynamic_rows_stats, reduce_retracing=True, autograph=False)


def rows_stats(
    rows, weights, origin, centers, total, layout, chunk_rows: int, start: int, n_rows: int
):
    """``total`` (None: zeros) plus rows[start:start + n_rows]: full chunks in a loop,
    then the tail. ``layout`` is (by_column, row_norms). Compiled by XLA as
    ``lloyd_stats_static``, or inside ``device_steps._lloyd_steps_static``' loop.

    XLA fuses the distance epilogue, argmin and the per-cluster scatter; ``start``,
    ``n_rows`` and the chunk size are static (a tensor start cost 15% on 100k x 2, and
    parts of one length compiled no faster with it), so the tail is one more static
    slice, not a second call.
    """
    n_chunks, tail = divmod(n_rows, chunk_rows)
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    args = (rows, weights, origin, centers, center_sqnorm)

    def fetch(i):
        return _centred_chunk(rows, weights, origin, start + i * chunk_rows, chunk_rows, layout[0])

    def add_chunk(i, chunk, total):
        return _add(total, _stats_of(*chunk, centers, center_sqnorm, True, layout[1]))

    total = _zero_stats(centers) if total is None else total
    if n_chunks and (centers.shape[1] or UNROLLED_MAX_FEATURES + 1) <= UNROLLED_MAX_FEATURES:
        total = _for_chunks_ahead(n_chunks, fetch, add_chunk, total)
    elif n_chunks:  # a GEMM reads its slice in place: a carried copy cost 3-7% here
        total = for_chunks(n_chunks, lambda i, total: add_chunk(i, fetch(i), total), total)
    if tail:
        chunk = _chunk_stats(*args, start + n_chunks * chunk_rows, tail, True, *layout)
        total = _add(total, chunk)
    return total


lloyd_stats_static = tf.function(rows_stats, jit_compile=True, autograph=False)


def parts_side_by_side(kernel, args, chunk_rows: int, bounds, per_row: tuple[bool, ...]):
    """``kernel(*args, chunk_rows, start, n_rows)`` on each part of ``bounds``, one
    compiled call per part with no dependence between them, so TensorFlow runs them at
    once on its inter-op threads. Outputs are summed, or joined in row order where
    ``per_row``. XLA's per-cluster scatter is a serial loop: alone it leaves a core idle
    for ~40% of a Lloyd pass; side by side, one part's scatter overlaps another's GEMM
    (1M x 32, k=64: 70 -> 54 ms per pass on 2 cores, at the same chunk size)."""
    parts = [kernel(*args, chunk_rows, a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    return [
        tf.concat(list(values), 0) if joined else tf.add_n(list(values))
        for values, joined in zip(zip(*parts, strict=True), per_row, strict=True)
    ]


# ``parts_side_by_side`` as a call of its own (traced inside other graphs, it is the body).
side_by_side = tf.function(parts_side_by_side, autograph=False)


# Below this many rows, compiling a single pass with XLA costs more than it saves.
XLA_MIN_ROWS = 65536
# A whole Lloyd loop on the device is XLA-compiled from this much work per iteration
# (rows x (k + d)): at 10,000 x 10, k=8 an iteration took 0.5 ms compiled vs 2.5 ms in
# the plain graph, 50,000 x 16, k=32: 5.8 vs 11.8 ms, 20,000 x 768, k=50: 13.6 vs 33.7
# (loaded 2-core AMD EPYC); the compile, 0.3-2 s per new (n, d, k), is paid once.
XLA_LOOP_MIN_VALUES = 1 << 17
# Distances held per chunk (chunk_rows x k) when the chunk size is chosen automatically.
CHUNK_DISTANCES = 1 << 19
# Values per chunk (rows x (k + d): its distances and its rows) when a pass runs in
# concurrent parts, each on its own core: 2^16 (256 KiB of float32, within a core's
# L2) was best or near best (medians) for d = 8..128, k = 1..512 (1M x 32, k=64:
# 37 ms per Lloyd pass, vs 54 ms at 8192-row chunks; k-means++ with 6 trials:
# 20 vs 26 ms).
PART_CHUNK_VALUES = 1 << 16
# Fewer rows per chunk made the pass erratic (200k x 128, k=256: median 96 ms at 256
# rows, 64 ms at 512): each chunk is one step of XLA's loop.
PART_CHUNK_MIN_ROWS = 512
# A part must touch at least this many values (rows x (k + d)): below it, a second
# compiled call costs more than it overlaps (100k x 2, k=3: one part is 15% faster);
# above it, even a memory-bound k-means++ pass with one centre gains (13.7 -> 11.1 ms).
MIN_PART_WORK = 1 << 23


def auto_chunk_rows(n_clusters: int) -> int:
    """Rows per chunk so that a chunk's n_rows x k distances stay cache-sized (~2 MB), a
    multiple of 64 rows.

    Why 64: each centre's row of a chunk's centre-major distances then starts on a
    cache line; 21,845 rows (k=24) ran Lloyd's loop at 20.4 ms per iteration where
    21,824 took 12.1 (200k x 8, interleaved in one process, loaded 2-core AMD EPYC);
    other k measured the same or up to 4% faster."""
    rows = min(max(CHUNK_DISTANCES // max(n_clusters, 1), 1024), 1 << 17)
    return int(rows // 64 * 64)


@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def parallel_threads() -> int:
    """Passes that can run side by side: TensorFlow's inter-op threads when set, else
    the CPUs this process may use (not the host's count, which a container may cap)."""
    if _has_gpu():  # one device: parts would only queue on it
        return 1
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    if threads:
        return threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# A one-part pass over d <= UNROLLED_MAX_FEATURES features (written-out products,
# carried chunks) takes chunks this many times auto_chunk_rows: fewer, longer loop steps
# (Lloyd's loop interleaved in one process, quiet 2-core AMD EPYC, ms per iteration,
# 1x vs 4x: 500k x 4, k=8 2.39 vs 1.76; 700k x 2, k=5 2.47 vs 1.65; 300k x 4, k=16
# 4.94 vs 4.57; 200k x 3, k=3 1.69 vs 1.58). Passes with a dot measured no different
# (100k x 8, k=8: 0.66 vs 0.65).
WRITTEN_OUT_CHUNK_FACTOR = 4


def pass_layout(
    n_rows: int,
    n_clusters: int,
    n_features: int,
    chunk_rows: int | None = None,
    min_part_work: int = MIN_PART_WORK,
) -> tuple[int, tuple[int, ...]]:
    """Chunk rows and the row bounds of the concurrent parts of a large Lloyd pass.

    One part per inter-op thread when each touches ``min_part_work`` values, cut on
    chunk boundaries, with small power-of-two chunks (PART_CHUNK_VALUES) so every core
    works in its own cache; a single part keeps the larger ``auto_chunk_rows``
    (WRITTEN_OUT_CHUNK_FACTOR times that where d <= UNROLLED_MAX_FEATURES).
    A given ``chunk_rows`` is kept either way.
    """
    work = n_rows * (n_clusters + n_features)
    rows = max(PART_CHUNK_VALUES // (n_clusters + n_features), PART_CHUNK_MIN_ROWS)
    chunk = min(chunk_rows or 1 << (rows.bit_length() - 1), 1 << 17, n_rows)
    n_parts = min(parallel_threads(), work // min_part_work, n_rows // (2 * chunk))
    if n_parts < 2:
        auto = auto_chunk_rows(n_clusters)
        if n_features <= UNROLLED_MAX_FEATURES:
            auto *= WRITTEN_OUT_CHUNK_FACTOR
        return min(chunk_rows or auto, n_rows), (0, n_rows)
    cuts = [round(i * n_rows / n_parts / chunk) * chunk for i in range(n_parts)]
    return chunk, (*cuts, n_rows)


def lloyd_stats(
    rows,
    weights,
    origin,
    centers,
    chunk_rows: int | None = None,
    *,
    total: PassStats | None = None,
    by_column: bool = False,
    row_norms: bool = True,
) -> PassStats:
    """``total`` (zeros when None) plus the sums, weights and inertia per nearest centre
    of ``rows``: the E and half the M step of Lloyd.

    ``row_norms=False`` leaves sum_i w_i ||x_i - origin||^2 out of the inertia: it never
    changes during a fit, so a caller that keeps the rows takes it once
    (``weighted_sqnorm``) rather than every pass. ``by_column``: ``rows`` is d x n, one
    row per feature, so that columnar files need no transpose on the host. The total
    stays on the device (no sync per call).

    Large inputs run as XLA-compiled calls (compiled once per shape), in concurrent
    parts where there are cores for them; small ones use a dynamic-shape graph, traced
    per (d, k) but not per number of rows. ``chunk_rows`` fixes the chunk size (else
    chosen here).
    """
    layout = (by_column, row_norms)
    k, n = int(centers.shape[0]), rows.shape[1 if by_column else 0]
    if n is None or n < XLA_MIN_ROWS:
        chunk_rows = chunk_rows or auto_chunk_rows(k)
        dims = (int(rows.shape[0 if by_column else 1]), k)
        args = (rows, weights, origin, centers, total, layout)
        return _lloyd_stats_dynamic(*args, chunk_rows, dims)
    chunk, bounds = pass_layout(n, k, int(rows.shape[0 if by_column else 1]), chunk_rows)
    if len(bounds) == 2:  # one part: no wrapper, whose own call costs ~0.1 ms
        return lloyd_stats_static(rows, weights, origin, centers, total, layout, chunk, 0, n)
    args = (rows, weights, origin, centers, None, layout)
    parts = PassStats(*side_by_side(lloyd_stats_static, args, chunk, bounds, (False,) * 3))
    return parts if total is None else _add(total, parts)


def chunk_sq_distances(x, centers, center_sqnorm, row_sqnorm=None, xla: bool = False):
    """Squared distances (rows x m) of centred rows to ``centers``, GEMM form, clipped at 0.

    ``xla``: traced for XLA, where few centres and features have their products written
    out (``written_out``; k-means++'s candidates, default fits' seeding programs, in one
    process interleaved: 100k x 6, 4 candidates 10.8 -> 8.3 ms; 200k x 8 28.4 -> 25.3)."""
    if row_sqnorm is None:
        row_sqnorm = tf.reduce_sum(tf.square(x), axis=1)
    cross = dots(x, centers, written_out(x.shape[1], centers.shape[0], xla))
    return tf.maximum(row_sqnorm[:, tf.newaxis] - 2.0 * cross + center_sqnorm[tf.newaxis, :], 0.0)
