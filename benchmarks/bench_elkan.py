"""algorithm="elkan" (Hamerly bounds) vs "lloyd": does skipping distances pay on our kernels?

For each case (make_blobs, float32), every fit starts from the same k-means++ centres
and runs a fixed number of iterations (tol=0, max_iter=--iters), so seconds per
iteration compare like with like; scikit-learn's lloyd and elkan run the same
iterations as a reference. Reported: seconds per iteration, the ratio to tfkmeans
lloyd, and the share of row-centre distances the bounds still computed.

    flock /tmp/cpu.lock python benchmarks/bench_elkan.py [--out benchmarks/results/elkan.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.cluster import KMeans as SKKMeans  # noqa: E402
from sklearn.cluster import kmeans_plusplus  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish  # noqa: E402

import tfkmeans  # noqa: E402
from tfkmeans import bounds  # noqa: E402

# (n, d, k, cluster_std): separated blobs where bounds should prune, and overlapping ones.
CASES = [
    (200_000, 16, 16, 1.0),
    (200_000, 16, 128, 1.0),
    (100_000, 64, 256, 1.0),
    (200_000, 16, 128, 4.0),
]


def per_iteration(fit) -> tuple[float, int]:
    """Seconds per iteration of ``fit()`` (after one warm-up fit, median of 3)."""
    fit()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model = fit()
        times.append((time.perf_counter() - start) / model.n_iter_)
    return float(np.median(times)), model.n_iter_


def computed_share(run) -> float:
    """Share of n x iterations rows whose distances the bounds computed during ``run``."""
    seen: list[list[int]] = []
    original = bounds.HamerlyBounds.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.computed)

    bounds.HamerlyBounds.__init__ = record
    try:
        model = run()
    finally:
        bounds.HamerlyBounds.__init__ = original
    passes = seen[-1]
    return sum(passes) / (len(passes) * len(model.labels_))


def case_row(n: int, d: int, k: int, std: float, iters: int) -> str:
    """One table row: every estimator from the same k-means++ centres, ``iters`` iterations."""
    X, _ = make_blobs(n, n_features=d, centers=k, cluster_std=std, random_state=0)
    X = X.astype(np.float32)
    init, _ = kmeans_plusplus(X, k, random_state=0)
    common = dict(n_clusters=k, init=init, n_init=1, tol=0, max_iter=iters)
    estimators = {
        "tf lloyd": (tfkmeans.KMeans, {}),
        "tf elkan": (tfkmeans.KMeans, {"algorithm": "elkan"}),
        "sk lloyd": (SKKMeans, {}),
        "sk elkan": (SKKMeans, {"algorithm": "elkan"}),
    }
    times = {}
    for name, (cls, extra) in estimators.items():
        times[name], _ = per_iteration(lambda cls=cls, extra=extra: cls(**common, **extra).fit(X))
    share = computed_share(lambda: tfkmeans.KMeans(**common, algorithm="elkan").fit(X))
    return (
        f"| {n:,} x {d}, {k}, {std} | {times['tf lloyd']:.4f} | {times['tf elkan']:.4f} "
        f"| {times['tf elkan'] / times['tf lloyd']:.2f}x | {share:.0%} "
        f"| {times['sk lloyd']:.4f} | {times['sk elkan']:.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/elkan.md")
    args = parser.parse_args()
    lines = [
        f"Machine: {machine()} (shared with other work while measured).",
        "",
        f"Seconds per iteration, {args.iters} iterations from the same k-means++ centres, float32.",
        "",
        "| n x d, k, std | tfkmeans lloyd | tfkmeans elkan | elkan / lloyd | rows computed "
        "| sklearn lloyd | sklearn elkan |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        row = case_row(*case, iters=args.iters)
        lines.append(row)
        print(row, flush=True)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
