"""Lloyd's algorithm over any Source: NumPy on the host at k x d scale only.

Per iteration the Source returns per-cluster sums and weights for the current
centres; the new centres are their ratio. A Source that can run these steps itself
(``InMemory``: a loop on the device) is asked for many at once, and hands back the
iteration that needs the host. Clusters left empty are repaired as
scikit-learn does: each takes one of the rows farthest from its centre. The
loop stops when the squared centre shift falls to ``tol`` (or, for Spark's
convention, when every centre moves less than ``tol``); labels and inertia
then come from one final exact assignment, so they always match the centres.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tfkmeans.sources import PartialStats, Source

# A progress callback receives (iteration, inertia, squared centre shift).
ProgressCallback = Callable[[int, float, float], None]


@dataclass(frozen=True)
class LloydResult:
    centers: np.ndarray  # centred coordinates, float64
    n_iter: int
    inertia_history: list[float]


def relocate_empty_clusters(
    source: Source, centers: np.ndarray, stats: PartialStats
) -> PartialStats:
    """Give each empty cluster one of the rows farthest from its centre (scikit-learn's rule).

    When every row sits on its centre (more clusters than distinct rows), moving one
    is pointless and nothing moves, as in scikit-learn.
    """
    empty = np.flatnonzero(stats.weights <= 0)
    if len(empty) == 0:
        return stats
    rows, weights, labels = source.farthest(centers, len(empty))
    if not np.any(rows != centers[labels]):
        return stats
    sums, totals = stats.sums.copy(), stats.weights.copy()
    for cluster, row, weight, old in zip(empty, rows, weights, labels, strict=False):
        sums[old] -= row * weight
        totals[old] -= weight
        sums[cluster] = row * weight
        totals[cluster] = weight
    return PartialStats(sums, totals, stats.inertia)


def centers_from_stats(stats: PartialStats, previous: np.ndarray) -> np.ndarray:
    """Weighted means; a cluster with no weight at all keeps its previous centre."""
    centers = previous.copy()
    filled = stats.weights > 0
    centers[filled] = stats.sums[filled] / stats.weights[filled, None]
    return centers


def unit_sphere(origin: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The ``normalize`` hook of cosine k-means: centres (relative to ``origin``) put back
    on the unit sphere in user coordinates; a zero centre is left as it is."""

    def project(centers: np.ndarray) -> np.ndarray:
        user = centers + origin
        norms = np.linalg.norm(user, axis=1, keepdims=True)
        return np.where(norms > 0, user / np.maximum(norms, 1e-300), user) - origin

    return project


def converged(shift_sq: np.ndarray, tol: float, rule: str) -> bool:
    """scikit-learn: total squared shift <= tol. Spark: every centre moved <= tol."""
    if rule == "spark":
        return bool(np.all(np.sqrt(shift_sq) <= tol))
    return bool(shift_sq.sum() <= tol)


def lloyd(
    source: Source,
    centers: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    tol_rule: str = "sklearn",
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    on_iteration: ProgressCallback | None = None,
    bounds: bool = False,
) -> LloydResult:
    """Iterate Lloyd's steps from ``centers`` (centred coordinates) until converged.

    ``normalize`` maps updated centres back onto a constraint set (the unit sphere
    for cosine k-means); it is applied after each update. ``bounds``: passes go through
    the Source's distance bounds (``Source.bounds``, algorithm="elkan"), which skip
    rows whose centre cannot change, for as long as they skip enough; same iterations,
    same result.
    """
    centers = np.asarray(centers, dtype=np.float64)
    history: list[float] = []
    tracker = source.bounds() if bounds else None

    def record(inertia: float, shift: float) -> None:
        history.append(inertia)
        if on_iteration is not None:
            on_iteration(len(history), inertia, shift)

    while len(history) < max_iter:
        # Where the Source can, it runs iterations by itself until one needs the host
        # (an empty cluster to repair); ``normalize`` always needs the host.
        steps = None
        if normalize is None and tracker is None:
            steps = source.lloyd_steps(centers, max_iter - len(history), tol, tol_rule)
        if steps is not None:
            for inertia, shift in zip(steps.inertia, steps.shift, strict=True):
                record(inertia, shift)
            centers = steps.centers
            if steps.converged:
                break
            if not steps.empty_cluster:
                continue
        stats = tracker.partial_stats(centers) if tracker else source.partial_stats(centers)
        if tracker is not None and not tracker.worth_it:
            tracker = None  # too many rows near a boundary: plain passes are cheaper
        stats = relocate_empty_clusters(source, centers, stats)
        new_centers = centers_from_stats(stats, centers)
        if normalize is not None:
            new_centers = normalize(new_centers)
        shift_sq = np.sum((new_centers - centers) ** 2, axis=1)
        centers = new_centers
        record(stats.inertia, float(shift_sq.sum()))
        if converged(shift_sq, tol, tol_rule):
            break
    return LloydResult(centers, len(history), history)
