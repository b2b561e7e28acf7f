"""The command line end to end, run as a user runs it (a subprocess per command)."""

import re
import zipfile
from collections import Counter

import numpy as np
import pyarrow.parquet as pq


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def test_workflow_generate_fit_predict_plot_info(tmp_path, run_cli):
    ok(
        run_cli(
            "generate",
            "blobs.parquet",
            "--n-samples",
            5000,
            "--n-features",
            3,
            "--centers",
            4,
            "--seed",
            1,
            cwd=tmp_path,
        )
    )
    fit = ok(
        run_cli("fit", "blobs.parquet", "--k", 4, "--seed", 0, "--model", "m.tfkm", cwd=tmp_path)
    )
    assert "inertia" in fit.stdout and "[tfkmeans] lloyd step 1" in fit.stderr
    ok(
        run_cli(
            "predict", "blobs.parquet", "--model", "m.tfkm", "--out", "labels.parquet", cwd=tmp_path
        )
    )
    labels = pq.read_table(tmp_path / "labels.parquet")["label"].to_numpy()
    # The same labels as the model predicts in Python on the same rows.
    from tfkmeans import KMeans

    table = pq.read_table(tmp_path / "blobs.parquet").to_pandas()  # with its names
    np.testing.assert_array_equal(labels, KMeans.load(tmp_path / "m.tfkm").predict(table))
    ok(run_cli("plot", "blobs.parquet", "--model", "m.tfkm", "--out", "p.png", cwd=tmp_path))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    info = ok(run_cli("info", "m.tfkm", cwd=tmp_path))
    assert "clusters: 4" in info.stdout and "features: 3" in info.stdout


def test_generate_formats_elbow_and_quiet(tmp_path, run_cli):
    ok(run_cli("generate", "b.npy", "--n-samples", 3000, "--centers", 3, "--quiet", cwd=tmp_path))
    ok(run_cli("generate", "b.csv", "--n-samples", 300, "--centers", 3, "--quiet", cwd=tmp_path))
    assert np.load(tmp_path / "b.npy").shape == (3000, 2)
    assert (tmp_path / "b.csv").read_text().splitlines()[0].replace('"', "") == "x0,x1"
    elbow = ok(
        run_cli("elbow", "b.npy", "--k-range", "2:5", "--out", "e.png", "--quiet", cwd=tmp_path)
    )
    assert "best silhouette at k=3" in elbow.stdout and elbow.stderr == ""
    fit = ok(
        run_cli(
            "fit",
            "b.csv",
            "--k",
            3,
            "--algorithm",
            "minibatch",
            "--model",
            "m",
            "--quiet",
            cwd=tmp_path,
        )
    )
    assert fit.stderr == ""


def test_help_for_every_command(tmp_path, run_cli):
    for command in ("demo", "generate", "fit", "predict", "plot", "elbow", "info"):
        result = ok(run_cli(command, "--help", cwd=tmp_path))
        assert "usage: tfkmeans " + command in result.stdout


def test_user_errors_are_one_line_and_keep_good_files(tmp_path, run_cli):
    ok(run_cli("generate", "g.npy", "--n-samples", 500, "--quiet", cwd=tmp_path))
    ok(run_cli("fit", "g.npy", "--k", 3, "--model", "m.tfkm", "--quiet", cwd=tmp_path))
    good = (tmp_path / "m.tfkm").read_bytes()
    (tmp_path / "bad.tfkm").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "r.csv").write_text("a,b\n1,2\n3\n")
    cases = [
        (("fit", "missing.npy", "--k", 3, "--model", "x"), "missing.npy does not exist"),
        (("fit", "g.npy", "--k", 501, "--model", "m.tfkm"), "larger than the 500 rows"),
        (("fit", "r.csv", "--k", 1, "--model", "m.tfkm"), "r.csv"),
        (
            ("fit", "g.npy", "--k", 2, "--columns", "a", "--model", "m.tfkm"),
            "columns= does not apply",
        ),
        (
            ("predict", "g.npy", "--model", "bad.tfkm", "--out", "l.parquet"),
            "corrupt tfkmeans model",
        ),
        (("info", "g.npy"), "not a tfkmeans model file"),
        (("elbow", "g.npy", "--k-range", "5", "--out", "e.png"), "--k-range"),
    ]
    for args, message in cases:
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tfkmeans: error:"), result.stderr
        assert message in lines[0], (args, lines[0])
    assert (tmp_path / "m.tfkm").read_bytes() == good
    assert zipfile.is_zipfile(tmp_path / "m.tfkm")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_fit_on_a_multi_chunk_file_reports_progress_within_passes(tmp_path, run_cli):
    ok(run_cli("generate", "b.npy", "--n-samples", 20000, "--centers", 3, "--quiet", cwd=tmp_path))
    args = ("fit", "b.npy", "--k", 3, "--chunk-rows", 1000, "--max-iter", 30, "--tol", 0)
    fit = ok(run_cli(*args, "--model", "m", cwd=tmp_path))
    found = re.findall(r"\[tfkmeans\] lloyd pass (\d+): (\d+)/(\d+) rows", fit.stderr)
    assert found, fit.stderr
    per_pass = Counter(int(p) for p, _, _ in found)
    assert max(per_pass.values()) == 3
    assert all(p <= 10 or p % 10 == 0 for p in per_pass)  # thinned like steps
    assert {int(t) for _, _, t in found} == {20000}
    assert all(int(d) % 1000 == 0 and 0 < int(d) < 20000 for _, d, _ in found)
    quiet = ok(run_cli(*args, "--model", "m", "--quiet", cwd=tmp_path))
    assert quiet.stderr == ""


# -- checks before any work, without TensorFlow ----------------------------------------

PROBE = """
import json, sys
from tfkmeans.cli import main
out = []
for args in json.loads(sys.argv[1]):
    try:
        rc = main(args)
    except SystemExit as stop:
        rc = stop.code
    out.append([rc, "tensorflow" in sys.modules])
print(json.dumps(out))
"""


def test_checks_and_info_answer_without_importing_tensorflow(tmp_path):
    """Every mistake below is found before TensorFlow is imported (sys.modules is
    looked at after each command, in one process), and each is one line on stderr."""
    import json
    import os
    import subprocess
    import sys

    from sklearn.datasets import make_blobs

    from tfkmeans import KMeans

    X, _ = make_blobs(300, n_features=2, centers=3, random_state=0)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "three_rows.npy", X[:3])
    KMeans(3, random_state=0).fit(X).save(tmp_path / "m.tfkm")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "t3.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    cases = [
        (["--help"], 0, ""),
        (["--version"], 0, ""),
        (["fit", "--help"], 0, ""),
        (["info", "m.tfkm"], 0, ""),
        (["fit", "x.npy", "--k", "0", "--model", "m2"], 2, "--k must be at least 1, got 0"),
        (["fit", "x.npy", "--k", "301", "--model", "m2"], 2, "larger than the 300 rows"),
        (["fit", "missing.npy", "--k", "2", "--model", "m2"], 2, "missing.npy does not exist"),
        (
            ["fit", "x.npy", "--k", "3", "--model", "nodir/sub/m.tfkm"],
            2,
            "folder nodir/sub does not exist",
        ),
        (["fit", "t.csv", "--k", "2", "--columns", "z", "--model", "m2"], 2, "no column 'z'"),
        (["fit", "x.npy", "--k", "2", "--model", "m2", "--max-iter", "0"], 2, "--max-iter"),
        (["fit", "x.npy", "--k", "2"], 2, "the following arguments are required: --model"),
        (["fit", "x.npy", "--k", "2", "--init", "bad", "--model", "m"], 2, "invalid choice"),
        (["predict", "x.npy", "--model", "m.tfkm", "--out", "l.csv"], 2, "must be a .parquet"),
        (
            ["predict", "t3.csv", "--model", "m.tfkm", "--out", "l.parquet"],
            2,
            "t3.csv has 3 features, but the model m.tfkm was fitted on 2",
        ),
        (["predict", "x.npy", "--model", "x.npy", "--out", "l.parquet"], 2, "not a tfkmeans"),
        (["plot", "x.npy", "--model", "m.tfkm", "--out", "p.jpg"], 2, "must be a .png"),
        (["elbow", "three_rows.npy", "--k-range", "2:5", "--out", "e.png"], 2, "k=5, but only 3"),
        (["elbow", "x.npy", "--k-range", "1:1", "--out", "e.png"], 2, "no k >= 2"),
        (["info", "x.npy"], 2, "not a tfkmeans model file"),
    ]
    env = dict(os.environ, PYTHONPATH=SRC_PATH)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([c[0] for c in cases])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfkmeans")]
    assert len(errors) == sum(1 for c in cases if c[1] == 2), result.stderr  # one line each
    messages = iter(errors)
    for (args, rc, text), (got_rc, tf_loaded) in zip(cases, outcomes, strict=True):
        assert got_rc == rc, args
        assert not tf_loaded, args
        if rc == 2:
            line = next(messages)
            assert "error:" in line and text in line, (args, line)
    assert not (tmp_path / "p.jpg").exists() and not (tmp_path / "e.png").exists()


SRC_PATH = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "src")


def test_every_option_has_help_text_with_its_default():
    import argparse

    from tfkmeans.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            default = action.default
            if action.option_strings and default not in (None, False) and default is not True:
                assert "default" in command.formatter_class(name)._get_help_string(action), (
                    name,
                    action.dest,
                )
        assert "(default: 300)" in sub.choices["fit"].format_help()
        assert text


def test_elbow_recommends_the_best_defined_silhouette_never_k1(tmp_path, run_cli):
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(600, n_features=2, centers=3, cluster_std=0.5, random_state=1)
    np.save(tmp_path / "three.npy", X)
    result = ok(run_cli("elbow", "three.npy", "--k-range", "1:3", "--out", "e.png", cwd=tmp_path))
    assert "k=1: inertia=" in result.stderr and "silhouette=undefined" in result.stderr
    # Only our lines on stderr: no TensorFlow log or retracing advice.
    assert all(line.startswith(("k=", "[tfkmeans]")) for line in result.stderr.splitlines())
    from sklearn.metrics import silhouette_score

    from tfkmeans import KMeans

    expected = silhouette_score(X, KMeans(3, random_state=0, n_init=3).fit(X).labels_)
    assert f"best silhouette at k=3 ({expected:.4f})" in result.stdout
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_csv_notes_skips_and_keeps_every_row(tmp_path, run_cli):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(100, 2), rng.randn(100, 2) + 8])
    lines = ["id,x,y"] + [f"{i},{a},{b}" for i, (a, b) in enumerate(X)]
    lines[51] = "50,,3.5"  # an empty cell in row 50
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    bad = run_cli("fit", "d.csv", "--k", 2, "--model", "m.tfkm", "--quiet", cwd=tmp_path)
    assert bad.returncode == 2
    assert "row 50, column 'x' holds NaN" in bad.stderr.strip().splitlines()[-1]
    fit = ok(
        run_cli(
            "fit",
            "d.csv",
            "--k",
            2,
            "--model",
            "m.tfkm",
            "--handle-invalid",
            "skip",
            "--quiet",
            cwd=tmp_path,
        )
    )
    notes = [line for line in fit.stderr.splitlines() if line.startswith("tfkmeans: note:")]
    assert any("features from x, y; left out id (row id)" in n for n in notes), fit.stderr
    assert any("skipped 1 row with a missing value or infinity (first: row 50)" in n for n in notes)
    assert (
        "on 199 rows x 2 features (1 rows with a missing value or infinity skipped)" in fit.stdout
    )
    # No header: every line is a row, and predict labels all of them.
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    ok(run_cli("fit", "plain.csv", "--k", 2, "--model", "p.tfkm", "--quiet", cwd=tmp_path))
    ok(run_cli("predict", "plain.csv", "--model", "p.tfkm", "--out", "l.parquet", cwd=tmp_path))
    assert len(pq.read_table(tmp_path / "l.parquet")) == 200
