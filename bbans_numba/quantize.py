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
# row: a search over remainder values, each probe a count of the remainders above it (a
# vectorized pass), narrows it to a few candidates, which are then ordered exactly.
_FEW = 8  # at most this many candidates are ranked by comparisons; more (near-ties) sorted
_ROW_GROUP = 4  # rows whose masses are summed side by side (independent add chains)
# Problems a row can have (the kernel returns the first, with its row).
_FINE, _NOT_FINITE, _NEGATIVE, _NO_MASS, _TOO_MANY, _UNBALANCED = range(6)


@njit(cache=True, inline="always")
def _accumulate(mass, smallest, nonzero, value):
    """One weight into a row's running sum, minimum and count of positive weights."""
    return mass + value, min(smallest, value), nonzero + (value > 0.0)


@njit(cache=True, nogil=True)
def _row_masses(probs, masses, nonzeros, smallest):
    """Each row's sum in symbol order, count of positive weights and smallest weight;
    rows in groups of four side by side (a group past the end repeats the last row)."""
    last = probs.shape[0] - 1
    for first in range(0, probs.shape[0], _ROW_GROUP):
        r0, r1, r2, r3 = first, min(first + 1, last), min(first + 2, last), min(first + 3, last)
        m0 = m1 = m2 = m3 = 0.0
        s0 = s1 = s2 = s3 = np.inf
        n0 = n1 = n2 = n3 = 0
        for k in range(probs.shape[1]):
            m0, s0, n0 = _accumulate(m0, s0, n0, np.float64(probs[r0, k]))
            m1, s1, n1 = _accumulate(m1, s1, n1, np.float64(probs[r1, k]))
            m2, s2, n2 = _accumulate(m2, s2, n2, np.float64(probs[r2, k]))
            m3, s3, n3 = _accumulate(m3, s3, n3, np.float64(probs[r3, k]))
        masses[r0], masses[r1], masses[r2], masses[r3] = m0, m1, m2, m3
        nonzeros[r0], nonzeros[r1], nonzeros[r2], nonzeros[r3] = n0, n1, n2, n3
        smallest[r0], smallest[r1], smallest[r2], smallest[r3] = s0, s1, s2, s3


@njit(cache=True, inline="always")
def _count_at_least(remainders, value):
    count = 0
    for k in range(remainders.size):
        count += remainders[k] >= value
    return count


@njit(cache=True, nogil=True)
def _rank_symbol(remainders, possible, rank, candidates, bounds):
    """The symbol of rank ``rank`` (1-based, below ``possible``, the number of
    remainders >= 0) in the order (remainder descending, symbol ascending)
    (``candidates``, ``bounds``: scratch of one slot per symbol, and of two)."""
    low, high = 0.0, 1.0  # remainders lie in [0, 1); negative ones mark impossible symbols
    at_low, at_high = possible, 0  # at_low >= rank > at_high remainders lie at or above them
    while at_low - at_high > _FEW:
        # interpolate where the rank falls between the bounds, kept off both ends
        part = min(max((at_low - rank + 0.5) / (at_low - at_high), 0.0625), 0.9375)
        middle = low + (high - low) * part
        if not low < middle < high:  # no float between: the bracket holds ties only
            break
        at_middle = _count_at_least(remainders, middle)
        if at_middle >= rank:
            low, at_low = middle, at_middle
        else:
            high, at_high = middle, at_middle
    # The bracket's symbols, ascending.  One unsigned comparison of the float bits
    # (non-negative floats order as their bits; the -1 of impossible symbols wraps
    # around) keeps the rarely taken branch predictable.
    bounds[0], bounds[1] = low, high
    keys, bound_keys = remainders.view(np.int64), bounds.view(np.int64)
    width = np.uint64(bound_keys[1] - bound_keys[0])
    size = 0
    for k in range(remainders.size):
        if np.uint64(keys[k] - bound_keys[0]) < width:
            candidates[size] = k
            size += 1
    rank -= at_high
    if size > _FEW:  # near-ties: a stable sort
        order = np.argsort(-remainders[candidates[:size]], kind="mergesort")
        return candidates[order[rank - 1]]
    for i in range(size):  # the candidate with exactly rank - 1 candidates before it
        mine = remainders[candidates[i]]
        before = 0
        for j in range(size):
            other = remainders[candidates[j]]
            before += (other > mine) | ((other == mine) & (j < i))
        if before == rank - 1:
            return candidates[i]
    return -1  # unreachable: some candidate has every rank below size


@njit(cache=True, nogil=True)
def _largest_remainder_cdf(probs, precision_bits, cdf):
    """Quantize each row of ``probs`` (R, K) into ``cdf`` (R, K + 1) starts; returns
    ``(problem, row)`` of the first row that cannot be quantized (``(_FINE, -1)`` if none)."""
    total = np.int64(1) << precision_bits
    num_rows, num_symbols = probs.shape
    masses, smallest = np.empty(num_rows), np.empty(num_rows)
    nonzeros = np.empty(num_rows, dtype=np.int64)
    _row_masses(probs, masses, nonzeros, smallest)
    remainders = np.empty(num_symbols)
    wholes = np.empty(num_symbols, dtype=np.int64)
    candidates = np.empty(num_symbols, dtype=np.int64)
    bounds = np.empty(2)
    for row in range(num_rows):
        mass, nonzero = masses[row], nonzeros[row]
        if not (math.isfinite(mass) and smallest[row] >= 0.0):  # a bad weight, or a sum past 1e308
            for k in range(num_symbols):
                if not math.isfinite(probs[row, k]):
                    return _NOT_FINITE, row
                if probs[row, k] < 0.0:
                    return _NEGATIVE, row
        if not mass > 0.0:
            return _NO_MASS, row
        if nonzero > total:
            return _TOO_MANY, row
        share = total - nonzero
        whole_sum = 0
        for k in range(num_symbols):
            weight = np.float64(probs[row, k])
            exact = weight / mass * share
            whole = min(np.int64(math.floor(exact)), share)
            wholes[k] = whole
            remainders[k] = exact - whole if weight > 0.0 else -1.0
            whole_sum += whole
        leftover = share - whole_sum
        each, rank = (leftover // nonzero, leftover % nonzero) if leftover > 0 else (0, 0)
        # symbols up to (last_remainder, last_symbol) in that order get one unit more
        last_symbol = _rank_symbol(remainders, nonzero, rank, candidates, bounds) if rank else -1
        last_remainder = remainders[last_symbol] if rank else 2.0
        for k in range(num_symbols):  # frequencies, without data-dependent branches
            remainder = remainders[k]
            bonus = np.int64(remainder > last_remainder) + np.int64(remainder == last_remainder) * (k <= last_symbol)
            wholes[k] = np.int64(remainder >= 0.0) * (1 + wholes[k] + each + bonus)
        running = np.int64(0)
        cdf[row, 0] = 0
        for k in range(num_symbols):
            running += wholes[k]
            cdf[row, k + 1] = running
        if running != total:  # cannot happen below 2**52 symbols
            return _UNBALANCED, row
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
