"""SparkKMeans' params: exactly pyspark.ml.clustering.KMeans' (inherited, so names,
docs, defaults and getters follow the installed Spark), plus tfkmeans' own."""

from __future__ import annotations

from pyspark.ml.clustering import _KMeansParams
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasHandleInvalid

# The params a Spark KMeansModel has: written to the part of a saved model that plain
# Spark ML reads. tfkmeans' own params are written beside it.
EXTRA_PARAMS = ("featuresCols", "handleInvalid", "executionMode")


class SparkKMeansParams(_KMeansParams, HasHandleInvalid):
    executionMode = Param(
        Params._dummy(),
        "executionMode",
        "'auto' (resident when the partitions fit the task slots and memory), 'resident' "
        "(one barrier stage, each partition converted to a tensor once) or 'per-iteration' "
        "(one Spark job per pass)",
        typeConverter=TypeConverters.toString,
    )
    featuresCols = Param(
        Params._dummy(),
        "featuresCols",
        "numeric feature columns, used instead of featuresCol when set",
        typeConverter=TypeConverters.toListString,
    )
    handleInvalid = Param(
        Params._dummy(),
        "handleInvalid",
        "rows with a null feature or weight: 'error' (raise) or 'skip' (drop and count them "
        "in summary.numSkipped)",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            handleInvalid="error",
            featuresCol="features",
            predictionCol="prediction",
            executionMode="auto",
        )

    def _set(self, **kwargs):
        value = kwargs.get("featuresCol")
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"featuresCol takes one column name, not {value!r}: for several numeric "
                f"columns use featuresCols={list(value)!r}"
            )
        return super()._set(**kwargs)

    def _features(self):
        """featuresCols when set (several numeric columns), else featuresCol."""
        if self.isSet(self.featuresCols):
            return self.getOrDefault(self.featuresCols)
        return self.getFeaturesCol()

    def _weight_col(self) -> str | None:
        return self.getOrDefault(self.weightCol) if self.isSet(self.weightCol) else None

    def getExecutionMode(self) -> str:
        return self.getOrDefault(self.executionMode)

    def getFeaturesCols(self) -> list[str]:
        return self.getOrDefault(self.featuresCols)

    def getHandleInvalid(self) -> str:
        return self.getOrDefault(self.handleInvalid)

    def setFeaturesCol(self, value: str):
        return self._set(featuresCol=value)

    def setPredictionCol(self, value: str):
        return self._set(predictionCol=value)

    def setFeaturesCols(self, value: list[str]):
        return self._set(featuresCols=value)
