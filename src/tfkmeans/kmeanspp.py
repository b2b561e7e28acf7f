"""Greedy k-means++ as one device program: every step, no host round trip.

The host draws scikit-learn's random numbers up front (the first row, then
``n_local_trials`` uniforms per step, in the order scikit-learn draws them) and
the device does the rest in one ``while`` loop: the cumulative potential, the
candidate rows at the drawn targets (``searchsorted``), their potentials
sum_i w_i min(closest_i, d^2(x_i, c)), the best candidate and the updated
running distance. Calling a kernel, a ``cumsum`` on the host and a copy of the
running distance per step cost ~0.1 s per centre at 20,000 x 768; here one call
does all ``k`` steps.

The plain graph is traced once per dtype (every dimension unknown), so no shape
ever retraces; from COMPILED_MIN_VALUES of work, each step's pass is XLA-compiled
instead, once per shape. Distances are in GEMM form on centred rows, chunk by
chunk, as the Lloyd pass.

Sources that cannot hold the steps (rows read from files, chunk by chunk) step from
the host instead, one pass per step (``kmeanspp_pass``, dense rows in a tensor); its
compiled body (``kpp_rows``) is also what the greedy loop's compiled passes and the
whole fit's seeding run.
"""

from __future__ import annotations

import functools

import numpy as np

from tfkmeans.kernels import (
    XLA_MIN_ROWS,
    auto_chunk_rows,
    chunk_count,
    chunk_sq_distances,
    for_chunks,
    parts_side_by_side,
    pass_layout,
    side_by_side,
)
from tfkmeans.tfload import tf


def _kpp_chunk(args: tuple, start, size, every=False, xla=False):
    """Potentials of ``centers`` over rows[start:start + size], and the running distance
    to the chosen centres updated by ``centers[0]`` (``every``: by each centre, one
    column per centre). ``args``: (rows, weights, row_sqnorm, closest, origin, centers,
    center_sqnorm). ``xla``: traced for XLA (``chunk_sq_distances``)."""
    rows, weights, row_sqnorm, closest, origin, centers, center_sqnorm = args
    d = tf.shape(rows)[1] if rows.shape[1] is None else rows.shape[1]
    x = tf.slice(rows, [start, 0], [size, d]) - origin
    row_sqnorm = tf.slice(row_sqnorm, [start], [size])
    squared = chunk_sq_distances(x, centers, center_sqnorm, row_sqnorm, xla)
    nearer = tf.minimum(
        tf.slice(closest, [start], [size])[:, tf.newaxis], tf.cast(squared, tf.float64)
    )
    potentials = tf.reduce_sum(tf.slice(weights, [start], [size])[:, tf.newaxis] * nearer, 0)
    return potentials, (nearer if every else nearer[:, 0])


def _kpp_zeros(centers):
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    return center_sqnorm, tf.zeros_like(centers[:, 0], tf.float64)


@tf.function(reduce_retracing=True, autograph=False)
def _kpp_dynamic(rows, weights, row_sqnorm, closest, origin, centers, chunk_rows: int):
    """Any number of rows, dynamic shapes: small inputs never recompile."""
    n = tf.shape(rows)[0]
    center_sqnorm, potentials = _kpp_zeros(centers)
    args = (rows, weights, row_sqnorm, closest, origin, centers, center_sqnorm)

    def add_chunk(i, state):
        start = i * chunk_rows
        chunk_potentials, chunk_closest = _kpp_chunk(args, start, tf.minimum(chunk_rows, n - start))
        return state[0] + chunk_potentials, state[1].write(i, chunk_closest)

    updated = tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False)
    n_chunks = chunk_count(n, chunk_rows)
    potentials, updated = for_chunks(n_chunks, add_chunk, (potentials, updated))
    return potentials, updated.concat()


def kpp_rows(
    rows,
    weights,
    row_sqnorm,
    closest,
    origin,
    centers,
    chunk_rows: int,
    start: int,
    n_rows: int,
    every: bool = False,
):
    """Potentials of ``centers`` over rows[start:start + n_rows] and the running distance
    updated by ``centers[0]`` (``every``: by each centre, one column each), in static
    shapes: full chunks in a loop, then the tail. The body of ``_kpp_static``, plain so
    that a program traced around it (the whole fit's seeding) inlines it rather than
    calling a compiled function."""
    n_chunks, tail = divmod(n_rows, chunk_rows)
    center_sqnorm, potentials = _kpp_zeros(centers)
    args = (rows, weights, row_sqnorm, closest, origin, centers, center_sqnorm)

    def add_chunk(i, state):
        chunk = _kpp_chunk(args, start + i * chunk_rows, chunk_rows, every, True)
        return state[0] + chunk[0], state[1].write(i, chunk[1])

    shape = [chunk_rows, centers.shape[0]] if every else [chunk_rows]
    updated = tf.TensorArray(tf.float64, size=n_chunks, element_shape=shape)
    potentials, updated = for_chunks(n_chunks, add_chunk, (potentials, updated))
    closest_out = tf.reshape(updated.stack(), [-1, *shape[1:]])
    if tail:
        chunk_potentials, chunk_closest = _kpp_chunk(
            args, start + n_chunks * chunk_rows, tail, every, True
        )
        potentials += chunk_potentials
        closest_out = tf.concat([closest_out, chunk_closest], 0)
    return potentials, closest_out


# ``kpp_rows`` XLA-compiled, one trace per shape and static argument.
_kpp_static = tf.function(kpp_rows, jit_compile=True, autograph=False)


def kmeanspp_pass(
    rows, weights, row_sqnorm, closest, origin, centers, chunk_rows: int | None = None
):
    """One k-means++ pass: for each of ``centers`` (float64 weights) the potential
    sum_i w_i min(closest_i, d^2(x_i, c_j)), and closest updated by ``centers[0]``.

    ``closest`` (float64, per row) is the squared distance to the centres chosen so
    far (+inf before the first). Chunk by chunk, so no n x m matrix is formed;
    XLA-compiled for large inputs, in concurrent parts, as the Lloyd pass.
    """
    n, m = rows.shape[0], int(centers.shape[0])
    if n is None or n < XLA_MIN_ROWS:
        chunk_rows = chunk_rows or auto_chunk_rows(m)
        return _kpp_dynamic(rows, weights, row_sqnorm, closest, origin, centers, chunk_rows)
    chunk, bounds = pass_layout(n, m, int(rows.shape[1]), chunk_rows)
    args = (rows, weights, row_sqnorm, closest, origin, centers)
    if len(bounds) == 2:
        return _kpp_static(*args, chunk, 0, n)
    return tuple(side_by_side(_kpp_static, args, chunk, bounds, (False, True)))


def _candidate_distances(rows, weights, row_sqnorm, origin, closest, centers, chunk_rows):
    """For each candidate (centred, m x d): its potential sum_i w_i min(closest_i, d^2)
    and the n x m running distances it would leave (float64)."""
    n = tf.shape(rows)[0]
    center_sqnorm = tf.reduce_sum(tf.square(centers), axis=1)
    args = (rows, weights, row_sqnorm, closest, origin, centers, center_sqnorm)

    def add_chunk(i, state):
        start = i * chunk_rows
        size = tf.minimum(chunk_rows, n - start)
        potentials, nearer = _kpp_chunk(args, start, size, every=True)
        return state[0] + potentials, state[1].write(i, nearer)

    start = (
        tf.zeros_like(centers[:, 0], tf.float64),
        tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False),
    )
    potentials, nearer = for_chunks(chunk_count(n, chunk_rows), add_chunk, start)
    return potentials, nearer.concat()


def _greedy(rows, weights, row_sqnorm, origin, first, uniforms, chunk_rows):
    """Positions of the k chosen rows: ``first``, then one per row of ``uniforms``."""
    args = (rows, weights, row_sqnorm, origin)

    def candidates(closest, centers):
        return _candidate_distances(*args, closest, centers, chunk_rows)

    return greedy_steps(candidates, rows, weights, origin, first, uniforms)


# Values per block of ``first_reaching``'s two-level search (at most).
SEARCH_BLOCK = 1024


def first_reaching(values, targets):
    """For each target, the first position where the running sum of ``values`` (>= 0)
    reaches it (``searchsorted(cumsum(values), targets, side="left")``); past the end,
    ``len(values)``.

    Where the length is known (XLA programs, and the plain graph around compiled
    passes), in two levels: block totals and their running sum find each target's
    block, then only that block is summed in order. Why: XLA's cumulative sum and
    search over every row took ~1.5 ms per k-means++ step at 102,400 rows, this ~0.45,
    what one plain sum of them costs. Seeding, same rows picked (in one process,
    interleaved, 2-core AMD EPYC, ms): the whole fit's, 100,000 x 256, k=100 765 -> 691;
    50,000 x 16, k=32 22.5 -> 13.8; 200,000 x 8, k=16 28.8 -> 15.8; 500,000 x 4, k=8
    38.9 -> 19.8; 10,000 x 10, k=8 1.9 -> 1.4; ``compiled_positions`` (chunk_rows set),
    200,000 x 32, k=32 170 -> 133. Summed in blocks, the running totals round differently from one
    sequential sum: a target within rounding of a row's boundary may fall on its
    neighbour."""
    size = values.shape[0]
    if size is None:
        cumulative = tf.cumsum(values)
        return tf.searchsorted(cumulative[tf.newaxis], targets[tf.newaxis], side="left")[0]
    block = min(size & -size, SEARCH_BLOCK)
    blocks = tf.reshape(values, [size // block, block])
    totals = tf.reduce_sum(blocks, 1)
    ends = tf.cumsum(totals)
    which = tf.searchsorted(ends[tf.newaxis], targets[tf.newaxis], side="left")[0]
    which = tf.minimum(which, size // block - 1)
    running = tf.cumsum(tf.gather(blocks, which), axis=1)
    running += tf.gather(tf.cumsum(totals, exclusive=True), which)[:, tf.newaxis]
    inside = tf.searchsorted(running, targets[:, tf.newaxis], side="left")[:, 0]
    return which * block + inside


def greedy_steps(distances, rows, weights, origin, first, uniforms, n_rows=None):
    """The greedy loop over ``distances(closest, centers)``: the potential and the n x m
    running distances each candidate would leave. ``n_rows``: the real rows, where
    ``rows`` ends in zero-weight padding (a drawn target past the last real row's
    cumulative potential takes the last real row, as in scikit-learn)."""
    n = tf.shape(rows)[0] if n_rows is None else n_rows
    inf = tf.fill(tf.shape(rows)[:1], tf.constant(np.inf, tf.float64))
    first_row = tf.gather(rows, first[tf.newaxis]) - origin
    potentials, nearer = distances(inf, first_row)

    def step(i, closest, potential, chosen):
        found = first_reaching(weights * closest, uniforms[i] * potential)
        candidates = tf.minimum(found, n - 1)
        centers = tf.gather(rows, candidates) - origin
        potentials, nearer = distances(closest, centers)
        best = tf.argmin(potentials, output_type=tf.int32)
        closest = tf.gather(nearer, best, axis=1)
        return i + 1, closest, potentials[best], chosen.write(i, candidates[best])

    chosen = tf.TensorArray(tf.int32, size=tf.shape(uniforms)[0], element_shape=[])
    steps = tf.shape(uniforms)[0]
    state = (tf.constant(0), nearer[:, 0], potentials[0], chosen)
    chosen = tf.while_loop(lambda i, *_: i < steps, step, state)[3]
    return tf.concat([first[tf.newaxis], chosen.stack()], 0)


def padded_greedy(rows, weights, origin, n_rows, first, uniforms):
    """Greedy k-means++ over rows ending in zero-weight padding past ``n_rows``, every
    pass one chunk of all the rows: the positions picked and ||x - origin||^2 per row.
    The plain body of ``one_program_positions`` and of the whole fit's seeding.

    One chunk: passes cut in chunks (a loop in the greedy loop) ran slower, tail-free
    (ms a seeding, float32, interleaved: 100,000 x 256, k=100 628 vs 674-699; 200,000 x
    8, k=16 30 vs 76; 50,000 x 16, k=32 23 vs 40), and with a tail did not finish
    compiling in 10 minutes at 50,000 x 16, k=32."""
    n = rows.shape[0]
    row_sqnorm = tf.reduce_sum(tf.square(rows - origin), 1)

    def kpp_distances(closest, centers):
        return kpp_rows(rows, weights, row_sqnorm, closest, origin, centers, n, 0, n, True)

    positions = greedy_steps(kpp_distances, rows, weights, origin, first, uniforms, n_rows)
    return positions, row_sqnorm


@tf.function(jit_compile=True, autograph=False)
def _one_program(rows, weights, origin, n_rows, first, uniforms):
    return padded_greedy(rows, weights, origin, n_rows, first, uniforms)[0]


# Up to this much work (rows x (features + trials)), ``one_program_positions`` holds
# every pass's distances at once (rows x trials, float32 and float64).
ONE_PROGRAM_MAX_VALUES = 1 << 26


def one_program_positions(
    padded, weights, origin, n_rows: int, first: int, uniforms: np.ndarray
) -> np.ndarray:
    """``greedy_positions`` as one XLA program over ``padded`` rows (zero-weight rows past
    ``n_rows``, float64 ``weights`` as long), every pass one chunk: XLA's GEMM over all
    rows runs on every core, and no step leaves the program. Same rows as
    ``compiled_positions`` (tested), faster where the work allows it: interleaved, one
    process, quiet 2-core AMD EPYC, 100,000 x 256, k=100 float32 824 vs 985 ms; 1M x 32,
    k=64 float32 1.44 vs 2.06 s."""
    args = (tf.constant(n_rows, tf.int32), tf.constant(first, tf.int32))
    return _one_program(padded, weights, origin, *args, tf.constant(uniforms)).numpy()


@tf.function(autograph=False)
def _greedy_compiled(
    rows, weights, row_sqnorm, origin, first, uniforms, chunk_rows: int, bounds: tuple
):
    """As ``_greedy``, each step's pass XLA-compiled (static shapes: traced and compiled
    per shape) on each part of ``bounds`` (row ranges with no dependence between them,
    so TensorFlow runs them at once on its inter-op threads), the loop, cumulative sum
    and draw in the plain graph around it."""

    def distances(closest, centers):
        args = (rows, weights, row_sqnorm, closest, origin, centers)
        every = functools.partial(_kpp_static, every=True)
        return tuple(parts_side_by_side(every, args, chunk_rows, bounds, (False, True)))

    return greedy_steps(distances, rows, weights, origin, first, uniforms)


# From this much work (rows x (features + trials) x centres), each step's pass is
# XLA-compiled (compiled once per shape: 0.4-1.2 s on a first fit). Loaded 2-core AMD
# EPYC, k-means++ alone, plain graph vs compiled passes: 10k x 10, k=8 9.3 vs 4.2 ms
# (under the bar: the compile would double a first fit), 50k x 16, k=32 75 vs 48 ms,
# 20k x 768, k=50 383 vs 236 ms.
COMPILED_MIN_VALUES = 1 << 23
# Values (rows x (features + trials)) per chunk of a compiled pass (1024-row chunks at
# d=768 were 236 vs 376 ms for one 20,000-row chunk; at d=16 one chunk was best).
COMPILED_CHUNK_VALUES = 1 << 20


def _traced(dtype: tf.DType):
    matrix, vector = tf.TensorSpec([None, None], dtype), tf.TensorSpec([None], dtype)
    signature = [
        matrix,  # rows
        tf.TensorSpec([None], tf.float64),  # weights
        vector,  # ||row - origin||^2
        vector,  # origin
        tf.TensorSpec([], tf.int32),  # first position
        tf.TensorSpec([None, None], tf.float64),  # uniforms, (k - 1) x trials
        tf.TensorSpec([], tf.int32),  # chunk rows
    ]
    return tf.function(_greedy, input_signature=signature, autograph=False)


_GREEDY = {}


def greedy_positions(
    rows, weights, row_sqnorm, origin, first: int, uniforms: np.ndarray, chunk_rows: int
) -> np.ndarray:
    """Row positions of greedy k-means++'s centres, all steps in one device call
    (each step's pass compiled where the work is COMPILED_MIN_VALUES or more).

    ``uniforms`` ((k - 1) x trials, in [0, 1)) scale the current potential into the
    targets of each step, as scikit-learn's ``uniform(size=trials) * potential``.
    """
    n, d = int(rows.shape[0]), int(rows.shape[1])
    width = d + uniforms.shape[1]
    if n * width * (uniforms.shape[0] + 1) >= COMPILED_MIN_VALUES:
        return compiled_positions(rows, weights, row_sqnorm, origin, first, uniforms)
    dtype = rows.dtype
    if dtype not in _GREEDY:
        _GREEDY[dtype] = _traced(dtype)
    out = _GREEDY[dtype](
        rows,
        weights,
        row_sqnorm,
        origin,
        tf.constant(first, tf.int32),
        tf.constant(uniforms, tf.float64),
        tf.constant(chunk_rows, tf.int32),
    )
    return out.numpy()


def compiled_positions(
    rows, weights, row_sqnorm, origin, first: int, uniforms: np.ndarray, chunk_rows=None
) -> np.ndarray:
    """``greedy_positions`` with every step's pass XLA-compiled, in concurrent parts
    where ``kernels.pass_layout`` cuts the pass (one per core), all steps in one call.

    A host loop over the same parts (a call, a host cumsum and a copy of the running
    distances per step) took 1.26 s at 100,000 x 256, k=100, this 0.90-0.95 s (loaded
    2-core AMD EPYC, interleaved, same rows). ``chunk_rows`` fixes the chunk size.
    """
    n, d, trials = int(rows.shape[0]), int(rows.shape[1]), int(uniforms.shape[1])
    chunk, bounds = pass_layout(n, trials, d, chunk_rows)
    if len(bounds) == 2 and chunk_rows is None:
        chunk = min(n, 1 << max((COMPILED_CHUNK_VALUES // (d + trials)).bit_length() - 1, 0))
    args = (tf.constant(first, tf.int32), tf.constant(uniforms, tf.float64), chunk, bounds)
    return _greedy_compiled(rows, weights, row_sqnorm, origin, *args).numpy()
