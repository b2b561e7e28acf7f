"""SparkKMeans vs pyspark.ml KMeans on classic Spark and on Spark Connect, in one run.

n=1,000,000, d=32, k=64, maxIter=20, tol=0. Overlapping blobs (cluster_std=10, so
that no estimator converges before 20 iterations) are written to Parquet and read
back as a DataFrame with a Spark ML vector column.

One Spark application (``local[2]``) serves both session kinds, as a Databricks driver
does: this process holds a classic session whose JVM also runs the Spark Connect service
(``SparkConnectPlugin``); a child process holds a Spark Connect session on it
(``sc://localhost:<port>``; pyspark.ml picks its Connect or classic code per process, so
the two kinds cannot share one). The same cluster and executors are then timed through
either API, interleaved (classic, Connect, classic, Connect, ...) so that the machine's
drift falls on both alike. Each session runs:

- SparkKMeans resident and pyspark.ml KMeans on the cached DataFrame;
- SparkKMeans per-iteration and pyspark.ml KMeans on the cached DataFrame cut into
  200 partitions (``--partitions``).

Each estimator is fitted with maxIter=1 and maxIter=20 (same k, seed, k-means|| init
with initSteps=2) after one warm-up fit per session (Python workers start and import
TensorFlow): seconds per iteration = (t20 - t1) / 19 and init ~ t1 - one iteration,
each the median of ``--repeats`` rounds (``--repeats-200`` for the 200-partition rows).
"total" is t20, init included. Costs are side by side.

    python benchmarks/bench_spark.py [--n 1000000] [--sessions classic,connect]
        [--only resident,mllib,per-iteration-200,mllib-200] [--repeats 3]
        [--repeats-200 1] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
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
DRIVER_MEMORY = "4g"


def classic_session(port: int):
    """A classic local session whose JVM also serves Spark Connect on ``port``."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.appName("tfkmeans-bench")
        .master(MASTER)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", DRIVER_MEMORY)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
        .config("spark.connect.grpc.binding.port", str(port))
        .getOrCreate()
    )


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


class Runner:
    """The cached DataFrames of one session, and one timed fit of a run key."""

    def __init__(self, spark, parquet: str, k: int, partitions: int) -> None:
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as sf

        raw = spark.read.parquet(parquet)
        plain = raw.select(array_to_vector(raw["x"].cast("array<double>")).alias("features"))
        self.frames = {"cached": plain.cache(), "many": plain.repartition(partitions).cache()}
        self.sizes = {
            name: df.groupBy(sf.spark_partition_id()).count().count()
            for name, df in self.frames.items()
        }
        self.k = k

    def fit(self, key: str, iterations: int) -> dict:
        from pyspark.ml.clustering import KMeans as MLlibKMeans

        from tfkmeans.spark import SparkKMeans

        mode, parts = RUNS[key][1], RUNS[key][2]
        common = {"k": self.k, "maxIter": iterations, "tol": 0.0, "seed": 1}
        estimator = (
            MLlibKMeans(**common) if mode == "mllib" else SparkKMeans(executionMode=mode, **common)
        )
        start = time.perf_counter()
        model = estimator.fit(self.frames[parts])
        seconds = time.perf_counter() - start
        summary = model.summary
        return {
            "seconds": seconds,
            "cost": summary.trainingCost,
            "n_iter": summary.numIter,
            "mode": getattr(summary, "executionMode", ""),
            "partitions": self.sizes[parts],
        }


# key: (label, executionMode or "mllib", which cached DataFrame)
RUNS = {
    "resident": ("SparkKMeans, resident", "resident", "cached"),
    "mllib": ("pyspark.ml KMeans", "mllib", "cached"),
    "per-iteration-200": ("SparkKMeans, per-iteration", "per-iteration", "many"),
    "mllib-200": ("pyspark.ml KMeans", "mllib", "many"),
}


def connect_worker(port: int, parquet: str, k: int, partitions: int) -> None:
    """Child process: a Connect session on the parent's Spark; fits on request.

    Requests (``key iterations``) come on stdin, one JSON answer per line on stdout."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(f"sc://localhost:{port}").getOrCreate()
    runner = Runner(spark, parquet, k, partitions)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        key, iterations = line.split()
        print(json.dumps(runner.fit(key, int(iterations))), flush=True)
    spark.stop()  # closes this client only: the Spark application is the parent's
    os._exit(0)  # gRPC threads would keep the process alive


class ConnectClient:
    """The parent's handle on the Connect child process."""

    def __init__(self, port: int, parquet: str, args) -> None:
        command = [sys.executable, __file__, "--connect-worker", str(port), "--parquet", parquet]
        command += ["--k", str(args.k), "--partitions", str(args.partitions)]
        self.child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._answer()

    def _answer(self) -> dict:
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("the Spark Connect child process ended (see its stderr above)")
        return json.loads(line)

    def fit(self, key: str, iterations: int) -> dict:
        self.child.stdin.write(f"{key} {iterations}\n")
        self.child.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.child.stdin.close()
        try:
            self.child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.child.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--partitions", type=int, default=200)
    parser.add_argument("--sessions", default="classic,connect")
    parser.add_argument("--only", default="resident,mllib,per-iteration-200,mllib-200")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for 2-partition rows")
    parser.add_argument("--repeats-200", type=int, default=1, help="rounds for 200 partitions")
    parser.add_argument("--out", default=str(HERE / "results" / "spark.md"))
    parser.add_argument("--connect-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.connect_worker:
        connect_worker(args.connect_worker, args.parquet, args.k, args.partitions)
        return

    from common import load_average, load_lines, machine, publish

    folder = Path(
        tempfile.mkdtemp(prefix="tfkm-spark-", dir="/work" if Path("/work").is_dir() else None)
    )
    parquet = str(folder / "x.parquet")
    results: list[tuple] = []
    load_before = load_average()
    kinds = args.sessions.split(",")
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
            parquet,
            row_group_size=max(args.n // 8, 1),
        )
        del values
        port = free_port()
        spark = classic_session(port)
        runners = {}
        if "classic" in kinds:
            runners["classic"] = Runner(spark, parquet, args.k, args.partitions)
        if "connect" in kinds:
            runners["connect"] = ConnectClient(port, parquet, args)
        for key in args.only.split(","):
            for runner in runners.values():
                runner.fit(key, 1)  # warm-up: Python workers start and import TensorFlow
            rounds = args.repeats_200 if RUNS[key][2] == "many" else args.repeats
            fits: dict = {kind: {1: [], 20: []} for kind in runners}
            for _ in range(rounds):
                for iterations in (1, 20):
                    for kind, runner in runners.items():  # interleaved
                        fits[kind][iterations].append(runner.fit(key, iterations))
            for kind in runners:
                t1 = statistics.median(f["seconds"] for f in fits[kind][1])
                all20 = [f["seconds"] for f in fits[kind][20]]
                t20 = statistics.median(all20)
                per_iter = (t20 - t1) / 19
                last = fits[kind][20][-1]
                mode = last["mode"]
                name = RUNS[key][0]
                label = f"{name}{'' if mode in ('', RUNS[key][1]) else f' ({mode})'}"
                results.append(
                    (
                        kind,
                        label,
                        last["partitions"],
                        t20,
                        max(t1 - per_iter, 0.0),
                        per_iter,
                        last["cost"],
                        last["n_iter"],
                        all20,
                    )
                )
                print(
                    f"{kind} {label} ({last['partitions']} partitions): total {t20:.1f} s "
                    f"({', '.join(f'{t:.1f}' for t in all20)}), "
                    f"init {t1 - per_iter:.1f} s, {per_iter:.2f} s/iter",
                    flush=True,
                )
        if "connect" in runners:
            runners["connect"].close()
        spark.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = load_average()

    lines = [
        f"Machine: {machine()}, Spark {MASTER}",
        "",
        f"n={args.n:,}, d={args.d}, k={args.k}, maxIter=20, tol=0, k-means|| (initSteps=2), "
        "a cached DataFrame with a vector column read from Parquet; all rows in one run, on "
        "one Spark application reached through a classic and a Spark Connect session, "
        f"interleaved; medians of {args.repeats} rounds ({args.repeats_200} at "
        f"{args.partitions} partitions). The last column compares with pyspark.ml KMeans on "
        "the same session and partitions.",
        "",
        "| session | estimator | partitions | total s (each round) | init s | s / iteration "
        "| iterations run | training cost | pyspark.ml total / this total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    refs = {(r[0], r[2]): r for r in results if r[1].startswith("pyspark.ml")}
    for kind, name, parts, total, init, per_iter, cost, n_iter, rounds in results:
        ref = refs.get((kind, parts))
        ratio = f"{ref[3] / total:.2f}" if ref else "-"
        lines.append(
            f"| {kind} | {name} | {parts} | {total:.1f} ({', '.join(f'{t:.1f}' for t in rounds)}) "
            f"| {init:.1f} | {per_iter:.2f} | {n_iter} | {cost:.6g} | {ratio} |"
        )
    resident = {r[0]: r for r in results if r[1] == "SparkKMeans, resident"}
    if {"classic", "connect"} <= resident.keys():
        lines += [
            "",
            "Resident on Connect / resident on classic (total): "
            f"{resident['connect'][3] / resident['classic'][3]:.2f}.",
        ]
    lines += load_lines(load_before, load_after)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
