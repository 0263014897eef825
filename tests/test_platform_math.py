"""No platform math on the coding path (issue 10): the IR/assembly scanner of
``tests/platform_math.py``, the portable functions it clears, and the coding path itself."""

import math

import numpy as np
import pytest
from numba import njit

import bbans_numba as bb
from bbans_numba.model import CodingModel
from bbans_numba.model_config import ModelConfig
from bbans_numba import portable
from platform_math import inspect_dispatchers, inspect_package, scan_assembly, scan_llvm_ir


@njit
def _libm_kernel(x):
    return math.exp(x) + np.log1p(x) + math.erfc(x) + np.float32(np.expm1(np.float32(x)))


@njit(fastmath=True)
def _fast_multiply_add(a, b, c):
    return a * b + c


@njit
def _multiply_add(a, b, c):
    return a * b + c


@njit
def _exact_operations(a, b):
    return (math.sqrt(abs(a)) + math.floor(b) + math.ceil(a) + math.trunc(b) + min(a, b) + max(a, b)
            + math.copysign(a, b) + a / b - a % b + float(int(a)))


def _details(dispatcher, *args):
    dispatcher(*args)
    return {(finding.kind, finding.detail) for finding in inspect_dispatchers([dispatcher])}


def test_scanner_reports_libm_calls_and_math_intrinsics():
    details = _details(_libm_kernel, 0.5)
    assert {("math intrinsic", "llvm.exp.f64"), ("libm call", "log1p"), ("libm call", "erfc"),
            ("libm call", "expm1f")} <= details


def test_scanner_reports_fast_math_flags():
    details = _details(_fast_multiply_add, 1.0, 2.0, 3.0)
    assert ("fast-math flag", "fmul fast") in details and ("fast-math flag", "fadd fast") in details


def test_exact_operations_and_an_unflagged_multiply_add_pass():
    """Without fastmath, LLVM must not contract ``a * b + c`` into an FMA: no flag, no
    ``llvm.fmuladd``, no FMA instruction (this machine has FMA units if ``fastmath`` uses them)."""
    assert _details(_multiply_add, 1.0, 2.0, 3.0) == set()
    assert _details(_exact_operations, 2.5, -1.5) == set()


def test_scanner_recognizes_fma_instructions_of_several_architectures():
    assembly = ("\tvfmadd231sd\t%xmm2, %xmm1, %xmm0\n\tvmulsd\t%xmm1, %xmm0, %xmm0\n"
                "\tfmadd\td0, d1, d2, d3\n\tfmla\tv0.2d, v1.2d, v2.2d\n\txsmaddadp 1, 2, 3\n\tfmul\td0, d1, d2\n")
    assert [detail for _, detail in scan_assembly(assembly)] == ["fmadd", "fmla", "vfmadd231sd", "xsmaddadp"]


def test_scanner_reports_unlisted_intrinsics_unknown_functions_and_fast_attributes():
    ir = ("declare double @llvm.newmath.f64(double)\ndeclare double @mystery(double)\n"
          "declare double @llvm.fma.f64(double, double, double)\ndeclare double @__svml_exp8(double)\n"
          "define double @f(double %x) #0 {\n"
          "  %a = call double @llvm.newmath.f64(double %x)\n  %b = call double @mystery(double %a)\n"
          "  %c = call double @llvm.fma.f64(double %a, double %b, double %x)\n"
          "  %d = call double @__svml_exp8(double %c)\n  %e = fcmp nnan olt double %d, 0.0\n  ret double %d\n}\n"
          'attributes #0 = { "unsafe-fp-math"="true" }\n'
          "declare double @exp(double)\n")  # declared, never used: not reported
    assert scan_llvm_ir(ir) == [("fast-math flag", '"unsafe-fp-math"="true"'), ("fast-math flag", "fcmp nnan"),
                                ("libm call", "__svml_exp8"), ("math intrinsic", "llvm.fma.f64"),
                                ("unknown function", "mystery"), ("unlisted intrinsic", "llvm.newmath.f64")]


def tiny_model(likelihood, image_shape=(3, 4), seed=1):
    """A :class:`bbans_numba.model.CodingModel` with random weights: an ELU residual MLP and
    ``likelihood`` (a registry description), for round trips through a likelihood no shipped
    model uses."""
    config = ModelConfig.build(list(image_shape), 2, {"name": "residual_mlp", "hidden_units": 5,
                                                      "residual_blocks": 1, "activation": "elu"}, likelihood)
    rng = np.random.default_rng(seed)
    arrays = {"config": np.array(config.to_json())}
    for name, shape in config.array_shapes().items():
        arrays[name] = rng.normal(size=shape).astype(np.float32)
    return CodingModel("tiny", None, arrays)


def _exercise_the_coding_path():
    """Real round trips (both shipped models, both quantizers, the logistic-mixture
    likelihood) and one of every codec, so that every kernel on the coding path has
    compiled signatures."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    runs = [dict(model="mnist", quantizer="exact"), dict(model="mnist", quantizer="histogram"),
            dict(model="mnist-fast", quantizer="histogram")]
    for options in runs:
        assert np.array_equal(bb.decompress(bb.compress(images, **options)), images)
    logistic = tiny_model({"name": "logistic_mixture", "num_components": 2})
    small = rng.integers(0, 256, size=(2, 3, 4), dtype=np.uint8)
    assert np.array_equal(bb.decompress(bb.compress(small, model=logistic), model=logistic), small)
    lanes = 2
    codecs = [
        bb.codecs.Uniform(8),
        bb.codecs.Categorical(np.array([0.5, 0.25, 0.25]), precision_bits=12),
        bb.codecs.BetaBinomial(255, np.full(lanes, 2.0), np.full(lanes, 3.0), precision_bits=16),
        bb.codecs.DiscretizedLogisticMixture(means=[[10.0, 200.0]] * lanes, log_scales=[[1.0, 2.0]] * lanes,
                                             logit_weights=[[0.0, 0.5]] * lanes, precision_bits=16),
        bb.codecs.DiagGaussianStdBins(np.zeros(lanes), np.ones(lanes), bucket_bits=8, precision_bits=16),
        bb.codecs.DiagGaussianStdBins(np.zeros(lanes), np.ones(lanes), bucket_bits=8, precision_bits=16,
                                      method="histogram"),
    ]
    for codec in codecs:
        message = bb.Message(num_lanes=lanes)
        symbols = np.ones(lanes, dtype=np.int64)
        codec.push(message, symbols)
        assert np.array_equal(codec.pop(message), symbols)


@pytest.fixture(scope="module")
def coding_path_findings():
    """Findings in every compiled kernel of the package (each compiled once more, uncached,
    to read its IR: the slow part, so done once for all tests here)."""
    _exercise_the_coding_path()
    return inspect_package(bb)


def test_portable_functions_compiled_in_a_kernel_have_no_platform_math():
    """Every function of ``bbans_numba.portable``, inlined into its own elementwise kernel
    (closures, so not among the module's attributes that the package inspection walks)."""
    for name in portable.FUNCTIONS:
        assert portable.elementwise(name, [0.5]).shape == (1,)
    kernels = list(portable._ELEMENTWISE_KERNELS.values())
    assert len(kernels) == len(portable.FUNCTIONS) and all(kernel.signatures for kernel in kernels)
    assert inspect_dispatchers(kernels) == []


def test_the_coding_path_has_no_platform_math(coding_path_findings):
    """Every compiled kernel of the package (after the round trips above), with every
    function it calls: no libm call, no math intrinsic, no fast-math flag, no FMA
    instruction, no unknown call.  Before issue 10's phase 2 this found libm ``expm1f``
    (ELU), ``log1p`` and ``llvm.exp`` (softplus heads, logistic CDF, softmax) and ``erfc``
    (the exact quantizer) in ``bbans_numba.nn``, ``bbans_numba.quantize`` and
    ``bbans_numba.codecs``."""
    assert coding_path_findings == [], "\n".join(map(str, coding_path_findings))
