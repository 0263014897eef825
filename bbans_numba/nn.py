"""Numba building blocks of the coding-time networks: a dense layer, activations, a head.

Reproducibility, by construction
--------------------------------
Encoder and decoder of the codec run in different processes, with different batch sizes
and thread counts, and must see bit-identical outputs. Every output row here depends only
on its own input row, through the same floating-point operations in the same order:

- :func:`dense` accumulates in float32 ``out[r, j] = b[j]; out[r, j] += x[r, k] * W[k, j]``
  for k ascending (k with ``x[r, k] == 0`` skipped, which depends only on that row). Rows
  are grouped into blocks of :data:`ROW_BLOCK` to reuse each weight row from cache, a
  row's sum is never split, and the loop over j vectorizes without any reassociation
  (each lane is a separate output element). Kernels run sequentially and release the
  GIL: chunks of images are what runs in parallel (threads, :mod:`bbans_numba.chunks`);
- kernels are compiled without ``fastmath``, so LLVM may neither reassociate nor contract
  a multiply and an add into an FMA;
- activations and heads are elementwise and call :mod:`bbans_numba.portable` (IEEE-754
  basic operations in a fixed order), never libm: no ``exp``/``expm1``/``log1p`` whose last
  bit depends on the platform's math library.

So batch size, batch split and ``NUMBA_NUM_THREADS`` cannot change a single bit, and neither
can the machine: every IEEE-754 machine computes the same outputs (issue 10;
``tests/test_platform_math.py`` inspects the compiled kernels, ``tests/test_portability.py``
checks a NumPy reference and a decode compiled for another CPU).

An activation is an in-place kernel over a (B, N) float32 array, listed by name in
:data:`ACTIVATIONS` (the same names Keras uses, so training and coding agree on them).

Examples
--------
>>> import numpy as np
>>> x = np.array([[1.0, 0.0], [0.0, -2.0]], dtype=np.float32)
>>> out = dense(x, np.eye(2, dtype=np.float32), np.zeros(2, dtype=np.float32))
>>> relu(out); out.tolist()
[[1.0, 0.0], [0.0, 0.0]]
"""

import numba
import numpy as np

from . import portable

__all__ = ["dense", "relu", "elu", "clipped_softplus", "ACTIVATIONS", "ROW_BLOCK"]

ROW_BLOCK = 8


@numba.njit(cache=True, nogil=True)
def dense(x, kernel, bias):
    """``x @ kernel + bias`` for float32 (B, K) ``x``, row by row (see the module docstring).
    ``ValueError`` unless ``kernel`` is (K, N) and ``bias`` (N,): the loops index by those sizes."""
    if x.shape[1] != kernel.shape[0] or bias.shape[0] != kernel.shape[1]:
        raise ValueError("dense: x (B, K), kernel (K, N) and bias (N,) must match")
    rows, outputs = x.shape[0], kernel.shape[1]
    out = np.empty((rows, outputs), dtype=np.float32)
    for block in range((rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first, stop = block * ROW_BLOCK, min(block * ROW_BLOCK + ROW_BLOCK, rows)
        for r in range(first, stop):
            row = out[r]
            for j in range(outputs):  # an explicit loop: a slice assignment pulls llvm.log10 into the kernel
                row[j] = bias[j]
        for k in range(kernel.shape[0]):
            weights = kernel[k]
            for r in range(first, stop):
                xk = x[r, k]
                if xk != 0:
                    row = out[r]
                    for j in range(outputs):
                        row[j] += xk * weights[j]
    return out


@numba.njit(cache=True, nogil=True)
def relu(h):
    """``h = max(h, 0)`` in place, for float32 (B, N) ``h``."""
    for r in range(h.shape[0]):
        row = h[r]
        for j in range(h.shape[1]):
            row[j] = max(row[j], np.float32(0))


@numba.njit(cache=True, nogil=True)
def elu(h):
    """``h = h if h >= 0 else expm1(h)`` in place, for float32 (B, N) ``h``.

    ``expm1`` is :func:`bbans_numba.portable.expm1` in float64, rounded once to float32
    (training: ``training.portable_ops.elu``, the same formula in float32).
    """
    for r in range(h.shape[0]):
        row = h[r]
        for j in range(h.shape[1]):
            value = row[j]
            if value < 0:
                row[j] = np.float32(portable.expm1(np.float64(value)))


# Activation name (as Keras spells it) -> in-place kernel. An architecture lists which of
# these it supports; training refuses any other before it starts.
ACTIVATIONS = {"relu": relu, "elu": elu}


@numba.njit(cache=True, nogil=True)
def clipped_softplus(raw, low, high):
    """``clip(softplus(raw), low, high)`` in float64, elementwise, for (B, N) float32 ``raw``.

    How every positive parameter is made (posterior standard deviations, beta-binomial
    shapes), with :func:`bbans_numba.portable.softplus`; training uses the same formula in
    Keras (``training.portable_ops.softplus``).
    """
    out = np.empty(raw.shape, dtype=np.float64)
    for r in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            x = np.float64(raw[r, j])
            out[r, j] = min(max(portable.softplus(x), low), high)
    return out
