"""tfkmeans: k-means clustering on TensorFlow 2, from a laptop to a GPU to Spark."""

from tfkmeans.estimator import KMeans
from tfkmeans.plot import plot_clusters
from tfkmeans.samples import create_samples
from tfkmeans.sources import InMemory, Source
from tfkmeans.tutorial import assign_to_nearest, choose_random_centroids, update_centroids

__version__ = "0.1.0"

__all__ = [
    "InMemory",
    "KMeans",
    "Source",
    "assign_to_nearest",
    "choose_random_centroids",
    "create_samples",
    "plot_clusters",
    "update_centroids",
]
