"""tfkmeans: k-means clustering on TensorFlow 2, from a laptop to a GPU to Spark.

The public names are imported lazily, so ``import tfkmeans`` and ``tfkmeans --help``
do not pay TensorFlow's start-up until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_PUBLIC = {
    "KMeans": "tfkmeans.estimator",
    "InMemory": "tfkmeans.sources",
    "Source": "tfkmeans.sources",
    "create_samples": "tfkmeans.samples",
    "choose_random_centroids": "tfkmeans.tutorial",
    "assign_to_nearest": "tfkmeans.tutorial",
    "update_centroids": "tfkmeans.tutorial",
    "plot_clusters": "tfkmeans.plot",
    "read": "tfkmeans.files",
}

__all__ = [
    "InMemory",
    "KMeans",
    "Source",
    "assign_to_nearest",
    "choose_random_centroids",
    "create_samples",
    "plot_clusters",
    "read",
    "update_centroids",
]

if TYPE_CHECKING:
    from tfkmeans.estimator import KMeans
    from tfkmeans.files import read
    from tfkmeans.plot import plot_clusters
    from tfkmeans.samples import create_samples
    from tfkmeans.sources import InMemory, Source
    from tfkmeans.tutorial import assign_to_nearest, choose_random_centroids, update_centroids


def __getattr__(name: str):
    module = _PUBLIC.get(name)  # __all__ lists the same names
    if module is None:
        raise AttributeError(f"module 'tfkmeans' has no attribute {name!r}")
    importlib.import_module("tfkmeans.tfload")  # TensorFlow first, its start-up lines hidden
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
