"""Sparse rows in memory (scipy CSR/CSC, ``tf.SparseTensor``): a Source that never densifies.

The rows stay a CSR matrix: on the host for picking rows (samples, mini-batches,
k-means++ candidates), as blocks of SparseTensor parts (on CPU: CSR matrices for
``csr_matmul``) for Lloyd passes and labels (``sparse_blocks``, made once per fit),
and as CSR tensors for the other sparse kernels (``sparse_kernels``, made when first
needed).
Rows are not centred, since subtracting the mean would fill every zero: ``origin``
is zero and centres are plain dense vectors. Only a handful of rows are ever made
dense at once (initial centres, rows that refill empty clusters), so memory is
O(nnz + chunk x k + k x d).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from tfkmeans import kernels, sparse_blocks, sparse_kernels
from tfkmeans.sources import (
    Assigned,
    InMemory,
    PartialStats,
    Source,
    StepsTaken,
    draw_positions,
)
from tfkmeans.tfload import tf


def is_sparse(X) -> bool:
    """scipy sparse matrices and arrays, and ``tf.SparseTensor``."""
    return sp.issparse(X) or isinstance(X, tf.SparseTensor)


def canonical_csr(X) -> sp.csr_matrix:
    """A CSR matrix with sorted indices and no duplicates; the caller's matrix is not
    modified (a copy is made only where it needs fixing)."""
    if isinstance(X, tf.SparseTensor):
        indices, values = X.indices.numpy(), X.values.numpy()
        shape = tuple(int(s) for s in X.dense_shape.numpy())
        if len(shape) != 2:
            raise ValueError(f"Expected a 2D tf.SparseTensor, got shape {shape}.")
        X = sp.coo_matrix((values, (indices[:, 0], indices[:, 1])), shape=shape)
    X = sp.csr_matrix(X)  # CSC and COO are converted; a CSR matrix is not copied
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def centre_sqnorms(centers: np.ndarray) -> np.ndarray:
    """||c||^2 of each centre as scikit-learn computes it (``row_norms``: np.einsum, in
    the centres' dtype). Its sparse Lloyd ranks centres by ||c||^2 - 2 x.c, and a row
    that shares no feature with some centres sees only their norms: when those are
    equal in exact arithmetic (initial centres drawn from unit-norm rows, as TF-IDF
    rows are) the last bit of each rounded norm picks the label, so the norms must be
    rounded as scikit-learn rounds them (TensorFlow's reduce_sum sums in another order)."""
    return np.einsum("ij,ij->i", centers, centers)


def unit_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit Euclidean norm (a copy of the values, same structure)."""
    # One zero past the values: an empty last row starts at nnz, which reduceat must
    # be able to index (it gives an empty row the value at its start: zeroed below).
    squares = np.append(np.square(X.data, dtype=np.float64), 0.0)
    norms = np.sqrt(np.add.reduceat(squares, X.indptr[:-1]))
    norms[np.diff(X.indptr) == 0] = 0.0
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise ValueError(
            f"metric='cosine' needs non-zero rows, but row {zero[0]} (and {len(zero) - 1} "
            "more) is all zeros."
        )
    data = (X.data / np.repeat(norms, np.diff(X.indptr))).astype(X.dtype)
    return sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)


def column_moments(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance (unweighted, float64), counting the zeros, in
    O(nnz + d): what a Spark partition's rows contribute to the global moments."""
    n, d = X.shape
    values = X.data.astype(np.float64)
    mean = np.bincount(X.indices, weights=values, minlength=d) / n
    stored = np.bincount(X.indices, minlength=d)
    squares = np.bincount(X.indices, weights=(values - mean[X.indices]) ** 2, minlength=d)
    return mean, (squares + (n - stored) * mean**2) / n


# Below this many products (stored values x centres) a pass runs as one part: a
# second concurrent loop costs more than it overlaps.
PART_MIN_WORK = 1 << 22
# Products (stored values x centres, over all steps) per ``lloyd_steps`` call: a few
# tenths of a second, so a progress bar still moves between calls.
STEPS_WORK = 1 << 29


class SparseRows:
    """A block of CSR rows: on the host for picking rows, as tensors for the kernels.

    A mini-batch is one of these; ``len`` and ``rows[positions]`` (dense float64 rows)
    are what mini-batch reassignment needs. Both tensor forms are made when first
    asked for, so a fit holds only those its kernels use.
    """

    def __init__(self, matrix: sp.csr_matrix, dtype: np.dtype) -> None:
        self.matrix = matrix
        self.np_dtype = np.dtype(dtype)
        self._tensors: sparse_kernels.CSR | None = None
        # ((rows per block, CSR or not), blocks)
        self._blocks: tuple[tuple[int, bool], sparse_blocks.Blocks] | None = None

    @property
    def tensors(self) -> sparse_kernels.CSR:
        """The rows as CSR tensors (``sparse_kernels``)."""
        if self._tensors is None:
            self._tensors = sparse_kernels.csr_tensors(self.matrix, self.np_dtype)
        return self._tensors

    def blocks(
        self, n_clusters: int | None = None, rows_per_block: int | None = None
    ) -> sparse_blocks.Blocks:
        """The rows as blocks of ``rows_per_block`` rows (None: sized for ``n_clusters``
        centres), kept for the next call with the same block size (``n_clusters`` None:
        whatever blocks are kept)."""
        rows = rows_per_block or sparse_blocks.block_rows(n_clusters or 8, self.matrix.shape[1])
        rows = min(rows, max(len(self), 1))
        csr = sparse_blocks.csr_pays(self.np_dtype, n_clusters or 8)
        if self._blocks is None or (n_clusters is not None and self._blocks[0] != (rows, csr)):
            self._blocks = None  # the old blocks go before the new ones are made
            blocks = sparse_blocks.blocks_of(self.matrix, self.np_dtype, rows, csr)
            self._blocks = (rows, csr), blocks
        return self._blocks[1]

    @property
    def dtype(self) -> tf.DType:
        return tf.as_dtype(self.np_dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def __getitem__(self, positions) -> np.ndarray:
        return self.matrix[np.asarray(positions)].toarray().astype(np.float64)

    def row_sqnorms(self, rows_per_block: int | None = None) -> tf.Tensor:
        """||x||^2 per row in float64, from whichever tensor form is already made."""
        if self._tensors is not None:
            return sparse_kernels.row_sqnorms(self._tensors, self.matrix.shape[1])
        return sparse_blocks.row_sqnorms(self.blocks(None, rows_per_block))

    def n_parts(self, n_centers: int, most: int | None = None) -> int:
        """Row ranges to run side by side: one per inter-op thread when each has at
        least PART_MIN_WORK products (stored values x centres) to do (and at most ``most``)."""
        work = self.matrix.nnz * n_centers
        most = len(self) if most is None else min(most, len(self))
        return int(max(1, min(kernels.parallel_threads(), work // PART_MIN_WORK, most)))

    def block_parts(
        self, n_centers: int, rows_per_block: int | None = None
    ) -> tuple[sparse_blocks.Blocks, int]:
        """Blocks for ``n_centers`` and how many runs of them to make side by side."""
        blocks = self.blocks(n_centers, rows_per_block)
        return blocks, self.n_parts(n_centers, blocks.count)

    def lloyd_stats(
        self, weights: tf.Tensor, centers: np.ndarray, chunk_rows: int | None, row_norms: bool
    ) -> sparse_kernels.PassStats:
        """Per-cluster sums, weights and inertia of these rows (``sparse_kernels.lloyd_stats``);
        ``chunk_rows`` None: chosen from the number of centres."""
        centers_t = tf.constant(np.asarray(centers, dtype=self.np_dtype))
        chunk_rows = chunk_rows or sparse_kernels.auto_chunk_rows(len(centers_t))
        parts = self.n_parts(len(centers_t))
        return sparse_kernels.lloyd_stats(
            self.tensors, weights, centers_t, chunk_rows, row_norms, parts
        )


class SparseSource(Source):
    """CSR rows in memory, seen through the kernels of ``sparse_kernels``."""

    def __init__(self, X, sample_weight=None, *, dtype=None, chunk_rows: int | None = None) -> None:
        matrix = canonical_csr(X)
        self.dtype = np.dtype(dtype or matrix.dtype)
        self.rows = SparseRows(matrix, self.dtype)
        self.matrix = matrix
        self._n_rows, self.n_features = matrix.shape
        weights = np.ones(self._n_rows) if sample_weight is None else np.asarray(sample_weight)
        self.weighted = sample_weight is not None
        self.sample_weight = weights.astype(np.float64)
        self.weights = tf.constant(weights.astype(self.dtype))
        self._weights64 = tf.constant(self.sample_weight)
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        self._sqnorms: tf.Tensor | None = None
        self._mean_variance: float | None = None
        self._sqnorm: float | None = None

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def origin(self) -> np.ndarray:
        return np.zeros(self.n_features)

    @property
    def mean_variance(self) -> float:
        """Mean per-feature variance (unweighted, float64), counting the zeros, in O(nnz)."""
        if self._mean_variance is None:
            self._mean_variance = float(np.mean(column_moments(self.matrix)[1]))
        return self._mean_variance

    @property
    def total_weight(self) -> float:
        return float(self.sample_weight.sum())

    def _chunk(self, n_centers: int) -> int:
        return self.chunk_rows or sparse_kernels.auto_chunk_rows(n_centers)

    def _row_sqnorms(self) -> tf.Tensor:
        """||x||^2 per row in float64, once per source."""
        if self._sqnorms is None:
            self._sqnorms = self.rows.row_sqnorms(self.chunk_rows)
        return self._sqnorms

    def _sqnorm_total(self) -> float:
        """sum_i w_i ||x_i||^2: what Lloyd passes leave out of the inertia, once per source."""
        if self._sqnorm is None:
            self._sqnorm = float(tf.reduce_sum(self._weights64 * self._row_sqnorms()))
        return self._sqnorm

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        blocks, parts = self.rows.block_parts(len(centers), self.chunk_rows)
        rounded = np.asarray(centers, dtype=self.dtype)
        norms = tf.constant(centre_sqnorms(rounded))
        stats = sparse_blocks.lloyd_stats(
            blocks, self.weights, tf.constant(rounded), norms, False, parts
        )
        inertia = float(stats.inertia) + self._sqnorm_total()
        return PartialStats(stats.sums.numpy(), stats.weights.numpy(), inertia)

    def lloyd_steps(
        self, centers: np.ndarray, max_steps: int, tol: float, tol_rule: str
    ) -> StepsTaken | None:
        """Several Lloyd iterations in one call over the kept blocks (``sparse_blocks``)."""
        k = len(centers)
        blocks, parts = self.rows.block_parts(k, self.chunk_rows)
        history = int(min(max(STEPS_WORK // max(self.matrix.nnz * k, 1), 1), 1024))
        centers64 = np.asarray(centers, dtype=np.float64)
        out = sparse_blocks.lloyd_steps(
            blocks,
            self.weights,
            tf.constant(centers64),
            tf.constant(centre_sqnorms(centers64.astype(self.dtype))),
            tf.constant(min(max_steps, history)),
            tf.constant(tol, tf.float64),
            tol_rule == "spark",
            tf.constant(history),
            parts,
        )
        return StepsTaken.from_kernel(out, self._sqnorm_total())

    def assign(self, centers: np.ndarray) -> Iterator[Assigned]:
        centers64 = np.asarray(centers, dtype=np.float64)
        blocks, parts = self.rows.block_parts(len(centers64), self.chunk_rows)
        rounded = centers64.astype(self.dtype)
        labels, sq = sparse_blocks.assign(
            blocks,
            tf.constant(rounded),
            tf.constant(centers64),
            tf.constant(centre_sqnorms(rounded)),
            parts,
        )
        yield Assigned(labels.numpy(), sq.numpy(), self.sample_weight)

    def sq_distances(self, centers: np.ndarray) -> np.ndarray:
        """All squared distances to ``centers`` (n x m, float64), for transform."""
        out = sparse_kernels.sq_distances(
            self.rows.tensors,
            self._row_sqnorms(),
            tf.constant(np.asarray(centers, dtype=np.float64)),
            self._chunk(len(centers)),
            self.rows.n_parts(len(centers)),
        )
        return out.numpy()

    def kmeanspp_pass(
        self, closest: tf.Tensor | None, centers: np.ndarray
    ) -> tuple[np.ndarray, tf.Tensor]:
        """As ``InMemory.kmeanspp_pass``, in float64 throughout."""
        if closest is None:
            closest = tf.fill([self.n_rows], tf.constant(np.inf, tf.float64))
        potentials, closest = sparse_kernels.kmeanspp_pass(
            self.rows.tensors,
            self._weights64,
            self._row_sqnorms(),
            closest,
            tf.constant(np.asarray(centers, dtype=np.float64)),
            self._chunk(len(centers)),
            self.rows.n_parts(len(centers)),
        )
        return potentials.numpy(), closest

    # The cumulative-potential draw needs only sample_weight and n_rows: InMemory's own.
    at_cumulative = InMemory.at_cumulative

    def objective_and_gradient(self, centers: tf.Variable) -> tuple[float, tf.Tensor]:
        value, grad = sparse_kernels.objective_and_gradient(
            self.rows.tensors,
            self.weights,
            self._row_sqnorms(),
            centers,
            self._chunk(int(centers.shape[0])),
        )
        return float(value), grad

    def batches(
        self, batch_size: int, random_state: np.random.RandomState
    ) -> Iterator[tuple[SparseRows, tf.Tensor]]:
        """Rows drawn uniformly with replacement (as ``InMemory.batches``), kept sparse."""
        while True:
            picked = random_state.randint(0, self.n_rows, batch_size)
            yield SparseRows(self.matrix[picked], self.dtype), tf.gather(self.weights, picked)

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positions = np.asarray(positions, dtype=np.int64)
        return self.rows[positions], self.sample_weight[positions]

    def sample(self, m: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        return self.take(draw_positions(self.sample_weight, m, random_state))

    def sample_source(self, m: int, random_state: np.random.RandomState) -> SparseSource:
        """The rows ``sample`` would draw, kept sparse (float64, as samples are)."""
        positions = draw_positions(self.sample_weight, m, random_state)
        subset = SparseSource(
            self.matrix[positions], self.sample_weight[positions], dtype=np.float64
        )
        subset.unit_rows = self.unit_rows
        return subset

    def rows_in_memory(self) -> SparseSource:  # type: ignore[override]
        """Self: k-means++ and random init draw from these rows directly."""
        return self
