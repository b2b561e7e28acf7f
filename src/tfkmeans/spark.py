"""Spark (Databricks): SparkKMeans with Spark ML's conventions, on the one solver.

``SparkSource`` is a Source whose passes run on the executors: each partition's
Arrow batches become tensors for the same TensorFlow kernels (``mapInArrow``,
no per-row Python), and only k x d statistics travel back to the driver, where
``tfkmeans.lloyd.lloyd`` (Spark's tolerance rule) and ``initialization``
(k-means||) run unchanged. The input is prepared and cached once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from tfkmeans.sources import PartialStats, Source, representable

try:
    import pyarrow as pa
    from pyspark import keyword_only
    from pyspark.ml import Estimator, Model
    from pyspark.ml.param import Param, Params, TypeConverters
    from pyspark.ml.param.shared import (
        HasDistanceMeasure,
        HasFeaturesCol,
        HasHandleInvalid,
        HasMaxIter,
        HasPredictionCol,
        HasSeed,
        HasTol,
        HasWeightCol,
    )
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("tfkmeans.spark needs pyspark: pip install 'tfkmeans[spark]'") from exc

FEATURES, WEIGHT = "__tfkm_features", "__tfkm_weight"


# -- executor side: Arrow batches to tensors ------------------------------------------------


def _rows_of(batch: pa.RecordBatch, n_features: int, dtype) -> tuple[np.ndarray, np.ndarray]:
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


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("distanceMeasure='cosine' needs non-zero feature vectors")
    return rows / norms


def _partition_rows(batches, n_features, dtype, unit):
    for batch in batches:
        if batch.num_rows:
            rows, weights = _rows_of(batch, n_features, dtype)
            yield (_unit(rows) if unit else rows), weights


def _stats_schema() -> T.StructType:
    return T.StructType(
        [
            T.StructField("sums", T.ArrayType(T.DoubleType())),
            T.StructField("weights", T.ArrayType(T.DoubleType())),
            T.StructField("inertia", T.DoubleType()),
        ]
    )


class SparkSource(Source):
    """Rows of a Spark DataFrame, prepared (features + weight) and cached once."""

    def __init__(
        self,
        df: DataFrame,
        features_col="features",
        weight_col: str | None = None,
        handle_invalid: str = "error",
        unit_rows: bool = False,
    ) -> None:
        self.dtype = np.dtype(np.float64)  # Spark ML vectors are doubles
        self.unit_rows = unit_rows
        prepared = _prepare(df, features_col, weight_col)
        names = features_col if isinstance(features_col, str) else ",".join(features_col)
        if handle_invalid == "skip":
            before = prepared.count()
            prepared = prepared.dropna()
            self.n_skipped = before - prepared.count()
        elif handle_invalid == "error":
            bad = prepared.filter(F.col(FEATURES).isNull() | F.col(WEIGHT).isNull()).count()
            if bad:
                raise ValueError(
                    f"{bad} rows have null values in {names!r}"
                    + (f" or {weight_col!r}" if weight_col else "")
                    + "; set handleInvalid='skip' to drop them"
                )
            self.n_skipped = 0
        else:
            raise ValueError(f"handleInvalid must be 'error' or 'skip', got {handle_invalid!r}")
        first = prepared.select(F.size(FEATURES).alias("d")).limit(1).collect()
        if not first:
            raise ValueError(f"the DataFrame has no rows with features in {names!r}")
        self.n_features = int(first[0]["d"])
        self.df = prepared.cache()
        self._summary = self._first_pass()

    # -- running a function over every partition --------------------------------------------

    def _map(self, per_partition, schema: T.StructType) -> list:
        """Runs ``per_partition(rows, weights) -> list[dict]`` over all partitions; collects."""
        n_features, dtype, unit = self.n_features, self.dtype, self.unit_rows

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            import os

            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            chunks = list(_partition_rows(batches, n_features, dtype, unit))
            if not chunks:
                return
            rows = np.concatenate([c[0] for c in chunks])
            weights = np.concatenate([c[1] for c in chunks])
            records = per_partition(rows, weights)
            if records:
                yield pa.RecordBatch.from_pylist(records, schema=_arrow_schema(schema))

        return self.df.mapInArrow(run, schema).collect()

    def _first_pass(self) -> tuple[int, np.ndarray, float, float]:
        def moments(rows, weights):
            mean = rows.mean(axis=0)
            return [
                {
                    "n": len(rows),
                    "mean": mean.tolist(),
                    "m2": ((rows - mean) ** 2).sum(axis=0).tolist(),
                    "w": float(weights.sum()),
                }
            ]

        schema = T.StructType(
            [
                T.StructField("n", T.LongType()),
                T.StructField("mean", T.ArrayType(T.DoubleType())),
                T.StructField("m2", T.ArrayType(T.DoubleType())),
                T.StructField("w", T.DoubleType()),
            ]
        )
        count, mean, m2, total = 0, np.zeros(self.n_features), np.zeros(self.n_features), 0.0
        for row in self._map(moments, schema):
            n, chunk_mean, chunk_m2 = row["n"], np.array(row["mean"]), np.array(row["m2"])
            combined = count + n
            delta = chunk_mean - mean
            mean = mean + delta * (n / combined)
            m2 = m2 + chunk_m2 + delta**2 * (count * n / combined)
            count, total = combined, total + row["w"]
        return count, representable(mean, self.dtype), float(np.mean(m2 / count)), total

    @property
    def n_rows(self) -> int:
        return self._summary[0]

    @property
    def origin(self) -> np.ndarray:
        return self._summary[1]

    @property
    def mean_variance(self) -> float:
        return self._summary[2]

    @property
    def total_weight(self) -> float:
        return self._summary[3]

    # -- the Source questions, answered on the executors ------------------------------------

    def partial_stats(self, centers: np.ndarray) -> PartialStats:
        origin = self.origin

        def stats(rows, weights):
            import tensorflow as tf

            from tfkmeans import kernels

            result = kernels.lloyd_stats(
                tf.constant(rows), tf.constant(weights), tf.constant(origin), tf.constant(centers)
            )
            return [
                {
                    "sums": result.sums.numpy().reshape(-1).tolist(),
                    "weights": result.weights.numpy().tolist(),
                    "inertia": float(result.inertia),
                }
            ]

        k, d = centers.shape
        sums, weights, inertia = np.zeros((k, d)), np.zeros(k), 0.0
        for row in self._map(stats, _stats_schema()):
            sums += np.asarray(row["sums"]).reshape(k, d)
            weights += np.asarray(row["weights"])
            inertia += row["inertia"]
        return PartialStats(sums, weights, inertia)

    def _exact(self, centers: np.ndarray, summarise, schema: T.StructType) -> list:
        """Runs ``summarise(rows, weights, labels, sq_distances)`` per partition."""
        origin = self.origin

        def run(rows, weights):
            import tensorflow as tf

            from tfkmeans import kernels

            labels, sq = kernels.assign(
                tf.constant(rows), tf.constant(origin), tf.constant(centers)
            )
            return summarise(rows - origin, weights, labels.numpy(), sq.numpy())

        return self._map(run, schema)

    def assign(self, centers: np.ndarray):
        raise NotImplementedError(
            "a SparkSource does not stream labels to the driver: use transform"
        )

    def cost(self, centers: np.ndarray) -> float:
        def summarise(rows, weights, labels, sq):
            return [{"cost": float(sq @ weights)}]

        schema = T.StructType([T.StructField("cost", T.DoubleType())])
        return float(sum(r["cost"] for r in self._exact(centers, summarise, schema)))

    def weight_per_center(self, centers: np.ndarray) -> np.ndarray:
        k = len(centers)

        def summarise(rows, weights, labels, sq):
            return [{"w": np.bincount(labels, weights=weights, minlength=k).tolist()}]

        schema = T.StructType([T.StructField("w", T.ArrayType(T.DoubleType()))])
        return np.sum([np.asarray(r["w"]) for r in self._exact(centers, summarise, schema)], axis=0)

    def oversample(self, centers: np.ndarray, factor: float, cost: float, seed: int) -> np.ndarray:
        def summarise(rows, weights, labels, sq):
            from pyspark import TaskContext

            draws = np.random.RandomState((seed + TaskContext.get().partitionId()) % 2**31)
            keep = draws.uniform(size=len(rows)) < factor * weights * sq / cost
            return [{"row": r.tolist()} for r in rows[keep]]

        schema = T.StructType([T.StructField("row", T.ArrayType(T.DoubleType()))])
        picked = [r["row"] for r in self._exact(centers, summarise, schema)]
        return np.asarray(picked, dtype=np.float64).reshape(-1, self.n_features)

    def farthest(self, centers: np.ndarray, m: int):
        def summarise(rows, weights, labels, sq):
            top = np.argsort(-sq, kind="stable")[:m]
            return [
                {
                    "row": rows[i].tolist(),
                    "w": float(weights[i]),
                    "label": int(labels[i]),
                    "d": float(sq[i]),
                }
                for i in top
            ]

        schema = T.StructType(
            [
                T.StructField("row", T.ArrayType(T.DoubleType())),
                T.StructField("w", T.DoubleType()),
                T.StructField("label", T.IntegerType()),
                T.StructField("d", T.DoubleType()),
            ]
        )
        found = sorted(self._exact(centers, summarise, schema), key=lambda r: -r["d"])[:m]
        rows = np.asarray([r["row"] for r in found]).reshape(-1, self.n_features)
        return rows, np.asarray([r["w"] for r in found]), np.asarray([r["label"] for r in found])

    def sample(self, m: int, random_state: np.random.RandomState):
        """Up to m rows, chosen by a seeded random key per row (the m smallest keys)."""
        seed = int(random_state.randint(2**31 - 1))
        origin = self.origin

        def keyed(rows, weights):
            from pyspark import TaskContext

            draws = np.random.RandomState((seed + TaskContext.get().partitionId()) % 2**31)
            keys = draws.uniform(size=len(rows))
            top = np.argsort(keys, kind="stable")[:m]
            return [
                {"row": (rows[i] - origin).tolist(), "w": float(weights[i]), "key": float(keys[i])}
                for i in top
            ]

        schema = T.StructType(
            [
                T.StructField("row", T.ArrayType(T.DoubleType())),
                T.StructField("w", T.DoubleType()),
                T.StructField("key", T.DoubleType()),
            ]
        )
        found = sorted(self._map(keyed, schema), key=lambda r: r["key"])[:m]
        rows = np.asarray([r["row"] for r in found]).reshape(-1, self.n_features)
        return rows, np.asarray([r["w"] for r in found])


def _arrow_schema(schema: T.StructType) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)


def _features_expression(df: DataFrame, features_col):
    """An array<double> expression of the features; null when any feature is null."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import VectorUDT

    fields = {f.name: f.dataType for f in df.schema.fields}
    columns = [features_col] if isinstance(features_col, str) else list(features_col)
    for column in columns:
        if column not in fields:
            raise ValueError(f"column {column!r} does not exist (columns: {', '.join(fields)})")
    first = fields[columns[0]]
    if len(columns) == 1 and isinstance(first, VectorUDT):
        return vector_to_array(F.col(columns[0]), "float64")
    if len(columns) == 1 and isinstance(first, T.ArrayType):
        if not isinstance(first.elementType, T.NumericType):
            raise ValueError(f"column {columns[0]!r} is {first.simpleString()}, not numeric")
        return F.col(columns[0]).cast("array<double>")
    for column in columns:
        if not isinstance(fields[column], T.NumericType):
            raise ValueError(
                f"column {column!r} is {fields[column].simpleString()}: features must be a "
                "vector, an array of numbers, or numeric columns"
            )
    any_null = (
        F.greatest(*[F.col(c).isNull() for c in columns])
        if len(columns) > 1
        else F.col(columns[0]).isNull()
    )
    return F.when(any_null, F.lit(None)).otherwise(
        F.array(*[F.col(c).cast("double") for c in columns])
    )


def _prepare(df: DataFrame, features_col, weight_col) -> DataFrame:
    """One array<double> features column and one double weight column."""
    features = _features_expression(df, features_col)
    if weight_col:
        fields = {f.name: f.dataType for f in df.schema.fields}
        if weight_col not in fields:
            raise ValueError(f"column {weight_col!r} does not exist (columns: {', '.join(fields)})")
        if not isinstance(fields[weight_col], T.NumericType):
            raise ValueError(f"weight column {weight_col!r} is not numeric")
        weight = F.col(weight_col).cast("double")
    else:
        weight = F.lit(1.0)
    return df.select(features.alias(FEATURES), weight.alias(WEIGHT))


# -- the Spark ML face -----------------------------------------------------------------------


class _SparkKMeansParams(
    HasFeaturesCol,
    HasPredictionCol,
    HasMaxIter,
    HasTol,
    HasSeed,
    HasWeightCol,
    HasDistanceMeasure,
    HasHandleInvalid,
):
    k = Param(Params._dummy(), "k", "number of clusters (> 1)", typeConverter=TypeConverters.toInt)
    initMode = Param(
        Params._dummy(),
        "initMode",
        "'k-means||' or 'random'",
        typeConverter=TypeConverters.toString,
    )
    initSteps = Param(
        Params._dummy(), "initSteps", "k-means|| passes (> 0)", typeConverter=TypeConverters.toInt
    )
    featuresCols = Param(
        Params._dummy(),
        "featuresCols",
        "numeric feature columns, used instead of featuresCol when set",
        typeConverter=TypeConverters.toListString,
    )

    def _features(self):
        """featuresCols when set (several numeric columns), else featuresCol."""
        if self.isSet(self.featuresCols):
            return self.getOrDefault(self.featuresCols)
        return self.getFeaturesCol()

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            k=2,
            maxIter=20,
            tol=1e-4,
            initMode="k-means||",
            initSteps=2,
            distanceMeasure="euclidean",
            handleInvalid="error",
            featuresCol="features",
            predictionCol="prediction",
        )

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getInitMode(self) -> str:
        return self.getOrDefault(self.initMode)

    def getInitSteps(self) -> int:
        return self.getOrDefault(self.initSteps)


class SparkKMeans(Estimator, _SparkKMeansParams):
    """k-means on a Spark DataFrame with pyspark.ml.clustering.KMeans' params and defaults.

    ``tol`` is Spark's: every centre moved less than ``tol`` (absolute). Unlike Spark,
    an empty cluster takes the farthest row, so k distinct points give k centres.
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
        handleInvalid="error",
    ):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        return self._set(**kwargs)

    def setK(self, value: int):
        return self._set(k=value)

    def setSeed(self, value: int):
        return self._set(seed=value)

    def setMaxIter(self, value: int):
        return self._set(maxIter=value)

    def setInitialModel(self, centers):
        """Start from given centres (an array or a fitted model), as mllib's KMeans allows."""
        if isinstance(centers, SparkKMeansModel):
            centers = np.array(centers.clusterCenters())
        self._initial = np.asarray(centers, dtype=np.float64)
        return self

    def _check(self, source: SparkSource) -> None:
        k = self.getK()
        if k < 2:
            raise ValueError(f"k must be greater than 1, got {k}")
        if k > source.n_rows:
            raise ValueError(f"k={k} is larger than the {source.n_rows} rows of the DataFrame")
        if self.getInitMode() not in ("k-means||", "random"):
            raise ValueError(
                f"initMode must be 'k-means||' or 'random', got {self.getInitMode()!r}"
            )
        if self.getOrDefault(self.distanceMeasure) not in ("euclidean", "cosine"):
            raise ValueError("distanceMeasure must be 'euclidean' or 'cosine'")

    def _fit(self, dataset: DataFrame) -> SparkKMeansModel:
        from tfkmeans.initialization import initial_centers, kmeans_parallel
        from tfkmeans.lloyd import lloyd, unit_sphere

        cosine = self.getOrDefault(self.distanceMeasure) == "cosine"
        weight_col = self.getOrDefault(self.weightCol) if self.isSet(self.weightCol) else None
        source = SparkSource(
            dataset,
            self._features(),
            weight_col,
            self.getOrDefault(self.handleInvalid),
            unit_rows=cosine,
        )
        self._check(source)
        seed = self.getOrDefault(self.seed)
        random_state = np.random.RandomState(None if seed is None else seed % 2**32)
        k = self.getK()
        initial = getattr(self, "_initial", None)
        if initial is not None:
            if initial.shape != (k, source.n_features):
                raise ValueError(
                    f"initial centres have shape {initial.shape}, expected ({k}, {source.n_features})"
                )
            centers = initial - source.origin
        elif self.getInitMode() == "k-means||":
            centers = kmeans_parallel(source, k, random_state, n_steps=self.getInitSteps())
        else:
            centers = initial_centers(source, k, "random", random_state)
        normalize = unit_sphere(source.origin) if cosine else None
        if normalize is not None:
            centers = normalize(centers)
        result = lloyd(
            source,
            centers,
            max_iter=self.getMaxIter(),
            tol=self.getTol(),
            tol_rule="spark",
            normalize=normalize,
        )
        stats = source.partial_stats(result.centers)
        cost = source.cost(result.centers)
        model = SparkKMeansModel(result.centers + source.origin)
        model._summary = SparkKMeansSummary(
            k=k,
            trainingCost=0.5 * cost if cosine else cost,
            clusterSizes=[int(round(w)) for w in stats.weights],
            numIter=result.n_iter,
            numSkipped=source.n_skipped,
        )
        source.df.unpersist()
        return self._copyValues(model)


class SparkKMeansSummary:
    """What Spark's KMeansSummary reports (trainingCost, clusterSizes, numIter, k)."""

    def __init__(self, k, trainingCost, clusterSizes, numIter, numSkipped=0):
        self.k, self.trainingCost, self.clusterSizes = k, trainingCost, clusterSizes
        self.numIter, self.numSkipped = numIter, numSkipped


class SparkKMeansModel(Model, _SparkKMeansParams):
    """A fitted SparkKMeans: centres, transform on the executors, save/load."""

    def __init__(self, centers=None):
        super().__init__()
        self._centers = None if centers is None else np.asarray(centers, dtype=np.float64)
        self._summary: SparkKMeansSummary | None = None

    def clusterCenters(self) -> list[np.ndarray]:
        return [c.copy() for c in self._centers]

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
        if self.getOrDefault(self.distanceMeasure) == "cosine":
            x = x / np.linalg.norm(x)
        return int(np.argmin(((self._centers - x) ** 2).sum(axis=1)))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        features = _features_expression(dataset, self._features())
        centers, out_col = self._centers, self.getPredictionCol()
        unit = self.getOrDefault(self.distanceMeasure) == "cosine"
        n_features = centers.shape[1]
        keep = list(dataset.columns)
        joined = dataset.select("*", features.alias(FEATURES), F.lit(1.0).alias(WEIGHT))
        schema = T.StructType(joined.schema.fields + [T.StructField(out_col, T.IntegerType())])

        def run(batches):
            import os

            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            import tensorflow as tf

            from tfkmeans import kernels

            origin = centers.mean(axis=0)
            for batch in batches:
                if batch.column(batch.schema.get_field_index(FEATURES)).null_count:
                    raise ValueError(f"null feature values in {self._features()!r}")
                labels = np.zeros(batch.num_rows, np.int32)
                if batch.num_rows:
                    rows, _ = _rows_of(batch, n_features, np.float64)
                    rows = _unit(rows) if unit else rows
                    found, _ = kernels.assign(
                        tf.constant(rows), tf.constant(origin), tf.constant(centers - origin)
                    )
                    labels = found.numpy()
                yield batch.append_column(out_col, pa.array(labels, pa.int32()))

        return joined.mapInArrow(run, schema).select(*keep, out_col)

    # -- persistence: Spark's layout (metadata JSON + Parquet data) ------------------------------

    def save(self, path: str) -> None:
        self.write().save(path)

    def write(self):
        return _ModelWriter(self)

    @classmethod
    def load(cls, path: str) -> SparkKMeansModel:
        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        meta = json.loads(spark.read.text(f"{path}/metadata").first()[0])
        data = spark.read.parquet(f"{path}/data").orderBy("clusterIdx").collect()
        model = cls(np.array([list(r["clusterCenter"]) for r in data], dtype=np.float64))
        for name, value in meta.get("paramMap", {}).items():
            if model.hasParam(name) and value is not None:
                model._set(**{name: value})
        return model


class _ModelWriter:
    def __init__(self, model: SparkKMeansModel) -> None:
        self.model, self._overwrite = model, False

    def overwrite(self):
        self._overwrite = True
        return self

    def save(self, path: str) -> None:
        import pyspark

        spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        mode = "overwrite" if self._overwrite else "errorifexists"
        params = {
            p.name: self.model.getOrDefault(p)
            for p in self.model.params
            if self.model.isDefined(p) and p.name != "seed"
        }
        meta = {
            "class": "tfkmeans.spark.SparkKMeansModel",
            "format": "tfkmeans.SparkKMeansModel",
            "version": 1,
            "sparkVersion": pyspark.__version__,
            "uid": self.model.uid,
            "paramMap": params,
        }
        spark.createDataFrame([(json.dumps(meta),)], "value string").coalesce(1).write.mode(
            mode
        ).text(f"{path}/metadata")
        rows = [(i, [float(v) for v in c]) for i, c in enumerate(self.model._centers)]
        spark.createDataFrame(rows, "clusterIdx int, clusterCenter array<double>").coalesce(
            1
        ).write.mode(mode).parquet(f"{path}/data")
