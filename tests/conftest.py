"""Shared fixtures. TensorFlow logs are quieted before it is imported."""

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402


@pytest.fixture(scope="session")
def blobs():
    """Well-separated float64 blobs: 2,000 rows, 4 features, 5 clusters."""
    X, y = make_blobs(2000, n_features=4, centers=5, random_state=42)
    return X, y


SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="session")
def run_cli():
    """Runs ``tfkmeans ARGS`` as a user would: a subprocess, with this checkout's source."""

    def run(*args, cwd):
        env = dict(os.environ, PYTHONPATH=SRC, TF_CPP_MIN_LOG_LEVEL="3")
        return subprocess.run(
            [sys.executable, "-m", "tfkmeans.cli", *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
