"""`tfkmeans demo` end to end, as a user runs it."""

import numpy as np


def test_demo_prints_table_and_writes_plots(tmp_path, run_cli):
    result = run_cli("demo", "--out", "plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["iter", "inertia", "shift"]
    rows = [line.split() for line in lines[1:] if line.strip() and line.split()[0].isdigit()]
    inertia = [float(r[1]) for r in rows]
    assert len(rows) >= 2 and all(a >= b for a, b in zip(inertia, inertia[1:], strict=False))
    assert "true centroids vs found" in result.stdout
    # Found centroids lie near the true ones (blobs of stddev 5, spread 70).
    pairs = [line for line in lines if line.strip().startswith("true [")]
    assert len(pairs) == 3
    for line in pairs:
        true_part, found_part = line.split("found")
        true = np.array(true_part.split("[")[1].split("]")[0].split(), float)
        found = np.array(found_part.split("[")[1].split("]")[0].split(), float)
        assert np.linalg.norm(true - found) < 2.0
    for name in ("1_samples.png", "2_initial.png", "3_final.png", "4_inertia.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_gradient_demo_reproduces_second_tutorial(tmp_path, run_cli):
    result = run_cli("demo", "--gradient", "--out", "plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = next(
        line for line in result.stdout.splitlines() if "objective" in line and "Lloyd" in line
    )
    objective = float(summary.split("objective ")[1].split()[0])
    assert abs(objective - 940.45) / 940.45 < 0.005
    for name in ("5_gradient_vs_lloyd.png", "6_gradient_clusters.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_cli_error_is_one_line_without_traceback(tmp_path, run_cli):
    result = run_cli("demo", "--out", "plots", "--max-iter", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("tfkmeans: error:")
    assert result.stderr.strip() == "tfkmeans: error: max_iter must be at least 1, got 0"
