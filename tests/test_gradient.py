"""Gradient-descent k-means (the second tutorial) against its own seed and Lloyd."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

from tfkmeans import KMeans

SEED_OBJECTIVE = 940.45  # reported by seed 002 after 20-100 steps


@pytest.fixture(scope="module")
def seed_data():
    X, _ = make_blobs(500, random_state=1111)
    return X.astype(np.float32)


def test_reproduces_the_seed_example(seed_data):
    X = seed_data
    init = X[np.random.RandomState(0).choice(len(X), 3, replace=False)]
    km = KMeans(3, init=init, algorithm="gradient", learning_rate=0.001, max_iter=100, tol=0)
    km.fit(X)
    assert km.inertia_ == pytest.approx(SEED_OBJECTIVE, rel=0.005)
    lloyd_best = SkKMeans(3, n_init=10, random_state=0).fit(X.astype(np.float64)).inertia_
    assert km.inertia_ <= lloyd_best * 1.01
    history = km.objective_history_
    # tol=0 stops only once a step leaves the float32 objective exactly unchanged.
    assert len(history) == km.n_iter_ <= 100
    assert history[0] > 4 * history[-1] and history[-1] == pytest.approx(km.inertia_, rel=1e-4)


def test_gradient_matches_numpy_gradient():
    # One plain SGD step must equal W - lr * dE/dW with dE/dW_k = 2 sum_{i in k} w_i (W_k - x_i).
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    w = rng.uniform(0.5, 2, 300)
    init = X[:4]
    lr = 1e-3
    km = KMeans(4, init=init, algorithm="gradient", learning_rate=lr, max_iter=1, tol=0)
    km.fit(X, sample_weight=w)
    labels = ((X[:, None] - init[None]) ** 2).sum(-1).argmin(1)
    grad = np.stack(
        [2 * (w[labels == j, None] * (init[j] - X[labels == j])).sum(0) for j in range(4)]
    )
    # Keras keeps the learning rate in float32 (1e-3 is 1.00000005e-3 there): rtol 1e-6.
    np.testing.assert_allclose(km.cluster_centers_, init - lr * grad, rtol=1e-6)
    objective = sum(w[i] * ((X[i] - init[labels[i]]) ** 2).sum() for i in range(300))
    assert km.objective_history_[0] == pytest.approx(objective, rel=1e-10)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizers_reach_lloyds_inertia(seed_data, optimizer):
    km = KMeans(3, algorithm="gradient", optimizer=optimizer, random_state=0, max_iter=500)
    km.fit(seed_data)
    lloyd = KMeans(3, random_state=0).fit(seed_data)
    assert km.inertia_ <= lloyd.inertia_ * 1.01


def test_optimizer_instance_and_chunking(seed_data):
    opt = tf.keras.optimizers.SGD(learning_rate=0.001)
    init = seed_data[:3]
    a = KMeans(3, init=init, algorithm="gradient", optimizer=opt, max_iter=30, tol=0).fit(seed_data)
    b = KMeans(
        3, init=init, algorithm="gradient", learning_rate=0.001, max_iter=30, tol=0, batch_size=64
    )
    b.fit(seed_data)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-4, atol=1e-3)
    assert opt.iterations.numpy() == 0  # the user's optimizer is copied, not consumed


def test_tol_stops_on_relative_objective_change(seed_data):
    km = KMeans(3, algorithm="gradient", random_state=0, tol=1e-3, max_iter=1000).fit(seed_data)
    h = km.objective_history_
    assert km.n_iter_ < 1000
    assert abs(h[-2] - h[-1]) <= 1e-3 * h[-2]
    assert all(abs(a - b) > 1e-3 * a for a, b in zip(h[:-2], h[1:-1], strict=True))


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"optimizer": object()}, "optimizer"),
        ({"algorithm": "newton"}, "algorithm"),
    ],
)
def test_bad_gradient_parameters(seed_data, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        KMeans(3, algorithm=params.pop("algorithm", "gradient"), **params).fit(seed_data)
