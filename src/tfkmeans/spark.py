"""Spark (Databricks): SparkKMeans with Spark ML's conventions, on the one solver.

Two ways to run the same solver (``tfkmeans.lloyd.lloyd`` with Spark's tolerance
rule, ``initialization`` for k-means||) over a DataFrame's partitions:

- *resident*: one barrier stage. Each task converts its partition to a tensor
  once, then every task runs the whole fit, init included, on a ``BarrierSource``
  that exchanges only small answers (k x d statistics, a few candidate rows) with
  the other tasks. All tasks combine the same answers in partition order, so they
  reach the same centres bit for bit; task 0 returns them.
- *per-iteration* (the fallback when the partitions do not fit the task slots or
  memory): a ``SparkSource`` whose every pass is a ``mapInArrow`` job, rows JVM ->
  Arrow -> tensors each time, answers added up on the driver.

Both are ``_PartitionedSource``: a question is asked of each partition (an
``InMemory`` source) and the answers are combined once, by the same code.
"""

from __future__ import annotations

import abc
import hmac
import json
import math
import os
import pickle
import secrets
import socket
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tfkmeans.sources import InMemory, PartialStats, Source

try:
    import pyarrow as pa
    from pyspark import keyword_only
    from pyspark.ml import Estimator, Model
    from pyspark.ml.param import Param, Params, TypeConverters
    from pyspark.ml.param.shared import (
        HasDistanceMeasure,
        HasFeaturesCol,
        HasHandleInvalid,
        HasMaxIter,
        HasPredictionCol,
        HasSeed,
        HasTol,
        HasWeightCol,
    )
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("tfkmeans.spark needs pyspark: pip install 'tfkmeans[spark]'") from exc

FEATURES, WEIGHT = "__tfkm_features", "__tfkm_weight"
# One binary column carries each partition's pickled answer (or the resident fit) back.
PAYLOAD_SCHEMA = T.StructType([T.StructField("payload", T.BinaryType())])
# Per-task Python memory assumed available for a resident partition when
# spark.executor.pyspark.memory is not set.
DEFAULT_RESIDENT_BYTES = 2 << 30
# A resident partition is held about this many times over while it is converted
# (Arrow batches, the concatenated NumPy rows, the tensor).
RESIDENT_COPIES = 3
# Seconds a resident task waits for the others at one exchange before it fails.
GATHER_TIMEOUT_S = 1800.0
MODES = ("auto", "resident", "per-iteration")


# -- executor side: Arrow batches to rows ---------------------------------------------------


def _rows_of(batch: pa.RecordBatch, n_features: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    features = batch.column(batch.schema.get_field_index(FEATURES))
    lengths = np.asarray(features.value_lengths() if hasattr(features, "value_lengths") else [])
    if len(lengths) and (lengths != n_features).any():
        raise ValueError(
            f"feature vectors have {int(lengths[lengths != n_features][0])} values, "
            f"expected {n_features}"
        )
    flat = features.flatten().to_numpy(zero_copy_only=False)
    rows = flat.reshape(len(features), n_features).astype(dtype, copy=False)
    weights = batch.column(batch.schema.get_field_index(WEIGHT)).to_numpy(zero_copy_only=False)
    return rows, weights.astype(dtype, copy=False)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("distanceMeasure='cosine' needs non-zero feature vectors")
    return rows / norms


def _partition(
    batches: Iterator[pa.RecordBatch], n_features: int, unit: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """All rows (float64, unit norm for cosine) and weights of a partition; None if empty."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows, weights = [], []
    for batch in batches:
        if batch.num_rows:
            chunk, chunk_weights = _rows_of(batch, n_features, np.float64)
            rows.append(_unit(chunk) if unit else chunk)
            weights.append(chunk_weights)
    if not rows:
        return None
    return np.concatenate(rows), np.concatenate(weights)


# -- one question per partition, answers combined in partition order --------------------------

# ``question(part, partition_index)``: ``part`` is the partition as an InMemory source
# (centred by the global origin once it is known); the answer is small and picklable.
Question = Callable[[InMemory, int], object]


class _PartitionedSource(Source):
    """Rows split into partitions. Every Source question is asked of each non-empty
    partition and the answers are combined here, in partition order, so that the
    driver (per-iteration) and every resident task combine them identically."""

    dtype = np.dtype(np.float64)  # Spark ML vectors are doubles
    n_skipped = 0

    @abc.abstractmethod
    def _each(self, question: Question) -> list:
        """The answers of every non-empty partition, in partition order."""

    def _moments(self) -> tuple[int, np.ndarray, float, float]:
        """n, origin, mean variance and total weight, merged with Chan's pairwise update."""

        def local(part: InMemory, index: int):
            from tfkmeans import kernels

            mean, var = kernels.moments(part.rows)
            n = part.n_rows
            return n, mean.numpy(), var.numpy() * n, part.total_weight

        count, mean, m2, total = 0, np.zeros(self.n_features), np.zeros(self.n_features), 0.0
        for n, chunk_mean, chunk_m2, weight in self._each(local):
            combined = count + n
            delta = chunk_mean - mean
            mean = mean + delta * (n / combined)
            m2 = m2 + chunk_m2 + delta**2 * (count * n / combined)
            count, total = combined, total + weight
        return count, mean, float(np.mean(m2 / count)), total

    @property
    def n_rows(self) -> int:
        return self._summary[0]

    @property
    def origin(self) -> np.ndarray:
        return self._summary[1]

    @property
    def mean_variance(self) -> float:
        return self._summary[2]

    @property
    def total_weight(self) -> float:
        return self._summary[3]

    # -- the Source questions ----------------------------------------------------------------

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        total = PartialStats(np.zeros(centers.shape), np.zeros(len(centers)), 0.0)
        for stats in self._each(lambda part, index: part.partial_stats(centers)):
            total = total + stats
        return total

    def assign(self, centers: np.ndarray):
        raise NotImplementedError(
            "a Spark source does not stream labels to the driver: use transform"
        )

    def cost(self, centers: np.ndarray) -> float:
        return float(sum(self._each(lambda part, index: part.cost(centers))))

    def weight_per_center(self, centers: np.ndarray) -> np.ndarray:
        answers = self._each(lambda part, index: part.weight_per_center(centers))
        return np.sum(answers, axis=0) if answers else np.zeros(len(centers))

    def oversample(self, centers: np.ndarray, factor: float, cost: float, seed: int) -> np.ndarray:
        """Each partition draws from its own generator, seeded by seed + partition index."""

        def local(part: InMemory, index: int) -> np.ndarray:
            return part.oversample(centers, factor, cost, (seed + index) % 2**31)

        picked = self._each(local)
        return np.vstack(picked) if picked else np.empty((0, self.n_features))

    def farthest(self, centers: np.ndarray, m: int):
        def local(part: InMemory, index: int):
            (found,) = part.assign(centers)
            top = np.argsort(-found.sq_distances, kind="stable")[:m]
            rows, weights = part.take(top)
            return rows, weights, found.labels[top], found.sq_distances[top]

        rows, weights, labels, sq = (
            np.concatenate(a) for a in zip(*self._each(local), strict=True)
        )
        best = np.argsort(-sq, kind="stable")[:m]
        return rows[best], weights[best], labels[best]

    def sample(self, m: int, random_state: np.random.RandomState):
        """Up to m rows, chosen by a seeded random key per row (the m smallest keys)."""
        seed = int(random_state.randint(2**31 - 1))

        def local(part: InMemory, index: int):
            keys = np.random.RandomState((seed + index) % 2**31).uniform(size=part.n_rows)
            top = np.argsort(keys, kind="stable")[:m]
            rows, weights = part.take(top)
            return rows, weights, keys[top]

        rows, weights, keys = (np.concatenate(a) for a in zip(*self._each(local), strict=True))
        best = np.argsort(keys, kind="stable")[:m]
        return rows[best], weights[best]


# -- per-iteration: every question is one Spark job ----------------------------------------


class SparkSource(_PartitionedSource):
    """Rows of a Spark DataFrame, prepared (features + weight) and cached once; every
    question is a ``mapInArrow`` job that converts each partition again."""

    def __init__(
        self,
        df: DataFrame,
        features_col="features",
        weight_col: str | None = None,
        handle_invalid: str = "error",
        unit_rows: bool = False,
    ) -> None:
        self._start(_Frame.prepare(df, features_col, weight_col, handle_invalid), unit_rows)

    @classmethod
    def from_frame(cls, frame: _Frame, unit_rows: bool = False) -> SparkSource:
        source = cls.__new__(cls)
        source._start(frame, unit_rows)
        return source

    def _start(self, frame: _Frame, unit_rows: bool) -> None:
        self.unit_rows = unit_rows
        self.n_features, self.n_skipped = frame.n_features, frame.n_skipped
        self.df = frame.df.cache()
        self._summary = None
        self._summary = self._moments()

    def _each(self, question: Question) -> list:
        n_features, unit = self.n_features, self.unit_rows
        origin = None if self._summary is None else self.origin

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            from pyspark import TaskContext

            _set_threads(TaskContext.get().cpus())
            found = _partition(batches, n_features, unit)
            if found is not None:
                part = InMemory(found[0], found[1], dtype=np.float64, origin=origin)
                answer = question(part, TaskContext.get().partitionId())
                yield pa.RecordBatch.from_pylist([{"payload": pickle.dumps(answer, protocol=5)}])

        rows = self.df.mapInArrow(run, PAYLOAD_SCHEMA).collect()
        return [pickle.loads(row["payload"]) for row in rows]


# -- resident: one barrier stage, answers exchanged between its tasks ------------------------


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!Q", len(payload)) + payload)


def _receive(sock: socket.socket) -> bytes:
    def exactly(size: int) -> bytes:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = sock.recv_into(view[got:])
            if not n:
                raise ConnectionError("a resident k-means task closed its connection")
            got += n
        return bytes(buffer)

    (size,) = struct.unpack("!Q", exactly(8))
    return exactly(size)


class _TaskGroup:
    """The tasks of one barrier stage, exchanging answers through task 0 over TCP.

    Spark's ``BarrierTaskContext.allGather`` waits in steps of one second
    (``Thread.sleep(1000)`` in ``BarrierTaskContext.runBarrier``), far too slow for an
    exchange per Lloyd iteration; it is used once, to publish task 0's port. Peers
    prove they belong to this fit with a random token the driver made.
    """

    def __init__(self, context, token: bytes, timeout: float = GATHER_TIMEOUT_S) -> None:
        infos = context.getTaskInfos()
        self.rank, self.size = context.partitionId(), len(infos)
        self._peers: list[socket.socket] = []
        if self.size == 1:
            return
        host = infos[0].address.rsplit(":", 1)[0]
        server = None
        if self.rank == 0:
            server = socket.create_server(("", 0))
            server.settimeout(timeout)
        port = context.allGather(str(server.getsockname()[1]) if server else "")[0]
        if server is None:
            hub = socket.create_connection((host, int(port)), timeout=timeout)
            _send(hub, token + struct.pack("!I", self.rank))
            self._peers = [hub]
            return
        by_rank: dict[int, socket.socket] = {}
        with server:
            while len(by_rank) < self.size - 1:
                conn, _ = server.accept()
                conn.settimeout(timeout)
                hello = _receive(conn)
                if not hmac.compare_digest(hello[: len(token)], token):
                    conn.close()  # not one of ours
                    continue
                by_rank[struct.unpack("!I", hello[len(token) :])[0]] = conn
        self._peers = [by_rank[rank] for rank in range(1, self.size)]

    def all_gather(self, value: object) -> list:
        """Every task's value, in task (= partition) order, identical on every task."""
        payloads = [pickle.dumps(value, protocol=5)]
        if self.rank == 0:
            payloads += [_receive(peer) for peer in self._peers]
            bundle = pickle.dumps(payloads, protocol=5)
            for peer in self._peers:
                _send(peer, bundle)
        elif self._peers:
            _send(self._peers[0], payloads[0])
            payloads = pickle.loads(_receive(self._peers[0]))
        return [pickle.loads(p) for p in payloads]

    def close(self) -> None:
        for peer in self._peers:
            peer.close()


class BarrierSource(_PartitionedSource):
    """This barrier task's partition, resident as a tensor, and the other tasks' answers."""

    def __init__(
        self, found: tuple[np.ndarray, np.ndarray] | None, group: _TaskGroup, n_features: int
    ) -> None:
        self.n_features, self.group = n_features, group
        self._part = None if found is None else InMemory(found[0], found[1], dtype=np.float64)
        self._summary = self._moments()
        if found is not None:  # centred by the global origin from now on
            self._part = InMemory(found[0], found[1], dtype=np.float64, origin=self.origin)

    def _each(self, question: Question) -> list:
        answer = None if self._part is None else question(self._part, self.group.rank)
        return [a for a in self.group.all_gather(answer) if a is not None]


# -- the fit, written once: on the driver (per-iteration) or in every resident task ----------


@dataclass(frozen=True)
class _Plan:
    k: int
    max_iter: int
    tol: float
    init_mode: str
    init_steps: int
    seed: int
    cosine: bool
    initial: np.ndarray | None  # user coordinates


@dataclass(frozen=True)
class _Fitted:
    centers: np.ndarray  # user coordinates
    n_iter: int
    cost: float
    sizes: list[int]


def _solve(source: Source, plan: _Plan) -> _Fitted:
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
    stats = source.partial_stats(result.centers)
    cost = source.cost(result.centers)
    return _Fitted(
        result.centers + source.origin,
        result.n_iter,
        0.5 * cost if plan.cosine else cost,
        [int(round(w)) for w in stats.weights],
    )


def _set_threads(cpus: int) -> None:
    """TensorFlow's thread pools sized to the task's cores, when TF has not started yet."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)
    except RuntimeError:
        pass  # this reused Python worker started TensorFlow already


def _fit_resident(df: DataFrame, n_features: int, plan: _Plan) -> _Fitted:
    """The whole fit in one barrier stage: one task per partition, each partition converted once."""
    token = secrets.token_bytes(16)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import BarrierTaskContext

        context = BarrierTaskContext.get()
        _set_threads(context.cpus())
        # Finding task 0 waits for every task (and Spark's allGather sleeps in 1 s steps):
        # that wait overlaps the conversion of this partition.
        with ThreadPoolExecutor(1) as pool:
            joining = pool.submit(_TaskGroup, context, token)
            found = _partition(batches, n_features, plan.cosine)
            group = joining.result()
        try:
            fitted = _solve(BarrierSource(found, group, n_features), plan)
        finally:
            group.close()
        if group.rank == 0:
            yield pa.RecordBatch.from_pylist([{"payload": pickle.dumps(fitted, protocol=5)}])

    # Spark cannot retry a failed barrier *result* stage; a one-row shuffle after it makes
    # it a map stage, which Spark starts again as a whole when one of its tasks fails.
    (row,) = df.mapInArrow(run, PAYLOAD_SCHEMA, barrier=True).repartition(1).collect()
    return pickle.loads(row["payload"])


# -- the driver: input checked and counted once, then a mode chosen --------------------------


@dataclass(frozen=True)
class _Frame:
    """The prepared input: one array<double> features column and one weight column."""

    df: DataFrame
    n_rows: int
    n_features: int
    n_skipped: int

    @classmethod
    def prepare(cls, df: DataFrame, features_col, weight_col, handle_invalid: str) -> _Frame:
        """Nulls, row count and vector lengths from one JVM pass (no Python involved)."""
        if handle_invalid not in ("error", "skip"):
            raise ValueError(f"handleInvalid must be 'error' or 'skip', got {handle_invalid!r}")
        prepared = _prepare(df, features_col, weight_col)
        names = features_col if isinstance(features_col, str) else ",".join(features_col)
        invalid = F.col(FEATURES).isNull() | F.col(WEIGHT).isNull()
        size = F.when(~invalid, F.size(FEATURES))
        counts = prepared.agg(
            F.count(F.lit(1)).alias("n"),
            F.count(F.when(invalid, 1)).alias("bad"),
            F.min(size).alias("lo"),
            F.max(size).alias("hi"),
        ).first()
        if counts["bad"] and handle_invalid == "error":
            raise ValueError(
                f"{counts['bad']} rows have null values in {names!r}"
                + (f" or {weight_col!r}" if weight_col else "")
                + "; set handleInvalid='skip' to drop them"
            )
        if counts["bad"]:
            prepared = prepared.dropna()
        if counts["n"] == counts["bad"]:
            raise ValueError(f"the DataFrame has no rows with features in {names!r}")
        d = int(prepared.select(F.size(FEATURES).alias("d")).first()["d"])
        if counts["lo"] != counts["hi"]:
            other = counts["lo"] if counts["lo"] != d else counts["hi"]
            raise ValueError(f"feature vectors have {other} values, expected {d}")
        return cls(prepared, counts["n"] - counts["bad"], d, counts["bad"])


def _task_slots(spark: SparkSession) -> int:
    """How many tasks can run at once: Spark's own count for barrier stages, or the
    default parallelism divided by spark.task.cpus."""
    sc = spark.sparkContext
    try:
        jsc = sc._jsc.sc()
        profile = jsc.resourceProfileManager().defaultResourceProfile()
        return max(int(jsc.maxNumConcurrentTasks(profile)), 1)
    except Exception:  # noqa: BLE001 - a private API; the public estimate is close enough
        cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        return max(sc.defaultParallelism // cpus, 1)


def _task_memory(spark: SparkSession) -> tuple[int, str]:
    """Bytes one task's Python worker may hold, and where that number comes from."""
    sc = spark.sparkContext
    value = sc.getConf().get("spark.executor.pyspark.memory")
    if value is None:
        return DEFAULT_RESIDENT_BYTES, "spark.executor.pyspark.memory is not set"
    size = int(sc._jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(value))
    return size, f"spark.executor.pyspark.memory={value}"


def _resident_frame(frame: _Frame, mode: str) -> tuple[DataFrame | None, str]:
    """The DataFrame a resident fit runs on (partitions cut to the task slots), or None
    and the reason the per-iteration mode runs instead."""
    if mode == "per-iteration":
        return None, "executionMode='per-iteration'"
    spark = frame.df.sparkSession
    slots = _task_slots(spark)
    df = frame.df
    if df.rdd.getNumPartitions() > slots:
        # A barrier stage needs all its tasks at once. One shuffle to the slot count
        # moves the rows through the JVM once; per-iteration moves them every pass.
        df = df.repartition(slots)
    tasks = min(df.rdd.getNumPartitions(), slots)
    need = math.ceil(frame.n_rows / tasks) * (frame.n_features + 1) * 8 * RESIDENT_COPIES
    budget, source = _task_memory(spark)
    if mode == "auto" and need > budget:
        return None, (
            f"a resident partition needs about {need:,} bytes per task, more than "
            f"the {budget:,} allowed ({source})"
        )
    return df, ""


def _features_expression(df: DataFrame, features_col):
    """An array<double> expression of the features; null when any feature is null."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    fields = {f.name: f.dataType for f in df.schema.fields}
    columns = [features_col] if isinstance(features_col, str) else list(features_col)
    for column in columns:
        if column not in fields:
            raise ValueError(f"column {column!r} does not exist (columns: {', '.join(fields)})")
    first = fields[columns[0]]
    if len(columns) == 1 and isinstance(first, VectorUDT):
        return vector_to_array(F.col(columns[0]), "float64")
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


def _prepare(df: DataFrame, features_col, weight_col) -> DataFrame:
    """One array<double> features column and one double weight column."""
    features = _features_expression(df, features_col)
    if weight_col:
        fields = {f.name: f.dataType for f in df.schema.fields}
        if weight_col not in fields:
            raise ValueError(f"column {weight_col!r} does not exist (columns: {', '.join(fields)})")
        if not isinstance(fields[weight_col], T.NumericType):
            raise ValueError(f"weight column {weight_col!r} is not numeric")
        weight = F.col(weight_col).cast("double")
    else:
        weight = F.lit(1.0)
    return df.select(features.alias(FEATURES), weight.alias(WEIGHT))


# -- the Spark ML face -----------------------------------------------------------------------


class _SparkKMeansParams(
    HasFeaturesCol,
    HasPredictionCol,
    HasMaxIter,
    HasTol,
    HasSeed,
    HasWeightCol,
    HasDistanceMeasure,
    HasHandleInvalid,
):
    k = Param(Params._dummy(), "k", "number of clusters (> 1)", typeConverter=TypeConverters.toInt)
    initMode = Param(
        Params._dummy(),
        "initMode",
        "'k-means||' or 'random'",
        typeConverter=TypeConverters.toString,
    )
    initSteps = Param(
        Params._dummy(), "initSteps", "k-means|| passes (> 0)", typeConverter=TypeConverters.toInt
    )
    executionMode = Param(
        Params._dummy(),
        "executionMode",
        "'auto' (resident when the partitions fit the task slots and memory), 'resident' "
        "(one barrier stage, each partition converted to a tensor once) or 'per-iteration' "
        "(one Spark job per pass)",
        typeConverter=TypeConverters.toString,
    )
    featuresCols = Param(
        Params._dummy(),
        "featuresCols",
        "numeric feature columns, used instead of featuresCol when set",
        typeConverter=TypeConverters.toListString,
    )

    def _features(self):
        """featuresCols when set (several numeric columns), else featuresCol."""
        if self.isSet(self.featuresCols):
            return self.getOrDefault(self.featuresCols)
        return self.getFeaturesCol()

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            k=2,
            maxIter=20,
            tol=1e-4,
            initMode="k-means||",
            initSteps=2,
            distanceMeasure="euclidean",
            handleInvalid="error",
            featuresCol="features",
            predictionCol="prediction",
            executionMode="auto",
        )

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getInitMode(self) -> str:
        return self.getOrDefault(self.initMode)

    def getInitSteps(self) -> int:
        return self.getOrDefault(self.initSteps)

    def getExecutionMode(self) -> str:
        return self.getOrDefault(self.executionMode)


class SparkKMeans(Estimator, _SparkKMeansParams):
    """k-means on a Spark DataFrame with pyspark.ml.clustering.KMeans' params and defaults.

    ``tol`` is Spark's: every centre moved less than ``tol`` (absolute). Unlike Spark,
    an empty cluster takes the farthest row, so k distinct points give k centres.
    """

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol="features",
        featuresCols=None,
        predictionCol="prediction",
        k=2,
        initMode="k-means||",
        initSteps=2,
        tol=1e-4,
        maxIter=20,
        seed=None,
        distanceMeasure="euclidean",
        weightCol=None,
        handleInvalid="error",
        executionMode="auto",
    ):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        return self._set(**kwargs)

    def setK(self, value: int):
        return self._set(k=value)

    def setSeed(self, value: int):
        return self._set(seed=value)

    def setMaxIter(self, value: int):
        return self._set(maxIter=value)

    def setExecutionMode(self, value: str):
        return self._set(executionMode=value)

    def setInitialModel(self, centers):
        """Start from given centres (an array or a fitted model), as mllib's KMeans allows."""
        if isinstance(centers, SparkKMeansModel):
            centers = np.array(centers.clusterCenters())
        self._initial = np.asarray(centers, dtype=np.float64)
        return self

    def _check(self, n_rows: int) -> None:
        k = self.getK()
        if k < 2:
            raise ValueError(f"k must be greater than 1, got {k}")
        if k > n_rows:
            raise ValueError(f"k={k} is larger than the {n_rows} rows of the DataFrame")
        if self.getInitMode() not in ("k-means||", "random"):
            raise ValueError(
                f"initMode must be 'k-means||' or 'random', got {self.getInitMode()!r}"
            )
        if self.getOrDefault(self.distanceMeasure) not in ("euclidean", "cosine"):
            raise ValueError("distanceMeasure must be 'euclidean' or 'cosine'")
        if self.getExecutionMode() not in MODES:
            raise ValueError(
                f"executionMode must be one of {', '.join(map(repr, MODES))}, "
                f"got {self.getExecutionMode()!r}"
            )

    def _plan(self, n_features: int) -> _Plan:
        k = self.getK()
        initial = getattr(self, "_initial", None)
        if initial is not None and initial.shape != (k, n_features):
            raise ValueError(
                f"initial centres have shape {initial.shape}, expected ({k}, {n_features})"
            )
        seed = self.getOrDefault(self.seed) if self.isDefined(self.seed) else None
        return _Plan(
            k=k,
            max_iter=self.getMaxIter(),
            tol=self.getTol(),
            init_mode=self.getInitMode(),
            init_steps=self.getInitSteps(),
            # Every resident task draws the same numbers, so the seed is fixed here.
            seed=int(np.random.randint(2**31)) if seed is None else seed % 2**32,
            cosine=self.getOrDefault(self.distanceMeasure) == "cosine",
            initial=initial,
        )

    def _fit(self, dataset: DataFrame) -> SparkKMeansModel:
        weight_col = self.getOrDefault(self.weightCol) if self.isSet(self.weightCol) else None
        frame = _Frame.prepare(
            dataset, self._features(), weight_col, self.getOrDefault(self.handleInvalid)
        )
        self._check(frame.n_rows)
        plan = self._plan(frame.n_features)
        resident, reason = _resident_frame(frame, self.getExecutionMode())
        if resident is not None:
            fitted = _fit_resident(resident, frame.n_features, plan)
        else:
            source = SparkSource.from_frame(frame, unit_rows=plan.cosine)
            try:
                fitted = _solve(source, plan)
            finally:
                source.df.unpersist()
        model = SparkKMeansModel(fitted.centers)
        model._summary = SparkKMeansSummary(
            k=plan.k,
            trainingCost=fitted.cost,
            clusterSizes=fitted.sizes,
            numIter=fitted.n_iter,
            numSkipped=frame.n_skipped,
            executionMode="resident" if resident is not None else "per-iteration",
            fallbackReason=reason,
        )
        return self._copyValues(model)


class SparkKMeansSummary:
    """What Spark's KMeansSummary reports (trainingCost, clusterSizes, numIter, k), plus
    how the fit ran: ``executionMode`` ('resident' or 'per-iteration') and, for a
    per-iteration fit, ``fallbackReason``."""

    def __init__(
        self,
        k,
        trainingCost,
        clusterSizes,
        numIter,
        numSkipped=0,
        executionMode="per-iteration",
        fallbackReason="",
    ):
        self.k, self.trainingCost, self.clusterSizes = k, trainingCost, clusterSizes
        self.numIter, self.numSkipped = numIter, numSkipped
        self.executionMode, self.fallbackReason = executionMode, fallbackReason


class SparkKMeansModel(Model, _SparkKMeansParams):
    """A fitted SparkKMeans: centres, transform on the executors, save/load."""

    def __init__(self, centers=None):
        super().__init__()
        self._centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self._summary: SparkKMeansSummary | None = None

    def clusterCenters(self) -> list[np.ndarray]:
        return [c.copy() for c in self._centers]

    @property
    def hasSummary(self) -> bool:
        return self._summary is not None

    @property
    def summary(self) -> SparkKMeansSummary:
        if self._summary is None:
            raise RuntimeError("no training summary: this model was loaded, not fitted")
        return self._summary

    def predict(self, value) -> int:
        x = np.asarray(value.toArray() if hasattr(value, "toArray") else value, dtype=np.float64)
        if self.getOrDefault(self.distanceMeasure) == "cosine":
            x = x / np.linalg.norm(x)
        return int(np.argmin(((self._centers - x) ** 2).sum(axis=1)))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        features = _features_expression(dataset, self._features())
        centers, out_col = self._centers, self.getPredictionCol()
        unit = self.getOrDefault(self.distanceMeasure) == "cosine"
        n_features = centers.shape[1]
        keep = list(dataset.columns)
        joined = dataset.select("*", features.alias(FEATURES), F.lit(1.0).alias(WEIGHT))
        schema = T.StructType(joined.schema.fields + [T.StructField(out_col, T.IntegerType())])

        def run(batches):
            import os

            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import tensorflow as tf

            from tfkmeans import kernels

            origin = centers.mean(axis=0)
            for batch in batches:
                if batch.column(batch.schema.get_field_index(FEATURES)).null_count:
                    raise ValueError(f"null feature values in {self._features()!r}")
                labels = np.zeros(batch.num_rows, np.int32)
                if batch.num_rows:
                    rows, _ = _rows_of(batch, n_features, np.float64)
                    rows = _unit(rows) if unit else rows
                    found, _ = kernels.assign(
                        tf.constant(rows), tf.constant(origin), tf.constant(centers - origin)
                    )
                    labels = found.numpy()
                yield batch.append_column(out_col, pa.array(labels, pa.int32()))

        return joined.mapInArrow(run, schema).select(*keep, out_col)

    # -- persistence: Spark's layout (metadata JSON + Parquet data) ------------------------------

    def save(self, path: str) -> None:
        self.write().save(path)

    def write(self):
        return _ModelWriter(self)

    @classmethod
    def load(cls, path: str) -> SparkKMeansModel:
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        meta = json.loads(spark.read.text(f"{path}/metadata").first()[0])
        data = spark.read.parquet(f"{path}/data").orderBy("clusterIdx").collect()
        model = cls(np.array([list(r["clusterCenter"]) for r in data], dtype=np.float64))
        for name, value in meta.get("paramMap", {}).items():
            if model.hasParam(name) and value is not None:
                model._set(**{name: value})
        return model


class _ModelWriter:
    def __init__(self, model: SparkKMeansModel) -> None:
        self.model, self._overwrite = model, False

    def overwrite(self):
        self._overwrite = True
        return self

    def save(self, path: str) -> None:
        import pyspark

        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        mode = "overwrite" if self._overwrite else "errorifexists"
        params = {
            p.name: self.model.getOrDefault(p)
            for p in self.model.params
            if self.model.isDefined(p) and p.name != "seed"
        }
        meta = {
            "class": "tfkmeans.spark.SparkKMeansModel",
            "format": "tfkmeans.SparkKMeansModel",
            "version": 1,
            "sparkVersion": pyspark.__version__,
            "uid": self.model.uid,
            "paramMap": params,
        }
        spark.createDataFrame([(json.dumps(meta),)], "value string").coalesce(1).write.mode(
            mode
        ).text(f"{path}/metadata")
        rows = [(i, [float(v) for v in c]) for i, c in enumerate(self.model._centers)]
        spark.createDataFrame(rows, "clusterIdx int, clusterCenter array<double>").coalesce(
            1
        ).write.mode(mode).parquet(f"{path}/data")
