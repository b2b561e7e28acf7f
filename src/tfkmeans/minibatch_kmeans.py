"""What ``algorithm="minibatch"`` adds to ``tfkmeans.KMeans``, as scikit-learn's
``MiniBatchKMeans`` does it: the batch and init sizes, initial centres from a
sample, the best of several starts, a run over shuffled batches, and
``partial_fit`` for data that arrives in chunks. The steps themselves are
``tfkmeans.minibatch``'s.
"""

from __future__ import annotations

import functools
import types
import warnings

import numpy as np
from sklearn.utils import check_random_state

from tfkmeans.labelling import final_assignment
from tfkmeans.minibatch import MiniBatchState, minibatch
from tfkmeans.minibatch import step as minibatch_step
from tfkmeans.progress import IterationReporter
from tfkmeans.sources import Source
from tfkmeans.tfload import tf
from tfkmeans.validation import check_n_clusters

# Rows per mini-batch when batch_size is not set (scikit-learn's MiniBatchKMeans default).
MINIBATCH_SIZE = 1024


class MinibatchOnly:
    """``partial_fit`` exists for algorithm="minibatch" only: elsewhere ``hasattr`` is
    False and a call says why, instead of silently running a mini-batch step."""

    def __init__(self, method) -> None:
        self.method = method
        functools.update_wrapper(self, method)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if obj.algorithm != "minibatch":
            raise AttributeError(self.why(obj))
        return types.MethodType(self.method, obj)

    @staticmethod
    def why(obj) -> str:
        return (
            f"partial_fit needs algorithm='minibatch' (this KMeans has "
            f"algorithm={obj.algorithm!r}, which fits all rows at once with fit)"
        )


class MiniBatchKMeansMixin:
    """The mini-batch side of KMeans; the host class gives ``_as_source``,
    ``_init_centers``, ``_assign`` and ``_normalizer``."""

    @property
    def _minibatch_size(self) -> int:
        return getattr(self, "_batch_size", None) or self.batch_size or MINIBATCH_SIZE

    def _minibatch_sizes(self, n_rows: int) -> None:
        """``_batch_size`` (at most n) and ``_init_size``, as MiniBatchKMeans sets them."""
        self._batch_size = min(self.batch_size or MINIBATCH_SIZE, n_rows)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * self._batch_size
            if init_size < self.n_clusters:
                init_size = 3 * self.n_clusters
        elif init_size < self.n_clusters:
            warnings.warn(
                f"init_size={init_size} should be larger than n_clusters={self.n_clusters}. "
                "Setting it to min(3*n_clusters, n_samples)",
                RuntimeWarning,
                stacklevel=3,
            )
            init_size = 3 * self.n_clusters
        self._init_size = min(init_size, n_rows)

    def _init_sample(self, source: Source, random_state) -> Source:
        """The rows a named init runs on: a sample of ``_init_size`` rows, as MiniBatchKMeans."""
        if self._init_size < source.n_rows:
            return source.sample_source(self._init_size, random_state)
        return source

    def _best_start(self, source: Source, starts: list[np.ndarray], random_state) -> np.ndarray:
        """The initial centres with the lowest inertia on a validation sample."""
        points = source.sample_source(self._init_size, random_state)
        scores = [final_assignment(points, c, False)[1] for c in starts]
        return starts[int(np.argmin(scores))]

    def _run_minibatch(
        self, source: Source, centers, reporter: IterationReporter, random_state, normalize
    ):
        """One mini-batch run: (centres, n_iter in epochs, smoothed inertia per step)."""
        result = minibatch(
            source.batches(self._minibatch_size, random_state),
            source.origin,
            centers,
            n_rows=source.n_rows,
            batch_size=self._minibatch_size,
            max_iter=self.max_iter,
            tol=self.tol * source.mean_variance if self.tol > 0 else 0.0,
            max_no_improvement=self.max_no_improvement or 0,
            reassignment_ratio=self.reassignment_ratio,
            random_state=random_state,
            normalize=normalize,
            on_iteration=reporter,
        )
        self._counts = result.counts
        self.n_steps_ = result.n_steps
        return result.centers, result.n_iter, result.history

    @MinibatchOnly
    def partial_fit(self, X, y=None, sample_weight=None):
        """One mini-batch step on X, for data that arrives in chunks.

        The first call initialises the centres on X; every call leaves
        ``cluster_centers_`` usable. Later calls must have the same features.
        """
        self._validate_params()
        first = not hasattr(self, "cluster_centers_")
        source, rows = self._as_source(X, sample_weight, reset=first)
        if first:
            check_n_clusters(self.n_clusters, source.n_rows)
            self._minibatch_sizes(source.n_rows)
        if getattr(self, "_random_state", None) is None:
            self._random_state = check_random_state(self.random_state)
        if first:
            centers = self._init_centers(source, rows, self._random_state) + source.origin
            counts = np.zeros(self.n_clusters)
        else:
            centers = self.cluster_centers_.astype(np.float64)
            counts = getattr(self, "_counts", np.zeros(self.n_clusters))
        state = getattr(self, "_stream", None)
        if state is None:
            state = self._stream = MiniBatchState(centers, counts)
            self.n_steps_ = 0
        state.centers, state.counts = centers - source.origin, counts
        rows_t, weights_t = source.rows, source.weights
        state.rows_since_reassign += source.n_rows
        reassign = (state.counts == 0).any() or state.rows_since_reassign >= 10 * self.n_clusters
        if reassign:
            state.rows_since_reassign = 0
        inertia, _ = minibatch_step(
            state,
            rows_t,
            weights_t,
            tf.constant(source.origin, rows_t.dtype),
            reassign=reassign and not first,
            reassignment_ratio=self.reassignment_ratio,
            random_state=self._random_state,
            normalize=self._normalizer(source),
        )
        state.history.append(inertia)
        self.n_steps_ += 1
        centers = (state.centers + source.origin).astype(source.dtype)
        self.cluster_centers_ = centers
        self._counts = state.counts
        self._n_features_out = self.n_clusters
        self.labels_, self.inertia_ = self._assign(
            source, centers.astype(np.float64) - source.origin, keep_labels=True
        )
        self.n_iter_ = self.n_steps_
        self.objective_history_ = np.asarray(state.history)
        return self
