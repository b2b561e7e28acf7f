# Databricks notebook source
# MAGIC %md
# MAGIC # k-means on Spark with tfkmeans
# MAGIC
# MAGIC `SparkKMeans` has the parameters of `pyspark.ml.clustering.KMeans` and runs the same
# MAGIC TensorFlow kernels as `tfkmeans.KMeans` on every partition. It runs on classic
# MAGIC clusters and on Spark Connect (serverless compute, standard access mode) alike.
# MAGIC On Databricks, `%pip install tfkmeans[spark]`; locally,
# MAGIC `python examples/databricks_kmeans.py` starts a local Spark session
# MAGIC (`SPARK_REMOTE=local[2] python examples/databricks_kmeans.py`: a local Spark Connect one).

# COMMAND ----------

import os
import sys

import numpy as np
from pyspark.ml.clustering import KMeansModel
from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession
from sklearn.datasets import make_blobs

from tfkmeans.spark import SparkKMeans, SparkKMeansModel

# On Databricks `spark` already exists; elsewhere, start a small local session (over
# Spark Connect when SPARK_REMOTE is set: pyspark's builder reads it).
spark = SparkSession.getActiveSession()
started_here = spark is None
if started_here:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this Python
    builder = SparkSession.builder.appName("tfkmeans-example")
    if "SPARK_REMOTE" not in os.environ:
        builder = builder.master("local[2]").config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
print("session:", type(spark).__module__)

# COMMAND ----------

# MAGIC %md Some blobs as a DataFrame with a vector column, the way Spark ML expects features.

# COMMAND ----------

X, _ = make_blobs(20_000, n_features=8, centers=6, random_state=42)
df = spark.createDataFrame([(Vectors.dense(x),) for x in X], ["features"]).repartition(4)

# COMMAND ----------

model = SparkKMeans(k=6, seed=1, maxIter=20).fit(df)
print("execution mode:", model.summary.executionMode, model.summary.fallbackReason)
print("training cost:", round(model.summary.trainingCost, 2))
print("cluster sizes:", model.summary.clusterSizes, "iterations:", model.summary.numIter)
for center in model.clusterCenters():
    print(np.round(center, 2))

# COMMAND ----------

predictions = model.transform(df)
predictions.groupBy("prediction").count().orderBy("prediction").show()

# COMMAND ----------

# MAGIC %md Save to any path Spark can write (a Unity Catalog volume or DBFS on Databricks),
# MAGIC and load it back: with tfkmeans, or with plain Spark ML (the folder is Spark's layout).

# COMMAND ----------

import tempfile  # noqa: E402

path = tempfile.mkdtemp() + "/kmeans-model"
model.write().overwrite().save(path)
reloaded = SparkKMeansModel.load(path)
print("reloaded centres equal:", np.allclose(reloaded.clusterCenters(), model.clusterCenters()))
served = KMeansModel.load(path)  # Spark ML's own model
print("Spark ML centres equal:", np.allclose(served.clusterCenters(), model.clusterCenters()))

# COMMAND ----------

# A local session started above is stopped (a local Spark Connect server otherwise keeps
# the process alive); on Databricks the notebook's session stays.
if started_here:
    spark.stop()
