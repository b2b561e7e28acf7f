"""Progress reports shared by every algorithm, so ``verbose=True`` reads the same everywhere.

Lines go to stderr. Long runs are thinned (the first ten steps, then every
tenth, then the last) so verbose output never floods a log.

Streaming sources also report rows done within each pass over a file
(``report_rows``), so a pass that takes minutes shows progress inside it: a
second bar on a terminal; as plain lines, at most three per pass (at 25, 50
and 75% of the rows), only for passes of at least MIN_CHUNKS_FOR_LINES chunks
that ``should_report`` keeps.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO


def should_report(step: int) -> bool:
    return step <= 10 or step % 10 == 0


# Plain progress lines within a pass only for passes over at least this many chunks.
MIN_CHUNKS_FOR_LINES = 8

RowsListener = Callable[[int, "int | None"], None]
_rows_listener: RowsListener | None = None


def report_rows(done: int, total: int | None) -> None:
    """Called by streaming sources: ``done`` rows of this pass so far (0 starts a pass)."""
    if _rows_listener is not None:
        _rows_listener(done, total)


@contextlib.contextmanager
def rows_reported_to(listener: RowsListener) -> Iterator[None]:
    """Row progress of every pass inside the block goes to ``listener``."""
    global _rows_listener
    previous, _rows_listener = _rows_listener, listener
    try:
        yield
    finally:
        _rows_listener = previous


class IterationReporter:
    """Prints ``<algorithm> step <i>: objective=<v> shift=<s>`` lines; a no-op when quiet."""

    def __init__(self, algorithm: str, enabled: bool, stream: TextIO | None = None) -> None:
        self.algorithm = algorithm
        self.enabled = bool(enabled)
        self.stream = stream
        self._last: tuple[int, float, float] | None = None
        self._passes = 0  # passes over a streaming source so far
        self._quarter = 0  # quarters of the current pass already reported
        self._first_chunk = 0  # rows in the current pass's first chunk

    def _new_pass(self, done: int) -> bool:
        if done == 0:
            self._passes += 1
            self._quarter = self._first_chunk = 0
        elif not self._first_chunk:
            self._first_chunk = done
        return done == 0

    def rows(self, done: int, total: int | None) -> None:
        """Rows done within the current pass over a file: a line at each quarter crossed,
        for passes of at least MIN_CHUNKS_FOR_LINES chunks (short passes need none)."""
        if self._new_pass(done) or not self.enabled or not total or done >= total:
            return
        if self._first_chunk * MIN_CHUNKS_FOR_LINES > total:
            return
        quarter = min(4 * done // total, 3)
        if quarter > self._quarter and should_report(self._passes):
            self._quarter = quarter
            self._write(
                f"[tfkmeans] {self.algorithm} pass {self._passes}: {done}/{total} rows "
                f"({100 * done // total}%)"
            )

    def _write(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def start(self, run: int, n_runs: int) -> None:
        if self.enabled:
            self._write(f"[tfkmeans] {self.algorithm}: initialization {run}/{n_runs} complete")

    def __call__(self, step: int, objective: float, shift: float) -> None:
        self._last = (step, objective, shift)
        if self.enabled and should_report(step):
            self._write(
                f"[tfkmeans] {self.algorithm} step {step}: objective={objective:.6g} "
                f"shift={shift:.3g}"
            )

    def finish(self, inertia: float) -> None:
        if not self.enabled:
            return
        if self._last is not None and not should_report(self._last[0]):
            step, objective, shift = self._last
            self._write(
                f"[tfkmeans] {self.algorithm} step {step}: objective={objective:.6g} "
                f"shift={shift:.3g}"
            )
        steps = self._last[0] if self._last else 0
        self._write(f"[tfkmeans] {self.algorithm}: done after {steps} steps, inertia={inertia:.6g}")

    def close(self) -> None:
        """Called once when the fit ends."""


class RichReporter(IterationReporter):
    """A live progress bar (rich) for terminals: step, objective and shift."""

    def __init__(self, algorithm: str, enabled: bool, stream: TextIO | None = None, total=None):
        super().__init__(algorithm, enabled, stream)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(file=stream or sys.stderr),
            transient=False,
        )
        self._total = total
        self._task = None
        self._rows_task = None

    def rows(self, done: int, total: int | None) -> None:
        """Rows done within the current pass, as a second bar under the steps."""
        self._new_pass(done)
        if not self.enabled:
            return
        if self._rows_task is None:
            if self._task is None:
                self._progress.start()
            self._rows_task = self._progress.add_task("rows", total=total, status="")
        self._progress.update(
            self._rows_task,
            description=f"pass {self._passes}",
            completed=done,
            total=total,
        )

    def start(self, run: int, n_runs: int) -> None:
        if not self.enabled:
            return
        if self._task is None and self._rows_task is None:
            self._progress.start()
        elif self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            f"{self.algorithm} {run}/{n_runs}", total=self._total, status=""
        )

    def __call__(self, step: int, objective: float, shift: float) -> None:
        self._last = (step, objective, shift)
        if self.enabled and self._task is not None:
            status = f"objective={objective:.6g} shift={shift:.3g}"
            self._progress.update(self._task, completed=step, status=status)

    def finish(self, inertia: float) -> None:
        if self.enabled and self._task is not None:
            steps = self._last[0] if self._last else 0
            self._progress.update(
                self._task, total=steps, completed=steps, status=f"done, inertia={inertia:.6g}"
            )
            self._progress.refresh()

    def close(self) -> None:
        if self._task is not None or self._rows_task is not None:
            self._progress.stop()


_reporter_class: type[IterationReporter] = IterationReporter


def make_reporter(algorithm: str, enabled: bool, total: int | None = None) -> IterationReporter:
    """The reporter in use: plain lines by default, a progress bar inside ``use_reporter``."""
    if _reporter_class is IterationReporter:
        return IterationReporter(algorithm, enabled)
    return _reporter_class(algorithm, enabled, total=total)


@contextlib.contextmanager
def use_reporter(cls: type[IterationReporter]) -> Iterator[None]:
    """Reports of every fit inside the block go through ``cls`` (the CLI's progress bar)."""
    global _reporter_class
    previous, _reporter_class = _reporter_class, cls
    try:
        yield
    finally:
        _reporter_class = previous
