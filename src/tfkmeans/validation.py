"""Input checks and conversion: one clear sentence for every user mistake."""

from __future__ import annotations

import os
import warnings

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

from tfkmeans.sources import InMemory, Source
from tfkmeans.sparse_source import SparseSource, canonical_csr, is_sparse
from tfkmeans.sparse_source import unit_rows as unit_sparse_rows
from tfkmeans.tfload import tf


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def to_numpy_if_tensor(X):
    """TensorFlow tensors become NumPy arrays; anything else is returned unchanged."""
    if isinstance(X, (tf.Tensor, tf.Variable)):
        return X.numpy()
    return X


def check_rows(estimator, X, *, reset: bool) -> np.ndarray:
    """A finite 2-D float array (float64 kept, other dtypes become float32)."""
    X = to_numpy_if_tensor(X)
    try:
        X = validate_data(
            estimator,
            X,
            reset=reset,
            accept_sparse=False,
            dtype="numeric",
            order="C",
            ensure_min_samples=1,
        )
    except ValueError as exc:
        raise ValueError(one_line(exc, X)) from None
    return X.astype(compute_dtype(X.dtype), copy=False)


def one_line(exc: Exception, X=None) -> str:
    """scikit-learn's message cut to its first line (its advice and array dumps dropped)."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    first = lines[0]
    if first.endswith(":"):
        shape = getattr(X, "shape", None)
        first = first[:-1] + (f" (X has shape {shape})." if shape is not None else ".")
        advice = [line for line in lines if line.startswith("Reshape your data")]
        first += (" " + advice[0]) if advice else ""
    return first


def check_weights(sample_weight, X: np.ndarray) -> np.ndarray | None:
    """Non-negative, finite, one per row, and not all zero; None stays None."""
    if sample_weight is None:
        return None
    sample_weight = to_numpy_if_tensor(sample_weight)
    weights = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if weights.sum() <= 0:
        raise ValueError("sample_weight sums to zero: at least one row needs a positive weight.")
    return weights


def check_n_clusters(n_clusters: int, n_rows: int) -> None:
    if n_rows < n_clusters:
        raise ValueError(f"n_samples={n_rows} should be >= n_clusters={n_clusters}.")


def check_init_array(init, n_clusters: int, n_features: int) -> np.ndarray:
    init = np.asarray(to_numpy_if_tensor(init), dtype=np.float64)
    if init.ndim != 2 or init.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {init.shape} does not match the number of "
            f"clusters {n_clusters}."
        )
    if init.shape[1] != n_features:
        raise ValueError(
            f"The shape of the initial centers {init.shape} does not match the number of "
            f"features of the data {n_features}."
        )
    if not np.all(np.isfinite(init)):
        raise ValueError("The initial centers contain NaN or infinity.")
    return init


def resolve_init(init, rows, n_clusters: int, n_features: int, random_state) -> str | np.ndarray:
    """``init`` as ``initial_centers`` takes it: a method's name, or checked (k, d)
    centres; a callable is called on the in-memory rows (None: not in memory)."""
    if callable(init):
        if rows is None:
            raise TypeError("a callable init needs in-memory X; pass an array instead")
        init = init(rows, n_clusters, random_state=random_state)
        return check_init_array(init, n_clusters, n_features)
    if isinstance(init, str):
        return init
    return check_init_array(init, n_clusters, n_features)


def resolve_n_init(n_init, init, default_n_init: int, estimator_name: str) -> int:
    """Restarts to run, as scikit-learn: "auto" is ``default_n_init`` for random or a
    callable init, else 1; explicit centres run once (with a warning)."""
    if n_init != "auto":
        n_init = int(n_init)
    elif isinstance(init, str) and init == "random" or callable(init):
        n_init = default_n_init
    else:
        n_init = 1
    if not isinstance(init, str) and not callable(init) and n_init != 1:
        warnings.warn(
            "Explicit initial center position passed: performing only one init in "
            f"{estimator_name} instead of n_init={n_init}.",
            RuntimeWarning,
            stacklevel=3,
        )
        n_init = 1
    return n_init


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (a copy); a zero row has no direction."""
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise ValueError(
            f"metric='cosine' needs non-zero rows, but row {zero[0]} (and {len(zero) - 1} "
            "more) is all zeros."
        )
    return (rows / norms[:, None]).astype(rows.dtype)


def in_memory_source(
    estimator, X, sample_weight=None, *, reset: bool, chunk_rows: int | None, unit: bool = False
) -> tuple[InMemory | SparseSource, object]:
    """Validated rows as an InMemory source (a SparseSource for sparse X, never
    densified), and the validated rows themselves.

    ``unit`` puts the rows on the unit sphere first (cosine k-means).
    """
    sparse = is_sparse(X)
    rows = (check_sparse_rows if sparse else check_rows)(estimator, X, reset=reset)
    weights = check_weights(sample_weight, rows)
    if unit:
        rows = (unit_sparse_rows if sparse else unit_rows)(rows)
    source = (SparseSource if sparse else InMemory)(rows, weights, chunk_rows=chunk_rows)
    source.unit_rows = unit
    return source, rows


def as_source(
    estimator, X, sample_weight=None, *, reset: bool, chunk_rows: int | None, unit: bool = False
) -> tuple[Source, np.ndarray | None]:
    """Any supported input as a Source, plus the validated array when X is in memory.

    The one place that decides what ``fit``, ``predict`` and ``score`` accept: arrays
    and frames, tensors, a Source, a path to a .npy / .parquet / .csv file (or a
    folder of Parquet files), or a ``tf.data.Dataset`` of row batches.
    """
    if isinstance(X, (str, os.PathLike, tf.data.Dataset)):
        from tfkmeans.files import DatasetSource, read

        X = DatasetSource(X) if isinstance(X, tf.data.Dataset) else read(X)
    if isinstance(X, Source):
        if sample_weight is not None:
            raise ValueError("sample_weight cannot be given with a Source: weight its rows instead")
        names = getattr(X, "feature_names", None)  # a table's columns (Parquet, CSV)
        if reset:
            estimator.n_features_in_ = X.n_features
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
            if names:
                estimator.feature_names_in_ = np.asarray(names, dtype=object)
        elif X.n_features != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.n_features} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        elif names and hasattr(estimator, "feature_names_in_"):
            fitted = [str(n) for n in estimator.feature_names_in_]
            if list(names) != fitted:
                raise ValueError(
                    f"{getattr(X, 'name', 'X')} has features {', '.join(names)}, but the model "
                    f"was fitted on {', '.join(fitted)}"
                )
        if unit and not getattr(X, "unit_rows", False):
            raise ValueError(
                "metric='cosine' on a Source needs unit-norm rows: open it with rows "
                "normalised (unit_rows=True) or pass the data in memory"
            )
        return X, None
    return in_memory_source(
        estimator, X, sample_weight, reset=reset, chunk_rows=chunk_rows, unit=unit
    )


def check_sparse_rows(estimator, X, *, reset: bool):
    """A finite CSR matrix in canonical form (float64 kept, other dtypes become float32);
    CSC, COO and ``tf.SparseTensor`` are converted without densifying."""
    if isinstance(X, tf.SparseTensor):
        X = canonical_csr(X)
    try:
        X = validate_data(
            estimator, X, reset=reset, accept_sparse="csr", dtype="numeric", ensure_min_samples=1
        )
    except ValueError as exc:
        raise ValueError(one_line(exc, X)) from None
    X = canonical_csr(X)
    return X.astype(compute_dtype(X.dtype), copy=False)
