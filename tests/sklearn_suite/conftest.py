"""Fixtures and marks for scikit-learn's own KMeans suite (``test_sklearn_k_means.py``).

scikit-learn's tests take two fixtures from its root conftest, which is not loaded
here: ``global_random_seed`` (42, or SKLEARN_TESTS_GLOBAL_RANDOM_SEED as scikit-learn
reads it) and ``global_dtype`` (float32 too, SKLEARN_RUN_FLOAT32_TESTS=1).
Which tests are deselected or expected to fail, and why, is said once, in
``test_sklearn_k_means.py``; this file only applies it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["SKLEARN_RUN_FLOAT32_TESTS"] = "1"

SUITE = "test_sklearn_k_means.py"


def _random_seeds() -> list[int]:
    """scikit-learn's reading of SKLEARN_TESTS_GLOBAL_RANDOM_SEED: unset -> 42, "all",
    "N" or "A-B" (within 0..99)."""
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        return [42]
    if value == "all":
        return list(range(100))
    start, _, stop = value.partition("-")
    return list(range(int(start), int(stop or start) + 1))


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", _random_seeds())


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    return request.param


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        if item.path.name != SUITE:
            kept.append(item)
            continue
        if item.originalname in item.module.DESELECTED:
            dropped.append(item)
            continue
        reason = item.module.expected_failure(item)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
