"""A Source over an ordered sequence of row chunks: what every file reader shares.

Rows are read chunk by chunk (the next chunk is read on a background thread
while TensorFlow works on the current one) and handed to the same kernels as
in-memory data, so memory stays O(chunk_rows x (d + k)) whatever the file size.
Every pass visits rows in the file's order. Random draws (``sample``, the
k-means++ pass) are NumPy's in the same order as for in-memory rows, so a file
gives the same initial centres as the same rows in memory, whatever the chunk size.

Bad rows (NaN, null, empty cell, infinity) are an error naming the row and column,
or, with ``handle_invalid="skip"``, left out and counted (``n_skipped``).
"""

from __future__ import annotations

import abc
import itertools
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tfkmeans import kernels, row_kernels
from tfkmeans.buffers import RING_SIZE, as_tensor, release_unused_memory, zero_copy_ok
from tfkmeans.columns import RowsSkipped
from tfkmeans.kmeanspp import kmeanspp_pass
from tfkmeans.progress import report_rows
from tfkmeans.sources import Assigned, PartialStats, Source, representable
from tfkmeans.tfload import tf

# Rows per float64 block when the first pass computes the mean and variance.
MOMENT_BLOCK_ROWS = 8192
HANDLE_INVALID = ("error", "skip")
# Rows per block of the k-means++ cumulative potential (a float64 each).
CUMSUM_BLOCK_ROWS = 1 << 16


def _prefetched(chunks: Iterator) -> Iterator:
    """Yields the items of ``chunks`` while the next one is read on a worker thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, chunks, None)
        while True:
            chunk = pending.result()
            if chunk is None:
                return
            pending = pool.submit(next, chunks, None)
            yield chunk


class ChunkedSource(Source):
    """Rows read in order, chunk by chunk; subclasses only read chunks (``_read``)."""

    supports_row_passes = True

    def __init__(
        self, name: str, chunk_rows: int, dtype=None, handle_invalid: str = "error"
    ) -> None:
        if int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        if handle_invalid not in HANDLE_INVALID:
            raise ValueError(f"handle_invalid must be 'error' or 'skip', got {handle_invalid!r}")
        self.name = name
        self.chunk_rows = int(chunk_rows)
        self.handle_invalid = handle_invalid
        self.feature_names: list[str] | None = None  # for messages and feature_names_in_
        self._requested_dtype = None if dtype is None else np.dtype(dtype)
        self._summary: tuple[int, np.ndarray, float] | None = None
        self._validated = False
        self._skipped: np.ndarray | None = None  # raw positions of skipped rows, once known
        self._weights: np.ndarray | None = None  # per kept row, when the rows carry weights
        self._total_weight: float | None = None
        self._sqnorm_total: float | None = None  # sum_i w_i ||x_i - origin||^2
        self._ones: dict[int, tf.Tensor] = {}  # unit weights, per chunk length

    @abc.abstractmethod
    def _read(self) -> Iterator:
        """Raw 2-D chunks of at most chunk_rows rows, in row order (any numeric dtype),
        or (rows, weights) pairs for rows that carry weights."""

    @property
    def n_skipped(self) -> int:
        """Rows left out for a missing value or infinity (after the first pass)."""
        self._first_pass()
        return 0 if self._skipped is None else len(self._skipped)

    @property
    def skipped_rows(self) -> np.ndarray | None:
        """File positions (0-based) of the rows left out, after the first pass."""
        self._first_pass()
        return self._skipped

    def _checked(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(rows in the compute dtype, weights or None) chunk by chunk. The first pass
        checks shapes and values; later passes trust a file that passed once, and only
        drop the rows the first pass skipped. A chunk may live in a reused buffer: it is
        valid until two more chunks have been taken."""
        raw_position, check, total = 0, not self._validated, self._expected_rows()
        skipped: list[np.ndarray] = []
        kept = 0
        report_rows(0, total)
        chunks = _prefetched(self._read()) if self._reads_ahead() else self._read()
        for item in chunks:
            rows, weights = item if isinstance(item, tuple) else (item, None)
            rows = np.asarray(rows)
            if check:
                self._check_shape(rows, raw_position)
            good = self._good_rows(rows, weights, raw_position, check)
            if good is not None:
                skipped.append(raw_position + np.flatnonzero(~good))
                rows = rows[good]
                weights = None if weights is None else np.asarray(weights)[good]
            raw_position += len(good) if good is not None else len(rows)
            kept += len(rows)
            if len(rows):
                yield rows.astype(self.dtype, copy=False), weights
            report_rows(kept, total)
        if check:
            self._validated = True
            if self.handle_invalid == "skip":
                self._skipped = np.concatenate(skipped) if skipped else np.empty(0, np.int64)
        release_unused_memory()

    def _good_rows(self, rows, weights, position: int, check: bool) -> np.ndarray | None:
        """A mask of the rows to keep, or None to keep them all."""
        if not check:
            if self._skipped is None or not len(self._skipped):
                return None
            if self.handle_invalid != "skip":
                return None
        finite = np.isfinite(rows).all(axis=1)
        if weights is not None:
            finite &= np.isfinite(np.asarray(weights, dtype=np.float64))
        if finite.all():
            return None
        if self.handle_invalid == "error":
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(self._bad_row_message(rows[bad], position + bad))
        return finite

    def _bad_row_message(self, row: np.ndarray, index: int) -> str:
        columns = np.flatnonzero(~np.isfinite(row))
        j = int(columns[0]) if len(columns) else 0
        column = repr(self.feature_names[j]) if self.feature_names else str(j)
        if not len(columns):
            return f"{self.name}: row {index} has a weight that is NaN or infinite"
        value = row[j]
        what = "NaN (a missing value: null, empty or NaN)" if np.isnan(value) else f"{value}"
        return (
            f"{self.name}: row {index}, column {column} holds {what}; "
            "use handle_invalid='skip' (--handle-invalid skip) to leave such rows out"
        )

    def _check_shape(self, chunk: np.ndarray, position: int) -> None:
        if chunk.ndim != 2 or chunk.shape[1] != self.n_features:
            raise ValueError(
                f"{self.name}: rows from {position} have shape {chunk.shape[1:]}, "
                f"expected {self.n_features} features"
            )

    def _reads_ahead(self) -> bool:
        """Whether the next chunk is read on a worker thread while this one is used."""
        return True

    def _expected_rows(self) -> int | None:
        """Rows in a pass, for progress: counted once known, else the file's own count."""
        return self._summary[0] if self._summary is not None else self._rows_hint()

    def _rows_hint(self) -> int | None:
        """The number of rows as the file's header states it, when it does."""
        return None

    # -- one first pass: count, mean, variance -------------------------------------------

    def _first_pass(self) -> tuple[int, np.ndarray, float]:
        if self._summary is None:
            count, mean, m2 = 0, np.zeros(self.n_features), np.zeros(self.n_features)
            weights, total = [], 0.0
            for chunk, w in self._checked():
                # Small float64 blocks: whole-chunk float64 temporaries cost ~50 MB of peak RSS.
                for start in range(0, len(chunk), MOMENT_BLOCK_ROWS):
                    x = chunk[start : start + MOMENT_BLOCK_ROWS].astype(np.float64)
                    count, mean, m2 = _merge_moments(count, mean, m2, x)
                if w is not None:
                    weights.append(np.asarray(w, dtype=np.float64))
            if count == 0:
                raise ValueError(f"{self.name} has no rows" + self._skipped_note())
            if weights:
                self._weights = np.concatenate(weights)
                total = float(self._weights.sum())
            self._total_weight = total if weights else float(count)
            self._summary = (count, representable(mean, self.dtype), float(np.mean(m2 / count)))
            if self._skipped is not None and len(self._skipped):
                warnings.warn(
                    f"{self.name}: {self._skipped_note().strip(' ;')}",
                    RowsSkipped,
                    stacklevel=2,
                )
        return self._summary

    def _skipped_note(self) -> str:
        if self._skipped is None or not len(self._skipped):
            return ""
        n = len(self._skipped)
        return (
            f"; skipped {n} row{'s' if n != 1 else ''} with a missing value or infinity "
            f"(first: row {int(self._skipped[0])})"
        )

    @property
    def n_rows(self) -> int:
        # The file's own count when it states one and no row can be skipped, so asking
        # costs no pass over the rows (the first pass then runs inside the fit).
        if self._summary is None and self.handle_invalid == "error":
            hint = self._rows_hint()
            if hint:
                return hint
        return self._first_pass()[0]

    @property
    def origin(self) -> np.ndarray:
        return self._first_pass()[1]

    @property
    def mean_variance(self) -> float:
        return self._first_pass()[2]

    @property
    def total_weight(self) -> float:
        self._first_pass()
        return float(self._total_weight)

    @property
    def sample_weight(self) -> np.ndarray:
        """Weight of every row (float64): ones, or the weights the rows carry."""
        self._first_pass()
        return self._weights if self._weights is not None else np.ones(self.n_rows)

    # -- passes over the rows --------------------------------------------------------------

    def _unit_weights(self, n: int) -> tf.Tensor:
        if n not in self._ones:
            if len(self._ones) > 2:  # chunks of a folder's files may end short
                self._ones.clear()
            self._ones[n] = tf.ones([n], self.dtype)
        return self._ones[n]

    def _weights_tensor(self, rows: np.ndarray, weights) -> tf.Tensor:
        if weights is None:
            return self._unit_weights(len(rows))
        return tf.constant(np.asarray(weights, dtype=self.dtype))

    def chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        for chunk, weights in self._checked():
            yield as_tensor(chunk), self._weights_tensor(chunk, weights)

    def _stat_chunks(self) -> Iterator[tuple[tf.Tensor, tf.Tensor, bool]]:
        """(rows, weights, by_column) for the Lloyd pass: a chunk that is the transpose of
        a column block (Parquet's) goes to the kernel as that block, with no copy."""
        for chunk, weights in self._checked():
            w = self._weights_tensor(chunk, weights)
            by_column = chunk.flags.f_contiguous and not chunk.flags.c_contiguous
            if by_column and zero_copy_ok(chunk.T):
                yield as_tensor(chunk.T), w, True
            else:
                yield as_tensor(chunk), w, False

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        """Chunks go in turn to one thread per part of ``kernels.pass_layout`` (one per
        core on a CPU), each adding its chunks to its own total on the device, so one
        chunk's serial scatter overlaps another's GEMM, as parts of an in-memory pass do."""
        # Row norms are not recomputed every pass: the kernel leaves sum_i w_i ||x_i||^2
        # out of the inertia, and that total is taken once, in the first pass.
        origin = tf.constant(self.origin, self.dtype)
        centers_t = tf.constant(centers, self.dtype)
        with_norms = self._sqnorm_total is None
        inner, bounds = kernels.pass_layout(self.n_rows, len(centers), self.n_features)
        # More lanes would hold more chunks than a ring of buffers keeps valid.
        n_lanes = min(len(bounds) - 1, RING_SIZE - 1)

        def add(total, rows, weights, by_column):
            stats = kernels.lloyd_stats(
                rows,
                weights,
                origin,
                centers_t,
                inner,
                total=total[0],
                by_column=by_column,
                row_norms=False,
            )
            if not with_norms:
                return stats, total[1]
            return stats, total[1] + row_kernels.weighted_sqnorm(rows, weights, origin, by_column)

        totals = [(None, 0.0)] * n_lanes
        pending: list = [None] * n_lanes
        chunks = self._stat_chunks()
        with ThreadPoolExecutor(max_workers=n_lanes) as lanes:
            for position in itertools.count():
                lane = position % n_lanes
                if pending[lane] is not None:
                    # Before the next chunk is taken: its read may reuse this lane's buffer.
                    totals[lane] = pending[lane].result()
                    pending[lane] = None
                item = next(chunks, None)
                if item is None:
                    break
                pending[lane] = lanes.submit(add, totals[lane], *item)
            for lane, future in enumerate(pending):
                if future is not None:
                    totals[lane] = future.result()
        done = [total for total in totals if total[0] is not None]
        if not done:
            raise ValueError(f"{self.name} has no rows")
        if with_norms:
            self._sqnorm_total = float(sum(float(sqnorm) for _, sqnorm in done))
        sums, weights, shifted = (sum(parts) for parts in zip(*(t for t, _ in done), strict=True))
        return PartialStats(sums.numpy(), weights.numpy(), float(shifted) + self._sqnorm_total)

    def assign(self, centers: np.ndarray) -> Iterator[Assigned]:
        origin = tf.constant(self.origin, self.dtype)
        centers_t = tf.constant(centers, self.dtype)
        for rows, weights in self.chunks():
            labels, sq = row_kernels.assign(rows, origin, centers_t, kernels.DEFAULT_CHUNK_ROWS)
            yield Assigned(labels.numpy(), sq.numpy(), weights.numpy().astype(np.float64))

    def kmeanspp_pass(
        self, closest: tf.Tensor | None, centers: np.ndarray
    ) -> tuple[np.ndarray, tf.Tensor]:
        """``InMemory.kmeanspp_pass`` chunk by chunk: the potentials of ``centers`` and
        ``closest`` (float64, one per row, kept in memory) updated by ``centers[0]``.
        Each row's distance is the kernel's, so the running distances, and the
        float64 cumulative sum the draws search, are those of the rows in memory."""
        origin = tf.constant(self.origin, self.dtype)
        centers_t = tf.constant(np.asarray(centers), self.dtype)
        potentials = np.zeros(len(centers))
        updated, start = [], 0
        for rows, weights in self.chunks():
            n = int(rows.shape[0])
            if closest is None:
                previous = tf.fill([n], tf.constant(np.inf, tf.float64))
            else:
                previous = closest[start : start + n]
            sqnorms = row_kernels.row_sqnorms(rows, origin)
            part, new = kmeanspp_pass(
                rows, tf.cast(weights, tf.float64), sqnorms, previous, origin, centers_t
            )
            potentials += part.numpy()
            updated.append(new)
            start += n
        return potentials, tf.concat(updated, axis=0)

    def at_cumulative(self, closest: tf.Tensor, targets: np.ndarray) -> np.ndarray:
        """For each target, the first row where the running sum of w_i closest_i reaches
        it (searchsorted, left), at most n_rows - 1. The float64 sum is carried from
        block to block by starting each block's cumsum at the total so far, which adds
        in the very order of one cumsum: bit-identical to it, without an n-long copy."""
        weights, n = self.sample_weight, self.n_rows
        targets = np.asarray(targets, dtype=np.float64)
        found = np.full(len(targets), n - 1, dtype=np.int64)
        pending = np.ones(len(targets), bool)
        carry = 0.0
        for start in range(0, n, CUMSUM_BLOCK_ROWS):
            stop = min(start + CUMSUM_BLOCK_ROWS, n)
            block = weights[start:stop] * closest[start:stop].numpy()
            cumulative = np.cumsum(np.concatenate([[carry], block]))[1:]
            hit = pending & (targets <= cumulative[-1])
            found[hit] = start + np.searchsorted(cumulative, targets[hit])
            pending &= ~hit
            carry = cumulative[-1]
            if not pending.any():
                break
        return found

    def take(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows (centred, float64) and weights at these positions (among kept rows):
        one pass that stops after the last one wanted."""
        positions = np.asarray(positions, dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        wanted = positions[order]
        out = np.empty((len(positions), self.n_features))
        weights_out = np.ones(len(positions))
        start = 0
        for chunk, weights in self._checked():
            lo, hi = np.searchsorted(wanted, [start, start + len(chunk)])
            out[order[lo:hi]] = chunk[wanted[lo:hi] - start]
            if weights is not None:
                weights_out[order[lo:hi]] = np.asarray(weights)[wanted[lo:hi] - start]
            start += len(chunk)
            if hi == len(wanted):
                break
        return out - self.origin, weights_out

    def sample(self, m: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """min(m, n) distinct rows drawn by weight: the very draws ``InMemory.sample``
        makes from the same state, so a file and an array give the same sample."""
        weights = self.sample_weight
        m = min(m, len(weights))
        positions = random_state.choice(
            len(weights), size=m, replace=False, p=weights / weights.sum()
        )
        return self.take(positions)


def _merge_moments(count: int, mean: np.ndarray, m2: np.ndarray, x: np.ndarray):
    """Count, mean and summed squared deviations with the rows ``x`` added (Chan et al.)."""
    n = len(x)
    block_mean = x.mean(axis=0)
    block_m2 = ((x - block_mean) ** 2).sum(axis=0)
    total = count + n
    delta = block_mean - mean
    return total, mean + delta * (n / total), m2 + block_m2 + delta**2 * (count * n / total)


def kept_to_raw(positions: np.ndarray, skipped: np.ndarray | None) -> np.ndarray:
    """Positions among kept rows as positions in the file, given the skipped ones (sorted)."""
    if skipped is None or not len(skipped):
        return positions
    shifted = skipped - np.arange(len(skipped))
    return positions + np.searchsorted(shifted, positions, side="right")


def compute_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)
