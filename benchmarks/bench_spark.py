"""SparkKMeans (resident and per-iteration) vs pyspark.ml KMeans on local[2], in one run.

n=1,000,000, d=32, k=64, maxIter=20, tol=0. Overlapping blobs (cluster_std=10, so
that no estimator converges before 20 iterations) are written to Parquet and read
back as a cached DataFrame with a Spark ML vector column. Each estimator is fitted
with maxIter=1 and maxIter=20 (same k, seed, k-means|| init with initSteps=2) after
one warm-up fit (Python workers start and import TensorFlow once per session):
seconds per iteration = (t20 - t1) / 19 and init ~ t1 - one iteration (only
meaningful when all 20 iterations ran: tol=0 still stops a run whose centres stop
moving, so the table shows the iterations run). For the resident mode "init"
includes the one conversion of every partition to a tensor. Costs are side by side.

    python benchmarks/bench_spark.py [--n 1000000] [--only resident,mllib] [--out ...]
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
    parser.add_argument(
        "--only", default="resident,resident-parquet,per-iteration,mllib,mllib-parquet"
    )
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
        # Row groups of n/8 rows: Spark cannot split a row group, and one group of all the
        # rows (pyarrow's default below 1 Mi rows) leaves every task but one empty.
        pq.write_table(
            pa.table({"x": pa.FixedSizeListArray.from_arrays(values, args.d)}),
            folder / "x.parquet",
            row_group_size=max(args.n // 8, 1),
        )
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("tfkmeans-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", "6g")
            .getOrCreate()
        )
        raw = spark.read.parquet(str(folder / "x.parquet"))
        plain = raw.select(array_to_vector(raw["x"].cast("array<double>")).alias("features"))
        cached = plain.cache()
        cached.count()
        sizes = cached.rdd.glom().map(len).collect()
        partitions = f"{len(sizes)} partitions of {', '.join(f'{n:,}' for n in sizes)} rows"
        plain = raw.select(array_to_vector(raw["x"].cast("array<double>")).alias("features"))

        def ours(mode):
            return lambda it: SparkKMeans(k=args.k, maxIter=it, tol=0.0, seed=1, executionMode=mode)

        def mllib(it):
            return MLlibKMeans(k=args.k, maxIter=it, tol=0.0, seed=1)

        # (label, estimator factory, input). MLlib caches its own training instances
        # only when the input is not cached, so it runs on both inputs.
        runs = {
            "resident": ("tfkmeans SparkKMeans, resident", ours("resident"), cached),
            "resident-parquet": (
                "tfkmeans SparkKMeans, resident, input not cached",
                ours("resident"),
                plain,
            ),
            "per-iteration": (
                "tfkmeans SparkKMeans, per-iteration",
                ours("per-iteration"),
                cached,
            ),
            "mllib": ("pyspark.ml KMeans", mllib, cached),
            "mllib-parquet": ("pyspark.ml KMeans, input not cached", mllib, plain),
        }
        results = {}
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        for key in args.only.split(","):
            name, make, df = runs[key]

            def timed(iterations):
                start = time.perf_counter()
                model = make(iterations).fit(df)  # noqa: B023 - used within this iteration
                return time.perf_counter() - start, model

            timed(1)  # warm-up: Python workers start and import TensorFlow once
            t1, _ = timed(1)
            t20, model = timed(20)
            per_iter = (t20 - t1) / 19
            summary = model.summary
            results[key] = (
                name,
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
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        spark.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    lines = [
        f"Machine: {machine()}, Spark local[2]",
        "",
        f"n={args.n:,}, d={args.d}, k={args.k}, maxIter=20, tol=0, k-means|| (initSteps=2), "
        f"a DataFrame with a vector column read from Parquet ({partitions}), cached unless "
        "the row says otherwise; all estimators in one run.",
        "",
        "| estimator | total s | init s | s / iteration | iterations run | training cost "
        "| fastest MLlib total / this total |",
        "|---|---|---|---|---|---|---|",
    ]
    mllibs = [r for key, r in results.items() if key.startswith("mllib")]
    ref = min(mllibs, key=lambda r: r[1]) if mllibs else None
    for name, total, init, per_iter, cost, n_iter in results.values():
        ratio = f"{ref[1] / total:.2f}" if ref else "-"
        lines.append(
            f"| {name} | {total:.1f} | {init:.1f} | {per_iter:.2f} | {n_iter} | {cost:.6g} "
            f"| {ratio} |"
        )
    if ref:
        lines += [
            "",
            f"Cost ratio to {ref[0]}: "
            + "; ".join(f"{r[0]} {r[4] / ref[4]:.4f}" for r in results.values() if r is not ref)
            + ".",
        ]
    lines += [
        "",
        f"Load average (1, 5, 15 min) before: {', '.join(load_before)}; after: "
        f"{', '.join(load_after)} (this run alone keeps about 2 busy; more means other work "
        "shared the 2 cores).",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
