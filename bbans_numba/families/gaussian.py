"""Gaussian latents over equal-mass standard-normal buckets: N(mean, std) quantized onto
the ``2**bucket_bits`` buckets of :func:`bbans_numba.quantize.std_normal_bucket_edges`.

* :class:`GaussianExact` (``method="exact"``): the per-symbol rule with
  ``F(k) = Phi((edge[k-1] - mean) / std)``: every bucket >= 1 (needs
  ``precision_bits >= bucket_bits``); a pop bisects.
* :class:`GaussianHistogram` (``method="histogram"``, the *histogram quantizer*):
  ``2**precision_bits`` equiprobable points ``mean + std * ndtri((j + 0.5) /
  2**precision_bits)`` are counted into the buckets; the count of bucket ``k`` is its
  frequency.  Because the points are sorted, ``start(k)`` is the number of points below
  ``edge[k-1]`` (a search of the points, started at a guess from ``Phi``: the guess only
  saves probes, the count compares points), and the bucket of slot ``cf`` is the bucket
  of point ``cf``.  Buckets no point falls into get frequency 0: they cannot be coded.
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from ..quantize import check_bucket_bits, histogram_points, share_start, std_normal_bucket_edges, std_normal_cdf
from ..rans import Model, check_precision, param_index, register_family

__all__ = ["GaussianExact", "GaussianHistogram", "gaussian_model", "check_gaussian_method", "check_gaussian_params"]


@njit(cache=True, inline="always")
def _exact_start(model, lane, step, bucket, precision_bits):
    """Start of ``bucket`` (0 .. K) under the exact-CDF quantizer."""
    if bucket <= 0:
        return np.int64(0)
    if bucket >= model.num_symbols:
        return np.int64(1) << precision_bits
    a, b = param_index(model.means, lane, step)
    value = std_normal_cdf((model.edges[bucket - 1] - model.means[a, b]) / model.stds[a, b])
    return share_start(bucket, value, model.num_symbols, precision_bits)


@njit(cache=True, nogil=True)
def _histogram_start(model, lane, step, bucket, precision_bits):
    """Number of histogram points ``mean + std * points[j]`` below ``bucket``'s lower edge.

    An ordinary call, not inlined: the push (an interval: two starts) and the pop (two more)
    then share one compiled copy (a shorter cold start; the kernels run as fast)."""
    points = model.points
    if bucket <= 0:
        return np.int64(0)
    if bucket >= model.num_symbols:
        return np.int64(points.size)
    a, b = param_index(model.means, lane, step)
    mean, std, edge = model.means[a, b], model.stds[a, b], model.edges[bucket - 1]
    # The answer is the first j with not (mean + std * points[j] < edge) (a monotone test).
    # Guess it from the CDF, j ~ Phi((edge - mean) / std) * count - 0.5, then bracket it by
    # galloping from the guess and binary-search the bracket: the same index as a binary
    # search of all points, in a few probes near the guess instead of log2(count).
    count = points.size
    guess = std_normal_cdf((edge - mean) / std) * count - 0.5
    j = 0 if not guess > 0.0 else min(np.int64(math.ceil(guess)), count)
    stride = 1
    if j > 0 and not mean + std * points[j - 1] < edge:  # the answer is below j
        high = j - 1
        low = max(high - stride, 0)
        while low > 0 and not mean + std * points[low] < edge:
            stride *= 2
            high = low
            low = max(high - stride, 0)
    else:  # the answer is j or above
        low = j
        high = min(low + stride, count)
        while high < count and mean + std * points[high] < edge:
            stride *= 2
            low = high + 1
            high = min(low + stride, count)
    while low < high:  # invariant: points below edge are exactly [0, answer), low <= answer <= high
        middle = (low + high) >> 1
        if mean + std * points[middle] < edge:
            low = middle + 1
        else:
            high = middle
    return np.int64(low)


@njit(cache=True, inline="always")
def _histogram_quantile(model, lane, step, slot, precision_bits):
    """The bucket that histogram point number ``slot`` falls into, and its interval."""
    a, b = param_index(model.means, lane, step)
    value = model.means[a, b] + model.stds[a, b] * model.points[slot]
    low, high = 0, model.edges.size  # count of edges <= value
    while low < high:
        middle = (low + high) >> 1
        if model.edges[middle] <= value:
            low = middle + 1
        else:
            high = middle
    first = _histogram_start(model, lane, step, low, precision_bits)
    return np.int64(low), first, _histogram_start(model, lane, step, low + 1, precision_bits) - first


class GaussianExact(Model, namedtuple("GaussianExact", ["means", "stds", "edges", "num_symbols"])):
    """N(means[a, b], stds[a, b]) (float64, shape (A, B)) over the buckets with inner
    ``edges``, by the exact-CDF quantizer."""

    __slots__ = ()


class GaussianHistogram(Model, namedtuple("GaussianHistogram", ["means", "stds", "edges", "points", "num_symbols"])):
    """As :class:`GaussianExact`, by the histogram quantizer over N(0, 1) ``points``."""

    __slots__ = ()


register_family(GaussianExact, start=_exact_start)
register_family(GaussianHistogram, start=_histogram_start, quantile=_histogram_quantile)


def check_gaussian_params(mean, std):
    """Validate posterior parameters (finite means, finite positive stds, same shape)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != std.shape:
        raise ValueError(f"mean {mean.shape} and std {std.shape} must have the same shape")
    if not np.all(np.isfinite(mean)):
        raise ValueError("mean must be finite")
    if not (np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError("std must be finite and > 0 (a standard deviation, not a variance or log)")
    return mean, std


def check_gaussian_method(method, bucket_bits, precision_bits):
    """Validate the quantizer settings; returns the checked ``(bucket_bits, precision_bits)``."""
    bucket_bits = check_bucket_bits(bucket_bits)
    precision_bits = check_precision(precision_bits)
    if method not in ("exact", "histogram"):
        raise ValueError(f"method must be 'exact' or 'histogram', got {method!r}")
    if method == "exact" and precision_bits < bucket_bits:
        raise ValueError(f"the exact quantizer needs precision_bits >= bucket_bits ({precision_bits} < {bucket_bits})")
    if method == "histogram" and precision_bits > 24:
        raise ValueError(f"the histogram quantizer supports precision_bits <= 24, got {precision_bits}")
    return bucket_bits, precision_bits


def gaussian_model(mean, std, bucket_bits, precision_bits, method):
    """The checked model of N(mean, std) (same shape: (), (lanes,) or (lanes, steps))."""
    bucket_bits, precision_bits = check_gaussian_method(method, bucket_bits, precision_bits)
    mean, std = check_gaussian_params(mean, std)
    if mean.ndim > 2:
        raise ValueError(f"mean must have 0, 1 or 2 batch dimensions (lanes, steps), got shape {mean.shape}")
    rows = mean.shape + (1,) * (2 - mean.ndim)
    params = (np.ascontiguousarray(mean).reshape(rows), np.ascontiguousarray(std).reshape(rows))
    edges = std_normal_bucket_edges(bucket_bits)
    if method == "exact":
        return GaussianExact(*params, edges, edges.size + 1)
    return GaussianHistogram(*params, edges, histogram_points(precision_bits), edges.size + 1)
