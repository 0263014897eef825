"""Derive the Chebyshev coefficients of ``bbans_numba.portable.erfc`` (run once, by hand).

``erfc(z) = t * exp(-z**2) * exp(g(y))`` for ``0 <= z <= 30`` with ``t = 2 / (2 + z)`` and
``y = (t - 17/32) / (15/32)`` in [-1, 1]; ``g(y) = log(erfcx(z) / t)`` is smooth there (no
singularity inside: ``z <= 30`` keeps ``t >= 1/16``) and is expanded in Chebyshev polynomials.

Everything is computed in ``decimal`` at 45 significant digits (``erfcx`` by erf's
all-positive series at enough extra digits to absorb the cancellation of
``exp(z**2) - ...``), so the printed float64 coefficients are the Chebyshev interpolant's,
rounded once.  Terms are kept until the sum of the dropped ones is below 2**-58 (a
truncation error under 0.03 ulp of the result).

    python -m bench.fit_erfc        # prints the tuple pasted into bbans_numba/portable.py

Examples
--------
>>> from decimal import Decimal
>>> round(float(erfcx(Decimal(3))), 15)  # exp(9) * erfc(3)
0.17900115118139
"""

import argparse
import decimal
from decimal import Decimal

T_LOW = Decimal(1) / 16  # t range [1/16, 1] <=> z in [0, 30]
NODES = 48
WORKING_DIGITS = 45


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


def chebyshev_coefficients(function, count):
    """Coefficients ``a_j`` of the interpolant ``sum_j a_j T_j(y)`` through ``count`` Chebyshev nodes."""
    half_turn = pi()
    values = [function(cos(half_turn * (2 * k + 1) / (2 * count))) for k in range(count)]
    coefficients = []
    for j in range(count):
        # cos(j (2k+1) pi / (2 count)) with the angle reduced modulo 2 pi (so the series converges fast)
        total = sum(v * cos(half_turn * ((j * (2 * k + 1)) % (4 * count)) / (2 * count)) for k, v in enumerate(values))
        coefficients.append(total * 2 / count / (2 if j == 0 else 1))
    return coefficients


def g(y):
    """``log(erfcx(z) / t)`` at the Chebyshev variable ``y``."""
    t = T_LOW + (1 - T_LOW) * (y + 1) / 2
    z = 2 / t - 2
    return (erfcx(z) / t).ln()


def fitted_coefficients():
    """The kept coefficients ``a_0 .. a_n`` (Decimal)."""
    decimal.getcontext().prec = WORKING_DIGITS
    coefficients = chebyshev_coefficients(g, NODES)
    kept = len(coefficients)
    while kept > 1 and sum(abs(c) for c in coefficients[kept - 1:]) < Decimal(2) ** -58:
        kept -= 1
    return coefficients[:kept]


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    coefficients = fitted_coefficients()
    print("_ERFC_CHEBYSHEV = (  # a_0 .. a_%d, from bench/fit_erfc.py" % (len(coefficients) - 1))
    for c in coefficients:
        print(f"    {float(c)!r},")
    print(")")


if __name__ == "__main__":
    main()
