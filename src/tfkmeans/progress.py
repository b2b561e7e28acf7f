"""Progress reports shared by every algorithm, so ``verbose=True`` reads the same everywhere.

Lines go to stderr. Long runs are thinned (the first ten steps, then every
tenth, then the last) so verbose output never floods a log.
"""

from __future__ import annotations

import sys
from typing import TextIO


def should_report(step: int) -> bool:
    return step <= 10 or step % 10 == 0


class IterationReporter:
    """Prints ``<algorithm> step <i>: objective=<v> shift=<s>`` lines; a no-op when quiet."""

    def __init__(self, algorithm: str, enabled: bool, stream: TextIO | None = None) -> None:
        self.algorithm = algorithm
        self.enabled = bool(enabled)
        self.stream = stream
        self._last: tuple[int, float, float] | None = None

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
