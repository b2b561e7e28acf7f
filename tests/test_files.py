"""File and tf.data sources: same answer as in memory, clear errors for bad files."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from sklearn.datasets import make_blobs

import tfkmeans
from tfkmeans import KMeans


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(30_000, n_features=4, centers=6, cluster_std=2.0, random_state=0)
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    np.save(folder / "x.npy", data)
    table = pa.table({f"f{i}": data[:, i] for i in range(4)})
    pq.write_table(table, folder / "x.parquet")
    parts = folder / "parts"
    parts.mkdir()
    for i, piece in enumerate(np.array_split(np.arange(len(data)), 3)):
        pq.write_table(table.take(pa.array(piece)), parts / f"part-{i}.parquet")
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), 4)
    pq.write_table(pa.table({"id": np.arange(len(data)), "vec": vectors}), folder / "vec.parquet")
    pd.DataFrame(data, columns=[f"f{i}" for i in range(4)]).to_csv(folder / "x.csv", index=False)
    return folder


@pytest.mark.parametrize("name", ["x.npy", "x.parquet", "parts", "vec.parquet", "x.csv"])
@pytest.mark.parametrize("chunk_rows", [1000, 65536])
def test_each_source_matches_in_memory(data, files, name, chunk_rows):
    init = data[:6]
    ref = KMeans(6, init=init, n_init=1, tol=0).fit(data)
    columns = ["vec"] if name == "vec.parquet" else None
    source = tfkmeans.read(files / name, columns=columns, chunk_rows=chunk_rows)
    ours = KMeans(6, init=init, n_init=1, tol=0).fit(source)
    assert source.n_rows == len(data) and source.n_features == 4
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)
    # Per-step inertia: row norms are added once per pass here, per row in memory.
    np.testing.assert_allclose(ours.objective_history_, ref.objective_history_, rtol=1e-5)
    assert ours.predict(source).tolist() == ref.labels_.tolist()
    assert ours.score(source) == pytest.approx(ref.score(data), rel=1e-5)


@pytest.mark.parametrize("layout", ["fortran", "big-endian", "float64"])
def test_npy_layouts_match_in_memory(data, tmp_path, layout):
    stored = {
        "fortran": np.asfortranarray(data),
        "big-endian": data.astype(">f4"),
        "float64": data.astype(np.float64),
    }[layout]
    np.save(tmp_path / "x.npy", stored)
    init = data[:6]
    ref = KMeans(6, init=init, n_init=1, tol=0).fit(stored.astype(stored.dtype.newbyteorder("=")))
    ours = KMeans(6, init=init, n_init=1, tol=0).fit(
        tfkmeans.read(tmp_path / "x.npy", chunk_rows=7000)
    )
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)


@pytest.mark.parametrize("chunk_rows", [4096, 4095])  # aligned: mapped views; else: pread ring
def test_file_chunks_stay_valid_while_the_next_is_read(data, files, chunk_rows):
    """Chunks are views of a map whose pages are dropped behind the reader, or live in
    a reused ring of buffers; each must still hold its own rows when the following
    chunk has already been read."""
    source = tfkmeans.read(files / "x.npy", chunk_rows=chunk_rows)
    previous = None
    for position, (rows, _) in enumerate(source.chunks()):
        start = position * chunk_rows
        np.testing.assert_array_equal(rows.numpy(), data[start : start + chunk_rows])
        if previous is not None:
            np.testing.assert_array_equal(previous[0].numpy(), data[previous[1] : start])
        previous = (rows, start)


@pytest.mark.parametrize("chunk_rows", [4096, 4095])
def test_npy_truncated_after_opening_is_one_clear_error(data, tmp_path, chunk_rows):
    np.save(tmp_path / "x.npy", data)
    source = tfkmeans.read(tmp_path / "x.npy", chunk_rows=chunk_rows)
    with open(tmp_path / "x.npy", "r+b") as file:
        file.truncate((tmp_path / "x.npy").stat().st_size - 1000)
    with pytest.raises(ValueError, match="is truncated"):
        KMeans(3, init=data[:3], n_init=1).fit(source)


def test_parquet_columns_of_mixed_types_become_rows(tmp_path):
    """Integer and float columns of different widths are cast into one row-major chunk."""
    rng = np.random.RandomState(1)
    X = np.column_stack([rng.randint(-50, 50, 5000), rng.randn(5000) * 10, rng.rand(5000)])
    table = pa.table(
        {
            "a": X[:, 0].astype(np.int16),
            "b": X[:, 1].astype(np.float32),
            "c": X[:, 2].astype(np.float32),
        }
    )
    pq.write_table(table, tmp_path / "mixed.parquet", row_group_size=1500)
    source = tfkmeans.read(tmp_path / "mixed.parquet", chunk_rows=1024)
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_array_equal(rows, table.to_pandas().to_numpy(np.float32))
    init = X[:3]
    ref = KMeans(3, init=init, n_init=1).fit(table.to_pandas().to_numpy(np.float32))
    ours = KMeans(3, init=init, n_init=1).fit(source)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-4)


def test_paths_are_accepted_directly(data, files):
    ref = KMeans(6, random_state=0).fit(data)
    km = KMeans(6, random_state=0).fit(str(files / "x.npy"))
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-4)
    np.testing.assert_array_equal(km.predict(files / "x.parquet"), km.labels_)


@pytest.mark.parametrize("init", ["k-means||", "random", "k-means++"])
def test_init_on_a_source_does_not_depend_on_chunk_size(files, init):
    a = KMeans(6, init=init, n_init=1, random_state=3, max_iter=1)
    b = KMeans(6, init=init, n_init=1, random_state=3, max_iter=1)
    a.fit(tfkmeans.read(files / "x.npy", chunk_rows=777))
    b.fit(tfkmeans.read(files / "x.npy", chunk_rows=20_000))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-4)


def test_predict_streams_labels_to_parquet_in_row_order(data, files, tmp_path):
    km = KMeans(6, random_state=0).fit(data)
    out = km.predict(
        tfkmeans.read(files / "x.csv", chunk_rows=4096), out=tmp_path / "labels.parquet"
    )
    table = pq.read_table(out)
    np.testing.assert_array_equal(table["label"].to_numpy(), km.predict(data))
    expected = np.sqrt(((data[:, None] - km.cluster_centers_[None]) ** 2).sum(-1).min(1))
    np.testing.assert_allclose(table["distance"].to_numpy(), expected, rtol=1e-4, atol=1e-4)


def test_tf_data_dataset(data):
    ds = tf.data.Dataset.from_tensor_slices(data).batch(5000)
    init = data[:6]
    ref = KMeans(6, init=init, n_init=1).fit(data)
    km = KMeans(6, init=init, n_init=1).fit(ds)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-4)
    weights = np.random.RandomState(0).randint(1, 3, len(data)).astype(np.float32)
    weighted = tf.data.Dataset.from_tensor_slices((data, weights)).batch(4096)
    ref_w = KMeans(6, init=init, n_init=1).fit(data, sample_weight=weights)
    km_w = KMeans(6, init=init, n_init=1).fit(weighted)
    np.testing.assert_allclose(km_w.cluster_centers_, ref_w.cluster_centers_, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(km_w.objective_history_, ref_w.objective_history_, rtol=1e-5)


def test_minibatch_and_gradient_stream_from_files(data, files):
    lloyd = KMeans(6, random_state=0).fit(data)
    mb = KMeans(6, algorithm="minibatch", n_init=3, random_state=0).fit(
        tfkmeans.read(files / "x.npy")
    )
    assert mb.inertia_ <= lloyd.inertia_ * 1.05
    init = lloyd.cluster_centers_ + 0.5
    grad = KMeans(6, init=init, algorithm="gradient", max_iter=50, n_init=1)
    grad.fit(tfkmeans.read(files / "x.parquet", chunk_rows=5000))
    assert grad.inertia_ <= lloyd.inertia_ * 1.01


def test_bad_files_give_clear_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv"):
        KMeans(2).fit(tfkmeans.read(empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(ValueError, match="no rows"):
        KMeans(2).fit(header_only)
    np.save(tmp_path / "t.npy", np.ones((100, 3)))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t\.npy"):
        KMeans(2).fit(tmp_path / "t.npy")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n4,5\n")
    with pytest.raises(ValueError, match="ragged.csv"):
        KMeans(2).fit(ragged)
    words = tmp_path / "words.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": ["x", "y"]}), words)
    with pytest.raises(ValueError, match="column 'b' is string"):
        tfkmeans.read(words, columns=["a", "b"])
    with pytest.raises(ValueError, match="no column 'c'"):
        tfkmeans.read(words, columns=["c"])
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="row 1, column 0 holds NaN"):
        KMeans(1).fit(nan)
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"a": [1.0, None, 3.0]}), nulls)
    with pytest.raises(ValueError, match="row 1, column 'a' holds NaN"):
        KMeans(1).fit(nulls)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tfkmeans.read(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="unknown file type"):
        tfkmeans.read(empty.with_suffix(".txt").touch() or empty.with_suffix(".txt"))
    with pytest.raises(ValueError, match="X has 3 features"):
        KMeans(2, random_state=0).fit(np.random.RandomState(0).randn(50, 2)).predict(
            tfkmeans.read(_write_npy(tmp_path / "three.npy", np.ones((10, 3))))
        )


def test_a_truncated_file_in_a_parquet_folder_is_one_clear_error(data, tmp_path):
    table = pa.table({f"f{i}": data[:1000, i] for i in range(4)})
    pq.write_table(table, tmp_path / "a.parquet")
    pq.write_table(table, tmp_path / "b.parquet")
    raw = (tmp_path / "b.parquet").read_bytes()
    (tmp_path / "b.parquet").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=f"{tmp_path.name} could not be read"):
        KMeans(2).fit(tfkmeans.read(tmp_path))


def _write_npy(path, array):
    np.save(path, array)
    return path


# -- the same answer from every source --------------------------------------------------


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    """4,000 x 3 blobs, float64, as .npy, Parquet, CSV (pandas' own writer)."""
    X, _ = make_blobs(4000, n_features=3, centers=5, cluster_std=1.5, random_state=7)
    folder = tmp_path_factory.mktemp("same")
    np.save(folder / "x.npy", X)
    pq.write_table(pa.table({f"f{i}": X[:, i] for i in range(3)}), folder / "x.parquet")
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(folder / "x.csv", index=False)
    np.save(folder / "x32.npy", X.astype(np.float32))
    return X, folder


@pytest.mark.parametrize("init", ["k-means++", "random", "k-means||"])
@pytest.mark.parametrize("name", ["x.npy", "x.parquet", "x.csv", "tf.data", "x32.npy"])
@pytest.mark.parametrize("chunk_rows", [1000, 1333])
def test_every_source_gives_the_in_memory_answer(small_files, init, name, chunk_rows):
    """Same data, seed and init: the same centres (float64 1e-6, float32 1e-4) and the
    same labels as the array in memory, whatever the chunk size."""
    X, folder = small_files
    if name == "x32.npy":
        X = X.astype(np.float32)
    if name == "tf.data":
        source = tf.data.Dataset.from_tensor_slices(X).batch(chunk_rows)
    else:
        source = tfkmeans.read(folder / name, chunk_rows=chunk_rows)
    ref = KMeans(5, init=init, random_state=3).fit(X)
    ours = KMeans(5, init=init, random_state=3).fit(source)
    tol = 1e-4 if X.dtype == np.float32 else 1e-6
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=tol, atol=tol)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=tol)


def test_file_kmeanspp_is_scikit_learns_kmeanspp(small_files):
    """k-means++ from a file starts where scikit-learn starts on the array."""
    from sklearn.cluster import KMeans as SkKMeans

    X, folder = small_files
    sk = SkKMeans(5, random_state=11, max_iter=1, n_init=1).fit(X)
    ours = KMeans(5, random_state=11, max_iter=1, n_init=1).fit(
        tfkmeans.read(folder / "x.parquet", chunk_rows=900)
    )
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-6, atol=1e-6)


# -- which columns are the features -----------------------------------------------------


def _fsl(X):
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


@pytest.fixture(scope="module")
def emb():
    rng = np.random.RandomState(0)
    return rng.randn(500, 8).astype(np.float32) + 100


@pytest.mark.parametrize("layout", ["fixed_size_list", "list", "large_list", "tensor"])
def test_one_vector_column_is_the_features_not_the_id(emb, tmp_path, layout):
    ids = np.arange(1000, 1500)
    if layout == "fixed_size_list":
        vectors = _fsl(emb)
    elif layout == "tensor":
        vectors = pa.FixedShapeTensorArray.from_numpy_ndarray(emb)
    else:
        kind = pa.list_(pa.float32()) if layout == "list" else pa.large_list(pa.float32())
        vectors = pa.array(list(emb), type=kind)
    pq.write_table(pa.table({"id": ids, "emb": vectors}), tmp_path / "e.parquet")
    with pytest.warns(tfkmeans.columns.ColumnNotice, match=r"features from emb; left out id"):
        source = tfkmeans.read(tmp_path / "e.parquet", chunk_rows=128)
    assert source.n_features == 8
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_array_equal(rows, emb)
    km = KMeans(3, random_state=0).fit(source)
    np.testing.assert_allclose(
        km.cluster_centers_, KMeans(3, random_state=0).fit(emb).cluster_centers_, rtol=1e-5
    )
    assert list(km.feature_names_in_) == [f"emb[{j}]" for j in range(8)]


def test_variable_lists_of_another_length_name_the_row(emb, tmp_path):
    lists = [list(r) for r in emb[:5]] + [[1.0, 2.0]]
    pq.write_table(
        pa.table({"emb": pa.array(lists, pa.list_(pa.float32()))}), tmp_path / "v.parquet"
    )
    with pytest.raises(
        ValueError, match=r"column 'emb', row 5 holds 2 values; the first row held 8"
    ):
        KMeans(2).fit(tmp_path / "v.parquet")


def _table_with_ids(X):
    n = len(X)
    return {
        "id": np.arange(n) + 7,
        "user_id": np.random.RandomState(1).randint(0, 10**6, n),
        "index": np.arange(n),
        "row_number": np.arange(1, n + 1),
        "x": X[:, 0],
        "y": X[:, 1],
        "count": np.random.RandomState(2).randint(0, 5, n),
    }


@pytest.mark.parametrize("reader", ["parquet", "csv"])
def test_numeric_columns_without_row_ids_with_one_notice(tmp_path, reader):
    X = np.random.RandomState(0).randn(300, 2)
    table = _table_with_ids(X)
    path = tmp_path / f"t.{reader}"
    if reader == "parquet":
        pq.write_table(pa.table(table), path)
    else:
        pd.DataFrame(table).to_csv(path)  # pandas' default writes its index too
    with pytest.warns(tfkmeans.columns.ColumnNotice) as notices:
        source = tfkmeans.read(path)
    assert len(notices) == 1
    message = str(notices[0].message)
    assert "features from x, y, count" in message
    for name in ("id", "user_id", "index", "row_number"):
        assert f"{name} (row" in message
    assert source.feature_names == ["x", "y", "count"]
    expected = pd.DataFrame(table)[["x", "y", "count"]].to_numpy()
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_allclose(rows, expected)


@pytest.mark.parametrize("reader", ["parquet", "csv"])
def test_columns_by_name_and_glob_in_the_order_asked(tmp_path, reader):
    frame = pd.DataFrame(
        np.random.RandomState(0).randn(50, 5), columns=["f1", "f2", "g", "f3", "h"]
    )
    path = tmp_path / f"t.{reader}"
    frame.to_parquet(path) if reader == "parquet" else frame.to_csv(path, index=False)
    source = tfkmeans.read(path, columns=["h", "f*"])
    assert source.feature_names == ["h", "f1", "f2", "f3"]
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_allclose(rows, frame[["h", "f1", "f2", "f3"]].to_numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"no column matches 'z\*'"):
        tfkmeans.read(path, columns="z*")


@pytest.mark.parametrize("reader", ["parquet", "csv"])
def test_text_columns_are_left_out_with_notice_or_named_in_an_error(tmp_path, reader):
    frame = pd.DataFrame({"name": ["a", "b", "c", "d"], "x": [1.0, 2, 3, 4], "y": [5.0, 6, 7, 8]})
    path = tmp_path / f"t.{reader}"
    frame.to_parquet(path) if reader == "parquet" else frame.to_csv(path, index=False)
    with pytest.warns(tfkmeans.columns.ColumnNotice, match=r"left out name \(text\)"):
        assert tfkmeans.read(path).feature_names == ["x", "y"]


def test_a_text_value_in_a_number_column_names_column_row_and_value(tmp_path):
    path = tmp_path / "oops.csv"
    path.write_text("a,b\n1,2\n3,oops\n5,6\n7,8\n")
    with pytest.raises(ValueError, match="could not convert"):
        pd.read_csv(path).astype(float)  # pandas refuses it too
    with pytest.raises(ValueError, match=r"column 'b', row 1 \(line 3\): 'oops' is not a number"):
        KMeans(2).fit(tfkmeans.read(path))
    with pytest.raises(ValueError, match=r"column 'b', row 1 \(line 3\): 'oops'"):
        KMeans(2).fit(tfkmeans.read(path, columns=["a", "b"]))


# -- CSV as pandas reads it -------------------------------------------------------------


def test_a_csv_without_header_loses_no_row(tmp_path):
    X = np.random.RandomState(0).randn(600, 3)
    path = tmp_path / "noheader.csv"
    pd.DataFrame(X).to_csv(path, header=False, index=False)
    assert len(path.read_text().splitlines()) == 600
    source = tfkmeans.read(path)
    assert source.n_rows == 600 and source.feature_names == ["0", "1", "2"]
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_array_equal(rows, pd.read_csv(path, header=None).to_numpy())
    km = KMeans(3, random_state=0).fit(path)
    assert len(km.labels_) == 600
    forced = tfkmeans.read(path, header=True)
    assert forced.n_rows == 599  # as asked: the first line names the columns


def test_csv_quotes_empty_lines_and_header_detection_match_pandas(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('"a","b,c"\n\n"1.5",2\n3,"4"\n\n\n5,6e1\n')
    expected = pd.read_csv(path).to_numpy()
    source = tfkmeans.read(path)
    assert source.feature_names == ["a", "b,c"] and source.n_rows == len(expected) == 3
    rows = np.concatenate([r.numpy() for r, _ in source.chunks()])
    np.testing.assert_array_equal(rows, expected)
    numbers_first = tmp_path / "n.csv"
    numbers_first.write_text("1,2\n3,4\n")
    assert tfkmeans.read(numbers_first).n_rows == 2
    assert tfkmeans.read(numbers_first, header=True).feature_names == ["1", "2"]


# -- bad rows: error or skip ------------------------------------------------------------


def _with_bad_rows(X):
    bad = X.copy()
    bad[5, 1] = np.nan
    bad[17, 0] = np.inf
    bad[901, 2] = np.nan
    return bad, np.delete(X, [5, 17, 901], axis=0)


@pytest.mark.parametrize("name", ["npy", "parquet", "csv", "tf.data"])
def test_handle_invalid_skip_gives_the_answer_on_the_good_rows(tmp_path, name):
    X, _ = make_blobs(2000, n_features=3, centers=4, random_state=5)
    bad, good = _with_bad_rows(X)
    path = tmp_path / f"b.{name}"
    if name == "npy":
        np.save(path, bad)
    elif name == "parquet":
        columns = {f"c{i}": bad[:, i] for i in range(3)}
        columns["c1"] = pa.array(bad[:, 1], mask=np.isnan(bad[:, 1]))  # a null, not NaN
        pq.write_table(pa.table(columns), path)
    elif name == "csv":
        pd.DataFrame(bad, columns=["c0", "c1", "c2"]).to_csv(path, index=False)  # NaN: empty
    dataset = tf.data.Dataset.from_tensor_slices(bad).batch(300)

    def open_(**kw):
        if name == "tf.data":
            return tfkmeans.files.DatasetSource(dataset, **kw)
        return tfkmeans.read(path, chunk_rows=300, **kw)

    column = "1" if name in ("npy", "tf.data") else "'c1'"
    with pytest.raises(ValueError, match=rf"row 5, column {column} holds NaN"):
        KMeans(4).fit(open_())
    source = open_(handle_invalid="skip")
    with pytest.warns(tfkmeans.chunked.RowsSkipped, match=r"skipped 3 rows .* \(first: row 5\)"):
        assert source.n_rows == len(good)
    assert source.n_skipped == 3
    for init in ("k-means++", "k-means||"):
        ref = KMeans(4, init=init, random_state=0).fit(good)
        ours = KMeans(4, init=init, random_state=0).fit(source)
        np.testing.assert_allclose(
            ours.cluster_centers_, ref.cluster_centers_, rtol=1e-6, atol=1e-6
        )
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
    # Labels streamed to a file keep one row per row of the input: -1 where skipped.
    out = ours.predict(source, out=tmp_path / "labels.parquet")
    table = pq.read_table(out)
    assert len(table) == len(X)
    labels = table["label"].to_numpy()
    assert list(np.flatnonzero(labels == -1)) == [5, 17, 901]
    np.testing.assert_array_equal(np.delete(labels, [5, 17, 901]), ref.labels_)
    assert np.isnan(table["distance"].to_numpy()[[5, 17, 901]]).all()


# -- fitted attributes ------------------------------------------------------------------


def test_file_fitted_model_keeps_feature_names_and_checks_them(tmp_path):
    frame = pd.DataFrame(np.random.RandomState(0).randn(200, 3), columns=["u", "v", "w"])
    frame.to_parquet(tmp_path / "t.parquet")
    km = KMeans(2, random_state=0).fit(tmp_path / "t.parquet")
    assert list(km.feature_names_in_) == ["u", "v", "w"]
    km.save(tmp_path / "m.tfkm")
    loaded = KMeans.load(tmp_path / "m.tfkm")
    assert list(loaded.feature_names_in_) == ["u", "v", "w"]
    np.testing.assert_array_equal(loaded.predict(tmp_path / "t.parquet"), km.labels_)
    with pytest.raises(AttributeError, match=r"labels_ is not kept in a model file.*predict"):
        loaded.labels_  # noqa: B018
    frame.rename(columns={"w": "z"}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(
        ValueError, match="has features u, v, z, but the model was fitted on u, v, w"
    ):
        km.predict(tmp_path / "other.parquet")


def test_partial_fit_needs_minibatch(data):
    km = KMeans(3)
    assert not hasattr(km, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit needs algorithm='minibatch'"):
        km.partial_fit(data[:100])
    assert hasattr(KMeans(3, algorithm="minibatch"), "partial_fit")


def test_cumulative_lookup_across_blocks_is_one_cumsum(small_files, monkeypatch):
    """The draw lookup carries its float64 sum across blocks: the positions are those
    of one np.cumsum over every row, targets at block edges included."""
    X, folder = small_files
    monkeypatch.setattr(tfkmeans.chunked, "CUMSUM_BLOCK_ROWS", 333)
    source = tfkmeans.read(folder / "x.npy", chunk_rows=1000)
    _, closest = source.kmeanspp_pass(None, source.take(np.array([7]))[0])
    cumulative = np.cumsum(closest.numpy())
    rng = np.random.RandomState(0)
    targets = np.concatenate([rng.uniform(size=50) * cumulative[-1], cumulative[[332, 333, 999]]])
    targets = np.append(targets, cumulative[-1] * 2)  # past the end: the last row
    expected = np.minimum(np.searchsorted(cumulative, targets), len(X) - 1)
    np.testing.assert_array_equal(source.at_cumulative(closest, targets), expected)
