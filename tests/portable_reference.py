"""``bbans_numba.portable`` re-implemented in plain NumPy float64 (no Numba), as a check.

NumPy's float64 ``+ - * /`` and ``sqrt`` are correctly rounded, elementwise, so evaluating
the same operations in the same order must give the same bits as the jitted functions on
every input; a difference means the compiled code does not compute what its source says
(a contraction into FMA, a reassociation, a libm call slipped in) or that one of the two
was changed without the other.  The constants are shared (imported); every operation is
written out again here.  Branches become masks: every lane computes every branch on a
harmless stand-in value and ``np.where`` keeps the branch its value takes.

Examples
--------
>>> import numpy as np
>>> from bbans_numba.portable import elementwise
>>> x = np.linspace(-5.0, 5.0, 11)
>>> bool(np.array_equal(FUNCTIONS["softplus"](x), elementwise("softplus", x)))
True
"""

import numpy as np

from bbans_numba import portable as P


def _pow2(k):
    """``2.0**k`` from its bits, for int64 ``k`` (lanes outside [-1022, 1023] are clipped)."""
    return ((np.clip(k, -1022, 1023) + 1023) << 52).view(np.float64)


def _scale(y, k):
    normal = y * _pow2(k)
    high = y * 2.0 * _pow2(k - 1)
    low = y * _pow2(k + 1000) * P._TWO_M1000
    return np.where(k > 1023, high, np.where(k < -1022, low, normal))


def _horner(t, coefficients):
    acc = np.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        acc = acc * t + c
    return acc


def _clenshaw(y, coefficients):
    y2 = y + y
    b1 = np.zeros_like(y)
    b2 = np.zeros_like(y)
    for c in coefficients[:0:-1]:
        b1, b2 = (y2 * b1 - b2) + c, b1
    return (y * b1 - b2) + coefficients[0]


def _split(a):
    c = a * P._SPLITTER
    return c - (c - a)


def _exp_reduce(x, x_low):
    k = np.trunc((x + x_low) * P.INV_LN2 + np.where(x >= 0.0, 0.5, -0.5)).astype(np.int64)
    kf = k.astype(np.float64)
    hi = (x - kf * P.LN2_HI) + x_low
    lo = kf * P.LN2_LO
    r = hi - lo
    rr = r * r
    c = r - rr * _horner(rr, P._EXP_P)
    return k, hi, lo, (r * c) / (2.0 - c)


def _exp_parts(x, x_low):
    k, hi, lo, q = _exp_reduce(x, x_low)
    return 1.0 - ((lo - q) - hi), k


def _log_reduce(x):
    bits = x.view(np.int64)
    subnormal = bits < P._SMALLEST_NORMAL_BITS
    bits = np.where(subnormal, (x * P._TWO54).view(np.int64), bits)
    k = np.where(subnormal, -1023 - 54, -1023) + (bits >> 52)
    m = ((bits & P._MANTISSA_MASK) | P._ONE_BITS).view(np.float64)
    high = m >= P.SQRT2
    return k + high, np.where(high, m * 0.5, m) - 1.0


def _log_kernel(k, f, c):
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _horner(w, P._LOG_EVEN)
    t2 = z * _horner(w, P._LOG_ODD)
    r = t2 + t1
    hfsq = 0.5 * f * f
    dk = k.astype(np.float64)
    return dk * P.LN2_HI - ((hfsq - (s * (hfsq + r) + (dk * P.LN2_LO + c))) - f)


def _erfc_scaled(z, square_hi, square_lo, k_shift):
    zero = z > P.ERFC_ZERO_ABOVE
    z, square_hi, square_lo = (np.where(zero, 0.0, a) for a in (z, square_hi, square_lo))
    t = 2.0 / (2.0 + z)
    g = _clenshaw((t - P._ERFC_T_MID) / P._ERFC_T_HALF_WIDTH, P._ERFC_CHEBYSHEV)
    y, k = _exp_parts(-square_hi, g - square_lo)
    return np.where(zero, 0.0, _scale(t * y, k + k_shift))


def _elementwise(body):
    """Wrap ``body(x)`` (1-D float64 -> 1-D float64) to take any array-like, with float
    warnings silenced (the lanes of untaken branches may overflow)."""

    def function(x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            return body(x.reshape(-1)).reshape(x.shape)

    function.__name__ = function.__qualname__ = body.__name__
    return function


@_elementwise
def exp(x):
    nan, high, low = x != x, x > P.EXP_OVERFLOW, x < P.EXP_UNDERFLOW
    y, k = _exp_parts(np.where(nan | high | low, 0.0, x), 0.0)
    return np.where(nan, x, np.where(high, np.inf, np.where(low, 0.0, _scale(y, k))))


@_elementwise
def expm1(x):
    special = (x != x) | (x > P.EXP_OVERFLOW) | (x < P.EXPM1_MINUS_ONE_BELOW) | (x == 0.0)
    k, hi, lo, q = _exp_reduce(np.where(special, 0.5, x), 0.0)
    e = hi - (lo - q)
    tail = np.where(k < 56, 1.0 - _pow2(-k), 1.0)
    value = np.where(k == 0, e, _scale(e + tail, k))
    value = np.where(x < P.EXPM1_MINUS_ONE_BELOW, -1.0, value)
    return np.where((x != x) | (x == 0.0), x, np.where(x > P.EXP_OVERFLOW, np.inf, value))


@_elementwise
def log(x):
    special = ~(x > 0.0) | (x == np.inf)
    k, f = _log_reduce(np.where(special, 1.0, x))
    value = _log_kernel(k, f, 0.0)
    return np.where(x == np.inf, x, np.where(~(x > 0.0), np.where(x == 0.0, -np.inf, np.nan), value))


@_elementwise
def log1p(x):
    special = ~(x > -1.0) | (x == np.inf) | (x == 0.0)
    x_safe = np.where(special, 0.5, x)
    direct = (P.LOG1P_DIRECT_LOW <= x_safe) & (x_safe < P.LOG1P_DIRECT_HIGH)
    u = 1.0 + x_safe
    c = np.where(x_safe <= 1.0, x_safe - (u - 1.0), 1.0 - (u - x_safe))
    k, f = _log_reduce(u)
    value = np.where(direct, _log_kernel(np.zeros_like(k), x_safe, 0.0), _log_kernel(k, f, c / u))
    value = np.where((x == np.inf) | (x == 0.0), x, value)
    return np.where(~(x > -1.0), np.where(x == -1.0, -np.inf, np.nan), value)


@_elementwise
def softplus(x):
    return np.maximum(x, 0.0) + log1p(exp(-np.abs(x)))


@_elementwise
def sigmoid(x):
    e = exp(x)
    return np.where(x >= 0.0, 1.0 / (1.0 + exp(-x)), e / (1.0 + e))


@_elementwise
def erfc(x):
    z = np.abs(x)
    high = _split(np.minimum(z, P.ERFC_ZERO_ABOVE))
    tail = _erfc_scaled(z, high * high, (z - high) * (z + high), 0)
    return np.where(x != x, x, np.where(x >= 0.0, tail, 2.0 - tail))


@_elementwise
def ndtr(x):
    a = np.abs(x)
    high = _split(np.minimum(a, 2.0 * P.ERFC_ZERO_ABOVE))
    lower_tail = _erfc_scaled(a * P.SQRT_HALF, 0.5 * (high * high), 0.5 * ((a - high) * (a + high)), -1)
    return np.where(x != x, x, np.where(x < 0.0, lower_tail, 1.0 - lower_tail))


@_elementwise
def ndtri(p):
    special = ~((p > 0.0) & (p < 1.0))
    p_safe = np.where(special, 0.25, p)
    q = p_safe - 0.5
    r = P._NDTRI_CENTRAL_R - q * q
    central = q * _horner(r, P._NDTRI_A) / _horner(r, P._NDTRI_B)
    r = np.sqrt(-log(np.where(q < 0.0, p_safe, 1.0 - p_safe)))
    near_r = r - P._NDTRI_NEAR_SHIFT
    far_r = r - P._NDTRI_TAIL_SPLIT
    tail = np.where(r <= P._NDTRI_TAIL_SPLIT, _horner(near_r, P._NDTRI_C) / _horner(near_r, P._NDTRI_D),
                    _horner(far_r, P._NDTRI_E) / _horner(far_r, P._NDTRI_F))
    value = np.where(np.abs(q) <= P._NDTRI_CENTRAL_SPLIT, central, np.where(q < 0.0, -tail, tail))
    return np.where(special, np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, np.nan)), value)


FUNCTIONS = {function.__name__: function for function in (exp, expm1, log, log1p, softplus, sigmoid, erfc,
                                                          ndtr, ndtri)}
assert tuple(FUNCTIONS) == P.FUNCTIONS
