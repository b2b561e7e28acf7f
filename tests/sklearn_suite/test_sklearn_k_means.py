"""scikit-learn's own KMeans tests, run against tfkmeans.

The tests are ``sklearn/cluster/tests/test_k_means.py`` of the installed
scikit-learn, executed unchanged (never copied here) with ``KMeans`` bound to
``tfkmeans.KMeans`` and ``MiniBatchKMeans`` to the thin subclass below. Tests
that call scikit-learn's private helpers or its ``k_means`` / ``kmeans_plusplus``
functions test scikit-learn, not us: they are deselected by name (``DESELECTED``).
Every other test runs; the few that meet a documented difference (README,
"Differences from scikit-learn") are strict xfails with that difference as reason.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager

import sklearn.cluster

from tfkmeans import KMeans


class MiniBatchKMeans(KMeans):
    """``KMeans(algorithm="minibatch")`` with MiniBatchKMeans' parameter names and defaults."""

    algorithm = "minibatch"
    metric = "euclidean"
    optimizer = "sgd"
    learning_rate = None
    copy_x = True
    default_n_init = 3  # MiniBatchKMeans' n_init="auto" for random or callable init

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=100,
        batch_size=1024,
        verbose=0,
        random_state=None,
        tol=0.0,
        max_no_improvement=10,
        init_size=None,
        n_init="auto",
        reassignment_ratio=0.01,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio


@contextmanager
def _bound(module, **names):
    """``module``'s attributes temporarily rebound (restored on exit)."""
    saved = {name: getattr(module, name) for name in names}
    try:
        for name, value in names.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _load_suite():
    """The installed test module, executed while ``sklearn.cluster`` hands out our classes
    (its ``from sklearn.cluster import KMeans, MiniBatchKMeans`` and its parametrize lists
    then hold them); ``k_means`` and ``kmeans_plusplus`` stay scikit-learn's."""
    spec = importlib.util.find_spec("sklearn.cluster.tests.test_k_means")
    module = importlib.util.module_from_spec(spec)
    with _bound(sklearn.cluster, KMeans=KMeans, MiniBatchKMeans=MiniBatchKMeans):
        spec.loader.exec_module(module)
    return module


SUITE = _load_suite()
globals().update({name: value for name, value in vars(SUITE).items() if name.startswith("test_")})

# Tests of scikit-learn itself: each calls its private helpers or its function API.
DESELECTED = {
    "test_relocate_empty_clusters": "calls sklearn's private _relocate_empty_clusters_*",
    "test_minibatch_update_consistency": "calls sklearn's private _mini_batch_step",
    "test_minibatch_reassign": "calls sklearn's private _mini_batch_step/_labels_inertia",
    "test_euclidean_distance": "calls sklearn's private _euclidean_*_dense_wrapper",
    "test_inertia": "calls sklearn's private _inertia_dense/_inertia_sparse",
    "test_is_same_clustering": "calls sklearn's private _is_same_clustering",
    "test_k_means_function": "calls sklearn's k_means function",
    "test_kmeans_plusplus_wrong_params": "calls sklearn's kmeans_plusplus function",
    "test_kmeans_plusplus_output": "calls sklearn's kmeans_plusplus function",
    "test_kmeans_plusplus_norms": "calls sklearn's kmeans_plusplus function",
    "test_kmeans_plusplus_dataorder": "calls sklearn's kmeans_plusplus function",
    "test_sample_weight_init": "calls sklearn's private KMeans._init_centroids",
    "test_sample_weight_zero": "calls sklearn's private KMeans._init_centroids",
}

# Documented differences (README, "Differences from scikit-learn"), by test name.
VERBOSE = "verbose format: tfkmeans' progress lines go to stderr in its own words"
DIFFERENCES = {
    "test_kmeans_verbose": VERBOSE,
    "test_minibatch_declared_convergence": VERBOSE,  # n_iter_ is asserted before the text
    "test_integer_input": "integer input gives float32 centres (float64 only from float64)",
}


def expected_failure(item) -> str | None:
    """The documented reason ``item`` is expected to fail, or None."""
    return DIFFERENCES.get(item.originalname)
