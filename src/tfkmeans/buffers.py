"""Reused, aligned host buffers for file chunks, handed to TensorFlow without a copy.

A file pass reads every row once per iteration. Reading each chunk into a fresh
array and then copying it into a tensor costs two copies and the page faults of
a new allocation per chunk; instead chunks are read straight into a small ring
of 64-byte aligned buffers, and TensorFlow gets a DLPack view of the buffer.

TensorFlow aborts the whole process (a failed ``IsAligned`` check, not an
exception) when an op meets a tensor whose memory is not aligned, so only
buffers that pass ``zero_copy_ok`` are shared; anything else is copied.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import sys

import numpy as np

from tfkmeans.tfload import tf

ALIGNMENT = 64  # bytes; TensorFlow's EIGEN_MAX_ALIGN_BYTES on AVX-512 builds
RING_SIZE = 3  # the chunk in use, the one before it and the one being read ahead
# Sizes a padded row count can take per octave: 16 keeps the padding under 6.25% of
# the rows while nearby counts share one compiled program.
SIZES_PER_OCTAVE = 16


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ALIGNMENT boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def padded_rows(n: int) -> int:
    """``n`` rounded up to the next of SIZES_PER_OCTAVE sizes per power of two."""
    step = 1 << max(n.bit_length() - 1 - SIZES_PER_OCTAVE.bit_length() + 1, 0)
    return -(-n // step) * step


def padded_copy(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` in ``dtype``, copied once into an aligned buffer of ``padded_rows``
    rows whose tail is zero: the rows and the padded rows a compiled program takes
    are then two views of one copy, both handed to TensorFlow without another.

    Why not ``tf.constant``: TensorFlow copies every array it converts, into fresh
    4 KB pages that fault in one by one (20,000 x 768 float32: ~10 ms, NumPy's copy
    ~5.5 ms), and padding was a second copy (~4 ms)."""
    n = len(array)
    buffer = aligned_empty((padded_rows(n), *array.shape[1:]), dtype)
    buffer[:n] = array
    buffer[n:] = 0
    return buffer


class BufferRing:
    """RING_SIZE buffers of up to ``rows`` x ``n_features``, used in turn.

    A chunk handed out stays untouched until two more chunks have been taken,
    so the consumer may use chunk i while chunk i+1 is being read ahead.
    """

    def __init__(self, rows: int, n_features: int, dtype) -> None:
        self._shape = (int(rows), int(n_features))
        self._dtype = np.dtype(dtype)
        self._buffers: list[np.ndarray] = []
        self._next = 0

    def take(self, rows: int) -> np.ndarray:
        """The next buffer's first ``rows`` rows (allocated on first use)."""
        if len(self._buffers) < RING_SIZE:
            self._buffers.append(aligned_empty(self._shape, self._dtype))
        buffer = self._buffers[self._next % len(self._buffers)]
        self._next = (self._next + 1) % RING_SIZE
        return buffer[:rows]

    def take_columns(self, rows: int) -> np.ndarray:
        """The next buffer as a C-contiguous n_features x ``rows`` block (column-major rows)."""
        return self.take(self._shape[0]).reshape(-1)[: rows * self._shape[1]].reshape(-1, rows)


def zero_copy_ok(array: np.ndarray) -> bool:
    """Whether TensorFlow can safely use ``array``'s memory as a tensor's."""
    return (
        array.flags.c_contiguous
        and array.flags.writeable
        and array.dtype in (np.float32, np.float64)
        and array.dtype.isnative
        and array.size > 0
        and array.ctypes.data % ALIGNMENT == 0
    )


def as_tensor(array: np.ndarray) -> tf.Tensor:
    """A tensor over ``array``'s memory when that is safe, else a copy."""
    if zero_copy_ok(array):
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)


def read_into(fd: int, out: np.ndarray, offset: int, name: str) -> None:
    """Fill ``out`` with the bytes at ``offset`` of an open file (the GIL is released)."""
    view = memoryview(out.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise ValueError(f"{name} is truncated: it ends {len(view) - done} bytes early")
        done += got


class MappedRows:
    """The rows of a C-ordered .npy file as views of a private, copy-on-write map.

    TensorFlow gets each chunk through DLPack straight from the page cache: no read
    copy at all (a pass over 1 GiB with ``pread`` copies spent ~0.07 s more). Pages
    before a chunk are dropped from this process once the chunk after it is asked
    for, so about two chunks are resident. The map is private and nothing writes
    to it, so a page dropped early is simply faulted in again from the file: chunks
    can never be overwritten under a consumer, unlike buffers in a ring.
    """

    def __init__(self, path: str, offset: int, rows: int, n_features: int, dtype) -> None:
        self._dtype = np.dtype(dtype)
        self._offset, self._rows, self._n_features = offset, rows, n_features
        self._row_bytes = n_features * self._dtype.itemsize
        self._path = path

    @staticmethod
    def suits(offset: int, chunk_rows: int, n_features: int, dtype) -> bool:
        """Whether every chunk would start ALIGNMENT-aligned in a native-float map."""
        dtype = np.dtype(dtype)
        return (
            dtype in (np.float32, np.float64)
            and dtype.isnative
            and offset % ALIGNMENT == 0
            and chunk_rows * n_features * dtype.itemsize % ALIGNMENT == 0
            and hasattr(mmap, "MADV_DONTNEED")
        )

    def chunks(self, chunk_rows: int):
        """Views of ``chunk_rows`` rows in file order (the last may be shorter)."""
        end = self._offset + self._rows * self._row_bytes
        with open(self._path, "rb") as file:
            if os.fstat(file.fileno()).st_size < end:  # shrunk since it was opened
                raise ValueError(f"{self._path} is truncated: it ends before its last row")
            mapped = mmap.mmap(
                file.fileno(), end, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE
            )
        rows = np.frombuffer(mapped, self._dtype, self._rows * self._n_features, self._offset)
        rows = rows.reshape(self._rows, self._n_features)
        done = 0  # bytes of the map before this point have been dropped
        for start in range(0, self._rows, chunk_rows):
            yield rows[start : start + chunk_rows]
            # Asked for the next chunk: the one before this has been used (a consumer that
            # still reads it only faults its pages in again).
            upto = (self._offset + start * self._row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
            if upto > done:
                mapped.madvise(mmap.MADV_DONTNEED, done, upto - done)
                done = upto
        # The map closes when the last view (and any tensor over it) is gone.


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_unused_memory() -> None:
    """Return memory freed during a pass (Arrow's pool, the C heap) to the system.

    Freed memory is otherwise kept by the allocators, and what one pass leaves
    behind sits under the next pass's peak: on a 4 GiB Parquet fit that was ~40 MB
    of a 1 GiB budget.
    """
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
