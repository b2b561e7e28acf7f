"""Mini-batch k-means: tfkmeans vs scikit-learn's MiniBatchKMeans, and vs Lloyd's inertia.

make_blobs n=1,000,000, d=32, k=64 (float32). Both mini-batch runs use the same
batch size and the same number of steps (early stopping off, ``--epochs``
passes over the data), k-means++ on 3 x batch_size rows with n_init=3. Reported:
seconds in total and per step, and final inertia relative to tfkmeans Lloyd
(k-means++, best of 3 starts, run to convergence) on the full data.

    python benchmarks/bench_minibatch.py [--n 1000000] [--epochs 1] [--out benchmarks/results/minibatch.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.cluster import MiniBatchKMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lloyd import machine  # noqa: E402

import tfkmeans  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "minibatch.md"))
    args = parser.parse_args()
    X, _ = make_blobs(args.n, n_features=args.d, centers=args.k, random_state=0)
    X = X.astype(np.float32)
    common = dict(n_init=3, random_state=0, max_iter=args.epochs)

    start = time.perf_counter()
    lloyd = tfkmeans.KMeans(args.k, n_init=3, random_state=0).fit(X)
    lloyd_seconds = time.perf_counter() - start

    tfkmeans.KMeans(args.k, algorithm="minibatch", batch_size=args.batch_size, **common).fit(
        X[:50_000]
    )
    start = time.perf_counter()
    ours = tfkmeans.KMeans(
        args.k, algorithm="minibatch", batch_size=args.batch_size, max_no_improvement=None, **common
    ).fit(X)
    ours_seconds = time.perf_counter() - start

    start = time.perf_counter()
    ref = MiniBatchKMeans(
        args.k, batch_size=args.batch_size, max_no_improvement=None, **common
    ).fit(X)
    ref_seconds = time.perf_counter() - start
    ref_inertia = float(ref.inertia_)

    lines = [
        f"Machine: {machine()}",
        "",
        f"make_blobs n={args.n:,}, d={args.d}, k={args.k}, float32; batch_size={args.batch_size}, "
        f"{args.epochs} epoch(s), same number of steps for both, n_init=3, early stopping off.",
        "",
        "| run | steps | seconds | ms / step | inertia / Lloyd's |",
        "|---|---|---|---|---|",
        f"| tfkmeans minibatch | {ours.n_steps_} | {ours_seconds:.2f} | "
        f"{ours_seconds / ours.n_steps_ * 1e3:.2f} | {ours.inertia_ / lloyd.inertia_:.4f} |",
        f"| scikit-learn MiniBatchKMeans | {ref.n_steps_} | {ref_seconds:.2f} | "
        f"{ref_seconds / ref.n_steps_ * 1e3:.2f} | {ref_inertia / lloyd.inertia_:.4f} |",
        f"| tfkmeans Lloyd, best of 3 (reference) | {lloyd.n_iter_} iterations | "
        f"{lloyd_seconds:.2f} | | 1 |",
        "",
        f"scikit-learn / tfkmeans time: {ref_seconds / ours_seconds:.2f} (above 1: tfkmeans faster).",
    ]
    table = "\n".join(lines)
    print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
