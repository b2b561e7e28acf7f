"""Model files: a documented, versioned format that loading can never execute.

A model file is a ZIP archive with two kinds of members:

- ``model.json``: ``{"format": "tfkmeans.KMeans", "version": 1, "params": {...},
  "attributes": {...}, "arrays": [...]}``. ``params`` are the estimator's
  constructor parameters that JSON can hold (others, such as a callable
  ``init`` or an optimizer object, are recorded by name and replaced by their
  defaults on load); ``attributes`` are the scalar fitted attributes.
- one ``<name>.npy`` per array listed in ``arrays`` (``cluster_centers_`` and,
  when it was an array, ``init``), read with ``allow_pickle=False``.

Nothing is unpickled and no code is imported from the file. Writes go to a
temporary file that replaces the target only once complete.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from tfkmeans.atomic import atomic_path

FORMAT = "tfkmeans.KMeans"
VERSION = 1
META = "model.json"


def _json_param(value):
    """A JSON-able parameter value, or None with a marker when it is not one."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value, True
    if isinstance(value, np.integer):
        return int(value), True
    if isinstance(value, np.floating):
        return float(value), True
    return None, False


def save_model(estimator, path: str | os.PathLike) -> None:
    """Write a fitted estimator's parameters and centres to ``path`` atomically."""
    params, replaced, arrays = {}, {}, {"cluster_centers_": estimator.cluster_centers_}
    for name, value in estimator.get_params(deep=False).items():
        if name == "init" and not isinstance(value, str) and not callable(value):
            arrays["init"] = np.asarray(value)
            continue
        encoded, ok = _json_param(value)
        if ok:
            params[name] = encoded
        else:
            replaced[name] = getattr(value, "__qualname__", type(value).__qualname__)
    attributes = {
        "inertia_": float(estimator.inertia_),
        "n_iter_": int(estimator.n_iter_),
        "n_features_in_": int(estimator.n_features_in_),
        "dtype": str(estimator.cluster_centers_.dtype),
    }
    if hasattr(estimator, "feature_names_in_"):
        attributes["feature_names_in_"] = [str(n) for n in estimator.feature_names_in_]
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "params": params,
        "replaced_params": replaced,
        "attributes": attributes,
        "arrays": sorted(arrays),
    }
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(META, json.dumps(meta, indent=2))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())


def _read_meta(archive: zipfile.ZipFile, path: Path) -> dict:
    try:
        meta = json.loads(archive.read(META))
    except KeyError:
        raise ValueError(f"{path} is not a tfkmeans model file (no {META} inside)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(f"{path} is a corrupt tfkmeans model file ({META} unreadable)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a tfkmeans model file (format is not {FORMAT})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"{path} was written in model format version {version}; this tfkmeans reads up "
            f"to version {VERSION}: upgrade tfkmeans"
        )
    return meta


def read_model(path: str | os.PathLike) -> tuple[dict, dict]:
    """(metadata, arrays) of a model file, checked, without building an estimator (so
    without TensorFlow: the command line's ``info`` and checks use it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise ValueError(f"{path} is not a tfkmeans model file (not a ZIP archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_meta(archive, path)
            arrays = {}
            for name in meta.get("arrays", []):
                raw = archive.read(f"{name}.npy")
                arrays[name] = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise ValueError(f"{path} is a truncated or corrupt tfkmeans model file ({exc})") from None
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path} is a corrupt tfkmeans model file ({exc})") from None
    centers = arrays.get("cluster_centers_")
    if centers is None or centers.ndim != 2:
        raise ValueError(f"{path} is a corrupt tfkmeans model file (no 2-D cluster_centers_)")
    if centers.shape[1] != meta["attributes"].get("n_features_in_"):
        raise ValueError(f"{path} is a corrupt tfkmeans model file (centre width mismatch)")
    return meta, arrays


def load_model(cls, path: str | os.PathLike):
    """Read a model file written by ``save_model``; every failure is a one-line ValueError.
    The model keeps cluster_centers_, inertia_, n_iter_, n_features_in_ and
    feature_names_in_; labels_ (one per training row) is not kept."""
    path = Path(path)
    if path.is_dir() and (path / "metadata").is_dir() and (path / "data").is_dir():
        return load_spark_model(cls, path)
    meta, arrays = read_model(path)
    params = dict(meta["params"])
    if "init" in arrays:
        params["init"] = arrays["init"]
    valid = cls().get_params(deep=False)
    estimator = cls(**{k: v for k, v in params.items() if k in valid})
    attributes = meta["attributes"]
    centers = arrays["cluster_centers_"]
    estimator.cluster_centers_ = centers
    estimator.inertia_ = float(attributes["inertia_"])
    estimator.n_iter_ = int(attributes["n_iter_"])
    estimator.n_features_in_ = int(attributes["n_features_in_"])
    estimator._n_features_out = centers.shape[0]
    estimator._loaded_from = str(path)
    if "feature_names_in_" in attributes:
        estimator.feature_names_in_ = np.asarray(attributes["feature_names_in_"], dtype=object)
    return estimator


def load_spark_model(cls, path: Path):
    """A model saved by ``tfkmeans.spark.SparkKMeansModel`` (metadata JSON + Parquet
    centres, Spark's layout), as an in-memory KMeans for prediction. Spark does not
    save the training cost, so ``inertia_`` is NaN and ``n_iter_`` 0."""
    import pyarrow.parquet as pq

    try:
        lines = [
            line
            for part in sorted((path / "metadata").glob("part-*"))
            for line in part.read_text().splitlines()
            if line.strip()
        ]
        meta = json.loads(lines[0])
        table = pq.read_table(path / "data").sort_by("clusterIdx")
        centers = np.array(table["clusterCenter"].to_pylist(), dtype=np.float64)
    except (IndexError, KeyError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable Spark k-means model ({exc})") from None
    if meta.get("format") != "tfkmeans.SparkKMeansModel" or centers.ndim != 2:
        raise ValueError(f"{path} is not a tfkmeans Spark model")
    params = meta.get("paramMap", {})
    metric = "cosine" if params.get("distanceMeasure") == "cosine" else "euclidean"
    estimator = cls(n_clusters=len(centers), metric=metric)
    estimator.cluster_centers_ = centers
    estimator.inertia_ = float("nan")
    estimator.n_iter_ = 0
    estimator.n_features_in_ = centers.shape[1]
    estimator._n_features_out = len(centers)
    return estimator
