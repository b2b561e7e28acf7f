"""Sources that stream rows from files: .npy (memory-mapped), Parquet, CSV, tf.data.

Each is a ``ChunkedSource`` (``tfkmeans.chunked``): chunks in file order, read ahead
on a worker thread, handed to the same kernels as in-memory rows. Features of a
table are chosen by one rule (``tfkmeans.columns``); CSV has its own reader
(``tfkmeans.csv_source``).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfkmeans import columns as column_rule
from tfkmeans.arrow_rows import batch_to_columns
from tfkmeans.buffers import BufferRing, MappedRows, read_into
from tfkmeans.chunked import ChunkedSource, compute_dtype, kept_to_raw
from tfkmeans.layouts import (  # noqa: F401 - PARQUET_BATCH_ROWS, parquet_batches: benchmarks
    PARQUET_BATCH_ROWS,
    dataset_batches,
    file_kind,
    npy_shape,
    parquet_batches,
    parquet_dataset,
    parquet_rows,
    parquet_selection,
)
from tfkmeans.sources import Assigned, Source
from tfkmeans.tfload import tf

DEFAULT_FILE_CHUNK_ROWS = 65536
# Default chunk of a .npy file read as mapped views: no buffer to hold, so chunks can be
# larger, and fewer kernel calls cost less (4 GiB pass: 1.69 s at 65,536 rows of d=32,
# 1.54 s at 131,072, 1.47 s at 262,144 = 32 MiB; in memory 1.18 s). Two are mapped at once.
MAPPED_CHUNK_BYTES = 32 << 20


class NpySource(ChunkedSource):
    """A 2-D .npy file. Rows in the compute dtype are views of a private memory map
    that TensorFlow uses in place (no copy at all); other files are read with ``pread``
    into a small ring of reused buffers and converted. Memory stays at a few chunks."""

    def __init__(
        self, path: Path, chunk_rows: int | None = None, dtype=None, handle_invalid="error"
    ) -> None:
        super().__init__(str(path), _default_rows(chunk_rows), dtype, handle_invalid)
        npy_shape(path)  # the checks, with their messages
        self._array = np.load(path, mmap_mode="r", allow_pickle=False)
        self.n_features = int(self._array.shape[1])
        self.dtype = compute_dtype(self._requested_dtype or self._array.dtype)
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

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows read straight from the map (no pass), converted as a pass converts them."""
        positions = np.asarray(positions, dtype=np.int64)
        raw = kept_to_raw(positions, self._skipped) if self.handle_invalid == "skip" else positions
        if len(raw) and (raw.min() < 0 or raw.max() >= len(self._array)):
            raise IndexError(f"{self.name}: row positions out of range")
        rows = np.asarray(self._array[raw]).astype(self.dtype).astype(np.float64)
        return rows - self.origin, np.ones(len(positions))

    def _release_pages(self) -> None:
        """Drop the mapped pages just read from this process (they stay in the page
        cache), so resident memory stays at one chunk however large the file is."""
        mapping = getattr(self._array, "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)


class ParquetSource(ChunkedSource):
    """A Parquet file or folder of Parquet files (a pyarrow dataset); features chosen by
    the column rule (``tfkmeans.columns``)."""

    def __init__(
        self,
        path: Path,
        columns=None,
        chunk_rows: int | None = None,
        dtype=None,
        handle_invalid="error",
    ):
        super().__init__(str(path), _default_rows(chunk_rows), dtype, handle_invalid)
        self._dataset = parquet_dataset(path)
        self.selection = parquet_selection(self._dataset, columns, str(path))
        column_rule.notify(self.selection, str(path))
        self.n_features = self.selection.n_features
        self.feature_names = self.selection.feature_names
        self.dtype = compute_dtype(self._requested_dtype or self.selection.dtype)
        self._row_count: int | None = None

    def _batches(self, columns: list[str], batch_rows: int):
        return dataset_batches(self._dataset, columns, batch_rows)

    def _rows_hint(self) -> int:
        if self._row_count is None:
            self._row_count = parquet_rows(self._dataset, self.name)
        return self._row_count

    def _read(self) -> Iterator[np.ndarray]:
        import pyarrow as pa

        # Columns are copied once into column-major blocks of chunk_rows rows (filled
        # from several smaller batches, across files); chunks are their transposes.
        ring = BufferRing(self.chunk_rows, self.n_features, self.dtype)
        block, filled, position = None, 0, 0
        try:
            for batch in self._batches(self.selection.columns, self.chunk_rows):
                done = 0
                while done < batch.num_rows:
                    if block is None:
                        block, filled = ring.take_columns(self.chunk_rows), 0
                    n = min(batch.num_rows - done, self.chunk_rows - filled)
                    part = batch.slice(done, n)
                    batch_to_columns(
                        part, self.selection, self.name, block[:, filled : filled + n], position
                    )
                    done, filled, position = done + n, filled + n, position + n
                    if filled == self.chunk_rows:
                        yield block.T
                        block = None
            if block is not None:  # the last, shorter chunk, compacted
                yield np.ascontiguousarray(block[:, :filled]).T
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.name} could not be read ({exc})") from None


class DatasetSource(ChunkedSource):
    """A ``tf.data.Dataset`` of row batches (n x d), or of (rows, weights) pairs."""

    def __init__(self, dataset: tf.data.Dataset, dtype=None, handle_invalid="error") -> None:
        super().__init__("tf.data.Dataset", 1, dtype, handle_invalid)
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
        self.dtype = compute_dtype(self._requested_dtype or rows_spec.dtype.as_numpy_dtype)

    def _read(self) -> Iterator:
        for element in self._dataset:
            if self._weighted:
                yield element[0].numpy(), element[1].numpy()
            else:
                yield element.numpy()


def read(
    path: str | os.PathLike,
    columns=None,
    chunk_rows: int | None = None,
    dtype=None,
    *,
    header: bool | None = None,
    handle_invalid: str = "error",
) -> Source:
    """Open rows stored on disk as a streaming Source.

    ``path``: a .npy file (memory-mapped), a .parquet file or a folder of Parquet
    files, or a .csv file. ``columns``: names or globs (``"emb_*"``) of the feature
    columns (Parquet, CSV); by default the one vector column, else every numeric column
    but row ids, with a notice naming what was left out (``tfkmeans.columns``).
    ``header`` (CSV): True, False, or None to tell from the first lines.
    ``handle_invalid``: "error" (a row with NaN, null, an empty cell or infinity is an
    error naming its row and column) or "skip" (left out, counted in ``n_skipped``).
    ``chunk_rows`` rows are read at a time (default DEFAULT_FILE_CHUNK_ROWS, or
    MAPPED_CHUNK_BYTES of rows for a .npy file read in place); float64 files compute
    in float64, everything else in float32 (or ``dtype``).
    """
    from tfkmeans.csv_source import CsvSource

    path, kind = file_kind(path, columns, header)
    if kind == "parquet":
        return ParquetSource(path, columns, chunk_rows, dtype, handle_invalid)
    if kind == "npy":
        return NpySource(path, chunk_rows, dtype, handle_invalid)
    return CsvSource(path, columns, _default_rows(chunk_rows), dtype, header, handle_invalid)


def write_labels(
    path: str | os.PathLike,
    assigned: Iterator[Assigned],
    cosine: bool = False,
    skipped: np.ndarray | None = None,
) -> Path:
    """Stream ``label`` (int32) and ``distance`` columns to a Parquet file, atomically.

    ``distance`` is Euclidean, or the cosine distance 1 - cos for cosine k-means.
    ``skipped``: file positions of rows the source left out (``handle_invalid="skip"``);
    each gets label -1 and distance NaN in its place, so the output has one row per
    row of the file and joins back to it by position.
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
    skipped = np.empty(0, np.int64) if skipped is None else np.asarray(skipped, np.int64)
    kept, cursor = 0, 0  # rows of the source written so far; rows of the file so far

    def write(writer, labels, distance):
        writer.write_table(pa.table({"label": labels, "distance": distance}, schema=schema))

    with atomic_path(path) as tmp, pq.ParquetWriter(str(tmp), schema, **options) as writer:
        for chunk in assigned:
            squared = chunk.sq_distances.astype(np.float64)
            distance = 0.5 * squared if cosine else np.sqrt(squared)
            labels = chunk.labels
            if len(skipped):
                raw = kept_to_raw(kept + np.arange(len(labels)), skipped)
                size = int(raw[-1]) + 1 - cursor if len(raw) else 0
                full_labels = np.full(size, -1, np.int32)
                full_distance = np.full(size, np.nan)
                full_labels[raw - cursor] = labels
                full_distance[raw - cursor] = distance
                labels, distance = full_labels, full_distance
                cursor += size
            kept += len(chunk.labels)
            write(writer, labels, distance)
        tail = int(np.count_nonzero(skipped >= cursor)) if len(skipped) else 0
        if tail:
            write(writer, np.full(tail, -1, np.int32), np.full(tail, np.nan))
    return path


# -- helpers ---------------------------------------------------------------------------


def _default_rows(chunk_rows: int | None) -> int:
    return DEFAULT_FILE_CHUNK_ROWS if chunk_rows is None else chunk_rows
