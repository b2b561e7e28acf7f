"""Every user mistake gets a one-line error that names the problem."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from tfkmeans import KMeans

X = np.random.RandomState(0).randn(30, 3)


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (np.where(np.eye(30, 3) > 0, np.nan, X), "NaN"),
        (np.where(np.eye(30, 3) > 0, np.inf, X), "infinity"),
        (np.empty((0, 3)), "0 sample"),
        (X[:, 0], "Expected 2D array"),
        (X[:, :, None], "dim 3"),
        ([["a", "b"], ["c", "d"]], "strings"),
    ],
)
def test_bad_x_on_fit(bad, pattern):
    with pytest.raises(ValueError, match=pattern) as excinfo:
        KMeans(2).fit(bad)
    one_line(excinfo)


@pytest.mark.parametrize("n_clusters", [0, -1])
def test_n_clusters_below_one(n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        KMeans(n_clusters).fit(X)


def test_more_clusters_than_rows():
    with pytest.raises(ValueError, match="n_samples=30 should be >= n_clusters=31") as excinfo:
        KMeans(31).fit(X)
    one_line(excinfo)


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        (np.ones(5), "sample_weight.shape"),
        (-np.ones(30), "Negative"),
        (np.zeros(30), "non-zero"),
        (np.full(30, np.nan), "NaN"),
    ],
)
def test_bad_sample_weight(weights, pattern):
    with pytest.raises(ValueError, match=pattern):
        KMeans(2).fit(X, sample_weight=weights)


def test_predict_with_other_feature_count():
    km = KMeans(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 3"):
        km.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        km.predict(np.full((2, 3), np.nan))


def test_init_array_of_wrong_shape_or_values():
    with pytest.raises(ValueError, match=r"shape of the initial centers \(3, 3\)"):
        KMeans(2, init=X[:3]).fit(X)
    with pytest.raises(ValueError, match=r"shape of the initial centers \(2, 2\)"):
        KMeans(2, init=X[:2, :2]).fit(X)
    bad = X[:2].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KMeans(2, init=bad).fit(X)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"init": "kmeans"}, "init"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"algorithm": "hamerly"}, "algorithm"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_parameters_name_the_parameter(params, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        KMeans(2, **params).fit(X)


def test_unfitted_model():
    with pytest.raises(NotFittedError):
        KMeans(2).predict(X)
