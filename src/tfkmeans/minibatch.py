"""Mini-batch k-means (Sculley 2010) for data that streams.

Each step assigns one batch with the same TensorFlow kernel as Lloyd (the
batch's per-cluster sums and weights) and moves every centre towards its batch
mean with a per-centre learning rate 1 / (weight seen so far). Centres that
see almost no data are moved onto random rows of the batch, and the run stops
when a smoothed batch inertia stops improving — the conventions of
scikit-learn's MiniBatchKMeans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tfkmeans import kernels
from tfkmeans.sources import PartialStats
from tfkmeans.tfload import tf


@dataclass
class MiniBatchState:
    """Everything a stream of steps carries from one batch to the next."""

    centers: np.ndarray  # centred coordinates, float64
    counts: np.ndarray  # weight seen per centre
    rows_since_reassign: int = 0
    smoothed_inertia: float | None = None
    best_smoothed_inertia: float = np.inf
    steps_without_improvement: int = 0
    history: list[float] = field(default_factory=list)


def apply_batch(state: MiniBatchState, stats: PartialStats) -> float:
    """Move centres towards their batch means; returns the total squared shift."""
    seen = stats.weights > 0
    new_counts = state.counts + stats.weights
    moved = state.centers.copy()
    moved[seen] = (state.centers[seen] * state.counts[seen, None] + stats.sums[seen]) / new_counts[
        seen, None
    ]
    shift = float(np.sum((moved - state.centers) ** 2))
    state.centers, state.counts = moved, new_counts
    return shift


def reassign_starved_centers(
    state: MiniBatchState,
    batch_rows: np.ndarray,
    ratio: float,
    random_state: np.random.RandomState,
) -> int:
    """Put centres that saw under ``ratio`` x the busiest centre's weight on random batch rows.

    At most half a batch of centres move at once, and their counts restart at the
    smallest count of the others so they are not moved again at once.
    """
    starved = state.counts < ratio * state.counts.max()
    limit = len(batch_rows) // 2
    if starved.sum() > limit:
        keep = np.argsort(state.counts, kind="stable")[limit:]
        starved[keep] = False
    n_moved = int(starved.sum())
    if n_moved and (~starved).any():
        picked = random_state.choice(len(batch_rows), size=n_moved, replace=False)
        state.centers[starved] = batch_rows[picked]
        state.counts[starved] = state.counts[~starved].min()
    return n_moved


def should_stop(state: MiniBatchState, batch_inertia: float, alpha: float, patience: int) -> bool:
    """Early stopping on an exponentially smoothed batch inertia (per row)."""
    if state.smoothed_inertia is None:
        state.smoothed_inertia = batch_inertia
    else:
        state.smoothed_inertia = (1 - alpha) * state.smoothed_inertia + alpha * batch_inertia
    if state.smoothed_inertia < state.best_smoothed_inertia:
        state.best_smoothed_inertia = state.smoothed_inertia
        state.steps_without_improvement = 0
    else:
        state.steps_without_improvement += 1
    return patience > 0 and state.steps_without_improvement >= patience


@dataclass(frozen=True)
class MiniBatchResult:
    centers: np.ndarray
    counts: np.ndarray
    n_iter: int  # epochs, as a float count of rows seen / n_rows, rounded up
    n_steps: int
    history: list[float]


def step(
    state: MiniBatchState,
    rows: tf.Tensor,
    weights: tf.Tensor,
    origin: tf.Tensor,
    *,
    reassign: bool,
    reassignment_ratio: float,
    random_state: np.random.RandomState,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float]:
    """One mini-batch step; returns (batch inertia per unit weight, squared shift)."""
    raw = kernels.lloyd_stats(rows, weights, origin, tf.constant(state.centers, rows.dtype))
    stats = PartialStats(raw.sums.numpy(), raw.weights.numpy(), float(raw.inertia))
    shift = apply_batch(state, stats)
    if reassign and reassignment_ratio > 0:
        batch_rows = rows.numpy().astype(np.float64) - origin.numpy()
        reassign_starved_centers(state, batch_rows, reassignment_ratio, random_state)
    if normalize is not None:
        state.centers = normalize(state.centers)
    batch_weight = float(stats.weights.sum())  # already on the host: no extra device sync
    return stats.inertia / max(batch_weight, 1e-300), shift


def minibatch(
    batches: Iterator[tuple[tf.Tensor, tf.Tensor]],
    origin: np.ndarray,
    centers: np.ndarray,
    *,
    n_rows: int,
    batch_size: int,
    max_iter: int,
    max_no_improvement: int,
    tol: float = 0.0,
    reassignment_ratio: float,
    random_state: np.random.RandomState,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    on_iteration: Callable[[int, float, float], None] | None = None,
) -> MiniBatchResult:
    """Run mini-batch steps for ``max_iter`` epochs or until early stopping.

    As scikit-learn's MiniBatchKMeans: a step after the first stops the run when its
    squared centre shift is within ``tol`` (already scaled by the data's mean variance;
    0, the default, turns it off), or after ``max_no_improvement`` steps without a
    better smoothed inertia.
    """
    n_clusters = len(centers)
    state = MiniBatchState(np.asarray(centers, np.float64).copy(), np.zeros(n_clusters))
    n_steps = max(1, (max_iter * n_rows) // batch_size)
    alpha = min(1.0, batch_size * 2.0 / (n_rows + 1))
    origin_t = None
    done = 0
    for done, (rows, weights) in enumerate(batches, start=1):
        if origin_t is None:
            origin_t = tf.constant(origin, rows.dtype)
        state.rows_since_reassign += batch_size
        reassign = (state.counts == 0).any() or state.rows_since_reassign >= 10 * n_clusters
        if reassign:
            state.rows_since_reassign = 0
        inertia, shift = step(
            state,
            rows,
            weights,
            origin_t,
            reassign=reassign and done > 1,
            reassignment_ratio=reassignment_ratio,
            random_state=random_state,
            normalize=normalize,
        )
        state.history.append(inertia)
        if on_iteration is not None:
            on_iteration(done, inertia, shift)
        # The first step measures the initial centres: it is not a step's improvement.
        if done > 1 and tol > 0 and shift <= tol:
            break
        if done > 1 and should_stop(state, inertia, alpha, max_no_improvement):
            break
        if done >= n_steps:
            break
    n_epochs = int(np.ceil(done * batch_size / n_rows))
    return MiniBatchResult(state.centers, state.counts, n_epochs, done, state.history)
