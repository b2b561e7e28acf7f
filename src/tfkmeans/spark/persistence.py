"""Saving and loading in Spark ML's layout, with DataFrame writes only (no JVM call, so
Spark Connect works): a model folder is exactly what Spark's KMeansModel writes
(``metadata/`` JSON, ``data/`` Parquet of clusterIdx and a vector clusterCenter), so
``pyspark.ml.clustering.KMeansModel.load`` reads it, and a folder Spark wrote loads here.
tfkmeans' own params ride in an extra metadata key that Spark ignores."""

from __future__ import annotations

import json
import time

import numpy as np
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter
from pyspark.sql import SparkSession

from tfkmeans.spark.params import EXTRA_PARAMS

SPARK_MODEL_CLASS = "org.apache.spark.ml.clustering.KMeansModel"
# Written by tfkmeans before it wrote Spark's layout; still read.
OLD_FORMAT = "tfkmeans.SparkKMeansModel"


class _Writer(MLWriter):
    """``overwrite()`` replaces metadata/ and data/ with DataFrame writes in overwrite mode
    (MLWriter's own overwrite calls the JVM)."""

    def __init__(self, instance) -> None:
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        self.saveImpl(path)

    @property
    def _mode(self) -> str:
        return "overwrite" if self.shouldOverwrite else "error"  # Connect knows no "errorifexists"

    def _write_metadata(self, path: str, metadata: str) -> None:
        self.sparkSession.createDataFrame([(metadata,)], "value string").coalesce(1).write.mode(
            self._mode
        ).text(f"{path}/metadata")


class EstimatorWriter(_Writer):
    """Spark's params metadata; initial centres given by ``setInitialModel`` ride in a
    ``tfkmeans`` key (JSON floats round-trip float64 exactly)."""

    def saveImpl(self, path: str) -> None:
        initial = getattr(self.instance, "_initial", None)
        extra = None if initial is None else {"tfkmeans": {"initialModel": initial.tolist()}}
        self._write_metadata(
            path,
            DefaultParamsWriter._get_metadata_to_save(
                self.instance, self.sparkSession, extraMetadata=extra
            ),
        )


class EstimatorReader(MLReader):
    def __init__(self, cls) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        initial = metadata.get("tfkmeans", {}).get("initialModel")
        if initial is not None:
            instance.setInitialModel(np.array(initial, dtype=np.float64))
        return instance


def _json_params(params: dict) -> dict:
    return {p.name: v for p, v in params.items() if p.name not in EXTRA_PARAMS}


class ModelWriter(_Writer):
    def saveImpl(self, path: str) -> None:
        from pyspark.ml.linalg import DenseVector, VectorUDT
        from pyspark.sql import types as T

        model, spark = self.instance, self.sparkSession
        metadata = {
            "class": SPARK_MODEL_CLASS,
            "timestamp": int(round(time.time() * 1000)),
            "sparkVersion": spark.version,
            "uid": model.uid,
            "paramMap": _json_params(model._paramMap),
            "defaultParamMap": _json_params(model._defaultParamMap),
            "tfkmeans": {
                "class": f"{type(model).__module__}.{type(model).__name__}",
                "paramMap": {
                    p.name: v for p, v in model._paramMap.items() if p.name in EXTRA_PARAMS
                },
            },
        }
        self._write_metadata(path, json.dumps(metadata, separators=(",", ":")))
        schema = T.StructType(
            [
                T.StructField("clusterIdx", T.IntegerType()),
                T.StructField("clusterCenter", VectorUDT()),
            ]
        )
        rows = [(i, DenseVector(c.tolist())) for i, c in enumerate(model._centers)]
        spark.createDataFrame(rows, schema).coalesce(1).write.mode(self._mode).parquet(
            f"{path}/data"
        )


class ModelReader(MLReader):
    """Reads Spark's KMeansModel folders (written here or by Spark) and tfkmeans' older
    layout (an array column and a ``format`` key)."""

    def __init__(self, cls) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        spark: SparkSession = self.sparkSession
        metadata = json.loads(spark.read.text(f"{path}/metadata").first()[0])
        if metadata.get("class") != SPARK_MODEL_CLASS and metadata.get("format") != OLD_FORMAT:
            raise ValueError(f"{path} holds a {metadata.get('class')}, not a k-means model")
        rows = spark.read.parquet(f"{path}/data").orderBy("clusterIdx").collect()
        centers = [
            r["clusterCenter"].toArray()
            if hasattr(r["clusterCenter"], "toArray")
            else list(r["clusterCenter"])
            for r in rows
        ]
        model = self.cls(np.array(centers, dtype=np.float64))
        model._resetUid(metadata["uid"])
        for name, value in metadata.get("defaultParamMap", {}).items():
            if model.hasParam(name) and value is not None:
                model._setDefault(**{name: value})
        own = metadata.get("tfkmeans", {}).get("paramMap", {})
        for name, value in {**metadata.get("paramMap", {}), **own}.items():
            if model.hasParam(name) and value is not None:
                model._set(**{name: value})
        return model
