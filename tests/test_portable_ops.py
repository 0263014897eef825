"""training.portable_ops (Keras, float32) computes what bbans_numba.portable (Numba, float64)
computes, to float32 precision, and is safe to differentiate."""

import numpy as np
import pytest

import training  # noqa: F401  (selects the Keras backend)
import keras
from bbans_numba.portable import elementwise
from training import portable_ops

if keras.backend.backend() != "jax":
    pytest.skip("these tests jit and differentiate with JAX", allow_module_level=True)
import jax  # noqa: E402

# float32 domain (where results are normal float32 numbers) and the largest difference, in
# float32 ulps, from the float64 function rounded to float32.  XLA flushes float32 subnormals
# to zero, so results below 2**-126 are not compared.
CASES = {
    "exp": ((-87.0, 88.7), 2.0),
    "expm1": ((-18.0, 88.7), 2.0),
    "log": ((1.2e-38, 3.4e38), 2.0),
    "log1p": ((-0.999, 1e6), 2.0),
    "softplus": ((-87.0, 200.0), 2.0),
    "sigmoid": ((-87.0, 200.0), 3.0),
    "erfc": ((-5.0, 9.0), 8.0),
    "ndtr": ((-13.0, 6.0), 8.0),
    "ndtri": ((1e-37, 1.0), 8.0),
}
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 3.0, -3.0], dtype=np.float32)


def _float32_ulps(values, references):
    same = (values == references) | (np.isnan(values) & np.isnan(references))
    with np.errstate(all="ignore"):
        return np.where(same, 0.0, np.abs(values.astype(np.float64) - references) / np.spacing(np.abs(references)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_the_float64_codec_functions_to_float32_precision(name):
    (low, high), bound = CASES[name]
    rng = np.random.default_rng(len(name))
    if low > 0 and high / low > 1e3:
        x = np.exp(rng.uniform(np.log(low), np.log(high), 20_000))
    else:
        x = rng.uniform(low, high, 20_000)
    small = rng.choice([-1.0, 1.0], 10_000) * np.exp(rng.uniform(np.log(1e-30), 0.0, 10_000))  # near 0
    x = np.concatenate([x, small[(low <= small) & (small <= high)]]).astype(np.float32)
    x = np.concatenate([x, SPECIAL])
    values = np.asarray(jax.jit(portable_ops.FUNCTIONS[name])(x))
    references = elementwise(name, x.astype(np.float64)).astype(np.float32)
    compared = ~(np.abs(references) < np.finfo(np.float32).tiny)
    errors = _float32_ulps(values[compared], references[compared])
    assert errors.max() <= bound, f"{name}: {errors.max()} float32 ulp at x={x[compared][np.argmax(errors)]!r}"


def test_elu_is_identity_above_zero_and_expm1_below():
    x = np.linspace(-20.0, 20.0, 4001, dtype=np.float32)
    values = np.asarray(jax.jit(portable_ops.elu)(x))
    assert np.array_equal(values[x > 0], x[x > 0])
    assert np.array_equal(values[x <= 0], np.asarray(portable_ops.expm1(x[x <= 0])))


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "elu", "exp", "expm1", "log1p"])
def test_gradients_are_finite_everywhere(name):
    """Branches are computed on clipped stand-ins, so even out-of-range elements give finite gradients."""
    function = getattr(portable_ops, name)
    x = np.array([-1e30, -800.0, -90.0, -20.0, -1.0, -1e-30, 0.0, 1e-30, 1.0, 20.0, 90.0, 800.0, 1e30],
                 dtype=np.float32)
    if name == "log1p":
        x = x[x > -1.0]
    gradient = np.asarray(jax.grad(lambda v: jax.numpy.sum(function(v)))(x))
    assert np.all(np.isfinite(gradient))


def test_softplus_gradient_is_the_sigmoid():
    x = np.linspace(-30.0, 30.0, 601, dtype=np.float32)
    gradient = np.asarray(jax.grad(lambda v: jax.numpy.sum(portable_ops.softplus(v)))(x))
    np.testing.assert_allclose(gradient, np.asarray(portable_ops.sigmoid(x)), rtol=1e-5, atol=1e-7)
