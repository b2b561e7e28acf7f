"""The whole Spark test module (tests/spark_cases.py) on a Spark Connect session, the way
Databricks serverless and standard-access compute run PySpark: pyspark starts a local
Spark Connect server (``SparkSession.builder.remote("local[...]")``)."""

import pytest

pytest.importorskip("pyspark", reason="pyspark is installed by make test")
pytest.importorskip("grpc", reason="Spark Connect's client is installed by make test")

from spark_cases import *  # noqa: E402, F403
from spark_cases import check_same_centres, start_session  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = start_session(remote=True)
    assert type(session).__module__.startswith("pyspark.sql.connect")
    yield session
    session.stop()


@pytest.mark.parametrize(
    "mode, partitions", [("per-iteration", 2), ("resident", 2), ("resident", 5)]
)
def test_same_centres_as_in_memory_from_same_start(spark, blobs_data, mode, partitions):  # noqa: F811
    check_same_centres(spark, blobs_data, mode, partitions)
