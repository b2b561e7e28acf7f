"""SparkKMeans and SparkKMeansModel: pyspark.ml.clustering.KMeans' face (params, setters,
getters, summary, persistence) on tfkmeans' one solver."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tfkmeans.spark.fit import MODES, Plan, fit
from tfkmeans.spark.frame import (
    Frame,
    feature_columns,
    features_expression,
    sparse_vector_column,
    valid_rows,
    vector_column,
)
from tfkmeans.spark.params import SparkKMeansParams
from tfkmeans.spark.persistence import EstimatorReader, EstimatorWriter, ModelReader, ModelWriter
from tfkmeans.spark.rows import FEATURES, WEIGHT, rows_of, unit
from tfkmeans.spark.vectors import csr_of
from tfkmeans.spark.vectors import unit as unit_sparse

SOLVERS = ("auto", "row", "block")


class SparkKMeans(Estimator, SparkKMeansParams, MLWritable, MLReadable):
    """k-means on a Spark DataFrame with pyspark.ml.clustering.KMeans' params and defaults.

    ``tol`` is Spark's: every centre moved less than ``tol`` (absolute). Unlike Spark,
    an empty cluster takes the farthest row, so k distinct points give k centres.
    ``solver``, ``maxBlockSizeInMB`` and ``intermediateStorageLevel`` choose among
    Spark's own implementations; they are kept (and saved) but tfkmeans has one solver.
    """

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol="features",
        featuresCols=None,
        predictionCol="prediction",
        k=2,
        initMode="k-means||",
        initSteps=2,
        tol=1e-4,
        maxIter=20,
        seed=None,
        distanceMeasure="euclidean",
        weightCol=None,
        solver="auto",
        maxBlockSizeInMB=0.0,
        handleInvalid="error",
        executionMode="auto",
    ):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        return self._set(**kwargs)

    def setK(self, value: int):
        return self._set(k=value)

    def setInitMode(self, value: str):
        return self._set(initMode=value)

    def setInitSteps(self, value: int):
        return self._set(initSteps=value)

    def setDistanceMeasure(self, value: str):
        return self._set(distanceMeasure=value)

    def setMaxIter(self, value: int):
        return self._set(maxIter=value)

    def setSeed(self, value: int):
        return self._set(seed=value)

    def setTol(self, value: float):
        return self._set(tol=value)

    def setWeightCol(self, value: str):
        return self._set(weightCol=value)

    def setSolver(self, value: str):
        return self._set(solver=value)

    def setMaxBlockSizeInMB(self, value: float):
        return self._set(maxBlockSizeInMB=value)

    def setIntermediateStorageLevel(self, value: str):
        return self._set(intermediateStorageLevel=value)

    def setHandleInvalid(self, value: str):
        return self._set(handleInvalid=value)

    def setExecutionMode(self, value: str):
        return self._set(executionMode=value)

    def setInitialModel(self, centers):
        """Start from given centres (an array or a fitted model), as mllib's KMeans allows."""
        if isinstance(centers, SparkKMeansModel):
            centers = np.array(centers.clusterCenters())
        self._initial = np.asarray(centers, dtype=np.float64)
        return self

    def write(self) -> EstimatorWriter:
        return EstimatorWriter(self)

    @classmethod
    def read(cls) -> EstimatorReader:
        return EstimatorReader(cls)

    def _check(self, frame: Frame) -> None:
        n_rows, k = frame.n_rows, self.getK()
        if k < 2:
            raise ValueError(f"k must be greater than 1, got {k}")
        if k > n_rows:
            raise ValueError(f"k={k} is larger than the {n_rows} rows of the DataFrame")
        if self.getInitMode() not in ("k-means||", "random"):
            raise ValueError(
                f"initMode must be 'k-means||' or 'random', got {self.getInitMode()!r}"
            )
        if self.getInitSteps() < 1:
            raise ValueError(f"initSteps must be > 0, got {self.getInitSteps()}")
        if self.getDistanceMeasure() not in ("euclidean", "cosine"):
            raise ValueError("distanceMeasure must be 'euclidean' or 'cosine'")
        if self.getDistanceMeasure() == "cosine" and frame.zero_rows:
            raise ValueError(
                f"distanceMeasure='cosine' needs non-zero feature vectors, and "
                f"{frame.zero_rows} rows are all zeros"
            )
        if self.getSolver() not in SOLVERS:
            raise ValueError(f"solver must be 'auto', 'row' or 'block', got {self.getSolver()!r}")
        if self.getExecutionMode() not in MODES:
            raise ValueError(
                f"executionMode must be one of {', '.join(map(repr, MODES))}, "
                f"got {self.getExecutionMode()!r}"
            )

    def _plan(self, n_features: int) -> Plan:
        k = self.getK()
        initial = getattr(self, "_initial", None)
        if initial is not None and initial.shape != (k, n_features):
            raise ValueError(
                f"initial centres have shape {initial.shape}, expected ({k}, {n_features})"
            )
        seed = self.getSeed() if self.isDefined(self.seed) else None
        return Plan(
            k=k,
            max_iter=self.getMaxIter(),
            tol=self.getTol(),
            init_mode=self.getInitMode(),
            init_steps=self.getInitSteps(),
            # Every resident task draws the same numbers, so the seed is fixed here.
            seed=int(np.random.randint(2**31)) if seed is None else seed % 2**32,
            cosine=self.getDistanceMeasure() == "cosine",
            initial=initial,
        )

    def _fit(self, dataset: DataFrame) -> SparkKMeansModel:
        weight_col = self._weight_col()
        frame = Frame.prepare(dataset, self._features(), weight_col, self.getHandleInvalid())
        self._check(frame)
        plan = self._plan(frame.n_features)
        fitted = fit(frame, plan, self.getExecutionMode())
        model = self._copyValues(SparkKMeansModel(fitted.centers))
        model._sparse_vectors = frame.sparse
        training = valid_rows(dataset, self._features(), weight_col) if frame.n_skipped else dataset
        # The summary's predictions read the column as the fit did (no second look).
        sparse_column = feature_columns(self._features())[0] if frame.sparse else None
        model._summary = SparkKMeansSummary(
            model._predictions(training, sparse_column),
            model.getPredictionCol(),
            model.getFeaturesCol(),
            k=plan.k,
            trainingCost=fitted.cost,
            numIter=fitted.n_iter,
            numSkipped=frame.n_skipped,
            executionMode=fitted.mode,
            fallbackReason=fitted.fallback_reason,
        )
        return model


class SparkKMeansSummary:
    """pyspark.ml's KMeansSummary (predictions, cluster, clusterSizes, trainingCost,
    numIter, k, featuresCol, predictionCol), plus how the fit ran: ``executionMode``
    ('resident' or 'per-iteration'), ``fallbackReason`` and ``numSkipped``.
    ``clusterSizes`` counts the rows of ``predictions`` per cluster (one Spark job, on
    first use), so it always agrees with ``transform``."""

    def __init__(
        self,
        predictions: DataFrame,
        predictionCol: str,
        featuresCol: str,
        k: int,
        trainingCost: float,
        numIter: int,
        numSkipped: int = 0,
        executionMode: str = "per-iteration",
        fallbackReason: str = "",
    ) -> None:
        self.predictions, self.predictionCol, self.featuresCol = (
            predictions,
            predictionCol,
            featuresCol,
        )
        self.k, self.trainingCost, self.numIter = k, trainingCost, numIter
        self.numSkipped, self.executionMode, self.fallbackReason = (
            numSkipped,
            executionMode,
            fallbackReason,
        )

    @property
    def cluster(self) -> DataFrame:
        return self.predictions.select(self.predictionCol)

    @cached_property
    def clusterSizes(self) -> list[int]:
        sizes = [0] * self.k
        for row in self.predictions.groupBy(self.predictionCol).count().collect():
            sizes[row[0]] = row[1]
        return sizes


class SparkKMeansModel(Model, SparkKMeansParams, MLWritable, MLReadable):
    """A fitted SparkKMeans: centres, transform on the executors, save/load in the layout
    Spark's KMeansModel reads and writes."""

    def __init__(self, centers=None):
        super().__init__()
        self._centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self._summary: SparkKMeansSummary | None = None
        # How transform reads a vector column: as the fit read it (True: sparse), or,
        # for a loaded model (None), as its first rows say (one small job).
        self._sparse_vectors: bool | None = None

    def clusterCenters(self) -> list[np.ndarray]:
        return [c.copy() for c in self._centers]

    @property
    def numFeatures(self) -> int:
        return int(self._centers.shape[1])

    @property
    def hasSummary(self) -> bool:
        return self._summary is not None

    @property
    def summary(self) -> SparkKMeansSummary:
        if self._summary is None:
            raise RuntimeError("no training summary: this model was loaded, not fitted")
        return self._summary

    def predict(self, value) -> int:
        x = np.asarray(value.toArray() if hasattr(value, "toArray") else value, dtype=np.float64)
        if self.getDistanceMeasure() == "cosine":
            x = x / np.linalg.norm(x)
        return int(np.argmin(((self._centers - x) ** 2).sum(axis=1)))

    def write(self) -> ModelWriter:
        return ModelWriter(self)

    @classmethod
    def read(cls) -> ModelReader:
        return ModelReader(cls)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if self._sparse_vectors is None:
            column = sparse_vector_column(dataset, self._features())
        else:
            column = vector_column(dataset, self._features()) if self._sparse_vectors else None
        return self._predictions(dataset, column)

    def _predictions(self, dataset: DataFrame, sparse_column: str | None) -> DataFrame:
        """``dataset`` with the prediction column; a sparse vector column (as the fit or
        ``vectors.is_sparse_column`` found it) is read batch by batch as CSR rows."""
        if sparse_column:
            return self._sparse_predictions(dataset, sparse_column)
        features = features_expression(dataset, self._features())
        centers, out_col = self._centers, self.getPredictionCol()
        cosine = self.getDistanceMeasure() == "cosine"
        n_features, names = centers.shape[1], self._features()
        keep = list(dataset.columns)
        joined = dataset.select("*", features.alias(FEATURES), F.lit(1.0).alias(WEIGHT))
        schema = T.StructType(joined.schema.fields + [T.StructField(out_col, T.IntegerType())])

        def run(batches):
            import os

            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import tensorflow as tf

            from tfkmeans import row_kernels

            origin = centers.mean(axis=0)
            for batch in batches:
                if batch.column(batch.schema.get_field_index(FEATURES)).null_count:
                    raise ValueError(f"null feature values in {names!r}")
                labels = np.zeros(batch.num_rows, np.int32)
                if batch.num_rows:
                    rows, _ = rows_of(batch, n_features, np.float64)
                    rows = unit(rows) if cosine else rows
                    found, _ = row_kernels.assign(
                        tf.constant(rows), tf.constant(origin), tf.constant(centers - origin)
                    )
                    labels = found.numpy()
                yield batch.append_column(out_col, pa.array(labels, pa.int32()))

        return joined.mapInArrow(run, schema).select(*keep, out_col)

    def _sparse_predictions(self, dataset: DataFrame, column: str) -> DataFrame:
        centers, out_col = self._centers, self.getPredictionCol()
        cosine, n_features = self.getDistanceMeasure() == "cosine", centers.shape[1]
        schema = T.StructType(dataset.schema.fields + [T.StructField(out_col, T.IntegerType())])

        def run(batches):
            import os

            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            from tfkmeans.sparse_source import SparseSource

            for batch in batches:
                vectors = batch.column(batch.schema.get_field_index(column))
                if vectors.null_count:
                    raise ValueError(f"null feature values in {column!r}")
                labels = np.zeros(batch.num_rows, np.int32)
                if batch.num_rows:
                    rows = csr_of(vectors, n_features)
                    part = SparseSource(unit_sparse(rows) if cosine else rows, dtype=np.float64)
                    (found,) = part.assign(centers)
                    labels = found.labels
                yield batch.append_column(out_col, pa.array(labels, pa.int32()))

        return dataset.mapInArrow(run, schema)
