"""Initial centres: random, greedy k-means++ and k-means|| (scalable k-means++).

Every method returns centres in the Source's centred coordinates. Random
draws come from a NumPy ``RandomState`` in the same order as scikit-learn's,
so the same ``random_state`` gives scikit-learn's own initial centres on
in-memory data. Distances are computed by the TensorFlow kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfkmeans.sources import InMemory, Source

# k-means++ on a source that cannot pass over its rows (Spark) runs on a sample of this
# many rows per centre; file sources run it on every row, as in memory.
SAMPLE_ROWS_PER_CENTER = 256


def greedy_kmeans_plusplus(
    points: InMemory,
    n_clusters: int,
    random_state: np.random.RandomState,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Greedy k-means++ (Arthur & Vassilvitskii; 2 + ln k trials per step, weighted).

    Every random number is NumPy's, drawn in scikit-learn's order before the first
    step (the first row by weight, then ``n_local_trials`` uniforms per step: the
    same stream as drawing them step by step). A Source that can run all steps where
    its rows are (``kmeanspp_steps``) does; otherwise each step is a pass for the
    candidates' potentials and the rows at the drawn cumulative potentials.
    """
    first, uniforms = kmeanspp_draws(points.sample_weight, n_clusters, random_state, n_local_trials)
    positions = points.kmeanspp_steps(first, uniforms)
    if positions is None:
        positions = greedy_steps_by_pass(points, first, uniforms)
    rows, _ = points.take(np.asarray(positions))
    return rows


def kmeanspp_draws(
    weights: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
    n_local_trials: int | None = None,
) -> tuple[int, np.ndarray]:
    """Every random number of greedy k-means++, in scikit-learn's order: the first row
    (by weight), then ``n_local_trials`` uniforms per later centre ((k - 1) x trials)."""
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    first = int(random_state.choice(len(weights), p=weights / weights.sum()))
    return first, random_state.uniform(size=(n_clusters - 1, n_local_trials))


def greedy_steps_by_pass(points: Source, first: int, uniforms: np.ndarray) -> list[int]:
    """Greedy k-means++ one step at a time over the Source's primitives: the positions
    of the chosen rows. ``uniforms`` scale the current potential into each step's targets."""
    chosen = [first]
    first_row, _ = points.take(np.array([first]))
    (potential,), closest = points.kmeanspp_pass(None, first_row)
    for step_uniforms in uniforms:
        candidates = points.at_cumulative(closest, step_uniforms * potential)
        cand_rows, _ = points.take(candidates)
        potentials, _ = points.kmeanspp_pass(closest, cand_rows)
        best = int(np.argmin(potentials))
        potential = potentials[best]
        _, closest = points.kmeanspp_pass(closest, cand_rows[best : best + 1])
        chosen.append(int(candidates[best]))
    return chosen


def weighted_kmeans_plusplus(
    rows: np.ndarray,
    weights: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """k-means++ on a small weighted set of candidate rows (k-means|| second stage)."""
    candidates = InMemory(rows, sample_weight=weights, dtype=np.float64)
    distinct = len(np.unique(rows, axis=0))
    if distinct < n_clusters:
        # Not enough candidates: pad with the heaviest rows again (callers warn on duplicates).
        order = np.argsort(-weights, kind="stable")
        extra = np.resize(order, n_clusters - distinct)
        unique_rows = np.unique(rows, axis=0)
        return np.vstack([unique_rows, rows[extra]])
    return greedy_kmeans_plusplus(candidates, n_clusters, random_state)


def kmeans_parallel(
    source: Source,
    n_clusters: int,
    random_state: np.random.RandomState,
    n_steps: int = 2,
    oversampling: float = 2.0,
) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012): a few passes, then k-means++ on weighted candidates.

    Each pass keeps every row with probability l * w * d^2(x) / cost, l = oversampling * k,
    through the Source's ``cost`` / ``oversample`` / ``weight_per_center`` primitives,
    which a distributed Source runs where its rows are.
    """
    candidates, _ = source.sample(1, random_state)
    for _ in range(n_steps):
        cost = source.cost(candidates)
        if cost <= 0:
            break
        seed = random_state.randint(2**31 - 1)
        new_rows = source.oversample(candidates, oversampling * n_clusters, cost, seed)
        candidates = np.vstack([candidates, new_rows])
    counts = source.weight_per_center(candidates)
    return weighted_kmeans_plusplus(candidates, counts, n_clusters, random_state)


def initial_centers(
    source: Source,
    n_clusters: int,
    init: str | np.ndarray | Callable,
    random_state: np.random.RandomState,
) -> np.ndarray:
    """Initial centres (centred coordinates, float64) for one restart."""
    if isinstance(init, str):
        if init == "k-means||":
            return kmeans_parallel(source, n_clusters, random_state)
        points = source.rows_in_memory()
        if points is None and source.supports_row_passes:
            # A file: the same passes and draws as in memory, so the same centres.
            points = source
        if points is None:
            m = max(SAMPLE_ROWS_PER_CENTER * n_clusters, n_clusters)
            points = source.sample_source(m, random_state)  # sparse rows stay sparse
        if init == "k-means++":
            return greedy_kmeans_plusplus(points, n_clusters, random_state)
        rows, _ = points.sample(n_clusters, random_state)
        return rows
    if callable(init):
        raise TypeError("a callable init needs the rows in memory; pass an array instead")
    return np.asarray(init, dtype=np.float64) - source.origin
