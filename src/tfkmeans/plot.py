"""Plots with matplotlib, headless-safe (the Agg backend when there is no display)."""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
    import matplotlib

    if not os.environ.get("DISPLAY") and matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _numpy(values) -> np.ndarray:
    return values.numpy() if hasattr(values, "numpy") else np.asarray(values)


def save_figure(fig, path) -> None:
    """Write a PNG atomically, then release the figure."""
    from tfkmeans.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def plot_clusters(samples, centroids, n_samples_per_cluster, path=None, title=None, labels=None):
    """The tutorial's picture: each cluster in its colour, each centroid a big magenta X.

    Samples are grouped by ``labels`` when given, else in consecutive runs of
    ``n_samples_per_cluster`` (the order ``create_samples`` makes). Writes a PNG
    to ``path`` when given, else shows the figure; returns the figure.
    """
    plt = _pyplot()
    samples, centroids = _numpy(samples), _numpy(centroids)
    fig, ax = plt.subplots(figsize=(6, 5))
    colours = plt.cm.rainbow(np.linspace(0, 1, max(len(centroids), 1)))
    for i, centroid in enumerate(centroids):
        if labels is not None:
            group = samples[_numpy(labels) == i]
        else:
            group = samples[i * n_samples_per_cluster : (i + 1) * n_samples_per_cluster]
        ax.scatter(group[:, 0], group[:, 1], color=colours[i], s=8, alpha=0.7)
        ax.plot(centroid[0], centroid[1], markersize=25, marker="x", color="k", mew=8)
        ax.plot(centroid[0], centroid[1], markersize=22, marker="x", color="m", mew=4)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    else:
        plt.show()
    return fig


def plot_history(series: dict[str, list[float]], path, ylabel="inertia", title=None):
    """Objective per step for one or more runs (log scale), written as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    save_figure(fig, path)
    return fig
