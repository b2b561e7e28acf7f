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
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from tfkmeans import persist, whole_fit
from tfkmeans.gradient import OPTIMIZERS, default_learning_rate, gradient_descent, make_optimizer
from tfkmeans.initialization import initial_centers
from tfkmeans.labelling import final_assignment, same_clustering
from tfkmeans.lloyd import lloyd, unit_sphere
from tfkmeans.minibatch_kmeans import MiniBatchKMeansMixin, MinibatchOnly
from tfkmeans.progress import IterationReporter, make_reporter, rows_reported_to
from tfkmeans.sources import InMemory, Source
from tfkmeans.sparse_source import SparseSource
from tfkmeans.validation import as_source, check_n_clusters, resolve_init, resolve_n_init

# After fitting a file or Spark source, labels_ is kept only up to this many rows (4 bytes
# each); beyond it, stream them with predict(source, out="labels.parquet").
MAX_ROWS_FOR_LABELS = 10_000_000


class KMeans(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    ClusterMixin,
    MiniBatchKMeansMixin,
    BaseEstimator,
):
    """k-means clustering on TensorFlow, with scikit-learn's API and defaults.

    Parameters and fitted attributes follow ``sklearn.cluster.KMeans``; with the
    same ``random_state`` on float64 arrays the result is scikit-learn's. float64
    input is computed and returned in float64, everything else in float32. ``X``
    may be an array, a frame, a tensor, a scipy.sparse matrix or ``tf.SparseTensor``
    (kept sparse), a path to a .npy / .parquet / .csv file or folder, a
    ``tf.data.Dataset`` or a Source from ``tfkmeans.read``: every one gives the same
    centres and labels for the same rows and seed.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (centres) to find.
    init : {"k-means++", "random", "k-means||"}, callable or array of shape \
(n_clusters, n_features), default="k-means++"
        Initial centres: greedy k-means++ (scikit-learn's), ``n_clusters`` random rows,
        or k-means|| (Bahmani et al.: a few passes, suited to files and Spark). A
        callable ``init(X, n_clusters, random_state)`` needs X in memory.
    n_init : "auto" or int, default="auto"
        Restarts from different initial centres; the best inertia is kept. "auto" is
        1 for k-means++ and k-means||, 10 for random or a callable.
    max_iter : int, default=300
        Most iterations (Lloyd, gradient steps) or epochs (mini-batch) per restart.
    tol : float, default=1e-4
        Lloyd (and elkan) stop when the summed squared centre shift is at most ``tol``
        times the mean per-feature variance of X; for "gradient", the relative change
        of the objective between steps; for "minibatch" (when > 0), a step's squared
        centre shift within ``tol`` x the mean variance.
    algorithm : {"lloyd", "elkan", "gradient", "minibatch"}, default="lloyd"
        "lloyd": Lloyd's iterations to convergence. "elkan": the same iterations (same
        centres and labels) with triangle-inequality bounds (Hamerly's) that skip the
        distances of rows whose nearest centre cannot have changed; see README for when
        it pays. "gradient": the objective sum_i w_i min_k ||x_i - c_k||^2 minimised by
        ``optimizer`` with ``learning_rate`` (TensorFlow autodiff). "minibatch":
        Sculley's mini-batch k-means, as ``sklearn.cluster.MiniBatchKMeans`` (batch_size
        at most n); only it has ``partial_fit``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        "cosine" is spherical k-means: rows and centres on the unit sphere;
        ``inertia_``, ``score`` and ``transform`` then use 1 - cos.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw (init, mini-batches); an int makes fits repeatable.
    verbose : bool or int, default=False
        Print progress (steps, inertia, passes over a file) to stderr.
    batch_size : int or None, default=None
        Rows per mini-batch ("minibatch", default 1024, at most n); for the others,
        rows per kernel chunk (default about 2**19 / n_clusters): memory beyond X is
        O(batch_size x n_clusters).
    optimizer : {"sgd", "adam"} or Keras optimizer, default="sgd"
        Optimizer of ``algorithm="gradient"``.
    learning_rate : float or None, default=None
        For "gradient": None means 1 / (2 x total weight) for sgd, 0.05 x the data's
        standard deviation for adam.
    max_no_improvement : int or None, default=10
        "minibatch": stop after this many steps without a better smoothed inertia.
    reassignment_ratio : float, default=0.01
        "minibatch": centres with fewer than this share of the rows are moved.
    init_size : int or None, default=None
        "minibatch": rows the initial centres are chosen from (default 3 x batch_size).
    copy_x : bool, default=True
        Accepted for scikit-learn compatibility: X is never modified in place.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centres, in the dtype of the computation (float64 or float32).
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training row (kept up to 10,000,000 rows for a file or Spark
        source; not kept in a model file: a loaded model labels rows with ``predict``).
    inertia_ : float
        Sum of squared distances of the rows to their centre (1 - cos for cosine),
        weighted, accumulated in float64.
    n_iter_ : int
        Iterations (or mini-batch epochs) run by the best restart.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features: a frame's columns, or the feature columns of a Parquet
        or CSV file (``emb[0]``, ``emb[1]``, ... for a vector column). Only when named.
    objective_history_ : ndarray
        The objective per iteration of the best restart (inertia before each Lloyd
        step; the objective per gradient step; smoothed batch inertia for minibatch).
    n_steps_ : int
        Mini-batch steps taken ("minibatch" only).

    See Also
    --------
    sklearn.cluster.KMeans : the reference this estimator reproduces.
    sklearn.cluster.MiniBatchKMeans : what ``algorithm="minibatch"`` follows.
    tfkmeans.read : open a .npy, Parquet or CSV file as a streaming source.
    tfkmeans.spark.SparkKMeans : the same solver on a Spark DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from tfkmeans import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.labels_
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> km.predict([[0, 0], [12, 3]])
    array([1, 0], dtype=int32)
    >>> km.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> float(km.inertia_)
    16.0
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random", "k-means||"}), callable, "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "algorithm": [StrOptions({"lloyd", "elkan", "gradient", "minibatch"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), HasMethods(["apply_gradients"])],
        "learning_rate": [None, Interval(Real, 0, None, closed="neither")],
        "max_no_improvement": [None, Interval(Integral, 0, None, closed="left")],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "init_size": [None, Interval(Integral, 1, None, closed="left")],
        "copy_x": ["boolean"],
    }
    # n_init="auto" with a random or callable init (MiniBatchKMeans' is 3).
    default_n_init = 10

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        algorithm: str = "lloyd",
        metric: str = "euclidean",
        random_state=None,
        verbose=False,
        batch_size: int | None = None,
        optimizer="sgd",
        learning_rate: float | None = None,
        max_no_improvement: int | None = 10,
        reassignment_ratio: float = 0.01,
        init_size: int | None = None,
        copy_x: bool = True,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm
        self.metric = metric
        self.random_state = random_state
        self.verbose = verbose
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.max_no_improvement = max_no_improvement
        self.reassignment_ratio = reassignment_ratio
        self.init_size = init_size
        self.copy_x = copy_x

    # -- fitting -----------------------------------------------------------------------------

    @property
    def _chunk_rows(self) -> int | None:
        """Rows per kernel chunk; None lets the kernels size chunks by n_clusters."""
        if self.algorithm == "minibatch":
            return None
        return self.batch_size

    @property
    def _cosine(self) -> bool:
        return self.metric == "cosine"

    def _normalizer(self, source: Source):
        """Maps centred centres back onto the unit sphere in user coordinates (cosine only)."""
        if not self._cosine:
            return None
        return unit_sphere(source.origin)

    def _as_source(self, X, sample_weight, *, reset: bool) -> tuple[Source, np.ndarray | None]:
        """X as a Source in this estimator's chunk size and metric (and its rows, when
        in memory); ``reset`` records its features, else checks them."""
        return as_source(
            self, X, sample_weight, reset=reset, chunk_rows=self._chunk_rows, unit=self._cosine
        )

    def _init_centers(self, source: Source, rows, random_state) -> np.ndarray:
        points, init = source, self.init
        if self.algorithm == "minibatch" and isinstance(init, str):
            points = self._init_sample(source, random_state)
        else:
            init = resolve_init(init, rows, self.n_clusters, source.n_features, random_state)
        centers = initial_centers(points, self.n_clusters, init, random_state)
        return self._project(source, centers)

    def _project(self, source: Source, centers: np.ndarray) -> np.ndarray:
        normalize = self._normalizer(source)
        return centers if normalize is None else normalize(centers)

    def _run(self, source: Source, centers, reporter: IterationReporter, random_state):
        """One restart of the selected algorithm: (centres, n_iter, objective per step)."""
        normalize = self._normalizer(source)
        if self.algorithm == "gradient":
            result = gradient_descent(
                source,
                centers,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate or default_learning_rate(self.optimizer, source),
                max_iter=self.max_iter,
                tol=self.tol,
                normalize=normalize,
                on_iteration=reporter,
            )
            return result.centers, result.n_iter, result.objective_history
        if self.algorithm == "minibatch":
            return self._run_minibatch(source, centers, reporter, random_state, normalize)
        result = lloyd(
            source,
            centers,
            max_iter=self.max_iter,
            tol=self.tol * source.mean_variance,
            normalize=normalize,
            on_iteration=reporter,
            bounds=self._algorithm == "elkan",
        )
        return result.centers, result.n_iter, result.inertia_history

    def _check_algorithm_params(self) -> None:
        if self.algorithm == "gradient":
            make_optimizer(self.optimizer, self.learning_rate or 1.0)
        self._algorithm = self.algorithm
        if self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._algorithm = "lloyd"

    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering; ``X`` is array-like, a tensor or a tfkmeans Source."""
        self._validate_params()
        self._check_algorithm_params()
        self._stream = self._random_state = None  # a later partial_fit starts from this fit
        source, rows = self._as_source(X, sample_weight, reset=True)
        check_n_clusters(self.n_clusters, source.n_rows)
        if self.algorithm == "minibatch":
            self._minibatch_sizes(source.n_rows)
        random_state = check_random_state(self.random_state)
        reporter = make_reporter(self.algorithm, self.verbose, total=self.max_iter)
        try:
            with rows_reported_to(reporter.rows):
                best = self._fit_runs(source, rows, reporter, random_state)
        finally:
            reporter.close()
        centers, labels, inertia, n_iter, history = best
        self.objective_history_ = np.asarray(history, dtype=np.float64)
        self.cluster_centers_ = (centers + source.origin).astype(source.dtype)
        self._n_features_out = self.n_clusters
        if labels is not None:
            self.labels_ = labels
            distinct = np.count_nonzero(np.bincount(labels, minlength=self.n_clusters))
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

    def _fit_runs(self, source: Source, rows, reporter: IterationReporter, random_state):
        """Every restart from its own initial centres; the best as (centres, labels,
        inertia, n_iter, history)."""
        n_init = self._n_init = resolve_n_init(
            self.n_init, self.init, self.default_n_init, type(self).__name__
        )
        keep_labels = rows is not None or source.n_rows <= MAX_ROWS_FOR_LABELS
        best = None
        if self._whole_fit_applies(source):
            args = (self.n_clusters, random_state, self.max_iter, self.tol)
            starts = [whole_fit.fit(source, *args) for _ in range(n_init)]
        else:
            starts = [self._init_centers(source, rows, random_state) for _ in range(n_init)]
        if self.algorithm == "minibatch" and n_init > 1:
            # As MiniBatchKMeans: only the start that scores best on a sample is run.
            starts = [self._best_start(source, starts, random_state)]
        for run, start in enumerate(starts):
            reporter.start(run + 1, len(starts))
            if isinstance(start, whole_fit.Fitted):
                result = (start.centers, start.labels, start.inertia, start.n_iter, start.history)
            else:
                result = self._run_and_assign(source, start, reporter, random_state, keep_labels)
            reporter.finish(result[2])
            if best is None or (result[2] < best[2] and not same_clustering(result[1], best[1])):
                best = result
        return best

    def _whole_fit_applies(self, source: Source) -> bool:
        """The default fit (Lloyd from k-means++, no report per iteration) on rows the
        whole-fit program takes (``whole_fit.applies``). Elkan too: its iterations are
        Lloyd's, and its bounds paid only on inputs whose passes run in parts (large
        k x d, bench_elkan), which the program does not take."""
        exact_lloyd = self._algorithm in ("lloyd", "elkan")
        plain = exact_lloyd and not self.verbose and not self._cosine
        kmeanspp = isinstance(self.init, str) and self.init == "k-means++"
        return plain and kmeanspp and whole_fit.applies(source, self.n_clusters, self.max_iter)

    def _run_and_assign(self, source: Source, centers, reporter, random_state, keep_labels):
        """One restart on the step-by-step solver: (centres, labels, inertia, n_iter,
        history)."""
        centers, n_iter, history = self._run(source, centers, reporter, random_state)
        # Round to the output dtype first, so labels_ and inertia_ describe the
        # centres the user gets back.
        centers = (centers + source.origin).astype(source.dtype).astype(np.float64)
        centers -= source.origin
        labels, inertia = self._assign(source, centers, keep_labels)
        return centers, labels, inertia, n_iter, history

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def _assign(self, source: Source, centers: np.ndarray, keep_labels: bool):
        """Labels and inertia; for cosine the inertia is in cosine distance (1 - cos)."""
        labels, inertia = final_assignment(source, centers, keep_labels)
        return labels, (0.5 * inertia if self._cosine else inertia)

    # -- using a fitted model ----------------------------------------------------------------

    def _source_for_predict(self, X, sample_weight=None) -> Source:
        check_is_fitted(self)
        return self._as_source(X, sample_weight, reset=False)[0]

    def _centers_for(self, source: Source) -> np.ndarray:
        return self.cluster_centers_.astype(np.float64) - source.origin

    def predict(self, X, out=None):
        """Index of the nearest centre for each row.

        With ``out`` (a .parquet path), labels and distances are streamed to that
        file chunk by chunk in row order, written atomically, and ``out`` is returned:
        the way to label data that does not fit in memory.
        Rows a file source skipped (``handle_invalid="skip"``) get label -1 and
        distance NaN there, so the output joins back to the file by position.
        """
        source = self._source_for_predict(X)
        centers = self._centers_for(source)
        if out is not None:
            from tfkmeans.files import write_labels

            skipped = getattr(source, "skipped_rows", None)  # rows of a file left out
            return write_labels(out, source.assign(centers), self._cosine, skipped)
        labels, _ = self._assign(source, centers, keep_labels=True)
        return labels

    def transform(self, X):
        """Distance from each row to each centre (n x k): Euclidean, or 1 - cos for cosine."""
        source = self._source_for_predict(X)
        if not isinstance(source, (InMemory, SparseSource)):
            raise TypeError("transform needs in-memory X; use predict for a Source")
        squared = source.sq_distances(self._centers_for(source))
        distances = 0.5 * squared if self._cosine else np.sqrt(squared)
        return distances.astype(source.dtype, copy=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of X on the fitted centres (higher is better)."""
        source = self._source_for_predict(X, sample_weight)
        _, inertia = self._assign(source, self._centers_for(source), keep_labels=False)
        return -inertia

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model atomically to a documented, non-pickle file."""
        check_is_fitted(self)
        persist.save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KMeans:
        """Read a model written by ``save``; a corrupt or foreign file raises ValueError.

        The model keeps its parameters and ``cluster_centers_``, ``inertia_``,
        ``n_iter_``, ``n_features_in_`` and ``feature_names_in_`` (when fitted on named
        features); ``labels_`` (one per training row) is not kept: use ``predict``.
        """
        return persist.load_model(cls, path)

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: say why a loaded model has no labels_.
        if name == "labels_" and "_loaded_from" in self.__dict__:
            raise AttributeError(
                f"labels_ is not kept in a model file ({self.__dict__['_loaded_from']}); "
                "a loaded model keeps cluster_centers_, inertia_, n_iter_, n_features_in_ "
                "and feature_names_in_: label rows with predict(X)"
            )
        if name == "partial_fit" and "algorithm" in self.__dict__:
            raise AttributeError(MinibatchOnly.why(self))  # the descriptor's refusal
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True  # scipy.sparse rows are clustered without densifying
        return tags


__all__ = ["KMeans", "final_assignment"]
