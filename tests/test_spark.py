"""SparkKMeans on a real local Spark, against tfkmeans.KMeans and pyspark.ml's KMeans."""

import os

import numpy as np
import pytest
from sklearn.datasets import make_blobs

pyspark = pytest.importorskip("pyspark", reason="pyspark is installed by make test")
from pyspark.ml.clustering import KMeans as MLlibKMeans  # noqa: E402
from pyspark.ml.linalg import Vectors  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from tfkmeans import KMeans  # noqa: E402
from tfkmeans.spark import SparkKMeans, SparkKMeansModel  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = (
        # 3 task slots (so 3 partitions fit one barrier stage), tasks retried once
        SparkSession.builder.master("local[3,2]")
        .appName("tfkmeans-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def blobs_data():
    X, _ = make_blobs(3000, n_features=3, centers=4, cluster_std=1.5, random_state=0)
    return X


def frame(spark, X, partitions=2, kind="vector"):
    rows = [(Vectors.dense(x),) for x in X] if kind == "vector" else [(x.tolist(),) for x in X]
    return spark.createDataFrame(rows, ["features"]).repartition(partitions)


@pytest.mark.parametrize(
    "mode, partitions",
    [("per-iteration", 1), ("per-iteration", 2), ("per-iteration", 3)]
    + [("resident", 1), ("resident", 2), ("resident", 3), ("resident", 5)],
)
def test_same_centres_as_in_memory_from_same_start(spark, blobs_data, mode, partitions):
    X = blobs_data
    init = X[[0, 1, 2, 3]]
    ref = KMeans(4, init=init, n_init=1, tol=0, max_iter=50).fit(X)
    model = SparkKMeans(k=4, maxIter=50, tol=0.0, seed=1, executionMode=mode)
    fitted = model.setInitialModel(init).fit(frame(spark, X, partitions))
    assert fitted.summary.executionMode == mode  # 5 partitions: cut to the 3 task slots
    np.testing.assert_allclose(np.array(fitted.clusterCenters()), ref.cluster_centers_, atol=1e-8)
    assert fitted.summary.trainingCost == pytest.approx(ref.inertia_, rel=1e-9)
    assert sorted(fitted.summary.clusterSizes) == sorted(np.bincount(ref.labels_).tolist())
    assert fitted.summary.numIter == ref.n_iter_


def test_resident_and_per_iteration_draw_the_same_kmeans_parallel_start(spark):
    # Overlapping blobs, so a different start would end elsewhere; same partitions and seed
    # give the same k-means|| candidates in both modes, hence the same fit.
    X, _ = make_blobs(4000, n_features=5, centers=8, cluster_std=3.0, random_state=2)
    df = frame(spark, X, 3).cache()
    resident = SparkKMeans(k=8, seed=11, maxIter=5, executionMode="resident").fit(df)
    passes = SparkKMeans(k=8, seed=11, maxIter=5, executionMode="per-iteration").fit(df)
    np.testing.assert_allclose(
        np.array(resident.clusterCenters()), np.array(passes.clusterCenters()), atol=1e-9
    )
    assert resident.summary.trainingCost == pytest.approx(passes.summary.trainingCost, rel=1e-12)
    assert resident.summary.numIter == passes.summary.numIter == 5


def test_auto_mode_falls_back_when_partitions_do_not_fit_memory(spark, blobs_data, monkeypatch):
    import tfkmeans.spark as spark_face

    df = frame(spark, blobs_data, 2)
    assert SparkKMeans(k=4, seed=0).fit(df).summary.executionMode == "resident"
    monkeypatch.setattr(spark_face, "DEFAULT_RESIDENT_BYTES", 1024)
    fallback = SparkKMeans(k=4, seed=0, maxIter=3).fit(df)
    assert fallback.summary.executionMode == "per-iteration"
    # 1,500 rows per task x (3 features + weight) x 8 bytes x 3 copies
    assert fallback.summary.fallbackReason == (
        "a resident partition needs about 144,000 bytes per task, more than the 1,024 "
        "allowed (spark.executor.pyspark.memory is not set)"
    )
    forced = SparkKMeans(k=4, seed=0, maxIter=3, executionMode="resident").fit(df)
    assert forced.summary.executionMode == "resident"


def test_cost_close_to_mllib_and_transform(spark, blobs_data):
    df = frame(spark, blobs_data, 2).cache()
    ours = SparkKMeans(k=4, seed=3).fit(df)
    ref = MLlibKMeans(k=4, seed=3).fit(df)
    assert ours.summary.executionMode == "resident"
    assert ours.summary.trainingCost <= ref.summary.trainingCost * 1.01
    out = ours.transform(df)
    assert out.schema["prediction"].dataType.typeName() == "integer"
    rows = out.collect()
    X = np.array([r["features"].toArray() for r in rows])
    labels = np.array([r["prediction"] for r in rows])
    centers = np.array(ours.clusterCenters())
    np.testing.assert_array_equal(labels, ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(1))
    assert ours.predict(Vectors.dense(X[0])) == labels[0]


def test_array_column_numeric_columns_weights_and_cosine(spark, blobs_data):
    X = blobs_data
    arr = frame(spark, X, 2, kind="array")
    cols = spark.createDataFrame(
        [tuple(map(float, x)) + (1.0 + i % 2,) for i, x in enumerate(X)], ["a", "b", "c", "w"]
    )
    a = SparkKMeans(k=4, seed=0).fit(arr)
    b = SparkKMeans(k=4, seed=0, featuresCols=["a", "b", "c"]).fit(cols)
    assert a.summary.trainingCost == pytest.approx(b.summary.trainingCost, rel=0.05)
    weighted = SparkKMeans(k=4, seed=0, featuresCols=["a", "b", "c"], weightCol="w").fit(cols)
    assert sum(weighted.summary.clusterSizes) == pytest.approx(
        sum(1.0 + i % 2 for i in range(len(X)))
    )
    cos = SparkKMeans(k=4, seed=0, distanceMeasure="cosine").fit(frame(spark, X + 20, 2))
    np.testing.assert_allclose(np.linalg.norm(np.array(cos.clusterCenters()), axis=1), 1.0)


def test_k_distinct_points_give_k_centres(spark):
    X = np.array([[0.0, 0.0]] * 50 + [[5.0, 5.0]] * 50 + [[9.0, 0.0]] * 3)
    model = SparkKMeans(k=3, seed=0, initMode="random").fit(frame(spark, X, 2))
    centers = np.array(model.clusterCenters())
    assert len(np.unique(centers.round(6), axis=0)) == 3


def test_save_load_and_in_memory_load(spark, blobs_data, tmp_path):
    model = SparkKMeans(k=4, seed=1).fit(frame(spark, blobs_data, 2))
    path = str(tmp_path / "model")
    model.save(path)
    loaded = SparkKMeansModel.load(path)
    np.testing.assert_array_equal(
        np.array(loaded.clusterCenters()), np.array(model.clusterCenters())
    )
    assert loaded.getK() == 4 and not loaded.hasSummary
    km = KMeans.load(path)
    X = blobs_data
    expected = ((X[:, None] - np.array(model.clusterCenters())[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(km.predict(X), expected)


@pytest.mark.parametrize("mode", ["per-iteration", "resident"])
def test_retried_task_gives_same_result(spark, blobs_data, tmp_path, monkeypatch, mode):
    # The failure is armed once the input is checked, so it hits the fit itself: a pass
    # (per-iteration; Spark retries the task) or the barrier stage (resident; Spark
    # starts the whole stage again).
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, DoubleType

    import tfkmeans.spark as spark_face

    armed, failed = tmp_path / "armed", tmp_path / "failed-once"
    prepare = spark_face._Frame.prepare

    def prepare_then_arm(*args):
        found = prepare(*args)
        armed.touch()
        return found

    def fail_once(values):
        from pyspark import TaskContext

        if armed.exists() and not failed.exists():
            failed.write_text(type(TaskContext.get()).__name__)
            raise RuntimeError("injected failure: this task is retried by Spark")
        return values

    flaky_udf = F.udf(fail_once, ArrayType(DoubleType()))
    df = frame(spark, blobs_data, 2, kind="array")
    clean = SparkKMeans(k=4, seed=5, executionMode=mode).fit(df)
    monkeypatch.setattr(spark_face._Frame, "prepare", prepare_then_arm)
    flaky = SparkKMeans(k=4, seed=5, executionMode=mode).fit(
        df.select(flaky_udf("features").alias("features"))
    )
    expected = "BarrierTaskContext" if mode == "resident" else "TaskContext"
    assert failed.read_text() == expected
    assert flaky.summary.executionMode == mode
    np.testing.assert_allclose(np.array(flaky.clusterCenters()), np.array(clean.clusterCenters()))
    assert flaky.summary.trainingCost == pytest.approx(clean.summary.trainingCost, rel=1e-12)


def test_bad_input(spark):
    df = spark.createDataFrame([(1.0, "x", [1.0, 2.0]), (2.0, "y", [1.0])], ["a", "s", "v"])
    with pytest.raises(ValueError, match="column 'nope' does not exist"):
        SparkKMeans(k=2, featuresCol="nope").fit(df)
    with pytest.raises(ValueError, match="column 's' is string"):
        SparkKMeans(k=2, featuresCols=["a", "s"]).fit(df)
    with pytest.raises(ValueError, match="feature vectors have 1 values, expected 2"):
        SparkKMeans(k=2, featuresCol="v").fit(df)
    nulls = spark.createDataFrame([(1.0, 2.0), (None, 1.0), (3.0, 4.0), (5.0, 5.0)], ["a", "b"])
    with pytest.raises(ValueError, match="1 rows have null values in 'a,b'"):
        SparkKMeans(k=2, featuresCols=["a", "b"]).fit(nulls)
    skipped = SparkKMeans(k=2, featuresCols=["a", "b"], handleInvalid="skip").fit(nulls)
    assert skipped.summary.numSkipped == 1 and sum(skipped.summary.clusterSizes) == 3
    with pytest.raises(ValueError, match="k=9 is larger than the 3 rows"):
        SparkKMeans(k=9, featuresCols=["a", "b"], handleInvalid="skip").fit(nulls)
    with pytest.raises(ValueError, match="executionMode must be one of 'auto', 'resident'"):
        SparkKMeans(k=2, featuresCols=["a", "b"], executionMode="fast").fit(nulls.dropna())


def test_databricks_example_runs_locally():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root / "src"), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(root / "examples" / "databricks_kmeans.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training cost:" in result.stdout
    assert "reloaded centres equal: True" in result.stdout
    sizes = result.stdout.split("cluster sizes: ")[1].split(" iterations")[0]
    assert sum(int(v) for v in sizes.strip("[]").split(",")) == 20_000


def test_task_group_gathers_in_task_order_and_turns_strangers_away():
    """The resident exchange without Spark: three threads stand in for barrier tasks."""
    import socket
    import struct
    import threading

    from tfkmeans.spark import _send, _TaskGroup

    size, token = 3, b"t" * 16
    published: list[str] = [""] * size
    meeting = threading.Barrier(size)
    stranger_heard: list[bytes] = []
    knocks: list[threading.Thread] = []
    turned_away = threading.Event()

    def knock(port):
        intruder = socket.create_connection(("127.0.0.1", port))
        _send(intruder, b"x" * 16 + struct.pack("!I", 1))
        stranger_heard.append(intruder.recv(1))
        turned_away.set()

    class Context:
        def __init__(self, rank):
            self.rank = rank

        def partitionId(self):  # noqa: N802 - BarrierTaskContext names
            return self.rank

        def getTaskInfos(self):  # noqa: N802
            return [type("Info", (), {"address": "127.0.0.1:7077"})()] * size

        def allGather(self, message):  # noqa: N802
            published[self.rank] = message
            meeting.wait()
            if self.rank == 0:  # a stranger finds the port first and knocks with a bad token
                knocks.append(threading.Thread(target=knock, args=(int(published[0]),)))
                knocks[0].start()
            else:
                turned_away.wait(30)
            return list(published)

    results: dict[int, list] = {}

    def task(rank):
        group = _TaskGroup(Context(rank), token, timeout=30)
        first = group.all_gather(rank * 10)
        second = group.all_gather(np.full(3, 0.1) * (rank + 1))
        results[rank] = [first, second]
        group.close()

    threads = [threading.Thread(target=task, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads + knocks:
        thread.join(60)
    assert stranger_heard == [b""]  # closed without an answer
    for rank in range(size):
        first, second = results[rank]
        assert first == [0, 10, 20]
        expected = [np.full(3, 0.1) * (r + 1) for r in range(size)]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(second, expected, strict=True))
