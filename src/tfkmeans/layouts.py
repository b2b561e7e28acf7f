"""What a data file holds, told without TensorFlow: rows, features, column names.

The readers (``tfkmeans.files``, ``tfkmeans.csv_source``) build on these, and the
command line uses them to check every input before TensorFlow is loaded, so a
mistake costs a fraction of a second, not TensorFlow's start-up.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfkmeans import columns as column_rule

# Bytes and rows of the file looked at to tell its layout.
SNIFF_BYTES = 1 << 20
SNIFF_ROWS = 2000


@dataclass(frozen=True)
class CsvLayout:
    """What the first lines of a CSV file say about it."""

    names: list[str]
    header: bool
    skip_lines: int  # physical lines before the first data row (header included)
    text: frozenset[str]  # columns whose sampled values are all text
    integers: dict  # name -> first values, for columns whose sampled values are integers


def _records(path: Path) -> tuple[list[tuple[int, list[str]]], bool]:
    """(line number after the record, fields) of the first non-empty records, and
    whether the whole file was read."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        text = handle.read(SNIFF_BYTES)
        whole = handle.read(1) == ""
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # no partial last line
    reader = csv.reader(io.StringIO(text))
    records = []
    try:
        for fields in reader:
            if fields:
                records.append((reader.line_num, fields))
                if len(records) > SNIFF_ROWS:
                    break
    except csv.Error:
        pass  # a quoted field cut at the sample's end: the sample is what was read
    return records, whole


def _looks_like_header(first: list[str], rows: list[list[str]]) -> bool:
    """A header unless its fields are numbers wherever the rows below hold numbers:
    ``a,b`` over ``1,2`` is a header; ``1,2`` and ``3,abc`` over ``4,xyz`` are data."""
    numbers = [column_rule.is_number_text(v) and v.strip() != "" for v in first]
    if not any(numbers):
        return True
    for j in range(len(first)):
        below = [r[j] for r in rows if j < len(r) and r[j] not in column_rule.MISSING]
        if below and not numbers[j] and all(column_rule.is_number_text(v) for v in below):
            return True
    return False


def _unique(names: list[str]) -> list[str]:
    """pandas' names: ``Unnamed: j`` for an empty one, ``a.1`` for a second ``a``."""
    out: list[str] = []
    for j, name in enumerate(names):
        name = name.strip() or f"Unnamed: {j}"
        base, k = name, 1
        while name in out:
            name, k = f"{base}.{k}", k + 1
        out.append(name)
    return out


def sniff(path: Path, header: bool | None) -> CsvLayout:
    records, _ = _records(path)
    if not records:
        raise ValueError(f"{path} is empty")
    first_line, first = records[0]
    if header is None:
        header = _looks_like_header(first, [r for _, r in records[1:]])
    if header:
        names, data, skip = _unique(first), [r for _, r in records[1:]], first_line
    else:
        names, data, skip = [str(j) for j in range(len(first))], [r for _, r in records], 0
    text, integers = set(), {}
    for j, name in enumerate(names):
        values = [r[j] for r in data if j < len(r) and r[j] not in column_rule.MISSING]
        if not values:
            continue
        if not any(column_rule.is_number_text(v) for v in values):
            text.add(name)
        elif all(column_rule.is_integer_text(v) for v in values):
            integers[name] = np.array([int(v) for v in values[: column_rule.ROW_NUMBER_PROBE]])
    return CsvLayout(names, bool(header), skip, frozenset(text), integers)


def csv_selection(layout: CsvLayout, columns, name: str) -> column_rule.Selection:
    """The feature columns of a CSV file (read as float64)."""
    import pyarrow as pa

    # Named columns are read as numbers whatever the sample held: a text value is
    # then an error naming its row, not a column left out.
    text = layout.text if columns is None else frozenset()

    def kind(column: str):
        if column in text:
            return pa.string()
        return pa.int64() if column in layout.integers else pa.float64()

    schema = pa.schema([(column, kind(column)) for column in layout.names])
    selection = column_rule.select(
        schema,
        columns,
        name,
        text_columns=text,
        probe=lambda names: {n: layout.integers[n] for n in names},
    )
    selection.dtype = np.dtype(np.float64)
    return selection


@dataclass(frozen=True)
class FileInfo:
    """A data file as the command line checks it."""

    n_rows: int | None  # None when only a pass could count them (CSV)
    n_features: int
    feature_names: list[str] | None


def file_kind(path, columns=None, header: bool | None = None) -> tuple[Path, str]:
    """The path and its kind ("parquet", "npy" or "csv"), or the error that opening it
    would raise: one place for the rule, shared by the readers and the CLI's checks."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if header is not None and suffix != ".csv":
        raise ValueError(f"header= applies to a .csv file, not {path.name}")
    if path.is_dir() or suffix in (".parquet", ".pq"):
        return path, "parquet"
    if suffix == ".npy":
        if columns is not None:
            raise ValueError("columns= does not apply to a .npy file")
        return path, "npy"
    if suffix == ".csv":
        return path, "csv"
    raise ValueError(
        f"{path}: unknown file type {suffix!r}; use .npy, .parquet (or a folder) or .csv"
    )


def describe(path, columns=None, header: bool | None = None) -> FileInfo:
    """Rows, features and feature names of a data file, from its header or footer (and a
    CSV file's first lines); every error the reader would raise on opening it."""
    path, kind = file_kind(path, columns, header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", column_rule.ColumnNotice)  # the reader says it
        if kind == "parquet":
            dataset = parquet_dataset(path)
            selection = parquet_selection(dataset, columns, str(path))
            return FileInfo(
                parquet_rows(dataset, str(path)), selection.n_features, selection.feature_names
            )
        if kind == "npy":
            shape = npy_shape(path)
            return FileInfo(shape[0], shape[1], None)
        selection = csv_selection(sniff(path, header), columns, str(path))
        return FileInfo(None, selection.n_features, selection.feature_names)


def npy_shape(path: Path) -> tuple[int, int]:
    """(rows, features) of a 2-D .npy file of real numbers, from its header."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npy file ({exc})") from None
    if array.ndim != 2:
        raise ValueError(f"{path} holds a {array.ndim}-D array; expected 2-D (rows x features)")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{path} holds {array.dtype} values; expected real numbers")
    return int(array.shape[0]), int(array.shape[1])


def parquet_dataset(path: Path):
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="parquet")
        dataset.schema  # noqa: B018 - reading it is the check
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path} is not a readable Parquet file or folder ({exc})") from None
    return dataset


def parquet_rows(dataset, name: str) -> int:
    import pyarrow as pa

    try:
        return int(dataset.count_rows())  # file footers only
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{name} could not be read ({_first_line(exc)})") from None


# Parquet pages are read through a buffer of this size, not a whole column chunk at once.
PARQUET_BUFFER_BYTES = 1 << 16
# Rows per decoded Arrow batch; chunks are assembled from several.
PARQUET_BATCH_ROWS = 16384


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


def dataset_batches(dataset, columns: list[str], batch_rows: int):
    for file in dataset.files:
        yield from parquet_batches(file, columns, batch_rows)


def parquet_selection(dataset, columns, name: str) -> column_rule.Selection:
    """The feature columns of a Parquet dataset by the column rule; a variable-size list
    column's width is the length of its first list."""
    from tfkmeans.arrow_rows import first_vector_width

    def first_values(names: list[str]) -> dict:
        batch = next(dataset_batches(dataset, names, column_rule.ROW_NUMBER_PROBE), None)
        if batch is None:
            return {}
        return {c: batch.column(c).to_numpy(zero_copy_only=False) for c in names}

    selection = column_rule.select(dataset.schema, columns, name, probe=first_values)
    if selection.vector and not selection.n_features:
        column = selection.columns[0]
        batches = dataset_batches(dataset, [column], 1024)
        selection.n_features = first_vector_width(batches, column, name)
    return selection


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
