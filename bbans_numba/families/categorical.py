"""Categorical: quantized CDF tables, read by symbol and searched by slot.

A table is ``K + 1`` uint32 starts (``cdf[k]`` is the first slot of symbol ``k``,
``cdf[K] == 2**precision_bits``; a symbol of probability 0 has an empty interval).
:func:`table_model` picks the model for a codec's tables:

* :class:`Tables`: rows ``cdf[a, b]`` of shape (A, B, K + 1), ``A`` in {1, lanes} and
  ``B`` in {1, steps} (a size-1 dimension broadcasts); a pop counts the starts at or
  below its slot (one vectorized pass, for up to :data:`COUNTED_ROW_MAX_SYMBOLS`
  symbols) or bisects the row.
* :class:`SharedTable`: one table for every symbol; a push uses the table's
  :func:`bbans_numba.rans.encoder_table` rows (no division), a pop bisects.
* :class:`MappedTable`: a shared table at ``precision_bits <= 16``, plus a slot ->
  symbol map (``2**precision_bits`` entries) that a pop reads instead of searching.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from ..rans import Model, encoder_table, param_index, push_step_encoded, register_family

__all__ = ["Tables", "SharedTable", "MappedTable", "table_model", "MAPPED_TABLE_MAX_BITS", "COUNTED_ROW_MAX_SYMBOLS"]

# Shared tables at precision_bits <= this get a slot -> symbol map (at most 64 KiB).
MAPPED_TABLE_MAX_BITS = 16
# A pop from a row of at most this many symbols counts its starts instead of bisecting:
# a pass of independent comparisons (vectorized) beats eight dependent loads at 256.
COUNTED_ROW_MAX_SYMBOLS = 1024


@njit(cache=True, inline="always")
def _rows_start(model, lane, step, symbol, precision_bits):
    a, b = param_index(model.cdf, lane, step)
    return np.int64(model.cdf[a, b, symbol])


@njit(cache=True, inline="always")
def _rows_quantile(model, lane, step, slot, precision_bits):
    # The symbol holding ``slot`` is the largest with start <= slot: as the starts do not
    # decrease, the number of symbols k >= 1 with start <= slot.
    a, b = param_index(model.cdf, lane, step)
    symbol, count = np.int64(0), np.int64(model.num_symbols)
    if count <= COUNTED_ROW_MAX_SYMBOLS:
        target = np.uint32(slot)  # slot < 2**precision_bits <= 2**31
        for k in range(1, count):
            symbol += model.cdf[a, b, k] <= target
    else:  # bisection: the largest symbol with start <= slot lies in [symbol, symbol + count)
        while count > 1:
            half = count >> 1
            symbol += half * np.int64(model.cdf[a, b, symbol + half] <= slot)
            count -= half
    first = np.int64(model.cdf[a, b, symbol])
    return symbol, first, np.int64(model.cdf[a, b, symbol + 1]) - first


@njit(cache=True, inline="always")
def _shared_start(model, lane, step, symbol, precision_bits):
    return np.int64(model.cdf[symbol])


@njit(cache=True, inline="always")
def _shared_push(model, lane, step, symbol, precision_bits, x, words, tail, underflow):
    if model.encoder[symbol, 0] == 0:  # frequency 0
        return x, tail, underflow, False
    x, tail, underflow = push_step_encoded(x, model.encoder, symbol, words, tail, underflow)
    return x, tail, underflow, True


@njit(cache=True, inline="always")
def _mapped_quantile(model, lane, step, slot, precision_bits):
    symbol = np.int64(model.slot_symbols[slot])
    first = np.int64(model.cdf[symbol])
    return symbol, first, np.int64(model.cdf[symbol + 1]) - first


class Tables(Model, namedtuple("Tables", ["cdf", "num_symbols"])):
    """Quantized tables ``cdf`` (uint32, shape (A, B, K + 1)) for ``num_symbols = K``."""

    __slots__ = ()

    def frequency_table(self, shape, precision_bits):
        return np.diff(self.cdf.astype(np.int64), axis=-1)


class SharedTable(Model, namedtuple("SharedTable", ["cdf", "encoder", "num_symbols"])):
    """One table ``cdf`` (uint32, K + 1) for every symbol, with its encoder rows."""

    __slots__ = ()

    def frequency_table(self, shape, precision_bits):
        return np.diff(self.cdf.astype(np.int64)).reshape(1, 1, -1)


class MappedTable(Model, namedtuple("MappedTable", ["cdf", "encoder", "slot_symbols", "num_symbols"])):
    """A :class:`SharedTable` plus ``slot_symbols[slot]``, the symbol holding each slot."""

    __slots__ = ()

    frequency_table = SharedTable.frequency_table


register_family(Tables, start=_rows_start, quantile=_rows_quantile)
register_family(SharedTable, start=_shared_start, push=_shared_push)
register_family(MappedTable, start=_shared_start, quantile=_mapped_quantile, push=_shared_push)


def table_model(cdf, precision_bits):
    """The model for quantized tables ``cdf`` (uint32, shape (..., K + 1), at most two
    batch dimensions: none means one shared table)."""
    cdf = np.ascontiguousarray(cdf, dtype=np.uint32)
    num_symbols = cdf.shape[-1] - 1
    if cdf.ndim > 1:
        return Tables(cdf.reshape(cdf.shape[:-1] + (1,) * (3 - cdf.ndim) + cdf.shape[-1:]), num_symbols)
    encoder = np.empty((num_symbols, 5), dtype=np.uint64)
    encoder_table(cdf, precision_bits, encoder)
    if precision_bits > MAPPED_TABLE_MAX_BITS:
        return SharedTable(cdf, encoder, num_symbols)
    dtype = np.uint8 if num_symbols <= 1 << 8 else np.uint16 if num_symbols <= 1 << 16 else np.uint32
    slot_symbols = np.repeat(np.arange(num_symbols, dtype=dtype), np.diff(cdf.astype(np.int64)))
    return MappedTable(cdf, encoder, slot_symbols, num_symbols)
