"""The rANS stack: a vectorized 64-bit rANS coder with 32-bit renormalization words.

A :class:`Message` holds ``num_lanes`` independent rANS states ("heads") that share one
growable stream of ``uint32`` words.  Symbols are pushed and popped as *intervals*
``[start, start + freq)`` of ``[0, 2**precision_bits)``, one per lane, by the one
encode step :func:`push_step` and its mirror :func:`pop_step` (renormalization
included; :func:`push_step_encoded` is the same push without a division).  The generic
kernels here code a *model* of any distribution family that says where a symbol's
interval lies and which symbol holds a slot (the protocol is written out above
:func:`register_family`); the families are in :mod:`bbans_numba.families`, the codecs
users call in :mod:`bbans_numba.codecs`.

Invariants (the rans64 convention, cf. ryg_rans ``rans64.h``)
--------------------------------------------------------------
* Every head ``x`` satisfies ``2**31 <= x < 2**63`` between operations.
* ``1 <= precision_bits <= 31``; ``1 <= freq`` and ``start + freq <= 2**precision_bits``.
* Push of ``(start, freq)``: if ``x >= freq << (63 - precision_bits)`` the low 32 bits of
  ``x`` are emitted as one word and ``x >>= 32`` (one word always suffices because
  ``x < 2**63`` and ``freq << (63 - precision_bits) >= 2**31``); then
  ``x = (x // freq << precision_bits) + x % freq + start``, which keeps ``x < 2**63``.
* Pop of ``(start, freq)`` holding ``cf = x & (2**precision_bits - 1)``:
  ``x = freq * (x >> precision_bits) + cf - start``; if then ``x < 2**31`` one word is
  read, ``x = x << 32 | word`` (one word suffices: ``x >= 2**(31 - precision_bits) >= 1``).
* Lane order: one push step walks lanes ``0 .. L-1``; a pop step walks ``L-1 .. 0``; a
  batch of shape ``(L, S)`` is pushed column by column ``s = 0 .. S-1`` and popped
  ``s = S-1 .. 0``.  So every pop mirrors exactly the push it undoes, and all lanes can
  share one stream (a stack of words: the last word pushed is the first read).

Underflow: popping from a message with no words left
----------------------------------------------------
A pop that needs a word when the stream is empty reads word number ``k`` of a fixed
generator (``splitmix64(k)``, low 32 bits) and increments the message's
``underflow_words`` counter ``k``.  A push that emits a word onto an *empty* stream while
``underflow_words > 0`` first checks whether the word equals generator word ``k - 1``; if
so, it is given back (``k -= 1``) instead of stored.  Hence pop followed by push (and push
followed by pop) restores a message exactly, even at the bottom.  Bits-back coding pops
from a nearly empty message for its first symbols: ``32 * underflow_words`` is the
"initial bits" cost that the stream then carries.  Fresh heads are also drawn from the
generator (``2**62 <= head < 2**63``) so the first pops are not biased to slot 0.

Serialized layout (:meth:`Message.to_bytes`), all little-endian, machine independent
-----------------------------------------------------------------------------------
``uint32 num_lanes | uint32 0 (reserved) | uint64 underflow_words | uint64 num_words |
uint64 heads[num_lanes] | uint32 words[num_words]`` with words in stack order, bottom
(first pushed) first.
"""

import os
from collections import namedtuple

import numpy as np
from numba import njit
from numba.extending import overload

__all__ = ["Message", "MAX_PRECISION_BITS", "HEAD_LOWER_BOUND", "HEAD_UPPER_BOUND"]

MAX_PRECISION_BITS = 31
HEAD_LOWER_BOUND = 1 << 31  # inclusive
HEAD_UPPER_BOUND = 1 << 63  # exclusive
_HEADER_BYTES = 24

# Kernel status codes (returned by every kernel that may fail; checked by the caller).
STATUS_OK = 0
STATUS_STREAM_FULL = 1  # the caller did not reserve enough words: never silently overrun
STATUS_ZERO_FREQUENCY = 2  # a symbol that cannot occur was pushed
STATUS_SLOT_OUTSIDE_INTERVAL = 3  # a pop was given an interval that does not hold the slot

_WORD_MASK = np.uint64(0xFFFFFFFF)
_WORD_SHIFT = np.uint64(32)
_HEAD_LOWER = np.uint64(HEAD_LOWER_BOUND)
_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_MUL2 = np.uint64(0x94D049BB133111EB)
_HEAD_SEED_OFFSET = np.uint64(1 << 63)  # heads use generator indices far from words'


@njit(cache=True, inline="always")
def splitmix64(index):
    """The splitmix64 generator's output number ``index`` (a pure function, uint64)."""
    z = (np.uint64(index) + np.uint64(1)) * _SPLITMIX_GAMMA
    z = (z ^ (z >> np.uint64(30))) * _SPLITMIX_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SPLITMIX_MUL2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def underflow_word(index):
    """Word number ``index`` of the fixed underflow generator (uint64 in [0, 2**32))."""
    return splitmix64(index) & _WORD_MASK


@njit(cache=True)
def _initial_heads(num_lanes):
    heads = np.empty(num_lanes, dtype=np.uint64)
    for lane in range(num_lanes):
        # 2**62 <= head < 2**63: the most slack a fresh head can have.
        heads[lane] = np.uint64(1 << 62) | (splitmix64(_HEAD_SEED_OFFSET + np.uint64(lane)) >> np.uint64(2))
    return heads


# --- the one step -----------------------------------------------------------------------
# counters[0] = number of words on the stream (the stack's top index),
# counters[1] = underflow words drawn and not given back.
# A kernel loads both into locals ``tail, underflow`` once, threads them through
# :func:`push_step` / :func:`pop_step` and stores them back before returning, and loads
# each head into a local ``x``: kept out of memory, they stay in registers.  A push kernel
# first checks that the buffer has room for one word per symbol it may push (the most a
# push emits), so a push never writes past the buffer.
#
# With ``BBANS_DEBUG_RANS=1`` in the environment the steps assert their invariants
# (head bounds, 1 <= freq, start + freq <= 2**precision_bits, the slot inside the popped
# interval, room in the buffer).  Numba freezes the switch into the compiled code and its
# on-disk cache does not know about it: run with the switch in a process of its own with
# its own ``NUMBA_CACHE_DIR`` (as tests/test_rans_debug.py does).
DEBUG = os.environ.get("BBANS_DEBUG_RANS", "") not in ("", "0")


@njit(cache=True, inline="always")
def _emit_word(words, tail, underflow, word):
    """Put ``word`` (uint64 < 2**32) on the stream (room checked by the caller):
    ``(tail, underflow)``."""
    if tail == 0 and underflow > 0 and word == underflow_word(underflow - 1):
        return tail, underflow - 1  # give a generator word back: exact inverse of its draw
    words[tail] = np.uint32(word)
    return tail + 1, underflow


@njit(cache=True, inline="always")
def _read_word(words, tail, underflow):
    """Take the top word of the stream, or the next generator word when it is empty:
    ``(tail, underflow, word)``."""
    if tail > 0:
        return tail - 1, underflow, np.uint64(words[tail - 1])
    return tail, underflow + 1, underflow_word(underflow)


@njit(cache=True, inline="always")
def _assert_interval(start, freq, precision_bits):
    assert 1 <= precision_bits <= MAX_PRECISION_BITS, "precision_bits outside [1, 31]"
    assert np.uint64(freq) >= np.uint64(1), "a symbol of frequency 0"
    assert np.uint64(start) + np.uint64(freq) <= np.uint64(1) << np.uint64(precision_bits), "start + freq > 2**p"


@njit(cache=True, inline="always")
def _assert_head(x):
    assert _HEAD_LOWER <= x and x >> np.uint64(63) == np.uint64(0), "a head outside [2**31, 2**63)"


@njit(cache=True, inline="always")
def _renormalize_for_push(x, x_max, words, tail, underflow):
    """Emit the head's low word when ``x >= x_max = freq << (63 - precision_bits)``, so the
    push that follows keeps ``x < 2**63``: ``(x, tail, underflow)``."""
    if DEBUG:
        _assert_head(x)
        assert 0 <= tail < words.size, "no room reserved in the word buffer"
    if x >= x_max:
        tail, underflow = _emit_word(words, tail, underflow, x & _WORD_MASK)
        x >>= _WORD_SHIFT
    return x, tail, underflow


@njit(cache=True, inline="always")
def peek(x, precision_bits):
    """The slot ``x mod 2**precision_bits`` (uint64) that head ``x``'s top symbol covers."""
    return x & ((np.uint64(1) << np.uint64(precision_bits)) - np.uint64(1))


@njit(cache=True, inline="always")
def push_step(x, start, freq, precision_bits, words, tail, underflow):
    """Push ``[start, start + freq)`` onto head ``x``: ``(x, tail, underflow)`` after.

    The encode step, with its renormalization: emit one word if
    ``x >= freq << (63 - precision_bits)``, then
    ``x = (x // freq << precision_bits) + x % freq + start``.  Needs ``freq >= 1`` (a
    kernel refuses frequency 0 before calling) and room for one word in ``words``.
    """
    freq64 = np.uint64(freq)
    if DEBUG:
        _assert_interval(start, freq, precision_bits)
    x, tail, underflow = _renormalize_for_push(x, freq64 << np.uint64(63 - precision_bits), words, tail, underflow)
    quotient = x // freq64
    x = (quotient << np.uint64(precision_bits)) + (x - quotient * freq64) + np.uint64(start)
    if DEBUG:
        _assert_head(x)
    return x, tail, underflow


@njit(cache=True, inline="always")
def pop_step(x, start, freq, precision_bits, words, tail, underflow):
    """Pop ``[start, start + freq)``, the interval holding :func:`peek`'s slot, from head
    ``x``: ``(x, tail, underflow)`` after.

    The decode step, with its renormalization:
    ``x = freq * (x >> precision_bits) + slot - start``, then read one word if
    ``x < 2**31`` (from the generator when the stream is empty).
    """
    slot = peek(x, precision_bits)
    if DEBUG:
        _assert_head(x)
        _assert_interval(start, freq, precision_bits)
        inside = np.uint64(start) <= slot and slot - np.uint64(start) < np.uint64(freq)
        assert inside, "the slot is outside the interval"
    x = np.uint64(freq) * (x >> np.uint64(precision_bits)) + slot - np.uint64(start)
    if x < _HEAD_LOWER:
        tail, underflow, word = _read_word(words, tail, underflow)
        x = (x << _WORD_SHIFT) | word
    if DEBUG:
        _assert_head(x)
    return x, tail, underflow


# --- division-free push for tables known in advance (cf. rans64's Rans64EncSymbol) ------
# For a fixed interval (start, freq) the encoder precomputes, once per symbol,
#   x_max = freq << (63 - precision_bits)           (renormalize when x >= x_max),
#   rcp, shift with q = mulhi64(x, rcp) >> shift == x // freq for every x < 2**63
#     (Alverson: rcp = ceil(2**(63 + l) / freq), shift = l - 1, l = ceil(log2 freq); for
#     freq = 1, rcp = 2**64 - 1 and shift = 0 give q = x - 1, corrected through bias),
#   bias = start (start + 2**precision_bits - 1 for freq = 1), cmpl = 2**precision_bits - freq,
# and then x' = x + bias + q * cmpl == (x // freq << precision_bits) + x % freq + start:
# bit for bit the encode of push_step, without a 64-bit division.


@njit(cache=True, inline="always")
def mulhi64(a, b):
    """High 64 bits of the 128-bit product of two uint64 values (from 32-bit halves)."""
    a_lo = a & _WORD_MASK
    a_hi = a >> _WORD_SHIFT
    b_lo = b & _WORD_MASK
    b_hi = b >> _WORD_SHIFT
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    cross = (lo_lo >> _WORD_SHIFT) + (hi_lo & _WORD_MASK) + lo_hi  # < 2**64: no overflow
    return a_hi * b_hi + (hi_lo >> _WORD_SHIFT) + (cross >> _WORD_SHIFT)


@njit(cache=True, nogil=True)
def encoder_table(cdf, precision_bits, out):
    """Fill ``out`` (K, 5) uint64 with ``x_max, rcp, shift, bias, cmpl`` of each symbol of
    the quantized ``cdf`` (K + 1 starts); symbols of frequency 0 get ``x_max = 0``."""
    total = np.uint64(1) << np.uint64(precision_bits)
    for symbol in range(cdf.size - 1):
        start = np.uint64(cdf[symbol])
        freq = np.uint64(cdf[symbol + 1]) - start
        out[symbol, 0] = freq << np.uint64(63 - precision_bits)
        out[symbol, 4] = total - freq
        if freq < np.uint64(2):
            out[symbol, 1] = ~np.uint64(0)
            out[symbol, 2] = np.uint64(0)
            out[symbol, 3] = start + total - np.uint64(1)
        else:
            log = np.uint64(0)
            while freq > (np.uint64(1) << log):
                log += np.uint64(1)
            # ceil(2**(63 + log) / freq) by two 64:64 divisions (the dividend's low word is 0)
            high = np.uint64(1) << (log + np.uint64(31))
            t1 = high // freq
            t0 = (((high % freq) << _WORD_SHIFT) + freq - np.uint64(1)) // freq
            out[symbol, 1] = t0 + (t1 << _WORD_SHIFT)
            out[symbol, 2] = log - np.uint64(1)
            out[symbol, 3] = start


@njit(cache=True, inline="always")
def encode_symbol(x, encoder, symbol):
    """The encode of :func:`push_step` for ``symbol``'s interval from its
    :func:`encoder_table` row (``x`` already renormalized; frequency >= 1)."""
    quotient = mulhi64(x, encoder[symbol, 1]) >> encoder[symbol, 2]
    return x + encoder[symbol, 3] + quotient * encoder[symbol, 4]


@njit(cache=True, inline="always")
def push_step_encoded(x, encoder, symbol, words, tail, underflow):
    """:func:`push_step` of ``symbol``'s interval from its :func:`encoder_table` row
    (frequency >= 1): the same renormalization, the encode without a division."""
    if DEBUG:
        assert encoder[symbol, 0] != 0, "a symbol of frequency 0"
    x, tail, underflow = _renormalize_for_push(x, encoder[symbol, 0], words, tail, underflow)
    x = encode_symbol(x, encoder, symbol)
    if DEBUG:
        _assert_head(x)
    return x, tail, underflow


# --- the entropy-model protocol and the generic kernels ------------------------------
# A *model* is an instance of a distribution family's parameter class: a namedtuple (of
# arrays and scalars) that also derives from :class:`Model`.  Numba types a namedtuple by
# its class, so the generic kernels below are compiled once per family, the first time
# that family is coded, and cached on disk like any kernel.  A family registers, with
# :func:`register_family`, inline jitted functions (``@njit(inline="always")``) that
# answer for one symbol of lane ``lane`` at step ``step`` (parameters of shape (A, B, ...)
# broadcast over a size-1 dimension, see :func:`param_index`):
#
#   start(model, lane, step, symbol, precision_bits) -> int64
#       the first slot of ``symbol`` (its left cumulative frequency): non-decreasing in
#       ``symbol``, start(0) = 0, start(num_symbols) = 2**precision_bits;
#   interval(model, lane, step, symbol, precision_bits) -> (start, freq)
#       ``symbol``'s interval, int64; freq 0 for a symbol that cannot occur
#       (default: from two starts);
#   quantile(model, lane, step, slot, precision_bits) -> (symbol, start, freq)
#       the symbol whose interval holds ``slot`` (uint64) and that interval, int64; freq
#       0 if none does (default: bisection over the starts, which needs a field
#       ``num_symbols``);
#   push(model, lane, step, symbol, precision_bits, x, words, tail, underflow)
#       -> (x, tail, underflow, pushed)
#       :func:`push_step` of ``symbol``'s interval, ``pushed`` False (nothing changed)
#       for frequency 0 (default: from ``interval``; a table with precomputed
#       reciprocals pushes without a division).
#
# A family gives ``start``, or ``interval`` and ``quantile``, and may give the others.
# Each generic loop below is a Numba ``overload`` whose implementation Numba builds per
# family at compile time, with the family's functions inlined into it (Numba's plain
# inlining of ``inline="always"`` functions: no call, no dispatch at run time); the
# kernels are thin, cached entry points.  A kernel of one's own (e.g. a decoder that evaluates a network
# per pixel) calls :func:`family_functions`' functions, :func:`peek`, :func:`push_step`
# and :func:`pop_step` directly.  Numba's on-disk cache checks only the source file of
# the kernel itself: after editing a family, clear the cache (``NUMBA_CACHE_DIR`` or
# ``__pycache__``).
#
# Kernels and loops are compiled without Numba's reference counting (``_nrt=False``):
# they allocate nothing, and every array handed to an inlined function with a branch
# (push_step's renormalization, say) otherwise costs atomic increments and decrements
# per symbol (measured: 3.7 ns instead of 0.5 ns per step).
_LOOP_OPTIONS = {"_nrt": False}

_Family = namedtuple("_Family", ["start", "interval", "quantile", "push"])
_FAMILIES = {}  # parameter class -> _Family of its inline jitted functions


def _interval_from_starts(start):
    @njit(inline="always")
    def interval(model, lane, step, symbol, precision_bits):
        first = start(model, lane, step, symbol, precision_bits)
        return first, start(model, lane, step, symbol + 1, precision_bits) - first

    return interval


def _quantile_by_bisection(start):
    @njit(inline="always")
    def quantile(model, lane, step, slot, precision_bits):
        # The largest symbol with start <= slot lies in [low, low + count); halve count
        # (the comparison selects, it does not branch: it would mispredict half the time).
        target = np.int64(slot)
        low, count = np.int64(0), np.int64(model.num_symbols)
        while count > 1:
            half = count >> 1
            low += half * np.int64(start(model, lane, step, low + half, precision_bits) <= target)
            count -= half
        first = start(model, lane, step, low, precision_bits)
        return low, first, start(model, lane, step, low + 1, precision_bits) - first

    return quantile


def _push_by_interval(interval):
    @njit(inline="always")
    def push(model, lane, step, symbol, precision_bits, x, words, tail, underflow):
        first, freq = interval(model, lane, step, symbol, precision_bits)
        if freq <= 0:
            return x, tail, underflow, False
        x, tail, underflow = push_step(x, first, freq, precision_bits, words, tail, underflow)
        return x, tail, underflow, True

    return push


def register_family(parameter_class, start=None, interval=None, quantile=None, push=None):
    """Register the inline jitted functions of the family whose models are
    ``parameter_class`` instances (a namedtuple class deriving from :class:`Model`);
    returns the class."""
    if start is None and (interval is None or quantile is None):
        raise TypeError("a family gives start, or interval and quantile")
    interval = _interval_from_starts(start) if interval is None else interval
    _FAMILIES[parameter_class] = _Family(
        start,
        interval,
        _quantile_by_bisection(start) if quantile is None else quantile,
        _push_by_interval(interval) if push is None else push,
    )
    return parameter_class


def family_functions(parameter_class):
    """``(start, interval, quantile, push)``: a registered family's inline jitted
    functions (``start`` is None when the family gives only interval and quantile), for
    kernels that call them directly."""
    return _FAMILIES[parameter_class]


def _family(model_type):
    family = _FAMILIES.get(getattr(model_type, "instance_class", None))
    if family is None:
        raise TypeError(f"{model_type} is not a registered family's parameter class")
    return family


@njit(cache=True, inline="always")
def param_index(array, lane, step):
    """The index ``(a, b)`` of lane ``lane``, step ``step`` in parameters of shape
    ``(A, B, ...)`` with ``A`` in {1, lanes} and ``B`` in {1, steps} (a size-1 dimension
    broadcasts; indices, not a view: a view costs reference counting in hot loops)."""
    return min(lane, array.shape[0] - 1), min(step, array.shape[1] - 1)


def _generic_loop(build):
    """Declare a loop written once for every family.  ``build(start, interval, quantile,
    push)``, given a family's functions, returns the loop's implementation with them
    inlined; Numba builds it the first time a kernel calls the loop with a model of that
    family (jitted code only)."""

    def loop(*args):
        raise TypeError("a generic loop runs in jitted code only")

    @overload(loop, jit_options=_LOOP_OPTIONS, strict=False)
    def loop_for_family(*args):
        models = [arg for arg in args if getattr(arg, "instance_class", None) in _FAMILIES]
        if not models:
            raise TypeError(f"no model of a registered family among {args}")
        return build(**_FAMILIES[models[0].instance_class]._asdict())

    return loop


@_generic_loop
def _push_loop(start, interval, quantile, push):
    def push_loop(heads, words, counters, precision_bits, model, symbols):
        num_lanes, num_steps = symbols.shape
        tail, underflow = counters[0], counters[1]
        if words.size - tail < num_lanes * num_steps:
            return STATUS_STREAM_FULL
        for step in range(num_steps):
            for lane in range(num_lanes):
                x, tail, underflow, pushed = push(
                    model, lane, step, symbols[lane, step], precision_bits, heads[lane], words, tail, underflow
                )
                if not pushed:  # frequency 0: the caller restores the message (see Model.push)
                    return STATUS_ZERO_FREQUENCY
                heads[lane] = x
        counters[0], counters[1] = tail, underflow
        return STATUS_OK

    return push_loop


@_generic_loop
def _intervals_loop(start, interval, quantile, push):
    def intervals_loop(model, symbols, precision_bits, starts, freqs):
        impossible = 0
        for lane in range(symbols.shape[0]):
            for step in range(symbols.shape[1]):
                first, freq = interval(model, lane, step, symbols[lane, step], precision_bits)
                starts[lane, step], freqs[lane, step] = first, freq
                impossible += freq <= 0
        return impossible

    return intervals_loop


@_generic_loop
def _pop_loop(start, interval, quantile, push):
    def pop_loop(heads, words, counters, precision_bits, model, out):
        tail, underflow = counters[0], counters[1]
        for step in range(out.shape[1] - 1, -1, -1):
            for lane in range(out.shape[0] - 1, -1, -1):
                x = heads[lane]
                symbol, first, freq = quantile(model, lane, step, peek(x, precision_bits), precision_bits)
                if freq <= 0:
                    counters[0], counters[1] = tail, underflow
                    return STATUS_SLOT_OUTSIDE_INTERVAL
                heads[lane], tail, underflow = pop_step(x, first, freq, precision_bits, words, tail, underflow)
                out[lane, step] = symbol
        counters[0], counters[1] = tail, underflow
        return STATUS_OK

    return pop_loop


# The kernels: cached entry points, one specialization per family.


@njit(cache=True, nogil=True, **_LOOP_OPTIONS)
def push_kernel(heads, words, counters, precision_bits, model, symbols):
    """Push ``symbols`` (L, S) under ``model``: columns ``s = 0..S-1``, lanes ``0..L-1``
    within each.  A symbol of frequency 0 stops the push midway and is reported in the
    status (:meth:`Model.push` then puts the message back as it was)."""
    return _push_loop(heads, words, counters, precision_bits, model, symbols)


@njit(cache=True, nogil=True, **_LOOP_OPTIONS)
def pop_kernel(heads, words, counters, precision_bits, model, out):
    """Pop ``out.shape`` (L, S) symbols under ``model`` into ``out``, in the exact
    reverse order of :func:`push_kernel`."""
    return _pop_loop(heads, words, counters, precision_bits, model, out)


@njit(cache=True, nogil=True, **_LOOP_OPTIONS)
def intervals_kernel(model, symbols, precision_bits, starts, freqs):
    """Intervals of ``symbols`` (L, S) into ``starts, freqs``; returns how many have
    frequency 0."""
    return _intervals_loop(model, symbols, precision_bits, starts, freqs)


def _push_restoring(kernel, message, model, symbols, precision_bits):
    """Run a push ``kernel``; if it stops at an impossible symbol, put the heads and counters
    back as they were and raise.  (A push only writes words above the stream's top and
    gives generator words back by decrementing the counter, so that restores the message
    exactly.)"""
    heads, words, counters = message.kernel_arrays(reserve_words=symbols.size)
    saved_heads, saved_counters = heads.copy(), counters.copy()
    status = kernel(heads, words, counters, precision_bits, model, symbols)
    if status != STATUS_OK:
        heads[:], counters[:] = saved_heads, saved_counters
        raise_for_status(status)


class Model:
    """What a family's parameter class adds to its namedtuple: push and pop on a
    :class:`Message` through the generic kernels (a family with kernels of its own
    overrides them).  Arguments are checked by the caller (a codec): int64 symbols of
    shape (num_lanes, S) within range, a valid precision."""

    __slots__ = ()

    def push(self, message, symbols, precision_bits):
        """Push ``symbols`` (L, S); ``ValueError`` (message unchanged) if one is impossible."""
        _push_restoring(push_kernel, message, self, symbols, precision_bits)

    def pop(self, message, out, precision_bits):
        """Pop ``out.shape`` (L, S) symbols into ``out`` (int64); ``ValueError`` (message
        unchanged) if a slot lies outside every interval (explicit intervals that were not
        pushed).  A pop writes no word, so heads and counters restore the message."""
        heads, words, counters = message.kernel_arrays()
        saved_heads, saved_counters = heads.copy(), counters.copy()
        status = pop_kernel(heads, words, counters, precision_bits, self, out)
        if status != STATUS_OK:
            heads[:], counters[:] = saved_heads, saved_counters
            raise_for_status(status)

    def intervals(self, symbols, precision_bits):
        """``(starts, freqs)`` uint32 of ``symbols`` (L, S); ``ValueError`` if one is impossible."""
        starts = np.empty(symbols.shape, dtype=np.uint32)
        freqs = np.empty(symbols.shape, dtype=np.uint32)
        impossible = intervals_kernel(self, symbols, precision_bits, starts, freqs)
        if impossible:
            raise ValueError(f"{impossible} symbol(s) have probability 0 under this codec and cannot be pushed")
        return starts, freqs

    def frequency_table(self, shape, precision_bits):
        """Frequencies (int64) of every symbol in parameter rows ``(a, b)``:
        ``shape = (A, B, K)`` (for inspection and tests: one kernel call per symbol)."""
        freqs = np.empty(shape, dtype=np.int64)
        starts, column = np.empty(shape[:2], dtype=np.uint32), np.empty(shape[:2], dtype=np.uint32)
        for symbol in range(shape[2]):
            intervals_kernel(self, np.full(shape[:2], symbol, dtype=np.int64), precision_bits, starts, column)
            freqs[..., symbol] = column
        return freqs


@njit(cache=True, inline="always")
def _explicit_interval(model, lane, step, symbol, precision_bits):
    return np.int64(model.starts[lane, step]), np.int64(model.freqs[lane, step])


@njit(cache=True, inline="always")
def _explicit_quantile(model, lane, step, slot, precision_bits):
    first, freq = np.int64(model.starts[lane, step]), np.int64(model.freqs[lane, step])
    if slot < np.uint64(first) or slot - np.uint64(first) >= np.uint64(freq):
        return first, first, np.int64(0)  # not the interval pushed here
    return first, first, freq


class Intervals(Model, namedtuple("Intervals", ["starts", "freqs"])):
    """Explicit intervals ``[starts, starts + freqs)`` (uint32, shape (L, S)), as
    :meth:`Message.push` takes them: the symbol of an interval is its start."""

    __slots__ = ()


register_family(Intervals, interval=_explicit_interval, quantile=_explicit_quantile)


# --- Python side ----------------------------------------------------------------------


def check_precision(precision_bits, name="precision_bits"):
    """Return ``precision_bits`` as int after checking 1 <= value <= 31 (ValueError)."""
    if isinstance(precision_bits, (bool, np.bool_)) or not isinstance(precision_bits, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {precision_bits!r}")
    if not 1 <= int(precision_bits) <= MAX_PRECISION_BITS:
        raise ValueError(f"{name} must be in [1, {MAX_PRECISION_BITS}], got {precision_bits}")
    return int(precision_bits)


class _Stream:
    """The shared word stack: a growable uint32 buffer and its two counters."""

    __slots__ = ("words", "counters")

    def __init__(self, words=None, underflow_words=0):
        if words is None:
            words = np.empty(0, dtype=np.uint32)
        self.words = np.array(words, dtype=np.uint32)
        self.counters = np.array([self.words.size, underflow_words], dtype=np.int64)

    def reserve(self, extra_words):
        """Make room for ``extra_words`` more words (amortized doubling)."""
        needed = int(self.counters[0]) + int(extra_words)
        if needed > self.words.size:
            grown = np.empty(max(needed, 2 * self.words.size, 1024), dtype=np.uint32)
            grown[: self.counters[0]] = self.words[: self.counters[0]]
            self.words = grown

    def contents(self):
        return self.words[: self.counters[0]]


class Message:
    """A vectorized rANS message: ``num_lanes`` heads over one shared stream of words.

    Parameters
    ----------
    num_lanes : int
        Number of independent rANS states coded side by side (>= 1).

    Examples
    --------
    >>> import numpy as np
    >>> import bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> before = m.to_bytes()
    >>> m.push(np.array([3, 0]), np.array([2, 5]), precision_bits=3)
    >>> slots = m.peek(precision_bits=3)             # a slot inside each pushed interval
    >>> bool(3 <= slots[0] < 5 and 0 <= slots[1] < 5)
    True
    >>> m.pop(np.array([3, 0]), np.array([2, 5]), precision_bits=3)
    >>> m.to_bytes() == before
    True
    """

    __slots__ = ("_heads", "_stream")

    def __init__(self, num_lanes=1):
        if isinstance(num_lanes, bool) or not isinstance(num_lanes, (int, np.integer)) or num_lanes < 1:
            raise ValueError(f"num_lanes must be a positive integer, got {num_lanes!r}")
        self._heads = _initial_heads(int(num_lanes))
        self._stream = _Stream()

    @classmethod
    def _from_parts(cls, heads, stream):
        message = cls.__new__(cls)
        message._heads = heads
        message._stream = stream
        return message

    # -- introspection ---------------------------------------------------------------
    @property
    def num_lanes(self):
        """Number of lanes (heads)."""
        return self._heads.size

    @property
    def heads(self):
        """A read-only copy of the heads (uint64, shape ``(num_lanes,)``)."""
        heads = self._heads.copy()
        heads.setflags(write=False)
        return heads

    @property
    def num_words(self):
        """Words on the stream."""
        return int(self._stream.counters[0])

    @property
    def underflow_words(self):
        """Generator words drawn by pops from the empty stream and not given back."""
        return int(self._stream.counters[1])

    def num_bits(self):
        """Size of the message in bits: 64 per head plus 32 per stream word."""
        return 64 * self.num_lanes + 32 * self.num_words

    def first_lanes(self, count):
        """A view of lanes ``0 .. count-1`` sharing this message's heads and stream.

        Pushing or popping through the view changes this message too; used to code a
        final, partial step on fewer lanes.
        """
        if not 1 <= count <= self.num_lanes:
            raise ValueError(f"count must be in [1, {self.num_lanes}], got {count}")
        return Message._from_parts(self._heads[:count], self._stream)

    def copy(self):
        """An independent deep copy."""
        stream = _Stream(self._stream.contents().copy(), self.underflow_words)
        return Message._from_parts(self._heads.copy(), stream)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __repr__(self):
        return (
            f"Message(num_lanes={self.num_lanes}, num_words={self.num_words}, "
            f"underflow_words={self.underflow_words})"
        )

    # -- argument checking -------------------------------------------------------------
    def _lane_array(self, values, name, ndim):
        array = np.asarray(values)
        if array.ndim == 0 and ndim == 1:
            array = np.broadcast_to(array, (self.num_lanes,))
        if array.dtype.kind not in "iu":
            raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
        if array.ndim != ndim or array.shape[0] != self.num_lanes:
            wanted = "(num_lanes,)" if ndim == 1 else "(num_lanes, num_steps)"
            raise ValueError(f"{name} must have shape {wanted} = ({self.num_lanes}, ...), got {array.shape}")
        return array

    def _intervals(self, starts, freqs, precision_bits, ndim):
        precision_bits = check_precision(precision_bits)
        starts = self._lane_array(starts, "starts", ndim)
        freqs = self._lane_array(freqs, "freqs", ndim)
        if starts.shape != freqs.shape:
            raise ValueError(f"starts {starts.shape} and freqs {freqs.shape} must have the same shape")
        if starts.size:
            total = 1 << precision_bits
            if freqs.min() < 1:
                raise ValueError("every freq must be >= 1 (a zero-frequency symbol cannot be coded)")
            if starts.min() < 0:
                raise ValueError("every start must be >= 0")
            # Compare each against the total first (numpy compares any integer dtype with a
            # Python int exactly), so the sum below cannot overflow int64.
            if starts.max() > total or freqs.max() > total or int(
                (starts.astype(np.int64) + freqs.astype(np.int64)).max()
            ) > total:
                raise ValueError(f"start + freq must be <= 2**precision_bits = {total}")
        starts = np.ascontiguousarray(starts, dtype=np.uint32).reshape(self.num_lanes, -1)
        freqs = np.ascontiguousarray(freqs, dtype=np.uint32).reshape(self.num_lanes, -1)
        return starts, freqs, precision_bits

    # -- coding ------------------------------------------------------------------------
    def kernel_arrays(self, reserve_words=0):
        """``(heads, words, counters)``: the arrays a jitted kernel codes this message in.

        ``heads`` (uint64, one per lane) and ``words`` (the uint32 stream buffer) are
        changed in place; ``counters`` (int64) holds ``[num_words, underflow_words]``,
        which a kernel loads into ``tail, underflow``, threads through
        :func:`push_step` / :func:`pop_step` and stores back.  Room for
        ``reserve_words`` more words is made first: a kernel may push at most that many
        symbols (one word each at the most).
        """
        if reserve_words:
            self._stream.reserve(reserve_words)
        return self._heads, self._stream.words, self._stream.counters

    def _push_valid(self, starts, freqs, precision_bits):
        """Push the ``(num_lanes, S)`` uint32 intervals that :meth:`_intervals` returned."""
        Intervals(starts, freqs).push(self, starts, precision_bits)

    def push(self, starts, freqs, precision_bits):
        """Push one symbol per lane given by its interval ``[starts, starts + freqs)``.

        Parameters
        ----------
        starts, freqs : array_like of int, shape (num_lanes,) (or scalars)
        precision_bits : int in [1, 31]
        """
        self._push_valid(*self._intervals(starts, freqs, precision_bits, ndim=1))

    def push_batch(self, starts, freqs, precision_bits):
        """Push ``S`` symbols per lane in one call: arrays of shape ``(num_lanes, S)``."""
        self._push_valid(*self._intervals(starts, freqs, precision_bits, ndim=2))

    def peek(self, precision_bits):
        """The slots ``cf`` (int64, shape ``(num_lanes,)``) of the top symbols."""
        precision_bits = check_precision(precision_bits)
        return (self._heads & np.uint64((1 << precision_bits) - 1)).astype(np.int64)

    def pop(self, starts, freqs, precision_bits):
        """Remove one symbol per lane, given the interval that holds :meth:`peek`'s slot."""
        starts, freqs, precision_bits = self._intervals(starts, freqs, precision_bits, ndim=1)
        slots = self.peek(precision_bits)
        if np.any((slots < starts[:, 0]) | (slots >= starts[:, 0].astype(np.int64) + freqs[:, 0])):
            raise ValueError("an interval does not hold its lane's peeked slot; pop the symbol that peek() selects")
        self._pop_intervals(starts, freqs, precision_bits)

    def pop_batch(self, starts, freqs, precision_bits):
        """Undo :meth:`push_batch` given the same ``(num_lanes, S)`` intervals.

        The intervals must be those pushed (the caller knows them, e.g. from a side
        channel); to decode unknown symbols use a codec, which searches its table.
        """
        self._pop_intervals(*self._intervals(starts, freqs, precision_bits, ndim=2))

    def _pop_intervals(self, starts, freqs, precision_bits):
        Intervals(starts, freqs).pop(self, np.empty(starts.shape, dtype=np.int64), precision_bits)

    # -- serialization -----------------------------------------------------------------
    def to_bytes(self):
        """Serialize (little-endian, see the module docstring for the layout)."""
        header = np.array([self.num_lanes, 0], dtype="<u4").tobytes()
        counts = np.array([self.underflow_words, self.num_words], dtype="<u8").tobytes()
        return header + counts + self._heads.astype("<u8").tobytes() + self._stream.contents().astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data):
        """Parse :meth:`to_bytes` output; ``ValueError`` on anything malformed."""
        data = bytes(data)
        if len(data) < _HEADER_BYTES:
            raise ValueError(f"message too short: {len(data)} bytes, header needs {_HEADER_BYTES}")
        num_lanes, reserved = np.frombuffer(data, dtype="<u4", count=2)
        underflow_words, num_words = (int(v) for v in np.frombuffer(data, dtype="<u8", count=2, offset=8))
        if num_lanes < 1 or reserved != 0:
            raise ValueError(f"malformed message header (num_lanes={num_lanes}, reserved={reserved})")
        expected = _HEADER_BYTES + 8 * int(num_lanes) + 4 * num_words
        if len(data) != expected:
            raise ValueError(f"message length {len(data)} bytes does not match its header (expected {expected})")
        if underflow_words >= 1 << 62:
            raise ValueError(f"malformed message header (underflow_words={underflow_words})")
        heads = np.frombuffer(data, dtype="<u8", count=int(num_lanes), offset=_HEADER_BYTES).astype(np.uint64)
        if np.any(heads < np.uint64(HEAD_LOWER_BOUND)) or np.any(heads >= np.uint64(HEAD_UPPER_BOUND)):
            raise ValueError("malformed message: a head is outside [2**31, 2**63)")
        words = np.frombuffer(data, dtype="<u4", count=num_words, offset=_HEADER_BYTES + 8 * int(num_lanes))
        return cls._from_parts(heads, _Stream(words, underflow_words))


def raise_for_status(status):
    """Turn a kernel status code into an exception (no-op for ``STATUS_OK``)."""
    if status == STATUS_ZERO_FREQUENCY:
        raise ValueError("cannot push a symbol of frequency 0 (probability 0 under the codec)")
    if status == STATUS_SLOT_OUTSIDE_INTERVAL:
        raise ValueError("an interval does not hold its lane's slot: these are not the symbols that were pushed")
    if status == STATUS_STREAM_FULL:
        raise RuntimeError("internal error: stream buffer not reserved before a kernel call")
