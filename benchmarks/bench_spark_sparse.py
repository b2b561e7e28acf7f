"""SparkKMeans on a sparse vector column vs pyspark.ml KMeans: seconds and peak memory.

TF-IDF-like rows (``tfkmeans.samples.sparse_topics``: n x d at ``density``, k topics)
are written to Parquet as Spark ML's vector struct and read back as a ``VectorUDT``
column (cached). Each case runs in its own process with a fresh classic ``local[2]``
session, so that its peak memory is its own:

- ``sparse``: SparkKMeans, resident, the column kept sparse (CSR per partition);
- ``dense``: SparkKMeans, resident, the column densified row by row as before
  (``vectors.is_sparse_column`` forced to False): n x d x 8 bytes, so it only runs
  at small n;
- ``mllib``: pyspark.ml KMeans (sparse vectors in the JVM).

One warm-up fit (maxIter=1: Python workers start, TensorFlow loads, the JIT warms),
then the timed fit: k-means|| (initSteps=2, seed=1), maxIter, tol=0, init included.
Peak memory is sampled every 0.1 s over the whole case from /proc: the JVM (driver =
executor in local mode, heap ``--driver-memory``), the Python workers together, and
the whole process tree (driver Python included).

    python benchmarks/bench_spark_sparse.py [--n 200000] [--d 100000]
        [--density 0.0005] [--k 20] [--cases sparse,mllib] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
# Spark's Python workers import this checkout's tfkmeans too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(HERE.parent / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p]
)

MASTER = "local[2]"


def write_vectors(X, path: Path) -> None:
    """A CSR matrix as a Parquet column in Spark ML's vector struct (all rows sparse)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def listed(flat, kind):
        item = pa.list_(pa.field("element", kind, nullable=False))
        return pa.ListArray.from_arrays(pa.array(X.indptr.astype(np.int32)), flat, type=item)

    n, d = X.shape
    struct = pa.StructArray.from_arrays(
        [
            pa.array(np.zeros(n, np.int8)),
            pa.array(np.full(n, d, np.int32)),
            listed(pa.array(X.indices.astype(np.int32)), pa.int32()),
            listed(pa.array(X.data.astype(np.float64)), pa.float64()),
        ],
        fields=[
            pa.field("type", pa.int8(), nullable=False),
            pa.field("size", pa.int32()),
            pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
            pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
        ],
    )
    # Row groups of n/8 rows, so that both tasks get rows (Spark cannot split a group).
    pq.write_table(pa.table({"features": struct}), path, row_group_size=max(n // 8, 1))


def proportional_bytes(pid: int) -> int:
    """A process's proportional set size (its pages, shared ones split among their
    users: forked Python workers share much of their memory), else its resident size."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) << 10
    except OSError:
        pass
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory (proportional set size) of this process tree, sampled from /proc in
    a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.peaks = {"jvm": 0, "python_workers": 0, "tree": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    @staticmethod
    def _processes() -> dict[int, tuple[int, str]]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            found[int(entry.name)] = (ppid, cmd)
        return found

    def _sample(self) -> None:
        procs = self._processes()
        tree, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            parent = frontier.pop()
            children = [p for p, (pp, _) in procs.items() if pp == parent]
            tree.update(children)
            frontier += children
        sizes = {"jvm": 0, "python_workers": 0, "tree": 0}
        for pid in tree:
            try:
                rss, cmd = proportional_bytes(pid), procs[pid][1]
            except (OSError, KeyError, ValueError, IndexError):
                continue
            sizes["tree"] += rss
            if "java" in cmd.split(" ", 1)[0]:
                sizes["jvm"] += rss
            elif "pyspark.daemon" in cmd or "pyspark/worker" in cmd:
                sizes["python_workers"] += rss
        for key, value in sizes.items():
            self.peaks[key] = max(self.peaks[key], value)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(interval)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return self.peaks


def run_case(case: str, parquet: str, k: int, max_iter: int, driver_memory: str) -> dict:
    """One case in this process: a fresh session, a warm-up fit, the timed fit."""
    memory = PeakMemory()
    from pyspark.ml.clustering import KMeans as MLlibKMeans
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructField, StructType

    from tfkmeans.spark import SparkKMeans, vectors

    if case == "dense":  # as before: every vector column went through vector_to_array
        vectors.is_sparse_column = lambda df, column: False
    spark = (
        SparkSession.builder.master(MASTER)
        .appName("tfkmeans-bench-sparse")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    schema = StructType([StructField("features", VectorUDT())])
    df = spark.read.schema(schema).parquet(parquet).cache()
    n = df.count()

    def make(iterations):
        if case == "mllib":
            return MLlibKMeans(k=k, maxIter=iterations, tol=0.0, seed=1)
        return SparkKMeans(k=k, maxIter=iterations, tol=0.0, seed=1, executionMode="resident")

    make(1).fit(df)
    start = time.perf_counter()
    model = make(max_iter).fit(df)
    seconds = time.perf_counter() - start
    summary = model.summary
    answer = {
        "case": case,
        "rows": n,
        "seconds": seconds,
        "iterations": summary.numIter,
        "cost": summary.trainingCost,
        "mode": getattr(summary, "executionMode", ""),
    }
    spark.stop()
    return answer | memory.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=100_000)
    parser.add_argument("--density", type=float, default=0.0005)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--cases", default="sparse,mllib")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--parquet", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "spark_sparse.md"))
    args = parser.parse_args()
    if args.worker:
        found = run_case(args.worker, args.parquet, args.k, args.max_iter, args.driver_memory)
        print("RESULT " + json.dumps(found), flush=True)
        return

    from common import load_average, load_lines, machine, publish

    from tfkmeans.samples import sparse_topics

    folder = Path(tempfile.mkdtemp(prefix="tfkm-sparse-", dir="/work"))
    load_before = load_average()
    results = []
    try:
        X, _ = sparse_topics(args.n, args.d, args.k, args.density, seed=0, dtype="float64")
        nnz = X.nnz
        write_vectors(X, folder / "x.parquet")
        del X
        for case in args.cases.split(","):
            command = [sys.executable, __file__, "--worker", case]
            command += ["--parquet", str(folder / "x.parquet"), "--k", str(args.k)]
            command += ["--max-iter", str(args.max_iter), "--driver-memory", args.driver_memory]
            done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if done.returncode or not lines:
                print(done.stderr[-3000:], file=sys.stderr)
                results.append({"case": case, "failed": done.stderr.strip().splitlines()[-1:]})
                continue
            results.append(json.loads(lines[0][len("RESULT ") :]))
            print(results[-1], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_after = load_average()

    names = {
        "sparse": "SparkKMeans resident, sparse column kept sparse",
        "dense": "SparkKMeans resident, column densified (before)",
        "mllib": "pyspark.ml KMeans",
    }
    gib = 1 << 30
    lines = [
        f"Machine: {machine()}, Spark {MASTER}, driver (= executor) heap {args.driver_memory}",
        "",
        f"n={args.n:,}, d={args.d:,}, {nnz:,} stored values ({nnz / args.n:.0f} per row), "
        f"k={args.k}, maxIter={args.max_iter}, tol=0, k-means|| (initSteps=2, seed=1), "
        "init included; a cached DataFrame with a sparse vector column; one process and "
        "session per row, all rows in one run. Peak memory (proportional set size) sampled every 0.1 s.",
        "",
        "| estimator | total s | iterations | training cost | peak JVM GiB "
        "| peak Python workers GiB | peak all processes GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {names[r['case']]} | failed: {' '.join(r['failed'])[:120]} |||||")
            continue
        lines.append(
            f"| {names[r['case']]} | {r['seconds']:.1f} | {r['iterations']} | {r['cost']:.6g} "
            f"| {r['jvm'] / gib:.2f} | {r['python_workers'] / gib:.2f} | {r['tree'] / gib:.2f} |"
        )
    lines += load_lines(load_before, load_after)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
