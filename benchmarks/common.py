"""What every benchmark shares: the machine line, timing a step, publishing a table."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def machine() -> str:
    """CPU model, cores and library versions, for the line above every table."""
    import faiss
    import sklearn
    import tensorflow as tf

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        intelex = f", scikit-learn-intelex {version('scikit-learn-intelex')}"
    except Exception:  # noqa: BLE001 - the peer is optional
        intelex = ""
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, scikit-learn {sklearn.__version__}, faiss {faiss.__version__}"
        f"{intelex}"
    )


def publish(lines: list[str], out: str | os.PathLike) -> None:
    """Prints a Markdown table and writes it to ``out`` (README quotes these files)."""
    table = "\n".join(lines)
    print(table)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(table + "\n")


def median_seconds(
    work: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Median ``clock`` seconds of ``work`` over ``repeats`` runs, after one untimed run
    (which fills caches and compiles). ``time.process_time`` gives CPU seconds."""
    work()
    times = []
    for _ in range(repeats):
        start = clock()
        work()
        times.append(clock() - start)
    return statistics.median(times)
