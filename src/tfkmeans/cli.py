"""The ``tfkmeans`` command line. User errors print one line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with native stderr muted: its start-up notes (no CUDA driver,
    CPU features) are printed before logging is configured and would bury our messages.
    Muting stops at the first op, which is when devices are set up.
    If the import fails, what it printed is shown after all."""
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from tfkmeans.demo import run_demo, run_gradient_demo

    if args.gradient:
        run_gradient_demo(args.out)
    else:
        run_demo(args.out, seed=args.seed, max_iter=args.max_iter)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfkmeans", description="k-means clustering on TensorFlow 2."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _import_tensorflow_quietly()
    try:
        return args.run(args)
    except (UserError, ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tfkmeans: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfkmeans: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
