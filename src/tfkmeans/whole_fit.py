"""The default fit as one compiled program: greedy k-means++, Lloyd's iterations and
the exact final assignment in a single XLA call.

On everyday inputs a fit is mostly calls, not arithmetic: the step-by-step path makes
six TensorFlow calls (moments, row norms, k-means++, the norm total, Lloyd's loop, the
assignment) at 0.3-1 ms each plus their host copies; iris' fit took 4.2 ms where
scikit-learn-intelex takes 1. As one program (prototype, quiet 2-core AMD EPYC, same
labels, ``n_iter_`` and inertia): iris 0.7 vs 4.2 ms, digits 7 vs 13 ms, 10,000 x 10
(k=8, separated blobs) 3.5 vs 15 ms. The program is compiled once per shape (0.5-1.5 s
more on a first fit than the step-by-step path's own compiles); rows are padded with
zero-weight rows to one of 16 sizes per octave (at most 6.25% more rows), so fits of
nearby row counts (folds, subsamples) share it. From SEPARATE_FROM_CLUSTERS clusters
the seeding and the iterations are two programs (measured faster there).

The arithmetic is the step-by-step path's own kernels, traced inside; the moments
(the origin rows are centred on, the variance that scales ``tol``) are the source's
where it has them, else computed in the program and handed to the source, so both
paths centre on the same bits; the random numbers are drawn on the host in
scikit-learn's order. A fit that would leave a cluster empty
(whose repair needs the host) stops and hands back its initial centres for the
step-by-step solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfkmeans import device_steps, kernels, row_kernels
from tfkmeans.buffers import padded_rows
from tfkmeans.initialization import kmeanspp_draws
from tfkmeans.kmeanspp import padded_greedy
from tfkmeans.sources import InMemory, Source
from tfkmeans.tfload import tf


@dataclass(frozen=True)
class Fitted:
    """One restart, done: centres in the source's centred coordinates (rounded to its
    dtype), labels, exact inertia, iterations and the inertia of each."""

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    history: list[float]


def applies(source: Source, n_clusters: int, max_iter: int) -> bool:
    """Dense rows in memory whose Lloyd pass runs as one part (larger passes run in
    concurrent parts, one per core, from the host), two clusters or more, and a history
    that fits a block."""
    if type(source) is not InMemory or source.unit_rows or max_iter > device_steps.STEPS_BLOCK_MAX:
        return False
    if n_clusters < 2:  # no greedy step to compile: XLA refuses the empty loop's slices
        return False
    n = padded_rows(source.n_rows)
    return len(kernels.pass_layout(n, n_clusters, source.n_features)[1]) == 2


# Rows per partial sum of the moments, in the rows' dtype (see ``_moments``).
MOMENT_BLOCK_ROWS = 64


def _moments(rows, n_rows, known, origin64, variance):
    """The source's moments where ``known``, else the rows' own: per-feature
    mean rounded to the rows' dtype (centring is then exact) and variance, float64,
    over the real rows (the zero padding left out).

    Why here: in the program they are one more fused pass over rows it reads anyway;
    NumPy or a TensorFlow call before it took ~23 ms of a 270 ms fit at 20,000 x 768
    float32 and ~0.5 ms of a 10 ms fit at 10,000 x 10 (2-core AMD EPYC)."""

    def own():
        # One pass over the rows less the first (the cancellation left is that of the
        # spread, not of the mean), padding masked out; sums of MOMENT_BLOCK_ROWS rows in
        # the rows' dtype, then float64: 11 vs 19 ms all in float64 at 20,000 x 768
        # float32, the mean within 3e-8 standard deviations, the variance within 2e-7.
        size, width = rows.shape
        block = min(size & -size, MOMENT_BLOCK_ROWS)
        first_row, count = rows[0], tf.cast(n_rows, tf.float64)
        real = (tf.range(size) < n_rows)[:, tf.newaxis]
        x = tf.reshape(tf.where(real, rows - first_row, tf.zeros_like(rows)), [-1, block, width])

        def total(values):
            return tf.reduce_sum(tf.cast(tf.reduce_sum(values, 1), tf.float64), 0)

        shift = total(x) / count
        variance = total(tf.square(x)) / count - tf.square(shift)
        mean = tf.cast(first_row, tf.float64) + shift
        return tf.cast(tf.cast(mean, rows.dtype), tf.float64), variance

    return tf.cond(known, lambda: (origin64, variance), own)


def _seeding(rows, weights, known, origin64, variance, n_rows, first, uniforms):
    """Positions of the greedy k-means++ rows, their centred coordinates (float64),
    sum_i w_i ||x_i||^2 (the part of each step's inertia the centres leave out), and
    the moments centred on (``_moments``; the host keeps them in the source, so the
    step-by-step solver centres on the same bits).

    ``rows`` ends in zero-weight padding past ``n_rows`` (``kmeanspp.padded_greedy``)."""
    origin64, variance = _moments(rows, n_rows, known, origin64, variance)
    origin = tf.cast(origin64, rows.dtype)  # exact: representable
    positions, row_sqnorm = padded_greedy(rows, weights, origin, n_rows, first, uniforms)
    start = tf.cast(tf.gather(rows, positions), tf.float64) - origin64
    sqnorm = tf.reduce_sum(weights * tf.cast(row_sqnorm, tf.float64))
    return positions, start, sqnorm, origin64, variance


def _iterations(rows, weights, origin64, variance, start, tol, chunk_rows: int, block: int):
    """Lloyd's steps from ``start`` and the exact assignment to where they end: the
    centres (user coordinates, in the rows' dtype), labels and exact squared distances
    of every row, the steps taken, each step's inertia less sum w ||x||^2, and why the
    steps stopped. ``tol`` is scikit-learn's: relative to the mean ``variance``."""
    n, dtype = rows.shape[0], rows.dtype
    origin, weights_in_dtype = tf.cast(origin64, dtype), tf.cast(weights, dtype)

    def pass_stats(centers):
        args = (rows, weights_in_dtype, origin, tf.cast(centers, dtype), None, (False, False))
        return kernels.rows_stats(*args, chunk_rows, 0, n)

    absolute = tol * tf.reduce_mean(variance)
    steps = device_steps.steps_loop(pass_stats, start, block, absolute, False, block)
    final = tf.cast(steps.centers + origin64, dtype)
    labels, distances = row_kernels.assign_rows(
        rows, origin, tf.cast(tf.cast(final, tf.float64) - origin64, dtype), chunk_rows, 0, n
    )
    return final, labels, distances, steps.steps, steps.inertia, steps.stop


_seeding_program = tf.function(_seeding, jit_compile=True, autograph=False)
_iterations_program = tf.function(_iterations, jit_compile=True, autograph=False)


@tf.function(jit_compile=True, autograph=False)
def _whole_fit(rows, weights, known, origin64, variance, n_rows, first, uniforms, tol, *statics):
    """``_seeding`` then ``_iterations``, one program (``statics``: chunk rows, block)."""
    seeding = _seeding(rows, weights, known, origin64, variance, n_rows, first, uniforms)
    positions, start, sqnorm, origin64, variance = seeding
    iterations = _iterations(rows, weights, origin64, variance, start, tol, *statics)
    return positions, sqnorm, origin64, variance, *iterations


def _two_programs(rows, weights, known, origin64, variance, n_rows, first, uniforms, tol, *statics):
    """``_seeding`` and ``_iterations`` as two programs (see SEPARATE_FROM_CLUSTERS)."""
    seeding = (rows, weights, known, origin64, variance, n_rows, first, uniforms)
    positions, start, sqnorm, origin64, variance = call(_seeding_program, seeding, ())
    iterations = (rows, weights, origin64, variance, start, tol)
    return positions, sqnorm, origin64, variance, *call(_iterations_program, iterations, statics)


# Concrete functions by program, static arguments and tensor types (see ``call``).
_concrete: dict[tuple, object] = {}


def call(program, tensors: tuple, statics: tuple) -> tuple:
    """``program(*tensors, *statics)`` through its concrete function's flat call.

    Why: the polymorphic call binds and canonicalises its arguments and looks up its
    trace every time, ~0.55 ms where iris' whole fit runs in ~0.15 ms (quiet 2-core AMD
    EPYC: 0.68 vs 0.13 ms a call; the public ``ConcreteFunction.__call__`` took 3.7 ms).
    ``_call_flat`` is TensorFlow's own internal entry (Keras and SavedModel call it);
    where a TensorFlow lacks it, the polymorphic call runs, same results.
    """
    key = (program, statics, *((t.dtype, tuple(t.shape)) for t in tensors))
    concrete = _concrete.get(key)
    if concrete is None:
        concrete = _concrete[key] = program.get_concrete_function(*tensors, *statics)
    flat = getattr(concrete, "_call_flat", None)
    if flat is None:
        return program(*tensors, *statics)
    return flat(list(tensors), concrete.captured_inputs)


# From this many clusters, seeding and iterations run as two programs: Lloyd's steps
# compiled with the seeding ran slower (interleaved default fits, loaded 2-core AMD
# EPYC, one vs two programs, ms: 50k x 16, k=32 303 vs 249 and 521 vs 423; 20k x 768,
# k=50 408 vs 385 and 486 vs 374), while below it one program was faster (10k x 10,
# k=8 12.0 vs 16.3; 200k x 8, k=16 819 vs 999; 500k x 4, k=8 2877 vs 3154; iris,
# digits 2.1 vs 2.5, 10.0 vs 11.5). Why XLA compiles the loop slower there was not found.
SEPARATE_FROM_CLUSTERS = 32


def fit(
    source: InMemory,
    n_clusters: int,
    random_state: np.random.RandomState,
    max_iter: int,
    tol: float,
) -> Fitted | np.ndarray:
    """One restart from k-means++, or its initial centres (centred coordinates) for the
    step-by-step solver: where a step would leave a cluster empty, and where Lloyd's
    loop runs in concurrent parts (``device_steps.steps_in_parts``)."""
    first, uniforms = kmeanspp_draws(source.sample_weight, n_clusters, random_state)
    n, d = source.n_rows, source.n_features
    rows, weights = source.padded()
    size = int(rows.shape[0])
    known = source.known_moments()
    origin, variance = (np.zeros(d), np.zeros(d)) if known is None else known
    args = (
        rows,
        weights,
        tf.constant(known is not None),
        tf.constant(origin, tf.float64),
        tf.constant(variance, tf.float64),
        tf.constant(n, tf.int32),
        tf.constant(first, tf.int32),
        tf.constant(uniforms, tf.float64),
    )
    if device_steps.steps_in_parts(size, n_clusters, d):
        # The kernels run this Lloyd loop in concurrent parts (device_steps.
        # _lloyd_steps_parts: d <= 4 with the halving argmin), which one program cannot
        # hold: the seeding alone here; the kernels decide parts.
        _, start, _, origin, variance = call(_seeding_program, args, ())
        source.keep_moments(origin.numpy(), variance.numpy())
        return start.numpy()
    args = (*args, tf.constant(tol, tf.float64))
    statics = (kernels.pass_layout(size, n_clusters, d)[0], max_iter)
    if n_clusters >= SEPARATE_FROM_CLUSTERS:
        out = _two_programs(*args, *statics)
    else:
        out = call(_whole_fit, args, statics)
    positions, sqnorm, origin, variance, centers, labels, distances, n_iter, history, stop = (
        v.numpy() for v in out
    )
    source.keep_moments(origin, variance)
    if stop == device_steps.STEPS_EMPTY_CLUSTER:
        return source.take(positions)[0]
    inertia = float(distances[:n] @ source.sample_weight)
    centers = centers.astype(np.float64) - origin
    history = (history[:n_iter] + sqnorm).tolist()
    return Fitted(centers, labels[:n], inertia, int(n_iter), history)
