"""What every benchmark shares: the machine line, timing a step, publishing a table."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def _version(module: str) -> str:
    """An installed module's version from its package metadata, without importing it:
    importing TensorFlow here printed its start-up lines into every benchmark's output
    (the library itself imports it quietly, through tfkmeans.tfload)."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for name in packages_distributions().get(module, []) or [module]:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def machine() -> str:
    """CPU model, cores and library versions, for the line above every table."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    intelex = _version("sklearnex")
    intelex = "" if intelex == "not installed" else f", scikit-learn-intelex {intelex}"
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {_version('tensorflow')}, scikit-learn {_version('sklearn')}, "
        f"faiss {_version('faiss')}{intelex}"
    )


def load_average() -> list[str]:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg writes them."""
    return Path("/proc/loadavg").read_text().split()[:3]


def load_lines(before: list[str], after: list[str]) -> list[str]:
    """The table's footnote on how busy the machine was during the run."""
    return [
        "",
        f"Load average (1, 5, 15 min) before: {', '.join(before)}; after: "
        f"{', '.join(after)} (this run alone keeps about 2 busy; more means other work "
        "shared the 2 cores).",
    ]


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
