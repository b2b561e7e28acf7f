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


def _sample_rows(source, max_points: int, seed: int) -> np.ndarray:
    """Up to max_points rows of a Source in user coordinates."""
    rows, _ = source.sample(min(max_points, source.n_rows), np.random.RandomState(seed))
    return rows + source.origin


def plot_model(model, source, path, max_points: int = 20000, seed: int = 0):
    """Clusters of a fitted model on (a sample of) a Source: a scatter in 2-D, or the
    first two principal components (of the sample) for d > 2."""
    plt = _pyplot()
    rows = _sample_rows(source, max_points, seed)
    labels = model.predict(rows.astype(model.cluster_centers_.dtype))
    centers = model.cluster_centers_.astype(np.float64)
    if rows.shape[1] > 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(rows)
        rows, centers = pca.transform(rows), pca.transform(centers)
        axes = ("PC 1", "PC 2")
    elif rows.shape[1] == 2:
        axes = ("feature 0", "feature 1")
    else:
        rows = np.column_stack([rows[:, 0], np.zeros(len(rows))])
        centers = np.column_stack([centers[:, 0], np.zeros(len(centers))])
        axes = ("feature 0", "")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.scatter(rows[:, 0], rows[:, 1], c=labels, cmap="tab20", s=4, alpha=0.6, linewidths=0)
    ax.scatter(centers[:, 0], centers[:, 1], marker="x", s=120, c="k", linewidths=2.5)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(f"k={len(centers)} clusters ({len(rows)} of {source.n_rows} rows shown)")
    save_figure(fig, path)
    return fig


def elbow(source, k_values, path, sample_size: int = 5000, seed: int = 0, on_k=None):
    """Inertia and silhouette for each k on a sample of the rows; writes a two-panel PNG.

    Returns (k, inertia, silhouette) rows. Silhouette needs 2 <= k < sample rows;
    otherwise it is reported as NaN.
    """
    from sklearn.metrics import silhouette_score

    from tfkmeans.estimator import KMeans

    rows = _sample_rows(source, sample_size, seed)
    results = []
    for k in k_values:
        if k > len(rows):
            raise ValueError(f"k={k} is larger than the {len(rows)} sampled rows")
        km = KMeans(k, random_state=seed, n_init=3).fit(rows)
        if 2 <= k < len(rows) and len(np.unique(km.labels_)) > 1:
            silhouette = float(silhouette_score(rows, km.labels_, random_state=seed))
        else:
            silhouette = float("nan")
        results.append((k, km.inertia_, silhouette))
        if on_k is not None:
            on_k(k, km.inertia_, silhouette)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ks = [r[0] for r in results]
    left.plot(ks, [r[1] for r in results], marker="o")
    left.set_xlabel("k")
    left.set_ylabel("inertia (sample)")
    left.set_title("elbow")
    right.plot(ks, [r[2] for r in results], marker="o", color="tab:green")
    right.set_xlabel("k")
    right.set_ylabel("silhouette (sample)")
    right.set_title("silhouette: higher is better")
    save_figure(fig, path)
    return results
