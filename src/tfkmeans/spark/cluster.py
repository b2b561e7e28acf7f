"""What the cluster offers a barrier stage, from what every session has (``spark.conf``
and one tiny job): no ``sparkContext``, no JVM, so Spark Connect works the same."""

from __future__ import annotations

import re

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

# Per-task Python memory assumed available for a resident partition when
# spark.executor.pyspark.memory is not set.
DEFAULT_RESIDENT_BYTES = 2 << 30
_UNITS = {"b": 0, "k": 10, "kb": 10, "m": 20, "mb": 20, "g": 30, "gb": 30, "t": 40, "tb": 40}
_UNITS |= {"p": 50, "pb": 50}


def byte_size(value: str, default_unit: str = "m") -> int:
    """A Spark size string ('2g', '512m', '1024' in MiB for pyspark memory) in bytes."""
    found = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value)
    if not found or (found.group(2) or default_unit).lower() not in _UNITS:
        raise ValueError(f"cannot read {value!r} as a size (like '2g' or '512m')")
    return int(found.group(1)) << _UNITS[(found.group(2) or default_unit).lower()]


def task_slots(spark: SparkSession) -> int:
    """How many tasks can run at once: the default parallelism (the partition count of
    ``spark.range``, one cheap job) divided by spark.task.cpus."""
    cpus = int(spark.conf.get("spark.task.cpus", "1") or 1)
    top = (
        spark.range(0, 1 << 16)
        .select(F.spark_partition_id().alias("p"))
        .agg(F.max("p").alias("p"))
        .first()["p"]
    )
    return max((int(top) + 1) // cpus, 1)


def task_memory(spark: SparkSession) -> tuple[int, str]:
    """Bytes one task's Python worker may hold, and where that number comes from."""
    value = spark.conf.get("spark.executor.pyspark.memory", None)
    if not value:
        return DEFAULT_RESIDENT_BYTES, "spark.executor.pyspark.memory is not set"
    return byte_size(value), f"spark.executor.pyspark.memory={value}"
