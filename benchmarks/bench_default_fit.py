"""Default fits side by side: tfkmeans, scikit-learn and scikit-learn-intelex, init included.

What a user runs: ``KMeans(n_clusters=k, random_state=0).fit(X)`` with every other
parameter at its default (k-means++, one start, tol=1e-4). Each library runs in its
own process (no library's threads, allocator or imports disturb another's), all three
alive side by side and used one at a time: for each data set every process makes one
untimed fit (warm-up: imports, tracing, compilation), then the libraries take turns
(``--repeats`` each; one timed fit when the warm-up took over ``--long`` seconds), the
order rotated every turn. A turn is a pause (one library's idle threads stop spinning
before the next starts), an untimed fit and a timed one back to back: after a pause,
sleeping threads and cold caches cost every library (scikit-learn's 10k x 10 fit took
9-67 ms where back to back it takes 7-8), and the table is about the fit. A drift of
the shared machine (20-40% within minutes here) then falls on all three alike.
``--rounds`` rounds each start new processes; a cell is the median of its timed fits
over all rounds. A cold run (one per library per round) times a new process importing
the library and fitting 10,000 x 10, k=8 once.
Inertia is each library's own ``inertia_``, shown relative to scikit-learn's.

Data: make_blobs (cluster_std=10, random_state=0, as bench_lloyd: the blobs overlap,
so fits take more than a few iterations) in float64, two wide shapes in float32, and
scikit-learn's bundled iris and digits (float64).

    python benchmarks/bench_default_fit.py [--quick] [--rounds 3] [--repeats 3] [--only iris,digits]
        [--libraries tfkmeans,scikit-learn,scikit-learn-intelex] [--out results/default_fit.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# name: (n, d, k, dtype); n = 0 for a bundled data set.
SHAPES = {
    "iris": (0, 4, 3, "float64"),
    "digits": (0, 64, 10, "float64"),
    "10k x 10": (10_000, 10, 8, "float64"),
    "50k x 16": (50_000, 16, 32, "float64"),
    "200k x 8": (200_000, 8, 16, "float64"),
    "500k x 4": (500_000, 4, 8, "float64"),
    "100k x 256": (100_000, 256, 100, "float32"),
    "20k x 768": (20_000, 768, 50, "float32"),
}
QUICK = {"iris", "digits", "10k x 10", "50k x 16"}
COLD = "10k x 10"
LIBRARIES = ("tfkmeans", "scikit-learn", "scikit-learn-intelex")
# Seconds between two timed fits: OpenMP, TBB and Eigen threads spin a while after work.
PAUSE = 0.05


def dataset(name: str) -> tuple[np.ndarray, int]:
    from sklearn.datasets import load_digits, load_iris, make_blobs

    n, d, k, dtype = SHAPES[name]
    if name == "iris":
        return load_iris().data.astype(dtype), k
    if name == "digits":
        return load_digits().data.astype(dtype), k
    X, _ = make_blobs(n, n_features=d, centers=k, cluster_std=10.0, random_state=0)
    return X.astype(dtype), k


def estimator(library: str):
    """The library's KMeans class (imported here: the import is part of a cold run)."""
    if library == "tfkmeans":
        sys.path.insert(0, str(HERE.parent / "src"))
        from tfkmeans import KMeans
    elif library == "scikit-learn":
        from sklearn.cluster import KMeans
    else:
        from sklearnex.cluster import KMeans
    return KMeans


def fit_seconds(KMeans, X: np.ndarray, k: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    km = KMeans(n_clusters=k, random_state=0).fit(X)
    return time.perf_counter() - start, float(km.inertia_), int(km.n_iter_)


def serve(library: str, folder: Path, long: float) -> None:
    """One library, commands on stdin: ``load NAME`` (the data set and its warm-up fit),
    ``fit`` (one timed fit), ``fit after one`` (an untimed fit, then the timed one back
    to back: threads and caches warm); a JSON line answers each."""
    KMeans = estimator(library)
    X, k = None, 0
    for command in sys.stdin:
        if command.startswith("load "):
            name = command[5:].strip()
            X, k = np.load(folder / f"{name}.npy"), SHAPES[name][2]
            seconds, inertia, n_iter = fit_seconds(KMeans, X, k)
            answer = {"warm": seconds, "long": seconds > long, "inertia": inertia, "n_iter": n_iter}
        else:
            if command.strip() == "fit after one":
                fit_seconds(KMeans, X, k)
            answer = {"time": fit_seconds(KMeans, X, k)[0]}
        print(json.dumps(answer), flush=True)


class Worker:
    """A library's ``serve`` process."""

    def __init__(self, library: str, folder: str, long: float) -> None:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        command = [sys.executable, __file__, "--serve", library, "--folder", folder]
        command += ["--long", str(long)]
        self.library = library
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.library} stopped while answering {command!r}")
            if line.startswith("{"):
                return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def one_round(round_: int, libraries, names, folder: str, args, results) -> None:
    """New processes, then each data set: warm-ups, then the libraries' fits in turns."""
    workers = [Worker(library, folder, args.long) for library in libraries]
    try:
        for name in names:
            warm = {w.library: w.ask(f"load {name}") for w in workers}
            long = any(row["long"] for row in warm.values())
            repeats, fit = (1, "fit") if long else (args.repeats, "fit after one")
            for turn in range(repeats):
                shift = (round_ + turn) % len(workers)
                for w in workers[shift:] + workers[:shift]:
                    time.sleep(PAUSE)
                    cell = results.setdefault(name, {}).setdefault(w.library, {})
                    cell.setdefault("times", []).append(w.ask(fit)["time"])
                    cell.update(
                        inertia=warm[w.library]["inertia"], n_iter=warm[w.library]["n_iter"]
                    )
            print(
                round_,
                name,
                {lib: results[name][lib]["times"][-repeats:] for lib in libraries},
                file=sys.stderr,
                flush=True,
            )
    finally:
        for w in workers:
            w.close()


def cold(library: str, folder: Path) -> None:
    """A fresh process: import the library and fit once (data already loaded)."""
    X = np.load(folder / f"{COLD}.npy")
    start = time.perf_counter()
    seconds, inertia, _ = fit_seconds(estimator(library), X, SHAPES[COLD][2])
    total = time.perf_counter() - start
    print(json.dumps({"cold": total, "fit": seconds, "inertia": inertia}), flush=True)


def child(args: list[str]) -> list[dict]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode:
        raise RuntimeError(f"{args[:2]} failed:\n{out.stderr[-3000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def machine_line() -> str:
    sys.path.insert(0, str(HERE))
    from common import machine

    return f"{machine()}; load average {os.getloadavg()[0]:.1f} at the start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the four small data sets only")
    parser.add_argument("--only", help="comma-separated data set names")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--rounds", type=int, default=3, help="turns each library takes")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per turn")
    parser.add_argument("--long", type=float, default=20.0, help="one timed fit above this")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "default_fit.md"))
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--cold", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, Path(args.folder), args.long)
    if args.cold:
        return cold(args.cold, Path(args.folder))

    names = [n for n in SHAPES if not args.quick or n in QUICK]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    libraries = args.libraries.split(",")
    header = machine_line()
    results: dict[str, dict[str, dict]] = {}
    colds: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in {*names, COLD}:
            np.save(folder / f"{name}.npy", dataset(name)[0])
        for round_ in range(args.rounds):
            one_round(round_, libraries, names, tmp, args, results)
            if not args.no_cold:
                shift = round_ % len(libraries)
                for library in libraries[shift:] + libraries[:shift]:
                    cold_row = child(["--cold", library, "--folder", tmp])[0]
                    colds.setdefault(library, []).append(cold_row)
                    print(round_, library, "cold", cold_row, file=sys.stderr, flush=True)
    for row in results.values():
        for cell in row.values():
            cell["seconds"] = statistics.median(cell["times"])
    publish(table(header, names, libraries, results, colds, args), args)


def table(header, names, libraries, results, colds, args) -> list[str]:
    peers = [lib for lib in libraries if lib != "tfkmeans"]
    lines = [f"Machine: {header}", ""]
    lines.append(
        "| data | n x d, k | "
        + " | ".join(f"{lib} s" for lib in libraries)
        + " | tfkmeans / best peer | "
        + " | ".join(f"{lib} inertia / sklearn" for lib in libraries if lib != "scikit-learn")
        + " | tfkmeans iterations |"
    )
    lines.append("|---" * (len(libraries) * 2 + 3) + "|")
    for name in names:
        row = results.get(name, {})
        n, d, k, dtype = SHAPES[name]
        size = f"{n:,}" if n else {"iris": "150", "digits": "1,797"}[name]
        cells = [f"{row[lib]['seconds']:.3f}" if lib in row else "-" for lib in libraries]
        best = min((row[p]["seconds"] for p in peers if p in row), default=None)
        ratio = f"{row['tfkmeans']['seconds'] / best:.2f}" if best and "tfkmeans" in row else "-"
        sk = row.get("scikit-learn", {}).get("inertia")
        rel = [
            f"{row[lib]['inertia'] / sk:.4f}" if sk and lib in row else "-"
            for lib in libraries
            if lib != "scikit-learn"
        ]
        iters = str(row["tfkmeans"]["n_iter"]) if "tfkmeans" in row else "-"
        lines.append(
            f"| {name} ({dtype}) | {size} x {d}, {k} | {' | '.join(cells)} | {ratio} | "
            f"{' | '.join(rel)} | {iters} |"
        )
    if colds:
        lines += ["", f"Cold run (new process: import + one fit of {COLD}, k=8, float64):", ""]
        lines.append("| library | import + fit s | of which the fit s |")
        lines.append("|---|---|---|")
        for lib, cold_rows in colds.items():
            total = statistics.median(row["cold"] for row in cold_rows)
            fit = statistics.median(row["fit"] for row in cold_rows)
            lines.append(f"| {lib} | {total:.2f} | {fit:.3f} |")
    lines += [
        "",
        f"Seconds: median of {args.rounds} x {args.repeats} default fits: {args.rounds} rounds, "
        "each of three new processes (one per library) alive side by side: per data set one "
        "untimed warm-up fit each, then the libraries take turns (order rotated), a turn "
        "an untimed and a timed fit back to back ("
        f"one timed fit each where a warm-up took over {args.long:g} s); "
        "cold runs: median of one per round. "
        "Ratios below 1 mean tfkmeans is faster than the faster peer.",
    ]
    return lines


def publish(lines: list[str], args) -> None:
    text = "\n".join(lines)
    print(text)
    if not args.quick and not args.only:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
