"""TensorFlow's CSR sparse-dense product on CPU, reached from graphs, for Lloyd passes.

TensorFlow's CPU ``SparseMatrixMatMul`` has two kernels: an Eigen one (float32 and
float64), and oneDNN's (``_MklNativeSparseMatrixMatMul``, float32 only, threaded over
the intra-op pool). Eager calls are rewritten to oneDNN's; graph calls (a
``tf.function``) are not, and there the Eigen kernel ran 5x slower in float32 (100k x
50k, 5M values, k=20: 65 ms vs 12 ms). So a float32 graph names oneDNN's kernel
itself; float64 keeps the Eigen kernel, which sums each row's products in order,
exactly as ``tf.sparse.sparse_dense_matmul`` and scikit-learn do.

Both of a Lloyd pass's products use it: x.c with the rows as CSR, and the per-cluster
sums as rows^T @ (one-hot labels x weights) with the transposed rows kept as a second
CSR (the kernels have no cheap transpose flag: transposing per call cost 80 ms).
oneDNN's float32 distances can differ from the plain sparse product in the last bit
(its own summation order), so rows whose two nearest centres tie within float32
rounding may take the other label.

``available(dtype)`` probes the kernel once (a tiny product checked against NumPy);
where it is missing (no oneDNN build, a GPU) the callers keep ``tf.sparse`` products.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from tfkmeans.tfload import tf

_ONEDNN = "_MklNativeSparseMatrixMatMul"


def matmul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """a @ b for a CSR matrix ``a`` (``csr_matrix``) and a dense ``b`` of its dtype, in
    a graph: oneDNN's kernel for float32, Eigen's for float64."""
    if b.dtype != tf.float32:
        return tf.raw_ops.SparseMatrixMatMul(a=a, b=b)
    from tensorflow.core.framework import attr_value_pb2

    attrs = {
        "T": attr_value_pb2.AttrValue(type=b.dtype.as_datatype_enum),
        # The label oneDNN's layout pass gives the node when it rewrites one.
        "_kernel": attr_value_pb2.AttrValue(s=b"MklNameChangeOp"),
    }
    graph = tf.compat.v1.get_default_graph()
    op = graph.create_op(_ONEDNN, [a, b], [b.dtype], name="OneDnnCsrMatMul", attrs=attrs)
    return op.outputs[0]


def csr_matrix(matrix: sp.csr_matrix, dtype: np.dtype) -> tf.Tensor:
    """A canonical scipy CSR matrix as TensorFlow's CSR matrix (a variant tensor that
    carries its shape and dtype, as graph shape inference needs), values in ``dtype``."""
    from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops

    coo = matrix.tocoo()
    pairs = np.stack([coo.row.astype(np.int64), coo.col.astype(np.int64)], 1)
    tensor = tf.SparseTensor(pairs, coo.data.astype(dtype, copy=False), matrix.shape)
    return sparse_csr_matrix_ops.CSRSparseMatrix(tensor)._matrix


@tf.function(autograph=False)
def _probe(a, b):
    return matmul(a, b)


@functools.cache
def available(dtype: np.dtype) -> bool:
    """Whether the kernel for ``dtype`` (float32 or float64) runs here (CPU only) and
    gives the product."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64) or tf.config.list_physical_devices("GPU"):
        return False
    a = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, 0.0]]))
    b = np.arange(6, dtype=dtype).reshape(3, 2)
    try:
        got = _probe(csr_matrix(a, dtype), tf.constant(b)).numpy()
    except Exception:  # noqa: BLE001 - any failure means: use the tf.sparse products
        return False
    return bool(np.array_equal(got, a @ b))
