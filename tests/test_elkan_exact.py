"""algorithm="elkan" (Hamerly bounds), exact reported distances, and mini-batch's
scikit-learn conventions (batch_size capped at n, tol, init_size warning), each
against scikit-learn or NumPy brute force."""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import make_blobs

from tfkmeans import KMeans
from tfkmeans.bounds import HamerlyBounds
from tfkmeans.lloyd import centers_from_stats
from tfkmeans.sources import InMemory

# The example: blobs around non-centred, sparse centres.
CENTERS = [[0, 5, 0, 0, 0], [1, 1, 4, 0, 0], [1, 0, 0, 5, 1]]


@pytest.fixture(scope="module")
def overlapping():
    X, _ = make_blobs(6000, n_features=6, centers=40, cluster_std=3.0, random_state=3)
    return X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elkan_equals_lloyd_from_same_init(overlapping, dtype):
    X = overlapping.astype(dtype)
    init = X[np.random.RandomState(0).choice(len(X), 30, replace=False)]
    lloyd = KMeans(30, init=init, n_init=1, tol=0).fit(X)
    elkan = KMeans(30, init=init, n_init=1, tol=0, algorithm="elkan").fit(X)
    assert lloyd.n_iter_ > 10  # many iterations: the bounds were used, not just the first pass
    np.testing.assert_array_equal(elkan.labels_, lloyd.labels_)
    np.testing.assert_array_equal(elkan.cluster_centers_, lloyd.cluster_centers_)
    assert elkan.n_iter_ == lloyd.n_iter_
    assert elkan.inertia_ == pytest.approx(lloyd.inertia_, rel=1e-12)
    if dtype == np.float64:
        ref = SKKMeans(30, init=init, n_init=1, tol=0, algorithm="elkan").fit(X)
        np.testing.assert_allclose(elkan.cluster_centers_, ref.cluster_centers_, atol=1e-6)
        np.testing.assert_array_equal(elkan.labels_, ref.labels_)


def test_elkan_equals_lloyd_above_xla_min_rows():
    # From 65,536 rows Lloyd runs XLA-compiled parts and elkan carries its sums,
    # updated by the rows that change cluster: same labels, centres to rounding.
    X, _ = make_blobs(70_000, n_features=4, centers=20, cluster_std=2.0, random_state=1)
    init = X[:20]
    lloyd = KMeans(20, init=init, n_init=1, max_iter=25).fit(X)
    elkan = KMeans(20, init=init, n_init=1, max_iter=25, algorithm="elkan").fit(X)
    np.testing.assert_array_equal(elkan.labels_, lloyd.labels_)
    np.testing.assert_allclose(elkan.cluster_centers_, lloyd.cluster_centers_, rtol=1e-10)
    assert elkan.n_iter_ == lloyd.n_iter_


def test_bounds_skip_rows_and_keep_brute_force_labels(overlapping):
    # Lloyd iterations through the bounds: every pass's labels are NumPy's argmin,
    # and once centres settle most rows are not recomputed.
    source = InMemory(overlapping)
    centers = overlapping[:30] - source.origin
    tracker = HamerlyBounds(source.rows, source.weights, source.origin, None)
    rows = overlapping - source.origin
    for _ in range(15):
        stats = tracker.partial_stats(centers)
        d2 = ((rows[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        np.testing.assert_array_equal(tracker.labels.numpy(), d2.argmin(axis=1))
        assert stats.inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-12)
        centers = centers_from_stats(stats, centers)
    assert tracker.computed[0] == len(overlapping)
    assert tracker.computed[-1] < 0.5 * len(overlapping)  # 36% here (overlapping blobs)


def test_elkan_one_cluster_warns_and_runs_lloyd():
    X = np.random.RandomState(0).randn(50, 3)
    with pytest.warns(RuntimeWarning, match="single cluster"):
        km = KMeans(1, algorithm="elkan").fit(X)
    np.testing.assert_allclose(km.cluster_centers_[0], X.mean(axis=0))


def test_transform_of_centres_is_zero_float32():
    # The example: 1.4e-3 on the diagonal before (GEMM form in float32).
    X, _ = make_blobs(100, centers=CENTERS, random_state=42)
    km = KMeans(3, n_init=1, random_state=42).fit(X.astype(np.float32))
    Xt = km.transform(km.cluster_centers_)
    assert np.abs(np.diag(Xt)).max() == 0.0
    c = km.cluster_centers_.astype(np.float64)
    exact = np.sqrt(((X[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    assert np.abs(km.transform(X.astype(np.float32)) - exact).max() <= 1e-6


def test_transform_minibatch_float64_is_exact():
    X, _ = make_blobs(100, centers=CENTERS, random_state=42)
    km = KMeans(3, n_init=1, random_state=42, algorithm="minibatch").fit(X)
    assert np.abs(np.diag(km.transform(km.cluster_centers_))).max() <= 1e-12
    exact = np.sqrt(((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(axis=2))
    np.testing.assert_allclose(km.transform(X), exact, rtol=1e-12, atol=1e-12)
    labels = exact.argmin(axis=1)
    np.testing.assert_allclose(-km.score(X), (exact.min(axis=1) ** 2).sum(), rtol=1e-12)
    np.testing.assert_array_equal(km.predict(X), labels)


def test_inertia_of_points_on_their_centres_is_zero_float32():
    # Each row is its own centre: the GEMM form would leave ~1e-3 per row.
    X = (np.random.RandomState(0).randn(8, 4) * 100 + 1000).astype(np.float32)
    km = KMeans(8, init=X, n_init=1).fit(X)
    assert km.inertia_ == 0.0
    assert km.score(X) == 0.0


def test_minibatch_caps_batch_size_at_n():
    # n=100 < batch_size=1024: max_iter=1 is one epoch of one step, as scikit-learn.
    X = np.random.RandomState(42).randn(100, 10)
    km = KMeans(8, algorithm="minibatch", n_init=1, random_state=42, max_iter=1).fit(X)
    ref = MiniBatchKMeans(8, n_init=1, random_state=42, max_iter=1).fit(X)
    assert km.n_iter_ == ref.n_iter_ == 1
    assert km.n_steps_ == ref.n_steps_ == 1


def test_minibatch_tol_stops_on_small_centre_change():
    X, _, centers = make_blobs(centers=3, random_state=0, return_centers=True)
    kwargs = dict(init=centers, batch_size=20, random_state=0, max_iter=10, n_init=1)
    km = KMeans(3, algorithm="minibatch", tol=1e-4, max_no_improvement=None, **kwargs).fit(X)
    ref = MiniBatchKMeans(3, tol=1e-4, max_no_improvement=None, **kwargs).fit(X)
    assert 1 < km.n_iter_ < 10 and 1 < ref.n_iter_ < 10
    never = KMeans(3, algorithm="minibatch", tol=0, max_no_improvement=None, **kwargs).fit(X)
    assert never.n_iter_ == 10  # tol=0 and no patience: every epoch runs


def test_init_size_below_n_clusters_warns_as_sklearn():
    X = np.random.RandomState(0).randn(200, 3)
    with pytest.warns(RuntimeWarning, match=r"init_size=10 should be larger than n_clusters=20"):
        km = KMeans(20, algorithm="minibatch", init_size=10, random_state=0).fit(X)
    assert km._init_size == 60


def test_copy_x_accepted_and_x_unchanged():
    X = np.random.RandomState(0).randn(300, 4) + 50
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = KMeans(4, copy_x=False, random_state=0).fit(X)
    b = KMeans(4, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
