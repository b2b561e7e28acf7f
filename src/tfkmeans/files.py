"""Sources that stream rows from files: .npy (memory-mapped), Parquet, CSV, tf.data.

Rows are read chunk by chunk (the next chunk is read on a background thread
while TensorFlow works on the current one) and handed to the same kernels as
in-memory data, so memory stays O(chunk_rows x (d + k)) whatever the file size.
Every pass visits rows in the file's order; sampling draws one random key per
row in that order, so results do not depend on the chunk size.
"""

from __future__ import annotations

import abc
import itertools
import mmap
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tfkmeans import kernels
from tfkmeans.arrow_rows import batch_to_columns, batch_to_rows, feature_columns
from tfkmeans.buffers import (
    RING_SIZE,
    BufferRing,
    MappedRows,
    as_tensor,
    read_into,
    release_unused_memory,
    zero_copy_ok,
)
from tfkmeans.progress import report_rows
from tfkmeans.sources import Assigned, PartialStats, Source, representable
from tfkmeans.tfload import tf

DEFAULT_FILE_CHUNK_ROWS = 65536
# Default chunk of a .npy file read as mapped views: no buffer to hold, so chunks can be
# larger, and fewer kernel calls cost less (4 GiB pass: 1.69 s at 65,536 rows of d=32,
# 1.54 s at 131,072, 1.47 s at 262,144 = 32 MiB; in memory 1.18 s). Two are mapped at once.
MAPPED_CHUNK_BYTES = 32 << 20
# Parquet pages are read through a buffer of this size, not a whole column chunk at once.
PARQUET_BUFFER_BYTES = 1 << 16
# Rows per decoded Arrow batch; chunks are assembled from several.
PARQUET_BATCH_ROWS = 16384
# Rows per float64 block when the first pass computes the mean and variance.
MOMENT_BLOCK_ROWS = 8192


def _prefetched(chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Yields the items of ``chunks`` while the next one is read on a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, chunks, None)
        while True:
            chunk = pending.result()
            if chunk is None:
                return
            pending = pool.submit(next, chunks, None)
            yield chunk


class ChunkedSource(Source):
    """A Source over an ordered sequence of row chunks; subclasses only read chunks."""

    def __init__(self, name: str, chunk_rows: int, dtype=None) -> None:
        if int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        self.name = name
        self.chunk_rows = int(chunk_rows)
        self._requested_dtype = None if dtype is None else np.dtype(dtype)
        self._summary: tuple[int, np.ndarray, float] | None = None
        self._validated = False
        self._sqnorm_total: float | None = None  # sum_i w_i ||x_i - origin||^2
        self._ones: dict[int, tf.Tensor] = {}  # unit weights, per chunk length

    @abc.abstractmethod
    def _read(self) -> Iterator[np.ndarray]:
        """Raw 2-D chunks of at most chunk_rows rows, in row order (any numeric dtype)."""

    def _checked(self) -> Iterator[np.ndarray]:
        """Chunks in the compute dtype; the first full pass also checks shapes and values
        (later passes trust a file that already passed once). A chunk may live in a
        reused buffer: it is valid until two more chunks have been taken."""
        position, check, total = 0, not self._validated, self._expected_rows()
        report_rows(0, total)
        chunks = _prefetched(self._read()) if self._reads_ahead() else self._read()
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if check:
                self._check(chunk, position)
            position += len(chunk)
            yield chunk.astype(self.dtype, copy=False)
            report_rows(position, total)
        if check:
            self._validated = True
        release_unused_memory()

    def _reads_ahead(self) -> bool:
        """Whether the next chunk is read on a worker thread while this one is used."""
        return True

    def _expected_rows(self) -> int | None:
        """Rows in a pass, for progress: counted once known, else the file's own count."""
        return self._summary[0] if self._summary is not None else self._rows_hint()

    def _rows_hint(self) -> int | None:
        """The number of rows as the file's header states it, when it does."""
        return None

    def _check(self, chunk: np.ndarray, position: int) -> None:
        if chunk.ndim != 2 or chunk.shape[1] != self.n_features:
            raise ValueError(
                f"{self.name}: rows from {position} have shape {chunk.shape[1:]}, "
                f"expected {self.n_features} features"
            )
        finite = np.isfinite(chunk)
        if not finite.all():
            bad = position + int(np.flatnonzero(~finite.all(axis=1))[0])
            raise ValueError(f"{self.name}: row {bad} contains NaN or infinity")

    # -- one first pass: count, mean, variance -------------------------------------------

    def _first_pass(self) -> tuple[int, np.ndarray, float]:
        if self._summary is None:
            count, mean, m2 = 0, np.zeros(self.n_features), np.zeros(self.n_features)
            for chunk in self._checked():
                # Small float64 blocks: whole-chunk float64 temporaries cost ~50 MB of peak RSS.
                for start in range(0, len(chunk), MOMENT_BLOCK_ROWS):
                    x = chunk[start : start + MOMENT_BLOCK_ROWS].astype(np.float64)
                    count, mean, m2 = _merge_moments(count, mean, m2, x)
            if count == 0:
                raise ValueError(f"{self.name} has no rows")
            self._summary = (count, representable(mean, self.dtype), float(np.mean(m2 / count)))
        return self._summary

    @property
    def n_rows(self) -> int:
        # The file's own count when it states one, so asking costs no pass over the rows
        # (the first pass then runs inside the fit, where its progress is reported).
        hint = self._rows_hint() if self._summary is None else None
        return hint if hint else self._first_pass()[0]

    @property
    def origin(self) -> np.ndarray:
        return self._first_pass()[1]

    @property
    def mean_variance(self) -> float:
        return self._first_pass()[2]

    # -- passes over the rows --------------------------------------------------------------

    def _unit_weights(self, n: int) -> tf.Tensor:
        if n not in self._ones:
            if len(self._ones) > 2:  # chunks of a folder's files may end short
                self._ones.clear()
            self._ones[n] = tf.ones([n], self.dtype)
        return self._ones[n]

    def chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        for chunk in self._checked():
            yield as_tensor(chunk), self._unit_weights(len(chunk))

    def _stat_chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor, bool]]:
        """(rows, weights, by_column) for the Lloyd pass: a chunk that is the transpose of
        a column block (Parquet's) goes to the kernel as that block, with no copy."""
        for chunk in self._checked():
            by_column = chunk.flags.f_contiguous and not chunk.flags.c_contiguous
            if by_column and zero_copy_ok(chunk.T):
                yield as_tensor(chunk.T), self._unit_weights(len(chunk)), True
            else:
                yield as_tensor(chunk), self._unit_weights(len(chunk)), False

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        """Chunks go in turn to one thread per part of ``kernels.pass_layout`` (one per
        core on a CPU), each adding its chunks to its own total on the device, so one
        chunk's serial scatter overlaps another's GEMM, as parts of an in-memory pass do."""
        # Row norms are not recomputed every pass: the kernel leaves sum_i w_i ||x_i||^2
        # out of the inertia, and that total is taken once, in the first pass.
        origin = tf.constant(self.origin, self.dtype)
        centers_t = tf.constant(centers, self.dtype)
        with_norms = self._sqnorm_total is None
        inner, bounds = kernels.pass_layout(self.n_rows, len(centers), self.n_features)
        # More lanes would hold more chunks than a ring of buffers keeps valid.
        n_lanes = min(len(bounds) - 1, RING_SIZE - 1)

        def add(total, rows, weights, by_column):
            stats = kernels.lloyd_stats(
                rows,
                weights,
                origin,
                centers_t,
                inner,
                total=total[0],
                by_column=by_column,
                row_norms=False,
            )
            if not with_norms:
                return stats, total[1]
            return stats, total[1] + kernels.weighted_sqnorm(rows, weights, origin, by_column)

        totals = [(None, 0.0)] * n_lanes
        pending: list = [None] * n_lanes
        chunks = self._stat_chunks()
        with ThreadPoolExecutor(max_workers=n_lanes) as lanes:
            for position in itertools.count():
                lane = position % n_lanes
                if pending[lane] is not None:
                    # Before the next chunk is taken: its read may reuse this lane's buffer.
                    totals[lane] = pending[lane].result()
                    pending[lane] = None
                item = next(chunks, None)
                if item is None:
                    break
                pending[lane] = lanes.submit(add, totals[lane], *item)
            for lane, future in enumerate(pending):
                if future is not None:
                    totals[lane] = future.result()
        done = [total for total in totals if total[0] is not None]
        if not done:
            raise ValueError(f"{self.name} has no rows")
        if with_norms:
            self._sqnorm_total = float(sum(float(sqnorm) for _, sqnorm in done))
        sums, weights, shifted = (sum(parts) for parts in zip(*(t for t, _ in done), strict=True))
        return PartialStats(sums.numpy(), weights.numpy(), float(shifted) + self._sqnorm_total)

    def assign(self, centers: np.ndarray) -> Iterator[Assigned]:
        origin = tf.constant(self.origin, self.dtype)
        centers_t = tf.constant(centers, self.dtype)
        for rows, weights in self.chunks():
            labels, sq = kernels.assign(rows, origin, centers_t, kernels.DEFAULT_CHUNK_ROWS)
            yield Assigned(labels.numpy(), sq.numpy(), weights.numpy().astype(np.float64))

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions = np.asarray(positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        wanted = positions[order]
        out = np.empty((len(positions), self.n_features))
        start = 0
        for chunk in self._checked():
            lo, hi = np.searchsorted(wanted, [start, start + len(chunk)])
            out[order[lo:hi]] = chunk[wanted[lo:hi] - start]
            start += len(chunk)
            if hi == len(wanted):
                break
        return out - self.origin, np.ones(len(positions))

    def sample(self, m: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """A uniform sample of min(m, n) rows: the m smallest of one random key per row.

        Keys are drawn in row order from one seeded stream, so the sample does not
        depend on how the file is chunked.
        """
        draws = np.random.RandomState(random_state.randint(2**31 - 1))
        keys, positions, start = np.empty(0), np.empty(0, np.int64), 0
        for chunk in self._checked():
            chunk_keys = draws.uniform(size=len(chunk))
            keys = np.concatenate([keys, chunk_keys])
            positions = np.concatenate([positions, start + np.arange(len(chunk))])
            if len(keys) > m:
                keep = np.argpartition(keys, m - 1)[:m]
                keys, positions = keys[keep], positions[keep]
            start += len(chunk)
        picked = positions[np.argsort(keys, kind="stable")]
        return self.take(picked)


class NpySource(ChunkedSource):
    """A 2-D .npy file. Rows in the compute dtype are views of a private memory map
    that TensorFlow uses in place (no copy at all); other files are read with ``pread``
    into a small ring of reused buffers and converted. Memory stays at a few chunks."""

    def __init__(self, path: Path, chunk_rows: int | None = None, dtype=None) -> None:
        super().__init__(str(path), _default_rows(chunk_rows), dtype)
        try:
            self._array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a readable .npy file ({exc})") from None
        if self._array.ndim != 2:
            raise ValueError(
                f"{path} holds a {self._array.ndim}-D array; expected 2-D (rows x features)"
            )
        if not np.issubdtype(self._array.dtype, np.number) or np.iscomplexobj(self._array):
            raise ValueError(f"{path} holds {self._array.dtype} values; expected real numbers")
        self.n_features = int(self._array.shape[1])
        self.dtype = _compute_dtype(self._requested_dtype or self._array.dtype)
        if chunk_rows is None:
            row_bytes = max(self.n_features * self._array.dtype.itemsize, 1)
            mapped_rows = max(MAPPED_CHUNK_BYTES // row_bytes // 16 * 16, 1024)
            if self._mapped_rows(mapped_rows) is not None:
                self.chunk_rows = mapped_rows

    def _read(self) -> Iterator[np.ndarray]:
        if not self._array.flags.c_contiguous:  # a Fortran-order file: rows are not contiguous
            yield from self._read_mapped()
            return
        mapped = self._mapped_rows()
        if mapped is not None:
            yield from mapped.chunks(self.chunk_rows)
            return
        rows, offset = self._array.shape[0], self._array.offset
        row_bytes = self.n_features * self._array.dtype.itemsize
        ring = BufferRing(min(self.chunk_rows, rows), self.n_features, self._array.dtype)
        fd = os.open(self.name, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            for start in range(0, rows, self.chunk_rows):
                chunk = ring.take(min(self.chunk_rows, rows - start))
                read_into(fd, chunk, offset + start * row_bytes, self.name)
                yield chunk
        finally:
            os.close(fd)

    def _mapped_rows(self, chunk_rows: int | None = None) -> MappedRows | None:
        """The rows as mapped views, when the file is C-ordered in the compute dtype and
        chunks start aligned; None when they must be read and converted."""
        array, offset = self._array, self._array.offset
        if not (array.flags.c_contiguous and array.dtype == self.dtype):
            return None
        chunk_rows = chunk_rows or self.chunk_rows
        if not MappedRows.suits(offset, chunk_rows, self.n_features, array.dtype):
            return None
        return MappedRows(self.name, offset, len(array), self.n_features, array.dtype)

    def _reads_ahead(self) -> bool:
        # A mapped view costs nothing to take; TensorFlow faults its pages in as it reads
        # them. With no chunk read ahead, two chunks are mapped at a time, not three.
        return self._mapped_rows() is None

    def _rows_hint(self) -> int:
        return int(self._array.shape[0])

    def _read_mapped(self) -> Iterator[np.ndarray]:
        for start in range(0, self._array.shape[0], self.chunk_rows):
            chunk = np.array(self._array[start : start + self.chunk_rows])
            self._release_pages()
            yield chunk

    def _release_pages(self) -> None:
        """Drop the mapped pages just read from this process (they stay in the page
        cache), so resident memory stays at one chunk however large the file is."""
        mapping = getattr(self._array, "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)


class ParquetSource(ChunkedSource):
    """A Parquet file or folder of Parquet files (a pyarrow dataset).

    Features are the chosen numeric columns (all numeric columns by default), or one
    fixed-size list column.
    """

    def __init__(self, path: Path, columns=None, chunk_rows: int | None = None, dtype=None):
        import pyarrow as pa
        import pyarrow.dataset as ds

        super().__init__(str(path), _default_rows(chunk_rows), dtype)
        try:
            self._dataset = ds.dataset(str(path), format="parquet")
            schema = self._dataset.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path} is not a readable Parquet file or folder ({exc})") from None
        self._columns, self.n_features, arrow_dtype = feature_columns(schema, columns, str(path))
        self.dtype = _compute_dtype(self._requested_dtype or arrow_dtype)
        self._row_count: int | None = None

    def _rows_hint(self) -> int:
        import pyarrow as pa

        if self._row_count is None:
            try:
                self._row_count = int(self._dataset.count_rows())  # file footers only
            except (pa.ArrowInvalid, OSError) as exc:
                raise ValueError(f"{self.name} could not be read ({_first_line(exc)})") from None
        return self._row_count

    def _read(self) -> Iterator[np.ndarray]:
        import pyarrow as pa

        # Columns are copied once into column-major blocks of chunk_rows rows (filled
        # from several smaller batches, across files); chunks are their transposes.
        ring = BufferRing(self.chunk_rows, self.n_features, self.dtype)
        block, filled = None, 0
        try:
            for file in self._dataset.files:
                for batch in parquet_batches(file, self._columns, self.chunk_rows):
                    done = 0
                    while done < batch.num_rows:
                        if block is None:
                            block, filled = ring.take_columns(self.chunk_rows), 0
                        n = min(batch.num_rows - done, self.chunk_rows - filled)
                        batch_to_columns(
                            batch.slice(done, n),
                            self._columns,
                            self.n_features,
                            self.name,
                            block[:, filled : filled + n],
                        )
                        done, filled = done + n, filled + n
                        if filled == self.chunk_rows:
                            yield block.T
                            block = None
            if block is not None:  # the last, shorter chunk, compacted
                yield np.ascontiguousarray(block[:, :filled]).T
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.name} could not be read ({exc})") from None


def parquet_batches(path: str, columns: list[str], batch_rows: int = PARQUET_BATCH_ROWS):
    """Record batches of ``columns`` from one Parquet file, as a pass reads them.

    File by file, batch by batch: Arrow's dataset scanner reads ahead several files'
    row groups, and pre_buffer holds a whole row group's compressed columns (400 MB more
    peak memory on 1 GiB of 262,144-row groups); a 64 KiB read buffer peaks 30 MB lower
    than 1 MiB and reads as fast. Columns are decoded on the calling thread: TensorFlow
    already keeps every core busy, and Arrow's extra threads only added contention
    (2.05x vs 1.28x the in-memory pass, best of four). Batches of at most
    PARQUET_BATCH_ROWS: the reader then holds ~50 MB less than with whole chunks, and
    decodes as fast.
    """
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
    size = min(PARQUET_BATCH_ROWS, batch_rows)
    return reader.iter_batches(batch_size=size, columns=columns, use_threads=False)


class CsvSource(ChunkedSource):
    """A CSV file with a header row, streamed with pyarrow (never loaded whole)."""

    def __init__(self, path: Path, columns=None, chunk_rows: int | None = None, dtype=None):
        super().__init__(str(path), _default_rows(chunk_rows), dtype)
        self._path = path
        reader = self._open()
        self._columns, self.n_features, arrow_dtype = feature_columns(
            reader.schema, columns, str(path)
        )
        self.dtype = _compute_dtype(self._requested_dtype or arrow_dtype)

    def _open(self):
        import pyarrow as pa
        import pyarrow.csv as csv

        # Small blocks keep memory proportional to the chunk size.
        block = max(1 << 16, min(1 << 26, self.chunk_rows * 64))
        try:
            return csv.open_csv(str(self._path), read_options=csv.ReadOptions(block_size=block))
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(
                f"{self._path} is not a readable CSV file ({_first_line(exc)})"
            ) from None

    def _read(self) -> Iterator[np.ndarray]:
        import pyarrow as pa

        reader = self._open()
        pending = []
        size = 0
        try:
            for batch in reader:
                rows = batch_to_rows(batch, self._columns, self.n_features, self.name, self.dtype)
                pending.append(rows)
                size += batch.num_rows
                while size >= self.chunk_rows:
                    rows = np.concatenate(pending)
                    yield rows[: self.chunk_rows]
                    pending, size = [rows[self.chunk_rows :]], len(rows) - self.chunk_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.name} could not be parsed ({_first_line(exc)})") from None
        if size:
            yield np.concatenate(pending)


class DatasetSource(ChunkedSource):
    """A ``tf.data.Dataset`` of row batches (n x d), or of (rows, weights) pairs."""

    def __init__(self, dataset: tf.data.Dataset, dtype=None) -> None:
        super().__init__("tf.data.Dataset", chunk_rows=1, dtype=dtype)
        self._dataset = dataset
        spec = dataset.element_spec
        self._weighted = isinstance(spec, tuple)
        rows_spec = spec[0] if self._weighted else spec
        if not isinstance(rows_spec, tf.TensorSpec) or rows_spec.shape.rank != 2:
            raise ValueError(
                "a tf.data.Dataset must yield 2-D batches of rows (use .batch(n)), "
                f"or (rows, weights) pairs; got elements {spec}"
            )
        if rows_spec.shape[1] is None:
            raise ValueError("the Dataset's row batches need a known number of features")
        self.n_features = int(rows_spec.shape[1])
        self.dtype = _compute_dtype(self._requested_dtype or rows_spec.dtype.as_numpy_dtype)

    def _read(self) -> Iterator[np.ndarray]:
        for element in self._dataset:
            rows = element[0] if self._weighted else element
            yield rows.numpy()

    def chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        if not self._weighted:
            yield from super().chunks()
            return
        for rows, weights in self._dataset:
            rows = tf.cast(rows, self.dtype)
            yield rows, tf.cast(weights, self.dtype)

    def _stat_chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor, bool]]:
        for rows, weights in self.chunks():
            yield rows, weights, False

    @property
    def total_weight(self) -> float:
        return float(sum(float(tf.reduce_sum(w)) for _, w in self.chunks()))


def read(
    path: str | os.PathLike, columns=None, chunk_rows: int | None = None, dtype=None
) -> Source:
    """Open rows stored on disk as a streaming Source.

    ``path``: a .npy file (memory-mapped), a .parquet file or a folder of Parquet
    files, or a .csv file with a header. ``columns`` picks feature columns (Parquet,
    CSV); ``chunk_rows`` rows are read at a time (default DEFAULT_FILE_CHUNK_ROWS, or
    MAPPED_CHUNK_BYTES of rows for a .npy file read in place); float64 files compute in float64,
    everything else in float32 (or ``dtype``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in (".parquet", ".pq"):
        return ParquetSource(path, columns, chunk_rows, dtype)
    if suffix == ".npy":
        if columns is not None:
            raise ValueError("columns= does not apply to a .npy file")
        return NpySource(path, chunk_rows, dtype)
    if suffix == ".csv":
        return CsvSource(path, columns, chunk_rows, dtype)
    raise ValueError(
        f"{path}: unknown file type {suffix!r}; use .npy, .parquet (or a folder) or .csv"
    )


def write_labels(
    path: str | os.PathLike, assigned: Iterator[Assigned], cosine: bool = False
) -> Path:
    """Stream ``label`` (int32) and ``distance`` columns to a Parquet file, atomically.

    ``distance`` is Euclidean, or the cosine distance 1 - cos for cosine k-means.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tfkmeans.atomic import atomic_path

    path = Path(path)
    # Non-nullable columns and no dictionary for distances: both only cost readers time.
    schema = pa.schema(
        [pa.field("label", pa.int32(), False), pa.field("distance", pa.float64(), False)]
    )
    options = {"use_dictionary": ["label"]}
    with atomic_path(path) as tmp, pq.ParquetWriter(str(tmp), schema, **options) as writer:
        for chunk in assigned:
            squared = chunk.sq_distances.astype(np.float64)
            distance = 0.5 * squared if cosine else np.sqrt(squared)
            writer.write_table(
                pa.table({"label": chunk.labels, "distance": distance}, schema=schema)
            )
    return path


# -- helpers ---------------------------------------------------------------------------


def _merge_moments(count: int, mean: np.ndarray, m2: np.ndarray, x: np.ndarray):
    """Count, mean and summed squared deviations with the rows ``x`` added (Chan et al.)."""
    n = len(x)
    block_mean = x.mean(axis=0)
    block_m2 = ((x - block_mean) ** 2).sum(axis=0)
    total = count + n
    delta = block_mean - mean
    return total, mean + delta * (n / total), m2 + block_m2 + delta**2 * (count * n / total)


def _default_rows(chunk_rows: int | None) -> int:
    return DEFAULT_FILE_CHUNK_ROWS if chunk_rows is None else chunk_rows


def _compute_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
