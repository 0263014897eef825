"""bbans_numba.portable: the same bits as a plain-NumPy re-implementation, accuracy against
correctly rounded values and against NumPy/SciPy, special values, and the properties the
quantizers rely on."""

import math

import numpy as np
import pytest
from numba import njit

import portable_reference
from bbans_numba import portable
from bbans_numba.portable import FUNCTIONS, elementwise
from bench import exact_math
from bench.bench_portable import library_grid, LIBRARY, sample_points, ulps

SPECIAL_INPUTS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
                           1.0, -1.0, 0.5, 2.0, 1e-300, -1e-300, 1e300, -1e300,
                           portable.EXP_OVERFLOW, portable.EXP_UNDERFLOW, np.nextafter(portable.EXP_OVERFLOW, 1e3),
                           np.nextafter(portable.EXP_UNDERFLOW, -1e3), portable.EXPM1_MINUS_ONE_BELOW,
                           portable.ERFC_ZERO_ABOVE, -portable.ERFC_ZERO_ABOVE, 0.425, 0.075, 0.925])
# Largest error against the correctly rounded value, in ulps: what bench/bench_portable.py
# measured on 4000 points per function (1000 for erfc, ndtr, ndtri), rounded up.
EXACT_BOUNDS = {"exp": 1.0, "expm1": 1.0, "log": 1.0, "log1p": 1.0, "softplus": 2.0, "sigmoid": 2.0,
                "erfc": 5.0, "ndtr": 5.0, "ndtri": 6.0}
# Against NumPy/SciPy, whose own errors add (a screen for gross errors anywhere on a dense grid).
LIBRARY_BOUNDS = {"exp": 2.0, "expm1": 2.0, "log": 2.0, "log1p": 2.0, "softplus": 3.0, "sigmoid": 4.0,
                  "erfc": 8.0, "ndtr": 12.0, "ndtri": 8.0}  # (SciPy's ndtr alone is 8 ulp off near -1.2)


def same_bits(a, b):
    """Elementwise: identical float64 bit patterns, or both NaN."""
    return (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_same_bits_as_the_numpy_reference(name):
    rng = np.random.default_rng(FUNCTIONS.index(name))
    random_bits = rng.integers(-2**63, 2**63, 100_000, dtype=np.int64, endpoint=False).view(np.float64)
    small = rng.uniform(-3.0, 3.0, 50_000) * 10.0 ** rng.integers(-30, 3, 50_000)
    x = np.concatenate([random_bits, sample_points(name, 100_000, rng), small, SPECIAL_INPUTS])
    compiled = elementwise(name, x)
    reference = portable_reference.FUNCTIONS[name](x)
    differ = ~same_bits(compiled, reference)
    assert not differ.any(), f"{name}: {differ.sum()} differences, first at x={x[differ][:3]}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_accuracy_against_correctly_rounded_values(name):
    count = 40 if name in ("erfc", "ndtr", "ndtri") else 300  # decimal erfc costs ~ms
    x = sample_points(name, count, np.random.default_rng(100 + FUNCTIONS.index(name)))
    values = elementwise(name, x)
    exact = getattr(exact_math, name)
    errors = [exact_math.ulp_error(v, exact(float(point))) for point, v in zip(x, values)]
    assert max(errors) <= EXACT_BOUNDS[name], f"{name}: {max(errors):.2f} ulp at x={x[int(np.argmax(errors))]!r}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_accuracy_against_numpy_and_scipy_on_a_dense_grid(name):
    x = library_grid(name, 200_000, np.random.default_rng(200 + FUNCTIONS.index(name)))
    errors = ulps(elementwise(name, x), LIBRARY[name][0](x))
    assert errors.max() <= LIBRARY_BOUNDS[name], f"{name}: {errors.max():.2f} ulp at x={x[np.argmax(errors)]!r}"


@pytest.mark.parametrize("name, x, expected", [
    ("exp", np.inf, np.inf), ("exp", -np.inf, 0.0), ("exp", 710.0, np.inf), ("exp", -746.0, 0.0),
    ("exp", -745.0, 5e-324), ("exp", 0.0, 1.0), ("exp", -0.0, 1.0),
    ("expm1", np.inf, np.inf), ("expm1", -np.inf, -1.0), ("expm1", -0.0, -0.0), ("expm1", 5e-324, 5e-324),
    ("expm1", -40.0, -1.0),
    ("log", 0.0, -np.inf), ("log", -0.0, -np.inf), ("log", -1.0, np.nan), ("log", np.inf, np.inf),
    ("log", 1.0, 0.0), ("log", 5e-324, -744.4400719213812),
    ("log1p", -1.0, -np.inf), ("log1p", -2.0, np.nan), ("log1p", -0.0, -0.0), ("log1p", np.inf, np.inf),
    ("log1p", 5e-324, 5e-324),
    ("softplus", np.inf, np.inf), ("softplus", -np.inf, 0.0), ("softplus", 0.0, 0.6931471805599453),
    ("softplus", 1e300, 1e300), ("softplus", -800.0, 0.0),
    ("sigmoid", np.inf, 1.0), ("sigmoid", -np.inf, 0.0), ("sigmoid", 0.0, 0.5), ("sigmoid", -745.0, 5e-324),
    ("erfc", np.inf, 0.0), ("erfc", -np.inf, 2.0), ("erfc", 27.3, 0.0), ("erfc", -30.0, 2.0),
    ("ndtr", np.inf, 1.0), ("ndtr", -np.inf, 0.0), ("ndtr", 0.0, 0.5), ("ndtr", -38.5, 0.0),
    ("ndtri", 0.0, -np.inf), ("ndtri", 1.0, np.inf), ("ndtri", 0.5, 0.0), ("ndtri", -0.1, np.nan),
    ("ndtri", 1.1, np.nan),
])
def test_special_values(name, x, expected):
    value = float(elementwise(name, x))
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected and math.copysign(1.0, value) == math.copysign(1.0, expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_nan_gives_nan(name):
    assert np.isnan(elementwise(name, np.nan))


@pytest.mark.parametrize("bits", range(1, 17))
def test_ndtri_is_increasing_and_odd_on_the_quantizer_grids(bits):
    """The histogram quantizer needs sorted points, the buckets increasing edges."""
    count = 1 << bits
    for p in ((np.arange(count) + 0.5) / count, np.arange(1, count) / count):
        x = elementwise("ndtri", p)
        assert np.all(np.diff(x) > 0)
        assert np.array_equal(x, -x[::-1])


def test_ndtr_inverts_ndtri():
    """``ndtr(ndtri(p)) = p`` up to the errors of both: a few ulp of p and of x = ndtri(p)."""
    p = np.random.default_rng(3).uniform(0.0, 1.0, 10_000)
    x = elementwise("ndtri", p)
    density = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    tolerance = np.spacing(p) + density * np.spacing(np.abs(x))
    assert np.max(np.abs(elementwise("ndtr", x) - p) / tolerance) <= 8


def test_erfc_is_two_minus_erfc_of_the_negation():
    x = np.random.default_rng(4).uniform(0.0, 10.0, 10_000)
    assert np.array_equal(elementwise("erfc", -x), 2.0 - elementwise("erfc", x))


@njit
def _exp_of(x):
    return portable.exp(x)


def test_every_argument_type_is_computed_in_float64():
    assert _exp_of(np.float32(0.1)) == _exp_of(float(np.float32(0.1)))
    assert _exp_of(3) == _exp_of(3.0)


def test_elementwise_keeps_shapes_and_rejects_unknown_names():
    assert elementwise("exp", np.zeros((2, 3))).shape == (2, 3)
    assert elementwise("log", 1.0).shape == ()
    with pytest.raises(ValueError, match="unknown function 'tanh'"):
        elementwise("tanh", [0.0])
