# Databricks notebook source
# MAGIC %md
# MAGIC # k-means on Spark with tfkmeans
# MAGIC
# MAGIC `SparkKMeans` has the parameters of `pyspark.ml.clustering.KMeans` and runs the same
# MAGIC TensorFlow kernels as `tfkmeans.KMeans` on every partition. On Databricks, install
# MAGIC `tfkmeans[spark]` on the cluster; locally, `python examples/databricks_kmeans.py`
# MAGIC starts a local Spark session.

# COMMAND ----------

import numpy as np
from pyspark.ml.linalg import Vectors
from pyspark.sql import SparkSession
from sklearn.datasets import make_blobs

from tfkmeans.spark import SparkKMeans, SparkKMeansModel

# On Databricks `spark` already exists; elsewhere, start a small local session.
spark = SparkSession.getActiveSession() or (
    SparkSession.builder.master("local[2]")
    .appName("tfkmeans-example")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)

# COMMAND ----------

# MAGIC %md Some blobs as a DataFrame with a vector column, the way Spark ML expects features.

# COMMAND ----------

X, _ = make_blobs(20_000, n_features=8, centers=6, random_state=42)
df = spark.createDataFrame([(Vectors.dense(x),) for x in X], ["features"]).repartition(4)

# COMMAND ----------

model = SparkKMeans(k=6, seed=1, maxIter=20).fit(df)
print("training cost:", round(model.summary.trainingCost, 2))
print("cluster sizes:", model.summary.clusterSizes, "iterations:", model.summary.numIter)
for center in model.clusterCenters():
    print(np.round(center, 2))

# COMMAND ----------

predictions = model.transform(df)
predictions.groupBy("prediction").count().orderBy("prediction").show()

# COMMAND ----------

# MAGIC %md Save to any path Spark can write (DBFS on Databricks), and load it back.

# COMMAND ----------

import tempfile  # noqa: E402

path = tempfile.mkdtemp() + "/kmeans-model"
model.save(path)
reloaded = SparkKMeansModel.load(path)
print("reloaded centres equal:", np.allclose(reloaded.clusterCenters(), model.clusterCenters()))
