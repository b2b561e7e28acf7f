"""Progress within passes over a file: bounded plain lines, a bar on terminals."""

import io
import re

import numpy as np

import tfkmeans
from tfkmeans import KMeans
from tfkmeans.progress import IterationReporter, RichReporter, rows_reported_to


def _pass(reporter, total, chunk):
    reporter.rows(0, total)
    for done in range(chunk, total + chunk, chunk):
        reporter.rows(min(done, total), total)


def test_plain_lines_mark_quarters_of_long_passes_only():
    stream = io.StringIO()
    reporter = IterationReporter("lloyd", True, stream)
    _pass(reporter, 1000, 100)  # 10 chunks: lines at 25, 50 and 75%
    _pass(reporter, 1000, 200)  # 5 chunks: too short for lines
    lines = stream.getvalue().splitlines()
    assert lines == [
        "[tfkmeans] lloyd pass 1: 300/1000 rows (30%)",
        "[tfkmeans] lloyd pass 1: 500/1000 rows (50%)",
        "[tfkmeans] lloyd pass 1: 800/1000 rows (80%)",
    ]


def test_plain_lines_are_thinned_like_steps_and_silenced_when_quiet():
    stream = io.StringIO()
    reporter = IterationReporter("lloyd", True, stream)
    for _ in range(25):
        _pass(reporter, 100, 1)
    passes = [int(m) for m in re.findall(r"pass (\d+):", stream.getvalue())]
    assert sorted(set(passes)) == [*range(1, 11), 20]
    assert all(passes.count(p) == 3 for p in set(passes))
    quiet = io.StringIO()
    silent = IterationReporter("lloyd", False, quiet)
    _pass(silent, 100, 1)
    assert quiet.getvalue() == ""


def test_each_pass_over_a_file_reports_its_rows_in_order(tmp_path):
    X = np.random.RandomState(0).randn(20_000, 3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    source = tfkmeans.read(tmp_path / "x.npy", chunk_rows=3000)
    seen = []
    with rows_reported_to(lambda done, total: seen.append((done, total))):
        assert source.n_rows == 20_000  # from the header: no pass
        assert seen == []
        source.partial_stats(X[:3] - source.origin)  # the first pass, then a Lloyd pass
        list(source.assign(X[:3] - source.origin))
    one_pass = [(done, 20_000) for done in [*range(0, 20_000, 3000), 20_000]]
    assert seen == one_pass * 3


def test_a_verbose_fit_on_a_file_prints_progress_within_passes(tmp_path, capsys):
    X = np.random.RandomState(0).randn(20_000, 3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    KMeans(3, init=X[:3], n_init=1, max_iter=2, tol=0, verbose=True).fit(
        tfkmeans.read(tmp_path / "x.npy", chunk_rows=2000)
    )
    err = capsys.readouterr().err
    assert "[tfkmeans] lloyd pass 1: 6000/20000 rows (30%)" in err
    assert "[tfkmeans] lloyd step 2:" in err


def test_rich_bar_shows_the_pass_and_its_rows():
    stream = io.StringIO()
    reporter = RichReporter("lloyd", True, stream, total=10)
    _pass(reporter, 1000, 100)
    reporter.start(1, 1)
    reporter(1, 5.0, 0.1)
    reporter.finish(5.0)
    reporter.close()
    text = stream.getvalue()
    assert "pass 1" in text and "1000/1000" in text
