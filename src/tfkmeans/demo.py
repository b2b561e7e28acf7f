"""The tutorial end to end: blobs, seeded random centroids, Lloyd steps until no centre moves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tfkmeans.plot import plot_clusters, plot_history
from tfkmeans.samples import create_samples
from tfkmeans.tutorial import assign_to_nearest, choose_random_centroids, update_centroids

# The tutorial's own setting.
N_CLUSTERS, N_SAMPLES_PER_CLUSTER, N_FEATURES, EMBIGGEN_FACTOR, SEED = 3, 500, 2, 70, 700


def inertia_of(samples: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    return float(np.sum((samples.astype(np.float64) - centroids[labels]) ** 2))


def run_demo(out_dir: str | Path, seed: int = SEED, max_iter: int = 100, stream=None):
    """Runs the tutorial until the centres stop moving and writes its four plots; returns
    the inertia of the initial centres and after each iteration."""
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    stream = stream or sys.stdout
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    true_centroids, samples = create_samples(
        N_CLUSTERS, N_SAMPLES_PER_CLUSTER, N_FEATURES, EMBIGGEN_FACTOR, seed
    )
    x = samples.numpy()
    plot_clusters(
        x,
        true_centroids,
        N_SAMPLES_PER_CLUSTER,
        out / "1_samples.png",
        "samples and true centroids",
    )
    centroids = choose_random_centroids(samples, N_CLUSTERS, seed=seed)
    plot_clusters(
        x,
        centroids,
        N_SAMPLES_PER_CLUSTER,
        out / "2_initial.png",
        "initial guesses (no clusters yet)",
        neutral=True,
    )
    # Each line: the centres after the step, the inertia of those very centres (every
    # sample to its nearest), and how far the centres moved (the largest Euclidean
    # distance any centre moved). Lloyd stops when no centre moves any more.
    labels = assign_to_nearest(samples, centroids)
    inertia = inertia_of(x, centroids.numpy().astype(np.float64), labels.numpy())
    history = [inertia]
    print(f"{'iter':>4}  {'inertia':>14}  {'largest centre move (Euclidean)':>32}", file=stream)
    print(f"{0:>4}  {inertia:>14.4f}  {'(initial guesses)':>32}", file=stream)
    moved = True
    for step in range(1, max_iter + 1):
        updated = update_centroids(samples, labels, N_CLUSTERS, previous=centroids)
        move = float(
            np.max(np.linalg.norm(updated.numpy().astype(np.float64) - centroids.numpy(), axis=1))
        )
        centroids = updated
        labels = assign_to_nearest(samples, centroids)
        inertia = inertia_of(x, centroids.numpy().astype(np.float64), labels.numpy())
        history.append(inertia)
        print(f"{step:>4}  {inertia:>14.4f}  {move:>32.6f}", file=stream)
        if move == 0.0:
            moved = False
            break
    found = centroids.numpy()
    labels = labels.numpy()
    plot_clusters(
        x, found, N_SAMPLES_PER_CLUSTER, out / "3_final.png", "final clusters", labels=labels
    )
    plot_history(
        {"Lloyd (tutorial)": history},
        out / "4_inertia.png",
        title="inertia per iteration (0: the initial guesses)",
        start=0,
    )
    print("\ntrue centroids vs found (nearest match):", file=stream)
    for c in true_centroids.numpy():
        match = found[np.argmin(np.sum((found - c) ** 2, axis=1))]
        print(
            f"  true {np.array2string(c, precision=2)}  found {np.array2string(match, precision=2)}",
            file=stream,
        )
    steps = len(history) - 1
    if moved:
        ending = f"stopped at --max-iter {max_iter} while the centres still moved"
    else:
        ending = f"the centres stopped moving after {steps} iterations (the last moved none)"
    print(f"\n{ending}; plots written to {out.resolve()}", file=stream)
    return history


def run_gradient_demo(out_dir: str | Path, seed: int = 0, stream=None) -> dict[str, list[float]]:
    """The second tutorial: make_blobs(500, random_state=1111), k=3, plain gradient
    descent with learning rate 0.001 on the summed objective, next to Lloyd from
    the same initial prototypes."""
    from sklearn.datasets import make_blobs

    from tfkmeans.estimator import KMeans

    stream = stream or sys.stdout
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    X, _ = make_blobs(500, random_state=1111)
    X = X.astype(np.float32)
    init = X[np.random.RandomState(seed).choice(len(X), 3, replace=False)]
    gradient = KMeans(3, init=init, algorithm="gradient", learning_rate=0.001, max_iter=100, tol=0)
    lloyd = KMeans(3, init=init, algorithm="lloyd", tol=0)
    gradient.fit(X)
    lloyd.fit(X)
    series = {
        "gradient descent (lr 0.001)": list(gradient.objective_history_),
        "Lloyd": list(lloyd.objective_history_),
    }
    print(f"{'step':>4}  {'gradient objective':>18}", file=stream)
    for step, value in enumerate(gradient.objective_history_, start=1):
        if step == 1 or step % 10 == 0:
            print(f"{step:>4}  {value:>18.4f}", file=stream)
    print(
        f"\ngradient descent: objective {gradient.inertia_:.4f} after {gradient.n_iter_} steps "
        f"(the tutorial reports 940.45); Lloyd: {lloyd.inertia_:.4f} after {lloyd.n_iter_} "
        "iterations",
        file=stream,
    )
    plot_history(
        series,
        out / "5_gradient_vs_lloyd.png",
        ylabel="objective (sum of squared distances)",
        title="k-means objective per step",
    )
    plot_clusters(
        X,
        gradient.cluster_centers_,
        0,
        out / "6_gradient_clusters.png",
        "gradient descent prototypes",
        labels=gradient.labels_,
    )
    print(f"plots written to {out.resolve()}", file=stream)
    return series
