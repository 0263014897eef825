"""Beta-binomial pixels: BetaBinomial(trials, alpha, beta) over ``trials + 1`` symbols.

The pmf comes from its ratio recurrence, ``p(k+1)/p(k) = (n-k)(k+alpha) /
((k+1)(n-k-1+beta))`` from ``p(0) = 1``, summed in order into running sums
``cumulative[k]``; symbol ``k`` then starts at the per-symbol rule over those sums
(:mod:`bbans_numba.families.cumulative`), so every symbol gets frequency >= 1.  Two ways
to code with it:

* parameters shared or per lane: :func:`beta_binomial_cdf` builds whole tables, coded by
  the categorical family (:func:`bbans_numba.families.categorical.table_model`);
* one distribution per symbol ((lanes, steps) parameters): :class:`BetaBinomialRows`
  builds no table.  A push computes each symbol's two starts (rows in blocks); a pop
  builds, step by step, the running sums of a block of lanes and searches them
  (:func:`~bbans_numba.families.cumulative.cumulative_quantile` on each lane's column).  The recurrence is
  shared by all 256 symbols of a row and vectorized across rows, which a per-symbol
  ``interval`` could not do: this family has kernels of its own, built from the same
  steps and row functions.

Rows are built in blocks of up to ``_BLOCK_ROWS`` side by side: every row runs exactly
the scalar recurrence (same operations in the same order, so the same bits), but the
inner loops run across the block's independent rows, which LLVM vectorizes once
divisions carry no Python zero-division check (``error_model="numpy"``; no denominator
here can be 0: alpha, beta >= 1e-6 and a total >= 1e-150).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from ..rans import Intervals, Model, check_precision, peek, pop_step
from .cumulative import cumulative_quantile, cumulative_start

__all__ = ["BETA_BINOMIAL_PARAM_RANGE", "BetaBinomialRows", "beta_binomial_cdf", "check_beta_binomial_args"]

# Beta-binomial shape parameters are clamped into this range (NaN -> the lower bound);
# models must be trained with the same clamp.
BETA_BINOMIAL_PARAM_RANGE = (1e-6, 1e6)
_RESCALE_ABOVE = 1e150  # the recurrence rescales before float64 overflows
_BLOCK_ROWS = 64


@njit(cache=True, inline="always")
def _clamp_shape_param(value):
    low, high = BETA_BINOMIAL_PARAM_RANGE
    if not value >= low:  # NaN too
        return low
    return min(value, high)


@njit(cache=True, nogil=True, error_model="numpy")
def _pmf_block(alphas, betas, first, stride, count, trials, pmf):
    """Unnormalized pmfs of rows ``first + r * stride`` (``r < count <= _BLOCK_ROWS``) of
    the flat parameter arrays into ``pmf[k, r]`` (scratch of shape (trials + 3,
    _BLOCK_ROWS): the last two rows hold the clamped parameters)."""
    alpha = pmf[trials + 1]
    beta = pmf[trials + 2]
    for r in range(count):
        alpha[r] = _clamp_shape_param(alphas[first + r * stride])
        beta[r] = _clamp_shape_param(betas[first + r * stride])
    # Start from p(0) = 1 and rescale everything so far whenever a value threatens to
    # overflow.
    for r in range(count):
        pmf[0, r] = 1.0
    for k in range(trials):
        falling = np.float64(trials - k)
        rising = np.float64(k)
        after = np.float64(k + 1)
        left = np.float64(trials - k - 1)
        for r in range(count):
            pmf[k + 1, r] = pmf[k, r] * (falling * (rising + alpha[r])) / (after * (left + beta[r]))
        overflows = 0
        for r in range(count):
            overflows += pmf[k + 1, r] > _RESCALE_ABOVE
        if overflows:  # rare: the scalar rule, for the rows that need it
            for r in range(count):
                if pmf[k + 1, r] > _RESCALE_ABOVE:
                    for j in range(k + 1):
                        pmf[j, r] /= _RESCALE_ABOVE
                    pmf[k + 1, r] /= _RESCALE_ABOVE


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_block(alphas, betas, first, stride, count, trials, pmf, cumulative):
    """Running sums ``cumulative[k, r] = pmf[0, r] + ... + pmf[k - 1, r]`` (summed in that
    order, k = 0 .. trials + 1) of rows ``first + r * stride``: column ``r`` is a row of
    :mod:`bbans_numba.families.cumulative`."""
    _pmf_block(alphas, betas, first, stride, count, trials, pmf)
    for r in range(count):
        cumulative[0, r] = 0.0
    for k in range(trials + 1):
        for r in range(count):
            cumulative[k + 1, r] = cumulative[k, r] + pmf[k, r]


@njit(cache=True, nogil=True, error_model="numpy")
def _window_starts(cumulative, count, first, first_symbols, precision_bits, out):
    """``out[first + r, j]``: the start of symbol ``first_symbols[first + r] + j``."""
    for r in range(count):
        row = cumulative[:, r]
        for j in range(out.shape[1]):
            out[first + r, j] = cumulative_start(row, first_symbols[first + r] + j, precision_bits)


@njit(cache=True, nogil=True)
def _starts_kernel(alphas, betas, trials, precision_bits, first_symbols, out):
    """``out[row, j]`` (uint32): the start of symbol ``first_symbols[row] + j`` of row
    ``row`` of the flat parameters; rows in blocks, sequentially (chunks of images are what
    runs in parallel, :mod:`bbans_numba.chunks`)."""
    num_rows = alphas.size
    num_blocks = (num_rows + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    num_chunks = min(num_blocks, 64)  # scratch is allocated once per chunk, not per block
    for chunk_index in range(num_chunks):
        chunk = np.int64(chunk_index)
        pmf = np.empty((trials + 3, _BLOCK_ROWS), dtype=np.float64)
        cumulative = np.empty((trials + 2, _BLOCK_ROWS), dtype=np.float64)
        for block in range(chunk * num_blocks // num_chunks, (chunk + 1) * num_blocks // num_chunks):
            first = block * _BLOCK_ROWS
            count = min(_BLOCK_ROWS, num_rows - first)
            _rows_block(alphas, betas, first, 1, count, trials, pmf, cumulative)
            _window_starts(cumulative, count, first, first_symbols, precision_bits, out)


@njit(cache=True, nogil=True, _nrt=False)
def _pop_kernel(heads, words, counters, precision_bits, alphas, betas, trials, pmf, cumulative, out):
    """Pop (L, S) symbols with one distribution per symbol (flat (L * S) parameters) in
    the mirrored order of a push: per step, the running sums of a block of lanes, then a
    search and a pop per lane (``pmf``, ``cumulative``: scratch blocks; no reference
    counting, as in the generic kernels of :mod:`bbans_numba.rans`)."""
    num_lanes, num_steps = out.shape
    tail, underflow = counters[0], counters[1]
    for step in range(num_steps - 1, -1, -1):
        top = num_lanes - 1
        while top >= 0:
            bottom = max(0, top - _BLOCK_ROWS + 1)
            _rows_block(alphas, betas, bottom * num_steps + step, num_steps, top - bottom + 1, trials, pmf, cumulative)
            for lane in range(top, bottom - 1, -1):
                x = heads[lane]
                row = cumulative[:, lane - bottom]
                symbol, first, freq = cumulative_quantile(row, peek(x, precision_bits), precision_bits)
                heads[lane], tail, underflow = pop_step(x, first, freq, precision_bits, words, tail, underflow)
                out[lane, step] = symbol
            top = bottom - 1
    counters[0], counters[1] = tail, underflow


def check_beta_binomial_args(alpha, beta, trials, precision_bits):
    """Validate beta-binomial arguments: ``(alpha, beta, trials, precision_bits)`` with the
    parameters as contiguous float64 arrays of one shape (ValueError otherwise)."""
    precision_bits = check_precision(precision_bits)
    alpha = np.asarray(alpha, dtype=np.float64, order="C")  # (ascontiguousarray makes a 0-d array 1-d)
    beta = np.asarray(beta, dtype=np.float64, order="C")
    if alpha.shape != beta.shape:
        raise ValueError(f"alpha {alpha.shape} and beta {beta.shape} must have the same shape")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials (n) must be a positive integer, got {trials!r}")
    if (1 << precision_bits) < trials + 1:
        raise ValueError(f"2**precision_bits must be >= n + 1 = {trials + 1} symbols")
    return alpha, beta, int(trials), precision_bits


def _starts(alpha, beta, trials, precision_bits, first_symbols, width):
    """Starts of symbols ``first_symbols + j``, ``j < width``, per row: (rows, width) uint32."""
    out = np.empty((first_symbols.size, width), dtype=np.uint32)
    _starts_kernel(alpha.reshape(-1), beta.reshape(-1), trials, precision_bits, first_symbols.reshape(-1), out)
    return out


def beta_binomial_cdf(alpha, beta, trials, precision_bits):
    """Quantized CDF tables of BetaBinomial(trials, alpha, beta), shape (..., trials + 2).

    ``cdf[..., k]`` is the start of symbol ``k``; ``cdf[..., -1] == 2**precision_bits``.
    Every symbol gets frequency >= 1.  Parameters are clamped into
    :data:`BETA_BINOMIAL_PARAM_RANGE`.

    Examples
    --------
    >>> beta_binomial_cdf(1.0, 1.0, 3, precision_bits=4).tolist()   # uniform over 4 symbols
    [0, 4, 8, 12, 16]
    """
    alpha, beta, trials, precision_bits = check_beta_binomial_args(alpha, beta, trials, precision_bits)
    cdf = _starts(alpha, beta, trials, precision_bits, np.zeros(alpha.size, dtype=np.int64), trials + 2)
    return cdf.reshape(alpha.shape + (trials + 2,))


class BetaBinomialRows(Model, namedtuple("BetaBinomialRows", ["alphas", "betas", "trials", "num_symbols"])):
    """One BetaBinomial(trials, alpha, beta) per symbol: ``alphas, betas`` float64 of
    shape (L, S), coded without tables (see the module docstring)."""

    __slots__ = ()

    def intervals(self, symbols, precision_bits):
        bounds = _starts(self.alphas, self.betas, self.trials, precision_bits, symbols, 2)
        starts = np.ascontiguousarray(bounds[:, 0]).reshape(symbols.shape)
        return starts, (bounds[:, 1] - bounds[:, 0]).reshape(symbols.shape)

    def push(self, message, symbols, precision_bits):
        starts, freqs = self.intervals(symbols, precision_bits)
        Intervals(starts, freqs).push(message, starts, precision_bits)

    def pop(self, message, out, precision_bits):
        heads, words, counters = message.kernel_arrays()
        flat = (self.alphas.reshape(-1), self.betas.reshape(-1))
        scratch = (np.empty((self.trials + 3, _BLOCK_ROWS)), np.empty((self.trials + 2, _BLOCK_ROWS)))
        _pop_kernel(heads, words, counters, precision_bits, *flat, self.trials, *scratch, out)  # every slot is held

    def frequency_table(self, shape, precision_bits):
        cdf = beta_binomial_cdf(self.alphas, self.betas, self.trials, precision_bits).astype(np.int64)
        return np.diff(cdf, axis=-1)
