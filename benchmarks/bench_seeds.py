"""One start is luck: default fits over several seeds, iterations and inertia side by side.

``bench_default_fit.py`` times ``random_state=0``. On float32 rows the three libraries
pick different k-means++ rows from the same random numbers (rounding decides near
ties of the cumulative sum: scikit-learn keeps it in float32, tfkmeans in float64), so
one seed's iteration count and inertia say little about the solver. This script runs
the default fit of each library with ``random_state`` 0..n-1 on the same data and
reports, per seed and on average, the Lloyd iterations and the inertia relative to
scikit-learn's for that seed. Seconds are shown, but timing is not its point (one
process, libraries one after another, each after one untimed fit of the data set, so
that no seed carries a compile).

    python benchmarks/bench_seeds.py [--seeds 10] [--only "100k x 256"] [--out results/seeds.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from bench_default_fit import SHAPES, dataset  # noqa: E402
from common import machine  # noqa: E402

FLOAT32 = [name for name, shape in SHAPES.items() if shape[3] == "float32"]


def libraries() -> dict:
    from sklearn.cluster import KMeans as SKLearn

    from tfkmeans import KMeans as TFKMeans

    found = {"tfkmeans": TFKMeans, "scikit-learn": SKLearn}
    try:
        from sklearnex.cluster import KMeans as Intelex
    except ImportError:
        return found
    return {**found, "scikit-learn-intelex": Intelex}


def run(names: list[str], seeds: int) -> list[str]:
    classes = libraries()
    lines = [f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start", ""]
    for name in names:
        X, k = dataset(name)
        for KMeans in classes.values():  # warm-up: imports, tracing, compilation
            KMeans(n_clusters=k, random_state=seeds).fit(X)
        rows = []
        for seed in range(seeds):
            fits = {}
            for library, KMeans in classes.items():
                start = time.perf_counter()
                model = KMeans(n_clusters=k, random_state=seed).fit(X)
                fits[library] = (time.perf_counter() - start, model.inertia_, model.n_iter_)
            rows.append(fits)
            print(name, seed, fits, file=sys.stderr, flush=True)
        lines += table(name, k, rows, list(classes))
    return lines


def table(name: str, k: int, rows: list[dict], names: list[str]) -> list[str]:
    dtype = SHAPES[name][3]
    out = [f"{name} ({dtype}), k={k}: iterations / inertia relative to scikit-learn's / s", ""]
    out.append("| seed | " + " | ".join(names) + " |")
    out.append("|---" * (len(names) + 1) + "|")

    def cell(fit, base) -> str:
        return f"{fit[2]} / {fit[1] / base:.4f} / {fit[0]:.2f}"

    for seed, fits in enumerate(rows):
        base = fits["scikit-learn"][1]
        out.append(f"| {seed} | " + " | ".join(cell(fits[lib], base) for lib in names) + " |")
    means = []
    for lib in names:
        iters = statistics.mean(fits[lib][2] for fits in rows)
        ratio = statistics.mean(fits[lib][1] / fits["scikit-learn"][1] for fits in rows)
        seconds = statistics.median(fits[lib][0] for fits in rows)
        means.append(f"{iters:.1f} / {ratio:.4f} / {seconds:.2f}")
    out.append("| mean (s: median) | " + " | ".join(means) + " |")
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", help="comma-separated data set names (default: the float32 ones)")
    parser.add_argument("--out", default=str(HERE / "results" / "seeds.md"))
    args = parser.parse_args()
    names = args.only.split(",") if args.only else FLOAT32
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        parser.error(f"unknown data set(s): {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    warnings.filterwarnings("ignore")
    text = "\n".join(run(names, args.seeds))
    print(text)
    if not args.only:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
