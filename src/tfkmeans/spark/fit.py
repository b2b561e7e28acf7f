"""The fit, written once: on the driver (per-iteration) or in every task of one barrier
stage (resident), and the choice between the two."""

from __future__ import annotations

import contextlib
import io
import pickle
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame

from tfkmeans.sources import Source
from tfkmeans.spark import cluster
from tfkmeans.spark.exchange import TaskGroup
from tfkmeans.spark.frame import Frame
from tfkmeans.spark.partitioned import BarrierSource, SparkSource, read_partition
from tfkmeans.spark.rows import PAYLOAD_SCHEMA, set_threads

# A resident partition is held about this many times over while it is converted
# (Arrow batches, the concatenated NumPy rows or CSR blocks, the tensors).
RESIDENT_COPIES = 3
MODES = ("auto", "resident", "per-iteration")
# Spark refuses a barrier stage over an RDD chain whose partition count changes within the
# stage (SPARK-24820: coalesce, union, limit, sample), with BarrierJobUnsupportedRDDChain-
# Exception; on a Spark Connect server (4.3) that failure even stops the SparkContext. So
# such a plan is found in the physical plan beforehand and gets a shuffle in front.
CHAIN_ERROR = "BarrierJobUnsupportedRDDChainException"
# A barrier stage wider than the cluster's task slots is refused (SPARK-24819) without
# harm to the session (classic and Connect): the partition count a fit sees leaves out
# trailing empty partitions (Connect has no df.rdd), so such an input is cut and retried.
SLOTS_ERROR = "SPARK-24819"
CHAIN_NODES = re.compile(r"\b(Coalesce|Union|\w*Limit|Sample|PartitionPruning)\b")


@dataclass(frozen=True)
class Plan:
    k: int
    max_iter: int
    tol: float
    init_mode: str
    init_steps: int
    seed: int
    cosine: bool
    initial: np.ndarray | None  # user coordinates


@dataclass(frozen=True)
class Fitted:
    centers: np.ndarray  # user coordinates
    n_iter: int
    cost: float
    mode: str = "per-iteration"
    fallback_reason: str = ""


def solve(source: Source, plan: Plan) -> Fitted:
    """Initial centres, Lloyd's iterations (Spark's tolerance rule) and the final cost."""
    from tfkmeans.initialization import initial_centers, kmeans_parallel
    from tfkmeans.lloyd import lloyd, unit_sphere

    random_state = np.random.RandomState(plan.seed)
    if plan.initial is not None:
        centers = plan.initial - source.origin
    elif plan.init_mode == "k-means||":
        centers = kmeans_parallel(source, plan.k, random_state, n_steps=plan.init_steps)
    else:
        centers = initial_centers(source, plan.k, "random", random_state)
    normalize = unit_sphere(source.origin) if plan.cosine else None
    if normalize is not None:
        centers = normalize(centers)
    result = lloyd(
        source, centers, max_iter=plan.max_iter, tol=plan.tol, tol_rule="spark", normalize=normalize
    )
    cost = source.cost(result.centers)
    return Fitted(
        result.centers + source.origin, result.n_iter, 0.5 * cost if plan.cosine else cost
    )


def fit_resident(df: DataFrame, n_features: int, plan: Plan, sparse: bool = False) -> Fitted:
    """The whole fit in one barrier stage: one task per partition, each partition converted
    once (to a tensor, or to CSR tensors when ``sparse``) and kept for every pass."""
    token = secrets.token_bytes(16)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import BarrierTaskContext

        context = BarrierTaskContext.get()
        set_threads(context.cpus())
        # Finding task 0 waits for every task (and Spark's allGather sleeps in 1 s steps):
        # that wait overlaps the conversion of this partition.
        with ThreadPoolExecutor(1) as pool:
            joining = pool.submit(TaskGroup, context, token)
            found = read_partition(batches, n_features, plan.cosine, sparse)
            group = joining.result()
        try:
            fitted = solve(BarrierSource(found, group, n_features, sparse), plan)
        finally:
            group.close()
        if group.rank == 0:
            yield pa.RecordBatch.from_pylist([{"payload": pickle.dumps(fitted, protocol=5)}])

    # Spark cannot retry a failed barrier *result* stage; a one-row shuffle after it makes
    # it a map stage, which Spark starts again as a whole when one of its tasks fails.
    (row,) = df.mapInArrow(run, PAYLOAD_SCHEMA, barrier=True).repartition(1).collect()
    fitted = pickle.loads(row["payload"])
    return Fitted(fitted.centers, fitted.n_iter, fitted.cost, mode="resident")


def fit_per_iteration(frame: Frame, plan: Plan, reason: str, slots: int | None = None) -> Fitted:
    """Every pass one job. More partitions than task slots are merged (``coalesce``, no
    shuffle) before the rows are cached: each pass then starts one Python task per slot
    instead of one per partition."""
    if slots is None:
        slots = cluster.task_slots(frame.df.sparkSession)
    if frame.n_partitions > slots:
        frame = replace(frame, df=frame.df.coalesce(slots))
    source = SparkSource.from_frame(frame, unit_rows=plan.cosine)
    try:
        fitted = solve(source, plan)
    finally:
        source.df.unpersist()
    return Fitted(fitted.centers, fitted.n_iter, fitted.cost, fallback_reason=reason)


def unsupported_chain(df: DataFrame) -> str | None:
    """The plan node that a barrier stage over ``df`` cannot run over, if any (read from
    ``explain``, which classic and Connect sessions both print)."""
    plan = io.StringIO()
    with contextlib.redirect_stdout(plan):
        df.explain()
    found = CHAIN_NODES.search(plan.getvalue())
    return found.group(1) if found else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def fit(frame: Frame, plan: Plan, mode: str) -> Fitted:
    """Resident wherever it can run (``auto``), else per-iteration with the reason why."""
    if mode == "per-iteration":
        return fit_per_iteration(frame, plan, "executionMode='per-iteration'")
    spark = frame.df.sparkSession
    slots = cluster.task_slots(spark)
    df, cut = frame.df, False
    if frame.n_partitions > slots or frame.has_gaps or unsupported_chain(df):
        # A barrier stage needs all its tasks at once (and empty partitions hint at more
        # unseen ones). One shuffle to the slot count moves the rows through the JVM once;
        # per-iteration moves them every pass.
        df, cut = df.repartition(slots), True
    need = frame.largest_partition_bytes(slots if cut else None) * RESIDENT_COPIES
    budget, source = cluster.task_memory(spark)
    if mode == "auto" and need > budget:
        return fit_per_iteration(
            frame,
            plan,
            f"a resident partition needs about {need:,} bytes per task, more than "
            f"the {budget:,} allowed ({source})",
            slots,
        )
    try:
        try:
            return fit_resident(df, frame.n_features, plan, frame.sparse)
        except Exception as exc:
            if not any(e in str(exc) for e in (CHAIN_ERROR, SLOTS_ERROR)) or cut:
                raise
            return fit_resident(frame.df.repartition(slots), frame.n_features, plan, frame.sparse)
    except Exception as exc:  # noqa: BLE001 - Spark's errors differ between Connect and classic
        if mode != "auto":
            raise
        return fit_per_iteration(
            frame, plan, f"the resident barrier stage failed ({_first_line(exc)})", slots
        )
