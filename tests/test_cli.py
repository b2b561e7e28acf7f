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

    table = pq.read_table(tmp_path / "blobs.parquet").to_pandas().to_numpy()
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
