"""Sparse input (scipy CSR/CSC, tf.SparseTensor) against scikit-learn and the dense path."""

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from tfkmeans import KMeans, csr_matmul, sparse_blocks
from tfkmeans.samples import sparse_topics
from tfkmeans.sparse_source import centre_sqnorms


def sparse_blobs(n=600, d=40, k=4, seed=0, dtype=np.float64):
    """Blobs with most values zeroed: a sparse matrix whose clusters share features."""
    X, y = make_blobs(n, n_features=d, centers=k, cluster_std=1.5, random_state=seed)
    X[np.abs(X) < 4] = 0.0
    return sp.csr_matrix(X.astype(dtype)), y


@pytest.fixture(scope="module")
def data():
    X, _ = sparse_blobs()
    weights = np.random.RandomState(1).uniform(0.2, 2.0, X.shape[0])
    return X, weights


def tf_sparse(X) -> tf.SparseTensor:
    coo = X.tocoo()
    indices = np.stack([coo.row, coo.col], 1).astype(np.int64)
    return tf.SparseTensor(indices, coo.data, coo.shape)


CONTAINERS = {
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "csr_array": sp.csr_array,
    "coo": sp.coo_matrix,
    "tf.SparseTensor": tf_sparse,
}


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("container", CONTAINERS)
def test_lloyd_matches_sklearn_from_same_centres(data, container, algorithm):
    X, w = data
    init = X[[0, 150, 300, 450]].toarray()
    kw = dict(n_clusters=4, init=init, n_init=1, max_iter=100, tol=1e-6, algorithm=algorithm)
    ref = SKKMeans(**kw).fit(X, sample_weight=w)
    got = KMeans(**kw).fit(CONTAINERS[container](X), sample_weight=w)
    assert got.cluster_centers_.dtype == np.float64
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    assert got.n_iter_ == ref.n_iter_
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_random_state_draws_like_sklearn(data, init, seed):
    X, w = data
    kw = dict(n_clusters=4, init=init, n_init=2, random_state=seed)
    ref = SKKMeans(**kw).fit(X, sample_weight=w)
    got = KMeans(**kw).fit(X, sample_weight=w)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.labels_, ref.labels_)


def test_topics_kmeanspp_matches_sklearn():
    X, _ = sparse_topics(3000, 2000, 6, 0.01, seed=3, dtype=np.float64)
    ref = SKKMeans(6, n_init=1, random_state=7).fit(X)
    got = KMeans(6, n_init=1, random_state=7).fit(X)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)


def test_float32_stays_float32_and_agrees_with_sklearn():
    X, _ = sparse_blobs(dtype=np.float32)
    init = X[[0, 150, 300, 450]].toarray()
    ref = SKKMeans(4, init=init, n_init=1).fit(X)
    got = KMeans(4, init=init, n_init=1).fit(X)
    assert got.cluster_centers_.dtype == np.float32
    assert got.transform(X).dtype == np.float32
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    exact = ((X.toarray().astype(np.float64) - got.cluster_centers_[got.labels_]) ** 2).sum()
    assert got.inertia_ == pytest.approx(exact, rel=1e-9)  # exact, accumulated in float64


def test_predict_transform_score_match_sklearn(data):
    X, w = data
    ref = SKKMeans(4, n_init=1, random_state=0).fit(X)
    got = KMeans(4, n_init=1, random_state=0).fit(X)
    Y, _ = sparse_blobs(200, seed=5)
    np.testing.assert_array_equal(got.predict(Y), ref.predict(Y))
    np.testing.assert_array_equal(got.predict(Y.tocsc()), ref.predict(Y))
    np.testing.assert_allclose(got.transform(Y), ref.transform(Y), rtol=1e-9, atol=1e-9)
    dense = np.sqrt(((Y.toarray()[:, None, :] - got.cluster_centers_) ** 2).sum(-1))
    np.testing.assert_allclose(got.transform(Y), dense, rtol=1e-12, atol=1e-6)
    wy = np.linspace(0.5, 1.5, Y.shape[0])
    assert got.score(Y, sample_weight=wy) == pytest.approx(ref.score(Y, sample_weight=wy), 1e-10)
    np.testing.assert_array_equal(got.fit_predict(X), ref.fit_predict(X))
    # a model fitted on sparse rows labels dense rows, and the other way round
    np.testing.assert_array_equal(got.predict(Y.toarray()), got.predict(Y))
    dense_fit = KMeans(4, n_init=1, random_state=0).fit(X.toarray())
    np.testing.assert_array_equal(dense_fit.predict(Y), dense_fit.predict(Y.toarray()))


@pytest.mark.parametrize(
    ("algorithm", "metric"),
    [
        ("lloyd", "cosine"),
        ("minibatch", "euclidean"),
        ("minibatch", "cosine"),
        ("gradient", "euclidean"),
        ("gradient", "cosine"),
    ],
)
def test_sparse_gives_the_dense_answer(data, algorithm, metric):
    X, w = data
    kw = dict(n_clusters=4, n_init=1, random_state=0, algorithm=algorithm, metric=metric)
    kw.update(max_iter=30, batch_size=128 if algorithm == "minibatch" else None)
    dense = KMeans(**kw).fit(X.toarray(), sample_weight=w)
    sparse = KMeans(**kw).fit(X, sample_weight=w)
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_, atol=1e-8)
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    assert sparse.inertia_ == pytest.approx(dense.inertia_, rel=1e-9)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.transform(X), dense.transform(X.toarray()), atol=1e-8)


def test_partial_fit_on_sparse_chunks_matches_dense(data):
    X, w = data
    dense = KMeans(4, algorithm="minibatch", random_state=0, n_init=1)
    sparse = KMeans(4, algorithm="minibatch", random_state=0, n_init=1)
    for start in range(0, X.shape[0], 200):
        rows = slice(start, start + 200)
        dense.partial_fit(X[rows].toarray(), sample_weight=w[rows])
        sparse.partial_fit(X[rows], sample_weight=w[rows])
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_, atol=1e-8)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))


def test_k_means_parallel_and_callable_init(data):
    X, _ = data
    got = KMeans(4, init="k-means||", n_init=1, random_state=0).fit(X)
    ref = SKKMeans(4, init=got.cluster_centers_, n_init=1).fit(X)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, atol=1e-6)
    seen = []

    def first_rows(rows, k, random_state):
        seen.append(sp.issparse(rows))
        return rows[:k].toarray()

    got = KMeans(4, init=first_rows, n_init=1).fit(X)
    ref = SKKMeans(4, init=X[:4].toarray(), n_init=1).fit(X)
    assert seen == [True]  # the callable gets the sparse matrix, as in scikit-learn
    np.testing.assert_array_equal(got.labels_, ref.labels_)


def test_never_densified():
    """50,000 x 1,000,000 float32 would take 200 GB dense; 5 values per row take 2 MB."""
    rng = np.random.RandomState(0)
    n, d = 50_000, 1_000_000
    cols = rng.randint(0, 1000, (n, 5))
    cols[n // 2 :] += d - 1000  # two groups of rows, on features at both ends
    X = sp.csr_matrix(
        (np.ones(5 * n, np.float32), cols.ravel(), np.arange(0, 5 * n + 1, 5)), shape=(n, d)
    )
    init = np.vstack([X[: n // 2].mean(axis=0), X[n // 2 :].mean(axis=0)])
    km = KMeans(2, init=init, n_init=1, max_iter=5).fit(X)
    assert km.cluster_centers_.shape == (2, d)
    expected = np.repeat([0, 1], n // 2)
    np.testing.assert_array_equal(km.labels_, expected)
    assert km.predict(X[:10]).shape == (10,)


# -- bad input ------------------------------------------------------------------------------


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(("value", "pattern"), [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("method", ["fit", "predict", "partial_fit"])
def test_nan_or_inf_in_sparse_data(data, value, pattern, method):
    X, _ = data
    bad = X.copy()
    bad.data[7] = value
    km = KMeans(4, n_init=1, random_state=0, algorithm="minibatch")
    if method == "predict":
        km.fit(X)
    with pytest.raises(ValueError, match=pattern) as excinfo:
        getattr(km, method)(bad)
    one_line(excinfo)


@pytest.mark.parametrize("fit_on", ["sparse", "dense"])
def test_wrong_number_of_columns_at_predict(data, fit_on):
    X, _ = data
    km = KMeans(4, n_init=1, random_state=0).fit(X if fit_on == "sparse" else X.toarray())
    for method in ("predict", "transform", "score"):
        with pytest.raises(ValueError, match="X has 39 features, but KMeans is expecting 40") as e:
            getattr(km, method)(X[:, :39])
        one_line(e)


def test_matrix_without_stored_values():
    """All-zero rows are valid data: scikit-learn fits them (every centre at zero, with
    its duplicate-points warning); cosine k-means has no direction for them."""
    X = sp.csr_matrix((20, 6))
    ref_warning = pytest.warns(ConvergenceWarning, match="Number of distinct clusters")
    with ref_warning:
        ref = SKKMeans(2, n_init=1, random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning, match="Number of distinct clusters"):
        got = KMeans(2, n_init=1, random_state=0).fit(X)
    np.testing.assert_array_equal(got.cluster_centers_, ref.cluster_centers_)
    assert got.inertia_ == ref.inertia_ == 0.0
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    with pytest.raises(ValueError, match="metric='cosine' needs non-zero rows") as excinfo:
        KMeans(2, metric="cosine").fit(X)
    one_line(excinfo)
    with pytest.raises(ValueError, match="0 sample") as excinfo:
        KMeans(2).fit(sp.csr_matrix((0, 6)))
    one_line(excinfo)


@pytest.mark.parametrize("zero_row", [0, 3, 9])
def test_cosine_names_an_all_zero_row_wherever_it_is(zero_row):
    """A row with no stored values (first, middle or last: a last one has no values
    after it to index) gets the dense path's error under cosine, naming that row."""
    X = sp.random(10, 6, density=0.5, format="csr", random_state=0) + sp.eye(10, 6, format="csr")
    keep = np.ones(10)
    keep[zero_row] = 0
    X = sp.csr_matrix(sp.diags(keep) @ X)
    X.eliminate_zeros()
    assert np.diff(X.indptr)[zero_row] == 0
    for rows in (X, X.toarray()):
        with pytest.raises(ValueError, match=f"needs non-zero rows, but row {zero_row} ") as e:
            KMeans(2, metric="cosine", n_init=1, random_state=0).fit(rows)
        one_line(e)


def test_int64_indices_give_the_int32_answer(data):
    X, _ = data
    wide = sp.csr_matrix(X, copy=True)
    wide.indices = wide.indices.astype(np.int64)
    wide.indptr = wide.indptr.astype(np.int64)
    assert wide.indices.dtype == np.int64
    a = KMeans(4, n_init=1, random_state=0).fit(X)
    b = KMeans(4, n_init=1, random_state=0).fit(wide)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    np.testing.assert_array_equal(a.predict(wide), a.labels_)


def test_unsorted_and_duplicate_entries_are_summed_as_scipy_does(data):
    X, _ = data
    coo = X.tocoo()
    half = coo.data / 2
    # every value stored twice (halves), in reversed order: not canonical CSR
    messy = sp.csr_matrix(
        (np.r_[half, half][::-1], (np.r_[coo.row, coo.row][::-1], np.r_[coo.col, coo.col][::-1])),
        shape=X.shape,
    )
    messy.has_canonical_format = False
    before = messy.data.copy()
    a = KMeans(4, n_init=1, random_state=0).fit(X)
    b = KMeans(4, n_init=1, random_state=0).fit(messy)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-12)
    np.testing.assert_array_equal(messy.data, before)  # the caller's matrix is untouched


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_equal_norm_ties_break_as_sklearn_lloyd(algorithm):
    """Initial centres drawn from unit-norm rows: a row sharing no feature with several
    of them is at exactly the same distance from each, and the rounding of ||c||^2
    decides its label; the labels must still be scikit-learn Lloyd's (which rounds
    ||c||^2 with np.einsum). scikit-learn's own elkan breaks these ties otherwise."""
    X, _ = sparse_topics(1000, 2000, 20, 0.005, seed=0, dtype=np.float64)
    init = X[np.random.RandomState(1).choice(X.shape[0], 40, replace=False)].toarray()
    kw = dict(n_clusters=40, init=init, n_init=1, max_iter=30, tol=1e-8)
    ref = SKKMeans(**kw).fit(X)
    got = KMeans(algorithm=algorithm, **kw).fit(X)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    assert got.n_iter_ == ref.n_iter_


def test_many_clusters_match_sklearn():
    """k=130: centres in product groups of at most 31 columns, per-cluster sums as a
    segment sum (sparse_kernels.PRODUCT_COLUMNS, SCATTER_SUMS_CLUSTERS)."""
    X, _ = sparse_topics(1500, 1000, 20, 0.02, seed=2, dtype=np.float64)
    w = np.random.RandomState(0).uniform(0.5, 2.0, X.shape[0])
    init = X[np.random.RandomState(3).choice(X.shape[0], 130, replace=False)].toarray()
    kw = dict(n_clusters=130, init=init, n_init=1, max_iter=20, tol=1e-8)
    ref = SKKMeans(**kw).fit(X, sample_weight=w)
    got = KMeans(**kw).fit(X, sample_weight=w)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    np.testing.assert_allclose(got.transform(X[:50]), ref.transform(X[:50]), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def float32_topics():
    X, _ = sparse_topics(3000, 2000, 12, 0.01, seed=4)
    assert X.dtype == np.float32
    w = np.random.RandomState(2).uniform(0.5, 2.0, X.shape[0])
    return X, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows_per_block", [7, 500, 5000])
def test_csr_pass_matches_numpy(float32_topics, rows_per_block, dtype):
    """The Lloyd pass on CSR blocks (``csr_matmul``; 7-row blocks: runs of them, as the
    pass unrolls at most CSR_BLOCKS) against NumPy, and against the tf.sparse pass
    (float64: the same bits)."""
    if not csr_matmul.available(dtype):
        pytest.skip("no CSR kernel here (a GPU, or no oneDNN for float32)")
    X, w = float32_topics
    X = X.astype(dtype)
    init = X[np.random.RandomState(0).choice(X.shape[0], 12, replace=False)].toarray()
    blocks = sparse_blocks.blocks_of(X, dtype, rows_per_block)
    assert blocks.csr is not None and len(blocks.csr) <= sparse_blocks.CSR_BLOCKS
    norms = tf.constant(centre_sqnorms(init))
    args = (tf.constant(w.astype(dtype)), tf.constant(init), norms, False, 2)
    got = sparse_blocks.lloyd_stats(blocks, *args)
    plain_blocks = sparse_blocks.blocks_of(X, dtype, rows_per_block, csr=False)
    plain = sparse_blocks.lloyd_stats(plain_blocks, *args)
    X64, c64 = X.toarray().astype(np.float64), init.astype(np.float64)
    # ||c||^2 rounded as the pass has them: unit-norm centres tie on rows that share
    # no feature with them, and the rounding picks the label.
    shifted = centre_sqnorms(init).astype(np.float64) - 2.0 * X64 @ c64.T
    labels = shifted.argmin(1)
    w = w.astype(dtype).astype(np.float64)  # the pass's weights are the rows' dtype
    onehot = np.eye(12)[labels] * w[:, None]
    np.testing.assert_allclose(got.weights.numpy(), plain.weights.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.weights.numpy(), onehot.sum(0), rtol=1e-12)
    np.testing.assert_allclose(got.sums.numpy(), onehot.T @ X64, rtol=1e-5, atol=1e-5)
    centers = (tf.constant(init), tf.constant(c64), norms, 2)
    labels_got = sparse_blocks.assign(blocks, *centers)[0].numpy()
    np.testing.assert_array_equal(labels_got, labels)
    np.testing.assert_array_equal(labels_got, sparse_blocks.assign(plain_blocks, *centers)[0])
    np.testing.assert_allclose(got.sums.numpy(), plain.sums.numpy(), rtol=1e-6, atol=1e-6)
    expected = (w * shifted.min(1)).sum()
    assert float(got.inertia) == pytest.approx(expected, rel=1e-6)


def test_float32_topics_weighted_match_sklearn(float32_topics):
    """End to end on float32 TF-IDF-like rows (the oneDNN path where it runs)."""
    X, w = float32_topics
    init = X[np.random.RandomState(5).choice(X.shape[0], 12, replace=False)].toarray()
    kw = dict(n_clusters=12, init=init, n_init=1, max_iter=30, tol=0)
    ref = SKKMeans(**kw).fit(X, sample_weight=w)
    got = KMeans(**kw).fit(X, sample_weight=w)
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-5)
    assert got.inertia_ == pytest.approx(ref.inertia_, rel=1e-5)


@pytest.mark.skipif(
    not csr_matmul.available(np.float32), reason="no oneDNN CSR kernel (GPU or no oneDNN)"
)
def test_csr_blocks_without_stored_values(float32_topics):
    """CSR blocks whose rows are all zeros (no stored values) in a pass, assign and row
    norms give what the SparseTensor blocks give."""
    X, w = float32_topics
    X = sp.vstack([X[:100], sp.csr_matrix((250, X.shape[1]), dtype=np.float32), X[100:200]])
    X, w = X.tocsr(), np.ones(X.shape[0], np.float32)
    init = X[[0, 5, 10, 400]].toarray()
    norms = tf.constant(centre_sqnorms(init))
    got, plain = (sparse_blocks.blocks_of(X, np.float32, 100, csr) for csr in (True, False))
    assert got.csr is not None and plain.csr is None
    args = (tf.constant(w), tf.constant(init), norms, False, 2)
    a, b = sparse_blocks.lloyd_stats(got, *args), sparse_blocks.lloyd_stats(plain, *args)
    np.testing.assert_array_equal(a.weights.numpy(), b.weights.numpy())
    np.testing.assert_allclose(a.sums.numpy(), b.sums.numpy(), rtol=1e-6, atol=1e-6)
    assert float(a.inertia) == pytest.approx(float(b.inertia), rel=1e-6)
    args = (tf.constant(init), tf.constant(init.astype(np.float64)), norms, 2)
    pairs = zip(sparse_blocks.assign(got, *args), sparse_blocks.assign(plain, *args), strict=True)
    for x, y in pairs:  # labels, then squared distances
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    np.testing.assert_array_equal(
        sparse_blocks.row_sqnorms(got).numpy(), sparse_blocks.row_sqnorms(plain).numpy()
    )
