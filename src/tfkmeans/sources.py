"""Where rows live. The solver talks to a Source and never touches rows itself.

A Source answers a few questions about its rows, always in *centred*
coordinates (rows minus ``origin``, the per-feature mean), so that float32
distances stay accurate far from zero:

- ``n_rows``, ``n_features``, ``dtype``, ``origin``, ``mean_variance``;
- ``partial_stats(centers)``: per-cluster sums, weights and inertia;
- ``assign(centers)``: labels and exact squared distances, streamed in row order;
- ``farthest(centers, m)``: the m rows farthest from their centre (empty-cluster repair);
- ``sample(m, random_state)``: a seeded sample of rows with their weights
  (``sample_source``: the same rows as a Source, which a sparse Source keeps sparse);
- ``rows_in_memory()``: all rows as one tensor when they fit, else ``None``.
- ``lloyd_steps(centers, ...)``: optionally, several Lloyd iterations run where the
  rows are, without a round trip to the solver per iteration (``InMemory``).

Adding a place where data lives means writing a Source, not a new k-means.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tfkmeans import buffers, device_steps, kernels, row_kernels
from tfkmeans.kmeanspp import (
    ONE_PROGRAM_MAX_VALUES,
    compiled_positions,
    greedy_positions,
    kmeanspp_pass,
    one_program_positions,
)
from tfkmeans.tfload import tf


@dataclass(frozen=True)
class PartialStats:
    """Per-cluster statistics of one pass over some rows; they add up."""

    sums: np.ndarray  # (k, d) float64, weighted sums of centred rows
    weights: np.ndarray  # (k,) float64
    inertia: float

    def __add__(self, other: PartialStats) -> PartialStats:
        return PartialStats(
            self.sums + other.sums, self.weights + other.weights, self.inertia + other.inertia
        )


@dataclass(frozen=True)
class StepsTaken:
    """Lloyd iterations a Source ran by itself (``Source.lloyd_steps``)."""

    centers: np.ndarray  # (k, d) float64, centred, after the last step taken
    inertia: list[float]  # per step, for the centres it started from
    shift: list[float]  # per step, squared centre shift summed over centres
    converged: bool
    empty_cluster: bool  # stopped before a step that leaves a cluster empty (host repairs it)

    @classmethod
    def from_kernel(cls, out: device_steps.LloydSteps, sqnorm: float) -> StepsTaken:
        """A kernel's ``LloydSteps``, with ``sqnorm`` (sum w ||x||^2) added to each inertia."""
        steps = int(out.steps)
        return cls(
            out.centers.numpy(),
            [float(value) + sqnorm for value in out.inertia.numpy()[:steps]],
            [float(value) for value in out.shift.numpy()[:steps]],
            converged=int(out.stop) == device_steps.STEPS_CONVERGED,
            empty_cluster=int(out.stop) == device_steps.STEPS_EMPTY_CLUSTER,
        )


@dataclass(frozen=True)
class Assigned:
    """Labels of a run of consecutive rows, with exact squared distances and weights."""

    labels: np.ndarray  # (m,) int32
    sq_distances: np.ndarray  # (m,) exact, unweighted
    weights: np.ndarray  # (m,)


def draw_positions(weights: np.ndarray, m: int, random_state: np.random.RandomState) -> np.ndarray:
    """Up to m distinct row positions drawn by weight (scikit-learn's draw for random init)."""
    m = min(m, len(weights))
    return random_state.choice(len(weights), size=m, replace=False, p=weights / weights.sum())


def representable(origin: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``origin`` rounded to ``dtype`` and widened back to float64."""
    return np.asarray(origin, dtype=dtype).astype(np.float64)


class Source(abc.ABC):
    """Rows somewhere, seen through centred coordinates."""

    dtype: np.dtype
    n_features: int
    unit_rows: bool = False  # True when every row has unit norm (cosine k-means)
    # True when the Source can run k-means++ over all its rows: it has ``sample_weight``
    # (one float64 per row), ``kmeanspp_pass`` and ``take``, and ``sample`` makes
    # InMemory's draws; initialisation then gives the in-memory answer.
    supports_row_passes: bool = False

    @property
    @abc.abstractmethod
    def n_rows(self) -> int: ...

    @property
    @abc.abstractmethod
    def origin(self) -> np.ndarray:
        """Per-feature mean, float64 but exactly representable in ``dtype``.

        Centres passed in and rows handed out are relative to it. Rounding it to
        the row dtype makes ``row - origin`` exact in the kernels, so centred rows
        and centred centres agree to the last bit.
        """

    @property
    @abc.abstractmethod
    def mean_variance(self) -> float:
        """Mean over features of the (unweighted) variance: scikit-learn's scale for ``tol``."""

    @property
    def total_weight(self) -> float:
        """Sum of sample weights."""
        return float(self.n_rows)

    @abc.abstractmethod
    def partial_stats(self, centers: np.ndarray) -> PartialStats: ...

    @abc.abstractmethod
    def assign(self, centers: np.ndarray) -> Iterator[Assigned]: ...

    @abc.abstractmethod
    def sample(self, m: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """Up to m distinct rows (centred, float64) and their weights, drawn by weight."""

    def sample_source(self, m: int, random_state: np.random.RandomState) -> Source:
        """The rows ``sample`` draws, as a Source in this Source's centred coordinates."""
        rows, weights = self.sample(m, random_state)
        return InMemory(rows, weights, dtype=np.float64, origin=np.zeros(self.n_features))

    def rows_in_memory(self) -> InMemory | None:
        """Self when every row is one tensor; file and Spark sources answer None."""
        return None

    def lloyd_steps(
        self, centers: np.ndarray, max_steps: int, tol: float, tol_rule: str
    ) -> StepsTaken | None:
        """Up to ``max_steps`` Lloyd iterations run where the rows are, without returning
        to the solver between them; None when this Source cannot (the solver then asks
        for ``partial_stats`` once per iteration)."""
        return None

    def bounds(self):
        """Distance bounds kept with the rows from one Lloyd pass to the next
        (``bounds.HamerlyBounds``: its ``partial_stats`` skips rows whose centre cannot
        change), or None: the solver then makes plain passes, with the same result."""
        return None

    # -- greedy k-means++ primitives (initialization.greedy_kmeans_plusplus).

    def kmeanspp_steps(self, first: int, uniforms: np.ndarray) -> np.ndarray | None:
        """Positions of all greedy k-means++ centres, every step run where the rows are,
        from the first position and each step's uniforms; None when this Source cannot
        (the solver then steps with ``kmeanspp_pass`` and ``at_cumulative``)."""
        return None

    def kmeanspp_pass(self, closest, centers: np.ndarray):
        """Potentials of ``centers`` (sum_i w_i min(closest_i, d^2)) and the running
        distance ``closest`` (None before the first centre; kept by the Source, in any
        form) updated by ``centers[0]``."""
        raise NotImplementedError(f"{type(self).__name__} has no k-means++ pass")

    def at_cumulative(self, closest, targets: np.ndarray) -> np.ndarray:
        """For each target, the first row position where the running sum of w_i closest_i
        reaches it (searchsorted, left), at most n_rows - 1."""
        raise NotImplementedError(f"{type(self).__name__} has no k-means++ draw")

    def chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """Raw (not centred) rows and their weights as tensors, chunk by chunk, in row order."""
        raise NotImplementedError(f"{type(self).__name__} does not stream chunks")

    def objective_and_gradient(self, centers: tf.Variable) -> tuple[float, tf.Tensor]:
        """The k-means objective at ``centers`` (centred coordinates) and its gradient."""
        origin = tf.constant(self.origin, centers.dtype)
        total, grad = 0.0, tf.zeros_like(centers)
        for rows, weights in self.chunks():
            value, chunk_grad = row_kernels.objective_and_gradient(rows, weights, origin, centers)
            total += float(value)
            grad += chunk_grad
        return total, grad

    def batches(
        self, batch_size: int, random_state: np.random.RandomState
    ) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """Endless mini-batches of raw rows and weights, for data that only streams.

        Generic form: epoch after epoch, each chunk is shuffled and cut into batches.
        """
        while True:
            for rows, weights in self.chunks():
                order = random_state.permutation(int(rows.shape[0]))
                for start in range(0, len(order), batch_size):
                    picked = tf.constant(order[start : start + batch_size])
                    yield tf.gather(rows, picked), tf.gather(weights, picked)

    def farthest(self, centers: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The m rows farthest from their nearest centre: (rows, weights, labels).

        Generic over ``assign`` plus a bounded heap, so every Source gets it for free.
        """
        best_d = np.empty(0)
        best_pos = np.empty(0, dtype=np.int64)
        best_lab = np.empty(0, dtype=np.int32)
        offset = 0
        for chunk in self.assign(centers):
            cand_d = np.concatenate([best_d, chunk.sq_distances.astype(np.float64)])
            cand_pos = np.concatenate([best_pos, offset + np.arange(len(chunk.labels))])
            cand_lab = np.concatenate([best_lab, chunk.labels])
            keep = np.argsort(-cand_d, kind="stable")[:m]
            best_d, best_pos, best_lab = cand_d[keep], cand_pos[keep], cand_lab[keep]
            offset += len(chunk.labels)
        rows, weights = self.take(best_pos)
        return rows, weights, best_lab

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows (centred, float64) and weights at the given row positions."""
        raise NotImplementedError(f"{type(self).__name__} cannot fetch rows by position")

    # -- k-means|| primitives: generic over assign/take; a distributed Source overrides them.

    def cost(self, centers: np.ndarray) -> float:
        """Weighted sum of exact squared distances to the nearest of ``centers``."""
        return float(
            sum(a.sq_distances.astype(np.float64) @ a.weights for a in self.assign(centers))
        )

    def oversample(self, centers: np.ndarray, factor: float, cost: float, seed: int) -> np.ndarray:
        """Rows kept independently with probability min(1, factor * w * d^2(x) / cost).

        One uniform draw per row, in row order, from a generator seeded by ``seed``:
        the pick does not depend on how rows are chunked.
        """
        draws = np.random.RandomState(seed)
        picked, position = [], 0
        for chunk in self.assign(centers):
            size = len(chunk.labels)
            u = draws.uniform(size=size)
            prob = factor * chunk.weights * chunk.sq_distances / cost
            picked.append(position + np.flatnonzero(u < prob))
            position += size
        positions = np.concatenate(picked) if picked else np.empty(0, np.int64)
        return self.take(positions)[0] if len(positions) else np.empty((0, self.n_features))

    def weight_per_center(self, centers: np.ndarray) -> np.ndarray:
        """Total weight of the rows nearest to each centre."""
        totals = np.zeros(len(centers))
        for chunk in self.assign(centers):
            totals += np.bincount(chunk.labels, weights=chunk.weights, minlength=len(centers))
        return totals


# Up to this many values, the per-feature moments are NumPy's: a TensorFlow call costs
# more than the arithmetic there (iris: a new source's origin in 0.045 ms; a call to a
# compiled TensorFlow program alone is ~0.3 ms, quiet 2-core AMD EPYC).
HOST_MOMENTS_MAX_VALUES = 1 << 20


class InMemory(Source):
    """All rows as one TensorFlow tensor on the device TensorFlow picks (a GPU if present)."""

    supports_row_passes = True

    def __init__(
        self,
        X,
        sample_weight=None,
        *,
        dtype=None,
        chunk_rows: int | None = None,
        origin: np.ndarray | None = None,
    ) -> None:
        array = np.asarray(X.numpy() if isinstance(X, tf.Tensor) else X)
        self.dtype = np.dtype(dtype or array.dtype)
        # The one copy of the rows, padded with zero rows (see ``padded``).
        self._buffer = buffers.padded_copy(array, self.dtype)
        self.rows = buffers.as_tensor(self._buffer[: len(array)])
        self.n_features = int(self.rows.shape[1])
        self._n_rows = int(self.rows.shape[0])
        self.weighted = sample_weight is not None
        weights = np.ones(self._n_rows) if sample_weight is None else np.asarray(sample_weight)
        self.sample_weight = weights.astype(np.float64)
        self._weights_in_dtype: tf.Tensor | None = None
        # None: chosen per pass from the number of centres (kernels.auto_chunk_rows).
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        self._moments: tuple[np.ndarray, np.ndarray] | None = None
        self._sqnorms: tf.Tensor | None = None  # per row, for k-means++
        self._sqnorm: float | None = None  # their weighted total, for Lloyd passes
        self._weights64: tf.Tensor | None = None  # exact weights, for k-means++
        # Rows that are already centred (samples handed out by another Source) keep that origin.
        self._origin = None if origin is None else representable(origin, self.dtype)

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def weights(self) -> tf.Tensor:
        """The weights in the rows' dtype, made on first use (the whole-fit program
        takes them in float64 and never asks)."""
        if self._weights_in_dtype is None:
            self._weights_in_dtype = row_kernels.as_tensor(self.sample_weight, self.dtype)
        return self._weights_in_dtype

    def padded(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The rows then zero rows, ``buffers.padded_rows(n_rows)`` in all, and their
        float64 weights (zero past the rows): what the compiled programs take, so nearby
        row counts share one compile. The rows are a view of the source's one copy."""
        n = self._n_rows
        size = buffers.padded_rows(n)
        weights = tf.constant(np.concatenate([self.sample_weight, np.zeros(size - n)]))
        return buffers.as_tensor(self._buffer), weights

    def _chunk(self, n_centers: int) -> int:
        return self.chunk_rows or kernels.auto_chunk_rows(n_centers)

    def _moments_once(self) -> tuple[np.ndarray, np.ndarray]:
        if self._moments is None:
            if self._n_rows * self.n_features <= HOST_MOMENTS_MAX_VALUES:
                rows = self._buffer[: self._n_rows]  # ``.numpy()`` of an imported tensor copies
                mean, var = rows.mean(0, dtype=np.float64), rows.var(0, dtype=np.float64)
            else:
                mean, var = (value.numpy() for value in row_kernels.moments(self.rows))
            self._moments = (representable(mean, self.dtype), var)
        return self._moments

    @property
    def origin(self) -> np.ndarray:
        return self._moments_once()[0] if self._origin is None else self._origin

    def known_moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(origin, per-feature variance) where already known or the origin is fixed,
        else None: the whole-fit program then computes them (``keep_moments``)."""
        if self._moments is None and self._origin is None:
            return None
        return self.origin, self._moments_once()[1]

    def keep_moments(self, origin: np.ndarray, variance: np.ndarray) -> None:
        """Moments a program computed over these rows (an origin representable in
        ``dtype``), kept so every later pass centres on the same bits."""
        if self._moments is None:
            self._moments = (origin, variance)

    @property
    def mean_variance(self) -> float:
        return float(np.mean(self._moments_once()[1]))

    @property
    def total_weight(self) -> float:
        return float(self.sample_weight.sum())

    def _tensor(self, values: np.ndarray) -> tf.Tensor:
        return tf.constant(np.asarray(values, dtype=self.dtype))

    def _row_sqnorms(self) -> tf.Tensor:
        """||row - origin||^2, once per source: every k-means++ pass needs it, unchanged."""
        if self._sqnorms is None:
            self._sqnorms = row_kernels.row_sqnorms(self.rows, self._tensor(self.origin))
        return self._sqnorms

    def _sqnorm_total(self) -> float:
        """sum_i w_i ||row_i - origin||^2, once per source: the part of every pass's
        inertia that does not depend on the centres."""
        if self._sqnorm is None:
            origin = self._tensor(self.origin)
            self._sqnorm = float(row_kernels.weighted_sqnorm(self.rows, self.weights, origin))
        return self._sqnorm

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        origin, centers_t = self._tensor(self.origin), self._tensor(centers)
        stats = kernels.lloyd_stats(
            self.rows, self.weights, origin, centers_t, self.chunk_rows, row_norms=False
        )
        inertia = float(stats.inertia) + self._sqnorm_total()
        return PartialStats(stats.sums.numpy(), stats.weights.numpy(), inertia)

    def lloyd_steps(
        self, centers: np.ndarray, max_steps: int, tol: float, tol_rule: str
    ) -> StepsTaken | None:
        origin = self._tensor(self.origin)
        out = device_steps.lloyd_steps(
            self.rows, self.weights, origin, centers, max_steps, tol, tol_rule, self.chunk_rows
        )
        return None if out is None else StepsTaken.from_kernel(out, self._sqnorm_total())

    def bounds(self):
        from tfkmeans.bounds import HamerlyBounds

        return HamerlyBounds(self.rows, self.weights, self.origin, self.chunk_rows)

    def assign(self, centers: np.ndarray) -> Iterator[Assigned]:
        origin, centers_t = self._tensor(self.origin), self._tensor(centers)
        labels, sq = row_kernels.assign(self.rows, origin, centers_t, self.chunk_rows)
        yield Assigned(labels.numpy(), sq.numpy(), self.sample_weight)

    def chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        step = self.chunk_rows or kernels.DEFAULT_CHUNK_ROWS
        for start in range(0, self.n_rows, step):
            stop = start + step
            yield self.rows[start:stop], self.weights[start:stop]

    def objective_and_gradient(self, centers: tf.Variable) -> tuple[float, tf.Tensor]:
        origin = tf.constant(self.origin, centers.dtype)
        value, grad = row_kernels.objective_and_gradient(
            self.rows, self.weights, origin, centers, self._chunk(int(centers.shape[0]))
        )
        return float(value), grad

    def batches(
        self, batch_size: int, random_state: np.random.RandomState
    ) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """Rows drawn uniformly with replacement, as scikit-learn's MiniBatchKMeans does."""
        while True:
            picked = tf.constant(random_state.randint(0, self.n_rows, batch_size))
            yield tf.gather(self.rows, picked), tf.gather(self.weights, picked)

    def sq_distances(self, centers: np.ndarray) -> np.ndarray:
        """All squared distances to ``centers`` (n x m, float64, exact), for transform."""
        return row_kernels.exact_sq_distances(self.rows, self.origin, centers).numpy()

    def _exact_weights(self) -> tf.Tensor:
        """float64 weights on the device: k-means++ draws by them exactly."""
        if self._weights64 is None:
            self._weights64 = tf.constant(self.sample_weight)
        return self._weights64

    def kmeanspp_steps(self, first: int, uniforms: np.ndarray) -> np.ndarray | None:
        """All steps in one device call: a plain graph below XLA_MIN_ROWS, where a call
        per pass costs more than the pass; above it one XLA program over the padded rows
        (``kmeanspp.one_program_positions``) up to its work limit, beyond that (or with
        ``chunk_rows`` set) each step's pass XLA-compiled in parts side by side
        (``kmeanspp.compiled_positions``)."""
        n, origin = self.n_rows, self._tensor(self.origin)
        work = n * (self.n_features + uniforms.shape[1])
        one_program = work <= ONE_PROGRAM_MAX_VALUES and self.chunk_rows is None
        if n >= kernels.XLA_MIN_ROWS and one_program:
            return one_program_positions(*self.padded(), origin, n, first, uniforms)
        args = (self.rows, self._exact_weights(), self._row_sqnorms(), origin)
        if n < kernels.XLA_MIN_ROWS:
            chunk = self._chunk(max(int(uniforms.shape[1]), 1))
            return greedy_positions(*args, first, uniforms, chunk)
        return compiled_positions(*args, first, uniforms, self.chunk_rows)

    def at_cumulative(self, closest: tf.Tensor, targets: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(self.sample_weight * closest.numpy())
        return np.minimum(np.searchsorted(cumulative, targets), self.n_rows - 1)

    def kmeanspp_pass(
        self, closest: tf.Tensor | None, centers: np.ndarray
    ) -> tuple[np.ndarray, tf.Tensor]:
        """k-means++ potentials of ``centers`` (sum_i w_i min(closest_i, d^2)) and the
        running distance ``closest`` (float64, on the device) updated by ``centers[0]``."""
        self._exact_weights()
        if closest is None:
            closest = tf.fill([self.n_rows], tf.constant(np.inf, tf.float64))
        potentials, closest = kmeanspp_pass(
            self.rows,
            self._weights64,
            self._row_sqnorms(),
            closest,
            self._tensor(self.origin),
            self._tensor(centers),
            self.chunk_rows,
        )
        return potentials.numpy(), closest

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions = np.asarray(positions, dtype=np.int64)
        rows = tf.gather(self.rows, positions).numpy().astype(np.float64) - self.origin
        return rows, self.sample_weight[positions]

    def sample(self, m: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        return self.take(draw_positions(self.sample_weight, m, random_state))

    def rows_in_memory(self) -> InMemory:
        return self
