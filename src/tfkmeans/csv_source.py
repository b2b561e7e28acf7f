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
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfkmeans import columns as column_rule
from tfkmeans.arrow_rows import batch_to_rows
from tfkmeans.chunked import ChunkedSource, compute_dtype
from tfkmeans.layouts import csv_selection, sniff


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
        super().__init__(str(path), chunk_rows, dtype, handle_invalid)
        self._path = Path(path)
        self.layout = sniff(self._path, header)
        self.selection = csv_selection(self.layout, columns, str(path))
        column_rule.notify(self.selection, str(path))
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
