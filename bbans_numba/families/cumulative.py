"""The per-symbol rule over float running sums: a categorical for rows built on the fly.

A *row* is a 1-D float array ``cumulative`` of ``K + 1`` running sums of a
distribution's weights in symbol order: ``cumulative[k]`` is the mass of the symbols
below ``k`` (any positive scale, summed in a fixed order), so ``cumulative[0] == 0`` and
``cumulative[K]`` is the total.  Symbol ``k`` starts at
:func:`bbans_numba.quantize.share_start` of ``cumulative[k] / cumulative[K]``: every
symbol gets frequency >= 1 (needs ``2**precision_bits >= K``).

The row functions serve kernels that build rows themselves (the beta-binomial recurrence;
a network evaluated per pixel inside a decode kernel), which pop one symbol as::

    x = heads[lane]
    symbol, start, freq = cumulative_quantile(row, peek(x, precision_bits), precision_bits)
    x, tail, underflow = pop_step(x, start, freq, precision_bits, words, tail, underflow)

(:func:`bbans_numba.rans.peek`, :func:`bbans_numba.rans.pop_step`; a push calls
:func:`cumulative_interval` and :func:`bbans_numba.rans.push_step`).  In a kernel
compiled with Numba's reference counting, pass a row as a view made once per row, not
per call.  :class:`CumulativeRows` is the same family as a model of the generic kernels,
for weights given as arrays (:class:`bbans_numba.codecs.CumulativeCategorical`): it adds
the running sums up where it needs them instead of storing them (one read of each row).
"""

import math
from collections import namedtuple

import numpy as np
from numba import njit

from ..quantize import share_start
from ..rans import Model, register_family

__all__ = ["cumulative_start", "cumulative_interval", "cumulative_quantile", "CumulativeRows", "cumulative_rows"]


@njit(cache=True, inline="always")
def cumulative_start(cumulative, symbol, precision_bits):
    """First slot (int64) of ``symbol`` (0 .. K) in the row ``cumulative``."""
    num_symbols = cumulative.size - 1
    if symbol <= 0:
        return np.int64(0)
    if symbol >= num_symbols:
        return np.int64(1) << precision_bits
    return share_start(symbol, cumulative[symbol] / cumulative[num_symbols], num_symbols, precision_bits)


@njit(cache=True, inline="always")
def cumulative_interval_of(start_of, row, symbol, precision_bits):
    """``(start, freq)`` of ``symbol`` from ``start_of(row, k, precision_bits)``."""
    first = start_of(row, symbol, precision_bits)
    return first, start_of(row, symbol + 1, precision_bits) - first


@njit(cache=True, inline="always")
def cumulative_interval(cumulative, symbol, precision_bits):
    """``(start, freq)`` of ``symbol`` in the row ``cumulative``."""
    return cumulative_interval_of(cumulative_start, cumulative, symbol, precision_bits)


@njit(cache=True, inline="always")
def _settle(start_of, row, guess, first, end, slot, num_symbols, precision_bits):
    """``(symbol, start, freq)`` holding ``slot``, given a guess and its ``[first, end)``:
    the guess if it holds the slot, else an exact search (with ``start_of(row, k,
    precision_bits)``) on the side of the (rare) near miss."""
    if first <= slot < end:
        return np.int64(guess), first, end - first
    low, high = (0, guess - 1) if first > slot else (guess + 1, num_symbols - 1)
    while low < high:  # invariant: start(low) <= slot < start(high + 1)
        middle = (low + high + 1) >> 1
        if start_of(row, middle, precision_bits) <= slot:
            low = middle
        else:
            high = middle - 1
    first = start_of(row, low, precision_bits)
    return np.int64(low), first, start_of(row, low + 1, precision_bits) - first


@njit(cache=True, inline="always")
def cumulative_quantile(cumulative, slot, precision_bits):
    """``(symbol, start, freq)`` of the symbol whose interval holds ``slot``.

    The symbol is the largest ``k`` with ``start(k) <= slot``.  It is guessed from the
    running sums alone (no division: the largest ``k`` with
    ``cumulative[k] <= total * slot / 2**precision_bits``), then settled with exact starts.
    """
    num_symbols = cumulative.size - 1
    slot = np.int64(slot)
    target = cumulative[num_symbols] * (slot / np.float64(np.int64(1) << precision_bits))
    low, high = 0, num_symbols - 1
    while low < high:
        middle = (low + high + 1) >> 1
        if cumulative[middle] <= target:
            low = middle
        else:
            high = middle - 1
    first = cumulative_start(cumulative, low, precision_bits)
    end = cumulative_start(cumulative, low + 1, precision_bits)
    return _settle(cumulative_start, cumulative, low, first, end, slot, num_symbols, precision_bits)


@njit(cache=True, inline="always")
def _weights_start(row, symbol, precision_bits):
    """:func:`cumulative_start` of ``row = (weights, a, total)`` without the running sums:
    the sum of ``weights[a, :symbol]`` in symbol order is added up here."""
    weights, a, total = row
    num_symbols = weights.shape[1]
    if symbol <= 0:
        return np.int64(0)
    if symbol >= num_symbols:
        return np.int64(1) << precision_bits
    running = 0.0
    for k in range(symbol):
        running += np.float64(weights[a, k])
    return share_start(symbol, running / total, num_symbols, precision_bits)


@njit(cache=True, inline="always")
def _weights_interval(model, lane, step, symbol, precision_bits):
    a = min(lane, model.weights.shape[0] - 1)
    return cumulative_interval_of(_weights_start, (model.weights, a, model.totals[a]), symbol, precision_bits)


@njit(cache=True, inline="always")
def _weights_quantile(model, lane, step, slot, precision_bits):
    """The guess of :func:`cumulative_quantile` by one running sum that stops past the
    target (the row is read once, not stored)."""
    a = min(lane, model.weights.shape[0] - 1)
    weights, total, num_symbols = model.weights, model.totals[a], model.num_symbols
    slot = np.int64(slot)
    target = total * (slot / np.float64(np.int64(1) << precision_bits))
    guess, below, running = 0, 0.0, np.float64(weights[a, 0])  # running = sum up to guess + 1
    while guess + 1 < num_symbols and running <= target:
        guess += 1
        below = running
        running += np.float64(weights[a, guess])
    first = np.int64(0) if guess == 0 else share_start(guess, below / total, num_symbols, precision_bits)
    if guess + 1 >= num_symbols:
        end = np.int64(1) << precision_bits
    else:
        end = share_start(guess + 1, running / total, num_symbols, precision_bits)
    row = (weights, a, total)
    return _settle(_weights_start, row, guess, first, end, slot, num_symbols, precision_bits)


class CumulativeRows(Model, namedtuple("CumulativeRows", ["weights", "totals", "num_symbols"])):
    """Weights (float32 or float64, shape (A, K), ``A`` in {1, lanes}; one row per lane,
    shared over the steps of one push or pop) and their totals: the running sums are added
    up where needed, not stored."""

    __slots__ = ()


register_family(CumulativeRows, interval=_weights_interval, quantile=_weights_quantile)


@njit(cache=True, inline="always")
def _add(running, smallest, value):
    """One weight into a row's running sum and smallest weight."""
    return running + value, min(smallest, value)


@njit(cache=True, nogil=True)
def _totals(weights, totals):
    """Each row's sum in symbol order into ``totals``; returns the first row with a weight
    that is not finite and >= 0, or a total that is not positive (-1 if none).  Rows go
    four side by side: independent add chains."""
    last = weights.shape[0] - 1
    for first in range(0, weights.shape[0], 4):
        r0, r1, r2, r3 = first, min(first + 1, last), min(first + 2, last), min(first + 3, last)
        c0 = c1 = c2 = c3 = 0.0
        s0 = s1 = s2 = s3 = np.inf
        for k in range(weights.shape[1]):
            c0, s0 = _add(c0, s0, np.float64(weights[r0, k]))
            c1, s1 = _add(c1, s1, np.float64(weights[r1, k]))
            c2, s2 = _add(c2, s2, np.float64(weights[r2, k]))
            c3, s3 = _add(c3, s3, np.float64(weights[r3, k]))
        totals[r0], totals[r1], totals[r2], totals[r3] = c0, c1, c2, c3
        for row, total, smallest in ((r0, c0, s0), (r1, c1, s1), (r2, c2, s2), (r3, c3, s3)):
            if not (math.isfinite(total) and total > 0.0 and smallest >= 0.0):
                return row
    return -1


def cumulative_rows(weights, precision_bits):
    """The model of weights (float32 or float64, shape (K,) or (lanes, K)), checked
    (finite, non-negative, a positive total per row, ``2**precision_bits >= K``)."""
    weights = np.asarray(weights)
    if weights.dtype != np.float32:
        weights = weights.astype(np.float64, copy=False)
    if weights.ndim not in (1, 2) or weights.shape[-1] < 1:
        raise ValueError(f"weights must have shape (K,) or (num_lanes, K) with K >= 1, got {weights.shape}")
    num_symbols = weights.shape[-1]
    if (1 << precision_bits) < num_symbols:
        raise ValueError(f"2**precision_bits must be >= the {num_symbols} symbols")
    rows = np.ascontiguousarray(weights.reshape(-1, num_symbols))
    totals = np.empty(rows.shape[0])
    bad = _totals(rows, totals)
    if bad >= 0:
        raise ValueError(f"weights must be finite and non-negative with a positive total (row {bad} is not)")
    return CumulativeRows(rows, totals, num_symbols)
