"""Lloyd iterations side by side: tfkmeans, scikit-learn, scikit-learn-intelex and faiss.

Each library fits the same float32 blobs from the same initial centroids for
exactly 20 iterations (tol=0; blobs overlap so no run converges earlier; the
script checks n_iter). Seconds per iteration = (time of a 20-iteration fit -
time of a 1-iteration fit) / 19, median of repeats, so one-off set-up
(validation, tracing, XLA compilation, index building) is excluded for every
library alike. scikit-learn-intelex is ``sklearnex.cluster.KMeans`` (oneDAL).
Final inertia is recomputed the same way for every library (exact,
float64) and must agree to 1e-4 relative. The floor is the GEMM X @ C.T alone
(2 n k d flops), float32 in cache-sized row blocks, timed in the same run with
NumPy's and TensorFlow's matmul; the faster one counts.

    python benchmarks/bench_lloyd.py [--quick] [--repeats 3] [--out benchmarks/results/lloyd.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.cluster import KMeans as SkKMeans  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import tfkmeans  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median_seconds, publish  # noqa: E402

DATASETS = {"S": (100_000, 2, 3), "M": (1_000_000, 32, 64), "L": (200_000, 128, 256)}
QUICK = {"S": (20_000, 2, 3), "M": (100_000, 32, 64), "L": (20_000, 128, 256)}
ITERATIONS = 20


def blobs(n: int, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    X, _ = make_blobs(n, n_features=d, centers=k, cluster_std=10.0, random_state=0)
    X = X.astype(np.float32)
    init = X[np.random.RandomState(1).choice(n, k, replace=False)].copy()
    return X, init


def exact_inertia(X: np.ndarray, centers: np.ndarray) -> float:
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(np.ascontiguousarray(centers, dtype=np.float32))
    total = 0.0
    for start in range(0, len(X), 100_000):
        chunk = X[start : start + 100_000]
        _, labels = index.search(chunk, 1)
        diff = chunk.astype(np.float64) - centers.astype(np.float64)[labels[:, 0]]
        total += float(np.sum(diff * diff))
    return total


def run_tfkmeans(X, init, iterations):
    km = tfkmeans.KMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0).fit(X)
    return km.cluster_centers_, km.n_iter_


def run_sklearn(X, init, iterations):
    km = SkKMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0, algorithm="lloyd")
    km.fit(X)
    return km.cluster_centers_, km.n_iter_


def run_sklearnex(X, init, iterations):
    from sklearnex.cluster import KMeans as DalKMeans

    km = DalKMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0).fit(X)
    return km.cluster_centers_, km.n_iter_


def run_faiss(X, init, iterations):
    km = faiss.Kmeans(
        X.shape[1], len(init), niter=iterations, max_points_per_centroid=10**9, verbose=False
    )
    km.train(X, init_centroids=init)
    return km.centroids, iterations


def per_iteration(run, X, init, repeats: int) -> tuple[float, np.ndarray, int]:
    run(X, init, 1)  # warm-up: tracing, compilation, thread pools
    full, single, centers, n_iter = [], [], None, 0
    for _ in range(repeats):
        start = time.perf_counter()
        run(X, init, 1)
        single.append(time.perf_counter() - start)
        start = time.perf_counter()
        centers, n_iter = run(X, init, ITERATIONS)
        full.append(time.perf_counter() - start)
    seconds = (statistics.median(full) - statistics.median(single)) / (ITERATIONS - 1)
    return seconds, centers, n_iter


def gemm_floor(X: np.ndarray, init: np.ndarray, repeats: int) -> tuple[float, str]:
    """Time of X @ C.T alone in cache-sized row blocks, float32: the faster of NumPy
    (OpenBLAS) and TensorFlow's own matmul (Eigen, one graph loop over the blocks),
    and which one it was. 2 n k d flops at the best matmul rate measured here."""
    C = np.ascontiguousarray(init.T)
    block = max(256, (1 << 18) // len(init))
    out = np.empty((block, len(init)), np.float32)

    def numpy_gemm():
        for start in range(0, len(X), block):
            chunk = X[start : start + block]
            np.matmul(chunk, C, out=out[: len(chunk)])

    import tensorflow as tf

    rows, centers = tf.constant(X), tf.constant(init)

    @tf.function
    def tf_gemm():
        # Each block's product is summed so that no block can be skipped; the sum is
        # 1/d of the product's flops.
        def step(i, total):
            chunk = rows[i * block : (i + 1) * block]
            return i + 1, total + tf.reduce_sum(tf.matmul(chunk, centers, transpose_b=True))

        n_blocks = (len(X) + block - 1) // block
        return tf.while_loop(lambda i, _: i < n_blocks, step, (0, tf.constant(0.0)))[1]

    timings = {"NumPy": median_seconds(numpy_gemm, repeats)}
    timings["TensorFlow"] = median_seconds(lambda: tf_gemm().numpy(), repeats)
    best = min(timings, key=timings.get)
    return timings[best], best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default="S,M,L")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "lloyd.md"))
    args = parser.parse_args()
    sizes = QUICK if args.quick else DATASETS
    rows = []
    for name in args.datasets.split(","):
        n, d, k = sizes[name]
        X, init = blobs(n, d, k)
        floor, floor_by = gemm_floor(X, init, args.repeats)
        print(f"{name} GEMM floor: {floor * 1e3:.2f} ms ({floor_by})", flush=True)
        results = {}
        for label, run in (
            ("tfkmeans", run_tfkmeans),
            ("scikit-learn", run_sklearn),
            ("scikit-learn-intelex", run_sklearnex),
            ("faiss", run_faiss),
        ):
            seconds, centers, n_iter = per_iteration(run, X, init, args.repeats)
            results[label] = (seconds, exact_inertia(X, centers), n_iter)
            print(f"{name} {label}: {seconds * 1e3:.2f} ms/iter, n_iter={n_iter}", flush=True)
        ours = results["tfkmeans"]
        sk, dal, fa = (results[p] for p in ("scikit-learn", "scikit-learn-intelex", "faiss"))
        agree = max(abs(ours[1] - p[1]) / p[1] for p in (sk, dal, fa))
        rows.append((name, n, d, k, ours, sk, dal, fa, (floor, floor_by), agree))
    lines = [
        f"Machine: {machine()}",
        "",
        "| data | n x d, k | tfkmeans ms/iter | scikit-learn ms/iter "
        "| scikit-learn-intelex ms/iter | faiss ms/iter | sklearn / tfkmeans "
        "| sklearnex / tfkmeans | faiss / tfkmeans | GEMM floor ms | tfkmeans / floor "
        "| inertia agreement |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n, d, k, ours, sk, dal, fa, floor, agree in rows:
        lines.append(
            f"| {name} | {n:,} x {d}, {k} | {ours[0] * 1e3:.1f} | {sk[0] * 1e3:.1f} | "
            f"{dal[0] * 1e3:.1f} | {fa[0] * 1e3:.1f} | {sk[0] / ours[0]:.2f} | "
            f"{dal[0] / ours[0]:.2f} | {fa[0] / ours[0]:.2f} | "
            f"{floor[0] * 1e3:.1f} ({floor[1]}) | {ours[0] / floor[0]:.1f} | {agree:.1e} |"
        )
    lines.append("")
    lines.append(
        "Ratios above 1 mean tfkmeans is faster. Inertia agreement is the largest relative "
        "difference of the final inertia between tfkmeans and each peer (target <= 1e-4). "
        f"All runs: exactly {ITERATIONS} iterations from the same initial centroids."
    )
    publish(lines, args.out if not args.quick else os.devnull)


if __name__ == "__main__":
    main()
