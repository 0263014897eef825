"""Probabilities to integer frequencies, identically on the encoder and decoder side.

Every quantizer here returns frequencies that sum *exactly* to ``2**precision_bits`` and
gives frequency >= 1 to every symbol that can occur.  Encoder and decoder run the same
jitted code on the same float inputs, so they compute bit-identical tables.

Two ways of quantizing appear:

* **Whole tables** (:func:`quantize_probs`, :func:`beta_binomial_cdf`): the full
  frequency table of a distribution is built, then searched.  (With one beta-binomial
  per symbol, :func:`beta_binomial_intervals` and the codec's pop evaluate the same
  recurrence and sums per symbol and read off only the starts they need: same values.)
* **Per-symbol rules** (logistic mixtures, Gaussians over standard-normal buckets): the
  interval of symbol ``k`` is a closed-form function of ``k``, so a push evaluates two CDF
  values and a pop binary-searches ``k``; no table is materialized.  The rule
  ``start(k) = k + floor(F(k) * (2**precision_bits - K))`` with ``F`` a CDF (``F(0) = 0``,
  ``start(K) = 2**precision_bits``) gives every bin ``1 +`` its share of the remaining mass.

Latent buckets: ``2**bucket_bits`` buckets of equal mass under N(0, 1), with edges
``ndtri(k / 2**bucket_bits)`` and centres ``ndtri((k + 0.5) / 2**bucket_bits)`` (the
bucket medians, which are handed to the decoder network).  A posterior N(mean, std) is
quantized onto them by

* ``method="exact"``: the per-symbol rule with ``F(k) = Phi((edge[k-1] - mean) / std)``;
* ``method="histogram"``: the *histogram quantizer*: ``2**precision_bits`` equiprobable
  points ``mean + std * ndtri((j + 0.5) / 2**precision_bits)`` are counted into the
  buckets; the count of bucket ``k`` is its frequency.  Because the points are sorted,
  ``start(k)`` is the number of points below ``edge[k-1]`` (a search of the points,
  started at a guess from ``Phi``: the guess only saves probes, the count compares
  points), and the bucket of slot ``cf`` is the bucket of point ``cf``.  Buckets no
  point falls into get frequency 0: they cannot be popped.
"""

import functools
import math

import numpy as np
from numba import njit
from scipy.special import ndtri

from .rans import check_precision

__all__ = [
    "quantize_probs",
    "freqs_to_cdf",
    "std_normal_bucket_edges",
    "std_normal_bucket_centres",
    "histogram_points",
    "beta_binomial_cdf",
    "gaussian_bucket_freqs",
    "logistic_mixture_freqs",
    "BETA_BINOMIAL_PARAM_RANGE",
    "LOG_SCALE_RANGE",
]

# Beta-binomial shape parameters are clamped into this range (NaN -> the lower bound);
# models must be trained with the same clamp.
BETA_BINOMIAL_PARAM_RANGE = (1e-6, 1e6)
# Logistic log-scales (natural log of the scale in pixel units) are clamped likewise.
LOG_SCALE_RANGE = (-7.0, 7.0)

_SQRT_HALF = math.sqrt(0.5)
_RESCALE_ABOVE = 1e150  # beta-binomial recurrence: rescale before float64 overflows


# --- categorical ------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _quantize_rows(probs, precision_bits, freqs):
    total = 1 << precision_bits
    num_symbols = probs.shape[1]
    remainders = np.empty(num_symbols, dtype=np.float64)
    for row in range(probs.shape[0]):
        mass = 0.0
        nonzero = 0
        for k in range(num_symbols):
            mass += probs[row, k]
            if probs[row, k] > 0.0:
                nonzero += 1
        # Every possible symbol gets 1; the other total - nonzero units are shared out in
        # proportion (floor), and what floor leaves goes to the largest remainders.
        share = total - nonzero
        assigned = 0
        for k in range(num_symbols):
            if probs[row, k] > 0.0:
                exact = probs[row, k] / mass * share
                whole = min(math.floor(exact), share)
                freqs[row, k] = 1 + whole
                remainders[k] = exact - whole
                assigned += 1 + whole
            else:
                freqs[row, k] = 0
                remainders[k] = -1.0
        leftover = total - assigned
        if leftover > 0:
            order = np.argsort(-remainders, kind="mergesort")
            for i in range(leftover):
                freqs[row, order[i % nonzero]] += 1


def quantize_probs(probs, precision_bits):
    """Quantize probabilities to integer frequencies summing to ``2**precision_bits``.

    Parameters
    ----------
    probs : array_like, shape (..., K)
        Non-negative finite weights (normalized per row here); a zero means the symbol
        cannot occur and gets frequency 0.
    precision_bits : int in [1, 31]
        Needs ``2**precision_bits >=`` the number of non-zero symbols of every row.

    Returns
    -------
    numpy.ndarray of uint32, shape (..., K)

    Examples
    --------
    >>> quantize_probs([0.5, 0.25, 0.25, 0.0], precision_bits=3).tolist()
    [4, 2, 2, 0]
    """
    precision_bits = check_precision(precision_bits)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim < 1 or probs.shape[-1] < 1:
        raise ValueError(f"probs must have shape (..., K) with K >= 1, got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("probs must be finite and non-negative")
    rows = np.ascontiguousarray(probs.reshape(-1, probs.shape[-1]))
    if np.any(rows.sum(axis=1) <= 0):
        raise ValueError("every row of probs needs positive total mass")
    most_nonzero = int((rows > 0).sum(axis=1).max()) if rows.size else 0
    if most_nonzero > 1 << precision_bits:
        raise ValueError(
            f"{most_nonzero} possible symbols do not fit in 2**{precision_bits} slots; raise precision_bits"
        )
    freqs = np.empty(rows.shape, dtype=np.int64)
    _quantize_rows(rows, precision_bits, freqs)
    if np.any(freqs.sum(axis=1) != 1 << precision_bits):  # cannot happen below 2**52 symbols
        raise RuntimeError("internal error: quantized frequencies do not sum to 2**precision_bits")
    return freqs.astype(np.uint32).reshape(probs.shape)


def freqs_to_cdf(freqs):
    """Cumulative starts ``cdf[..., k] = sum(freqs[..., :k])``, shape (..., K + 1), uint32.

    ``freqs`` must sum to ``2**precision_bits`` <= 2**31 per row, so uint32 holds every
    start.
    """
    freqs = np.asarray(freqs, dtype=np.int64)
    cdf = np.zeros(freqs.shape[:-1] + (freqs.shape[-1] + 1,), dtype=np.int64)
    np.cumsum(freqs, axis=-1, out=cdf[..., 1:])
    return cdf.astype(np.uint32)


# --- standard-normal buckets -----------------------------------------------------------


def _check_bucket_bits(bucket_bits):
    if isinstance(bucket_bits, bool) or not isinstance(bucket_bits, (int, np.integer)) or not 1 <= bucket_bits <= 24:
        raise ValueError(f"bucket_bits must be an integer in [1, 24], got {bucket_bits!r}")
    return int(bucket_bits)


# The three tables below are cached and shared: treat them as read-only.  (They are not
# flagged read-only because Numba would compile a separate kernel for read-only arrays.)


@functools.lru_cache(maxsize=None)
def std_normal_bucket_edges(bucket_bits):
    """The ``2**bucket_bits - 1`` inner edges of equal-mass N(0, 1) buckets (float64)."""
    num_buckets = 1 << _check_bucket_bits(bucket_bits)
    return ndtri(np.arange(1, num_buckets, dtype=np.float64) / num_buckets)


@functools.lru_cache(maxsize=None)
def std_normal_bucket_centres(bucket_bits):
    """The median of each equal-mass N(0, 1) bucket: the latent value a bucket stands for."""
    num_buckets = 1 << _check_bucket_bits(bucket_bits)
    return ndtri((np.arange(num_buckets, dtype=np.float64) + 0.5) / num_buckets)


@functools.lru_cache(maxsize=None)
def histogram_points(precision_bits):
    """``ndtri((j + 0.5) / 2**precision_bits)``: the histogram quantizer's N(0, 1) points."""
    precision_bits = check_precision(precision_bits)
    if precision_bits > 24:
        raise ValueError(f"the histogram quantizer supports precision_bits <= 24, got {precision_bits}")
    count = 1 << precision_bits
    return ndtri((np.arange(count, dtype=np.float64) + 0.5) / count)


@njit(cache=True, inline="always")
def std_normal_cdf(x):
    return 0.5 * math.erfc(-x * _SQRT_HALF)


@njit(cache=True, inline="always")
def _share_start(symbol, cdf_value, num_symbols, precision_bits):
    """``symbol + floor(clip(cdf_value, 0, 1) * (2**precision_bits - num_symbols))``."""
    if not cdf_value > 0.0:  # also catches NaN
        cdf_value = 0.0
    elif cdf_value > 1.0:
        cdf_value = 1.0
    spare = (1 << precision_bits) - num_symbols
    return symbol + min(np.int64(math.floor(cdf_value * spare)), spare)


@njit(cache=True, inline="always")
def gaussian_exact_start(bucket, mean, std, edges, precision_bits):
    """Start of ``bucket`` under the exact-CDF quantizer (``bucket`` in [0, K])."""
    num_buckets = edges.size + 1
    if bucket <= 0:
        return np.int64(0)
    if bucket >= num_buckets:
        return np.int64(1) << precision_bits
    return _share_start(bucket, std_normal_cdf((edges[bucket - 1] - mean) / std), num_buckets, precision_bits)


@njit(cache=True, inline="always")
def gaussian_histogram_start(bucket, mean, std, edges, points):
    """Number of histogram points ``mean + std * points[j]`` below bucket's lower edge."""
    if bucket <= 0:
        return np.int64(0)
    if bucket > edges.size:
        return np.int64(points.size)
    edge = edges[bucket - 1]
    # The answer is the first j with not (mean + std * points[j] < edge) (a monotone test).
    # Guess it from the CDF, j ~ Phi((edge - mean) / std) * count - 0.5, then bracket it by
    # galloping from the guess and binary-search the bracket: the same index as a binary
    # search of all points, in a few probes near the guess instead of log2(count).
    count = points.size
    guess = std_normal_cdf((edge - mean) / std) * count - 0.5
    j = 0 if not guess > 0.0 else min(np.int64(math.ceil(guess)), count)
    step = 1
    if j > 0 and not mean + std * points[j - 1] < edge:  # the answer is below j
        high = j - 1
        low = max(high - step, 0)
        while low > 0 and not mean + std * points[low] < edge:
            step *= 2
            high = low
            low = max(high - step, 0)
    else:  # the answer is j or above
        low = j
        high = min(low + step, count)
        while high < count and mean + std * points[high] < edge:
            step *= 2
            low = high + 1
            high = min(low + step, count)
    while low < high:  # invariant: points below edge are exactly [0, answer), low <= answer <= high
        middle = (low + high) >> 1
        if mean + std * points[middle] < edge:
            low = middle + 1
        else:
            high = middle
    return np.int64(low)


@njit(cache=True, inline="always")
def gaussian_histogram_bucket(slot, mean, std, edges, points):
    """The bucket that histogram point number ``slot`` falls into."""
    value = mean + std * points[slot]
    low, high = 0, edges.size  # count of edges <= value
    while low < high:
        middle = (low + high) >> 1
        if edges[middle] <= value:
            low = middle + 1
        else:
            high = middle
    return low


@njit(cache=True, nogil=True)
def _gaussian_freqs_kernel(means, stds, edges, points, precision_bits, use_histogram, freqs):
    num_buckets = edges.size + 1
    for row in range(means.size):
        previous = np.int64(0)
        for bucket in range(1, num_buckets + 1):
            if use_histogram:
                start = gaussian_histogram_start(bucket, means[row], stds[row], edges, points)
            else:
                start = gaussian_exact_start(bucket, means[row], stds[row], edges, precision_bits)
            freqs[row, bucket - 1] = start - previous
            previous = start


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
    bucket_bits = _check_bucket_bits(bucket_bits)
    precision_bits = check_precision(precision_bits)
    if method not in ("exact", "histogram"):
        raise ValueError(f"method must be 'exact' or 'histogram', got {method!r}")
    if method == "exact" and precision_bits < bucket_bits:
        raise ValueError(f"the exact quantizer needs precision_bits >= bucket_bits ({precision_bits} < {bucket_bits})")
    if method == "histogram" and precision_bits > 24:
        raise ValueError(f"the histogram quantizer supports precision_bits <= 24, got {precision_bits}")
    return bucket_bits, precision_bits


def gaussian_bucket_freqs(mean, std, bucket_bits, precision_bits, method="exact"):
    """Full frequency tables of N(mean, std) over the standard-normal buckets.

    For inspection, tests and benchmarks: the codec itself evaluates only the buckets it
    needs.  Returns uint32 of shape ``mean.shape + (2**bucket_bits,)``.

    Examples
    --------
    >>> f = gaussian_bucket_freqs([0.0], [1.0], bucket_bits=2, precision_bits=4, method="histogram")
    >>> f.tolist()
    [[4, 4, 4, 4]]
    """
    bucket_bits, precision_bits = check_gaussian_method(method, bucket_bits, precision_bits)
    mean, std = check_gaussian_params(mean, std)
    edges = std_normal_bucket_edges(bucket_bits)
    points = histogram_points(precision_bits) if method == "histogram" else np.empty(0)
    freqs = np.empty((mean.size, edges.size + 1), dtype=np.int64)
    _gaussian_freqs_kernel(mean.ravel(), std.ravel(), edges, points, precision_bits, method == "histogram", freqs)
    return freqs.astype(np.uint32).reshape(mean.shape + (edges.size + 1,))


# --- discretized logistic mixture (per-symbol rule over 256 bins) ----------------------


@njit(cache=True, inline="always")
def logistic_mixture_start(symbol, means, inverse_scales, weights, a, b, num_symbols, precision_bits):
    """Start of ``symbol`` under the mixture ``[a, b, :]`` of the 3-D parameter arrays: bin
    k covers [k - 0.5, k + 0.5]; the end bins take the tails.

    ``weights`` must already be normalized (softmax) and ``inverse_scales`` be
    :func:`inverse_scales` of the clamped log-scales.
    """
    if symbol <= 0:
        return np.int64(0)
    if symbol >= num_symbols:
        return np.int64(1) << precision_bits
    edge = symbol - 0.5
    cdf_value = 0.0
    for c in range(means.shape[2]):  # fixed order: identical on both sides
        cdf_value += weights[a, b, c] / (1.0 + math.exp(-(edge - means[a, b, c]) * inverse_scales[a, b, c]))
    return _share_start(symbol, cdf_value, num_symbols, precision_bits)


@njit(cache=True, nogil=True)
def prepare_logistic_params(log_scales, logit_weights):
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
            logit_weights[row, c] = math.exp(logit_weights[row, c] - largest)
            total += logit_weights[row, c]
        for c in range(components):
            logit_weights[row, c] /= total


@njit(cache=True, nogil=True)
def inverse_scales(log_scales):
    """``exp(-log_scales)`` by the same scalar ``math.exp`` the kernels use (so the
    same bits: computed once per mixture here instead of at every CDF evaluation)."""
    out = np.empty_like(log_scales)
    flat_in = log_scales.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = math.exp(-flat_in[i])
    return out


@njit(cache=True, nogil=True)
def _logistic_freqs_kernel(means, inverse_scales, weights, num_symbols, precision_bits, freqs):
    for row in range(means.shape[0]):
        previous = np.int64(0)
        for symbol in range(1, num_symbols + 1):
            start = logistic_mixture_start(symbol, means, inverse_scales, weights, row, 0, num_symbols, precision_bits)
            freqs[row, symbol - 1] = start - previous
            previous = start


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
    prepare_logistic_params(log_scales, weights)
    return means, log_scales, weights, batch_shape


def logistic_mixture_freqs(means, log_scales, logit_weights, precision_bits, num_symbols=256):
    """Full frequency tables of a discretized logistic mixture, shape (..., num_symbols)."""
    precision_bits = check_precision(precision_bits)
    if (1 << precision_bits) < num_symbols:
        raise ValueError(f"2**precision_bits must be >= {num_symbols} symbols")
    means, log_scales, weights, batch_shape = check_logistic_params(means, log_scales, logit_weights)
    freqs = np.empty((means.shape[0], num_symbols), dtype=np.int64)
    rows = (means.shape[0], 1, means.shape[1])
    scales = inverse_scales(log_scales)
    _logistic_freqs_kernel(means.reshape(rows), scales.reshape(rows), weights.reshape(rows), num_symbols, precision_bits, freqs)
    return freqs.astype(np.uint32).reshape(batch_shape + (num_symbols,))


# --- beta-binomial (whole tables; the pmf ratio recurrence) ---------------------------


@njit(cache=True, inline="always")
def _clamp_shape_param(value):
    low, high = BETA_BINOMIAL_PARAM_RANGE
    if not value >= low:  # NaN too
        return low
    return min(value, high)


# Rows are built in blocks of up to _BLOCK_ROWS side by side: every row runs exactly the
# scalar recurrence below (same operations in the same order, so the same bits), but the
# inner loops run across the block's independent rows, which LLVM vectorizes (AVX2) once
# divisions carry no Python zero-division check (error_model="numpy"; no denominator
# here can be 0: alpha, beta >= 1e-6 and total >= 1e-150).
_BLOCK_ROWS = 64


@njit(cache=True, nogil=True, error_model="numpy")
def beta_binomial_pmf_block(alphas, betas, first, stride, count, trials, pmf):
    """Unnormalized pmfs of rows ``first + r * stride`` (``r < count <= _BLOCK_ROWS``) of
    the flat parameter arrays into ``pmf[k, r]`` (scratch of shape (trials + 1,
    _BLOCK_ROWS)): the recurrence every beta-binomial table is built from."""
    alpha = np.empty(count)
    beta = np.empty(count)
    for r in range(count):
        alpha[r] = _clamp_shape_param(alphas[first + r * stride])
        beta[r] = _clamp_shape_param(betas[first + r * stride])
    # p(k+1)/p(k) = (n-k)(k+alpha) / ((k+1)(n-k-1+beta)); start from p(0) = 1 and
    # rescale everything so far whenever a value threatens to overflow.
    for r in range(count):
        pmf[0, r] = 1.0
    for k in range(trials):
        falling = np.float64(trials - k)
        rising = np.float64(k)
        after = np.float64(k + 1)
        left = np.float64(trials - k - 1)
        for r in range(count):
            pmf[k + 1, r] = pmf[k, r] * (falling * (rising + alpha[r])) / (after * (left + beta[r]))
        overflows = 0
        for r in range(count):
            overflows += pmf[k + 1, r] > _RESCALE_ABOVE
        if overflows:  # rare: the scalar rule, for the rows that need it
            for r in range(count):
                if pmf[k + 1, r] > _RESCALE_ABOVE:
                    for j in range(k + 1):
                        pmf[j, r] /= _RESCALE_ABOVE
                    pmf[k + 1, r] /= _RESCALE_ABOVE


@njit(cache=True, nogil=True, error_model="numpy")
def beta_binomial_cumulative_block(pmf, count, trials, cumulative):
    """``cumulative[k, r] = pmf[0, r] + ... + pmf[k - 1, r]`` summed in that order, for
    k = 0 .. trials + 1 (the last is the total): symbol k starts at
    ``_share_start(k, cumulative[k] / cumulative[trials + 1])`` for 1 <= k <= trials."""
    for r in range(count):
        cumulative[0, r] = 0.0
    for k in range(trials + 1):
        for r in range(count):
            cumulative[k + 1, r] = cumulative[k, r] + pmf[k, r]


@njit(cache=True, inline="always")
def beta_binomial_start(symbol, cumulative, r, trials, precision_bits):
    """Start of ``symbol`` (0 .. trials + 1) in row ``r`` of a cumulative block."""
    if symbol <= 0:
        return np.int64(0)
    if symbol > trials:
        return np.int64(1) << precision_bits
    return _share_start(symbol, cumulative[symbol, r] / cumulative[trials + 1, r], trials + 1, precision_bits)


@njit(cache=True, nogil=True, error_model="numpy")
def _beta_binomial_block(alphas, betas, first, count, trials, precision_bits, pmf, cdf):
    """Rows ``first .. first + count - 1`` of the tables (``count <= _BLOCK_ROWS``)."""
    num_symbols = trials + 1
    beta_binomial_pmf_block(alphas, betas, first, 1, count, trials, pmf)
    total = np.zeros(count)
    for k in range(num_symbols):
        for r in range(count):
            total[r] += pmf[k, r]
    cumulative = np.zeros(count)
    starts = np.empty(count, dtype=np.int64)
    for r in range(count):
        cdf[first + r, 0] = 0
    for k in range(1, num_symbols):
        for r in range(count):
            cumulative[r] += pmf[k - 1, r]
            starts[r] = _share_start(k, cumulative[r] / total[r], num_symbols, precision_bits)
        for r in range(count):
            cdf[first + r, k] = starts[r]
    for r in range(count):
        cdf[first + r, num_symbols] = np.int64(1) << precision_bits


@njit(cache=True, nogil=True, error_model="numpy")
def _beta_binomial_bounds_block(symbols, first, count, trials, precision_bits, cumulative, starts, freqs):
    """Intervals of ``symbols[first + r]`` from a cumulative block, without the tables."""
    for r in range(count):
        symbol = symbols[first + r]
        start = beta_binomial_start(symbol, cumulative, r, trials, precision_bits)
        starts[first + r] = start
        freqs[first + r] = beta_binomial_start(symbol + 1, cumulative, r, trials, precision_bits) - start


@njit(cache=True, nogil=True)
def _beta_binomial_rows_kernel(alphas, betas, symbols, trials, precision_bits, cdf, starts, freqs):
    """Whole tables into ``cdf`` (when ``symbols`` is empty), else the intervals of
    ``symbols`` (one per row) into ``starts, freqs``; rows in blocks, sequentially (chunks of
    images are what runs in parallel, :mod:`bbans_numba.chunks`)."""
    num_rows = alphas.size
    num_blocks = (num_rows + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    num_chunks = min(num_blocks, 64)  # scratch is allocated once per chunk, not per row
    for chunk_index in range(num_chunks):
        chunk = np.int64(chunk_index)
        pmf = np.empty((trials + 1, _BLOCK_ROWS), dtype=np.float64)
        cumulative = np.empty((trials + 2, _BLOCK_ROWS) if symbols.size else (0, 0), dtype=np.float64)
        for block in range(chunk * num_blocks // num_chunks, (chunk + 1) * num_blocks // num_chunks):
            first = block * _BLOCK_ROWS
            count = min(_BLOCK_ROWS, num_rows - first)
            if symbols.size == 0:
                _beta_binomial_block(alphas, betas, first, count, trials, precision_bits, pmf, cdf)
            else:
                beta_binomial_pmf_block(alphas, betas, first, 1, count, trials, pmf)
                beta_binomial_cumulative_block(pmf, count, trials, cumulative)
                _beta_binomial_bounds_block(symbols, first, count, trials, precision_bits, cumulative, starts, freqs)


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_CDF = np.zeros((0, 0), dtype=np.uint32)
_NO_BOUNDS = np.zeros(0, dtype=np.uint32)


def beta_binomial_intervals(alpha, beta, trials, precision_bits, symbols):
    """``(starts, freqs)`` (uint32, shape of ``symbols``) of each symbol under its own
    BetaBinomial(trials, alpha, beta) (same shapes), equal to reading them from
    :func:`beta_binomial_cdf` tables but without building them.  Arguments as checked
    by the codec: float64 parameters, int64 symbols in [0, trials]."""
    flat = [np.ascontiguousarray(a).reshape(-1) for a in (alpha, beta, symbols)]
    starts = np.empty(flat[2].size, dtype=np.uint32)
    freqs = np.empty(flat[2].size, dtype=np.uint32)
    _beta_binomial_rows_kernel(flat[0], flat[1], flat[2], int(trials), precision_bits, _NO_CDF, starts, freqs)
    return starts.reshape(np.shape(symbols)), freqs.reshape(np.shape(symbols))


def check_beta_binomial_args(alpha, beta, trials, precision_bits):
    """Validate beta-binomial arguments: ``(alpha, beta, trials, precision_bits)`` with the
    parameters as contiguous float64 arrays of one shape (ValueError otherwise)."""
    precision_bits = check_precision(precision_bits)
    alpha = np.ascontiguousarray(alpha, dtype=np.float64)
    beta = np.ascontiguousarray(beta, dtype=np.float64)
    if alpha.shape != beta.shape:
        raise ValueError(f"alpha {alpha.shape} and beta {beta.shape} must have the same shape")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials (n) must be a positive integer, got {trials!r}")
    if (1 << precision_bits) < trials + 1:
        raise ValueError(f"2**precision_bits must be >= n + 1 = {trials + 1} symbols")
    return alpha, beta, int(trials), precision_bits


def beta_binomial_cdf(alpha, beta, trials, precision_bits):
    """Quantized CDF tables of BetaBinomial(trials, alpha, beta), shape (..., trials + 2).

    ``cdf[..., k]`` is the start of symbol ``k``; ``cdf[..., -1] == 2**precision_bits``.
    Every symbol gets frequency >= 1.  Parameters are clamped into
    :data:`BETA_BINOMIAL_PARAM_RANGE`.
    """
    alpha, beta, trials, precision_bits = check_beta_binomial_args(alpha, beta, trials, precision_bits)
    cdf = np.empty((alpha.size, trials + 2), dtype=np.uint32)
    _beta_binomial_rows_kernel(alpha.ravel(), beta.ravel(), _NO_ROWS, int(trials), precision_bits, cdf, _NO_BOUNDS, _NO_BOUNDS)
    return cdf.reshape(alpha.shape + (trials + 2,))
