"""Plots with matplotlib, headless-safe (the Agg backend when there is no display)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

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


# Colour-blind-safe colours that read on white: Okabe & Ito's (without yellow, too pale,
# and black, kept for centres), then four of Paul Tol's. Past ten clusters colours
# repeat with another marker.
PALETTE = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#332288",  # indigo
    "#44AA99",  # teal
    "#882255",  # wine
    "#999933",  # olive
)
MARKERS = ("o", "s", "^", "D", "v", "P")
NEUTRAL = "#7F7F7F"


def cluster_style(i: int) -> tuple[str, str]:
    """(colour, marker) of cluster i."""
    return PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)]


def _mark_centres(ax, centres: np.ndarray, ids: bool = True, label: str = "centre") -> None:
    """Centres as black crosses with a white rim, each with its cluster id."""
    ax.scatter(
        centres[:, 0],
        centres[:, 1],
        marker="X",
        s=160,
        c="k",
        edgecolors="white",
        linewidths=1.5,
        zorder=3,
        label=label,
    )
    if ids:
        for i, (x, y) in enumerate(centres[:, :2]):
            ax.annotate(
                str(i),
                (x, y),
                xytext=(7, 7),
                textcoords="offset points",
                fontsize=10,
                fontweight="bold",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )


def _legend_marker_sizes(legend) -> None:
    """Legend markers at one readable size, whatever the size of the points drawn."""
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        handle.set_sizes([90 if text.get_text() in ("centre", "guess") else 30])


def _scatter_clusters(ax, points: np.ndarray, labels: np.ndarray, k: int, size: float = 8) -> None:
    for i in range(k):
        group = points[labels == i]
        colour, marker = cluster_style(i)
        ax.scatter(
            group[:, 0],
            group[:, 1],
            s=size,
            color=colour,
            marker=marker,
            alpha=0.75,
            linewidths=0,
            label=f"cluster {i} ({len(group):,})",
        )


def plot_clusters(
    samples, centroids, n_samples_per_cluster, path=None, title=None, labels=None, neutral=False
):
    """The tutorial's picture: each cluster in its colour, each centroid a black cross.

    Samples are grouped by ``labels`` when given, else in consecutive runs of
    ``n_samples_per_cluster`` (the order ``create_samples`` makes). ``neutral`` draws
    every sample in one grey (centroids that are only guesses have no clusters yet).
    Writes a PNG to ``path`` when given, else shows the figure; returns the figure.
    """
    plt = _pyplot()
    samples, centroids = _numpy(samples), _numpy(centroids)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    k = len(centroids)
    if neutral:
        ax.scatter(
            samples[:, 0],
            samples[:, 1],
            s=8,
            color=NEUTRAL,
            alpha=0.6,
            linewidths=0,
            label=f"samples ({len(samples):,})",
        )
    else:
        if labels is not None:
            groups = _numpy(labels)
        else:
            groups = np.repeat(np.arange(k), n_samples_per_cluster)[: len(samples)]
            groups = np.concatenate([groups, np.full(len(samples) - len(groups), -1)])
        _scatter_clusters(ax, samples, groups, k)
    _mark_centres(ax, centroids, label="guess" if neutral else "centre")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    legend = ax.legend(loc="best", fontsize=8, framealpha=0.9)
    _legend_marker_sizes(legend)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    else:
        plt.show()
    return fig


def plot_history(
    series: dict[str, list[float]], path, ylabel="inertia", title=None, start: int = 1
):
    """Objective per step for one or more runs (log scale), written as a PNG; the
    first value is at iteration ``start`` (0: the initial centres)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, values) in enumerate(series.items()):
        steps = range(start, start + len(values))
        ax.plot(steps, values, marker="o", ms=3, label=name, color=PALETTE[(3, 4, 2)[i % 3]])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    first two principal components (of the sample) for d > 2, on equal axes so round
    clusters look round; the axis labels say how much variance each component keeps."""
    plt = _pyplot()
    rows = _sample_rows(source, max_points, seed)
    names = [str(n) for n in getattr(model, "feature_names_in_", [])] or None
    with warnings.catch_warnings():
        # The sample's columns are the model's own, in its order; only their names are gone.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        labels = model.predict(rows.astype(model.cluster_centers_.dtype))
    centers = model.cluster_centers_.astype(np.float64)
    if rows.shape[1] > 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(rows)
        rows, centers = pca.transform(rows), pca.transform(centers)
        share = 100 * pca.explained_variance_ratio_
        axes = (f"PC 1 ({share[0]:.0f}% of variance)", f"PC 2 ({share[1]:.0f}% of variance)")
    elif rows.shape[1] == 2:
        axes = tuple(names) if names else ("feature 0", "feature 1")
    else:
        rows = np.column_stack([rows[:, 0], np.zeros(len(rows))])
        centers = np.column_stack([centers[:, 0], np.zeros(len(centers))])
        axes = (names[0] if names else "feature 0", "")
    fig, ax = plt.subplots(figsize=(7.5, 6))
    k = len(centers)
    _scatter_clusters(ax, rows, labels, k, size=5)
    _mark_centres(ax, centers)
    if rows.shape[1] == 2 and axes[1]:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    if len(rows) < source.n_rows:
        shown = f"a sample of {len(rows):,} of {source.n_rows:,} rows; sizes are the sample's"
    else:
        shown = f"all {len(rows):,} rows"
    ax.set_title(f"k={k} clusters ({shown})", fontsize=10)
    legend = ax.legend(
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        fontsize=8,
        title="cluster (rows)",
        title_fontsize=8,
    )
    _legend_marker_sizes(legend)
    save_figure(fig, path)
    return fig


@dataclass(frozen=True)
class ElbowResult:
    """Inertia and silhouette per k, and the k with the best defined silhouette."""

    inertia: dict[int, float]
    silhouette: dict[int, float]  # NaN where undefined (k = 1, or k >= rows)
    best: int | None  # None when no k of the range has a silhouette


def elbow(source, k_values, path, sample_size: int = 5000, seed: int = 0, on_k=None) -> ElbowResult:
    """Inertia and silhouette for each k on a sample of the rows; writes a two-panel PNG
    with the chosen k marked. The whole range is checked before any fit. Silhouette is
    defined for 2 <= k < sampled rows; undefined ones are never chosen, so k=1 never is.
    """
    from sklearn.metrics import silhouette_score

    from tfkmeans.estimator import KMeans

    ks = list(k_values)
    rows = _sample_rows(source, sample_size, seed)
    if max(ks) > len(rows):
        raise ValueError(f"k={max(ks)} is larger than the {len(rows)} sampled rows")
    inertia, silhouette = {}, {}
    for k in ks:
        km = KMeans(k, random_state=seed, n_init=3).fit(rows)
        if 2 <= k < len(rows) and len(np.unique(km.labels_)) > 1:
            silhouette[k] = float(silhouette_score(rows, km.labels_, random_state=seed))
        else:
            silhouette[k] = float("nan")
        inertia[k] = float(km.inertia_)
        if on_k is not None:
            on_k(k, inertia[k], silhouette[k])
    defined = {k: v for k, v in silhouette.items() if v == v}
    best = max(defined, key=lambda k: (defined[k], -k)) if defined else None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(ks, [inertia[k] for k in ks], marker="o", color=PALETTE[3])
    left.set_ylabel("inertia on the sample (lower is tighter)")
    left.set_title("elbow: where the curve bends")
    right.plot(ks, [silhouette[k] for k in ks], marker="o", color=PALETTE[2])
    right.set_ylabel("silhouette on the sample")
    right.set_title("silhouette: higher is better")
    for ax in (left, right):
        ax.set_xlabel("k (number of clusters)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best is not None:
            ax.axvline(
                best, color=PALETTE[4], linestyle="--", linewidth=1.2, label=f"chosen k={best}"
            )
    if best is not None:
        right.scatter(
            [best],
            [silhouette[best]],
            s=120,
            facecolors="none",
            edgecolors=PALETTE[4],
            linewidths=2,
            zorder=3,
        )
        right.legend(loc="best", fontsize=9)
    save_figure(fig, path)
    return ElbowResult(inertia, silhouette, best)
