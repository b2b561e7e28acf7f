"""KMeans against scikit-learn's KMeans as the independent reference."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tfkmeans import KMeans


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_same_random_state_gives_sklearn_result_float64(blobs, init):
    X, _ = blobs
    ours = KMeans(5, init=init, random_state=7).fit(X)
    ref = SkKMeans(5, init=init, random_state=7).fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-6)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.cluster_centers_.dtype == np.float64


def test_same_initial_centroids_match_sklearn_on_overlapping_data():
    # Overlapping clusters take many iterations, so every step must agree.
    X, _ = make_blobs(3000, n_features=3, centers=6, cluster_std=3.0, random_state=1)
    init = X[np.random.RandomState(0).choice(len(X), 6, replace=False)]
    ours = KMeans(6, init=init, n_init=1, tol=0, max_iter=500).fit(X)
    ref = SkKMeans(6, init=init, n_init=1, tol=0, max_iter=500, algorithm="lloyd").fit(X)
    assert ours.n_iter_ > 5
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, atol=1e-6)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)


@pytest.mark.parametrize("loader", [load_digits, load_iris])
def test_n_init_10_inertia_within_one_percent_of_sklearn(loader):
    X = loader().data
    ours = KMeans(10, n_init=10, random_state=0).fit(X)
    ref = SkKMeans(10, n_init=10, random_state=0).fit(X)
    assert ours.inertia_ <= ref.inertia_ * 1.01


def test_sample_weight_equals_repeated_rows(blobs):
    X, _ = blobs
    w = np.random.RandomState(0).randint(1, 4, len(X))
    init = X[:5]
    weighted = KMeans(5, init=init, n_init=1).fit(X, sample_weight=w)
    repeated = KMeans(5, init=init, n_init=1).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, atol=1e-8)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-9)


def test_float32_far_from_origin_stays_accurate():
    X, _ = make_blobs(4000, n_features=3, centers=4, random_state=3)
    X32 = (X + 1e6).astype(np.float32)
    ours = KMeans(4, random_state=0).fit(X32)
    assert ours.cluster_centers_.dtype == np.float32
    # Exact inertia of our own labels and centres, recomputed in float64 with NumPy.
    centers = ours.cluster_centers_.astype(np.float64)
    exact = np.sum((X32.astype(np.float64) - centers[ours.labels_]) ** 2)
    assert ours.inertia_ == pytest.approx(exact, rel=1e-5)
    brute = np.argmin(((X32[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(-1), axis=1)
    assert np.mean(brute == ours.labels_) > 0.999
    # float32 centres near 1e6 are only resolved to 1/16, which alone moves inertia ~2e-4.
    ref = SkKMeans(4, random_state=0).fit(X32.astype(np.float64))
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-3)


def test_inertia_is_never_zero_when_truth_is_tiny_positive():
    base = np.array([[1e3, -1e3]], dtype=np.float32)
    X = np.repeat(base, 4, axis=0) + np.array(
        [[0, 0], [1e-3, 0], [0, 1e-3], [1e-3, 1e-3]], np.float32
    )
    km = KMeans(1, n_init=1).fit(X)
    truth = np.sum((X.astype(np.float64) - km.cluster_centers_.astype(np.float64)) ** 2)
    assert km.inertia_ > 0
    assert km.inertia_ == pytest.approx(truth, rel=1e-2)


def test_predict_transform_score_match_numpy(blobs):
    X, _ = blobs
    km = KMeans(5, random_state=0).fit(X)
    distances = np.sqrt(((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1))
    np.testing.assert_allclose(km.transform(X), distances, rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(km.predict(X), distances.argmin(1))
    np.testing.assert_array_equal(km.predict(X), km.labels_)
    assert km.score(X) == pytest.approx(-np.sum(distances.min(1) ** 2), rel=1e-9)
    np.testing.assert_array_equal(km.fit_predict(X), km.labels_)
    np.testing.assert_allclose(km.fit_transform(X), distances, rtol=1e-7, atol=1e-7)


def test_empty_cluster_is_repaired_like_sklearn():
    X, _ = make_blobs(500, n_features=2, centers=3, random_state=0)
    # Two identical far-away initial centres: one cluster is empty after the first step.
    init = np.array([[100.0, 100.0], [100.0, 100.0], X[0], X[1]])
    ours = KMeans(4, init=init, n_init=1).fit(X)
    ref = SkKMeans(4, init=init, n_init=1).fit(X)
    assert np.all(np.isfinite(ours.cluster_centers_))
    assert len(np.unique(ours.labels_)) == 4
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)


def test_fewer_distinct_points_than_clusters_warns():
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = KMeans(3, n_init=1, random_state=0).fit(X)
    assert np.all(np.isfinite(km.cluster_centers_))


def test_inputs_tensor_list_pandas_polars(blobs):
    import pandas as pd
    import polars as pl

    X, _ = blobs
    ref = KMeans(5, random_state=0).fit(X).cluster_centers_
    for variant in (tf.constant(X), X.tolist(), pd.DataFrame(X), pl.DataFrame(X)):
        np.testing.assert_allclose(KMeans(5, random_state=0).fit(variant).cluster_centers_, ref)
    frame = pd.DataFrame(X, columns=list("abcd"))
    km = KMeans(5, random_state=0).fit(frame)
    assert list(km.feature_names_in_) == list("abcd")
    assert list(km.get_feature_names_out()) == [f"kmeans{i}" for i in range(5)]


def test_integer_and_float32_inputs_give_float32(blobs):
    X, _ = blobs
    assert KMeans(3, random_state=0).fit(X.astype(np.float32)).cluster_centers_.dtype == np.float32
    ints = np.round(X * 10).astype(np.int64)
    assert KMeans(3, random_state=0).fit(ints).cluster_centers_.dtype == np.float32


def test_same_seed_same_result_and_chunk_size_does_not_matter(blobs):
    X, _ = blobs
    a = KMeans(5, random_state=11, batch_size=64).fit(X)
    b = KMeans(5, random_state=11, batch_size=10_000).fit(X)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_callable_init_and_pipeline(blobs):
    X, _ = blobs

    def first_rows(data, k, random_state):
        return data[:k]

    km = KMeans(5, init=first_rows, n_init=1).fit(X)
    ref = SkKMeans(5, init=X[:5], n_init=1).fit(X)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, atol=1e-6)
    pipe = make_pipeline(StandardScaler(), KMeans(5, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (len(X),)


@pytest.mark.parametrize("algorithm", ["lloyd", "gradient", "minibatch"])
def test_verbose_reports_each_algorithm_the_same_way(capsys, algorithm):
    X, _ = make_blobs(3000, n_features=2, centers=8, cluster_std=4, random_state=0)
    km = KMeans(8, init="random", n_init=1, tol=0, max_iter=60, verbose=True, random_state=0)
    km.set_params(algorithm=algorithm, batch_size=64 if algorithm == "minibatch" else None)
    km.fit(X)
    err = capsys.readouterr().err.splitlines()
    steps = [line for line in err if line.startswith(f"[tfkmeans] {algorithm} step ")]
    assert steps and len(steps) <= 10 + len(km.objective_history_) // 10 + 1
    assert "objective=" in steps[0] and "shift=" in steps[0]
    assert err[-1].startswith(f"[tfkmeans] {algorithm}: done after")


def test_same_clustering_is_equality_up_to_cluster_order():
    from tfkmeans.labelling import same_clustering

    labels = np.array([0, 0, 1, 2, 2, 1])
    assert same_clustering(labels, np.array([2, 2, 0, 1, 1, 0]))  # renamed clusters
    assert not same_clustering(labels, np.array([0, 0, 1, 2, 2, 2]))  # a row moved
    assert not same_clustering(labels, np.array([0, 0, 0, 1, 1, 0]))  # two clusters merged
    assert not same_clustering(np.array([0, 0, 0]), np.array([0, 1, 2]))  # one split in three
    assert not same_clustering(None, labels)
