"""k-means by gradient descent (Bottou & Bengio 1995), the second tutorial's algorithm.

The objective E(W) = sum_i w_i min_k ||x_i - W_k||^2 is written once, in
TensorFlow (``row_kernels.objective``), and differentiated with ``tf.GradientTape``
on each chunk (``Source.objective_and_gradient``); a Keras optimizer
("sgd", "adam" or an instance) takes the steps. The pass over the rows is
chunked, so memory stays O(chunk x k). Unlike Lloyd, nothing here assumes
the update has a closed form: this is the template for objectives that don't.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tfkmeans.sources import Source
from tfkmeans.tfload import tf

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(optimizer, learning_rate: float):
    """A fresh Keras optimizer: by name, or a copy of the given instance (one per restart)."""
    if isinstance(optimizer, str):
        if optimizer == "sgd":
            return tf.keras.optimizers.SGD(learning_rate=learning_rate)
        if optimizer == "adam":
            return tf.keras.optimizers.Adam(learning_rate=learning_rate)
        raise ValueError(
            f"optimizer must be one of {OPTIMIZERS} or an optimizer instance, got {optimizer!r}"
        )
    if hasattr(optimizer, "apply_gradients") and hasattr(optimizer, "get_config"):
        return type(optimizer).from_config(optimizer.get_config())
    raise TypeError(
        f"optimizer must be one of {OPTIMIZERS} or a Keras/TF optimizer instance, got "
        f"{type(optimizer).__name__}"
    )


def default_learning_rate(optimizer, source: Source) -> float:
    """A stable default: for "sgd" on the summed objective, a step of 1 / (2 * total weight)
    moves each centre at most halfway to its cluster mean; Adam steps are in data units."""
    if isinstance(optimizer, str) and optimizer == "sgd":
        return 0.5 / source.total_weight
    return 0.05 * float(np.sqrt(max(source.mean_variance, 1e-12)))


@dataclass(frozen=True)
class GradientResult:
    centers: np.ndarray  # centred coordinates, float64
    n_iter: int
    objective_history: list[float]


def gradient_descent(
    source: Source,
    centers: np.ndarray,
    *,
    optimizer,
    learning_rate: float,
    max_iter: int,
    tol: float,
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    on_iteration: Callable[[int, float, float], None] | None = None,
) -> GradientResult:
    """Minimise E(W) from ``centers`` until its relative change is <= tol or max_iter steps."""
    dtype = tf.as_dtype(source.dtype)
    variable = tf.Variable(tf.constant(centers, dtype=dtype))
    opt = make_optimizer(optimizer, learning_rate)
    history: list[float] = []
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        before = variable.numpy().astype(np.float64)
        value, grad = source.objective_and_gradient(variable)
        opt.apply_gradients([(grad, variable)])
        if normalize is not None:
            variable.assign(tf.constant(normalize(variable.numpy().astype(np.float64)), dtype))
        history.append(value)
        shift = float(np.sum((variable.numpy() - before) ** 2))
        if on_iteration is not None:
            on_iteration(n_iter, value, shift)
        if len(history) > 1 and abs(history[-2] - value) <= tol * max(abs(history[-2]), 1e-300):
            break
    return GradientResult(variable.numpy().astype(np.float64), n_iter, history)
