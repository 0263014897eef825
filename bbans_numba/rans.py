"""The rANS stack: a vectorized 64-bit rANS coder with 32-bit renormalization words.

A :class:`Message` holds ``num_lanes`` independent rANS states ("heads") that share one
growable stream of ``uint32`` words.  Symbols are pushed and popped as *intervals*
``[start, start + freq)`` of ``[0, 2**precision_bits)``, one per lane.  The jitted kernels
here know nothing of probabilities; :mod:`bbans_numba.codecs` turns distributions into
intervals.

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

import numpy as np
from numba import njit

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


# --- inline building blocks shared by every kernel (here and in codecs) --------------
# counters[0] = number of words on the stream (the stack's top index),
# counters[1] = underflow words drawn and not given back.
# Kernels load both into locals ``tail, underflow`` once, thread them through the blocks
# below and store them back before returning, and load each head into a local ``x``:
# kept out of memory, they stay in registers.  A push kernel first checks that the
# buffer has room for one word per symbol it may push (the most a push emits), so
# :func:`emit_word` never writes past the buffer.


@njit(cache=True, inline="always")
def emit_word(words, tail, underflow, word):
    """Put ``word`` (uint64 < 2**32) on the stream (room checked by the caller):
    ``(tail, underflow)``."""
    if tail == 0 and underflow > 0 and word == underflow_word(underflow - 1):
        return tail, underflow - 1  # give a generator word back: exact inverse of its draw
    words[tail] = np.uint32(word)
    return tail + 1, underflow


@njit(cache=True, inline="always")
def read_word(words, tail, underflow):
    """Take the top word of the stream, or the next generator word when it is empty:
    ``(tail, underflow, word)``."""
    if tail > 0:
        return tail - 1, underflow, np.uint64(words[tail - 1])
    return tail, underflow + 1, underflow_word(underflow)


@njit(cache=True, inline="always")
def encode_interval(x, start, freq, precision_bits):
    """The head after pushing ``[start, start + freq)`` onto ``x`` (already renormalized)."""
    freq64 = np.uint64(freq)
    quotient = x // freq64
    return (quotient << np.uint64(precision_bits)) + (x - quotient * freq64) + np.uint64(start)


# --- division-free push for tables known in advance (cf. rans64's Rans64EncSymbol) ------
# For a fixed interval (start, freq) the encoder precomputes, once per symbol,
#   x_max = freq << (63 - precision_bits)           (renormalize when x >= x_max),
#   rcp, shift with q = mulhi64(x, rcp) >> shift == x // freq for every x < 2**63
#     (Alverson: rcp = ceil(2**(63 + l) / freq), shift = l - 1, l = ceil(log2 freq); for
#     freq = 1, rcp = 2**64 - 1 and shift = 0 give q = x - 1, corrected through bias),
#   bias = start (start + 2**precision_bits - 1 for freq = 1), cmpl = 2**precision_bits - freq,
# and then x' = x + bias + q * cmpl == (x // freq << precision_bits) + x % freq + start:
# bit for bit the push of push_interval, without a 64-bit division.


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
    """:func:`encode_interval` of ``symbol``'s interval from its :func:`encoder_table` row
    (renormalize first when ``x >= encoder[symbol, 0]``; frequency must be >= 1)."""
    quotient = mulhi64(x, encoder[symbol, 1]) >> encoder[symbol, 2]
    return x + encoder[symbol, 3] + quotient * encoder[symbol, 4]


@njit(cache=True, inline="always")
def peek_slot(heads, lane, precision_bits):
    """The slot ``cf`` in [0, 2**precision_bits) that lane ``lane``'s top symbol covers."""
    return heads[lane] & ((np.uint64(1) << np.uint64(precision_bits)) - np.uint64(1))


@njit(cache=True, inline="always")
def decode_interval(x, start, freq, precision_bits):
    """The head after popping ``[start, start + freq)`` (which holds ``x``'s slot), before
    renormalization (read a word when the result is below ``2**31``)."""
    slot = x & ((np.uint64(1) << np.uint64(precision_bits)) - np.uint64(1))
    return np.uint64(freq) * (x >> np.uint64(precision_bits)) + slot - np.uint64(start)


# --- batch kernels --------------------------------------------------------------------


@njit(cache=True, nogil=True)
def push_kernel(heads, words, counters, precision_bits, starts, freqs, symbols, tables, encoder):
    """Push ``(L, S)`` symbols: columns ``s = 0..S-1``, lanes ``0..L-1`` within each.

    Their intervals come from one of three sources: ``encoder`` rows of a shared table
    (when ``encoder`` is not empty; see :func:`encoder_table`), rows ``tables[a, b]`` of
    quantized CDFs (A, B, K + 1; a size-1 dimension broadcasts) indexed by ``symbols``
    (when ``symbols`` is not empty), or else the explicit ``starts, freqs`` arrays.
    """
    num_lanes, num_steps = symbols.shape if symbols.size > 0 else starts.shape
    tail, underflow = counters[0], counters[1]
    if words.size - tail < num_lanes * num_steps:
        return STATUS_STREAM_FULL
    if encoder.shape[0] > 0:  # the hot path, without a division: its own loop
        for step in range(num_steps):
            for lane in range(num_lanes):
                symbol, x = symbols[lane, step], heads[lane]
                if x >= encoder[symbol, 0]:
                    tail, underflow = emit_word(words, tail, underflow, x & _WORD_MASK)
                    x >>= _WORD_SHIFT
                heads[lane] = encode_symbol(x, encoder, symbol)
        counters[0], counters[1] = tail, underflow
        return STATUS_OK
    from_tables = symbols.size > 0
    for step in range(num_steps):
        for lane in range(num_lanes):
            if from_tables:
                a = lane if tables.shape[0] > 1 else 0
                b = step if tables.shape[1] > 1 else 0
                start = np.uint64(tables[a, b, symbols[lane, step]])
                freq = np.uint64(tables[a, b, symbols[lane, step] + 1]) - start
            else:
                start, freq = np.uint64(starts[lane, step]), np.uint64(freqs[lane, step])
            if freq == 0:
                counters[0], counters[1] = tail, underflow
                return STATUS_ZERO_FREQUENCY
            x = heads[lane]
            if x >= freq << np.uint64(63 - precision_bits):
                tail, underflow = emit_word(words, tail, underflow, x & _WORD_MASK)
                x >>= _WORD_SHIFT
            heads[lane] = encode_interval(x, start, freq, precision_bits)
    counters[0], counters[1] = tail, underflow
    return STATUS_OK


_NO_SYMBOLS = np.zeros((0, 0), dtype=np.int64)
_NO_TABLES = np.zeros((1, 1, 1), dtype=np.uint32)
_NO_ENCODER = np.zeros((0, 5), dtype=np.uint64)
_NO_INTERVALS = np.zeros((0, 0), dtype=np.uint32)


def push_symbols(message, symbols, precision_bits, tables=_NO_TABLES, encoder=_NO_ENCODER):
    """Push checked int64 ``symbols`` (L, S) with ``encoder`` rows or ``tables`` (see
    :func:`push_kernel`); returns the kernel status (nothing is pushed if a symbol has
    frequency 0 and ``tables`` are used, since they are checked first by the caller)."""
    stream = message._stream
    stream.reserve(symbols.size)
    return push_kernel(
        message._heads, stream.words, stream.counters, precision_bits, _NO_INTERVALS, _NO_INTERVALS, symbols, tables, encoder
    )


@njit(cache=True, nogil=True)
def pop_intervals_kernel(heads, words, counters, starts, freqs, precision_bits):
    """Pop ``(L, S)`` intervals in the exact reverse order of :func:`push_kernel`."""
    num_lanes, num_steps = starts.shape
    tail, underflow = counters[0], counters[1]
    for step in range(num_steps - 1, -1, -1):
        for lane in range(num_lanes - 1, -1, -1):
            start = np.uint64(starts[lane, step])
            slot = peek_slot(heads, lane, precision_bits)
            if slot < start or slot - start >= np.uint64(freqs[lane, step]):
                counters[0], counters[1] = tail, underflow
                return STATUS_SLOT_OUTSIDE_INTERVAL
            x = decode_interval(heads[lane], start, freqs[lane, step], precision_bits)
            if x < _HEAD_LOWER:
                tail, underflow, word = read_word(words, tail, underflow)
                x = (x << _WORD_SHIFT) | word
            heads[lane] = x
    counters[0], counters[1] = tail, underflow
    return STATUS_OK


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
            if int((starts.astype(np.int64) + freqs.astype(np.int64)).max()) > total:
                raise ValueError(f"start + freq must be <= 2**precision_bits = {total}")
        starts = np.ascontiguousarray(starts, dtype=np.uint32).reshape(self.num_lanes, -1)
        freqs = np.ascontiguousarray(freqs, dtype=np.uint32).reshape(self.num_lanes, -1)
        return starts, freqs, precision_bits

    # -- coding ------------------------------------------------------------------------
    def push_checked(self, starts, freqs, precision_bits):
        """Push ``(num_lanes, S)`` uint32 intervals already known to be valid."""
        self._stream.reserve(starts.size)
        stream = self._stream
        status = push_kernel(
            self._heads, stream.words, stream.counters, precision_bits, starts, freqs, _NO_SYMBOLS, _NO_TABLES, _NO_ENCODER
        )
        raise_for_status(status)

    def push(self, starts, freqs, precision_bits):
        """Push one symbol per lane given by its interval ``[starts, starts + freqs)``.

        Parameters
        ----------
        starts, freqs : array_like of int, shape (num_lanes,) (or scalars)
        precision_bits : int in [1, 31]
        """
        self.push_checked(*self._intervals(starts, freqs, precision_bits, ndim=1))

    def push_batch(self, starts, freqs, precision_bits):
        """Push ``S`` symbols per lane in one call: arrays of shape ``(num_lanes, S)``."""
        self.push_checked(*self._intervals(starts, freqs, precision_bits, ndim=2))

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
        raise_for_status(
            pop_intervals_kernel(self._heads, self._stream.words, self._stream.counters, starts, freqs, precision_bits)
        )

    def pop_batch(self, starts, freqs, precision_bits):
        """Undo :meth:`push_batch` given the same ``(num_lanes, S)`` intervals.

        The intervals must be those pushed (the caller knows them, e.g. from a side
        channel); to decode unknown symbols use a codec, which searches its table.
        """
        starts, freqs, precision_bits = self._intervals(starts, freqs, precision_bits, ndim=2)
        status = pop_intervals_kernel(self._heads, self._stream.words, self._stream.counters, starts, freqs, precision_bits)
        raise_for_status(status)

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
