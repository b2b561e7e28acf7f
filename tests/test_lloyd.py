"""The Lloyd solver: iterations on the device (``Source.lloyd_steps``) against the host
loop (one ``partial_stats`` per iteration) and scikit-learn."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs

import tfkmeans
from tfkmeans import device_steps, kernels
from tfkmeans.lloyd import lloyd
from tfkmeans.sources import InMemory

# A dynamic-shape graph (below XLA_MIN_ROWS), or XLA in one part.
N_ROWS = [5000, kernels.XLA_MIN_ROWS + 4321]


class HostOnly(InMemory):
    """The same rows, but the solver must come back to the host every iteration."""

    def lloyd_steps(self, *args):
        return None


class Counting(InMemory):
    """Counts device calls and host passes."""

    device_calls = host_passes = 0

    def lloyd_steps(self, *args):
        self.device_calls += 1
        return super().lloyd_steps(*args)

    def partial_stats(self, centers):
        self.host_passes += 1
        return super().partial_stats(centers)


@pytest.fixture(scope="module", params=N_ROWS)
def overlapping(request):
    n = request.param
    X, _ = make_blobs(n, n_features=3, centers=5, cluster_std=4.0, random_state=3)
    init = X[np.random.RandomState(4).choice(n, 5, replace=False)]
    return X, init


def run(source_type, X, init, dtype, *, with_far_centre=False, **kwargs):
    source = source_type(X, dtype=dtype)
    if with_far_centre:  # no row is nearest to it: empty after the first assignment
        init = np.vstack([init, X.max(0) + 1e3])
    calls = []
    result = lloyd(
        source,
        np.asarray(init, dtype) - source.origin,
        on_iteration=lambda *args: calls.append(args),
        **kwargs,
    )
    return source, result, calls


def traced_for_other_shapes():
    """Both loops run first on other shapes, as in a session that fitted other data:
    graphs traced for any shape must not then compute differently (float32 bits)."""
    rng = np.random.RandomState(5)
    for n, d, k in [(700, 3, 5), (900, 4, 5), (800, 3, 7), (600, 6, 20)]:
        X = rng.randn(n, d) * 5
        for source_type in (Counting, HostOnly):
            for dtype in (np.float32, np.float64):
                run(source_type, X, X[:k], dtype, max_iter=2, tol=0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tol_rule", ["sklearn", "spark"])
@pytest.mark.parametrize("with_far_centre", [False, True])
def test_device_iterations_equal_host_iterations(
    overlapping, monkeypatch, dtype, tol_rule, with_far_centre
):
    monkeypatch.setattr(device_steps, "STEPS_BLOCK_MAX", 4)  # several device calls per fit
    X, init = overlapping
    traced_for_other_shapes()
    kwargs = dict(max_iter=40, tol=1e-6, tol_rule=tol_rule, with_far_centre=with_far_centre)
    device, got, got_calls = run(Counting, X, init, dtype, **kwargs)
    _, expected, expected_calls = run(HostOnly, X, init, dtype, **kwargs)
    assert device.device_calls >= 3  # blocks of at most 4 steps
    # The empty cluster is repaired on the host: exactly one host pass for it.
    assert device.host_passes == (1 if with_far_centre else 0)
    assert got.n_iter == expected.n_iter > 8
    np.testing.assert_array_equal(got.centers, expected.centers)
    assert got.inertia_history == expected.inertia_history
    # The shift is summed in another order on the device: equal to the last bits.
    assert [call[:2] for call in got_calls] == [call[:2] for call in expected_calls]
    np.testing.assert_allclose(
        [call[2] for call in got_calls], [call[2] for call in expected_calls], rtol=1e-12
    )
    assert [call[0] for call in got_calls] == list(range(1, got.n_iter + 1))


def test_device_iterations_stop_at_max_iter(overlapping):
    X, init = overlapping
    source, result, calls = run(Counting, X, init, np.float64, max_iter=3, tol=0.0)
    assert result.n_iter == len(calls) == 3
    assert source.device_calls == 1 and source.host_passes == 0


@pytest.mark.parametrize("with_far_centre", [False, True])
def test_device_iterations_match_sklearn_float64(overlapping, with_far_centre):
    X, init = overlapping
    if with_far_centre:
        init = np.vstack([init, X.max(0) + 1e3])
    ours = tfkmeans.KMeans(len(init), init=init, n_init=1, max_iter=300).fit(X)
    theirs = SkKMeans(len(init), init=init, n_init=1, max_iter=300, algorithm="lloyd").fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-6)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)


def test_device_iterations_in_concurrent_parts_equal_host_iterations(monkeypatch):
    """With written-out distances (d <= 4), the halving argmin (k > 16) and enough work,
    the device loop runs each pass in parts side by side (``_lloyd_steps_parts``); the parts add up in another
    order, so centres agree to the last bits, iterations and labels exactly (float64:
    float32 sums in other chunks could break a near tie differently)."""
    monkeypatch.setattr(device_steps, "STEPS_MIN_PART_WORK", 1 << 16)
    monkeypatch.setattr(kernels, "parallel_threads", lambda: 3)
    X, _ = make_blobs(50_000, n_features=3, centers=20, cluster_std=4.0, random_state=7)
    init = X[np.random.RandomState(8).choice(len(X), 20, replace=False)]
    _, bounds = kernels.pass_layout(len(X), 20, 3, None, device_steps.STEPS_MIN_PART_WORK)
    assert len(bounds) == 4 and len(X) * 23 < kernels.MIN_PART_WORK  # three parts, on device
    assert device_steps.steps_in_parts(len(X), 20, 3)  # the loop lloyd_steps takes
    kwargs = dict(max_iter=60, tol=1e-8)
    device, got, _ = run(Counting, X, init, np.float64, **kwargs)
    _, expected, _ = run(HostOnly, X, init, np.float64, **kwargs)
    assert device.device_calls >= 1 and device.host_passes == 0
    assert got.n_iter == expected.n_iter > 8
    np.testing.assert_allclose(got.centers, expected.centers, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.inertia_history, expected.inertia_history, rtol=1e-12)
    ours = tfkmeans.KMeans(20, init=init, n_init=1, max_iter=60, tol=1e-6).fit(X)
    sk = SkKMeans(20, init=init, n_init=1, max_iter=60, tol=1e-6, algorithm="lloyd").fit(X)
    assert ours.n_iter_ == sk.n_iter_
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=1e-10)
