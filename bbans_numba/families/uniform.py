"""Uniform: ``num_symbols`` equally likely symbols, each of frequency 1 (so
``num_symbols == 2**precision_bits``)."""

from collections import namedtuple

import numpy as np
from numba import njit

from ..rans import Model, register_family


@njit(cache=True, inline="always")
def _interval(model, lane, step, symbol, precision_bits):
    return np.int64(symbol), np.int64(1)


@njit(cache=True, inline="always")
def _quantile(model, lane, step, slot, precision_bits):
    return np.int64(slot), np.int64(slot), np.int64(1)


class Uniform(Model, namedtuple("Uniform", ["num_symbols"])):
    """All ``num_symbols = 2**precision_bits`` symbols equally likely."""

    __slots__ = ()


register_family(Uniform, interval=_interval, quantile=_quantile)
