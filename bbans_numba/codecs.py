"""Codecs: distributions with ``push(message, symbols)`` and ``pop(message) -> symbols``.

Every codec works over the lanes of a :class:`~bbans_numba.rans.Message`.  Symbols have
shape ``(num_lanes,)`` (one per lane) or ``(num_lanes, num_steps)`` (a sequence per lane,
pushed in one jitted call; :meth:`Codec.pop` returns it in the same layout).  Parameters
carry leading *batch* dimensions: none (shared by all lanes and steps), ``(num_lanes,)``
(per lane, shared over steps) or ``(num_lanes, num_steps)`` (per symbol).

How the work is split
---------------------
* A push first computes every symbol's interval with one jitted pass (sequential: it
  is cheap next to the beta-binomial recurrence, and a parallel kernel covering every
  codec kind took ~8 s to compile on a cold start), checks
  them (a symbol of frequency 0 raises ``ValueError`` before the message changes), then
  hands them to the push kernel of :mod:`bbans_numba.rans`.  Table codecs skip the
  interval pass: that kernel reads their rows itself (zero frequencies are checked
  first), for a shared table from precomputed encoder rows
  (:func:`bbans_numba.rans.encoder_table`, no division).  A beta-binomial with one table
  per symbol builds no table: its intervals come from the pmf recurrence directly.
* A pop runs one sequential jitted pass that, for each symbol in mirrored order, peeks
  the slot, finds the symbol that holds it (codec-specific lookup: a shared table's slot
  -> symbol map, a search otherwise) and pops it.

Every fast path codes exactly the bytes of the plain rule (tests/test_rans_speedpaths.py).
The interval pass and the pop dispatch on a small integer *kind*, so one kernel serves
every codec and is compiled once (and cached on disk).
"""

import numpy as np
from numba import njit

from . import quantize as q
from .rans import (
    _HEAD_LOWER,
    _WORD_SHIFT,
    check_precision,
    decode_interval,
    encoder_table,
    peek_slot,
    push_symbols,
    raise_for_status,
    read_word,
)

__all__ = [
    "Codec",
    "Uniform",
    "Categorical",
    "BetaBinomial",
    "DiscretizedLogisticMixture",
    "DiagGaussianStdBins",
]

# Codec kinds understood by the two kernels below.
_KIND_TABLE = 0  # tables: uint32 cdf rows (A, B, K + 1); slot_symbols optional
_KIND_UNIFORM = 1
_KIND_LOGISTIC = 2  # p0 means, p1 exp(-log_scales), p2 weights: (A, B, M); num_symbols = K
_KIND_GAUSS_EXACT = 3  # p0 mean, p1 std: (A, B, 1); aux0 = bucket edges
_KIND_GAUSS_HISTOGRAM = 4  # as exact, plus aux1 = histogram points

_EMPTY_TABLE = np.zeros((1, 1, 1), dtype=np.uint32)
_EMPTY_PARAMS = np.zeros((1, 1, 1), dtype=np.float64)
_EMPTY_VECTOR = np.zeros(0, dtype=np.float64)
_EMPTY_SLOTS = np.zeros(0, dtype=np.uint32)


@njit(cache=True, inline="always")
def _row(array, lane, step):
    """The index ``(a, b)`` of ``array[lane, step]`` where a dimension of size 1 broadcasts
    (indices, not a view: a view costs reference counting in the hot loops)."""
    return (lane if array.shape[0] > 1 else 0), (step if array.shape[1] > 1 else 0)


# The kernels below dispatch on ``kind`` themselves and hand each helper only the arrays
# it reads: an array passed through an inlined helper costs reference counting (atomic
# operations) on every call, which in these loops cost more than the arithmetic.


@njit(cache=True, inline="always")
def _logistic_bounds(symbol, means, inverse_scales, weights, a, b, num_symbols, precision_bits):
    """``(start, end)`` of ``symbol`` under the logistic mixture ``[a, b]``."""
    return (
        q.logistic_mixture_start(symbol, means, inverse_scales, weights, a, b, num_symbols, precision_bits),
        q.logistic_mixture_start(symbol + 1, means, inverse_scales, weights, a, b, num_symbols, precision_bits),
    )


@njit(cache=True, inline="always")
def _gauss_bounds(kind, symbol, mean, std, edges, points, precision_bits):
    """``(start, end)`` of bucket ``symbol`` under N(mean, std) (exact or histogram)."""
    if kind == _KIND_GAUSS_EXACT:
        return (
            q.gaussian_exact_start(symbol, mean, std, edges, precision_bits),
            q.gaussian_exact_start(symbol + 1, mean, std, edges, precision_bits),
        )
    return q.gaussian_histogram_start(symbol, mean, std, edges, points), q.gaussian_histogram_start(
        symbol + 1, mean, std, edges, points
    )


@njit(cache=True, nogil=True)
def _intervals_kernel(kind, symbols, precision_bits, tables, p0, p1, p2, aux0, aux1, num_symbols, starts, freqs):
    """Intervals of ``symbols`` (L, S) for a push; returns the count of zero frequencies."""
    num_lanes, num_steps = symbols.shape
    zero_count = 0
    for lane in range(num_lanes):
        for step in range(num_steps):
            symbol = symbols[lane, step]
            if kind == _KIND_TABLE:
                a, b = _row(tables, lane, step)
                start, end = np.int64(tables[a, b, symbol]), np.int64(tables[a, b, symbol + 1])
            elif kind == _KIND_UNIFORM:
                start, end = symbol, symbol + 1
            elif kind == _KIND_LOGISTIC:
                a, b = _row(p0, lane, step)
                start, end = _logistic_bounds(symbol, p0, p1, p2, a, b, num_symbols, precision_bits)
            else:
                a, b = _row(p0, lane, step)
                start, end = _gauss_bounds(kind, symbol, p0[a, b, 0], p1[a, b, 0], aux0, aux1, precision_bits)
            starts[lane, step] = start
            freqs[lane, step] = end - start
            if end <= start:
                zero_count += 1
    return zero_count


@njit(cache=True, nogil=True)
def _pop_kernel(
    kind, heads, words, counters, precision_bits, tables, slot_symbols, p0, p1, p2, aux0, aux1, num_symbols, out
):
    """Pop (L, S) symbols in the mirrored order of the push kernel into ``out``.

    The symbol holding a slot is the largest k with start(k) <= slot: read from
    ``slot_symbols`` (a shared table's slot -> symbol map, when not empty: a loop of its
    own), computed directly (uniform; histogram quantizer: the bucket of point number
    ``slot``), or found by binary search.
    """
    num_lanes, num_steps = out.shape
    tail, underflow = counters[0], counters[1]
    if slot_symbols.size > 0:  # a shared table: the hot loop, kept free of the dispatch below
        cdf = tables[0, 0]
        for step in range(num_steps - 1, -1, -1):
            for lane in range(num_lanes - 1, -1, -1):
                symbol = slot_symbols[peek_slot(heads, lane, precision_bits)]
                x = decode_interval(heads[lane], cdf[symbol], cdf[symbol + 1] - cdf[symbol], precision_bits)
                if x < _HEAD_LOWER:
                    tail, underflow, word = read_word(words, tail, underflow)
                    x = (x << _WORD_SHIFT) | word
                heads[lane], out[lane, step] = x, symbol
        counters[0], counters[1] = tail, underflow
        return
    for step in range(num_steps - 1, -1, -1):
        for lane in range(num_lanes - 1, -1, -1):
            slot = np.int64(peek_slot(heads, lane, precision_bits))
            a, b = _row(tables, lane, step) if kind == _KIND_TABLE else _row(p0, lane, step)
            if kind == _KIND_UNIFORM:
                symbol = slot
            elif kind == _KIND_GAUSS_HISTOGRAM:
                symbol = np.int64(q.gaussian_histogram_bucket(slot, p0[a, b, 0], p1[a, b, 0], aux0, aux1))
            else:
                low, high = 0, num_symbols - 1  # invariant: start(low) <= slot < start(high + 1)
                while low < high:
                    middle = (low + high + 1) >> 1
                    if kind == _KIND_TABLE:
                        middle_start = np.int64(tables[a, b, middle])
                    elif kind == _KIND_LOGISTIC:
                        middle_start = q.logistic_mixture_start(middle, p0, p1, p2, a, b, num_symbols, precision_bits)
                    else:
                        middle_start = q.gaussian_exact_start(middle, p0[a, b, 0], p1[a, b, 0], aux0, precision_bits)
                    if middle_start <= slot:
                        low = middle
                    else:
                        high = middle - 1
                symbol = np.int64(low)
            if kind == _KIND_TABLE:
                start, end = np.int64(tables[a, b, symbol]), np.int64(tables[a, b, symbol + 1])
            elif kind == _KIND_UNIFORM:
                start, end = symbol, symbol + 1
            elif kind == _KIND_LOGISTIC:
                start, end = _logistic_bounds(symbol, p0, p1, p2, a, b, num_symbols, precision_bits)
            else:
                start, end = _gauss_bounds(kind, symbol, p0[a, b, 0], p1[a, b, 0], aux0, aux1, precision_bits)
            x = decode_interval(heads[lane], start, end - start, precision_bits)
            if x < _HEAD_LOWER:
                tail, underflow, word = read_word(words, tail, underflow)
                x = (x << _WORD_SHIFT) | word
            heads[lane] = x
            out[lane, step] = symbol
    counters[0], counters[1] = tail, underflow


@njit(cache=True, nogil=True)
def _pop_beta_binomial_kernel(heads, words, counters, precision_bits, alphas, betas, trials, out):
    """Pop (L, S) beta-binomial symbols with one table per symbol (flat ``alphas, betas``
    of (L, S) parameters) in the mirrored order, without tables: each step's rows are
    built in blocks of lanes (the same recurrence and sums as the tables) and searched."""
    num_lanes, num_steps = out.shape
    block_rows = q._BLOCK_ROWS
    pmf = np.empty((trials + 1, block_rows))
    cumulative = np.empty((trials + 2, block_rows))
    full = np.float64(1 << precision_bits)
    tail, underflow = counters[0], counters[1]
    for step in range(num_steps - 1, -1, -1):
        top = num_lanes - 1
        while top >= 0:
            bottom = max(0, top - block_rows + 1)
            count = top - bottom + 1
            q.beta_binomial_pmf_block(alphas, betas, bottom * num_steps + step, num_steps, count, trials, pmf)
            q.beta_binomial_cumulative_block(pmf, count, trials, cumulative)
            for lane in range(top, bottom - 1, -1):
                r = lane - bottom
                slot = np.int64(peek_slot(heads, lane, precision_bits))
                # The symbol is the largest k with start(k) <= slot.  Guess it from the
                # running sums alone (no division), then settle it with exact starts.
                target = cumulative[trials + 1, r] * (slot / full)
                low, high = 0, trials
                while low < high:
                    middle = (low + high + 1) >> 1
                    if cumulative[middle, r] <= target:
                        low = middle
                    else:
                        high = middle - 1
                guess = low
                start = q.beta_binomial_start(guess, cumulative, r, trials, precision_bits)
                end = q.beta_binomial_start(guess + 1, cumulative, r, trials, precision_bits)
                if start > slot or end <= slot:  # a near miss: search exactly on that side
                    low, high = (0, guess - 1) if start > slot else (guess + 1, trials)
                    while low < high:  # invariant: start(low) <= slot < start(high + 1)
                        middle = (low + high + 1) >> 1
                        if q.beta_binomial_start(middle, cumulative, r, trials, precision_bits) <= slot:
                            low = middle
                        else:
                            high = middle - 1
                    start = q.beta_binomial_start(low, cumulative, r, trials, precision_bits)
                    end = q.beta_binomial_start(low + 1, cumulative, r, trials, precision_bits)
                x = decode_interval(heads[lane], start, end - start, precision_bits)
                if x < _HEAD_LOWER:
                    tail, underflow, word = read_word(words, tail, underflow)
                    x = (x << _WORD_SHIFT) | word
                heads[lane], out[lane, step] = x, low
            top = bottom - 1
    counters[0], counters[1] = tail, underflow


def _raise_zero_frequency(zero_count):
    raise ValueError(f"{zero_count} symbol(s) have probability 0 under this codec and cannot be pushed")


def _check_nonzero(freqs):
    """Raise before anything is pushed if any of these frequencies is 0."""
    zero_count = int(np.count_nonzero(freqs == 0))
    if zero_count:
        _raise_zero_frequency(zero_count)


def _as_3d(array, trailing):
    """Reshape parameters with batch dims (), (L,) or (L, S) to 3-D (A, B, trailing)."""
    array = np.ascontiguousarray(array)
    batch_ndim = array.ndim - 1
    if batch_ndim == 0:
        return array.reshape(1, 1, trailing)
    if batch_ndim == 1:
        return array.reshape(array.shape[0], 1, trailing)
    return array.reshape(array.shape[0], array.shape[1], trailing)


class Codec:
    """Base class: a distribution over ``num_symbols`` symbols at ``precision_bits``.

    Subclasses set ``_kind``, the parameter arrays and ``batch_shape``; the shape and
    range checks and the kernel calls live here, once.
    """

    _kind = None
    num_symbols = 0
    precision_bits = 0
    batch_shape = ()

    def _kernel_args(self):
        """(tables, slot_symbols, p0, p1, p2, aux0, aux1) for the kernels."""
        return _EMPTY_TABLE, _EMPTY_SLOTS, _EMPTY_PARAMS, _EMPTY_PARAMS, _EMPTY_PARAMS, _EMPTY_VECTOR, _EMPTY_VECTOR

    def _coding_shape(self, message, num_steps):
        """The (L, S) shape of one push/pop, checked against the parameters' batch shape."""
        num_lanes = message.num_lanes
        batch = self.batch_shape
        if len(batch) >= 1 and batch[0] != num_lanes:
            raise ValueError(f"codec parameters are for {batch[0]} lanes, the message has {num_lanes}")
        if len(batch) == 2:
            if num_steps is not None and num_steps != batch[1]:
                raise ValueError(f"codec parameters are for {batch[1]} steps, got {num_steps}")
            num_steps = batch[1]
        return num_lanes, num_steps

    def _check_symbols(self, message, symbols):
        symbols = np.asarray(symbols)
        if symbols.dtype.kind not in "iu":
            raise ValueError(f"symbols must be integers, got dtype {symbols.dtype}")
        if symbols.ndim not in (1, 2):
            raise ValueError(f"symbols must have shape (num_lanes,) or (num_lanes, num_steps), got {symbols.shape}")
        num_steps = symbols.shape[1] if symbols.ndim == 2 else None
        if symbols.ndim == 1 and len(self.batch_shape) == 2:
            raise ValueError(f"codec parameters are per step {self.batch_shape}; symbols must be 2-D")
        shape = self._coding_shape(message, num_steps)
        if symbols.shape[0] != shape[0]:
            raise ValueError(f"symbols are for {symbols.shape[0]} lanes, the message has {shape[0]}")
        if symbols.size and (symbols.min() < 0 or symbols.max() >= self.num_symbols):
            raise ValueError(f"symbols must be in [0, {self.num_symbols}), got range [{symbols.min()}, {symbols.max()}]")
        return np.ascontiguousarray(symbols, dtype=np.int64).reshape(shape[0], -1)

    def intervals(self, message, symbols):
        """``(starts, freqs)`` uint32 arrays of shape (L, S) for ``symbols`` (checked)."""
        symbols2d = self._check_symbols(message, symbols)
        tables, _, p0, p1, p2, aux0, aux1 = self._kernel_args()
        starts = np.empty(symbols2d.shape, dtype=np.uint32)
        freqs = np.empty(symbols2d.shape, dtype=np.uint32)
        zero_count = _intervals_kernel(
            self._kind, symbols2d, self.precision_bits, tables, p0, p1, p2, aux0, aux1, self.num_symbols, starts, freqs
        )
        if zero_count:
            _raise_zero_frequency(zero_count)
        return starts, freqs

    def push(self, message, symbols):
        """Encode ``symbols`` ((num_lanes,) or (num_lanes, num_steps)) onto ``message``."""
        starts, freqs = self.intervals(message, symbols)
        message.push_checked(starts, freqs, self.precision_bits)

    def pop(self, message, num_steps=None):
        """Decode symbols from ``message``: shape (num_lanes,), or (num_lanes, num_steps)
        when ``num_steps`` is given or the parameters are per step."""
        num_lanes, steps = self._coding_shape(message, num_steps)
        out = np.empty((num_lanes, 1 if steps is None else steps), dtype=np.int64)
        self._pop_into(message, out)
        return out[:, 0] if steps is None else out

    def _pop_into(self, message, out):
        """Pop ``out.shape`` symbols into ``out`` (the generic kernel)."""
        tables, slot_symbols, p0, p1, p2, aux0, aux1 = self._kernel_args()
        heads, stream = message._heads, message._stream
        _pop_kernel(
            self._kind, heads, stream.words, stream.counters, self.precision_bits,
            tables, slot_symbols, p0, p1, p2, aux0, aux1, self.num_symbols, out,
        )  # fmt: skip


class Uniform(Codec):
    """All ``2**precision_bits`` symbols equally likely (costs ``precision_bits`` bits each).

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=3)
    >>> codec = bb.codecs.Uniform(precision_bits=8)
    >>> codec.push(m, np.array([7, 255, 0]))
    >>> codec.pop(m).tolist()
    [7, 255, 0]
    """

    _kind = _KIND_UNIFORM

    def __init__(self, precision_bits):
        self.precision_bits = check_precision(precision_bits)
        self.num_symbols = 1 << self.precision_bits


class _TableCodec(Codec):
    """Codecs coded from whole quantized CDF tables (A, B, K + 1)."""

    _kind = _KIND_TABLE
    _slot_table_max_bits = 16  # shared tables at precision <= this get a slot -> symbol map

    def _set_tables(self, cdf, batch_shape):
        self.batch_shape = batch_shape
        self.num_symbols = cdf.shape[-1] - 1
        self._tables = _as_3d(cdf.astype(np.uint32, copy=False), cdf.shape[-1])
        self._slot_symbols = _EMPTY_SLOTS
        self._has_zero_freq = bool((cdf[..., 1:] == cdf[..., :-1]).any())
        if batch_shape == ():  # the fused paths: encoder rows, slot -> symbol map
            freqs = np.diff(cdf.astype(np.int64))
            self._encoder = np.empty((self.num_symbols, 5), dtype=np.uint64)
            encoder_table(self._tables[0, 0], self.precision_bits, self._encoder)
            if self.precision_bits <= self._slot_table_max_bits:
                dtype = np.uint8 if self.num_symbols <= 1 << 8 else np.uint16 if self.num_symbols <= 1 << 16 else np.uint32
                self._slot_symbols = np.repeat(np.arange(self.num_symbols, dtype=dtype), freqs)

    def push(self, message, symbols):
        symbols2d = self._check_symbols(message, symbols)
        if self.batch_shape == ():
            if self._has_zero_freq:
                _check_nonzero(self._encoder[symbols2d, 0])
            raise_for_status(push_symbols(message, symbols2d, self.precision_bits, encoder=self._encoder))
            return
        if self._has_zero_freq:
            rows = np.broadcast_to(self._tables, symbols2d.shape + self._tables.shape[-1:])
            starts = np.take_along_axis(rows, symbols2d[..., None], axis=-1)
            _check_nonzero(np.take_along_axis(rows, symbols2d[..., None] + 1, axis=-1) - starts)
        raise_for_status(push_symbols(message, symbols2d, self.precision_bits, tables=self._tables))

    @property
    def cdf(self):
        """The quantized CDF tables, shape ``batch_shape + (num_symbols + 1,)``."""
        return self._tables.reshape(self.batch_shape + (self.num_symbols + 1,))

    @property
    def freqs(self):
        """The quantized frequencies, shape ``batch_shape + (num_symbols,)``."""
        return np.diff(self.cdf.astype(np.int64), axis=-1).astype(np.uint32)

    def _kernel_args(self):
        return self._tables, self._slot_symbols, _EMPTY_PARAMS, _EMPTY_PARAMS, _EMPTY_PARAMS, _EMPTY_VECTOR, _EMPTY_VECTOR


def _batch_shape(array, trailing_dims, name):
    batch_ndim = array.ndim - trailing_dims
    if batch_ndim not in (0, 1, 2):
        raise ValueError(f"{name} must have 0, 1 or 2 batch dimensions (lanes, steps), got shape {array.shape}")
    return array.shape[:batch_ndim]


class Categorical(_TableCodec):
    """A categorical distribution given by float probabilities.

    Parameters
    ----------
    probs : array_like, shape (K,), (num_lanes, K) or (num_lanes, num_steps, K)
        Non-negative weights (normalized here).  Zero-probability symbols get frequency 0
        and cannot be pushed; every other symbol gets >= 1 (see
        :func:`bbans_numba.quantize.quantize_probs`).
    precision_bits : int in [1, 31]

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> c = bb.codecs.Categorical([0.7, 0.2, 0.1], precision_bits=12)
    >>> c.push(m, np.array([[0, 2], [1, 1]]))
    >>> c.pop(m, num_steps=2).tolist()
    [[0, 2], [1, 1]]
    """

    def __init__(self, probs, precision_bits):
        self.precision_bits = check_precision(precision_bits)
        probs = np.asarray(probs, dtype=np.float64)
        batch_shape = _batch_shape(probs, 1, "probs")
        self._set_tables(q.freqs_to_cdf(q.quantize_probs(probs, self.precision_bits)), batch_shape)


class BetaBinomial(_TableCodec):
    """Beta-binomial pixels: ``n + 1`` symbols (256 for 8-bit pixels, ``n = 255``).

    ``alpha`` and ``beta`` (same shape: (), (num_lanes,) or (num_lanes, num_steps)) are
    clamped into :data:`bbans_numba.quantize.BETA_BINOMIAL_PARAM_RANGE`; tables are built
    from the pmf ratio recurrence, every symbol gets frequency >= 1.  With
    one table per symbol ((num_lanes, num_steps) parameters) no table is stored: a push
    computes each symbol's interval, a pop each step's running sums, from the same
    recurrence (same bits as the tables; :attr:`cdf` builds them on demand).

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> c = bb.codecs.BetaBinomial(255, np.array([[0.5, 3.0]]*2), np.array([[2.0, 1.0]]*2), precision_bits=20)
    >>> c.push(m, np.array([[0, 200], [17, 255]]))
    >>> c.pop(m).tolist()
    [[0, 200], [17, 255]]
    """

    def __init__(self, n, alpha, beta, precision_bits):
        self.precision_bits = check_precision(precision_bits)
        alpha = np.asarray(alpha, dtype=np.float64)
        beta = np.asarray(beta, dtype=np.float64)
        if np.isnan(alpha).any() or np.isnan(beta).any():
            raise ValueError("alpha and beta must not be NaN")
        batch_shape = _batch_shape(alpha, 0, "alpha")
        self._per_symbol = len(batch_shape) == 2
        if not self._per_symbol:
            self._set_tables(q.beta_binomial_cdf(alpha, beta, n, self.precision_bits), batch_shape)
            return
        self._alpha, self._beta, self._trials, _ = q.check_beta_binomial_args(alpha, beta, n, self.precision_bits)
        self.batch_shape = batch_shape
        self.num_symbols = self._trials + 1
        self._table_cache = None
        self._slot_symbols = _EMPTY_SLOTS
        self._has_zero_freq = False  # the quantizer gives every symbol >= 1

    @property
    def _tables(self):
        if self._table_cache is None:  # per-symbol parameters: built only when asked for
            cdf = q.beta_binomial_cdf(self._alpha, self._beta, self._trials, self.precision_bits)
            self._table_cache = _as_3d(cdf, self.num_symbols + 1)
        return self._table_cache

    @_tables.setter
    def _tables(self, tables):
        self._table_cache = tables

    def intervals(self, message, symbols):
        if not self._per_symbol:
            return super().intervals(message, symbols)
        symbols2d = self._check_symbols(message, symbols)
        return q.beta_binomial_intervals(self._alpha, self._beta, self._trials, self.precision_bits, symbols2d)

    def push(self, message, symbols):
        if not self._per_symbol:
            return super().push(message, symbols)
        message.push_checked(*self.intervals(message, symbols), self.precision_bits)

    def _pop_into(self, message, out):
        if not self._per_symbol:
            return super()._pop_into(message, out)
        stream = message._stream
        _pop_beta_binomial_kernel(
            message._heads, stream.words, stream.counters, self.precision_bits, self._alpha.reshape(-1),
            self._beta.reshape(-1), self._trials, out,
        )  # fmt: skip


class DiscretizedLogisticMixture(Codec):
    """A mixture of logistics discretized to ``num_symbols`` bins (pixel units).

    Bin ``k`` covers ``[k - 0.5, k + 0.5]``; bins 0 and ``num_symbols - 1`` take the
    tails.  Parameters have shape ``batch_shape + (M,)`` for ``M`` components:
    ``means`` (pixel units), ``log_scales`` (natural log of the scale, clamped into
    :data:`bbans_numba.quantize.LOG_SCALE_RANGE`) and ``logit_weights`` (softmax).
    Intervals follow the per-symbol rule: only the CDF values needed are evaluated.

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> c = bb.codecs.DiscretizedLogisticMixture(
    ...     means=[[10.0, 200.0]] * 2, log_scales=[[1.0, 2.0]] * 2, logit_weights=[[0.0, 0.5]] * 2,
    ...     precision_bits=16)
    >>> c.push(m, np.array([12, 190]))
    >>> c.pop(m).tolist()
    [12, 190]
    """

    _kind = _KIND_LOGISTIC

    def __init__(self, means, log_scales, logit_weights, precision_bits, num_symbols=256):
        self.precision_bits = check_precision(precision_bits)
        if (1 << self.precision_bits) < num_symbols:
            raise ValueError(f"2**precision_bits must be >= num_symbols = {num_symbols}")
        self.num_symbols = int(num_symbols)
        means2d, log_scales2d, weights2d, batch_shape = q.check_logistic_params(means, log_scales, logit_weights)
        if len(batch_shape) > 2:
            raise ValueError(f"means must have 0, 1 or 2 batch dimensions (lanes, steps), got {batch_shape}")
        self.batch_shape = batch_shape
        components = means2d.shape[1]
        self._params = tuple(
            _as_3d(a.reshape(batch_shape + (components,)), components)
            for a in (means2d, q.inverse_scales(log_scales2d), weights2d)
        )

    def _kernel_args(self):
        return (_EMPTY_TABLE, _EMPTY_SLOTS) + self._params + (_EMPTY_VECTOR, _EMPTY_VECTOR)


class DiagGaussianStdBins(Codec):
    """Diagonal Gaussian latents over ``2**bucket_bits`` equal-mass N(0, 1) buckets.

    The symbol is the bucket index; :func:`bbans_numba.quantize.std_normal_bucket_centres`
    gives the value each stands for.  ``mean`` and ``std`` (same shape: (),
    (num_lanes,) or (num_lanes, num_steps)) describe N(mean, std) per symbol.

    Parameters
    ----------
    method : {"exact", "histogram"}
        ``"exact"`` quantizes the posterior's CDF at the bucket edges (every bucket >= 1,
        needs ``precision_bits >= bucket_bits``); ``"histogram"`` counts
        ``2**precision_bits`` equiprobable points of N(mean, std) into the buckets
        (``precision_bits <= 24``; buckets no point reaches get 0).  See
        :mod:`bbans_numba.quantize`.

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> c = bb.codecs.DiagGaussianStdBins(np.array([[0.3, -1.0]] * 2), np.array([[0.1, 0.5]] * 2),
    ...                                   bucket_bits=8, precision_bits=16, method="histogram")
    >>> z = c.pop(m)             # sample buckets from the posterior (bits back)
    >>> c.push(m, z)             # and put them back
    >>> m.num_words, m.underflow_words
    (0, 0)
    """

    def __init__(self, mean, std, bucket_bits, precision_bits, method="exact"):
        self.bucket_bits, self.precision_bits = q.check_gaussian_method(method, bucket_bits, precision_bits)
        mean, std = q.check_gaussian_params(mean, std)
        self.method = method
        self.batch_shape = _batch_shape(mean, 0, "mean")
        self.num_symbols = 1 << self.bucket_bits
        self._kind = _KIND_GAUSS_EXACT if method == "exact" else _KIND_GAUSS_HISTOGRAM
        self._mean = _as_3d(mean[..., None], 1)
        self._std = _as_3d(std[..., None], 1)
        self._edges = q.std_normal_bucket_edges(self.bucket_bits)
        self._points = q.histogram_points(self.precision_bits) if method == "histogram" else _EMPTY_VECTOR

    def _kernel_args(self):
        return _EMPTY_TABLE, _EMPTY_SLOTS, self._mean, self._std, _EMPTY_PARAMS, self._edges, self._points
