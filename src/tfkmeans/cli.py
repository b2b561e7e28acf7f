"""The ``tfkmeans`` command line: demo, generate, fit, predict, plot, elbow, info.

A user error (missing file, bad column, k too large, corrupt model) prints one
line ``tfkmeans: error: ...`` and exits 2, never a traceback. Every output
file is written atomically. Progress goes to stderr: a bar on a terminal,
plain lines otherwise, nothing with ``--quiet``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with native stderr muted: its start-up notes (no CUDA driver,
    CPU features) are printed before logging is configured and would bury our messages.
    Muting stops at the first op, which is when devices are set up."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow

            tensorflow.constant(0)  # device set-up prints its notes on first use
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class UserError(Exception):
    """A mistake in the command line or its inputs; printed as one line."""


def _say(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def _columns(args):
    return [c.strip() for c in args.columns.split(",")] if getattr(args, "columns", None) else None


def _open(args, path):
    from tfkmeans.files import read

    chunk_rows = getattr(args, "chunk_rows", None)  # None: the file type's default
    if chunk_rows is not None and chunk_rows < 1:
        raise UserError(f"--chunk-rows must be a positive integer, got {chunk_rows}")
    return read(path, columns=_columns(args), chunk_rows=chunk_rows)


def _load_model(path):
    from tfkmeans.estimator import KMeans

    return KMeans.load(path)


# -- commands ------------------------------------------------------------------------------


def _cmd_demo(args) -> int:
    from tfkmeans.demo import run_demo, run_gradient_demo

    if args.gradient:
        run_gradient_demo(args.out)
    else:
        run_demo(args.out, seed=args.seed, max_iter=args.max_iter)
    return 0


def _cmd_generate(args) -> int:
    import numpy as np
    from sklearn.datasets import make_blobs

    from tfkmeans.atomic import atomic_path

    if args.n_samples < 1 or args.n_features < 1 or args.centers < 1:
        raise UserError("--n-samples, --n-features and --centers must be positive")
    X, _ = make_blobs(
        args.n_samples,
        n_features=args.n_features,
        centers=args.centers,
        cluster_std=args.cluster_std,
        random_state=args.seed,
    )
    X = X.astype(np.float64 if args.float64 else np.float32)
    suffix = os.path.splitext(args.out)[1].lower()
    names = [f"x{i}" for i in range(args.n_features)]
    with atomic_path(args.out) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, X, allow_pickle=False)
        elif suffix in (".parquet", ".pq", ".csv"):
            import pyarrow as pa

            # Non-nullable, as the values are: pyarrow otherwise writes a null bitmap
            # that readers must decode (about a third of a read's decode time).
            schema = pa.schema([pa.field(n, pa.from_numpy_dtype(X.dtype), False) for n in names])
            table = pa.table([X[:, i] for i in range(len(names))], schema=schema)
            if suffix == ".csv":
                import pyarrow.csv as csv

                csv.write_csv(table, str(tmp))
            else:
                import pyarrow.parquet as pq

                # No dictionary: random floats never repeat, so it only costs decode time.
                pq.write_table(table, str(tmp), use_dictionary=False)
        else:
            raise UserError(f"unknown output type {suffix!r}: use .npy, .parquet or .csv")
    _say(
        args,
        f"wrote {args.n_samples} x {args.n_features} rows ({args.centers} blobs) to {args.out}",
    )
    return 0


def _cmd_fit(args) -> int:
    from tfkmeans.estimator import KMeans

    source = _open(args, args.data)
    if args.k < 1:
        raise UserError(f"--k must be at least 1, got {args.k}")
    if args.k > source.n_rows:
        raise UserError(f"--k {args.k} is larger than the {source.n_rows} rows in {args.data}")
    km = KMeans(
        n_clusters=args.k,
        init=args.init,
        n_init=args.n_init if args.n_init is not None else "auto",
        max_iter=args.max_iter,
        tol=args.tol,
        algorithm=args.algorithm,
        metric=args.metric,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    start = time.perf_counter()
    with _progress(args):
        km.fit(source)
    km.set_params(verbose=False)  # progress was for this run, not for the saved model
    km.save(args.model)
    print(
        f"fitted k={args.k} ({args.algorithm}) on {source.n_rows} rows x {source.n_features} "
        f"features in {time.perf_counter() - start:.2f} s: inertia {km.inertia_:.6g}, "
        f"{km.n_iter_} iterations; model written to {args.model}"
    )
    return 0


def _cmd_predict(args) -> int:
    km = _load_model(args.model)
    source = _open(args, args.data)
    if not str(args.out).lower().endswith((".parquet", ".pq")):
        raise UserError("--out must be a .parquet file")
    km.predict(source, out=args.out)
    print(f"labels for {source.n_rows} rows written to {args.out}")
    return 0


def _cmd_plot(args) -> int:
    from tfkmeans.plot import plot_model

    km = _load_model(args.model)
    source = _open(args, args.data)
    plot_model(km, source, args.out, max_points=args.max_points, seed=args.seed)
    print(f"plot written to {args.out}")
    return 0


def _cmd_elbow(args) -> int:
    from tfkmeans.plot import elbow

    try:
        low, high = (int(v) for v in args.k_range.split(":"))
    except ValueError:
        raise UserError(f"--k-range must look like 2:20, got {args.k_range!r}") from None
    if not 1 <= low <= high:
        raise UserError(f"--k-range needs 1 <= low <= high, got {args.k_range!r}")
    source = _open(args, args.data)
    rows = elbow(
        source,
        range(low, high + 1),
        args.out,
        sample_size=args.sample_size,
        seed=args.seed,
        on_k=lambda k, inertia, sil: _say(
            args, f"k={k}: inertia={inertia:.6g} silhouette={sil:.4f}"
        ),
    )
    best = max(rows, key=lambda r: r[2])
    print(f"elbow plot written to {args.out}; best silhouette at k={best[0]} ({best[2]:.4f})")
    return 0


def _cmd_info(args) -> int:
    km = _load_model(args.model)
    params = km.get_params()
    print(f"tfkmeans model {args.model}")
    print(f"  clusters: {km.cluster_centers_.shape[0]}   features: {km.n_features_in_}")
    print(
        f"  inertia: {km.inertia_:.6g}   iterations: {km.n_iter_}   dtype: {km.cluster_centers_.dtype}"
    )
    if hasattr(km, "feature_names_in_"):
        print(f"  feature names: {', '.join(map(str, km.feature_names_in_))}")
    for name in sorted(params):
        value = params[name]
        if not hasattr(value, "shape"):
            print(f"  {name} = {value!r}")
    return 0


# -- parser --------------------------------------------------------------------------------


def _progress(args):
    """Progress bars on a terminal, plain lines otherwise (the estimator's verbose)."""
    import contextlib

    from tfkmeans.progress import RichReporter, use_reporter

    if not args.quiet and sys.stderr.isatty():
        return use_reporter(RichReporter)
    return contextlib.nullcontext()


def _add_data(parser, help_text="input rows: .npy, .parquet (file or folder) or .csv"):
    parser.add_argument("data", help=help_text)
    parser.add_argument("--columns", help="comma-separated feature columns (Parquet/CSV)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="rows read from the file at a time (default 65536; a float .npy file: "
        "32 MiB of rows); memory grows with it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfkmeans", description="k-means clustering on TensorFlow 2."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser

    def add_parser(name, **kwargs):
        return add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser

    demo = sub.add_parser("demo", help="run the tutorial end to end and write its plots")
    demo.add_argument("--out", default="tfkmeans-demo", help="folder for the PNG plots")
    demo.add_argument("--seed", type=int, default=700, help="random seed (default 700)")
    demo.add_argument("--max-iter", type=int, default=100, help="maximum Lloyd iterations")
    demo.add_argument(
        "--gradient",
        action="store_true",
        help="run the second tutorial instead: gradient descent on make_blobs(500, "
        "random_state=1111), plotted against Lloyd",
    )
    demo.set_defaults(run=_cmd_demo)

    gen = sub.add_parser("generate", help="write seeded Gaussian blobs to .npy, .parquet or .csv")
    gen.add_argument("out", help="output file (.npy, .parquet or .csv)")
    gen.add_argument("--n-samples", type=int, default=10000)
    gen.add_argument("--n-features", type=int, default=2)
    gen.add_argument("--centers", type=int, default=5, help="number of blobs")
    gen.add_argument("--cluster-std", type=float, default=1.0)
    gen.add_argument("--float64", action="store_true", help="write float64 (default float32)")
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(run=_cmd_generate)

    fit = sub.add_parser("fit", help="cluster a data file and save the model")
    _add_data(fit)
    fit.add_argument("--k", type=int, required=True, help="number of clusters")
    fit.add_argument("--algorithm", choices=["lloyd", "gradient", "minibatch"], default="lloyd")
    fit.add_argument("--init", choices=["k-means++", "random", "k-means||"], default="k-means||")
    fit.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean")
    fit.add_argument("--n-init", type=int, default=None)
    fit.add_argument("--max-iter", type=int, default=300)
    fit.add_argument("--tol", type=float, default=1e-4)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--model", required=True, help="where to write the model file")
    fit.set_defaults(run=_cmd_fit)

    pred = sub.add_parser("predict", help="label every row of a data file (streamed to Parquet)")
    _add_data(pred)
    pred.add_argument("--model", required=True)
    pred.add_argument("--out", required=True, help="output .parquet with label and distance")
    pred.set_defaults(run=_cmd_predict)

    plot = sub.add_parser("plot", help="scatter plot of the clusters (PCA projection for d > 2)")
    _add_data(plot)
    plot.add_argument("--model", required=True)
    plot.add_argument("--out", required=True, help="output PNG")
    plot.add_argument("--max-points", type=int, default=20000, help="rows sampled for the plot")
    plot.add_argument("--seed", type=int, default=0)
    plot.set_defaults(run=_cmd_plot)

    elb = sub.add_parser("elbow", help="inertia and silhouette for a range of k, to choose k")
    _add_data(elb)
    elb.add_argument("--k-range", default="2:10", help="low:high, inclusive (default 2:10)")
    elb.add_argument("--out", required=True, help="output PNG")
    elb.add_argument("--sample-size", type=int, default=5000, help="rows sampled (default 5000)")
    elb.add_argument("--seed", type=int, default=0)
    elb.set_defaults(run=_cmd_elbow)

    info = sub.add_parser("info", help="show a model file's parameters and attributes")
    info.add_argument("model")
    info.set_defaults(run=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _import_tensorflow_quietly()
    try:
        return args.run(args)
    except (UserError, ValueError, TypeError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"tfkmeans: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfkmeans: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
