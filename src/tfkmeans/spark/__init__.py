"""Spark (Databricks): SparkKMeans with Spark ML's conventions, on the one solver.

Works on classic sessions and on Spark Connect (Databricks serverless and standard
access): the driver uses only DataFrame operations and ``spark.conf``.

Two ways to run the same solver (``tfkmeans.lloyd.lloyd`` with Spark's tolerance
rule, ``initialization`` for k-means||) over a DataFrame's partitions:

- *resident*: one barrier stage (``mapInArrow(..., barrier=True)``). Each task converts
  its partition to a tensor once, then every task runs the whole fit, init included, on
  a ``BarrierSource`` that exchanges only small answers (k x d statistics, a few
  candidate rows) with the other tasks. All tasks combine the same answers in partition
  order, so they reach the same centres bit for bit; task 0 returns them.
- *per-iteration* (the fallback when the partitions do not fit the task slots or
  memory, or the barrier stage cannot run): a ``SparkSource`` whose every pass is a
  ``mapInArrow`` job, rows JVM -> Arrow -> tensors each time, answers added up on the
  driver.

Modules: ``params`` (the Spark ML params), ``frame`` (input checked and counted),
``cluster`` (task slots and memory), ``rows`` (executor side), ``exchange`` (resident
tasks' TCP exchange), ``partitioned`` (the Sources), ``fit`` (solver and mode choice),
``persistence`` (Spark ML's folder layout), ``estimator`` (the face).
"""

try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("tfkmeans.spark needs pyspark: pip install 'tfkmeans[spark]'") from exc

from tfkmeans.spark.estimator import SparkKMeans, SparkKMeansModel, SparkKMeansSummary
from tfkmeans.spark.partitioned import BarrierSource, SparkSource

__all__ = [
    "BarrierSource",
    "SparkKMeans",
    "SparkKMeansModel",
    "SparkKMeansSummary",
    "SparkSource",
]
