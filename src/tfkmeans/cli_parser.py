"""The ``tfkmeans`` argument parser, apart from the commands it dispatches to.

It is built before TensorFlow is imported, so ``--help``, ``--version`` and the
argument checks answer in a fraction of a second: keep this module free of any
import that loads TensorFlow, directly or through another module. The parser
only names the sub-command (``args.command``); :func:`tfkmeans.cli.main` picks
the check and the handler for it.
"""

from __future__ import annotations

import argparse


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it says it already."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Mistakes on the command line are one line, as every other mistake is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


DATA_HELP = "input rows: .npy, .parquet (file or folder) or .csv"


def _add_data(parser, help_text=DATA_HELP):
    parser.add_argument("data", help=help_text)
    parser.add_argument(
        "--columns",
        help="comma-separated feature columns or globs, e.g. 'x,y' or 'emb_*' (Parquet, CSV). "
        "Default: the one vector (list) column, else every numeric column except row ids "
        "(id, *_id, index, 0,1,2,...), with a note naming what was left out",
    )
    parser.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CSV: the first line names the columns (--header) or is data (--no-header); "
        "default: told from the first lines, as a header unless it holds numbers where "
        "the rows below do",
    )
    parser.add_argument(
        "--handle-invalid",
        choices=["error", "skip"],
        default="error",
        help="a row with NaN, an empty cell, null or infinity: stop with an error naming "
        "it, or skip it and report how many were skipped",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="rows read from the file at a time (default 65536; a float .npy file: "
        "32 MiB of rows); memory grows with it, results do not change",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``args.command`` names the sub-command to run."""
    from tfkmeans import __version__

    parser = _Parser(
        prog="tfkmeans",
        description="k-means clustering on TensorFlow 2.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tfkmeans {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, help_text):
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            formatter_class=_HelpFormatter,
        )

    demo = add("demo", "run the tutorial end to end and write its plots")
    demo.add_argument("--out", default="tfkmeans-demo", help="folder for the PNG plots")
    demo.add_argument("--seed", type=int, default=700, help="random seed of the samples")
    demo.add_argument("--max-iter", type=int, default=100, help="most Lloyd iterations")
    demo.add_argument(
        "--gradient",
        action="store_true",
        help="run the second tutorial instead: gradient descent on make_blobs(500, "
        "random_state=1111), plotted against Lloyd",
    )

    gen = add("generate", "write seeded Gaussian blobs to .npy, .parquet or .csv")
    gen.add_argument("out", help="output file (.npy, .parquet or .csv)")
    gen.add_argument("--n-samples", type=int, default=10000, help="rows")
    gen.add_argument("--n-features", type=int, default=2, help="features (columns x0, x1, ...)")
    gen.add_argument("--centers", type=int, default=5, help="number of blobs")
    gen.add_argument("--cluster-std", type=float, default=1.0, help="standard deviation of a blob")
    gen.add_argument("--float64", action="store_true", help="write float64 (default float32)")
    gen.add_argument("--seed", type=int, default=0, help="random seed")

    fit = add("fit", "cluster a data file and save the model")
    _add_data(fit)
    fit.add_argument("--k", type=int, required=True, help="number of clusters (required)")
    fit.add_argument(
        "--algorithm",
        choices=["lloyd", "elkan", "gradient", "minibatch"],
        default="lloyd",
        help="Lloyd to convergence; elkan (scikit-learn's name: the same result, and on a "
        "file the same plain passes, since bounds are kept for in-memory rows only); "
        "gradient descent on the objective; or mini-batch",
    )
    fit.add_argument(
        "--init",
        choices=["k-means++", "random", "k-means||"],
        default="k-means||",
        help="initial centres (default k-means||: about 5 passes over the file; Python's "
        "KMeans defaults to k-means++, 2-3 passes per centre on a file; "
        "either gives the answer the same rows give in memory)",
    )
    fit.add_argument(
        "--metric", choices=["euclidean", "cosine"], default="euclidean", help="distance"
    )
    fit.add_argument(
        "--n-init",
        type=int,
        default=None,
        help="restarts, the best kept (default: 1, or 10 with --init random)",
    )
    fit.add_argument("--max-iter", type=int, default=300, help="most iterations per restart")
    fit.add_argument(
        "--tol",
        type=float,
        default=1e-4,
        help="stop when the centres move less than this x the mean feature variance",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    fit.add_argument("--model", required=True, help="model file to write (required)")

    pred = add("predict", "label every row of a data file (streamed to Parquet)")
    _add_data(pred)
    pred.add_argument("--model", required=True, help="model file from tfkmeans fit (required)")
    pred.add_argument(
        "--out",
        required=True,
        help=".parquet file to write: label and distance per row, in file order; a row "
        "skipped by --handle-invalid skip gets label -1 (required)",
    )

    plot = add("plot", "scatter plot of the clusters (PCA projection for d > 2)")
    _add_data(plot)
    plot.add_argument("--model", required=True, help="model file from tfkmeans fit (required)")
    plot.add_argument("--out", required=True, help="PNG file to write (required)")
    plot.add_argument("--max-points", type=int, default=20000, help="rows sampled for the plot")
    plot.add_argument("--seed", type=int, default=0, help="random seed of the sample")

    elb = add("elbow", "inertia and silhouette for a range of k, to choose k")
    _add_data(elb)
    elb.add_argument("--k-range", default="2:10", help="low:high, both included")
    elb.add_argument("--out", required=True, help="PNG file to write (required)")
    elb.add_argument("--sample-size", type=int, default=5000, help="rows sampled and clustered")
    elb.add_argument("--seed", type=int, default=0, help="random seed")

    info = add("info", "show a model file's parameters and attributes")
    info.add_argument("model", help="model file from tfkmeans fit")
    return parser
