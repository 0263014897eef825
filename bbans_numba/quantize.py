"""Probabilities to integer frequencies, identically on the encoder and decoder side.

Every quantizer here returns frequencies that sum *exactly* to ``2**precision_bits`` and
gives frequency >= 1 to every symbol that can occur.  Encoder and decoder run the same
jitted code on the same float inputs, so they compute bit-identical tables.  The
families of :mod:`bbans_numba.families` use two rules:

* **Largest remainder** (:func:`quantize_probs`): a whole table from float weights; every
  possible symbol gets 1, the rest is shared out in proportion (floor) and what floor
  leaves goes to the largest remainders (ties to the lower symbol).
* **The per-symbol rule** (:func:`share_start`): the interval of symbol ``k`` is a
  closed-form function of ``k``,
  ``start(k) = k + floor(F(k) * (2**precision_bits - K))`` with ``F`` a CDF
  (``F(0) = 0``, ``start(K) = 2**precision_bits``): every bin gets ``1 +`` its share of
  the remaining mass, and a push evaluates two values of ``F``, a pop searches ``k``.

Latent buckets: ``2**bucket_bits`` buckets of equal mass under N(0, 1), with edges
``ndtri(k / 2**bucket_bits)`` and centres ``ndtri((k + 0.5) / 2**bucket_bits)`` (the
bucket medians, which are handed to the decoder network); the Gaussian family
(:mod:`bbans_numba.families.gaussian`) quantizes a posterior onto them.
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
    "share_start",
    "std_normal_cdf",
    "std_normal_bucket_edges",
    "std_normal_bucket_centres",
    "histogram_points",
]

_SQRT_HALF = math.sqrt(0.5)


# --- largest remainder -----------------------------------------------------------------


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


# --- standard-normal buckets (the latent geometry) -------------------------------------


def check_bucket_bits(bucket_bits):
    """Return ``bucket_bits`` as int after checking 1 <= value <= 24 (ValueError)."""
    if isinstance(bucket_bits, bool) or not isinstance(bucket_bits, (int, np.integer)) or not 1 <= bucket_bits <= 24:
        raise ValueError(f"bucket_bits must be an integer in [1, 24], got {bucket_bits!r}")
    return int(bucket_bits)


# The three tables below are cached and shared: treat them as read-only.  (They are not
# flagged read-only because Numba would compile a separate kernel for read-only arrays.)


@functools.lru_cache(maxsize=None)
def std_normal_bucket_edges(bucket_bits):
    """The ``2**bucket_bits - 1`` inner edges of equal-mass N(0, 1) buckets (float64)."""
    num_buckets = 1 << check_bucket_bits(bucket_bits)
    return ndtri(np.arange(1, num_buckets, dtype=np.float64) / num_buckets)


@functools.lru_cache(maxsize=None)
def std_normal_bucket_centres(bucket_bits):
    """The median of each equal-mass N(0, 1) bucket: the latent value a bucket stands for."""
    num_buckets = 1 << check_bucket_bits(bucket_bits)
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
def share_start(symbol, cdf_value, num_symbols, precision_bits):
    """The per-symbol rule: ``symbol + floor(clip(cdf_value, 0, 1) * (2**precision_bits -
    num_symbols))`` (int64) for ``0 < symbol < num_symbols``, ``cdf_value`` being the mass
    of the symbols below ``symbol`` (NaN counts as 0).  The caller handles ``start(0) = 0``
    and ``start(num_symbols) = 2**precision_bits``.
    """
    clipped = min(cdf_value, 1.0) if cdf_value > 0.0 else 0.0  # NaN fails the test: 0
    spare = (1 << precision_bits) - num_symbols
    return symbol + min(np.int64(math.floor(clipped * spare)), spare)


@njit(cache=True, inline="always")
def std_normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2."""
    return 0.5 * math.erfc(-x * _SQRT_HALF)
