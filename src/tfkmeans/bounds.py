"""Hamerly's bounds: exact Lloyd passes that skip most distance computations.

``algorithm="elkan"`` means what it means in scikit-learn: the iterations of Lloyd,
with the same labels and centres, that use the triangle inequality to skip rows
whose nearest centre cannot have changed. Per row we keep its label and a lower
bound on its distance to every other centre (Hamerly 2010: one bound per row, so
memory is O(n), not Elkan's O(n k)). Each pass takes the row's exact distance to
its own centre (O(d) per row) and recomputes all k distances, with the GEMM form and
argmin of the Lloyd kernels, only for rows where

    max(lower bound, half the distance from its centre to the nearest other centre)

does not beat that distance by more than the GEMM form's rounding. A skipped row's
nearest centre is then provably the one the GEMM argmin would pick, so labels,
centres and the number of iterations are those of ``"lloyd"``.

The bounds live with the rows (``Source.bounds``); the solver (``lloyd.lloyd``) asks
them for the pass's statistics instead of ``Source.partial_stats``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfkmeans.kernels import (
    XLA_MIN_ROWS,
    auto_chunk_rows,
    chunk_count,
    cluster_sums,
    dots,
    for_chunks,
    pinned,
)
from tfkmeans.sources import PartialStats

# A skipped row's gap (in squared distance) must exceed this many ulps of
# ||x||^2 + max ||c||^2: the rounding of the GEMM form (and of centres cast to the row
# dtype) stays well below it, so the GEMM argmin agrees with the bound.
GEMM_ROUNDING_ULPS = 32.0
# Bounds pay only when few rows need their distances (bench_elkan: 5-7% computed was
# 0.77-0.97x Lloyd's time per pass, 59% was 4.7x): after PATIENCE passes, a pass that
# still computed more than this share hands the rest of the fit to plain Lloyd passes.
WORTH_IT_SHARE = 0.1
PATIENCE = 5


def _moved_sums(x, w, old, new, k: int):
    """How per-cluster sums and weights (float64) change when rows ``x`` (weights ``w``)
    leave clusters ``old`` for ``new``."""
    xw = tf.cast(x, tf.float64) * tf.cast(w, tf.float64)[:, tf.newaxis]
    w64 = tf.cast(w, tf.float64)
    seg = tf.math.unsorted_segment_sum
    return seg(xw, new, k) - seg(xw, old, k), seg(w64, new, k) - seg(w64, old, k)


@tf.function(reduce_retracing=True, autograph=False)
def _hamerly_pass(
    rows, weights, origin, centers, labels, lower, drop, half_gap, margin, chunk, dims, full
):
    """One bounded pass over ``rows`` (raw, row dtype) for ``centers`` (centred, float64).

    ``labels``/``lower``: each row's centre and lower bound from the previous pass;
    ``drop`` (k): how much a row's lower bound falls, by its label (the largest shift of
    any other centre); ``half_gap`` (k): half the distance to the nearest other centre.
    Returns sums, weights and inertia (float64; per row from differences, not the GEMM
    form), the new labels and lower bounds, and the number of rows whose distances were
    computed. ``full`` (static): sums and
    weights of all rows, taken as the Lloyd pass takes them (row dtype, per chunk,
    ``cluster_sums``), so both algorithms reach the same centres to the last bit;
    otherwise only the change of the sums (float64) from rows that changed cluster,
    which is what lets a pass skip most rows. ``dims`` = (d, k), static.
    """
    rows, centers = pinned(rows, centers, dims)
    n = tf.shape(rows)[0]
    k = dims[1]
    low = rows.dtype
    centers_low = tf.cast(centers, low)
    center_sqnorm = tf.reduce_sum(tf.square(centers_low), axis=1)
    max_sqnorm = tf.reduce_max(center_sqnorm)
    margin = tf.cast(margin, low)

    def pass_chunk(i, state):
        sums, totals, inertia, n_computed, labels_out, lower_out = state
        start = i * chunk
        stop = tf.minimum(start + chunk, n)
        x = rows[start:stop] - origin
        w = weights[start:stop]
        label = labels[start:stop]
        bound = lower[start:stop] - tf.gather(drop, label)  # float64: no drift over passes
        # Per row, O(d): the squared distance to its own centre and its squared norm.
        own = tf.reduce_sum(tf.square(x - tf.gather(centers_low, label)), axis=1)
        row_sqnorm = tf.reduce_sum(tf.square(x), axis=1)
        # Skip a row when (m - u) m > margin, m = max(lower, half gap): the nearest other
        # centre is then farther in squared distance by more than the GEMM rounding.
        m = tf.cast(tf.maximum(bound, tf.gather(half_gap, label)), low)
        need = (m - tf.sqrt(own)) * m <= margin * (row_sqnorm + max_sqnorm)
        picked = tf.cast(tf.where(need)[:, 0], tf.int32)
        xs = tf.gather(x, picked)
        partial = center_sqnorm[tf.newaxis, :] - 2.0 * dots(xs, centers_low)
        new_label = tf.argmin(partial, axis=1, output_type=tf.int32)
        picked_sqnorm = tf.gather(row_sqnorm, picked)
        second = -tf.math.top_k(-partial, k=min(2, k)).values[:, -1] + picked_sqnorm
        slack = margin * (picked_sqnorm + max_sqnorm)
        new_lower = tf.cast(tf.sqrt(tf.maximum(second - slack, 0.0)), tf.float64)
        if k == 1:
            new_lower = tf.fill(tf.shape(new_lower), tf.constant(np.inf, tf.float64))
        new_own = tf.reduce_sum(tf.square(xs - tf.gather(centers_low, new_label)), axis=1)
        at = picked[:, tf.newaxis]
        label = tf.tensor_scatter_nd_update(label, at, new_label)
        bound = tf.tensor_scatter_nd_update(bound, at, new_lower)
        own = tf.tensor_scatter_nd_update(own, at, new_own)
        if full:
            chunk_sums = tf.cast(cluster_sums(x * w[:, tf.newaxis], label, k, False), tf.float64)
            chunk_totals = tf.cast(tf.math.unsorted_segment_sum(w, label, k), tf.float64)
        else:
            old = labels[start:stop]
            moved = tf.gather(picked, tf.where(new_label != tf.gather(old, picked))[:, 0])
            chunk_sums, chunk_totals = _moved_sums(
                tf.gather(x, moved),
                tf.gather(w, moved),
                tf.gather(old, moved),
                tf.gather(label, moved),
                k,
            )
        return (
            sums + chunk_sums,
            totals + chunk_totals,
            inertia + tf.reduce_sum(tf.cast(w * own, tf.float64)),
            n_computed + tf.shape(picked)[0],
            labels_out.write(i, label),
            lower_out.write(i, bound),
        )

    start = (
        tf.zeros_like(centers),
        tf.zeros_like(centers[:, 0]),
        tf.zeros([], tf.float64),
        tf.constant(0),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False),
        tf.TensorArray(tf.float64, size=0, dynamic_size=True, infer_shape=False),
    )
    sums, totals, inertia, n_computed, labels_out, lower_out = for_chunks(
        chunk_count(n, chunk), pass_chunk, start
    )
    return sums, totals, inertia, labels_out.concat(), lower_out.concat(), n_computed


def _largest_other(values: np.ndarray) -> np.ndarray:
    """For each j, the largest of ``values`` over the other indices."""
    if len(values) == 1:
        return np.zeros(1)
    order = np.argsort(values)
    out = np.full(len(values), values[order[-1]])
    out[order[-1]] = values[order[-2]]
    return out


def half_gaps(centers: np.ndarray) -> np.ndarray:
    """Half the distance from each centre to its nearest other centre (0 for k = 1)."""
    if len(centers) == 1:
        return np.zeros(1)
    diff = centers[:, np.newaxis, :] - centers[np.newaxis, :, :]
    dist = np.sqrt(np.sum(diff**2, axis=2))
    np.fill_diagonal(dist, np.inf)
    return 0.5 * dist.min(axis=1)


class HamerlyBounds:
    """Labels and lower bounds of in-memory rows, carried from one pass to the next."""

    def __init__(
        self, rows: tf.Tensor, weights: tf.Tensor, origin: np.ndarray, chunk_rows: int | None
    ) -> None:
        self.rows, self.weights, self.chunk_rows = rows, weights, chunk_rows
        self.origin = tf.constant(origin, rows.dtype)
        n = int(rows.shape[0])
        self.labels = tf.zeros([n], tf.int32)
        self.lower = tf.fill([n], tf.constant(-np.inf, tf.float64))
        self.previous: np.ndarray | None = None  # centres of the last pass
        self.margin = GEMM_ROUNDING_ULPS * float(np.finfo(rows.dtype.as_numpy_dtype).eps)
        self.computed: list[int] = []  # rows whose distances each pass computed
        # Above XLA_MIN_ROWS, Lloyd's own sums are not bit-reproducible anyway (parts
        # side by side): there the sums are carried and updated by the rows that move.
        self.incremental = int(rows.shape[0]) >= XLA_MIN_ROWS and chunk_rows is None
        self.sums: np.ndarray | None = None
        self.totals: np.ndarray | None = None

    @property
    def worth_it(self) -> bool:
        """Whether the bounds still skip enough rows to beat plain passes."""
        n = int(self.rows.shape[0])
        return len(self.computed) < PATIENCE or self.computed[-1] <= WORTH_IT_SHARE * n

    def _chunk(self, k: int) -> int:
        """Lloyd's chunk where its pass is one dynamic graph (so sums match it to the bit);
        above that, larger chunks: most of a chunk's work is then O(d) per row, and the
        distances of its recomputed rows (at most rows x k) stay within 32 MiB."""
        n = int(self.rows.shape[0])
        if self.chunk_rows or n < XLA_MIN_ROWS:
            return self.chunk_rows or auto_chunk_rows(k)
        return int(min(max((1 << 23) // k, 8192), 1 << 17))

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        """The statistics of ``Source.partial_stats`` (inertia exact), for ``centers``."""
        centers = np.asarray(centers, np.float64)
        k = len(centers)
        if self.previous is None or self.previous.shape != centers.shape:
            drop, gaps = np.zeros(k), np.zeros(k)  # first pass: every row is computed
            self.sums = None
        else:
            shift = np.sqrt(np.sum((centers - self.previous) ** 2, axis=1))
            drop, gaps = _largest_other(shift), half_gaps(centers)
        sums, totals, inertia, self.labels, self.lower, n_computed = _hamerly_pass(
            self.rows,
            self.weights,
            self.origin,
            tf.constant(centers),
            self.labels,
            self.lower,
            tf.constant(drop),
            tf.constant(gaps),
            tf.constant(self.margin, tf.float64),
            tf.constant(self._chunk(k)),
            (int(centers.shape[1]), k),
            not self.incremental or self.sums is None,
        )
        self.previous = centers
        self.computed.append(int(n_computed))
        sums, totals = sums.numpy(), totals.numpy()
        if self.incremental:
            if self.sums is not None:
                sums, totals = self.sums + sums, self.totals + totals
            self.sums, self.totals = sums, totals
            # Carried over this tracker's own labels: a row that empty-cluster repair
            # moved is still counted where the last pass put it, as its label here says.
        return PartialStats(sums, totals, float(inertia))
