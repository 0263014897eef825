"""Portable math: the elementary functions the codec needs, from IEEE-754 basic operations only.

A frequency table must come out bit-identical on every machine that decodes a file, but libm's
``exp``/``log``/``erfc`` differ in the last bit between glibc versions, macOS, Windows, ARM and
SVML builds.  The functions here use nothing but ``+ - * /``, ``sqrt``, ``fabs``, comparisons,
int/float conversions, integer arithmetic and bit casts, in a fixed order written out in the
source: no libm call, no math intrinsic, no ``fastmath``, no fused multiply-add (Numba compiles
without fast-math flags, so LLVM may not contract ``a * b + c``; ``tests/test_platform_math.py``
checks the IR and the assembly).  IEEE-754 defines these operations to be correctly rounded, so
every conforming machine computes the same bits.

Functions (scalar, float64, ``@njit(inline="always")``: call them from jitted code; from Python
use :func:`elementwise`):

==============  ============================================================  =========
function        method                                                        error [1]
==============  ============================================================  =========
``exp``         Cody-Waite reduction ``x = k ln2 + r``, ``|r| <= ln2/2``;     0.76 ulp
                fdlibm's rational form ``1 + r + r c / (2 - c)`` [2]
``expm1``       same reduction; ``2**k (expm1(r) + (1 - 2**-k))``             0.78 ulp
``log``         ``x = 2**k (1 + f)``, ``sqrt(1/2) <= 1 + f < sqrt(2)``;       0.75 ulp
                fdlibm's polynomial in ``s = f / (2 + f)`` [2]
``log1p``       the ``log`` kernel at ``f = x`` when ``1 + x`` is in          0.75 ulp
                [sqrt(1/2), sqrt(2)); else ``log(u)``, ``u = 1 + x``, plus
                the exact rounding error of the addition, ``c / u``
``softplus``    ``max(x, 0) + log1p(exp(-|x|))``                              1.15 ulp
``sigmoid``     ``1 / (1 + exp(-x))`` (x >= 0), ``e / (1 + e)``, e = exp(x)   1.99 ulp
``erfc``        ``t exp(-z**2 + g)``, ``t = 2 / (2 + z)``, ``g`` a 28-term     3.5 ulp
                Chebyshev series in ``t`` fitted here (``bench/fit_erfc.py``);
                ``-z**2`` split exactly (Veltkamp) and reduced with ``g``, so
                the tail keeps its relative accuracy
``ndtr``        standard-normal CDF: as ``erfc`` at ``|x| / sqrt(2)``, with   3.8 ulp
                ``x**2 / 2`` split exactly
``ndtri``       inverse of ``ndtr``: Wichura's AS241 (PPND16) [3]             5.0 ulp
==============  ============================================================  =========

[1] The largest error against correctly rounded values (``bench/exact_math.py``) that
    ``python -m bench.bench_portable`` found on 4000 points per function (1000 for
    ``erfc``, ``ndtr``, ``ndtri``); ``tests/test_portable.py`` enforces these, rounded up.
    Accuracy only affects the rate, never correctness: encoder and decoder compute the same
    bits.
[2] The algorithms and coefficients of fdlibm 5.3's ``e_exp.c`` and ``e_log.c`` (as Java's
    ``StrictMath`` uses them, for the same reason): "Copyright (C) 1993 by Sun Microsystems,
    Inc. All rights reserved. Developed at SunSoft, a Sun Microsystems, Inc. business.
    Permission to use, copy, modify, and distribute this software is freely granted,
    provided that this notice is preserved."
[3] M. J. Wichura, "Algorithm AS 241: The percentage points of the normal distribution",
    Applied Statistics 37 (1988) 477-484.

Special values (as IEEE-754/C99 specify them): NaN in -> NaN out; ``exp(+inf) = expm1(+inf) =
+inf``, ``exp(-inf) = 0``, ``expm1(-inf) = -1``; ``exp`` overflows to +inf above
:data:`EXP_OVERFLOW` and returns 0 below :data:`EXP_UNDERFLOW`, subnormal results in between
are rounded once; ``log(0) = -inf``, ``log(x < 0) = NaN``, ``log(+inf) = +inf``, subnormal
``x`` is handled; ``log1p(-1) = -inf``, ``log1p(x < -1) = NaN``; ``log1p(+-0)`` and
``expm1(+-0)`` keep the sign of zero; ``erfc(+inf) = 0``, ``erfc(-inf) = 2``, ``ndtr(-inf) = 0``,
``ndtr(+inf) = 1``; ``ndtri(0) = -inf``, ``ndtri(1) = +inf``, ``ndtri`` outside [0, 1] is NaN.
Arguments of any real type are converted to float64 first.

Examples
--------
>>> import numpy as np
>>> from bbans_numba.portable import elementwise
>>> elementwise("exp", [0.0, 1.0]).tolist()  # e = 2.71828182845904523...: 0.67 ulp off, as fdlibm
[1.0, 2.7182818284590455]
>>> elementwise("ndtri", [0.5, 0.975]).round(12).tolist()
[0.0, 1.95996398454]
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp", "expm1", "log", "log1p", "softplus", "sigmoid", "erfc", "ndtr", "ndtri",
           "elementwise", "FUNCTIONS", "EXP_OVERFLOW", "EXP_UNDERFLOW"]

# --- constants (hex comments give the exact float64 bits) --------------------------------

# ln 2 split so that k * LN2_HI is exact for |k| < 2**21 (LN2_HI has 32 significant bits).
LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42fee00000
LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef35793c76
INV_LN2 = 1.44269504088896338700e+00  # 0x3ff71547652b82fe
# exp(EXP_OVERFLOW) is the largest finite exp; exp(x < EXP_UNDERFLOW) rounds to 0.
EXP_OVERFLOW = 7.09782712893383973096e+02  # 0x40862e42fefa39ef
EXP_UNDERFLOW = -7.45133219101941108420e+02  # 0xc0874910d52d3051
# Below this, exp(x) < 2**-54 and expm1(x) = -1 + exp(x) rounds to -1.
EXPM1_MINUS_ONE_BELOW = -38.0
# fdlibm e_exp.c: R(r*r) ~ r (exp(r) + 1) / (exp(r) - 1) = 2 + P1 r**2 + ... + P5 r**10,
# highest degree first (for _horner).
_EXP_P = (
    4.13813679705723846039e-08,  # P5 0x3e66376972bea4d0
    -1.65339022054652515390e-06,  # P4 0xbebbbd41c5d26bf1
    6.61375632143793436117e-05,  # P3 0x3f11566aaf25de2c
    -2.77777777770155933842e-03,  # P2 0xbf66c16c16bebd93
    1.66666666666666019037e-01,  # P1 0x3fc555555555553e
)
# fdlibm e_log.c: log(1 + f) = f - f**2/2 + s (f**2/2 + R), s = f / (2 + f), with
# R = Lg1 s**2 + ... + Lg7 s**14 split into even and odd powers of w = s**4.
_LOG_EVEN = (
    1.531383769920937332e-01,  # Lg6 0x3fc39a09d078c69f
    2.222219843214978396e-01,  # Lg4 0x3fcc71c51d8e78af
    3.999999999940941908e-01,  # Lg2 0x3fd999999997fa04
)
_LOG_ODD = (
    1.479819860511658591e-01,  # Lg7 0x3fc2f112df3e5244
    1.818357216161805012e-01,  # Lg5 0x3fc7466496cb03de
    2.857142874366239149e-01,  # Lg3 0x3fd2492494229359
    6.666666666666735130e-01,  # Lg1 0x3fe5555555555593
)
SQRT2 = 1.4142135623730951  # 0x3ff6a09e667f3bcd: the reduced log argument stays below this
SQRT_HALF = 0.7071067811865476  # 0x3fe6a09e667f3bcd
# log1p(x) for x in [SQRT_HALF - 1, SQRT2 - 1): 1 + x is already reduced, f = x exactly.
LOG1P_DIRECT_LOW = SQRT_HALF - 1.0
LOG1P_DIRECT_HIGH = SQRT2 - 1.0
_TWO54 = 18014398509481984.0  # 2**54: scales subnormal log arguments to normal ones
_TWO_M1000 = float.fromhex("0x1p-1000")
_MANTISSA_MASK = (1 << 52) - 1
_ONE_BITS = 1023 << 52  # bits of 1.0
_SMALLEST_NORMAL_BITS = 1 << 52  # bits of 2**-1022
# Veltkamp's splitter for float64: a * 134217729 - (a * 134217729 - a) keeps the top 26 bits.
_SPLITTER = 134217729.0  # 2**27 + 1
# erfc(z) = t exp(-z**2) exp(g(y)) on 0 <= z <= ERFC_ZERO_ABOVE, t = 2 / (2 + z) in [1/16, 1],
# y = (t - 17/32) / (15/32) in [-1, 1]; g = sum a_j T_j(y).  erfc(z) < 2**-1075 above ~27.3.
ERFC_ZERO_ABOVE = 30.0
_ERFC_T_MID = 0.53125  # 17/32
_ERFC_T_HALF_WIDTH = 0.46875  # 15/32
_ERFC_CHEBYSHEV = (  # a_0 .. a_27, from bench/fit_erfc.py
    -0.6145972619979386,
    0.6088711666935733,
    0.014390627557117706,
    -0.008389354970540292,
    -0.0005750109082128096,
    0.00029604191041857937,
    1.760078571852322e-05,
    -1.4386636062344509e-05,
    -1.0073446799995337e-07,
    7.63701043693338e-07,
    -5.53517845085434e-08,
    -3.7915037257542235e-08,
    6.9929431677921415e-09,
    1.4333481827877661e-09,
    -5.794749078487065e-10,
    -1.0742388446521753e-11,
    3.544088262010105e-11,
    -4.3962291199543825e-12,
    -1.396094585598265e-12,
    4.686968228492487e-13,
    1.999955813640416e-15,
    -2.6088992884781896e-14,
    4.549924105088315e-15,
    4.966626430145896e-16,
    -3.268573113877323e-16,
    4.672458415763097e-17,
    4.290185720976345e-18,
    -3.514334293387951e-18,
)
# AS241 (PPND16): rational approximations of the normal quantile, highest degree first.
_NDTRI_CENTRAL_SPLIT = 0.425  # |p - 0.5| <= this: q * A(r) / B(r), r = 0.180625 - q**2
_NDTRI_CENTRAL_R = 0.180625
_NDTRI_TAIL_SPLIT = 5.0  # r = sqrt(-log(min(p, 1 - p))) <= this: C(r - 1.6) / D(r - 1.6)
_NDTRI_NEAR_SHIFT = 1.6
_NDTRI_A = (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
            4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
            1.3314166789178437745e+2, 3.3871328727963666080e+0)
_NDTRI_B = (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
            2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
            4.2313330701600911252e+1, 1.0)
_NDTRI_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
            1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
            4.63033784615654529590e+0, 1.42343711074968357734e+0)
_NDTRI_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
            1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
            2.05319162663775882187e+0, 1.0)
_NDTRI_E = (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
            2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
            5.46378491116411436990e+0, 6.65790464350110377720e+0)
_NDTRI_F = (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
            7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
            5.99832206555887937690e-1, 1.0)


# --- bit casts (no arithmetic: LLVM ``bitcast``) --------------------------------------


@intrinsic
def _float_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64, as int64."""
    if not (isinstance(x, types.Float) and x.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.bitcast(value, ir.DoubleType())

    return types.float64(bits), codegen


# --- building blocks ------------------------------------------------------------------


@njit(cache=True, inline="always")
def _pow2(k):
    """``2.0**k`` for integer ``-1022 <= k <= 1023``, from its bits (exact)."""
    return _bits_float((k + 1023) << 52)


@njit(cache=True, inline="always")
def _scale(y, k):
    """``y * 2**k`` for ``|y|`` within a few binades of 1 and ``-2100 < k <= 1024``, rounded
    once (an overflow gives inf, a subnormal result is rounded once, from the exact product)."""
    if k > 1023:
        return y * 2.0 * _pow2(k - 1)
    if k < -1022:
        return y * _pow2(k + 1000) * _TWO_M1000
    return y * _pow2(k)


@njit(cache=True, inline="always")
def _horner(t, coefficients):
    """``c[0] t**n + c[1] t**(n-1) + ... + c[n]`` by Horner's rule, highest degree first."""
    acc = coefficients[0]
    for i in range(1, len(coefficients)):
        acc = acc * t + coefficients[i]
    return acc


@njit(cache=True, inline="always")
def _clenshaw(y, coefficients):
    """``sum_j a_j T_j(y)`` (Chebyshev polynomials of the first kind) by Clenshaw's recurrence."""
    y2 = y + y
    b1 = 0.0
    b2 = 0.0
    for i in range(len(coefficients) - 1, 0, -1):
        b1, b2 = (y2 * b1 - b2) + coefficients[i], b1
    return (y * b1 - b2) + coefficients[0]


@njit(cache=True, inline="always")
def _split(a):
    """Veltkamp's split: the top 26 significant bits of ``a`` (``|a| < 2**996``), so that
    ``hi * hi`` is exact and ``a - hi`` is exact."""
    c = a * _SPLITTER
    return c - (c - a)


@njit(cache=True, inline="always")
def _exp_reduce(x, x_low):
    """``(k, hi, lo, q)`` with ``x + x_low = k ln2 + (hi - lo)`` and ``expm1(hi - lo) ~ (hi - lo)
    + q``, for finite ``|x| < 2**20`` and small ``x_low`` (0 for a plain float; fdlibm's
    reduction and rational form, with the low part added to the exactly reduced high part)."""
    k = int((x + x_low) * INV_LN2 + (0.5 if x >= 0.0 else -0.5))  # nearest integer, ties away from 0
    kf = float(k)
    hi = (x - kf * LN2_HI) + x_low  # x - kf * LN2_HI is exact
    lo = kf * LN2_LO
    r = hi - lo
    rr = r * r
    c = r - rr * _horner(rr, _EXP_P)
    return k, hi, lo, (r * c) / (2.0 - c)


@njit(cache=True, inline="always")
def _exp_parts(x, x_low):
    """``(y, k)`` with ``exp(x + x_low) = y * 2**k``, ``y`` in [0.7, 1.5) (see :func:`_exp_reduce`)."""
    k, hi, lo, q = _exp_reduce(x, x_low)
    return 1.0 - ((lo - q) - hi), k


@njit(cache=True, inline="always")
def _log_reduce(x):
    """``(k, f)`` with ``x = 2**k (1 + f)`` and ``sqrt(1/2) <= 1 + f < sqrt(2)``, for finite
    ``x > 0`` (subnormals included); both exact."""
    bits = _float_bits(x)
    k = -1023
    if bits < _SMALLEST_NORMAL_BITS:
        bits = _float_bits(x * _TWO54)
        k -= 54
    k += bits >> 52
    m = _bits_float((bits & _MANTISSA_MASK) | _ONE_BITS)  # in [1, 2)
    if m >= SQRT2:
        m *= 0.5
        k += 1
    return k, m - 1.0


@njit(cache=True, inline="always")
def _log_kernel(k, f, c):
    """``log(2**k (1 + f)) + c`` for the reduced ``(k, f)`` and a small correction ``c``."""
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _horner(w, _LOG_EVEN)
    t2 = z * _horner(w, _LOG_ODD)
    r = t2 + t1
    hfsq = 0.5 * f * f
    dk = float(k)
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + (dk * LN2_LO + c))) - f)


@njit(cache=True, inline="always")
def _erfc_scaled(z, square_hi, square_lo, k_shift):
    """``erfc(z) * 2**k_shift`` for ``z >= 0`` (not NaN) with ``z**2 = square_hi + square_lo``,
    ``square_hi`` the exact square of a 26-bit number, ``|square_lo|`` small."""
    if z > ERFC_ZERO_ABOVE:
        return 0.0
    t = 2.0 / (2.0 + z)
    g = _clenshaw((t - _ERFC_T_MID) / _ERFC_T_HALF_WIDTH, _ERFC_CHEBYSHEV)
    y, k = _exp_parts(-square_hi, g - square_lo)  # exp(-z**2 + g), -z**2 kept exact
    return _scale(t * y, k + k_shift)


# --- the functions --------------------------------------------------------------------


@njit(cache=True, inline="always")
def exp(x):
    """``e**x`` (see the module docstring for accuracy and special values)."""
    x = np.float64(x)
    if x != x:
        return x
    if x > EXP_OVERFLOW:
        return np.inf
    if x < EXP_UNDERFLOW:
        return 0.0
    y, k = _exp_parts(x, 0.0)
    return _scale(y, k)


@njit(cache=True, inline="always")
def expm1(x):
    """``e**x - 1``, accurate near 0."""
    x = np.float64(x)
    if x != x:
        return x
    if x > EXP_OVERFLOW:
        return np.inf
    if x < EXPM1_MINUS_ONE_BELOW:
        return -1.0
    if x == 0.0:  # keeps the sign of zero
        return x
    k, hi, lo, q = _exp_reduce(x, 0.0)
    e = hi - (lo - q)  # expm1 of the reduced argument
    if k == 0:
        return e
    # e**x - 1 = 2**k (e + 1) - 1 = 2**k (e + (1 - 2**-k)); 1 - 2**-k is exact for -55 <= k <= 53
    # and rounds to 1 above.
    return _scale(e + (1.0 - _pow2(-k) if k < 56 else 1.0), k)


@njit(cache=True, inline="always")
def log(x):
    """Natural logarithm."""
    x = np.float64(x)
    if not x > 0.0:  # zero, negative or NaN
        return -np.inf if x == 0.0 else np.nan
    if x == np.inf:
        return x
    k, f = _log_reduce(x)
    return _log_kernel(k, f, 0.0)


@njit(cache=True, inline="always")
def log1p(x):
    """``log(1 + x)``, accurate near 0."""
    x = np.float64(x)
    if not x > -1.0:  # also NaN
        return -np.inf if x == -1.0 else np.nan
    if x == np.inf or x == 0.0:  # (0.0 keeps the sign of zero)
        return x
    if LOG1P_DIRECT_LOW <= x < LOG1P_DIRECT_HIGH:  # 1 + x is reduced already: f = x, exact
        return _log_kernel(0, x, 0.0)
    u = 1.0 + x
    # The exact rounding error of u (Fast2Sum: the larger operand first); log(u + c) = log(u) + c/u.
    c = x - (u - 1.0) if x <= 1.0 else 1.0 - (u - x)
    k, f = _log_reduce(u)
    return _log_kernel(k, f, c / u)


@njit(cache=True, inline="always")
def softplus(x):
    """``log(1 + e**x)`` as ``max(x, 0) + log1p(exp(-|x|))`` (never overflows)."""
    x = np.float64(x)
    return max(x, 0.0) + log1p(exp(-abs(x)))


@njit(cache=True, inline="always")
def sigmoid(x):
    """The logistic function ``1 / (1 + e**-x)``, accurate in both tails."""
    x = np.float64(x)
    if x >= 0.0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)  # also NaN
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def erfc(x):
    """The complementary error function ``1 - erf(x)``, accurate in the upper tail."""
    x = np.float64(x)
    if x != x:
        return x
    z = abs(x)
    high = _split(min(z, ERFC_ZERO_ABOVE))  # (min: no overflow in the split)
    tail = _erfc_scaled(z, high * high, (z - high) * (z + high), 0)
    return tail if x >= 0.0 else 2.0 - tail


@njit(cache=True, inline="always")
def ndtr(x):
    """The standard-normal CDF ``Phi(x) = erfc(-x / sqrt(2)) / 2``, accurate in the lower tail
    (``x**2 / 2`` is formed from an exact split of ``x``, not from a rounded ``x / sqrt(2)``)."""
    x = np.float64(x)
    if x != x:
        return x
    a = abs(x)
    high = _split(min(a, 2.0 * ERFC_ZERO_ABOVE))
    lower_tail = _erfc_scaled(a * SQRT_HALF, 0.5 * (high * high), 0.5 * ((a - high) * (a + high)), -1)
    return lower_tail if x < 0.0 else 1.0 - lower_tail


@njit(cache=True, inline="always")
def ndtri(p):
    """The standard-normal quantile, the inverse of :func:`ndtr` (AS241).  Odd around 0.5:
    ``ndtri(1 - p) == -ndtri(p)`` whenever ``1 - p`` is exact."""
    p = np.float64(p)
    if not (p > 0.0 and p < 1.0):
        if p == 0.0:
            return -np.inf
        return np.inf if p == 1.0 else np.nan
    q = p - 0.5  # exact
    if abs(q) <= _NDTRI_CENTRAL_SPLIT:
        r = _NDTRI_CENTRAL_R - q * q
        return q * _horner(r, _NDTRI_A) / _horner(r, _NDTRI_B)
    r = math.sqrt(-log(p if q < 0.0 else 1.0 - p))  # 1 - p is exact for p >= 1/2
    if r <= _NDTRI_TAIL_SPLIT:
        r = r - _NDTRI_NEAR_SHIFT
        x = _horner(r, _NDTRI_C) / _horner(r, _NDTRI_D)
    else:
        r = r - _NDTRI_TAIL_SPLIT
        x = _horner(r, _NDTRI_E) / _horner(r, _NDTRI_F)
    return -x if q < 0.0 else x


# --- arrays ---------------------------------------------------------------------------

FUNCTIONS = ("exp", "expm1", "log", "log1p", "softplus", "sigmoid", "erfc", "ndtr", "ndtri")


def _elementwise_kernel(function):
    """The jitted ``out[i] = FUNCTIONS[function](x[i])`` for flat float64 arrays.

    One kernel per function, so that a caller compiles only the function it uses (all nine
    inlined in one kernel took ~8 s to compile).  ``function`` is a constant of the closure:
    Numba prunes the other branches, and its cache keys each kernel by that constant.
    """

    @njit(cache=True, nogil=True)
    def kernel(x, out):
        for i in range(x.size):
            value = x[i]
            if function == 0:
                out[i] = exp(value)
            elif function == 1:
                out[i] = expm1(value)
            elif function == 2:
                out[i] = log(value)
            elif function == 3:
                out[i] = log1p(value)
            elif function == 4:
                out[i] = softplus(value)
            elif function == 5:
                out[i] = sigmoid(value)
            elif function == 6:
                out[i] = erfc(value)
            elif function == 7:
                out[i] = ndtr(value)
            else:
                out[i] = ndtri(value)

    return kernel


_ELEMENTWISE_KERNELS = {name: _elementwise_kernel(index) for index, name in enumerate(FUNCTIONS)}


def elementwise(name, x):
    """One of :data:`FUNCTIONS`, by name, applied to every element of ``x`` (float64 result,
    same shape).

    Examples
    --------
    >>> elementwise("softplus", [-800.0, 0.0, 800.0]).tolist()
    [0.0, 0.6931471805599453, 800.0]
    """
    if name not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; choose one of {FUNCTIONS}")
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    _ELEMENTWISE_KERNELS[name](flat, out)
    return out.reshape(x.shape)
