"""The whole default fit as one compiled program: moments, greedy k-means++, Lloyd's
iterations and the exact final assignment in a single XLA call.

On everyday inputs a fit is mostly calls, not arithmetic: the step-by-step path
makes six TensorFlow calls (moments, row norms, k-means++, the norm total, Lloyd's
loop, the assignment) at 0.3-1 ms each plus their host copies, and iris' whole fit
is 4 ms where scikit-learn-intelex takes 1. As one program, iris takes 0.7 ms,
10,000 x 10 (k=8) 3.5 vs 15 ms, 50,000 x 16 (k=32) 66 vs 124 ms (idle 2-core AMD
EPYC, same labels, ``n_iter_`` and inertia). The program is compiled once per shape
(0.5-1.5 s on a first fit); rows are padded with zero-weight rows to one of 16
sizes per octave (at most 6.25% more rows), so fits of nearby row counts (folds,
subsamples) share it.

The arithmetic is the step-by-step path's own kernels, traced inside this program;
the random numbers are drawn on the host in scikit-learn's order. A fit that would
leave a cluster empty (whose repair needs the host) stops and hands back its initial
centres for the step-by-step solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfkmeans import kernels
from tfkmeans.initialization import kmeanspp_draws
from tfkmeans.kmeanspp import _greedy_steps
from tfkmeans.sources import InMemory, Source
from tfkmeans.tfload import tf

# Sizes a padded row count can take per octave: 16 keeps the padding under 6.25% of
# the rows while nearby counts share one compiled program.
SIZES_PER_OCTAVE = 16


@dataclass(frozen=True)
class Fitted:
    """One restart, done: centres in the source's centred coordinates (rounded to its
    dtype), labels, exact inertia, iterations and the inertia of each."""

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    history: list[float]


def padded_rows(n: int) -> int:
    """``n`` rounded up to the next of SIZES_PER_OCTAVE sizes per power of two."""
    step = 1 << max(n.bit_length() - 1 - SIZES_PER_OCTAVE.bit_length() + 1, 0)
    return -(-n // step) * step


def applies(source: Source, n_clusters: int, max_iter: int) -> bool:
    """Dense rows in memory whose Lloyd pass runs as one part (larger passes run in
    concurrent parts, one per core, from the host), two clusters or more, and a history
    that fits a block."""
    if type(source) is not InMemory or source.unit_rows or max_iter > kernels.STEPS_BLOCK_MAX:
        return False
    if n_clusters < 2:  # no greedy step to compile: XLA refuses the empty loop's slices
        return False
    n = padded_rows(source.n_rows)
    return len(kernels.pass_layout(n, n_clusters, source.n_features)[1]) == 2


@tf.function(jit_compile=True, autograph=False)
def _whole_fit(rows, weights, origin, n_rows, first, uniforms, tol, chunks, block: int):
    """Positions of the k-means++ rows; the centres after Lloyd's steps (user
    coordinates, in the rows' dtype); labels and exact squared distances of every row;
    the steps taken, each step's inertia, and why the steps stopped.

    ``rows`` ends in zero-weight padding past ``n_rows``; ``origin`` is the source's
    (the step-by-step solver centres on the same bits); ``tol`` is absolute.
    ``chunks``: rows per chunk of a Lloyd pass and of a k-means++ pass."""
    n, dtype = rows.shape[0], rows.dtype
    lloyd_chunk, kpp_chunk = chunks
    origin64, origin = origin, tf.cast(origin, dtype)  # exact: representable in dtype
    row_sqnorm = tf.reduce_sum(tf.square(rows - origin), 1)
    weights_in_dtype = tf.cast(weights, dtype)

    def kpp_distances(closest, centers):
        args = (rows, weights, row_sqnorm, closest, origin, centers, kpp_chunk, 0, n, True)
        return kernels._kpp_static.python_function(*args)

    positions = _greedy_steps(kpp_distances, rows, weights, origin, first, uniforms, n_rows)
    start = tf.cast(tf.gather(rows, positions), tf.float64) - origin64

    def pass_stats(centers):
        args = (rows, weights_in_dtype, origin, tf.cast(centers, dtype), None, (False, False))
        return kernels._rows_stats(*args, lloyd_chunk, 0, n)

    steps = kernels._steps_loop(pass_stats, start, block, tol, False, block)
    final = tf.cast(steps.centers + origin64, dtype)
    labels, distances = kernels._assign_static.python_function(
        rows, origin, tf.cast(tf.cast(final, tf.float64) - origin64, dtype), lloyd_chunk, 0, n
    )
    sqnorm = tf.reduce_sum(weights * tf.cast(row_sqnorm, tf.float64))
    history = steps.inertia + sqnorm
    return positions, final, labels, distances, steps.steps, history, steps.stop


def fit(
    source: InMemory,
    n_clusters: int,
    random_state: np.random.RandomState,
    max_iter: int,
    tol: float,
) -> Fitted | np.ndarray:
    """One restart from k-means++, or where a step would leave a cluster empty, its
    initial centres (centred coordinates) for the step-by-step solver."""
    first, uniforms = kmeanspp_draws(source.sample_weight, n_clusters, random_state)
    n, d = source.n_rows, source.n_features
    size = padded_rows(n)
    rows, weights = source.rows, source.sample_weight
    if size > n:
        rows = tf.pad(rows, [[0, size - n], [0, 0]])
        weights = np.concatenate([weights, np.zeros(size - n)])
    # k-means++ passes are one chunk: chunked ones (a loop and a tail inside the greedy
    # loop) did not finish compiling in 10 minutes at 50,000 x 16, k=32.
    chunks = (kernels.pass_layout(size, n_clusters, d)[0], size)
    out = _whole_fit(
        rows,
        tf.constant(weights, tf.float64),
        tf.constant(source.origin, tf.float64),
        tf.constant(n, tf.int32),
        tf.constant(first, tf.int32),
        tf.constant(uniforms, tf.float64),
        tf.constant(tol * source.mean_variance, tf.float64),
        chunks,
        max_iter,
    )
    positions, centers, labels, distances, n_iter, history, stop = (v.numpy() for v in out)
    if stop == kernels.STEPS_EMPTY_CLUSTER:
        return source.take(positions)[0]
    inertia = float(distances[:n] @ source.sample_weight)
    centers = centers.astype(np.float64) - source.origin
    return Fitted(centers, labels[:n], inertia, int(n_iter), history[:n_iter].tolist())
