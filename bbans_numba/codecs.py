"""Codecs: distributions with ``push(message, symbols)`` and ``pop(message) -> symbols``.

Every codec works over the lanes of a :class:`~bbans_numba.rans.Message`.  Symbols have
shape ``(num_lanes,)`` (one per lane) or ``(num_lanes, num_steps)`` (a sequence per lane,
pushed in one jitted call; :meth:`Codec.pop` returns it in the same layout).  Parameters
carry leading *batch* dimensions: none (shared by all lanes and steps), ``(num_lanes,)``
(per lane, shared over steps) or ``(num_lanes, num_steps)`` (per symbol).

A codec checks its arguments and builds a *model* of one distribution family
(:mod:`bbans_numba.families`); the model's push and pop run the generic kernels of
:mod:`bbans_numba.rans` (or the family's own, for the table-free beta-binomial).  A
symbol of probability 0 raises ``ValueError`` and leaves the message unchanged.  Every
fast path codes exactly the bytes of the plain rule (tests/test_rans_speedpaths.py).
"""

import numpy as np

from . import quantize as q
from .families.beta_binomial import BetaBinomialRows, beta_binomial_cdf, check_beta_binomial_args
from .families.categorical import table_model
from .families.cumulative import cumulative_rows
from .families.gaussian import gaussian_model
from .families.logistic import logistic_model
from .families.uniform import Uniform as UniformModel
from .rans import check_precision

__all__ = [
    "Codec",
    "Uniform",
    "Categorical",
    "CumulativeCategorical",
    "BetaBinomial",
    "DiscretizedLogisticMixture",
    "DiagGaussianStdBins",
]


def _batch_shape(array, trailing_dims, name):
    batch_ndim = array.ndim - trailing_dims
    if batch_ndim not in (0, 1, 2):
        raise ValueError(f"{name} must have 0, 1 or 2 batch dimensions (lanes, steps), got shape {array.shape}")
    return array.shape[:batch_ndim]


class Codec:
    """Base class: a distribution over ``num_symbols`` symbols at ``precision_bits``.

    Subclasses set ``model`` (a family's model), ``num_symbols``, ``precision_bits`` and
    ``batch_shape``; the shape and range checks and the calls into the model live here,
    once.
    """

    model = None
    num_symbols = 0
    precision_bits = 0
    batch_shape = ()

    def _coding_shape(self, message, num_steps):
        """The (L, S) shape of one push/pop, checked against the parameters' batch shape."""
        num_lanes = message.num_lanes
        batch = self.batch_shape
        if num_steps is not None and (isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer))
                                      or num_steps < 0):
            raise ValueError(f"num_steps must be an integer >= 0, got {num_steps!r}")
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
        return self.model.intervals(self._check_symbols(message, symbols), self.precision_bits)

    def push(self, message, symbols):
        """Encode ``symbols`` ((num_lanes,) or (num_lanes, num_steps)) onto ``message``."""
        self.model.push(message, self._check_symbols(message, symbols), self.precision_bits)

    def pop(self, message, num_steps=None):
        """Decode symbols from ``message``: shape (num_lanes,), or (num_lanes, num_steps)
        when ``num_steps`` is given or the parameters are per step."""
        num_lanes, steps = self._coding_shape(message, num_steps)
        out = np.empty((num_lanes, 1 if steps is None else steps), dtype=np.int64)
        self.model.pop(message, out, self.precision_bits)
        return out[:, 0] if steps is None else out

    @property
    def freqs(self):
        """The quantized frequencies (uint32), shape ``batch_shape + (num_symbols,)``."""
        rows = self.batch_shape + (1,) * (2 - len(self.batch_shape))
        freqs = self.model.frequency_table(rows + (self.num_symbols,), self.precision_bits)
        return freqs.astype(np.uint32).reshape(self.batch_shape + (self.num_symbols,))

    @property
    def cdf(self):
        """The quantized CDF tables (uint32), shape ``batch_shape + (num_symbols + 1,)``."""
        return q.freqs_to_cdf(self.freqs)


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

    def __init__(self, precision_bits):
        self.precision_bits = check_precision(precision_bits)
        self.num_symbols = 1 << self.precision_bits
        self.model = UniformModel(self.num_symbols)


class Categorical(Codec):
    """A categorical distribution given by float probabilities.

    Parameters
    ----------
    probs : array_like, shape (K,), (num_lanes, K) or (num_lanes, num_steps, K)
        Non-negative weights (normalized here; float32 or float64).  Zero-probability symbols get frequency 0
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
        probs = np.asarray(probs)
        self.batch_shape = _batch_shape(probs, 1, "probs")
        self.num_symbols = probs.shape[-1]
        self.model = table_model(q.quantized_cdf(probs, self.precision_bits), self.precision_bits)


class CumulativeCategorical(Codec):
    """A categorical distribution quantized by the per-symbol rule, not by largest
    remainder: symbol ``k`` starts at ``k + floor(F(k) * (2**precision_bits - K))``, with
    ``F(k)`` the running sum of the weights below ``k`` (in symbol order) over their total.

    Every symbol gets frequency >= 1 (a weight of 0 too), and a push or pop reads only the
    running sums, so building it costs one pass over the weights: the codec for a softmax
    over many symbols that changes at every step (an autoregressive model's head).
    Same rule as :mod:`bbans_numba.families.cumulative`, whose row functions a decode
    kernel can call itself.

    Parameters
    ----------
    probs : array_like, shape (K,) or (num_lanes, K)
        Non-negative finite weights with a positive total (float32 or float64).
    precision_bits : int in [1, 31], with ``2**precision_bits >= K``.

    Examples
    --------
    >>> import numpy as np, bbans_numba as bb
    >>> m = bb.Message(num_lanes=2)
    >>> c = bb.codecs.CumulativeCategorical([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], precision_bits=12)
    >>> c.push(m, np.array([0, 2]))
    >>> c.pop(m).tolist()
    [0, 2]
    >>> np.diff(c.cdf[0]).tolist()     # 1 + floor(F(k) * (4096 - 3)) per symbol
    [2866, 819, 411]
    """

    def __init__(self, probs, precision_bits):
        self.precision_bits = check_precision(precision_bits)
        self.model = cumulative_rows(probs, self.precision_bits)
        self.batch_shape = np.shape(probs)[:-1]
        self.num_symbols = self.model.num_symbols


class BetaBinomial(Codec):
    """Beta-binomial pixels: ``n + 1`` symbols (256 for 8-bit pixels, ``n = 255``).

    ``alpha`` and ``beta`` (same shape: (), (num_lanes,) or (num_lanes, num_steps)) are
    clamped into
    :data:`bbans_numba.families.beta_binomial.BETA_BINOMIAL_PARAM_RANGE`; every symbol
    gets frequency >= 1.  Shared or per-lane parameters are coded from whole tables; with one distribution per symbol ((num_lanes, num_steps)
    parameters) no table is built (same bits; :attr:`cdf` builds them on demand).  See
    :mod:`bbans_numba.families.beta_binomial`.

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
        alpha = np.asarray(alpha, dtype=np.float64)
        beta = np.asarray(beta, dtype=np.float64)
        if np.isnan(alpha).any() or np.isnan(beta).any():
            raise ValueError("alpha and beta must not be NaN")
        alpha, beta, trials, self.precision_bits = check_beta_binomial_args(alpha, beta, n, precision_bits)
        self.batch_shape = _batch_shape(alpha, 0, "alpha")
        self.num_symbols = trials + 1
        if len(self.batch_shape) == 2:
            self.model = BetaBinomialRows(alpha, beta, trials, self.num_symbols)
        else:
            self.model = table_model(beta_binomial_cdf(alpha, beta, trials, self.precision_bits), self.precision_bits)


class DiscretizedLogisticMixture(Codec):
    """A mixture of logistics discretized to ``num_symbols`` bins (pixel units).

    Bin ``k`` covers ``[k - 0.5, k + 0.5]``; bins 0 and ``num_symbols - 1`` take the
    tails.  Parameters have shape ``batch_shape + (M,)`` for ``M`` components:
    ``means`` (pixel units), ``log_scales`` (natural log of the scale, clamped into
    :data:`bbans_numba.families.logistic.LOG_SCALE_RANGE`) and ``logit_weights``
    (softmax).  Intervals follow the per-symbol rule: only the CDF values needed are
    evaluated.

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

    def __init__(self, means, log_scales, logit_weights, precision_bits, num_symbols=256):
        self.precision_bits = check_precision(precision_bits)
        self.model, self.batch_shape = logistic_model(means, log_scales, logit_weights, self.precision_bits, num_symbols)
        self.num_symbols = self.model.num_symbols


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
        :mod:`bbans_numba.families.gaussian`.

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
        self.model = gaussian_model(mean, std, bucket_bits, precision_bits, method)
        self.bucket_bits, self.precision_bits = q.check_bucket_bits(bucket_bits), int(precision_bits)
        self.method = method
        self.batch_shape = np.shape(mean)
        self.num_symbols = self.model.num_symbols
