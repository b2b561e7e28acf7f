"""`tfkmeans demo` end to end, as a user runs it."""

import numpy as np
import pytest


def test_demo_prints_table_and_writes_plots(tmp_path, run_cli):
    result = run_cli("demo", "--out", "plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["iter", "inertia", "largest", "centre", "move", "(Euclidean)"]
    rows = [line.split() for line in lines[1:] if line.strip() and line.split()[0].isdigit()]
    assert rows[0][0] == "0" and rows[0][2] == "(initial"
    inertia = [float(r[1]) for r in rows]
    moves = [float(r[2]) for r in rows[1:]]
    assert len(rows) >= 3 and all(a >= b for a, b in zip(inertia, inertia[1:], strict=False))
    # It runs until the centres stop moving: the last step moved nothing, so its
    # inertia (of the centres on that line) equals the one before.
    assert moves[-1] == 0.0 and all(m > 0 for m in moves[:-1])
    assert inertia[-1] == inertia[-2]
    assert f"the centres stopped moving after {len(rows) - 1} iterations" in result.stdout
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


def test_demo_inertia_is_that_of_the_centres_on_its_line():
    """Brute force: the printed inertia of each line is the inertia of the centres
    after that step, every sample to its nearest centre."""
    import io

    from tfkmeans.demo import EMBIGGEN_FACTOR, SEED, run_demo
    from tfkmeans.samples import create_samples
    from tfkmeans.tutorial import choose_random_centroids

    _, samples = create_samples(3, 500, 2, EMBIGGEN_FACTOR, SEED)
    x = samples.numpy().astype(np.float64)
    centres = choose_random_centroids(samples, 3, seed=SEED).numpy().astype(np.float64)
    history = run_demo(__import__("tempfile").mkdtemp(), max_iter=3, stream=io.StringIO())
    for value in history:
        labels = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        assert value == pytest.approx(((x - centres[labels]) ** 2).sum(), rel=1e-5)
        centres = np.stack([x[labels == j].mean(0) for j in range(3)])


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
    assert result.stderr.strip() == "tfkmeans: error: --max-iter must be at least 1, got 0"
