"""Sources whose rows are split into Spark partitions: one question per partition,
answers combined in partition order (on the driver, or in every resident task).

A partition is an ``InMemory`` source (dense rows, centred by the global origin) or,
for a sparse vector column, a ``SparseSource`` (CSR rows, never centred: the origin of
the whole source is zero then, as for sparse rows in memory)."""

from __future__ import annotations

import abc
import pickle
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame

from tfkmeans.sources import InMemory, PartialStats, Source
from tfkmeans.spark.exchange import TaskGroup
from tfkmeans.spark.frame import Frame
from tfkmeans.spark.rows import PAYLOAD_SCHEMA, partition_rows, set_threads
from tfkmeans.spark.vectors import partition_csr
from tfkmeans.sparse_source import SparseSource, column_moments

# ``question(part, partition_index)``: ``part`` is the partition as an InMemory source
# (centred by the global origin once it is known) or a SparseSource; the answer is
# small and picklable.
Question = Callable[[InMemory | SparseSource, int], object]
Found = tuple[np.ndarray | sp.csr_matrix, np.ndarray]


def read_partition(
    batches: Iterator[pa.RecordBatch], n_features: int, unit_rows: bool, sparse: bool
) -> Found | None:
    """A partition's rows (float64 array, or CSR matrix when ``sparse``) and weights."""
    read = partition_csr if sparse else partition_rows
    return read(batches, n_features, unit_rows)


def part_source(found: Found, origin: np.ndarray | None) -> InMemory | SparseSource:
    """A partition as a Source: CSR rows stay sparse (and uncentred)."""
    if sp.issparse(found[0]):
        return SparseSource(found[0], found[1], dtype=np.float64)
    return InMemory(found[0], found[1], dtype=np.float64, origin=origin)


def part_moments(part: InMemory | SparseSource) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance of a partition's rows."""
    if isinstance(part, SparseSource):
        return column_moments(part.matrix)
    from tfkmeans import row_kernels

    mean, var = row_kernels.moments(part.rows)
    return mean.numpy(), var.numpy()


class _PartitionedSource(Source):
    """Rows split into partitions. Every Source question is asked of each non-empty
    partition and the answers are combined here, in partition order, so that the
    driver (per-iteration) and every resident task combine them identically."""

    dtype = np.dtype(np.float64)  # Spark ML vectors are doubles
    n_skipped = 0
    sparse = False  # partitions are SparseSources (origin zero)

    @abc.abstractmethod
    def _each(self, question: Question) -> list:
        """The answers of every non-empty partition, in partition order."""

    def _moments(self) -> tuple[int, np.ndarray, float, float]:
        """n, origin, mean variance and total weight, merged with Chan's pairwise update."""

        def local(part: InMemory | SparseSource, index: int):
            mean, var = part_moments(part)
            return part.n_rows, mean, var * part.n_rows, part.total_weight

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
        return np.zeros(self.n_features) if self.sparse else self._summary[1]

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

    def _draw(self, m: int, random_state: np.random.RandomState, rows_of):
        """Up to m rows, chosen by a seeded random key per row (the m smallest keys):
        ``rows_of(part, positions)`` per partition, their weights, and the positions of
        the chosen ones in the partitions' rows put end to end."""
        seed = int(random_state.randint(2**31 - 1))

        def local(part: InMemory | SparseSource, index: int):
            keys = np.random.RandomState((seed + index) % 2**31).uniform(size=part.n_rows)
            top = np.argsort(keys, kind="stable")[:m]
            return rows_of(part, top), part.sample_weight[top], keys[top]

        rows, weights, keys = zip(*self._each(local), strict=True)
        best = np.argsort(np.concatenate(keys), kind="stable")[:m]
        return rows, np.concatenate(weights)[best], best

    def sample(self, m: int, random_state: np.random.RandomState):
        rows, weights, best = self._draw(m, random_state, lambda part, top: part.take(top)[0])
        return np.concatenate(rows)[best], weights

    def sample_source(self, m: int, random_state: np.random.RandomState) -> Source:
        """The rows ``sample`` draws; sparse rows stay sparse (a SparseSource)."""
        if not self.sparse:
            return super().sample_source(m, random_state)
        rows, weights, best = self._draw(m, random_state, lambda part, top: part.matrix[top])
        picked = SparseSource(sp.vstack(rows, format="csr")[best], weights, dtype=np.float64)
        picked.unit_rows = self.unit_rows
        return picked


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
        self._start(Frame.prepare(df, features_col, weight_col, handle_invalid), unit_rows)

    @classmethod
    def from_frame(cls, frame: Frame, unit_rows: bool = False) -> SparkSource:
        source = cls.__new__(cls)
        source._start(frame, unit_rows)
        return source

    def _start(self, frame: Frame, unit_rows: bool) -> None:
        self.unit_rows, self.sparse = unit_rows, frame.sparse
        self.n_features, self.n_skipped = frame.n_features, frame.n_skipped
        self.df = frame.df.cache()
        self._summary = None
        self._summary = self._moments()

    def _each(self, question: Question) -> list:
        n_features, unit, sparse = self.n_features, self.unit_rows, self.sparse
        origin = None if self._summary is None else self.origin

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            from pyspark import TaskContext

            set_threads(TaskContext.get().cpus())
            found = read_partition(batches, n_features, unit, sparse)
            if found is not None:
                part = part_source(found, origin)
                answer = question(part, TaskContext.get().partitionId())
                yield pa.RecordBatch.from_pylist([{"payload": pickle.dumps(answer, protocol=5)}])

        rows = self.df.mapInArrow(run, PAYLOAD_SCHEMA).collect()
        return [pickle.loads(row["payload"]) for row in rows]


class BarrierSource(_PartitionedSource):
    """This barrier task's partition, resident as tensors, and the other tasks' answers."""

    def __init__(
        self, found: Found | None, group: TaskGroup, n_features: int, sparse: bool = False
    ) -> None:
        self.n_features, self.group, self.sparse = n_features, group, sparse
        self._part = None if found is None else part_source(found, None)
        self._summary = self._moments()
        if found is not None and not sparse:  # centred by the global origin from now on
            self._part = part_source(found, self.origin)

    def _each(self, question: Question) -> list:
        answer = None if self._part is None else question(self._part, self.group.rank)
        return [a for a in self.group.all_gather(answer) if a is not None]
