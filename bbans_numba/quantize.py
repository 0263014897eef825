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

Every transcendental function here and in the families (``ndtri``, ``Phi``, ``exp``) is the
fixed-sequence one of :mod:`bbans_numba.portable`, never libm's or SciPy's: the tables come
out the same on every IEEE-754 machine (issue 10).

Latent buckets: ``2**bucket_bits`` buckets of equal mass under N(0, 1), with edges
``ndtri(k / 2**bucket_bits)`` and centres ``ndtri((k + 0.5) / 2**bucket_bits)`` (the
bucket medians, which are handed to the decoder network); the Gaussian family
(:mod:`bbans_numba.families.gaussian`) quantizes a posterior onto them.
"""

import functools
import math

import numpy as np
from numba import njit
from . import portable

from .rans import check_precision

__all__ = [
    "quantized_cdf",
    "quantize_probs",
    "freqs_to_cdf",
    "share_start",
    "std_normal_cdf",
    "std_normal_bucket_edges",
    "std_normal_bucket_centres",
    "histogram_points",
]



# --- largest remainder -----------------------------------------------------------------


# Per row: every possible symbol (weight > 0) gets 1; the other ``2**p - nonzero`` units
# are shared out in proportion, ``whole = floor(exact)`` with
# ``exact = weight / mass * share`` (``mass`` summed in symbol order), and the
# ``leftover`` units floor leaves go one each to the symbols of largest remainder
# ``exact - whole``, ties to the lower symbol (the order of a stable sort of the
# remainders, descending; ``leftover // nonzero`` more to every possible symbol in the
# rare case it exceeds them).  The remainder of rank ``r`` is found without sorting the
# row: counts at 1/4, 1/2 and 3/4 (taken while the remainders are computed) and then a
# search over remainder values, each probe a count of the remainders above it (a
# vectorized pass), narrow it to a few values, which are stepped through from the top.
#
# Cost per row (the per-step softmax tables of an autoregressive model quantize 784 rows
# per call): the masses of ``_GROUP`` rows are summed side by side (the sum must follow
# symbol order, so each row is one chain of dependent additions; several rows keep the
# adder busy), each row's other passes are branch-free loops the compiler vectorizes, and
# all scratch is allocated once per call.
_FEW = 2  # the value search stops at this many candidates and steps through them
_GROUP = 8  # rows whose masses are summed side by side (independent add chains)
# Problems a row can have (the kernel returns the first, with its row).
_FINE, _NOT_FINITE, _NEGATIVE, _NO_MASS, _TOO_MANY, _UNBALANCED = range(6)
_NO_KEY = np.int64(-(1 << 63))  # below every key
_TOP_KEY = np.int64((1 << 63) - 1)  # above every key


@njit(cache=True, nogil=True)
def _group_masses(probs, first, masses):
    """``masses[g]``: the sum, in symbol order, of row ``first + g`` for ``g < _GROUP``
    (eight chains side by side; a row past the end repeats the last)."""
    last = probs.shape[0] - 1
    r0, r1, r2, r3 = first, min(first + 1, last), min(first + 2, last), min(first + 3, last)
    r4, r5, r6, r7 = min(first + 4, last), min(first + 5, last), min(first + 6, last), min(first + 7, last)
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = 0.0
    for k in range(probs.shape[1]):
        m0 += np.float64(probs[r0, k])
        m1 += np.float64(probs[r1, k])
        m2 += np.float64(probs[r2, k])
        m3 += np.float64(probs[r3, k])
        m4 += np.float64(probs[r4, k])
        m5 += np.float64(probs[r5, k])
        m6 += np.float64(probs[r6, k])
        m7 += np.float64(probs[r7, k])
    masses[0], masses[1], masses[2], masses[3] = m0, m1, m2, m3
    masses[4], masses[5], masses[6], masses[7] = m4, m5, m6, m7


@njit(cache=True, nogil=True)
def _first_bad_weight(probs, row):
    """The problem of the first weight of ``row`` (symbol order) that is not finite or is
    negative; ``_FINE`` if none is (a sum that overflowed)."""
    for k in range(probs.shape[1]):
        if not math.isfinite(probs[row, k]):
            return _NOT_FINITE
        if probs[row, k] < 0.0:
            return _NEGATIVE
    return _FINE


@njit(cache=True, inline="always")
def _count_at_least(remainders, value):
    count = 0
    for k in range(remainders.size):
        count += remainders[k] >= value
    return count


@njit(cache=True, inline="always")
def _count_equal(values, value):
    count = 0
    for k in range(values.size):
        count += values[k] == value
    return count


@njit(cache=True, inline="always")
def _largest_key_below(keys, high_key):
    """The largest of ``keys`` below ``high_key`` (an integer maximum: it vectorizes)."""
    largest = _NO_KEY
    for k in range(keys.size):
        largest = max(largest, keys[k] if keys[k] < high_key else _NO_KEY)
    return largest


@njit(cache=True, inline="always")
def _smallest_key_at_least(keys, low_key):
    """The smallest of ``keys`` at or above ``low_key``."""
    smallest = _TOP_KEY
    for k in range(keys.size):
        smallest = min(smallest, keys[k] if keys[k] >= low_key else _TOP_KEY)
    return smallest


@njit(cache=True, nogil=True)
def _rank_threshold(remainders, keys, rank, low, high, at_low, at_high, value_of):
    """``(value, last)``: the remainder of rank ``rank`` (1-based) in the order
    (remainder descending, symbol ascending), and the last symbol holding that value
    which still ranks within ``rank``, given a bracket: ``at_low >= rank > at_high``
    remainders lie at or above ``low < high`` (0 <= low, high <= 1).

    ``keys``: the remainders' bits as int64 (non-negative floats order as their bits,
    the -1.0 of impossible symbols below them all); ``value_of``: scratch float64[1]
    whose int64 view turns a key into its value.  Every pass over the row is a
    branch-free count, minimum or maximum (floating-point extrema do not vectorize
    without fastmath, integer ones do).
    """
    key_of = value_of.view(np.int64)
    while at_low - at_high > _FEW:
        # interpolate where the rank falls between the bounds, kept off both ends
        part = min(max((at_low - rank + 0.5) / (at_low - at_high), 0.0625), 0.9375)
        middle = low + (high - low) * part
        split = False
        if low < middle < high:
            at_middle = _count_at_least(remainders, middle)
            split = at_high < at_middle < at_low
            if at_middle >= rank:
                low, at_low = middle, at_middle
            else:
                high, at_high = middle, at_middle
        if not split:  # shrink the bracket onto the values inside it: the next probe splits
            value_of[0] = low
            key_of[0] = _smallest_key_at_least(keys, key_of[0])
            low = value_of[0]
            value_of[0] = high
            key_of[0] = _largest_key_below(keys, key_of[0])
            if value_of[0] == low:  # ties only
                break
            key_of[0] += 1  # the float after the largest value in the bracket
            high = value_of[0]
    # Step down through the values of the bracket, largest first (a few at most).
    value_of[0] = high
    high_key = key_of[0]
    while True:
        key_of[0] = _largest_key_below(keys, high_key)
        ties = _count_equal(keys, key_of[0])
        if at_high + ties >= rank:
            break
        at_high, high_key = at_high + ties, key_of[0]
    value = value_of[0]
    needed = rank - at_high  # the first ``needed`` of the ``ties`` symbols holding value
    if needed == ties:
        return value, remainders.size - 1
    for k in range(remainders.size):
        needed -= remainders[k] == value
        if needed == 0:
            return value, k
    return value, -1  # unreachable: ``ties`` symbols hold value


@njit(cache=True, nogil=True)
def _quantize_row(probs, row, mass, total, wholes, remainders, value_of, cdf):
    """Quantize row ``row`` of ``probs`` (its sum ``mass``) into ``cdf[row]``; returns the
    row's problem (``_FINE`` if none).  ``wholes``, ``remainders``: scratch of one slot
    per symbol; ``value_of``: scratch float64[1]."""
    num_symbols = probs.shape[1]
    keys = remainders.view(np.int64)
    nonzero, negative = 0, False
    for k in range(num_symbols):  # NaN or inf makes the sum non-finite
        nonzero += probs[row, k] > 0.0
        negative |= probs[row, k] < 0.0
    if negative or not math.isfinite(mass):
        problem = _first_bad_weight(probs, row)
        if problem != _FINE:
            return problem
    if not mass > 0.0:
        return _NO_MASS
    if nonzero > total:
        return _TOO_MANY
    share = total - nonzero
    whole_sum = 0
    at_quarter = at_half = at_three_quarters = 0  # remainders at or above 1/4, 1/2, 3/4
    for k in range(num_symbols):
        weight = np.float64(probs[row, k])
        exact = weight / mass * share
        whole = min(np.int64(math.floor(exact)), share)
        remainder = exact - whole if weight > 0.0 else -1.0  # in [0, 1) if possible
        wholes[k], remainders[k] = whole, remainder
        whole_sum += whole
        at_quarter += remainder >= 0.25
        at_half += remainder >= 0.5
        at_three_quarters += remainder >= 0.75
    leftover = share - whole_sum
    each, rank = (leftover // nonzero, leftover % nonzero) if leftover > 0 else (0, 0)
    # symbols up to (last_remainder, last_symbol) in that order get one unit more
    last_remainder, last_symbol = 2.0, -1
    if rank:  # the quarter of [0, 1) that holds the remainder of rank ``rank``
        low, at_low, high, at_high = 0.0, nonzero, 0.25, at_quarter
        if at_quarter >= rank:
            low, at_low, high, at_high = 0.25, at_quarter, 0.5, at_half
        if at_half >= rank:
            low, at_low, high, at_high = 0.5, at_half, 0.75, at_three_quarters
        if at_three_quarters >= rank:
            low, at_low, high, at_high = 0.75, at_three_quarters, 1.0, 0
        last_remainder, last_symbol = _rank_threshold(
            remainders, keys, rank, low, high, np.int64(at_low), np.int64(at_high), value_of
        )  # fmt: skip (int64 counts: one compiled version, not one per literal)
    for k in range(num_symbols):  # frequencies, without data-dependent branches
        remainder = remainders[k]
        bonus = np.int64(remainder > last_remainder) + np.int64(remainder == last_remainder) * (k <= last_symbol)
        wholes[k] = np.int64(remainder >= 0.0) * (1 + wholes[k] + each + bonus)
    running = np.int64(0)
    cdf[row, 0] = 0
    for k in range(num_symbols):
        running += wholes[k]
        cdf[row, k + 1] = running
    return _FINE if running == total else _UNBALANCED  # cannot be unbalanced below 2**52 symbols


@njit(cache=True, nogil=True)
def _largest_remainder_cdf(probs, precision_bits, cdf):
    """Quantize each row of ``probs`` (R, K) into ``cdf`` (R, K + 1) starts; returns
    ``(problem, row)`` of the first row that cannot be quantized (``(_FINE, -1)`` if none)."""
    total = np.int64(1) << precision_bits
    num_rows, num_symbols = probs.shape
    masses = np.empty(_GROUP)
    remainders = np.empty(num_symbols)
    wholes = np.empty(num_symbols, dtype=np.int64)
    value_of = np.empty(1)
    for first in range(0, num_rows, _GROUP):
        _group_masses(probs, first, masses)
        for row in range(first, min(first + _GROUP, num_rows)):
            problem = _quantize_row(probs, row, masses[row - first], total, wholes, remainders, value_of, cdf)
            if problem != _FINE:
                return problem, row
    return _FINE, -1


def quantized_cdf(probs, precision_bits):
    """Quantize probabilities by largest remainder: cumulative starts (uint32, shape
    (..., K + 1), ``cdf[..., K] == 2**precision_bits``) of integer frequencies.

    Parameters
    ----------
    probs : array_like, shape (..., K)
        Non-negative finite weights (normalized per row here); a zero means the symbol
        cannot occur and gets frequency 0, every other symbol >= 1.  float32 weights
        quantize exactly as the same values in float64.
    precision_bits : int in [1, 31]
        Needs ``2**precision_bits >=`` the number of non-zero symbols of every row.

    Examples
    --------
    >>> quantized_cdf([0.5, 0.25, 0.25, 0.0], precision_bits=3).tolist()
    [0, 4, 6, 8, 8]
    """
    precision_bits = check_precision(precision_bits)
    probs = np.asarray(probs)
    if probs.dtype != np.float32:  # float32 weights are read as they are (widened exactly)
        probs = probs.astype(np.float64, copy=False)
    if probs.ndim < 1 or probs.shape[-1] < 1:
        raise ValueError(f"probs must have shape (..., K) with K >= 1, got {probs.shape}")
    rows = np.ascontiguousarray(probs.reshape(-1, probs.shape[-1]))
    if not rows.flags.writeable:  # one compiled kernel per dtype, not a second for read-only input
        rows = rows.copy()
    cdf = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint32)
    problem, row = _largest_remainder_cdf(rows, precision_bits, cdf)
    if problem == _NOT_FINITE or problem == _NEGATIVE:
        raise ValueError(f"probs must be finite and non-negative (row {row})")
    if problem == _NO_MASS:
        raise ValueError(f"every row of probs needs positive total mass (row {row} has none)")
    if problem == _TOO_MANY:
        count = int(np.count_nonzero(rows[row]))
        raise ValueError(f"{count} possible symbols do not fit in 2**{precision_bits} slots; raise precision_bits")
    if problem == _UNBALANCED:
        raise RuntimeError("internal error: quantized frequencies do not sum to 2**precision_bits")
    return cdf.reshape(probs.shape[:-1] + (probs.shape[-1] + 1,))


def quantize_probs(probs, precision_bits):
    """Integer frequencies (uint32, shape (..., K)) summing to ``2**precision_bits``: the
    differences of :func:`quantized_cdf`.

    Examples
    --------
    >>> quantize_probs([0.5, 0.25, 0.25, 0.0], precision_bits=3).tolist()
    [4, 2, 2, 0]
    """
    return np.diff(quantized_cdf(probs, precision_bits), axis=-1)


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
    return portable.elementwise("ndtri", np.arange(1, num_buckets, dtype=np.float64) / num_buckets)


@functools.lru_cache(maxsize=None)
def std_normal_bucket_centres(bucket_bits):
    """The median of each equal-mass N(0, 1) bucket: the latent value a bucket stands for."""
    num_buckets = 1 << check_bucket_bits(bucket_bits)
    return portable.elementwise("ndtri", (np.arange(num_buckets, dtype=np.float64) + 0.5) / num_buckets)


@functools.lru_cache(maxsize=None)
def histogram_points(precision_bits):
    """``ndtri((j + 0.5) / 2**precision_bits)``: the histogram quantizer's N(0, 1) points."""
    precision_bits = check_precision(precision_bits)
    if precision_bits > 24:
        raise ValueError(f"the histogram quantizer supports precision_bits <= 24, got {precision_bits}")
    count = 1 << precision_bits
    return portable.elementwise("ndtri", (np.arange(count, dtype=np.float64) + 0.5) / count)


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


@njit(cache=True, nogil=True)
def std_normal_cdf(x):
    """Phi(x), by :func:`bbans_numba.portable.ndtr` (no libm: the same bits everywhere).

    An ordinary call, not inlined: ``ndtr`` is large, and the Gaussian family's kernels
    call it from several places (two starts per interval, push and pop); inlined, each copy
    was compiled anew (~20 s of a cold start).  A call changes no bit (no fastmath)."""
    return portable.ndtr(x)
