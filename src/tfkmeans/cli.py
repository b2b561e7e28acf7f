"""The ``tfkmeans`` command line: demo, generate, fit, predict, plot, elbow, info.

Every argument, input file and output folder is checked before TensorFlow is
loaded, so a mistake is answered in a fraction of a second (``--help``,
``--version``, ``info`` and ``generate`` never load it). A user error prints one line
``tfkmeans: error: ...`` and exits 2, never a traceback; notices (columns left out,
rows skipped) print one line ``tfkmeans: note: ...``. Every output file is written
atomically. Progress goes to stderr: a bar on a terminal, plain lines otherwise,
nothing with ``--quiet``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

from tfkmeans.cli_parser import build_parser

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow_quietly() -> None:
    """TensorFlow through ``tfload``: its start-up lines filtered out of stderr and Keras
    left until first use (this command line loaded Keras too: ``tfkmeans fit`` of 20,000 x
    4 rows took 5.9 s, now 5.2, medians of 5 interleaved runs on a 2-core AMD EPYC). Its
    Python log (retracing advice addressed to our code) is not the user's either."""
    from tfkmeans.tfload import tf

    tf.get_logger().setLevel("ERROR")


class UserError(Exception):
    """A mistake in the command line or its inputs; printed as one line."""


def _say(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def _columns(args):
    return [c.strip() for c in args.columns.split(",")] if getattr(args, "columns", None) else None


# -- checks, all without TensorFlow ----------------------------------------------------------


def _positive(args, *names: str, minimum: float = 1) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            option = "--" + name.replace("_", "-")
            raise UserError(f"{option} must be at least {minimum}, got {value}")


def _check_output(path: str, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """An output file whose folder exists and is writable, with the right suffix."""
    target = Path(path)
    if suffixes and target.suffix.lower() not in suffixes:
        raise UserError(f"{option} must be a {' or '.join(suffixes)} file, got {path}")
    if target.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{option} {path}: folder {folder} is not writable")


def _check_folder(path: str, option: str) -> None:
    """An output folder that exists, or can be made under an existing writable folder."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UserError(f"{option} {path} is a file; give a folder")
    existing = target
    while not existing.exists():
        existing = existing.parent if str(existing.parent) != str(existing) else Path(".")
    if not os.access(existing, os.W_OK):
        raise UserError(f"{option} {path}: folder {existing} is not writable")


def _describe(args):
    """The data file's rows, features and names, from its header or footer."""
    from tfkmeans.layouts import describe

    return describe(args.data, columns=_columns(args), header=args.header)


def _model(path):
    """A model file's metadata and arrays, read without TensorFlow."""
    from tfkmeans.persist import read_model

    path = Path(path)
    if path.is_dir() and (path / "metadata").is_dir():
        return None  # a Spark model folder: checked when loaded
    return read_model(path)


def _check_matches_model(args, info) -> None:
    model = _model(args.model)
    if model is None:
        return
    attributes = model[0]["attributes"]
    expected = attributes["n_features_in_"]
    if info.n_features != expected:
        raise UserError(
            f"{args.data} has {info.n_features} features, but the model {args.model} "
            f"was fitted on {expected}"
        )
    names = attributes.get("feature_names_in_")
    if names and info.feature_names and list(names) != list(info.feature_names):
        raise UserError(
            f"{args.data} has features {', '.join(info.feature_names)}, but the model "
            f"{args.model} was fitted on {', '.join(names)}"
        )


def _k_range(text: str) -> range:
    try:
        low, high = (int(v) for v in text.split(":"))
    except ValueError:
        raise UserError(f"--k-range must look like 2:10, got {text!r}") from None
    if not 1 <= low <= high:
        raise UserError(f"--k-range needs 1 <= low <= high, got {text!r}")
    if high < 2:
        raise UserError(f"--k-range {text} has no k >= 2 to compare (silhouette needs 2 or more)")
    return range(low, high + 1)


def _check_fit(args) -> None:
    _positive(args, "k", "n_init", "max_iter", "chunk_rows")
    _positive(args, "tol", minimum=0)
    _check_output(args.model, "--model")
    info = _describe(args)
    if info.n_rows is not None and args.k > info.n_rows:
        raise UserError(f"--k {args.k} is larger than the {info.n_rows} rows in {args.data}")


def _check_predict(args) -> None:
    _positive(args, "chunk_rows")
    _check_output(args.out, "--out", (".parquet", ".pq"))
    _check_matches_model(args, _describe(args))


def _check_plot(args) -> None:
    _positive(args, "chunk_rows", "max_points")
    _check_output(args.out, "--out", (".png",))
    _check_matches_model(args, _describe(args))


def _check_elbow(args) -> None:
    _positive(args, "chunk_rows")
    _positive(args, "sample_size", minimum=2)
    ks = _k_range(args.k_range)
    _check_output(args.out, "--out", (".png",))
    info = _describe(args)
    if info.n_rows is not None:
        rows = min(args.sample_size, info.n_rows)
        if ks[-1] > rows:
            raise UserError(
                f"--k-range {args.k_range} goes up to k={ks[-1]}, but only {rows} rows "
                f"are clustered (the file's rows, at most --sample-size)"
            )


def _check_generate(args) -> None:
    _positive(args, "n_samples", "n_features", "centers")
    _positive(args, "cluster_std", minimum=0)
    _check_output(args.out, "out", (".npy", ".parquet", ".pq", ".csv"))


def _check_demo(args) -> None:
    _positive(args, "max_iter")
    _check_folder(args.out, "--out")


def _check_info(args) -> None:
    if _model(args.model) is None:
        raise UserError(f"{args.model} is a Spark model folder; load it in Python to inspect it")


# -- commands --------------------------------------------------------------------------------


def _open(args, path):
    from tfkmeans.files import read

    return read(
        path,
        columns=_columns(args),
        chunk_rows=args.chunk_rows,  # None: the file type's default
        header=args.header,
        handle_invalid=args.handle_invalid,
    )


def _load_model(path):
    from tfkmeans.estimator import KMeans

    return KMeans.load(path)


def _skipped(source) -> str:
    n = getattr(source, "n_skipped", 0)
    return f" ({n} rows with a missing value or infinity skipped)" if n else ""


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
        else:
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
    _say(
        args,
        f"wrote {args.n_samples} x {args.n_features} rows ({args.centers} blobs) to {args.out}",
    )
    return 0


def _cmd_fit(args) -> int:
    from tfkmeans.estimator import KMeans

    source = _open(args, args.data)
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
        f"fitted k={args.k} ({args.algorithm}, init {args.init}) on {source.n_rows} rows x "
        f"{source.n_features} features{_skipped(source)} in {time.perf_counter() - start:.2f} s: "
        f"inertia {km.inertia_:.6g}, {km.n_iter_} iterations; model written to {args.model}"
    )
    return 0


def _cmd_predict(args) -> int:
    km = _load_model(args.model)
    source = _open(args, args.data)
    km.predict(source, out=args.out)
    note = ""
    if getattr(source, "n_skipped", 0):
        note = f"; the {source.n_skipped} skipped rows have label -1 (one row per input row)"
    print(f"labels for {source.n_rows} rows written to {args.out}{note}")
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

    ks = _k_range(args.k_range)
    source = _open(args, args.data)
    rows = min(args.sample_size, source.n_rows)
    if ks[-1] > rows:
        raise UserError(
            f"--k-range {args.k_range} goes up to k={ks[-1]}, but only {rows} rows are "
            "clustered (the file's rows, at most --sample-size)"
        )

    def report(k, inertia, silhouette):
        shown = "undefined" if silhouette != silhouette else f"{silhouette:.4f}"
        _say(args, f"k={k}: inertia={inertia:.6g} silhouette={shown}")

    result = elbow(source, ks, args.out, sample_size=args.sample_size, seed=args.seed, on_k=report)
    if result.best is None:
        print(
            f"elbow plot written to {args.out}; no k in {args.k_range} has a silhouette "
            "(it needs 2 <= k < rows): choose k at the elbow of the inertia"
        )
    else:
        print(
            f"elbow plot written to {args.out}; best silhouette at k={result.best} "
            f"({result.silhouette[result.best]:.4f})"
        )
    return 0


def _cmd_info(args) -> int:
    meta, arrays = _model(args.model)
    centers = arrays["cluster_centers_"]
    attributes = meta["attributes"]
    print(f"tfkmeans model {args.model}")
    print(f"  clusters: {centers.shape[0]}   features: {attributes['n_features_in_']}")
    print(
        f"  inertia: {attributes['inertia_']:.6g}   iterations: {attributes['n_iter_']}   "
        f"dtype: {centers.dtype}"
    )
    if attributes.get("feature_names_in_"):
        print(f"  feature names: {', '.join(attributes['feature_names_in_'])}")
    params = dict(meta["params"])
    if "init" in arrays:
        params["init"] = f"array of shape {arrays['init'].shape}"
    for name, value in sorted({**params, **meta.get("replaced_params", {})}.items()):
        print(f"  {name} = {value!r}")
    return 0


def _progress(args):
    """Progress bars on a terminal, plain lines otherwise (the estimator's verbose)."""
    import contextlib

    from tfkmeans.progress import RichReporter, use_reporter

    if not args.quiet and sys.stderr.isatty():
        return use_reporter(RichReporter)
    return contextlib.nullcontext()


# -- dispatch ------------------------------------------------------------------------------

# Each sub-command: its check (run before TensorFlow is imported), its handler, and
# whether the handler needs TensorFlow at all.
_COMMANDS = {
    "demo": (_check_demo, _cmd_demo, True),
    "generate": (_check_generate, _cmd_generate, False),
    "fit": (_check_fit, _cmd_fit, True),
    "predict": (_check_predict, _cmd_predict, True),
    "plot": (_check_plot, _cmd_plot, True),
    "elbow": (_check_elbow, _cmd_elbow, True),
    "info": (_check_info, _cmd_info, False),
}


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line: a note for what the readers report, a warning otherwise."""
    from tfkmeans.columns import ColumnNotice, RowsSkipped

    kind = "note" if issubclass(category, (ColumnNotice, RowsSkipped)) else "warning"
    print(f"tfkmeans: {kind}: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check, run, needs_tensorflow = _COMMANDS[args.command]
    try:
        check(args)
        if needs_tensorflow:
            _import_tensorflow_quietly()
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return run(args)
    except (UserError, ValueError, TypeError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"tfkmeans: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfkmeans: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
