"""Lloyd's loop on the device: several iterations in one call (``lloyd_steps``).

A small pass costs less than the call that runs it, so rather than one call per
iteration from the host solver, the whole loop (each pass, the update to weighted means
and the stopping rules) runs in one compiled graph (``steps_loop``), over the
single-pass kernels of ``kernels``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfkmeans.kernels import (
    MIN_PART_WORK,
    REDUCE_ARGMIN_MAX_CLUSTERS,
    UNROLLED_MAX_FEATURES,
    XLA_LOOP_MIN_VALUES,
    XLA_MIN_ROWS,
    PassStats,
    auto_chunk_rows,
    dynamic_rows_stats,
    lloyd_stats_static,
    pass_layout,
    rows_stats,
    side_by_side,
)
from tfkmeans.tfload import tf


class LloydSteps(NamedTuple):
    """Lloyd iterations taken in one device call (``lloyd_steps``)."""

    centers: tf.Tensor  # (k, d) float64, after the steps taken
    steps: tf.Tensor  # () int32, iterations taken
    inertia: tf.Tensor  # (block,) float64, step i's inertia less sum w||x||^2 (first ``steps``)
    shift: tf.Tensor  # (block,) float64, step i's squared centre shift, summed over centres
    stop: tf.Tensor  # () int32: STEPS_RAN_OUT, STEPS_CONVERGED or STEPS_EMPTY_CLUSTER


STEPS_RAN_OUT, STEPS_CONVERGED, STEPS_EMPTY_CLUSTER = 0, 1, 2
# Work (rows x (k + d) values, summed over iterations) per ``lloyd_steps`` call: about
# 0.1-0.3 s here, so a progress bar still moves between calls.
STEPS_BLOCK_VALUES = 1 << 28
STEPS_BLOCK_MAX = 1024
# Work per part (rows x (k + d)) from which the device loop of a pass with written-out
# distances runs in concurrent parts (``_lloyd_steps_parts``); passes alone keep
# MIN_PART_WORK, whose second call is one per pass, not one per loop.
STEPS_MIN_PART_WORK = 1 << 21


def steps_loop(pass_stats, centers, max_steps, tol, spark_rule: bool, block):
    """Up to ``max_steps`` (<= ``block``) Lloyd iterations from float64 ``centers``;
    ``pass_stats(centers)`` is one pass over all rows (row norms left out).

    Each step is a pass and the update to weighted means, as the host solver does it,
    in float64. The loop stops early when the shift is within ``tol`` (scikit-learn's
    rule: total squared shift; Spark's: every centre's shift), and before any step that
    would leave a cluster empty, whose repair needs the host.
    """

    def step(i, centers, inertia, shift, stop):
        stats = pass_stats(centers)
        filled = stats.weights > 0
        updated = stats.sums / tf.where(filled, stats.weights, 1.0)[:, tf.newaxis]
        shift_sq = tf.reduce_sum(tf.square(updated - centers), axis=1)
        if spark_rule:
            done = tf.reduce_all(tf.sqrt(shift_sq) <= tol)
        else:
            done = tf.reduce_sum(shift_sq) <= tol
        empty = tf.logical_not(tf.reduce_all(filled))
        inertia = tf.tensor_scatter_nd_update(inertia, [[i]], [stats.inertia])
        shift = tf.tensor_scatter_nd_update(shift, [[i]], [tf.reduce_sum(shift_sq)])
        stop = tf.where(empty, STEPS_EMPTY_CLUSTER, tf.where(done, STEPS_CONVERGED, STEPS_RAN_OUT))
        return tf.where(empty, i, i + 1), tf.where(empty, centers, updated), inertia, shift, stop

    history = tf.zeros([block], tf.float64)
    start = (tf.constant(0), centers, history, history, tf.constant(STEPS_RAN_OUT))
    i, centers, inertia, shift, stop = tf.while_loop(
        lambda i, *state: (i < max_steps) & (state[-1] == STEPS_RAN_OUT), step, start
    )
    return LloydSteps(centers, i, inertia, shift, stop)


@tf.function(jit_compile=True, autograph=False)
def _lloyd_steps_static(
    rows, weights, origin, centers, max_steps, tol, spark_rule, chunk_rows, block
):
    """``steps_loop`` over ``rows_stats`` passes, XLA-compiled; ``block`` is static."""

    def pass_stats(centers):
        args = (rows, weights, origin, tf.cast(centers, rows.dtype), None, (False, False))
        return rows_stats(*args, chunk_rows, 0, rows.shape[0])

    return steps_loop(pass_stats, centers, max_steps, tol, spark_rule, block)


@tf.function(autograph=False)
def _lloyd_steps_parts(
    rows, weights, origin, centers, max_steps, tol, spark_rule, chunk_rows, block, bounds
):
    """``steps_loop`` in a plain graph over passes cut in ``bounds``: one XLA call per
    part, side by side (``side_by_side``) on the inter-op threads.

    Why: a pass whose distances are written out (d <= UNROLLED_MAX_FEATURES) compiles to
    fusions and a scatter that run on one core; two parts use both (500k x 4, k=8, a
    loaded 2-core AMD EPYC: 3.1 -> 2.3 ms per iteration, with the halving argmin; with
    XLA's argmin one program is faster, see ``_steps_layout``), for less than a host
    round trip per iteration. A GEMM pass already spreads its work over the cores (200k x 8,
    k=16: no faster in two parts, 2.9 vs 3.7 and 8.6 vs 8.7 ms in two runs)."""

    def pass_stats(centers):
        args = (rows, weights, origin, tf.cast(centers, rows.dtype), None, (False, False))
        parts = side_by_side(lloyd_stats_static, args, chunk_rows, bounds, (False,) * 3)
        return PassStats(*parts)

    return steps_loop(pass_stats, centers, max_steps, tol, spark_rule, block)


@tf.function(reduce_retracing=True, autograph=False)
def _lloyd_steps_dynamic(
    rows, weights, origin, centers, max_steps, tol, spark_rule, chunk_rows, block, dims
):
    """``steps_loop`` over dynamic-shape passes: no compile, one trace for any number
    of rows (per ``dims``, the static feature and cluster counts)."""

    def pass_stats(centers):
        args = (rows, weights, origin, tf.cast(centers, rows.dtype), None, (False, False))
        return dynamic_rows_stats(*args, chunk_rows, dims)

    return steps_loop(pass_stats, centers, max_steps, tol, spark_rule, block)


def _steps_layout(n: int, k: int, d: int, chunk_rows: int | None = None):
    """Chunk rows and part bounds of the device loop's passes.

    Passes with written-out distances (d <= UNROLLED_MAX_FEATURES) run in parts from
    STEPS_MIN_PART_WORK per part, but only where their argmin is the halving: with
    XLA's own argmin (k <= REDUCE_ARGMIN_MAX_CLUSTERS) one program was as fast or faster
    (default fits interleaved in one process, quiet 2-core AMD EPYC, parts vs one
    program: 500k x 4, k=8 0.80 vs 0.63 s; 700k x 2, k=5 0.27 vs 0.22; 400k x 3, k=16
    0.47 vs 0.46; 300k x 2, k=12 0.18 vs 0.17)."""
    halving = k > REDUCE_ARGMIN_MAX_CLUSTERS
    parts_pay = d <= UNROLLED_MAX_FEATURES and halving
    return pass_layout(n, k, d, chunk_rows, STEPS_MIN_PART_WORK if parts_pay else MIN_PART_WORK)


def steps_in_parts(n: int, k: int, d: int) -> bool:
    """Whether ``lloyd_steps`` runs its device loop over concurrent parts
    (``_lloyd_steps_parts``), not as one compiled program."""
    return len(_steps_layout(n, k, d)[1]) > 2 and n * (k + d) < MIN_PART_WORK


def lloyd_steps(
    rows,
    weights,
    origin,
    centers: np.ndarray,
    max_steps: int,
    tol: float,
    tol_rule: str,
    chunk_rows: int | None = None,
) -> LloydSteps | None:
    """Several Lloyd iterations in one call, or None where that does not pay.

    A small pass costs less than the call that runs it (100k x 2, k=3: ~0.3 ms of work
    in a ~0.9 ms call, plus the solver's own host step), so the whole loop stays on
    the device: XLA-compiled, or below XLA_LOOP_MIN_VALUES a dynamic-shape graph; a pass
    with written-out distances from STEPS_MIN_PART_WORK per part, in concurrent parts
    (``_lloyd_steps_parts``). Passes that run in concurrent parts by themselves
    (``pass_layout``) gain more from the cores than they lose to calls: None.
    """
    n, k, d = int(rows.shape[0]), int(centers.shape[0]), int(rows.shape[1])
    block = int(min(max(STEPS_BLOCK_VALUES // (n * (k + d)), 1), STEPS_BLOCK_MAX))
    args = (rows, weights, origin, tf.constant(centers, tf.float64))
    limits = (tf.constant(min(max_steps, block)), tf.constant(tol, tf.float64), tol_rule == "spark")
    if n < XLA_MIN_ROWS and n * (k + d) < XLA_LOOP_MIN_VALUES:
        chunk = chunk_rows or auto_chunk_rows(k)
        sizes = (tf.constant(chunk), tf.constant(block), (d, k))
        return _lloyd_steps_dynamic(*args, *limits, *sizes)
    chunk, bounds = _steps_layout(n, k, d, chunk_rows)
    if len(bounds) == 2:
        return _lloyd_steps_static(*args, *limits, chunk, block)
    if n * (k + d) >= MIN_PART_WORK:
        return None
    return _lloyd_steps_parts(*args, *limits, chunk, block, bounds)
