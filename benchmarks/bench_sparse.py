"""Sparse Lloyd side by side: tfkmeans, scikit-learn and scikit-learn-intelex on CSR input.

TF-IDF-like rows (``tfkmeans.samples.sparse_topics``: unit-norm float32 CSR, topics
with their own vocabularies over a Zipf background) are fitted by each library from
the same initial centres (k rows of the data) with tol=0, so each runs exactly the
iterations asked for (the script checks n_iter). Seconds per iteration = (a fit of
ITERATIONS iterations - a fit of 1) / (ITERATIONS - 1), median of repeats, libraries
interleaved within each repeat, so set-up (validation, tracing, conversion to a
library's own tables) is excluded for every library alike. Each library's final
centres are scored once more by the same exact float64 computation here
(min_c ||x||^2 - 2 x.c + ||c||^2 with SciPy, row block by row block) and its own
reported inertia is shown beside it.

Data sets: "tfidf" 100,000 x 50,000 at 0.1%, k=20 (5M stored values; 20 GB dense in
float32), and "large" 1,000,000 x 100,000 at 0.05% (50M stored values; 400 GB dense).
Peak memory of the process (all libraries, one after another) is reported; it must
stay under 6 GiB.

    python benchmarks/bench_sparse.py [--quick] [--repeats 3] [--out benchmarks/results/sparse.md]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.cluster import KMeans as SkKMeans  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import tfkmeans  # noqa: E402
from tfkmeans.samples import sparse_topics  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, publish  # noqa: E402

DATASETS = {
    "tfidf": (100_000, 50_000, 20, 0.001, 10),
    "large": (1_000_000, 100_000, 20, 0.0005, 5),
}
QUICK = {"tfidf": (20_000, 10_000, 20, 0.005, 5), "large": (100_000, 20_000, 20, 0.0025, 3)}


def intelex_kmeans():
    """scikit-learn-intelex's KMeans (oneDAL), or None where it is not installed."""
    try:
        from sklearnex.cluster import KMeans
    except ImportError:
        return None
    return KMeans


def fit_tfkmeans(X, init, iterations):
    return tfkmeans.KMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0).fit(X)


def fit_sklearn(X, init, iterations):
    return SkKMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0).fit(X)


def fit_intelex(X, init, iterations):
    return intelex_kmeans()(len(init), init=init, n_init=1, max_iter=iterations, tol=0).fit(X)


def exact_inertia(X, centers: np.ndarray) -> float:
    """sum_i min_c ||x_i - c||^2 in float64, from SciPy's sparse product, 50,000 rows at a time."""
    centers = centers.astype(np.float64)
    center_sqnorm = (centers**2).sum(1)
    total = 0.0
    for start in range(0, X.shape[0], 50_000):
        block = X[start : start + 50_000].astype(np.float64)
        row_sqnorm = np.asarray(block.multiply(block).sum(1)).ravel()
        shifted = center_sqnorm - 2.0 * (block @ centers.T)
        total += float(np.maximum(row_sqnorm + shifted.min(1), 0.0).sum())
    return total


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(DATASETS), help="one data set")
    parser.add_argument("--out", default="benchmarks/results/sparse.md")
    args = parser.parse_args()
    datasets = QUICK if args.quick else DATASETS
    runners = {"tfkmeans": fit_tfkmeans, "scikit-learn": fit_sklearn}
    if intelex_kmeans() is not None:
        runners["scikit-learn-intelex"] = fit_intelex
    names = list(runners)
    header = "| data | n x d, k, stored values | " + " | ".join(f"{n} s/iter" for n in names)
    header += " | " + " | ".join(f"{n} / tfkmeans" for n in names[1:])
    header += " | exact inertia: " + ", ".join(names) + " | reported inertia: "
    header += ", ".join(names) + " |"
    lines = [f"Machine: {machine()}", "", header, "|" + "---|" * (header.count("|") - 1)]
    for label, (n, d, k, density, iterations) in datasets.items():
        if args.only and label != args.only:
            continue
        X, _ = sparse_topics(n, d, k, density, seed=0)
        init = X[np.random.RandomState(1).choice(n, k, replace=False)].toarray()
        print(f"{label}: {n:,} x {d:,}, {X.nnz:,} stored values, peak {peak_gib():.2f} GiB")
        times: dict[str, list[float]] = {name: [] for name in names}
        final = {}
        for _ in range(args.repeats):
            for name, run in runners.items():
                run(X, init, 1)  # warm: traces, conversions, page faults
                start = time.perf_counter()
                run(X, init, 1)
                one = time.perf_counter() - start
                start = time.perf_counter()
                model = run(X, init, iterations)
                many = time.perf_counter() - start
                if model.n_iter_ != iterations:
                    raise SystemExit(f"{name} ran {model.n_iter_} iterations, not {iterations}")
                times[name].append((many - one) / (iterations - 1))
                final[name] = model
                print(f"  {name}: {times[name][-1]:.4f} s/iter, peak {peak_gib():.2f} GiB")
        per_iter = {name: statistics.median(times[name]) for name in names}
        exact = {name: exact_inertia(X, final[name].cluster_centers_) for name in names}
        row = f"| {label} | {n:,} x {d:,}, {k}, {X.nnz:,} | "
        row += " | ".join(f"{per_iter[name]:.3f}" for name in names) + " | "
        row += " | ".join(f"{per_iter[name] / per_iter['tfkmeans']:.2f}" for name in names[1:])
        row += " | " + ", ".join(f"{exact[name]:.2f}" for name in names)
        row += " | " + ", ".join(f"{final[name].inertia_:.2f}" for name in names) + " |"
        lines.append(row)
        del X, final
    lines += [
        "",
        f"Ratios above 1 mean tfkmeans is faster. {args.repeats} repeats, libraries interleaved; "
        f"seconds per iteration from (fit of N iterations - fit of 1) / (N - 1), median. "
        f"Peak memory of the whole process: {peak_gib():.2f} GiB.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
