"""Correctly rounded references for ``bbans_numba.portable``, computed in ``decimal``.

Each function takes a float (or Decimal) and returns a Decimal good to the current decimal
precision (40 significant digits unless the caller sets more): far beyond float64, so
:func:`ulp_error` measures a float64 result's error in units in the last place exactly.
``decimal``'s ``exp``, ``ln`` and ``sqrt`` are correctly rounded; ``erfc`` comes from erf's
all-positive series, ``ndtri`` from Newton steps on ``ndtr``.

Examples
--------
>>> import math
>>> round(ulp_error(math.exp(1.0), exp(1.0)), 3)  # e = 2.71828182845904523536...
0.326
>>> float(ndtri(0.975))
1.9599639845400538
"""

import decimal
import math
from decimal import Decimal

import numpy as np

DIGITS = 40


def _context():
    """A local decimal context at :data:`DIGITS` significant digits."""
    return decimal.localcontext(prec=DIGITS)


def pi():
    """pi at the current decimal precision (the ``decimal`` documentation's recipe)."""
    with decimal.localcontext() as ctx:
        ctx.prec += 2
        last, t, s, n, na, d, da = 0, Decimal(3), 3, 1, 0, 0, 24
        while s != last:
            last = s
            n, na = n + na, na + 8
            d, da = d + da, da + 32
            t = (t * n) / d
            s += t
    return +s


def cos(x):
    """cos(x) by its Taylor series at the current precision (for |x| <= 2 pi)."""
    with decimal.localcontext() as ctx:
        ctx.prec += 2
        i, last, s, fact, num, sign = 0, 0, 1, 1, 1, 1
        while s != last:
            last = s
            i += 2
            fact *= i * (i - 1)
            num *= x * x
            sign *= -1
            s += num / fact * sign
    return +s


def erfcx(z):
    """``exp(z**2) * erfc(z)`` for Decimal ``z >= 0``, to the current precision.

    ``erf(z) = 2/sqrt(pi) exp(-z**2) sum_n 2**n z**(2n+1) / (1*3*...*(2n+1))`` has only
    positive terms; the subtraction from ``exp(z**2)`` cancels about ``z**2 / ln 10``
    digits, which are added to the working precision.
    """
    digits = decimal.getcontext().prec
    with decimal.localcontext() as ctx:
        ctx.prec = digits + int(z * z / Decimal("2.302585")) + 10
        zz = z * z
        term = total = +z
        n = 0
        while term >= total.scaleb(-(ctx.prec + 2)):
            term = term * 2 * zz / (2 * n + 3)
            total += term
            n += 1
        result = zz.exp() - 2 / pi().sqrt() * total
    return +result


def exp(x):
    with _context():
        return +Decimal(x).exp()


def expm1(x):
    with _context() as ctx:
        ctx.prec += 400  # e**x - 1 cancels for tiny x
        value = Decimal(x).exp() - 1
    with _context():
        return +value


def log(x):
    with _context():
        return +Decimal(x).ln()


def log1p(x):
    with _context() as ctx:
        ctx.prec += 400  # 1 + x is exact at this precision for every float64 x > -1
        value = (1 + Decimal(x)).ln()
    with _context():
        return +value


def softplus(x):
    with _context() as ctx:
        ctx.prec += 400  # 1 + e**-|x| keeps e**-|x| for every float64 x
        x = Decimal(x)
        value = max(x, Decimal(0)) + (1 + (-abs(x)).exp()).ln()
    with _context():
        return +value


def sigmoid(x):
    with _context() as ctx:
        ctx.prec += 20
        value = 1 / (1 + (-Decimal(x)).exp())
    with _context():
        return +value


def erfc(x):
    with _context() as ctx:
        ctx.prec += 20
        z = abs(Decimal(x))
        value = erfcx(z) * (-z * z).exp()
        value = value if x >= 0 else 2 - value
    with _context():
        return +value


def ndtr(x):
    with _context() as ctx:
        ctx.prec += 20
        x = Decimal(x)
        lower_tail = erfcx(abs(x) / Decimal(2).sqrt()) * (-x * x / 2).exp() / 2
        value = lower_tail if x < 0 else 1 - lower_tail
    with _context():
        return +value


def ndtri(p, steps=3):
    """The x with ``ndtr(x) = p`` by Newton steps from a float64 starting value."""
    from scipy.special import ndtri as start

    with _context() as ctx:
        ctx.prec += 20
        p = Decimal(p)
        x = Decimal(float(start(float(p))))
        inverse_sqrt_two_pi = 1 / (2 * pi()).sqrt()
        for _ in range(steps):
            x -= (ndtr(x) - p) / ((-x * x / 2).exp() * inverse_sqrt_two_pi)
    with _context():
        return +x


def ulp_error(value, exact):
    """``|value - exact|`` in units of the last place of the float64 nearest ``exact``
    (subnormal spacing below 2**-1022; 0 when both are the same infinity or NaN)."""
    value = float(value)
    if math.isnan(value) or math.isinf(value) or exact.is_nan() or exact.is_infinite():
        same = (math.isnan(value) and exact.is_nan()) or value == float(exact)
        return 0.0 if same else math.inf
    spacing = Decimal(float(np.spacing(abs(float(exact))))) if exact != 0 else Decimal(5e-324)
    return float(abs(Decimal(value) - exact) / spacing)
