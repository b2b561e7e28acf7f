"""Shared fixtures. TensorFlow logs are quieted before it is imported."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402


@pytest.fixture(scope="session")
def blobs():
    """Well-separated float64 blobs: 2,000 rows, 4 features, 5 clusters."""
    X, y = make_blobs(2000, n_features=4, centers=5, random_state=42)
    return X, y
