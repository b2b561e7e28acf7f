"""Mini-batch k-means against scikit-learn's MiniBatchKMeans and Lloyd."""

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import make_blobs

from tfkmeans import KMeans


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(60_000, n_features=8, centers=12, random_state=0)
    return X.astype(np.float32)


def test_close_to_lloyd_and_to_sklearn(data):
    lloyd = KMeans(12, random_state=0).fit(data)
    ours = KMeans(12, algorithm="minibatch", n_init=3, random_state=0).fit(data)
    ref = MiniBatchKMeans(12, n_init=3, random_state=0).fit(data)
    assert ours.inertia_ <= lloyd.inertia_ * 1.03
    assert ours.inertia_ <= ref.inertia_ * 1.03
    assert ours.n_steps_ < 100 * len(data) // 1024  # stopped early on smoothed inertia


def test_same_init_tracks_sklearn(data):
    # A random init that is not in every blob: both end in the same local optimum.
    init = data[np.random.RandomState(1).choice(len(data), 12, replace=False)]
    ours = KMeans(12, init=init, algorithm="minibatch", random_state=0).fit(data)
    ref = MiniBatchKMeans(12, init=init, n_init=1, random_state=0).fit(data)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=0.03)


def test_one_step_is_the_per_centre_learning_rate_update():
    # From zero counts, the first step moves each centre exactly onto its batch mean.
    rng = np.random.RandomState(0)
    X = rng.randn(500, 3)
    init = X[:5]
    km = KMeans(5, init=init, n_init=1, algorithm="minibatch", batch_size=500)
    km.partial_fit(X)
    labels = ((X[:, None] - init[None]) ** 2).sum(-1).argmin(1)
    expected = np.stack([X[labels == j].mean(0) for j in range(5)])
    np.testing.assert_allclose(km.cluster_centers_, expected, rtol=1e-10)
    # A second batch: c <- (c * n_seen + batch sum) / (n_seen + batch count).
    Y = rng.randn(300, 3) + 0.5
    counts = np.bincount(labels, minlength=5).astype(float)
    lab2 = ((Y[:, None] - expected[None]) ** 2).sum(-1).argmin(1)
    sums = np.stack([Y[lab2 == j].sum(0) for j in range(5)])
    n2 = np.bincount(lab2, minlength=5)
    want = (expected * counts[:, None] + sums) / (counts + n2)[:, None]
    km.partial_fit(Y)
    np.testing.assert_allclose(km.cluster_centers_, want, rtol=1e-9)


def test_partial_fit_stream_is_usable_after_each_call(data):
    km = KMeans(12, algorithm="minibatch", random_state=0)
    previous = None
    for chunk in np.array_split(data, 30):
        km.partial_fit(chunk)
        assert km.cluster_centers_.shape == (12, 8) and np.all(np.isfinite(km.cluster_centers_))
        assert km.predict(chunk[:5]).shape == (5,)
        previous = km.cluster_centers_.copy()
    lloyd = KMeans(12, random_state=0).fit(data)
    assert km.score(data) >= -lloyd.inertia_ * 1.10
    assert previous is not None and km.n_steps_ == 30


def test_partial_fit_rejects_other_feature_count(data):
    km = KMeans(3, algorithm="minibatch", random_state=0).partial_fit(data[:100])
    with pytest.raises(ValueError, match="X has 5 features, but KMeans is expecting 8"):
        km.partial_fit(data[:100, :5])


def test_starved_centre_is_reassigned():
    X, _ = make_blobs(20_000, n_features=2, centers=4, random_state=3)
    # One centre far away from everything never wins a row: it must be moved onto the data.
    init = np.vstack([X[:3], [[1e4, 1e4]]])
    km = KMeans(4, init=init, algorithm="minibatch", random_state=0).fit(X)
    assert np.abs(km.cluster_centers_).max() < 100
    assert len(np.unique(km.labels_)) == 4
