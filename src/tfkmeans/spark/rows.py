"""Executor side: a partition's Arrow batches to float64 rows and weights."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import types as T

FEATURES, WEIGHT = "__tfkm_features", "__tfkm_weight"
# One binary column carries each partition's pickled answer (or the resident fit) back.
PAYLOAD_SCHEMA = T.StructType([T.StructField("payload", T.BinaryType())])


def rows_of(batch: pa.RecordBatch, n_features: int, dtype) -> tuple[np.ndarray, np.ndarray]:
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


def unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("distanceMeasure='cosine' needs non-zero feature vectors")
    return rows / norms


def partition_rows(
    batches: Iterator[pa.RecordBatch], n_features: int, unit_rows: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """All rows (float64, unit norm for cosine) and weights of a partition; None if empty."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows, weights = [], []
    for batch in batches:
        if batch.num_rows:
            chunk, chunk_weights = rows_of(batch, n_features, np.float64)
            rows.append(unit(chunk) if unit_rows else chunk)
            weights.append(chunk_weights)
    if not rows:
        return None
    return np.concatenate(rows), np.concatenate(weights)


def set_threads(cpus: int) -> None:
    """TensorFlow's thread pools sized to the task's cores, when TF has not started yet."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)
    except RuntimeError:
        pass  # this reused Python worker started TensorFlow already
