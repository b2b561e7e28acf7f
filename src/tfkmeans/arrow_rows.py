"""Arrow record batches (Parquet, CSV) as row-major feature arrays.

Arrow stores one buffer per column; the kernels want rows. Stacking columns
one by one into a row-major array writes every cache line of the output once
per column (about 1.8 s per GiB on the project machine); stacking them into a
column-major block first costs one copy per column, and its transpose is a
view. A vector (list) column is already row-major. The Lloyd pass takes
column-major chunks as they are, so Parquet's are never transposed on the host.

A null (a missing value, an empty CSV cell, a null vector) becomes NaN here, so
the one check for bad rows (``ChunkedSource``) sees every kind of gap.
"""

from __future__ import annotations

import numpy as np

from tfkmeans.columns import Selection


def _vector_rows(array, n_features: int, name: str, column: str, first_row: int) -> np.ndarray:
    """A list column as (n, n_features) float rows; a null list is a row of NaN."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):
        array = array.storage
    n = len(array)
    out = np.full((n, n_features), np.nan)
    valid = ~array.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_list(array.type):
        width = array.type.list_size
        values = array.values.slice(array.offset * width, n * width)
        flat = values.to_numpy(zero_copy_only=False).reshape(n, width)
        out[valid] = flat[valid]
        return out
    lengths = array.value_lengths().to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(valid & (lengths != n_features))
    if len(wrong):
        row = first_row + int(wrong[0])
        raise ValueError(
            f"{name}: column {column!r}, row {row} holds {int(lengths[wrong[0]])} values; "
            f"the first row held {n_features}"
        )
    out[valid] = array.flatten().to_numpy(zero_copy_only=False).reshape(-1, n_features)
    return out


def batch_to_columns(
    batch, selection: Selection, name: str, out: np.ndarray, first_row: int = 0
) -> np.ndarray:
    """An Arrow record batch written into ``out``, an (n_features, n) block: one copy per
    column and no transpose (the kernels take column-major chunks). Nulls become NaN."""
    columns = selection.columns
    arrays = [batch.column(batch.schema.get_field_index(c)) for c in columns]
    if selection.vector:
        rows = _vector_rows(arrays[0], selection.n_features, name, columns[0], first_row)
        np.copyto(out.T, rows, casting="unsafe")
        return out
    for j, array in enumerate(arrays):
        if array.null_count:
            array = array.cast("float64")  # nulls become NaN below
        out[j] = array.to_numpy(zero_copy_only=False)
    return out


def batch_to_rows(batch, selection: Selection, name: str, dtype, first_row: int = 0):
    """An Arrow record batch as (n, d) rows of ``dtype``: the transpose of the
    column-major block of ``batch_to_columns``, which is the cheap way to build it."""
    block = np.empty((selection.n_features, batch.num_rows), dtype)
    return batch_to_columns(batch, selection, name, block, first_row).T


def first_vector_width(column_reader, column: str, name: str) -> int:
    """The length of the first non-null list of a variable-size list column."""
    for batch in column_reader:
        array = batch.column(0)
        lengths = array.value_lengths().to_numpy(zero_copy_only=False)
        valid = ~array.is_null().to_numpy(zero_copy_only=False)
        if valid.any():
            return int(lengths[np.flatnonzero(valid)[0]])
    raise ValueError(f"{name}: column {column!r} holds no values")
