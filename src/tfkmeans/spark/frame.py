"""The driver's view of the input: features and weight as two columns, checked and
counted in one JVM pass (no Python, no ``df.rdd``: it works on Spark Connect too)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tfkmeans.spark.rows import FEATURES, WEIGHT

PARTITION = "__tfkm_partition"


def feature_columns(features_col) -> list[str]:
    return [features_col] if isinstance(features_col, str) else list(features_col)


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
    valid = features_expression(df, features_col).isNotNull()
    if weight_col:
        valid = valid & weight_expression(df, weight_col).isNotNull()
    return df.where(valid)


@dataclass(frozen=True)
class Frame:
    """The prepared input: one array<double> features column and one weight column, with
    the row count of each non-empty input partition (seen by ``spark_partition_id``)."""

    df: DataFrame
    n_rows: int
    n_features: int
    n_skipped: int
    partition_rows: dict[int, int]

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
        if bad and handle_invalid == "error":
            raise ValueError(
                f"{bad} rows have null values in {names!r}"
                + (f" or {weight_col!r}" if weight_col else "")
                + "; set handleInvalid='skip' to drop them"
            )
        if bad:
            prepared = prepared.dropna()
        if n == bad:
            raise ValueError(f"the DataFrame has no rows with features in {names!r}")
        lows = [r["lo"] for r in counts if r["lo"] is not None]
        highs = [r["hi"] for r in counts if r["hi"] is not None]
        lo, hi = min(lows), max(highs)
        if lo != hi:
            d = int(prepared.select(F.size(FEATURES).alias("d")).first()["d"])
            raise ValueError(f"feature vectors have {lo if lo != d else hi} values, expected {d}")
        per_partition = {int(r[PARTITION]): r["n"] - r["bad"] for r in counts if r["n"] > r["bad"]}
        return cls(prepared, n - bad, int(lo), bad, per_partition)
