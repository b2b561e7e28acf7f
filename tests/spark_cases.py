"""SparkKMeans on a real local Spark, against tfkmeans.KMeans and pyspark.ml's KMeans.

Every case takes a ``spark`` fixture: tests/test_spark.py runs them on a classic session
and tests/test_spark_connect.py on a Spark Connect one (separate modules, so that
pytest-xdist's loadfile puts them on separate workers and each starts one session)."""

import os

import numpy as np
import pytest
from sklearn.datasets import make_blobs

pyspark = pytest.importorskip("pyspark", reason="pyspark is installed by make test")
from pyspark.ml.clustering import KMeans as MLlibKMeans  # noqa: E402
from pyspark.ml.clustering import KMeansModel as MLlibKMeansModel  # noqa: E402
from pyspark.ml.linalg import Vectors  # noqa: E402

from tfkmeans import KMeans  # noqa: E402
from tfkmeans.spark import SparkKMeans, SparkKMeansModel  # noqa: E402

# 3 task slots (so 3 partitions fit one barrier stage), tasks retried once.
MASTER = "local[3,2]"
CONFIG = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
}


def start_session(remote: bool):
    """A classic local session, or a Spark Connect one (pyspark starts the server)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:  # the other kind, from a module run before on this worker
        active.stop()
    if remote:
        # An ephemeral server port (pyspark's own test mode, SPARK-42272): the Connect
        # module and the Connect example may run at once on two pytest workers.
        os.environ["SPARK_TESTING"] = "1"
    builder = SparkSession.builder.appName("tfkmeans-tests")
    builder = builder.remote(MASTER) if remote else builder.master(MASTER)
    for key, value in CONFIG.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def frame(spark, X, partitions=2, kind="vector"):
    rows = [(Vectors.dense(x),) for x in X] if kind == "vector" else [(x.tolist(),) for x in X]
    return spark.createDataFrame(rows, ["features"]).repartition(partitions)


@pytest.fixture(scope="module")
def blobs_data():
    X, _ = make_blobs(3000, n_features=3, centers=4, cluster_std=1.5, random_state=0)
    return X


# Every partition count on classic; Spark Connect (tests/test_spark_connect.py) runs a
# subset, since each per-iteration pass there is a job through the Connect server.
MODES_AND_PARTITIONS = [("per-iteration", 1), ("per-iteration", 2), ("per-iteration", 3)] + [
    ("resident", 1),
    ("resident", 2),
    ("resident", 3),
    ("resident", 5),
]


@pytest.mark.parametrize("mode, partitions", MODES_AND_PARTITIONS)
def test_same_centres_as_in_memory_from_same_start(spark, blobs_data, mode, partitions):
    check_same_centres(spark, blobs_data, mode, partitions)


def check_same_centres(spark, blobs_data, mode, partitions):
    X = blobs_data
    init = X[[0, 1, 2, 3]]
    # Every per-iteration pass is a Spark job: 8 iterations compare as well as 50 do.
    iterations = 8 if mode == "per-iteration" else 50
    ref = KMeans(4, init=init, n_init=1, tol=0, max_iter=iterations).fit(X)
    model = SparkKMeans(k=4, maxIter=iterations, tol=0.0, seed=1, executionMode=mode)
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
    from tfkmeans.spark import cluster

    df = frame(spark, blobs_data, 2)
    assert SparkKMeans(k=4, seed=0).fit(df).summary.executionMode == "resident"
    monkeypatch.setattr(cluster, "DEFAULT_RESIDENT_BYTES", 1024)
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
    assert sum(weighted.summary.clusterSizes) == len(X)  # rows, not weights
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

    from tfkmeans.spark.frame import Frame

    armed, failed = tmp_path / "armed", tmp_path / "failed-once"
    prepare = Frame.prepare

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
    monkeypatch.setattr(Frame, "prepare", classmethod(lambda cls, *a: prepare_then_arm(*a)))
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


# -- issue 12: summary agrees with transform, bad input, plans Spark refuses as barrier --------


@pytest.mark.parametrize("weight", [0.3, 2.0])
def test_cluster_sizes_are_row_counts_whatever_the_weights(spark, weight):
    data = [(Vectors.dense(x), weight) for x in ([0.0, 0.0], [1.0, 1.0], [9.0, 8.0], [8.0, 9.0])]
    df = spark.createDataFrame(data, ["features", "w"])
    ours = SparkKMeans(k=2, seed=1, weightCol="w").fit(df)
    ref = MLlibKMeans(k=2, seed=1, weightCol="w").fit(df)
    assert sorted(ours.summary.clusterSizes) == sorted(ref.summary.clusterSizes) == [2, 2]
    assert ours.summary.trainingCost == pytest.approx(ref.summary.trainingCost, rel=1e-12)


def test_cluster_sizes_count_the_labels_transform_gives_with_duplicates(spark):
    X = np.array([[0.0, 0.0]] * 10 + [[5.0, 5.0]] * 10 + [[9.0, 0.0]] * 10)
    fitted = SparkKMeans(k=5, seed=0).fit(frame(spark, X, 2))
    labels = [r["prediction"] for r in fitted.transform(frame(spark, X, 2)).collect()]
    assert fitted.summary.clusterSizes == np.bincount(labels, minlength=5).tolist()
    summary_labels = sorted(r[0] for r in fitted.summary.cluster.collect())
    assert summary_labels == sorted(labels)
    for x in X[[0, 10, 20]]:
        (row,) = {r["prediction"] for r in fitted.transform(frame(spark, x[None], 1)).collect()}
        assert fitted.predict(Vectors.dense(x)) == row


def test_null_vector_names_the_column_or_is_skipped(spark):
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql.types import StructField, StructType

    schema = StructType([StructField("vec", VectorUDT())])
    rows = [(Vectors.dense([float(i), 1.0]),) for i in range(6)] + [(None,)]
    df = spark.createDataFrame(rows, schema)
    with pytest.raises(ValueError, match=r"^1 rows have null values in 'vec'; set handleInvalid"):
        SparkKMeans(k=2, featuresCol="vec").fit(df)
    skipped = SparkKMeans(k=2, seed=0, featuresCol="vec", handleInvalid="skip").fit(df)
    assert skipped.summary.numSkipped == 1
    assert sum(skipped.summary.clusterSizes) == 6
    assert skipped.summary.predictions.count() == 6


def test_list_given_to_features_col_points_to_features_cols(spark):
    message = r"featuresCol takes one column name.*use featuresCols=\['a', 'b'\]"
    with pytest.raises(TypeError, match=message):
        SparkKMeans(featuresCol=["a", "b"])
    with pytest.raises(TypeError, match=message):
        SparkKMeans().setFeaturesCol(["a", "b"])


def test_cached_coalesce_input_runs_resident(spark, blobs_data):
    df = frame(spark, blobs_data, 3).coalesce(1).cache()
    ours = SparkKMeans(k=4, seed=2).fit(df)
    assert ours.summary.executionMode == "resident", ours.summary.fallbackReason
    ref = KMeans(4, init=np.array(ours.clusterCenters()), n_init=1, max_iter=1).fit(blobs_data)
    assert ours.summary.trainingCost == pytest.approx(ref.inertia_, rel=1e-6)
    df.unpersist()


# -- issue 12: the whole Spark ML face --------------------------------------------------------


def _public(cls) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def test_trailing_empty_partitions_run_resident(spark):
    """Only the first of six partitions holds rows: a barrier stage over all six would need
    more slots than the three there are (Spark refuses it), so the rows are cut to the
    slot count first, and the fit matches the in-memory one."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    ids = spark.range(0, 600, numPartitions=6).where("id < 60")
    features = F.array(F.col("id").cast("double"), (F.col("id") % 7).cast("double"))
    df = ids.select(array_to_vector(features).alias("features"))
    start = np.array([[0.0, 0.0], [30.0, 3.0], [59.0, 6.0]])
    model = SparkKMeans(k=3, maxIter=5, tol=0.0).setInitialModel(start).fit(df)
    assert model.summary.executionMode == "resident", model.summary.fallbackReason
    X = np.column_stack([np.arange(60.0), np.arange(60) % 7])
    expected = KMeans(3, init=start, n_init=1, max_iter=5, tol=0).fit(X).cluster_centers_
    np.testing.assert_allclose(np.array(model.clusterCenters()), expected, atol=1e-9)


def test_every_kmeans_param_setter_and_getter_exists_with_spark_defaults(spark):
    assert _public(MLlibKMeans) <= _public(SparkKMeans)
    assert _public(MLlibKMeansModel) - {"evaluate"} <= _public(SparkKMeansModel)
    ref, ours = MLlibKMeans(), SparkKMeans()
    for param in ref.params:
        name = param.name
        assert ours.hasParam(name), name
        # Spark's default seed is a hash of the class name
        if name != "seed" and ref.isDefined(name):
            assert ours.getOrDefault(name) == ref.getOrDefault(name), name
        getter = getattr(ours, "get" + name[0].upper() + name[1:])
        if ref.isDefined(name):
            assert getter() == ours.getOrDefault(name), name
        else:  # no default (weightCol): unset in both
            assert not ours.isDefined(name), name


def test_summary_fields_and_model_face(spark, blobs_data):
    df = frame(spark, blobs_data, 2)
    model = SparkKMeans(k=4, seed=3).setPredictionCol("cluster_id").fit(df)
    summary = model.summary
    assert (summary.k, summary.featuresCol, summary.predictionCol) == (4, "features", "cluster_id")
    assert summary.predictions.columns == ["features", "cluster_id"]
    assert summary.cluster.columns == ["cluster_id"]
    assert sum(summary.clusterSizes) == len(blobs_data)
    assert model.numFeatures == 3
    centers = np.array(model.clusterCenters())
    x = blobs_data[7]
    assert model.predict(Vectors.dense(x)) == int(((centers - x) ** 2).sum(1).argmin())


def test_model_written_here_loads_in_spark_ml_and_back(spark, blobs_data, tmp_path):
    df = frame(spark, blobs_data, 2)
    model = SparkKMeans(k=4, seed=1, executionMode="per-iteration").fit(df)
    model.setPredictionCol("p")
    path = str(tmp_path / "ours")
    model.write().overwrite().save(path)
    model.write().overwrite().save(path)  # overwrite works without the JVM
    spark_model = MLlibKMeansModel.load(path)
    assert spark_model.uid == model.uid
    np.testing.assert_array_equal(
        np.array(spark_model.clusterCenters()), np.array(model.clusterCenters())
    )
    assert spark_model.getPredictionCol() == "p" and spark_model.getK() == 4
    ours = [r["p"] for r in model.transform(df).collect()]
    theirs = [r["p"] for r in spark_model.transform(df).collect()]
    assert ours == theirs
    back = SparkKMeansModel.load(path)
    assert back.uid == model.uid and back.getExecutionMode() == "per-iteration"
    assert not back.hasSummary
    np.testing.assert_array_equal(np.array(back.clusterCenters()), np.array(model.clusterCenters()))
    km = KMeans.load(path)  # in memory, from the same folder
    np.testing.assert_array_equal(km.cluster_centers_, np.array(model.clusterCenters()))

    spark_path = str(tmp_path / "spark")
    fitted = MLlibKMeans(k=3, seed=4, distanceMeasure="cosine").fit(df)
    fitted.save(spark_path)
    read = SparkKMeansModel.read().load(spark_path)
    assert read.uid == fitted.uid and read.getDistanceMeasure() == "cosine"
    np.testing.assert_array_equal(
        np.array(read.clusterCenters()), np.array(fitted.clusterCenters())
    )
    assert [r["prediction"] for r in read.transform(df).collect()] == [
        r["prediction"] for r in fitted.transform(df).collect()
    ]


def test_estimator_persistence_keeps_uid_and_params(spark, tmp_path):
    est = SparkKMeans(k=5, tol=0.5, featuresCols=["a", "b"], executionMode="resident")
    est.setSeed(9).setSolver("row")
    path = str(tmp_path / "est")
    est.save(path)
    with pytest.raises(Exception, match="already exists"):
        est.save(path)
    est.write().overwrite().save(path)
    back = SparkKMeans.load(path)
    assert back.uid == est.uid
    for name in ("k", "tol", "featuresCols", "executionMode", "seed", "solver", "maxIter"):
        assert back.getOrDefault(name) == est.getOrDefault(name), name


def test_estimator_persistence_keeps_initial_centres(spark, tmp_path):
    """setInitialModel survives save/load: the loaded estimator starts where the saved one
    would (one iteration from odd starting centres shows it)."""
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0], [9.1, 0.0]])
    start = np.array([[0.3, 1.0], [7.0, 2.0]])
    est = SparkKMeans(k=2, maxIter=1, seed=3).setInitialModel(start)
    est.write().overwrite().save(str(tmp_path / "est"))
    back = SparkKMeans.load(str(tmp_path / "est"))
    df = frame(spark, X, partitions=1)
    expected = KMeans(2, init=start, n_init=1, max_iter=1).fit(X).cluster_centers_
    for estimator in (est, back):
        centres = np.array(estimator.fit(df).clusterCenters())
        np.testing.assert_allclose(centres, expected, atol=1e-12)


def test_pyspark_kmeans_doctest_passes_with_spark_kmeans(spark, tmp_path):
    """pyspark's own KMeans doctest (read from the installed pyspark) with SparkKMeans in
    place of KMeans. KMeansModel stays Spark's, so the model SparkKMeans saves must load
    in Spark ML and transform alike. Only reprs may differ: ``SparkKMeans_...`` is read as
    ``KMeans_...`` by the output checker."""
    import doctest

    import pyspark.ml.clustering as clustering

    class SameButForClassName(doctest.OutputChecker):
        def check_output(self, want, got, optionflags):
            got = got.replace("SparkKMeans", "KMeans")
            return super().check_output(want, got, optionflags)

    globs = dict(clustering.__dict__, KMeans=SparkKMeans, spark=spark, temp_path=str(tmp_path))
    test = doctest.DocTestParser().get_doctest(
        clustering.KMeans.__doc__, globs, "KMeans", clustering.__file__, 0
    )
    runner = doctest.DocTestRunner(checker=SameButForClassName(), optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    with np.printoptions(legacy="1.13"):
        runner.run(test, out=report.append)
    assert runner.tries == len(test.examples) >= 30
    assert runner.failures == 0, "".join(report)


def test_databricks_example_runs_on_this_session(spark, capsys):
    """examples/databricks_kmeans.py as a notebook runs it: on the session that exists
    (here the module's classic or Connect one), which it uses and leaves running."""
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "databricks_kmeans.py"
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert f"session: {type(spark).__module__}\n" in out
    assert "execution mode: resident" in out
    assert "reloaded centres equal: True" in out
    assert "Spark ML centres equal: True" in out
    sizes = out.split("cluster sizes: ")[1].split(" iterations")[0]
    assert sum(int(v) for v in sizes.strip("[]").split(",")) == 20_000
    assert spark.range(3).count() == 3  # the session is still up
