"""Greedy k-means++ in one device call picks scikit-learn's rows from the same seed;
one k-means++ pass matches NumPy brute force."""

import functools

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import kmeans_plusplus
from sklearn.datasets import make_blobs

from tfkmeans import kernels, kmeanspp, row_kernels, sources
from tfkmeans.initialization import greedy_kmeans_plusplus, greedy_steps_by_pass
from tfkmeans.sources import InMemory


# One plain-graph call below kernels.XLA_MIN_ROWS (its passes XLA-compiled from
# kmeanspp.COMPILED_MIN_VALUES of work: 12,000 x 40, k=20); above it one XLA program
# over the padded rows, or with chunk_rows set, compiled passes in a plain-graph loop.
@pytest.mark.parametrize(
    ("n", "d", "k", "weighted", "chunk_rows"),
    [
        (2000, 4, 5, False, None),
        (3000, 40, 13, True, None),
        (12_000, 40, 20, True, None),
        (kernels.XLA_MIN_ROWS + 999, 3, 6, True, None),
        (kernels.XLA_MIN_ROWS + 999, 3, 6, True, 4096),
    ],
)
def test_device_kmeanspp_picks_sklearns_rows(monkeypatch, n, d, k, weighted, chunk_rows):
    taken = []
    for name in ("one_program_positions", "compiled_positions", "greedy_positions"):
        original = getattr(sources, name)
        spy = lambda *a, _f=original, _n=name: taken.append(_n) or _f(*a)  # noqa: E731
        monkeypatch.setattr(sources, name, spy)
    X, _ = make_blobs(n, n_features=d, centers=k, cluster_std=5.0, random_state=1)
    weights = np.random.RandomState(3).uniform(0.5, 2.0, n) if weighted else None
    source = InMemory(X, weights, chunk_rows=chunk_rows)
    centred = X - source.origin  # scikit-learn's KMeans centres X before its init too
    _, expected = kmeans_plusplus(centred, k, sample_weight=weights, random_state=0)

    draws = np.random.RandomState(0)
    first = int(draws.choice(n, p=source.sample_weight / source.sample_weight.sum()))
    uniforms = draws.uniform(size=(k - 1, 2 + int(np.log(k))))
    np.testing.assert_array_equal(source.kmeanspp_steps(first, uniforms), expected)
    if n < kernels.XLA_MIN_ROWS:
        assert taken == ["greedy_positions"]
    else:  # the path this case is for was the one taken
        assert taken == ["compiled_positions" if chunk_rows else "one_program_positions"]
    np.testing.assert_array_equal(greedy_steps_by_pass(source, first, uniforms), expected)

    centers = greedy_kmeans_plusplus(source, k, np.random.RandomState(0))
    np.testing.assert_allclose(centers, centred[expected], rtol=0, atol=1e-12)


def test_compiled_steps_in_parts_pick_sklearns_rows(monkeypatch):
    # The compiled passes cut in three concurrent parts (as pass_layout cuts large ones).
    monkeypatch.setattr(kmeanspp, "pass_layout", lambda n, m, d, chunk: (512, (0, 1500, 3000, n)))
    X, _ = make_blobs(4100, n_features=5, centers=7, cluster_std=5.0, random_state=2)
    source = InMemory(X)
    _, expected = kmeans_plusplus(X - source.origin, 7, random_state=0)
    draws = np.random.RandomState(0)
    first = int(draws.choice(len(X), p=np.full(len(X), 1 / len(X))))
    uniforms = draws.uniform(size=(6, 2 + int(np.log(7))))
    args = (
        source.rows,
        source._exact_weights(),
        source._row_sqnorms(),
        source._tensor(source.origin),
    )
    positions = kmeanspp.compiled_positions(*args, first, uniforms)
    np.testing.assert_array_equal(positions, expected)


@pytest.mark.parametrize("n", [1001, kernels.XLA_MIN_ROWS + 77])  # plain graph, XLA
def test_kmeanspp_pass_matches_numpy(n):
    """k-means++ potentials sum_i w_i min(closest_i, d^2(x_i, c_j)) and the running
    distance updated by the first centre, chunked."""
    rng = np.random.RandomState(2)
    rows, weights = rng.randn(n, 6) + 50, rng.uniform(0.1, 3.0, n)
    closest, centers = rng.uniform(0, 20, n), rng.randn(4, 6)
    origin = rows.mean(0)
    t = tf.constant
    norms = row_kernels.row_sqnorms(t(rows), t(origin))
    potentials, updated = kmeanspp.kmeanspp_pass(
        t(rows), t(weights), norms, t(closest), t(origin), t(centers), 1000
    )
    d2 = ((rows[:, None] - origin - centers[None]) ** 2).sum(-1)
    nearer = np.minimum(closest[:, None], d2)
    np.testing.assert_allclose(potentials.numpy(), weights @ nearer, rtol=1e-10)
    np.testing.assert_allclose(updated.numpy(), nearer[:, 0], rtol=1e-10)
    if n >= kernels.XLA_MIN_ROWS:  # the same pass cut in three parts run side by side
        args = (t(rows), t(weights), norms, t(closest), t(origin), t(centers))
        bounds = (0, 20_000, 41_000, n)
        potentials, updated = kernels.side_by_side(
            kmeanspp._kpp_static, args, 1000, bounds, (False, True)
        )
        np.testing.assert_allclose(potentials.numpy(), weights @ nearer, rtol=1e-10)
        np.testing.assert_allclose(updated.numpy(), nearer[:, 0], rtol=1e-10)
        # Every candidate's running distances (one pass per greedy step), in parts and not.
        every_candidate = functools.partial(kmeanspp._kpp_static, every=True)
        for every in (
            kmeanspp._kpp_static(*args, 1000, 0, n, True),
            kernels.side_by_side(every_candidate, args, 1000, bounds, (False, True)),
        ):
            np.testing.assert_allclose(every[0].numpy(), weights @ nearer, rtol=1e-10)
            np.testing.assert_allclose(every[1].numpy(), nearer, rtol=1e-10)


@pytest.mark.parametrize("size", [7, 152, 1000, 4096, 5120])
def test_first_reaching_is_searchsorted_of_the_running_sum(size):
    """The two-level search (compiled and eager, where the length is known) against
    NumPy's searchsorted over the cumulative sum. Whole numbers, so every running sum
    is exact in any order: targets on a row's boundary must land on that row, and
    zero rows (chosen centres, padding) are never picked before the row that reaches."""
    rng = np.random.default_rng(size)
    values = rng.integers(0, 4, size).astype(np.float64)
    values[-(size // 5) :] = 0  # a zero tail, as the padding
    cumulative = np.cumsum(values)
    targets = np.r_[0.0, cumulative[rng.integers(0, size, 6)], cumulative[-1] + 1.0]
    targets = np.r_[targets, rng.uniform(0, cumulative[-1], 8)]
    expected = np.searchsorted(cumulative, targets, side="left")
    compiled = tf.function(kmeanspp.first_reaching, jit_compile=True, autograph=False)
    for search in (kmeanspp.first_reaching, compiled):
        found = search(tf.constant(values), tf.constant(targets)).numpy()
        np.testing.assert_array_equal(found, expected)
    dynamic = tf.function(
        kmeanspp.first_reaching,
        input_signature=[tf.TensorSpec([None], tf.float64)] * 2,
        autograph=False,
    )
    np.testing.assert_array_equal(dynamic(values, targets).numpy(), expected)
