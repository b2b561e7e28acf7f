"""SparkKMeans vs pyspark.ml KMeans on local[2]: n=1,000,000, d=32, k=64, maxIter=20, tol=0.

Overlapping blobs (cluster_std=10, so that neither estimator converges before
20 iterations) are written to Parquet and read back as a cached DataFrame with a
Spark ML vector column. Each estimator is fitted with maxIter=1 and maxIter=20
(same k, seed, k-means|| init with initSteps=2) after one warm-up fit (Python
workers start and import TensorFlow once per session): seconds per iteration =
(t20 - t1) / 19 and init ~ t1 - one iteration (only meaningful when all 20
iterations ran: tol=0 still stops a run whose centres stop moving, so the table
shows the iterations run). Costs are side by side.

    python benchmarks/bench_spark.py [--n 1000000] [--out benchmarks/results/spark.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--out", default=str(HERE / "results" / "spark.md"))
    args = parser.parse_args()

    from common import machine, publish
    from pyspark.ml.clustering import KMeans as MLlibKMeans
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import SparkSession

    from tfkmeans.spark import SparkKMeans

    folder = Path(
        tempfile.mkdtemp(prefix="tfkm-spark-", dir="/work" if Path("/work").is_dir() else None)
    )
    try:
        X, _ = make_blobs(
            args.n, n_features=args.d, centers=args.k, cluster_std=10.0, random_state=0
        )
        values = pa.array(X.reshape(-1))
        pq.write_table(
            pa.table({"x": pa.FixedSizeListArray.from_arrays(values, args.d)}), folder / "x.parquet"
        )
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("tfkmeans-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "6g")
            .getOrCreate()
        )
        df = spark.read.parquet(str(folder / "x.parquet"))
        df = df.select(array_to_vector(df["x"].cast("array<double>")).alias("features")).cache()
        df.count()

        def timed(make, iterations):
            start = time.perf_counter()
            model = make(iterations).fit(df)
            return time.perf_counter() - start, model

        results = {}
        for name, make in (
            ("tfkmeans SparkKMeans", lambda it: SparkKMeans(k=args.k, maxIter=it, tol=0.0, seed=1)),
            ("pyspark.ml KMeans", lambda it: MLlibKMeans(k=args.k, maxIter=it, tol=0.0, seed=1)),
        ):
            timed(make, 1)  # warm-up: Python workers start and import TensorFlow once
            t1, _ = timed(make, 1)
            t20, model = timed(make, 20)
            per_iter = (t20 - t1) / 19
            summary = model.summary
            results[name] = (
                t20,
                max(t1 - per_iter, 0.0),
                per_iter,
                summary.trainingCost,
                summary.numIter,
            )
            print(
                f"{name}: total {t20:.1f} s, init {t1 - per_iter:.1f} s, {per_iter:.2f} s/iter",
                flush=True,
            )
        spark.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ours, ref = results["tfkmeans SparkKMeans"], results["pyspark.ml KMeans"]
    lines = [
        f"Machine: {machine()}, Spark local[2]",
        "",
        f"n={args.n:,}, d={args.d}, k={args.k}, maxIter=20, tol=0, k-means|| (initSteps=2), cached "
        "DataFrame with a vector column.",
        "",
        "| estimator | total s | init s | s / iteration | iterations run | training cost |",
        "|---|---|---|---|---|---|",
    ]
    for name, (total, init, per_iter, cost, n_iter) in results.items():
        lines.append(
            f"| {name} | {total:.1f} | {init:.1f} | {per_iter:.2f} | {n_iter} | {cost:.6g} |"
        )
    lines += [
        "",
        f"MLlib / tfkmeans total time: {ref[0] / ours[0]:.2f} (above 1: tfkmeans faster); "
        f"cost ratio tfkmeans / MLlib: {ours[3] / ref[3]:.4f}.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
