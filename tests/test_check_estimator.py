"""scikit-learn's own estimator checks, run in full."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from tfkmeans import KMeans

# The same exception scikit-learn makes for its own KMeans (dense and sparse data): a random init draws
# different rows when rows are repeated instead of weighted. Weight handling itself is
# tested from a fixed init in test_estimator.test_sample_weight_equals_repeated_rows.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples with a random init."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples with a random init."
    ),
}


@parametrize_with_checks(
    [KMeans(n_clusters=3, n_init=2, max_iter=30)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
