"""The per-symbol rule over float cumulative masses: row-level functions.

For kernels that build a distribution's rows themselves (the beta-binomial recurrence
here; a network evaluated inside a decode kernel) and then code with them.  A *row* is
column ``row`` of ``cumulative``, shape (K + 1, R): ``cumulative[k, row]`` is the mass of
the symbols below ``k`` (any positive scale, summed in a fixed order), so
``cumulative[0, row] == 0`` and ``cumulative[K, row]`` is the row's total.  Symbol ``k``
starts at :func:`bbans_numba.quantize.share_start` of ``cumulative[k] / cumulative[K]``:
every symbol gets frequency >= 1 (needs ``2**precision_bits >= K``).

A decode kernel pops one symbol of a row as::

    x = heads[lane]
    symbol, start, freq = cumulative_quantile(cumulative, row, peek(x, precision_bits), precision_bits)
    x, tail, underflow = pop_step(x, start, freq, precision_bits, words, tail, underflow)

(:func:`bbans_numba.rans.peek`, :func:`bbans_numba.rans.pop_step`; a push calls
:func:`cumulative_interval` and :func:`bbans_numba.rans.push_step`.)
"""

import numpy as np
from numba import njit

from ..quantize import share_start

__all__ = ["cumulative_start", "cumulative_interval", "cumulative_quantile"]


@njit(cache=True, inline="always")
def cumulative_start(cumulative, row, symbol, precision_bits):
    """First slot (int64) of ``symbol`` (0 .. K) in column ``row`` of ``cumulative``."""
    num_symbols = cumulative.shape[0] - 1
    if symbol <= 0:
        return np.int64(0)
    if symbol >= num_symbols:
        return np.int64(1) << precision_bits
    return share_start(symbol, cumulative[symbol, row] / cumulative[num_symbols, row], num_symbols, precision_bits)


@njit(cache=True, inline="always")
def cumulative_interval(cumulative, row, symbol, precision_bits):
    """``(start, freq)`` of ``symbol`` in column ``row`` of ``cumulative``."""
    first = cumulative_start(cumulative, row, symbol, precision_bits)
    return first, cumulative_start(cumulative, row, symbol + 1, precision_bits) - first


@njit(cache=True, inline="always")
def cumulative_quantile(cumulative, row, slot, precision_bits):
    """``(symbol, start, freq)`` of the symbol whose interval holds ``slot`` in column ``row``.

    The symbol is the largest ``k`` with ``start(k) <= slot``.  It is guessed from the
    running sums alone (no division: the largest ``k`` with
    ``cumulative[k] <= total * slot / 2**precision_bits``), then settled with exact starts,
    searching exactly only on the side of a (rare) near miss.
    """
    num_symbols = cumulative.shape[0] - 1
    slot = np.int64(slot)
    target = cumulative[num_symbols, row] * (slot / np.float64(np.int64(1) << precision_bits))
    low, high = 0, num_symbols - 1
    while low < high:
        middle = (low + high + 1) >> 1
        if cumulative[middle, row] <= target:
            low = middle
        else:
            high = middle - 1
    guess = low
    first = cumulative_start(cumulative, row, guess, precision_bits)
    end = cumulative_start(cumulative, row, guess + 1, precision_bits)
    if first > slot or end <= slot:  # a near miss: search exactly on that side
        low, high = (0, guess - 1) if first > slot else (guess + 1, num_symbols - 1)
        while low < high:  # invariant: start(low) <= slot < start(high + 1)
            middle = (low + high + 1) >> 1
            if cumulative_start(cumulative, row, middle, precision_bits) <= slot:
                low = middle
            else:
                high = middle - 1
        first = cumulative_start(cumulative, row, low, precision_bits)
        end = cumulative_start(cumulative, row, low + 1, precision_bits)
    return np.int64(low), first, end - first
