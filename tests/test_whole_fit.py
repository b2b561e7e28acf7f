"""The whole default fit as one compiled program gives scikit-learn's answer and the
step-by-step solver's, pads row counts without changing a result, and hands an empty
cluster back to the host."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import load_digits, make_blobs

from tfkmeans import KMeans, buffers, device_steps, kernels, whole_fit
from tfkmeans.initialization import kmeanspp_draws
from tfkmeans.sources import InMemory
from tfkmeans.tfload import tf


@pytest.fixture
def calls(monkeypatch):
    """What each restart of the whole-fit program returned: True where it finished."""
    seen = []
    fit = whole_fit.fit

    def spy(*args, **kwargs):
        out = fit(*args, **kwargs)
        seen.append(isinstance(out, whole_fit.Fitted))
        return out

    monkeypatch.setattr(whole_fit, "fit", spy)
    return seen


def step_by_step(monkeypatch, X, **params):
    with monkeypatch.context() as patch:
        patch.setattr(whole_fit, "applies", lambda *args: False)
        return KMeans(**params).fit(X)


def assert_same_fit(ours, theirs, centers_tol=1e-10):
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=centers_tol)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-12)


@pytest.mark.parametrize(
    ("n", "d", "k", "weighted"),
    # k=33: seeding and iterations as two programs (whole_fit.SEPARATE_FROM_CLUSTERS)
    [(150, 4, 3, False), (1001, 7, 9, True), (4000, 16, 5, False), (3000, 5, 33, True)],
)
def test_matches_scikit_learn(calls, n, d, k, weighted):
    assert (k >= whole_fit.SEPARATE_FROM_CLUSTERS) == (k == 33)
    X, _ = make_blobs(n, d, centers=k, cluster_std=4.0, random_state=n)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, n) if weighted else None
    ours = KMeans(k, random_state=3, n_init=2).fit(X, sample_weight=weights)
    theirs = SKKMeans(k, random_state=3, n_init=2).fit(X, sample_weight=weights)
    assert calls == [True, True]
    assert_same_fit(ours, theirs, centers_tol=1e-9)
    assert ours.cluster_centers_.dtype == np.float64


def test_digits_matches_scikit_learn(calls):
    X = load_digits().data
    ours, theirs = KMeans(10, random_state=0).fit(X), SKKMeans(10, random_state=0).fit(X)
    assert calls == [True]
    assert_same_fit(ours, theirs, centers_tol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_step_by_step_solver(calls, monkeypatch, dtype):
    X = make_blobs(3000, 6, centers=7, cluster_std=6.0, random_state=5)[0].astype(dtype)
    ours = KMeans(7, random_state=11, n_init=3).fit(X)
    steps = step_by_step(monkeypatch, X, n_clusters=7, random_state=11, n_init=3)
    assert calls == [True] * 3
    assert ours.cluster_centers_.dtype == dtype
    np.testing.assert_array_equal(ours.labels_, steps.labels_)
    assert ours.n_iter_ == steps.n_iter_
    np.testing.assert_allclose(ours.cluster_centers_, steps.cluster_centers_, rtol=1e-5)
    np.testing.assert_allclose(ours.objective_history_, steps.objective_history_, rtol=1e-5)


def test_padded_rows_share_a_program_and_change_nothing(calls):
    X, _ = make_blobs(1010, 3, centers=4, cluster_std=3.0, random_state=2)
    assert whole_fit.padded_rows(1001) == whole_fit.padded_rows(1010) > 1010
    traces = whole_fit._whole_fit.experimental_get_tracing_count()
    for n in (1001, 1010):
        ours = KMeans(4, random_state=0).fit(X[:n])
        assert_same_fit(ours, SKKMeans(4, random_state=0).fit(X[:n]), centers_tol=1e-9)
    assert whole_fit._whole_fit.experimental_get_tracing_count() - traces <= 1
    assert calls == [True, True]


def test_padding_is_small_and_keeps_small_counts():
    sizes = {n: whole_fit.padded_rows(n) for n in [*range(1, 200), 10_000, 50_000, 499_999]}
    assert all(n <= size <= n * 1.0625 for n, size in sizes.items())
    assert all(sizes[n] == n for n in range(1, 17))


def test_empty_cluster_goes_back_to_the_step_by_step_solver(calls, monkeypatch):
    # Three distinct rows, four clusters: a step leaves a cluster empty.
    X = np.repeat([[0.0, 0.0], [1.0, 1.0], [2.0, 2.5]], 5, axis=0)
    with pytest.warns(UserWarning, match="distinct clusters"):
        ours = KMeans(4, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="distinct clusters"):
        steps = step_by_step(monkeypatch, X, n_clusters=4, random_state=0)
    assert calls == [False]
    assert_same_fit(ours, steps)


def test_not_used_where_the_host_must_see_every_step(calls):
    X, _ = make_blobs(300, 3, centers=3, random_state=0)
    KMeans(3, random_state=0, metric="cosine").fit(X)
    KMeans(3, random_state=0, init="random").fit(X)
    KMeans(3, random_state=0, algorithm="minibatch").fit(X)
    KMeans(3, random_state=0, verbose=1).fit(X)
    KMeans(1, random_state=0).fit(X)
    assert calls == []


def test_parts_loop_gets_the_seeding_and_keeps_the_answer(calls, monkeypatch):
    # Where Lloyd's loop runs in concurrent parts, only the seeding is compiled here.
    monkeypatch.setattr(device_steps, "STEPS_MIN_PART_WORK", 1 << 12)
    monkeypatch.setattr(kernels, "parallel_threads", lambda: 2)
    X, _ = make_blobs(40000, 3, centers=20, cluster_std=4.0, random_state=4)
    assert device_steps.steps_in_parts(whole_fit.padded_rows(len(X)), 20, 3)
    ours = KMeans(20, random_state=2).fit(X)
    assert calls == [False]
    assert_same_fit(ours, SKKMeans(20, random_state=2).fit(X), centers_tol=1e-9)


def test_xla_argmin_keeps_small_k_in_one_program(calls, monkeypatch):
    # Up to REDUCE_ARGMIN_MAX_CLUSTERS the loop of a d <= 4 pass stays in the program.
    monkeypatch.setattr(device_steps, "STEPS_MIN_PART_WORK", 1 << 12)
    monkeypatch.setattr(kernels, "parallel_threads", lambda: 2)
    X, _ = make_blobs(40000, 3, centers=5, cluster_std=4.0, random_state=4)
    assert not device_steps.steps_in_parts(whole_fit.padded_rows(len(X)), 5, 3)
    ours = KMeans(5, random_state=2).fit(X)
    assert calls == [True]
    assert_same_fit(ours, SKKMeans(5, random_state=2).fit(X), centers_tol=1e-9)


def test_flat_call_gives_the_polymorphic_calls_result_and_is_taken():
    """``whole_fit.call`` skips the polymorphic call's argument binding; where the
    installed TensorFlow lacks ``_call_flat`` it falls back (same results, slower): this
    test names that case, so an upgrade that drops it is seen."""
    X, _ = make_blobs(300, 3, centers=4, random_state=5)
    source = InMemory(X)
    size = whole_fit.padded_rows(300)
    first, uniforms = kmeanspp_draws(source.sample_weight, 4, np.random.RandomState(0))
    tensors = (
        *source.padded(),
        tf.constant(False),  # the program computes the moments
        tf.constant(np.zeros(3)),
        tf.constant(np.zeros(3)),
        tf.constant(300),
        tf.constant(first),
        tf.constant(uniforms),
        tf.constant(1e-4, tf.float64),
    )
    statics = (kernels.pass_layout(size, 4, 3)[0], 300)
    flat = whole_fit.call(whole_fit._whole_fit, tensors, statics)
    polymorphic = whole_fit._whole_fit(*tensors, *statics)
    for ours, theirs in zip(flat, polymorphic, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert hasattr(whole_fit._whole_fit.get_concrete_function(*tensors, *statics), "_call_flat")


def test_padded_rows_keep_the_rows_and_add_zeros():
    X, weights = np.random.RandomState(0).rand(1001, 3), np.arange(1.0, 1002.0)
    source = InMemory(X, weights, dtype=np.float32)
    size = whole_fit.padded_rows(1001)
    padded, padded_weights = (value.numpy() for value in source.padded())
    assert padded.dtype == np.float32 and padded.shape == (size, 3) and size > 1001
    np.testing.assert_array_equal(padded[:1001], X.astype(np.float32))
    assert not padded[1001:].any()
    assert padded_weights.dtype == np.float64
    np.testing.assert_array_equal(padded_weights, np.r_[weights, np.zeros(size - 1001)])
    np.testing.assert_array_equal(source.rows.numpy(), X.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_moments_computed_in_the_program_are_numpys_over_the_real_rows(dtype):
    """The program centres on the rows' mean and scales ``tol`` by their variance, the
    zero padding past the real rows left out (1001 rows run padded to 1024), and hands
    both back to the source for the passes after it."""
    X = make_blobs(1001, 5, centers=3, center_box=(50, 90), random_state=2)[0].astype(dtype)
    assert whole_fit.padded_rows(1001) > 1001
    source = InMemory(X)
    fitted = whole_fit.fit(source, 3, np.random.RandomState(0), 300, 1e-4)
    assert isinstance(fitted, whole_fit.Fitted)
    origin, variance = source.known_moments()
    mean = X.mean(0, dtype=np.float64)
    # Summed in another order than NumPy's: a few float64 ulps, or the float32 rounding.
    np.testing.assert_allclose(origin, mean, rtol=max(np.finfo(dtype).eps, 1e-13))
    np.testing.assert_array_equal(origin, origin.astype(dtype))  # exact in the rows' dtype
    # float32 rows are summed in blocks of 64 in float32 first (whole_fit.MOMENT_BLOCK_ROWS)
    rtol = 1e-6 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(variance, X.var(0, dtype=np.float64), rtol=rtol)
    reference = SKKMeans(3, random_state=0, n_init=1).fit(X)
    np.testing.assert_allclose(fitted.inertia, reference.inertia_, rtol=1e-5)


def test_in_memory_rows_are_one_aligned_copy_shared_with_the_padded_rows():
    """The source copies the user's rows once; the whole fit's padded rows are that same
    memory (buffers.padded_copy), aligned as TensorFlow requires."""
    X = np.random.RandomState(1).rand(1001, 3)
    source = InMemory(X)
    # The tensors' own memory (``.numpy()`` of an imported tensor is a copy).
    rows = np.from_dlpack(source.rows)
    padded = np.from_dlpack(source.padded()[0])
    assert np.shares_memory(rows, padded)
    assert not np.shares_memory(rows, X)  # never the caller's memory, which may change
    assert padded.ctypes.data % buffers.ALIGNMENT == 0
