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

The high-precision ``erfcx``, ``pi`` and ``cos`` come from :mod:`bench.exact_math`.
"""

import argparse
import decimal
from decimal import Decimal

from bench.exact_math import cos, erfcx, pi

T_LOW = Decimal(1) / 16  # t range [1/16, 1] <=> z in [0, 30]
NODES = 48
WORKING_DIGITS = 45


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
