"""SparkKMeans vs pyspark.ml KMeans on classic Spark and on Spark Connect, in one run.

n=1,000,000, d=32, k=64, maxIter=20, tol=0. Overlapping blobs (cluster_std=10, so
that no estimator converges before 20 iterations) are written to Parquet and read
back as a DataFrame with a Spark ML vector column. Each session kind (classic
``local[2]``, then Spark Connect ``remote("local[2]")`` in the same process, started
after the classic one stops) runs, on the same session:

- SparkKMeans resident and pyspark.ml KMeans on the cached DataFrame;
- SparkKMeans per-iteration and pyspark.ml KMeans on the cached DataFrame cut into
  200 partitions (``--partitions``).

Each estimator is fitted with maxIter=1 and maxIter=20 (same k, seed, k-means|| init
with initSteps=2) after one warm-up fit (Python workers start and import TensorFlow
once per session): seconds per iteration = (t20 - t1) / 19 and init ~ t1 - one
iteration. "total" is t20, init included. Costs are side by side.

    python benchmarks/bench_spark.py [--n 1000000] [--sessions classic,connect]
        [--only resident,mllib,per-iteration-200,mllib-200] [--out ...]
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

MASTER = "local[2]"
# Driver (= executor in local mode) JVM heap: the cached 1M x 32 vectors (~0.3 GiB),
# MLlib's own cached instances and shuffle buffers fit; keeps the run under 6 GiB.
DRIVER_MEMORY = "3g"


def session(kind: str):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("tfkmeans-bench")
    builder = builder.remote(MASTER) if kind == "connect" else builder.master(MASTER)
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.driver.memory", DRIVER_MEMORY)
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--sessions", default="classic,connect")
    parser.add_argument("--only", default="resident,mllib,per-iteration-200,mllib-200")
    parser.add_argument("--out", default=str(HERE / "results" / "spark.md"))
    args = parser.parse_args()

    from common import machine, publish
    from pyspark.ml.clustering import KMeans as MLlibKMeans
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as sf

    from tfkmeans.spark import SparkKMeans

    folder = Path(
        tempfile.mkdtemp(prefix="tfkm-spark-", dir="/work" if Path("/work").is_dir() else None)
    )
    results: list[tuple] = []
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    try:
        X, _ = make_blobs(
            args.n, n_features=args.d, centers=args.k, cluster_std=10.0, random_state=0
        )
        values = pa.array(X.reshape(-1))
        del X
        # Row groups of n/8 rows: Spark cannot split a row group, and one group of all the
        # rows (pyarrow's default below 1 Mi rows) leaves every task but one empty.
        pq.write_table(
            pa.table({"x": pa.FixedSizeListArray.from_arrays(values, args.d)}),
            folder / "x.parquet",
            row_group_size=max(args.n // 8, 1),
        )
        del values
        for kind in args.sessions.split(","):
            spark = session(kind)
            raw = spark.read.parquet(str(folder / "x.parquet"))
            plain = raw.select(array_to_vector(raw["x"].cast("array<double>")).alias("features"))
            cached = plain.cache()
            many = plain.repartition(args.partitions).cache()
            sizes = {
                "cached": cached.groupBy(sf.spark_partition_id()).count().count(),
                "many": many.groupBy(sf.spark_partition_id()).count().count(),
            }

            def ours(mode):
                return lambda it: SparkKMeans(
                    k=args.k, maxIter=it, tol=0.0, seed=1, executionMode=mode
                )

            def mllib(it):
                return MLlibKMeans(k=args.k, maxIter=it, tol=0.0, seed=1)

            runs = {
                "resident": ("SparkKMeans, resident", ours("resident"), cached, "cached"),
                "mllib": ("pyspark.ml KMeans", mllib, cached, "cached"),
                "per-iteration-200": (
                    "SparkKMeans, per-iteration",
                    ours("per-iteration"),
                    many,
                    "many",
                ),
                "mllib-200": ("pyspark.ml KMeans", mllib, many, "many"),
            }
            for key in args.only.split(","):
                name, make, df, parts = runs[key]

                def timed(iterations):
                    start = time.perf_counter()
                    model = make(iterations).fit(df)  # noqa: B023 - used within this iteration
                    return time.perf_counter() - start, model

                timed(1)  # warm-up: Python workers start and import TensorFlow once
                t1, _ = timed(1)
                t20, model = timed(20)
                per_iter = (t20 - t1) / 19
                summary = model.summary
                mode = getattr(summary, "executionMode", "")
                results.append(
                    (
                        kind,
                        f"{name}{'' if mode in ('', key.split('-2')[0]) else f' ({mode})'}",
                        sizes[parts],
                        t20,
                        max(t1 - per_iter, 0.0),
                        per_iter,
                        summary.trainingCost,
                        summary.numIter,
                    )
                )
                print(
                    f"{kind} {name} ({sizes[parts]} partitions): total {t20:.1f} s, "
                    f"init {t1 - per_iter:.1f} s, {per_iter:.2f} s/iter",
                    flush=True,
                )
            spark.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    lines = [
        f"Machine: {machine()}, Spark {MASTER}",
        "",
        f"n={args.n:,}, d={args.d}, k={args.k}, maxIter=20, tol=0, k-means|| (initSteps=2), "
        "a cached DataFrame with a vector column read from Parquet; all rows in one run. "
        "The last column compares with pyspark.ml KMeans on the same session and partitions.",
        "",
        "| session | estimator | partitions | total s | init s | s / iteration "
        "| iterations run | training cost | pyspark.ml total / this total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    refs = {(r[0], r[2]): r for r in results if r[1].startswith("pyspark.ml")}
    for kind, name, parts, total, init, per_iter, cost, n_iter in results:
        ref = refs.get((kind, parts))
        ratio = f"{ref[3] / total:.2f}" if ref else "-"
        lines.append(
            f"| {kind} | {name} | {parts} | {total:.1f} | {init:.1f} | {per_iter:.2f} "
            f"| {n_iter} | {cost:.6g} | {ratio} |"
        )
    resident = {r[0]: r for r in results if r[1] == "SparkKMeans, resident"}
    if {"classic", "connect"} <= resident.keys():
        lines += [
            "",
            "Resident on Connect / resident on classic (total): "
            f"{resident['connect'][3] / resident['classic'][3]:.2f}.",
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
