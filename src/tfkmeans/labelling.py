"""How a fit ends: the labels and exact inertia of its centres, and whether two
restarts found the same clustering (so rounding alone cannot pick between them)."""

from __future__ import annotations

import numpy as np

from tfkmeans.sources import Source


def final_assignment(source: Source, centers: np.ndarray, keep_labels: bool):
    """Labels (or None) and exact weighted inertia (float64) for ``centers``."""
    labels, inertia = [], 0.0
    for chunk in source.assign(centers):
        inertia += float(chunk.sq_distances.astype(np.float64) @ chunk.weights)
        if keep_labels:
            labels.append(chunk.labels)
    return (np.concatenate(labels) if keep_labels else None), inertia


def same_clustering(labels: np.ndarray | None, other: np.ndarray | None) -> bool:
    """Whether two labellings split the rows the same way, up to the clusters' order.

    A restart that reaches the clustering of an earlier one differs from it in inertia
    only by rounding, so it does not replace it (scikit-learn's rule): which of them
    wins must not depend on the last bits. Without labels, nothing can be told.
    """
    if labels is None or other is None:
        return False
    pairs = np.unique(np.stack([labels, other]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))
