"""The TensorFlow kernels against NumPy brute force."""

import numpy as np
import pytest
import tensorflow as tf

from tfkmeans import kernels, row_kernels


def brute(rows, weights, origin, centers):
    x = rows.astype(np.float64) - origin
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    labels = d2.argmin(1)
    k = len(centers)
    sums = np.stack([(x[labels == j] * weights[labels == j, None]).sum(0) for j in range(k)])
    totals = np.bincount(labels, weights=weights, minlength=k)
    return labels, d2.min(1), sums, totals, float(d2.min(1) @ weights)


@pytest.mark.parametrize(
    ("n", "chunk"),
    [(1000, 128), (1000, 4096), (kernels.XLA_MIN_ROWS + 1234, 8192), (kernels.XLA_MIN_ROWS, 4096)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
# Products written out (d <= 4; under XLA also 9 features x 5 centres), or a matmul.
@pytest.mark.parametrize("d", [3, 9, 20])
def test_lloyd_stats_and_assign_match_numpy(n, chunk, dtype, d):
    rng = np.random.RandomState(0)
    rows = (rng.randn(n, d) * 4 + 1000).astype(dtype)
    weights = rng.uniform(0.5, 2.0, n)
    origin = rows.astype(np.float64).mean(0).astype(dtype).astype(np.float64)
    centers = rows[rng.choice(n, 5, replace=False)].astype(np.float64) - origin
    labels, dist, sums, totals, inertia = brute(rows, weights, origin, centers)
    t = lambda a: tf.constant(np.asarray(a, dtype))  # noqa: E731
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    norms = row_kernels.row_sqnorms(t(rows), t(origin))
    np.testing.assert_allclose(norms.numpy(), ((rows - origin) ** 2).sum(1), rtol=rtol * 10)
    sqnorm_total = row_kernels.weighted_sqnorm(t(rows), t(weights), t(origin))
    expected = weights.astype(dtype).astype(np.float64) @ ((rows - origin) ** 2).sum(1)
    assert float(sqnorm_total) == pytest.approx(expected, rel=rtol * 10)
    args = (t(rows), t(weights), t(origin), t(centers), chunk)
    for stats in (  # row norms in the pass, or taken once by the caller
        kernels.lloyd_stats(*args),
        kernels.lloyd_stats(*args, row_norms=False)._replace(
            inertia=kernels.lloyd_stats(*args, row_norms=False).inertia + sqnorm_total
        ),
    ):
        np.testing.assert_allclose(stats.weights.numpy(), totals, rtol=rtol)
        np.testing.assert_allclose(
            stats.sums.numpy(), sums, rtol=rtol, atol=rtol * np.abs(sums).max()
        )
        rel = 1e-3 if dtype == np.float32 else 1e-9
        assert float(stats.inertia) == pytest.approx(inertia, rel=rel)
    got_labels, got_dist = row_kernels.assign(t(rows), t(origin), t(centers), chunk)
    assert np.mean(got_labels.numpy() == labels) > 0.9999
    np.testing.assert_allclose(got_dist.numpy(), dist, rtol=rtol * 10, atol=1e-3)


@pytest.mark.parametrize("chunk", [None, 4096])  # one chunk, or a loop with a tail
@pytest.mark.parametrize("far", [0, 15])  # 5 centres: XLA's argmin; 20: the halving
def test_small_pass_breaks_ties_to_the_lowest_index(chunk, far):
    """On integer rows and centres, duplicated and equidistant centres tie, and the
    lowest index wins, in the XLA pass (written-out dots; XLA's argmin up to
    REDUCE_ARGMIN_MAX_CLUSTERS centres, the halving above) as in NumPy."""
    rng = np.random.RandomState(4)
    n = kernels.XLA_MIN_ROWS + 5
    rows = rng.randint(0, 3, size=(n, 2)).astype(np.float64)
    centers = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [1.0, 1.0], [0.0, 2.0]])
    centers = np.vstack([centers, np.array([[10.0 + i, 10.0] for i in range(far)]).reshape(-1, 2)])
    assert (len(centers) <= kernels.REDUCE_ARGMIN_MAX_CLUSTERS) == (far == 0)
    weights = rng.uniform(0.5, 2.0, n)
    labels, _, sums, totals, inertia = brute(rows, weights, np.zeros(2), centers)
    assert totals[3] == 0 and not totals[5:].any()  # rows at the duplicate went to index 2
    t = tf.constant
    stats = kernels.lloyd_stats(t(rows), t(weights), t(np.zeros(2)), t(centers), chunk)
    np.testing.assert_allclose(stats.weights.numpy(), totals, rtol=1e-12)
    np.testing.assert_allclose(stats.sums.numpy(), sums, rtol=1e-12, atol=1e-9)
    assert float(stats.inertia) == pytest.approx(inertia, rel=1e-12)


def test_pass_in_concurrent_parts_matches_numpy():
    """A pass cut into parts that run side by side (uneven, the last with a tail)."""
    rng = np.random.RandomState(3)
    n, chunk = kernels.XLA_MIN_ROWS + 999, 4096
    rows, weights = rng.randn(n, 6) * 3, rng.uniform(0.5, 2.0, n)
    centers = rows[rng.choice(n, 7, replace=False)]
    labels, dist, sums, totals, inertia = brute(rows, weights, np.zeros(6), centers)
    rows_t, weights_t, origin, centers_t = (
        tf.constant(a) for a in (rows, weights, np.zeros(6), centers)
    )
    args = (rows_t, weights_t, origin, centers_t, None, (False, False))
    bounds = (0, 4 * chunk, 9 * chunk, n)
    stats = kernels.PassStats(
        *kernels.side_by_side(kernels.lloyd_stats_static, args, chunk, bounds, (False,) * 3)
    )
    np.testing.assert_allclose(stats.sums.numpy(), sums, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(stats.weights.numpy(), totals, rtol=1e-12)
    shifted = inertia - weights @ (rows**2).sum(1)  # the inertia less the row norms
    assert float(stats.inertia) == pytest.approx(shifted, rel=1e-9)
    got_labels, got_dist = kernels.side_by_side(
        row_kernels._assign_static, (rows_t, origin, centers_t), chunk, bounds, (True, True)
    )
    np.testing.assert_array_equal(got_labels.numpy(), labels)
    np.testing.assert_allclose(got_dist.numpy(), dist, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n", [5000, kernels.XLA_MIN_ROWS + 321])  # plain graph, XLA
def test_pass_by_column_with_running_total_matches_numpy(n):
    """Rows given as d x n columns, added in two calls to a running total on the device,
    plus weighted_sqnorm, give the statistics of all the rows."""
    rng = np.random.RandomState(5)
    rows, weights = rng.randn(n, 5) * 2 + 7, rng.uniform(0.5, 2.0, n)
    origin = rows.mean(0)
    centers = rows[rng.choice(n, 6, replace=False)] - origin
    labels, _, sums, totals, inertia = brute(rows, weights, origin, centers)
    t, half = tf.constant, n // 2
    total, sqnorm = None, 0.0
    for part in (slice(0, half), slice(half, n)):
        columns = t(np.ascontiguousarray(rows[part].T))
        total = kernels.lloyd_stats(
            *(columns, t(weights[part]), t(origin), t(centers), 1000),
            total=total,
            by_column=True,
            row_norms=False,
        )
        sqnorm += float(row_kernels.weighted_sqnorm(columns, t(weights[part]), t(origin), True))
    np.testing.assert_allclose(total.sums.numpy(), sums, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(total.weights.numpy(), totals, rtol=1e-12)
    assert float(total.inertia) + sqnorm == pytest.approx(inertia, rel=1e-9)


@pytest.mark.parametrize(
    ("n", "k", "d", "chunk"),
    [
        (100_000, 3, 2, None),
        (10**6, 64, 32, None),
        (200_000, 256, 128, None),
        (10**6, 64, 32, 5000),
    ],
)
def test_pass_layout_cuts_parts_on_chunk_boundaries(n, k, d, chunk):
    rows, bounds = kernels.pass_layout(n, k, d, chunk)
    assert chunk is None or rows == chunk
    assert bounds[0] == 0 and bounds[-1] == n
    assert all(a < b for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(b % rows == 0 for b in bounds[:-1])
    assert len(bounds) - 1 <= max(1, kernels.parallel_threads())
    if len(bounds) > 2:
        assert min(b - a for a, b in zip(bounds, bounds[1:], strict=False)) >= 2 * rows


def test_sq_distances_match_numpy():
    rng = np.random.RandomState(1)
    rows = rng.randn(777, 4)
    centers = rng.randn(6, 4)
    got = row_kernels.sq_distances(
        tf.constant(rows), tf.zeros(4, tf.float64), tf.constant(centers), 100
    )
    expected = ((rows[:, None] - centers[None]) ** 2).sum(-1)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 63, 64, 100, 257])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_halving_argmin_matches_numpy_including_ties(k, dtype):  # the pass's from 17 centres
    """The pass's argmin (pairwise halving, XLA-compiled) picks the lowest index on ties."""
    rng = np.random.RandomState(k)
    argmin = tf.function(kernels._argmin_down, jit_compile=True)  # as in the Lloyd pass
    for values in (rng.randn(k, 300), rng.randint(0, 3, size=(k, 300))):  # ties are common
        index, smallest = argmin(tf.constant(values, dtype))
        np.testing.assert_array_equal(index.numpy(), values.argmin(0))
        np.testing.assert_array_equal(smallest.numpy(), values.min(0).astype(dtype.as_numpy_dtype))


@pytest.mark.parametrize("k", [3, kernels.ONE_HOT_MAX_CLUSTERS, kernels.ONE_HOT_MAX_CLUSTERS + 1])
def test_cluster_sums_match_numpy(k):
    """A one-hot product up to ONE_HOT_MAX_CLUSTERS outside XLA, else the scatter."""
    rng = np.random.RandomState(k)
    values = rng.randn(3000, 4)
    labels = rng.randint(0, k, 3000).astype(np.int32)
    expected = np.stack([values[labels == j].sum(0) for j in range(k)])
    for xla in (False, True):
        got = kernels.cluster_sums(tf.constant(values), tf.constant(labels), k, xla)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("n", "chunk", "start"),
    [(1, 1, 0), (7, 3, 0), (13, 4, 5), (12, 4, 0), (1031, 128, 17)],
)
@pytest.mark.parametrize("d", [1, kernels.UNROLLED_MAX_FEATURES])  # chunks carried ahead
@pytest.mark.parametrize("by_column", [False, True])
def test_compiled_pass_on_odd_row_counts_matches_numpy(n, chunk, start, d, by_column):
    """The XLA pass over rows[start:start + n]: one chunk, several (each fetched one step
    ahead in the loop), with or without a tail; integer rows and duplicated centres tie,
    and the lowest index wins as in NumPy."""
    rng = np.random.RandomState(n + d)
    rows = rng.randint(-2, 3, size=(start + n, d)).astype(np.float64)
    weights = rng.randint(1, 4, start + n).astype(np.float64)  # whole: totals add up exactly
    centers = np.concatenate([rng.randint(-2, 3, size=(4, d)), np.zeros((2, d))]).astype(float)
    part = slice(start, start + n)
    labels, _, sums, totals, inertia = brute(rows[part], weights[part], np.zeros(d), centers)
    layout = (by_column, True)
    args = (
        tf.constant(np.ascontiguousarray(rows.T) if by_column else rows),
        *(tf.constant(a) for a in (weights, np.zeros(d), centers)),
    )
    stats = kernels.lloyd_stats_static(*args, None, layout, chunk, start, n)
    assert totals[5] == 0  # rows at 0 tie between centres 4 and 5 (and any other at 0)
    np.testing.assert_array_equal(stats.weights.numpy(), totals)  # the same labels
    np.testing.assert_allclose(stats.sums.numpy(), sums, rtol=1e-12, atol=1e-12)
    assert float(stats.inertia) == pytest.approx(inertia, rel=1e-12, abs=1e-12)


def test_products_are_written_out_for_few_centres_and_features_only_under_xla():
    """``written_out``: always up to UNROLLED_MAX_FEATURES; under XLA also while
    features x centres <= UNROLLED_MAX_WORK with at most UNROLLED_MAX_CENTERS centres."""
    assert kernels.written_out(4, 64, xla=False) and kernels.written_out(4, None, xla=True)
    assert kernels.written_out(10, 8, xla=True) and kernels.written_out(16, 5, xla=True)
    assert not kernels.written_out(10, 8, xla=False)
    assert not kernels.written_out(9, 9, xla=True)  # too many centres
    assert not kernels.written_out(12, 8, xla=True)  # too much work
    rng = np.random.RandomState(0)
    a, b = rng.randn(5, 9), rng.randn(300, 9)
    for unrolled in (True, False):
        np.testing.assert_allclose(kernels.dots(tf.constant(a), tf.constant(b), unrolled), a @ b.T)


def test_one_part_passes_with_written_out_products_take_longer_chunks(monkeypatch):
    monkeypatch.setattr(kernels, "parallel_threads", lambda: 1)  # one part
    auto = kernels.auto_chunk_rows(8)
    assert kernels.pass_layout(500_000, 8, 4)[0] == kernels.WRITTEN_OUT_CHUNK_FACTOR * auto
    assert kernels.pass_layout(500_000, 8, 5)[0] == auto  # a dot: cache-sized chunks
    assert kernels.pass_layout(1000, 8, 4)[0] == 1000
    assert kernels.pass_layout(500_000, 8, 4, 777)[0] == 777  # a given size is kept
