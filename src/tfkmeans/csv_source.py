"""CSV files read as pandas reads them, streamed with pyarrow (never loaded whole).

The first lines are looked at with Python's csv module to tell whether the first
line is a header (unless ``header=`` says), which columns hold only text, and which
count rows; then pyarrow streams the chosen columns as float64. As in pandas, quoted
fields are unquoted, empty lines are not rows, and ``NA``, ``NaN``, ``null``, an empty
cell, ... are missing values. A text value in a feature column is an error naming
the column, the row and the value; no row and no column is dropped silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfkmeans import columns as column_rule
from tfkmeans.arrow_rows import batch_to_rows
from tfkmeans.chunked import ChunkedSource, compute_dtype

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


class CsvSource(ChunkedSource):
    """A CSV file; features chosen by the column rule, read as float64."""

    def __init__(
        self,
        path: Path,
        columns=None,
        chunk_rows: int = 65536,
        dtype=None,
        header: bool | None = None,
        handle_invalid: str = "error",
    ):
        import pyarrow as pa

        super().__init__(str(path), chunk_rows, dtype, handle_invalid)
        self._path = Path(path)
        self.layout = sniff(self._path, header)
        # Named columns are read as numbers whatever the sample held: a text value is
        # then an error naming its row, not a column left out.
        text = self.layout.text if columns is None else frozenset()

        def kind(name: str):
            if name in text:
                return pa.string()
            return pa.int64() if name in self.layout.integers else pa.float64()

        schema = pa.schema([(name, kind(name)) for name in self.layout.names])
        self.selection = column_rule.select(
            schema,
            columns,
            str(path),
            text_columns=text,
            probe=lambda names: {n: self.layout.integers[n] for n in names},
        )
        column_rule.notify(self.selection, str(path))
        self.selection.dtype = np.dtype(np.float64)
        self.n_features = self.selection.n_features
        self.feature_names = self.selection.feature_names
        self.dtype = compute_dtype(self._requested_dtype or np.float64)

    def _open(self):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        # Small blocks keep memory proportional to the chunk size.
        block = max(1 << 16, min(1 << 26, self.chunk_rows * 64))
        read = pacsv.ReadOptions(
            column_names=self.layout.names, skip_rows=self.layout.skip_lines, block_size=block
        )
        convert = pacsv.ConvertOptions(
            column_types={c: pa.float64() for c in self.selection.columns},
            include_columns=self.selection.columns,
            null_values=sorted(column_rule.MISSING),
            strings_can_be_null=True,
        )
        try:
            return pacsv.open_csv(str(self._path), read_options=read, convert_options=convert)
        except (pa.ArrowInvalid, OSError) as exc:
            self._raise_first_bad_row(exc)

    def _read(self) -> Iterator[np.ndarray]:
        import pyarrow as pa

        reader = self._open()
        pending, size, position = [], 0, 0
        try:
            for batch in reader:
                rows = batch_to_rows(batch, self.selection, self.name, self.dtype, position)
                position += batch.num_rows
                pending.append(rows)
                size += batch.num_rows
                while size >= self.chunk_rows:
                    rows = np.concatenate(pending)
                    yield rows[: self.chunk_rows]
                    pending, size = [rows[self.chunk_rows :]], len(rows) - self.chunk_rows
        except (pa.ArrowInvalid, OSError) as exc:
            self._raise_first_bad_row(exc)
        if size:
            yield np.concatenate(pending)

    def _raise_first_bad_row(self, exc: Exception):
        """pyarrow's error names neither the row nor (by name) the column: find them."""
        wanted = [self.layout.names.index(c) for c in self.selection.columns]
        width = len(self.layout.names)
        with open(self._path, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            row = 0
            try:
                for fields in reader:
                    if reader.line_num <= self.layout.skip_lines or not fields:
                        continue
                    where = f"row {row} (line {reader.line_num})"
                    if len(fields) != width:
                        raise ValueError(
                            f"{self.name}: {where} has {len(fields)} fields; "
                            f"the first line has {width}"
                        )
                    for j in wanted:
                        if not column_rule.is_number_text(fields[j]):
                            raise ValueError(
                                f"{self.name}: column {self.layout.names[j]!r}, {where}: "
                                f"{fields[j]!r} is not a number"
                            )
                    row += 1
            except csv.Error as error:
                raise ValueError(f"{self.name}: line {reader.line_num}: {error}") from None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{self.name} could not be parsed ({message})") from None
