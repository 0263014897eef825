"""Accuracy (ulps) and speed of ``bbans_numba.portable`` against exact and library references.

Not a test: a script.  Prints a Markdown table and writes JSON::

    python -m bench.bench_portable              # ~1 min on 2 cores
    python -m bench.bench_portable --quick      # fewer points

Columns:

* ``exact max`` / ``> 1 ulp``: the largest error, and the share of errors above 1 ulp, against
  the correctly rounded values of :mod:`bench.exact_math` (``decimal``) on ``--exact`` points
  per function (random, over the whole domain and near its interesting spots).
* ``lib max``: the largest difference in ulps from NumPy/SciPy/libm on ``--grid`` points (a
  dense grid plus random points over the range where the library is itself accurate, see
  :data:`LIBRARY`); this includes the library's own error (a few ulp for ``erfc``, ``ndtri``).
* ``ns/value`` (portable) and ``ns/value libm`` (the same loop calling Numba's ``math.*``,
  i.e. the platform libm, or SciPy for ``ndtri``), per element over 10**6 elements.
"""

import argparse
import math
import os
import sys

import numpy as np
from numba import njit
from scipy import special

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bbans_numba.portable import FUNCTIONS, elementwise  # noqa: E402
from bench import exact_math, report  # noqa: E402


def sample_points(name, count, rng):
    """``count`` float64 inputs of ``name``: half uniform over the domain, half near the
    spots where the function is hardest (small arguments, tails, region boundaries)."""
    half = count // 2
    rest = count - half

    def log_uniform(low, high, size):
        return np.exp(rng.uniform(np.log(low), np.log(high), size))

    signs = rng.choice([-1.0, 1.0], rest)
    if name == "exp":
        return np.concatenate([rng.uniform(-745.0, 709.78, half), rng.uniform(-1.0, 1.0, rest)])
    if name == "expm1":
        return np.concatenate([rng.uniform(-40.0, 709.78, half), signs * log_uniform(1e-300, 2.0, rest)])
    if name == "log":
        return np.concatenate([log_uniform(5e-324, 1.7e308, half), rng.uniform(0.5, 2.0, rest)])
    if name == "log1p":
        return np.concatenate([rng.uniform(-1.0, 1.0, half), signs[:rest // 2] * log_uniform(1e-300, 1.0, rest // 2),
                               log_uniform(1.0, 1e300, rest - rest // 2)])
    if name in ("softplus", "sigmoid"):
        return np.concatenate([rng.uniform(-745.0, 745.0, half), rng.uniform(-40.0, 40.0, rest)])
    if name == "erfc":
        return np.concatenate([rng.uniform(-6.0, 27.2, half), rng.uniform(-1.0, 1.0, rest)])
    if name == "ndtr":
        return np.concatenate([rng.uniform(-38.4, 8.3, half), rng.uniform(-2.0, 2.0, rest)])
    if name == "ndtri":
        return np.concatenate([rng.uniform(0.0, 1.0, half), log_uniform(5e-324, 0.075, rest // 2),
                               1.0 - log_uniform(1e-16, 0.075, rest - rest // 2)])
    raise ValueError(name)


# name -> (NumPy/SciPy/libm function, (low, high) of the grid where it is accurate)
LIBRARY = {
    "exp": (np.exp, (-745.0, 709.78)),
    "expm1": (np.expm1, (-40.0, 709.78)),
    "log": (np.log, (1e-300, 1e300)),
    "log1p": (np.log1p, (-0.999999, 1e6)),
    "softplus": (lambda x: np.logaddexp(0.0, x), (-745.0, 745.0)),
    "sigmoid": (special.expit, (-700.0, 700.0)),
    "erfc": (np.vectorize(math.erfc, otypes=[float]), (-6.0, 27.2)),  # (SciPy's is 500 ulp off near 24)
    "ndtr": (special.ndtr, (-2.0, 8.3)),  # SciPy's erfc(-x/sqrt(2)) loses ~x**2 ulp further down
    "ndtri": (special.ndtri, (1e-300, 1.0)),
}


def ulps(values, references):
    """Elementwise ``|values - references|`` in ulps of ``references`` (0 where both agree,
    NaN and infinities included)."""
    same = (values == references) | (np.isnan(values) & np.isnan(references))
    with np.errstate(all="ignore"):
        return np.where(same, 0.0, np.abs(values - references) / np.spacing(np.abs(references)))


def library_grid(name, count, rng):
    low, high = LIBRARY[name][1]
    if low > 0 and high / low > 1e3:  # log-spaced
        grid = np.exp(np.linspace(np.log(low), np.log(high), count // 2))
    else:
        grid = np.linspace(low, high, count // 2)
    return np.concatenate([grid, np.sort(sample_points(name, count - count // 2, rng)).clip(low, high)])


@njit
def _libm_kernel(function, x, out):
    for i in range(x.size):
        v = x[i]
        if function == 0:
            out[i] = math.exp(v)
        elif function == 1:
            out[i] = math.expm1(v)
        elif function == 2:
            out[i] = math.log(v)
        elif function == 3:
            out[i] = math.log1p(v)
        elif function == 4:
            out[i] = max(v, 0.0) + math.log1p(math.exp(-abs(v)))
        elif function == 5:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        elif function == 6:
            out[i] = math.erfc(v)
        elif function == 7:
            out[i] = 0.5 * math.erfc(-v * 0.7071067811865476)


def libm_elementwise(name, x):
    """The same function through the platform's libm (SciPy's ``ndtri`` for ``ndtri``)."""
    if name == "ndtri":
        return special.ndtri(x)
    out = np.empty_like(x)
    _libm_kernel(FUNCTIONS.index(name), x, out)
    return out


def measure(name, exact_count, grid_count, rng):
    """One table row."""
    points = sample_points(name, exact_count, rng)
    values = elementwise(name, points)
    reference = getattr(exact_math, name)
    errors = np.array([exact_math.ulp_error(v, reference(float(x))) for x, v in zip(points, values)])
    grid = library_grid(name, grid_count, rng)
    library_errors = ulps(elementwise(name, grid), LIBRARY[name][0](grid))
    timing_points = np.sort(sample_points(name, 10**6, rng))
    portable_s, _, _ = report.time_median(lambda: elementwise(name, timing_points))
    libm_s, _, _ = report.time_median(lambda: libm_elementwise(name, timing_points))
    return {"name": name, "exact_points": exact_count, "exact_max_ulp": float(errors.max()),
            "exact_above_1ulp": float(np.mean(errors > 1.0)), "library_points": grid.size,
            "library_max_ulp": float(library_errors.max()), "ns_portable": portable_s * 1e9 / timing_points.size,
            "ns_libm": libm_s * 1e9 / timing_points.size}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer points (a smoke run)")
    parser.add_argument("--exact", type=int, default=None, help="points per function checked exactly")
    parser.add_argument("--grid", type=int, default=None, help="points per function checked against the library")
    parser.add_argument("--json", default="bench/results/portable.json")
    args = parser.parse_args(argv)
    exact = args.exact or (300 if args.quick else 4000)
    grid = args.grid or (10**5 if args.quick else 2 * 10**6)
    rng = np.random.default_rng(2024)
    rows = []
    for name in FUNCTIONS:
        # erfc, ndtr and ndtri references cost ~1 ms each in decimal: a quarter of the points
        count = exact // 4 if name in ("erfc", "ndtr", "ndtri") else exact
        rows.append(measure(name, count, grid, rng))
        print(f"{name}: done", file=sys.stderr)
    columns = [("name", "function", None), ("exact_points", "exact points", None),
               ("exact_max_ulp", "exact max (ulp)", 2), ("exact_above_1ulp", "> 1 ulp", 4),
               ("library_max_ulp", "lib max (ulp)", 2), ("ns_portable", "ns/value", 1),
               ("ns_libm", "ns/value libm", 1)]
    print(report.markdown_table(rows, columns))
    machine = report.machine_info()
    print(f"\n{machine['cpu']}, {machine['cores']} cores, numba {machine['numba']}")
    path = report.write_json(args.json, machine, rows, {"exact": exact, "grid": grid})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
