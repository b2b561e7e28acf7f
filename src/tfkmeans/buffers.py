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

import os

import numpy as np
import tensorflow as tf

ALIGNMENT = 64  # bytes; TensorFlow's EIGEN_MAX_ALIGN_BYTES on AVX-512 builds
RING_SIZE = 3  # the chunk in use, the one before it and the one being read ahead


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ALIGNMENT boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


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
