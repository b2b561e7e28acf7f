"""``tfkmeans.KMeans``: the scikit-learn face of the one solver.

Follows ``sklearn.cluster.KMeans`` in parameters, defaults and fitted
attributes, so it drops into Pipelines and grid searches; the work itself is
done by the Source (TensorFlow kernels) and the host-side solver.
"""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from tfkmeans import kernels, persist
from tfkmeans.initialization import initial_centers
from tfkmeans.lloyd import lloyd
from tfkmeans.progress import IterationReporter
from tfkmeans.sources import InMemory, Source
from tfkmeans.validation import (
    as_source,
    check_init_array,
    check_n_clusters,
)

# labels_ is kept after fitting a Source only up to this many rows (4 bytes each).
MAX_ROWS_FOR_LABELS = 50_000_000


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering on TensorFlow, with scikit-learn's API and defaults.

    Parameters match ``sklearn.cluster.KMeans``: ``tol`` is relative to the
    mean per-feature variance and compared with the total squared centre
    shift; ``n_init="auto"`` runs one k-means++ start or ten random ones.
    ``batch_size`` is the number of rows per kernel chunk (memory beyond X is
    O(batch_size x n_clusters)). float64 input is computed and returned in
    float64, everything else in float32.
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random", "k-means||"}), callable, "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "algorithm": [StrOptions({"lloyd"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        algorithm: str = "lloyd",
        random_state=None,
        verbose=False,
        batch_size: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm
        self.random_state = random_state
        self.verbose = verbose
        self.batch_size = batch_size

    # -- fitting -----------------------------------------------------------------------------

    @property
    def _chunk_rows(self) -> int:
        return self.batch_size or kernels.DEFAULT_CHUNK_ROWS

    def _n_init(self) -> int:
        if self.n_init != "auto":
            n_init = int(self.n_init)
        elif isinstance(self.init, str) and self.init == "random" or callable(self.init):
            n_init = 10
        else:
            n_init = 1
        if not isinstance(self.init, str) and not callable(self.init) and n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            n_init = 1
        return n_init

    def _source_for_fit(self, X, sample_weight) -> tuple[Source, np.ndarray | None]:
        return as_source(self, X, sample_weight, reset=True, chunk_rows=self._chunk_rows)

    def _init_centers(self, source: Source, rows, random_state) -> np.ndarray:
        init = self.init
        if callable(init):
            if rows is None:
                raise TypeError("a callable init needs in-memory X; pass an array instead")
            init = init(rows, self.n_clusters, random_state=random_state)
            init = check_init_array(init, self.n_clusters, source.n_features)
        elif not isinstance(init, str):
            init = check_init_array(init, self.n_clusters, source.n_features)
        return initial_centers(source, self.n_clusters, init, random_state)

    def _run(self, source: Source, centers, reporter: IterationReporter):
        """One restart of the selected algorithm; returns (centres, n_iter)."""
        result = lloyd(
            source,
            centers,
            max_iter=self.max_iter,
            tol=self.tol * source.mean_variance,
            on_iteration=reporter,
        )
        return result.centers, result.n_iter

    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering; ``X`` is array-like, a tensor or a tfkmeans Source."""
        self._validate_params()
        source, rows = self._source_for_fit(X, sample_weight)
        check_n_clusters(self.n_clusters, source.n_rows)
        random_state = check_random_state(self.random_state)
        n_init = self._n_init()
        reporter = IterationReporter(self.algorithm, self.verbose)
        keep_labels = source.n_rows <= MAX_ROWS_FOR_LABELS
        best = None
        for run in range(n_init):
            centers = self._init_centers(source, rows, random_state)
            reporter.start(run + 1, n_init)
            centers, n_iter = self._run(source, centers, reporter)
            # Round to the output dtype first, so labels_ and inertia_ describe the
            # centres the user gets back.
            centers = (centers + source.origin).astype(source.dtype).astype(np.float64)
            centers -= source.origin
            labels, inertia = final_assignment(source, centers, keep_labels)
            reporter.finish(inertia)
            if best is None or inertia < best[2]:
                best = (centers, labels, inertia, n_iter)
        centers, labels, inertia, n_iter = best
        self.cluster_centers_ = (centers + source.origin).astype(source.dtype)
        self._n_features_out = self.n_clusters
        if labels is not None:
            self.labels_ = labels
            distinct = len(np.unique(labels))
            if distinct < self.n_clusters:
                warnings.warn(
                    f"Number of distinct clusters ({distinct}) found smaller than "
                    f"n_clusters ({self.n_clusters}). Possibly due to duplicate points in X.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    # -- using a fitted model ----------------------------------------------------------------

    def _source_for_predict(self, X, sample_weight=None) -> Source:
        check_is_fitted(self)
        source, _ = as_source(self, X, sample_weight, reset=False, chunk_rows=self._chunk_rows)
        return source

    def _centers_for(self, source: Source) -> np.ndarray:
        return self.cluster_centers_.astype(np.float64) - source.origin

    def predict(self, X):
        """Index of the nearest centre for each row."""
        source = self._source_for_predict(X)
        labels, _ = final_assignment(source, self._centers_for(source), keep_labels=True)
        return labels

    def transform(self, X):
        """Euclidean distance from each row to each centre (n x k)."""
        source = self._source_for_predict(X)
        if not isinstance(source, InMemory):
            raise TypeError("transform needs in-memory X; use predict for a Source")
        squared = source.sq_distances(self._centers_for(source))
        return np.sqrt(squared).astype(source.dtype, copy=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of X on the fitted centres (higher is better)."""
        source = self._source_for_predict(X, sample_weight)
        _, inertia = final_assignment(source, self._centers_for(source), keep_labels=False)
        return -inertia

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model atomically to a documented, non-pickle file."""
        check_is_fitted(self)
        persist.save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KMeans:
        """Read a model written by ``save``; a corrupt or foreign file raises ValueError."""
        return persist.load_model(cls, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def final_assignment(source: Source, centers: np.ndarray, keep_labels: bool):
    """Labels (or None) and exact weighted inertia (float64) for ``centers``."""
    labels, inertia = [], 0.0
    for chunk in source.assign(centers):
        inertia += float(chunk.sq_distances.astype(np.float64) @ chunk.weights)
        if keep_labels:
            labels.append(chunk.labels)
    return (np.concatenate(labels) if keep_labels else None), inertia


__all__ = ["KMeans", "final_assignment"]
