"""TensorFlow, imported without its start-up lines reaching the user's terminal.

Importing TensorFlow and creating its first device context print lines from C++
(``oneDNN custom operations are on``, ``Could not find cuda drivers``, ``failed
call to cuInit`` on a machine without a GPU) before ``TF_CPP_MIN_LOG_LEVEL`` is read,
so the variable alone does not hide them. Here the process's stderr (file
descriptor 2) is sent to a temporary file for the import and the device probe, and
every line that is not one of TensorFlow's log lines is written back. The
``tf.function`` retracing warnings that name one of our own functions are dropped
too: they ask the user to fix code that is ours (a sweep over k traces once per k).

Keras is left to load on first use (``_KerasOnFirstUse``), a third of the import.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A log line of TensorFlow's C++ runtime (absl: severity letter, date or zeros, time)
# or absl's notice that it logs to stderr before being initialised.
_NATIVE_LOG = re.compile(
    r"^([IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] |WARNING: All log messages before absl)"
)


class _Refused(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError("Keras loads on first use of tf.keras (tfkmeans.tfload)")


class _KerasOnFirstUse(importlib.abc.MetaPathFinder):
    """While TensorFlow imports, Keras' package is found but not run.

    Why: ``import tensorflow`` ends with an eager ``import keras.src.optimizers``
    (Keras 3, and scikit-learn through its wrappers): 1.2 s of a 3.6 s import on a
    2-core AMD EPYC (3.6-3.9 -> 2.4-2.7 s). tfkmeans needs Keras only for the gradient
    variant's optimizers, and ``tf.keras`` is TensorFlow's lazy loader, which imports
    Keras on first use as before. TensorFlow reads Keras' folder from the real spec
    and catches the ImportError of its eager load; Keras' ``__init__`` never starts, so
    no module is left half-imported.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = _Refused()
        return spec


@contextlib.contextmanager
def _keras_on_first_use():
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "") in ("true", "True", "1")
    if legacy or "keras" in sys.modules:
        yield
        return
    finder = _KerasOnFirstUse()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _import_quietly():
    """``import tensorflow`` and its first device probe with fd 2 filtered."""
    if "tensorflow" in sys.modules:  # imported by the user already: nothing to hide
        import tensorflow

        return tensorflow
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters)
        with _keras_on_first_use():
            import tensorflow

        return tensorflow
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            with _keras_on_first_use():
                import tensorflow

            tensorflow.config.list_physical_devices()  # the CUDA probe, now
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = _not_logged(captured.read().decode(errors="replace"))
            if kept:
                sys.stderr.write(kept)
    return tensorflow


def _not_logged(text: str) -> str:
    """``text`` less TensorFlow's log entries: a log line and the lines that continue it
    (``To enable the following instructions: ...``), up to a blank line or a traceback."""
    kept, in_entry = [], False
    for line in text.splitlines(keepends=True):
        if _NATIVE_LOG.match(line):
            in_entry = True
        elif not line.strip() or line.startswith("Traceback"):
            in_entry = False
        if not in_entry:
            kept.append(line)
    return "".join(kept)


class _OwnRetracing(logging.Filter):
    """Drops TensorFlow's retracing warning when the retraced function is one of ours."""

    _NAME = re.compile(r"calls to <function (\S+) at ")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "triggered tf.function retracing" not in message:
            return True
        found = self._NAME.search(message)
        if found is None:
            return True
        name = found.group(1).rsplit(".", 1)[-1]
        ours = [m for n, m in list(sys.modules.items()) if n.startswith("tfkmeans.") and m]
        return not any(hasattr(module, name) for module in ours)


tf = _import_quietly()
tf.get_logger().addFilter(_OwnRetracing())

__all__ = ["tf"]
