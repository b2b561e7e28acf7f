"""Out of core: fit k=64 for 10 iterations from a 4 GiB .npy and a Parquet folder.

Writes float32 blobs (d=32; 4 GiB = 33.5M rows by default) to a .npy file and
to three folders of Parquet files with the same rows (2,097,152 rows per file,
one column per feature, snappy): one written with pyarrow's defaults (row
groups of 1,048,576 rows, dictionary encoding, nullable columns), one with
262,144-row groups, and one as ``tfkmeans generate`` writes (non-nullable
columns, no dictionary), which are cheaper to decode. Then fits the same
k-means (same initial centres, exactly --iterations iterations, tol=0) from
each source and in memory, each in its own process so that its peak RSS is
its own, plus a process that only starts TensorFlow (the RSS floor). Reports
peak RSS, seconds per iteration (total fit time minus a 1-iteration fit, over
iterations - 1, both timed after a warm-up fit, so compiling and the file's one-time
first pass are not counted) and the largest centre difference to the in-memory
fit. The data is deleted afterwards.

    python benchmarks/bench_outofcore.py [--gib 4] [--dir /work/tmp-outofcore]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
D, K = 32, 64
# Folder name -> (pq.write_table options, non-nullable columns). pyarrow's defaults:
# 1,048,576-row groups, dictionary encoding, nullable columns (from a NumPy table).
PARQUET_FOLDERS = {
    "parquet": ({}, False),
    "parquet-rg256k": ({"row_group_size": 1 << 18}, False),
    "parquet-plain": ({"use_dictionary": False}, True),
}
SOURCES = {
    "npy": ".npy",
    "parquet": "Parquet folder, pyarrow defaults",
    "parquet-rg256k": "Parquet folder, 262,144-row groups",
    "parquet-plain": "Parquet folder, non-nullable, no dictionary (as tfkmeans generate writes)",
    "memory": "in memory",
}


def blob_rows(rng: np.random.RandomState, centers: np.ndarray, size: int) -> np.ndarray:
    """``size`` float32 rows around random ``centers`` (what every out-of-core file holds)."""
    labels = rng.randint(0, len(centers), size)  # drawn before the noise, as files always were
    return centers[labels] + 3.0 * rng.standard_normal((size, centers.shape[1])).astype(np.float32)


def write_parquet(path: Path, rows: np.ndarray, options: dict, non_nullable: bool) -> None:
    """``rows`` as one float32 column per feature (x0, x1, ...), written by pyarrow with
    ``options``; nullable columns are what ``pa.table`` makes from NumPy by default."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(f"x{j}", pa.float32(), not non_nullable) for j in range(rows.shape[1])]
    columns = [rows[:, j] for j in range(rows.shape[1])]
    pq.write_table(pa.table(columns, schema=pa.schema(fields)), path, **options)


def write_data(folder: Path, n: int) -> None:
    rng = np.random.RandomState(0)
    centers = rng.uniform(-10, 10, (K, D)).astype(np.float32)
    npy = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(n, D))
    for name in PARQUET_FOLDERS:
        (folder / name).mkdir()
    step = 1 << 21
    for i, start in enumerate(range(0, n, step)):
        size = min(step, n - start)
        rows = blob_rows(rng, centers, size)
        npy[start : start + size] = rows
        for name, layout in PARQUET_FOLDERS.items():
            write_parquet(folder / name / f"part-{i:04d}.parquet", rows, *layout)
    npy.flush()
    del npy
    np.save(folder / "init.npy", np.load(folder / "x.npy", mmap_mode="r")[: K * 1000 : 1000])


def peak_rss() -> int:
    """This process's peak resident set (VmHWM), in bytes. Not ru_maxrss: Linux carries
    that across exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit_child(kind: str, folder: str, iterations: int) -> None:
    """Runs in a child process: one fit, prints a JSON line with timings and centres."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(HERE.parent / "src"))
    import tfkmeans

    folder = Path(folder)
    if kind == "tensorflow":
        import tensorflow as tf

        tf.constant(0)
        print(json.dumps({"kind": kind, "peak_rss": peak_rss()}))
        return
    init = np.load(folder / "init.npy")
    if kind == "memory":
        # One InMemory source for every fit, as one file source is reused: each fit then
        # times the iterations, not copying 4 GiB into TensorFlow again.
        data = tfkmeans.InMemory(np.load(folder / "x.npy"))
    else:
        data = tfkmeans.read(folder / ("x.npy" if kind == "npy" else kind))
    # A first, untimed fit compiles the kernels and (for files) runs the one-time first
    # pass; without it their cost would sit in the 1-iteration fit and be subtracted.
    tfkmeans.KMeans(K, init=init, n_init=1, max_iter=1, tol=0).fit(data)
    timings = {}
    for its in (1, iterations):
        start = time.perf_counter()
        km = tfkmeans.KMeans(K, init=init, n_init=1, max_iter=its, tol=0).fit(data)
        timings[its] = time.perf_counter() - start
    peak = peak_rss()
    per_iter = (timings[iterations] - timings[1]) / (iterations - 1)
    print(
        json.dumps(
            {
                "kind": kind,
                "peak_rss": peak,
                "per_iter": per_iter,
                "total": timings[iterations],
                "n_iter": km.n_iter_,
                "centers": km.cluster_centers_.tolist(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--dir", default="/work/tmp-outofcore")
    parser.add_argument("--out", default=str(HERE / "results" / "outofcore.md"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fit_child(args.child[0], args.child[1], int(args.child[2]))
        return
    n = int(args.gib * (1 << 30) / (4 * D))
    folder = Path(args.dir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        start = time.perf_counter()
        write_data(folder, n)
        print(
            f"wrote {n:,} rows x {D} float32 ({args.gib} GiB) in {time.perf_counter() - start:.0f} s"
        )
        disk = {
            name: sum(p.stat().st_size for p in (folder / name).rglob("*") if p.is_file())
            if (folder / name).is_dir()
            else (folder / name).stat().st_size
            for name in ("x.npy", *PARQUET_FOLDERS)
        }
        results = {}
        for kind in ("tensorflow", *SOURCES):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(folder), str(args.iterations)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[kind] = json.loads(out.strip().splitlines()[-1])
            r = results[kind]
            print(
                f"{kind}: {r.get('per_iter', 0):.2f} s/iter, peak RSS {r['peak_rss'] / 2**30:.2f} GiB"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    memory = results["memory"]
    sys.path.insert(0, str(HERE))
    from common import machine, publish

    lines = [
        f"Machine: {machine()}",
        "",
        f"{n:,} rows x {D} float32 ({args.gib:g} GiB), k={K}, {args.iterations} iterations "
        "from the same initial centres; each fit in its own process.",
        "",
        "| source | s / iteration | vs in memory | peak RSS | max centre difference vs in memory |",
        "|---|---|---|---|---|",
    ]
    for kind, label in SOURCES.items():
        r = results[kind]
        diff = float(np.max(np.abs(np.array(r["centers"]) - np.array(memory["centers"]))))
        lines.append(
            f"| {label} | {r['per_iter']:.2f} | {r['per_iter'] / memory['per_iter']:.2f}x | "
            f"{r['peak_rss'] / 2**30:.2f} GiB | {diff:.1e} |"
        )
    sizes = ", ".join(f"{name} {size / 2**30:.2f} GiB" for name, size in disk.items())
    lines += [
        "",
        f"Peak RSS of a process that only starts TensorFlow: "
        f"{results['tensorflow']['peak_rss'] / 2**30:.2f} GiB. On disk: {sizes}. "
        "Parquet files hold 2,097,152 rows each, one float32 column per feature, "
        "written by pyarrow with its defaults (snappy, dictionary encoding, nullable "
        "columns) except where stated.",
    ]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
