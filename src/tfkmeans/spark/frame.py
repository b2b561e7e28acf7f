"""The driver's view of the input: features and weight as two columns, checked and
counted in one pass (no ``df.rdd``: it works on Spark Connect too). Dense features are
an array<double> column counted in the JVM; a sparse vector column (``vectors``) stays a
vector column, counted in one Arrow pass."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tfkmeans.spark import vectors
from tfkmeans.spark.rows import FEATURES, WEIGHT

PARTITION = "__tfkm_partition"


def feature_columns(features_col) -> list[str]:
    return [features_col] if isinstance(features_col, str) else list(features_col)


def vector_column(df: DataFrame, features_col) -> str | None:
    """The column's name when the features are one Spark ML vector column."""
    from pyspark.ml.linalg import VectorUDT

    columns = feature_columns(features_col)
    fields = {f.name: f.dataType for f in df.schema.fields}
    if len(columns) == 1 and isinstance(fields.get(columns[0]), VectorUDT):
        return columns[0]
    return None


def sparse_vector_column(df: DataFrame, features_col) -> str | None:
    """The column's name when the features are one vector column that goes the sparse
    route (``vectors.is_sparse_column``: one small job). A streaming DataFrame cannot run
    that job: its vectors go the dense route."""
    column = vector_column(df, features_col)
    if column is None or df.isStreaming:
        return None
    return column if vectors.is_sparse_column(df, column) else None


def features_expression(df: DataFrame, features_col):
    """An array<double> expression of the features; null when any feature is null."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    fields = {f.name: f.dataType for f in df.schema.fields}
    columns = feature_columns(features_col)
    for column in columns:
        if column not in fields:
            raise ValueError(f"column {column!r} does not exist (columns: {', '.join(fields)})")
    first = fields[columns[0]]
    if len(columns) == 1 and isinstance(first, VectorUDT):
        # vector_to_array fails on a null with a JVM stack trace: keep nulls null, so
        # that they are counted and reported by name like any other null feature.
        column = F.col(columns[0])
        return F.when(column.isNull(), F.lit(None)).otherwise(vector_to_array(column, "float64"))
    if len(columns) == 1 and isinstance(first, T.ArrayType):
        if not isinstance(first.elementType, T.NumericType):
            raise ValueError(f"column {columns[0]!r} is {first.simpleString()}, not numeric")
        return F.col(columns[0]).cast("array<double>")
    for column in columns:
        if not isinstance(fields[column], T.NumericType):
            raise ValueError(
                f"column {column!r} is {fields[column].simpleString()}: features must be a "
                "vector, an array of numbers, or numeric columns"
            )
    any_null = (
        F.greatest(*[F.col(c).isNull() for c in columns])
        if len(columns) > 1
        else F.col(columns[0]).isNull()
    )
    return F.when(any_null, F.lit(None)).otherwise(
        F.array(*[F.col(c).cast("double") for c in columns])
    )


def weight_expression(df: DataFrame, weight_col: str | None):
    if not weight_col:
        return F.lit(1.0)
    fields = {f.name: f.dataType for f in df.schema.fields}
    if weight_col not in fields:
        raise ValueError(f"column {weight_col!r} does not exist (columns: {', '.join(fields)})")
    if not isinstance(fields[weight_col], T.NumericType):
        raise ValueError(f"weight column {weight_col!r} is not numeric")
    return F.col(weight_col).cast("double")


def valid_rows(df: DataFrame, features_col, weight_col: str | None) -> DataFrame:
    """The rows of ``df`` a fit uses (no null feature or weight), all columns kept."""
    column = vector_column(df, features_col)
    valid = (
        F.col(column).isNotNull() if column else features_expression(df, features_col).isNotNull()
    )
    if weight_col:
        valid = valid & weight_expression(df, weight_col).isNotNull()
    return df.where(valid)


@dataclass(frozen=True)
class Frame:
    """The prepared input: one features column (array<double>, or the vector column when
    ``sparse``) and one weight column, with the row count of each non-empty input
    partition (seen by ``spark_partition_id``) and, when sparse, its stored values."""

    df: DataFrame
    n_rows: int
    n_features: int
    n_skipped: int
    partition_rows: dict[int, int]
    sparse: bool = False
    partition_values: dict[int, int] | None = None
    zero_rows: int = 0  # all-zero vectors, counted for sparse columns only

    def largest_partition_bytes(self, tasks: int | None = None) -> int:
        """Bytes the rows of the largest partition take as float64 (dense) or CSR
        (sparse); with ``tasks``, of one of that many equal partitions."""
        rows = self.partition_rows.values()
        largest = max(rows) if tasks is None else math.ceil(self.n_rows / tasks)
        if not self.sparse:
            return largest * (self.n_features + 1) * 8
        values = self.partition_values.values()
        most = max(values) if tasks is None else math.ceil(sum(values) / tasks)
        return most * vectors.BYTES_PER_VALUE + largest * vectors.BYTES_PER_ROW

    @property
    def n_partitions(self) -> int:
        """At least this many partitions: empty trailing ones are not seen (a Python job
        per fit to count them costs ~1.5 s; a barrier stage too wide is retried instead)."""
        return max(self.partition_rows, default=-1) + 1

    @property
    def has_gaps(self) -> bool:
        """Some partition below the last non-empty one is empty (a skewed input)."""
        return len(self.partition_rows) < self.n_partitions

    @classmethod
    def prepare(cls, df: DataFrame, features_col, weight_col, handle_invalid: str) -> Frame:
        """Nulls, rows per partition and vector lengths from one JVM pass."""
        if handle_invalid not in ("error", "skip"):
            raise ValueError(f"handleInvalid must be 'error' or 'skip', got {handle_invalid!r}")
        column = sparse_vector_column(df, features_col)
        if column:
            return cls._prepare_sparse(df, column, weight_col, handle_invalid)
        prepared = df.select(
            features_expression(df, features_col).alias(FEATURES),
            weight_expression(df, weight_col).alias(WEIGHT),
        )
        names = ",".join(feature_columns(features_col))
        invalid = F.col(FEATURES).isNull() | F.col(WEIGHT).isNull()
        size = F.when(~invalid, F.size(FEATURES))
        counts = (
            prepared.select("*", F.spark_partition_id().alias(PARTITION))
            .groupBy(PARTITION)
            .agg(
                F.count(F.lit(1)).alias("n"),
                F.count(F.when(invalid, 1)).alias("bad"),
                F.min(size).alias("lo"),
                F.max(size).alias("hi"),
            )
            .collect()
        )
        n = sum(r["n"] for r in counts)
        bad = sum(r["bad"] for r in counts)
        _check_nulls(n, bad, names, weight_col, handle_invalid)
        if bad:
            prepared = prepared.dropna()
        lows = [r["lo"] for r in counts if r["lo"] is not None]
        highs = [r["hi"] for r in counts if r["hi"] is not None]
        lo, hi = min(lows), max(highs)
        if lo != hi:
            d = int(prepared.select(F.size(FEATURES).alias("d")).first()["d"])
            raise ValueError(f"feature vectors have {lo if lo != d else hi} values, expected {d}")
        per_partition = {int(r[PARTITION]): r["n"] - r["bad"] for r in counts if r["n"] > r["bad"]}
        return cls(prepared, n - bad, int(lo), bad, per_partition)

    @classmethod
    def _prepare_sparse(cls, df: DataFrame, column: str, weight_col, handle_invalid) -> Frame:
        """The vector column kept as is; nulls, sizes, stored values and NaNs counted in
        one Arrow pass (Spark SQL cannot look inside a vector)."""
        prepared = df.select(
            F.col(column).alias(FEATURES), weight_expression(df, weight_col).alias(WEIGHT)
        )
        counts = vectors.count_vectors(prepared)
        _check_nulls(counts.n, counts.bad, column, weight_col, handle_invalid)
        if counts.bad:
            prepared = prepared.dropna()
        if counts.lo != counts.hi:
            d = prepared.select(FEATURES).first()[0].size
            wrong = counts.lo if counts.lo != d else counts.hi
            raise ValueError(f"feature vectors have {wrong} values, expected {d}")
        if counts.nonfinite:
            raise ValueError(f"{counts.nonfinite} rows of {column!r} hold NaN or infinite values")
        n = counts.n - counts.bad
        frame = (prepared, n, counts.lo, counts.bad, counts.rows)
        return cls(*frame, True, counts.values, counts.zero)


def _check_nulls(n: int, bad: int, names: str, weight_col, handle_invalid: str) -> None:
    if bad and handle_invalid == "error":
        raise ValueError(
            f"{bad} rows have null values in {names!r}"
            + (f" or {weight_col!r}" if weight_col else "")
            + "; set handleInvalid='skip' to drop them"
        )
    if n == bad:
        raise ValueError(f"the DataFrame has no rows with features in {names!r}")
