"""Discretized logistic mixtures (PixelCNN++ style) over ``num_symbols`` bins.

Bin ``k`` covers ``[k - 0.5, k + 0.5]``; bins 0 and ``num_symbols - 1`` take the tails.
Symbol ``k`` starts at the per-symbol rule (:func:`bbans_numba.quantize.share_start`)
over the mixture's CDF at ``k - 0.5``: only the CDF values a push or pop needs are
evaluated, and every bin gets frequency >= 1.
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from .. import portable
from ..quantize import share_start
from ..rans import Model, param_index, register_family

__all__ = ["LOG_SCALE_RANGE", "LogisticMixture", "check_logistic_params", "inverse_scales", "logistic_model"]

# Logistic log-scales (natural log of the scale in pixel units) are clamped into this
# range; models must be trained with the same clamp.
LOG_SCALE_RANGE = (-7.0, 7.0)


@njit(cache=True, inline="always")
def _start(model, lane, step, symbol, precision_bits):
    """Start of ``symbol``: the per-symbol rule over the mixture CDF at ``symbol - 0.5``
    (``weights`` normalized, ``inverse_scales`` of the clamped log-scales)."""
    if symbol <= 0:
        return np.int64(0)
    if symbol >= model.num_symbols:
        return np.int64(1) << precision_bits
    a, b = param_index(model.means, lane, step)
    edge = symbol - 0.5
    cdf_value = 0.0
    for c in range(model.means.shape[2]):  # fixed order: identical on both sides
        scaled = -(edge - model.means[a, b, c]) * model.inverse_scales[a, b, c]
        cdf_value += model.weights[a, b, c] / (1.0 + portable.exp(scaled))
    return share_start(symbol, cdf_value, model.num_symbols, precision_bits)


class LogisticMixture(Model, namedtuple("LogisticMixture", ["means", "inverse_scales", "weights", "num_symbols"])):
    """Mixture parameters of shape (A, B, M) (``A`` in {1, lanes}, ``B`` in {1, steps}):
    means in pixel units, ``exp(-log_scale)``, normalized weights."""

    __slots__ = ()


register_family(LogisticMixture, start=_start)


@njit(cache=True, nogil=True)
def _prepare_params(log_scales, logit_weights):
    """Clamp log-scales and turn logits into weights (softmax), in place, row by row."""
    low, high = LOG_SCALE_RANGE
    rows, components = logit_weights.shape
    for row in range(rows):
        largest = -np.inf
        for c in range(components):
            value = log_scales[row, c]
            log_scales[row, c] = low if not value >= low else min(value, high)
            largest = max(largest, logit_weights[row, c])
        total = 0.0
        for c in range(components):
            logit_weights[row, c] = portable.exp(logit_weights[row, c] - largest)
            total += logit_weights[row, c]
        for c in range(components):
            logit_weights[row, c] /= total


@njit(cache=True, nogil=True)
def inverse_scales(log_scales):
    """``exp(-log_scales)`` by :func:`bbans_numba.portable.exp`, once per mixture instead
    of at every CDF evaluation."""
    out = np.empty_like(log_scales)
    flat_in = log_scales.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = portable.exp(-flat_in[i])
    return out


def check_logistic_params(means, log_scales, logit_weights):
    """Validate and prepare mixture parameters: returns 2-D float64 copies ``(rows, M)``
    with clamped log-scales and softmax weights, plus the batch shape."""
    arrays = [np.array(a, dtype=np.float64) for a in (means, log_scales, logit_weights)]
    if not arrays[0].shape == arrays[1].shape == arrays[2].shape or arrays[0].ndim < 1:
        raise ValueError(
            "means, log_scales and logit_weights must share one shape (..., M), got "
            + ", ".join(str(a.shape) for a in arrays)
        )
    if arrays[0].shape[-1] < 1:
        raise ValueError("a mixture needs at least one component")
    if not np.all(np.isfinite(arrays[0])) or not np.all(np.isfinite(arrays[2])):
        raise ValueError("means and logit_weights must be finite")
    if np.any(np.isnan(arrays[1])):
        raise ValueError("log_scales must not be NaN")
    batch_shape = arrays[0].shape[:-1]
    means, log_scales, weights = (np.ascontiguousarray(a.reshape(-1, a.shape[-1])) for a in arrays)
    _prepare_params(log_scales, weights)
    return means, log_scales, weights, batch_shape


def logistic_model(means, log_scales, logit_weights, precision_bits, num_symbols=256):
    """The checked model and its batch shape (at most two dimensions: lanes, steps)."""
    if isinstance(num_symbols, bool) or not isinstance(num_symbols, (int, np.integer)) or num_symbols < 1:
        raise ValueError(f"num_symbols must be a positive integer, got {num_symbols!r}")
    if (1 << precision_bits) < num_symbols:
        raise ValueError(f"2**precision_bits must be >= num_symbols = {num_symbols}")
    means2d, log_scales2d, weights2d, batch_shape = check_logistic_params(means, log_scales, logit_weights)
    if len(batch_shape) > 2:
        raise ValueError(f"means must have 0, 1 or 2 batch dimensions (lanes, steps), got {batch_shape}")
    rows = batch_shape + (1,) * (2 - len(batch_shape)) + means2d.shape[1:]
    params = (means2d, inverse_scales(log_scales2d), weights2d)
    return LogisticMixture(*(a.reshape(rows) for a in params), int(num_symbols)), batch_shape
