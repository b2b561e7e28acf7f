"""Sparse Spark ML vector columns, kept sparse from the DataFrame to the kernels.

A ``VectorUDT`` column reaches a ``mapInArrow`` task as its storage struct
(``type``: 0 sparse / 1 dense, ``size``, ``indices``, ``values``), which the SQL side
cannot split (no field access on a UDT, no cast) but Arrow carries as is. Each Arrow
batch becomes a CSR block here (``csr_of``), and the partition's blocks one CSR matrix
for ``SparseSource``; no row is ever densified.

When a column counts as sparse (``is_sparse_column``): a single ``VectorUDT`` column
whose first ``SAMPLE_ROWS`` non-null rows store fewer than ``SPARSE_DENSITY`` of their
values (a dense row stores all of them). Why not every vector column: Spark turns a
vector into that struct row by row, which costs a dense 1,000,000 x 32 column 8-10 s a
pass against 1.1-1.5 s through ``vector_to_array`` (measured on the 2-core dev
machine), so dense columns keep the dense route. Either route gives the same answer;
the choice only decides memory and speed, and a column of mixed rows (as
``VectorAssembler`` writes them) goes where most of its stored values say.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tfkmeans.spark.rows import FEATURES, WEIGHT

SAMPLE_ROWS = 64
SPARSE_DENSITY = 0.5
# Bytes a resident partition holds per stored value (scipy CSR: 8 value + 4 index;
# the kernels' tensors: 8 value + 4 column + 4 row) and per row (CSR pointers, weights
# in two dtypes, row norms), before the RESIDENT_COPIES of the conversion.
BYTES_PER_VALUE, BYTES_PER_ROW = 28, 40

STATS_SCHEMA = T.StructType(
    [
        T.StructField(name, T.LongType())
        for name in ("partition", "n", "bad", "lo", "hi", "nnz", "nonfinite", "zero")
    ]
)


def is_sparse_column(df: DataFrame, column: str) -> bool:
    """Whether ``column`` (a vector column) goes the sparse route: see the module doc.
    One small job: the first rows, read on the driver."""
    rows = df.select(column).where(F.col(column).isNotNull()).limit(SAMPLE_ROWS).collect()
    stored = sum(len(r[0].values) for r in rows)
    return bool(rows) and stored < SPARSE_DENSITY * sum(r[0].size for r in rows)


# -- executor side ---------------------------------------------------------------------


def csr_of(vectors: pa.StructArray, n_features: int) -> sp.csr_matrix:
    """An Arrow batch of Spark ML vectors (no nulls) as a canonical float64 CSR matrix."""
    kind, size, indices, values = vectors.flatten()
    offsets = np.asarray(values.offsets, dtype=np.int64)
    indptr = offsets - offsets[0]
    lengths = np.diff(indptr)
    is_sparse = np.asarray(kind.to_numpy(zero_copy_only=False)) == 0
    sizes = np.where(is_sparse, size.fill_null(0).to_numpy(zero_copy_only=False), lengths)
    if (sizes != n_features).any():
        raise ValueError(
            f"feature vectors have {int(sizes[sizes != n_features][0])} values, "
            f"expected {n_features}"
        )
    data = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    in_sparse_row = np.repeat(is_sparse, lengths)
    columns = np.empty(len(data), dtype=np.int32)
    stored = indices.flatten().to_numpy(zero_copy_only=False)
    if len(stored) != in_sparse_row.sum():
        raise ValueError("a sparse vector has a different number of indices and values")
    columns[in_sparse_row] = stored
    dense = ~in_sparse_row  # a dense row stores every column, in order
    columns[dense] = (np.arange(len(data)) - np.repeat(indptr[:-1], lengths))[dense]
    matrix = sp.csr_matrix((data, columns, indptr), shape=(len(vectors), n_features))
    from tfkmeans.sparse_source import canonical_csr  # Scala may write unsorted indices

    return canonical_csr(matrix)


def partition_csr(
    batches: Iterator[pa.RecordBatch], n_features: int, unit_rows: bool
) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """All rows of a partition as one CSR matrix (unit norm for cosine) and their
    weights; None if empty. Memory: O(stored values)."""
    blocks, weights = [], []
    for batch in batches:
        if batch.num_rows:
            vectors = batch.column(batch.schema.get_field_index(FEATURES))
            if vectors.null_count:
                raise ValueError("null feature vectors reached a task")
            blocks.append(csr_of(vectors, n_features))
            weight = batch.column(batch.schema.get_field_index(WEIGHT))
            weights.append(weight.to_numpy(zero_copy_only=False).astype(np.float64))
    if not blocks:
        return None
    matrix = blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
    return (unit(matrix) if unit_rows else matrix), np.concatenate(weights)


def unit(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows on the unit sphere, for distanceMeasure='cosine' (as ``rows.unit``)."""
    from tfkmeans.sparse_source import unit_rows

    norms = np.sqrt(
        np.bincount(
            np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)),
            weights=matrix.data**2,
            minlength=matrix.shape[0],
        )
    )
    if (norms == 0).any():  # the fit checks first (Frame.zero_rows); transform here
        raise ValueError("distanceMeasure='cosine' needs non-zero feature vectors")
    return unit_rows(matrix)


def vector_stats(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row per partition: its index, rows, invalid rows (null vector or
    weight), the smallest and largest vector size, stored values, rows holding a NaN or
    infinity and all-zero rows (of the valid rows). ``mapInArrow`` with ``STATS_SCHEMA``."""
    from pyspark import TaskContext

    n = bad = nnz = nonfinite = zero = 0
    lo, hi = np.iinfo(np.int64).max, -1
    for batch in batches:
        vectors = batch.column(batch.schema.get_field_index(FEATURES))
        weights = batch.column(batch.schema.get_field_index(WEIGHT))
        valid = vectors.is_valid()
        if weights.null_count:
            valid = pc.and_(valid, weights.is_valid())
        n, vectors = n + len(vectors), vectors.filter(valid)
        bad += batch.num_rows - len(vectors)
        if not len(vectors):
            continue
        kind, size, _, values = vectors.flatten()
        lengths = np.diff(np.asarray(values.offsets, dtype=np.int64))
        is_sparse = np.asarray(kind.to_numpy(zero_copy_only=False)) == 0
        sizes = np.where(is_sparse, size.fill_null(0).to_numpy(zero_copy_only=False), lengths)
        lo, hi = min(lo, int(sizes.min())), max(hi, int(sizes.max()))
        data = values.flatten().to_numpy(zero_copy_only=False)
        nnz += len(data)
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        nonfinite += len(np.unique(row_of[~np.isfinite(data)]))
        zero += int((np.bincount(row_of[data != 0], minlength=len(lengths)) == 0).sum())
    partition, lo = TaskContext.get().partitionId(), lo if hi >= 0 else -1
    values = [partition, n, bad, lo, hi, nnz, nonfinite, zero]
    yield pa.RecordBatch.from_arrays(
        [pa.array([v], pa.int64()) for v in values], names=STATS_SCHEMA.names
    )


@dataclass(frozen=True)
class VectorCounts:
    """``vector_stats`` added up on the driver."""

    n: int
    bad: int
    lo: int
    hi: int
    nonfinite: int
    zero: int  # all-zero rows, which have no direction (cosine)
    rows: dict[int, int]  # valid rows per non-empty partition
    values: dict[int, int]  # stored values per partition


def count_vectors(prepared: DataFrame) -> VectorCounts:
    """Rows, invalid rows, vector sizes and stored values, in one Arrow pass."""
    found = prepared.mapInArrow(vector_stats, STATS_SCHEMA).collect()
    sizes = [(r["lo"], r["hi"]) for r in found if r["hi"] >= 0]
    return VectorCounts(
        n=sum(r["n"] for r in found),
        bad=sum(r["bad"] for r in found),
        lo=min((lo for lo, _ in sizes), default=-1),
        hi=max((hi for _, hi in sizes), default=-1),
        nonfinite=sum(r["nonfinite"] for r in found),
        zero=sum(r["zero"] for r in found),
        rows={r["partition"]: r["n"] - r["bad"] for r in found if r["n"] > r["bad"]},
        values={r["partition"]: r["nnz"] for r in found if r["n"] > r["bad"]},
    )
