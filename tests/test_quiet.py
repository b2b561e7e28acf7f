"""No TensorFlow start-up line or retracing warning reaches the user's stderr."""

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

SWEEP = """
from sklearn.datasets import make_blobs
from tfkmeans import KMeans
X, _ = make_blobs(3000, n_features=5, centers=4, random_state=0)
for k in range(2, 8):  # one trace per k: TensorFlow warns from the fifth
    KMeans(k, random_state=0).fit(X)
print("fitted")
"""

TF_LINE = re.compile(r"tensorflow|cuInit|cuda|oneDNN|absl|retracing|^[IWEF]\d{4} ", re.I | re.M)


def run_quietly(script: str) -> str:
    """``script`` in a user's process with no TensorFlow settings: its stdout, after
    checking that it succeeded and that no TensorFlow line reached stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PYTHONPATH"] = SRC
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not TF_LINE.search(out.stderr), out.stderr[-2000:]
    return out.stdout


def test_a_fit_sweep_prints_nothing_from_tensorflow():
    """A sweep over k: stderr stays empty."""
    assert run_quietly(SWEEP).strip() == "fitted"


def test_retracing_filter_drops_only_our_functions():
    from tfkmeans import device_steps  # noqa: F401 - loads the filter and our functions
    from tfkmeans.tfload import _OwnRetracing

    def record(message):
        return logging.LogRecord("tensorflow", logging.WARNING, "", 0, message, None, None)

    template = (
        "5 out of the last 5 calls to <function {} at 0x7f00> triggered tf.function retracing."
    )
    keep = _OwnRetracing()
    assert not keep.filter(record(template.format("_lloyd_steps_dynamic")))
    assert keep.filter(record(template.format("users_own_function")))
    assert keep.filter(record("some other tensorflow warning"))


def test_native_log_entries_are_dropped_and_other_lines_kept():
    from tfkmeans.tfload import _not_logged

    text = (
        "W0000 00:00:1796219231.192347   24369 cpu_feature_guard.cc:210] This binary is optimized.\n"
        "To enable the following instructions: AVX2 FMA, rebuild TensorFlow.\n"
        "\n"
        "E0000 00:00:1796219245.570795   24369 cuda_platform.cc:52] failed call to cuInit\n"
        "Traceback (most recent call last):\n"
        "ValueError: a real problem\n"
    )
    assert _not_logged(text) == "\nTraceback (most recent call last):\nValueError: a real problem\n"


KERAS_LATER = """
import sys
from sklearn.datasets import make_blobs
from tfkmeans import KMeans
X, _ = make_blobs(500, n_features=3, centers=3, random_state=0)
KMeans(3, random_state=0).fit(X)
print("keras after a default fit:", "keras" in sys.modules)
from tfkmeans.tfload import tf
assert "Adam" in type(tf.keras.optimizers.Adam(0.1)).__name__
km = KMeans(3, algorithm="gradient", optimizer="adam", random_state=0, max_iter=20).fit(X)
print("keras after a gradient fit:", "keras" in sys.modules)
"""


def test_keras_loads_on_first_use_not_with_tensorflow():
    """TensorFlow's import leaves Keras out (a third of it); tf.keras still works."""
    assert run_quietly(KERAS_LATER).split("\n")[:2] == [
        "keras after a default fit: False",
        "keras after a gradient fit: True",
    ]
