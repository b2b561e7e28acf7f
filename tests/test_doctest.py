"""The Examples in KMeans's docstring run as written (numpydoc sections present)."""

import doctest

import tfkmeans
from tfkmeans import estimator


def test_kmeans_docstring_examples_run():
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(estimator, globs={}) if t.name.endswith(".KMeans")]
    assert tests and tests[0].examples
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0


def test_kmeans_help_has_numpydoc_sections():
    doc = tfkmeans.KMeans.__doc__
    for section in ("Parameters\n    ----------", "Attributes\n    ----------"):
        assert section in doc
    assert "See Also\n    --------" in doc and "Examples\n    --------" in doc
    for name in tfkmeans.KMeans().get_params():
        assert f"\n    {name} :" in doc, name
