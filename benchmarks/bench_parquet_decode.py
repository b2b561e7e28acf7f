"""What a Parquet pass costs before the kernels: CPU seconds per GiB of float32 values.

Writes 1 GiB of the out-of-core benchmark's rows (d=32, 2,097,152-row files) as
Parquet folders that differ in one writer choice each, then times on one thread,
from the page cache: reading the files' bytes (the floor any decoder pays),
pyarrow's decode as ``ParquetSource`` asks for it (32 columns, 16,384-row
batches, no Arrow threads), and decode plus the copy into column blocks
(``batch_to_columns``). Median of --repeats; memcpy of 1 GiB for scale. Says
whether a 2-core pass can be decode-bound, and what in the file makes it so.

    python benchmarks/bench_parquet_decode.py [--dir /work/tmp-parquet-decode]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from bench_outofcore import D, K, blob_rows, write_parquet  # noqa: E402
from common import median_seconds  # noqa: E402

from tfkmeans.arrow_rows import batch_to_columns  # noqa: E402
from tfkmeans.files import PARQUET_BATCH_ROWS, parquet_batches  # noqa: E402

FILE_ROWS = 1 << 21
# Folder -> (write_table options, non-nullable columns).
VARIANTS = {
    "pyarrow defaults (snappy, dictionary)": ({}, False),
    "262,144-row groups": ({"row_group_size": 1 << 18}, False),
    "no dictionary": ({"use_dictionary": False}, False),
    "no dictionary, uncompressed": ({"use_dictionary": False, "compression": "none"}, False),
    "non-nullable columns": ({}, True),
    "non-nullable, 262,144-row groups": ({"row_group_size": 1 << 18}, True),
}


def write_folders(root: Path, n: int) -> dict[str, Path]:
    rng = np.random.RandomState(0)
    centers = rng.uniform(-10, 10, (K, D)).astype(np.float32)
    folders = {name: root / f"v{i}" for i, name in enumerate(VARIANTS)}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for i, start in enumerate(range(0, n, FILE_ROWS)):
        rows = blob_rows(rng, centers, min(FILE_ROWS, n - start))
        for name, layout in VARIANTS.items():
            write_parquet(folders[name] / f"part-{i:04d}.parquet", rows, *layout)
    return folders


def cpu_seconds(work: Callable[[], None], repeats: int) -> float:
    """Median CPU seconds of ``work`` after one untimed run (which fills the page cache)."""
    return median_seconds(work, repeats, time.process_time)


def read_bytes(folder: Path) -> None:
    for path in sorted(folder.glob("*.parquet")):
        with open(path, "rb") as file:
            while file.read(1 << 20):
                pass


def decode(folder: Path, copy: bool) -> None:
    """Every file read as ``ParquetSource`` reads it (``parquet_batches``)."""
    columns = [f"x{j}" for j in range(D)]
    block = np.empty((D, PARQUET_BATCH_ROWS), np.float32)
    for path in sorted(folder.glob("*.parquet")):
        for batch in parquet_batches(str(path), columns):
            if copy:
                batch_to_columns(batch, columns, D, str(path), block[:, : batch.num_rows])


def memcpy_seconds(nbytes: int, repeats: int) -> float:
    source = np.ones(nbytes // 4, np.float32)
    target = np.empty_like(source)
    return cpu_seconds(lambda: np.copyto(target, source), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/work/tmp-parquet-decode")
    parser.add_argument("--out", default=str(HERE / "results" / "parquet_decode.md"))
    args = parser.parse_args()
    n = int(args.gib * (1 << 30) / (4 * D))
    gib = n * D * 4 / 2**30
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    rows = []
    try:
        folders = write_folders(root, n)
        for name, folder in folders.items():
            size = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**30
            read = cpu_seconds(lambda f=folder: read_bytes(f), args.repeats) / gib
            plain = cpu_seconds(lambda f=folder: decode(f, False), args.repeats) / gib
            copied = cpu_seconds(lambda f=folder: decode(f, True), args.repeats) / gib
            rows.append(f"| {name} | {size / gib:.2f} | {read:.2f} | {plain:.2f} | {copied:.2f} |")
            print(rows[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    from common import machine, publish

    publish(
        [
            f"Machine: {machine()}",
            "",
            f"{n:,} rows x {D} float32 ({gib:g} GiB) per folder, files of {FILE_ROWS:,} rows; "
            "CPU seconds per GiB of float32 values, one thread, files in the page cache.",
            "",
            "| file | bytes on disk / GiB | read the bytes | pyarrow decode | "
            "decode + copy into column blocks |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"memcpy: {memcpy_seconds(1 << 30, args.repeats):.2f} s per GiB.",
        ],
        args.out,
    )


if __name__ == "__main__":
    main()
