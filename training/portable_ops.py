"""The functions of ``bbans_numba.portable`` for training: Keras 3 ops, float32, differentiable.

The codec computes its softplus heads, ELU activations and logistic CDFs with
``bbans_numba.portable`` (fixed-sequence float64 math, identical on every machine).  So that a
trained model's -ELBO is what the codec achieves, training uses the same formulas with the
same constants here, in float32: the two agree to float32 precision (a few float32 ulp,
``tests/test_portable_ops.py``); bit-equality is neither possible (float32 vs float64) nor
needed (training only has to be close).

XLA simplifies ``(1 + x) - 1`` to ``x`` when it compiles (even without fast math), so the
rounding-error correction of ``log1p`` is lost here outside the range where ``log1p`` uses
``f = x`` directly; there ``log(1 + x) >= 0.34`` and the loss is under 1 float32 ulp.

Differences from the float64 versions, all forced by float32: ``ln 2`` is split into 15 + 24
bits (so ``k * LN2_HI`` is exact in float32), Veltkamp's splitter is ``2**12 + 1``, the
overflow/underflow thresholds are float32's, and ``2**k`` is applied as ``2**(k // 2) *
2**(k - k // 2)`` (exact, and a single rounding for subnormal results).  Inputs outside a
function's domain give the same special values as the float64 versions; they are computed
on a clipped stand-in, so no inf or NaN leaks into the gradients of the other elements.

Examples
--------
>>> import numpy as np
>>> from training.portable_ops import softplus
>>> [round(float(v), 6) for v in softplus(np.array([-100.0, 0.0, 3.0], dtype=np.float32))]
[0.0, 0.693147, 3.048587]
"""

import math

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
from keras import ops

from bbans_numba import portable as P

__all__ = ["exp", "expm1", "log", "log1p", "softplus", "sigmoid", "elu", "erfc", "ndtr", "ndtri", "FUNCTIONS"]

LN2_HI = math.floor(P.LN2_HI * 2**15) / 2**15  # 0.693145751953125, 15 significant bits
LN2_LO = float(np.float32((P.LN2_HI - LN2_HI) + P.LN2_LO))
EXP_OVERFLOW = 88.72283172607422  # the largest float32 whose exp is finite in float32
EXP_UNDERFLOW = -103.97208404541016  # below: exp(x) < 2**-150 rounds to 0 in float32
EXPM1_MINUS_ONE_BELOW = -17.5  # exp(x) < 2**-25: expm1(x) rounds to -1 in float32
ERFC_ZERO_ABOVE = 10.1  # erfc(z) < 2**-150 above ~10.05 (within the float64 fit's [0, 30])
_SPLITTER = 4097.0  # 2**12 + 1: Veltkamp's splitter for float32 (24-bit significands)
_SMALLEST_NORMAL_BITS = 1 << 23
_TWO24 = 16777216.0


def _float32(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def _pow2(k):
    """``2.0**k`` (float32) for int32 ``-126 <= k <= 127``, from its bits."""
    return ops.view(ops.left_shift(k + 127, 23), "float32")


def _scale(y, k):
    """``y * 2**k`` for int32 ``-252 <= k <= 254`` (two exact power-of-two factors)."""
    half = ops.floor_divide(k, 2)
    return y * _pow2(half) * _pow2(k - half)


def _horner(t, coefficients):
    acc = ops.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        acc = acc * t + c
    return acc


def _clenshaw(y, coefficients):
    y2 = y + y
    b1 = ops.zeros_like(y)
    b2 = ops.zeros_like(y)
    for c in coefficients[:0:-1]:
        b1, b2 = (y2 * b1 - b2) + c, b1
    return (y * b1 - b2) + coefficients[0]


def _split(a):
    c = a * _SPLITTER
    return c - (c - a)


def _exp_reduce(x, x_low):
    """As ``bbans_numba.portable._exp_reduce``: ``x + x_low = k ln2 + (hi - lo)``."""
    k = ops.cast((x + x_low) * P.INV_LN2 + ops.where(x >= 0.0, 0.5, -0.5), "int32")
    kf = ops.cast(k, "float32")
    hi = (x - kf * LN2_HI) + x_low
    lo = kf * LN2_LO
    r = hi - lo
    rr = r * r
    c = r - rr * _horner(rr, P._EXP_P)
    return k, hi, lo, (r * c) / (2.0 - c)


def _exp_parts(x, x_low):
    k, hi, lo, q = _exp_reduce(x, x_low)
    return 1.0 - ((lo - q) - hi), k


def _log_reduce(x):
    """``(k, f)`` with ``x = 2**k (1 + f)``, ``sqrt(1/2) <= 1 + f < sqrt(2)``, for finite ``x > 0``;
    ``1 + f = x * 2**-k`` (so gradients flow through ``f``)."""
    subnormal = ops.view(x, "int32") < _SMALLEST_NORMAL_BITS
    x = ops.where(subnormal, x * _TWO24, x)
    k = ops.right_shift(ops.view(x, "int32"), 23) - 127
    m = _scale(x, -k)  # exact, in [1, 2)
    high = m >= P.SQRT2
    m = ops.where(high, m * 0.5, m)
    k = k + ops.cast(high, "int32") - ops.where(subnormal, 24, 0)
    return k, m - 1.0


def _log_kernel(k, f, c):
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _horner(w, P._LOG_EVEN)
    t2 = z * _horner(w, P._LOG_ODD)
    r = t2 + t1
    hfsq = 0.5 * f * f
    dk = ops.cast(k, "float32")
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + (dk * LN2_LO + c))) - f)


def _erfc_scaled(z, square_hi, square_lo, k_shift):
    zero = z > ERFC_ZERO_ABOVE
    z, square_hi, square_lo = (ops.where(zero, 0.0, a) for a in (z, square_hi, square_lo))
    t = 2.0 / (2.0 + z)
    g = _clenshaw((t - P._ERFC_T_MID) / P._ERFC_T_HALF_WIDTH, P._ERFC_CHEBYSHEV)
    y, k = _exp_parts(-square_hi, g - square_lo)
    return ops.where(zero, 0.0, _scale(t * y, k + k_shift))


def exp(x):
    """``e**x``."""
    x = _float32(x)
    high, low = x > EXP_OVERFLOW, x < EXP_UNDERFLOW
    y, k = _exp_parts(ops.clip(x, EXP_UNDERFLOW, EXP_OVERFLOW), 0.0)
    value = ops.where(high, np.inf, ops.where(low, 0.0, _scale(y, k)))
    return ops.where(ops.isnan(x), x, value)


def expm1(x):
    """``e**x - 1``, accurate near 0."""
    x = _float32(x)
    k, hi, lo, q = _exp_reduce(ops.clip(x, EXPM1_MINUS_ONE_BELOW, EXP_OVERFLOW), 0.0)
    e = hi - (lo - q)
    tail = 1.0 - _pow2(-ops.minimum(k, 126))  # 1 - 2**-k (rounds to 1 for k >= 25)
    value = ops.where(k == 0, e, _scale(e + tail, k))
    value = ops.where(x > EXP_OVERFLOW, np.inf, ops.where(x < EXPM1_MINUS_ONE_BELOW, -1.0, value))
    return ops.where(ops.isnan(x) | (x == 0.0), x, value)


def log(x):
    """Natural logarithm."""
    x = _float32(x)
    finite_positive = (x > 0.0) & (x < np.inf)
    k, f = _log_reduce(ops.where(finite_positive, x, 1.0))
    value = _log_kernel(k, f, 0.0)
    special = ops.where(x == 0.0, -np.inf, ops.where(x == np.inf, np.inf, np.nan))
    return ops.where(finite_positive, value, special)


def log1p(x):
    """``log(1 + x)``, accurate near 0."""
    x = _float32(x)
    regular = (x > -1.0) & (x < np.inf) & (x != 0.0)
    x_safe = ops.where(regular, x, 0.5)
    direct = (P.LOG1P_DIRECT_LOW <= x_safe) & (x_safe < P.LOG1P_DIRECT_HIGH)
    u = 1.0 + x_safe
    c = ops.where(x_safe <= 1.0, x_safe - (u - 1.0), 1.0 - (u - x_safe))
    k, f = _log_reduce(u)
    value = ops.where(direct, _log_kernel(ops.zeros_like(k), ops.where(direct, x_safe, 0.0), 0.0), _log_kernel(k, f, c / u))
    special = ops.where(x == -1.0, -np.inf, ops.where((x == np.inf) | (x == 0.0), x, np.nan))
    return ops.where(regular, value, special)


def softplus(x):
    """``max(x, 0) + log1p(exp(-|x|))``, written per sign (the same values) so that autodiff
    differentiates no kink of ``max`` or ``abs`` at 0 (the gradient there is 1/2)."""
    x = _float32(x)
    positive = x >= 0.0
    x_positive = ops.where(positive, x, 0.0)
    x_negative = ops.where(positive, 0.0, x)
    return ops.where(positive, x_positive + log1p(exp(-x_positive)), log1p(exp(x_negative)))


def sigmoid(x):
    """``1 / (1 + e**-x)`` (x >= 0), ``e / (1 + e)`` with ``e = e**x`` (x < 0)."""
    x = _float32(x)
    positive = x >= 0.0
    e = exp(ops.where(positive, 0.0, x))
    return ops.where(positive, 1.0 / (1.0 + exp(-ops.where(positive, x, 0.0))), e / (1.0 + e))


def elu(x):
    """``x`` for ``x > 0``, ``expm1(x)`` otherwise (Keras' ``elu`` with alpha = 1)."""
    x = _float32(x)
    positive = x > 0.0
    return ops.where(positive, x, expm1(ops.where(positive, 0.0, x)))


def erfc(x):
    """``1 - erf(x)``."""
    x = _float32(x)
    z = ops.abs(x)
    high = _split(ops.minimum(z, ERFC_ZERO_ABOVE))
    tail = _erfc_scaled(z, high * high, (z - high) * (z + high), 0)
    return ops.where(ops.isnan(x), x, ops.where(x >= 0.0, tail, 2.0 - tail))


def ndtr(x):
    """The standard-normal CDF."""
    x = _float32(x)
    a = ops.abs(x)
    high = _split(ops.minimum(a, 2.0 * ERFC_ZERO_ABOVE))
    lower_tail = _erfc_scaled(a * P.SQRT_HALF, 0.5 * (high * high), 0.5 * ((a - high) * (a + high)), -1)
    return ops.where(ops.isnan(x), x, ops.where(x < 0.0, lower_tail, 1.0 - lower_tail))


def ndtri(p):
    """The standard-normal quantile (AS241)."""
    p = _float32(p)
    inside = (p > 0.0) & (p < 1.0)
    p_safe = ops.where(inside, p, 0.25)
    q = p_safe - 0.5
    r = P._NDTRI_CENTRAL_R - q * q
    central = q * _horner(r, P._NDTRI_A) / _horner(r, P._NDTRI_B)
    r = ops.sqrt(-log(ops.where(q < 0.0, p_safe, 1.0 - p_safe)))
    near_r = r - P._NDTRI_NEAR_SHIFT
    far_r = r - P._NDTRI_TAIL_SPLIT
    tail = ops.where(r <= P._NDTRI_TAIL_SPLIT, _horner(near_r, P._NDTRI_C) / _horner(near_r, P._NDTRI_D),
                     _horner(far_r, P._NDTRI_E) / _horner(far_r, P._NDTRI_F))
    value = ops.where(ops.abs(q) <= P._NDTRI_CENTRAL_SPLIT, central, ops.where(q < 0.0, -tail, tail))
    special = ops.where(p == 0.0, -np.inf, ops.where(p == 1.0, np.inf, np.nan))
    return ops.where(inside, value, special)


FUNCTIONS = {function.__name__: function for function in (exp, expm1, log, log1p, softplus, sigmoid, erfc,
                                                          ndtr, ndtri)}
