"""Files decode on any IEEE-754 machine (issue 10): an independent plain-NumPy reference of
what determines a frequency, and a decode compiled for another instruction set.

The reference below uses no Numba: NumPy's float32/float64 ``+ - * /`` are correctly
rounded elementwise, and ``tests/portable_reference.py`` re-implements
``bbans_numba.portable`` the same way, so the same operations in the same order must give
the codec's bits exactly.  A difference means the compiled code does not compute what its
source says (an FMA contraction, a reassociation, a libm call), or one side changed alone.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bbans_numba as bb
import portable_reference as ref
from bbans_numba import quantize
from bbans_numba.families.beta_binomial import (_BLOCK_ROWS, _RESCALE_ABOVE, BETA_BINOMIAL_PARAM_RANGE, _rows_block,
                                               beta_binomial_cdf)
from bbans_numba.likelihoods import likelihood_from_description
from bbans_numba.model import STD_MAX, STD_MIN, load_model

REPO = Path(__file__).resolve().parents[1]
MLP_MODELS = ("mnist-mlp", "mnist-fast")  # the shipped residual-MLP VAEs (the PixelVAE: test_pixelvae_codec.py)


# --- the reference -----------------------------------------------------------------------


def reference_dense(x, kernel, bias):
    """float32 ``x @ kernel + bias`` as :func:`bbans_numba.nn.dense` orders it: ``out = bias``,
    then ``out += x[k] * kernel[k]`` for k ascending, skipping ``x[k] == 0``."""
    out = np.empty((len(x), kernel.shape[1]), dtype=np.float32)
    for r, row in enumerate(x):
        acc = bias.copy()
        for k in np.flatnonzero(row != 0):
            acc = acc + row[k] * kernel[k]  # float32 product, then float32 sum: two roundings
        out[r] = acc
    return out


def reference_activation(name, h):
    if name == "relu":
        return np.maximum(h, np.float32(0))
    negative = h < 0
    return np.where(negative, ref.expm1(np.where(negative, h, 0).astype(np.float64)).astype(np.float32), h)


def reference_forward(model, network, x):
    """The residual MLP of :mod:`bbans_numba.architectures.residual_mlp`, in NumPy."""
    weights, activation = model._weights, model.architecture_spec.options["activation"]
    names = model.architecture_spec.layer_names(network)

    def dense(name, inputs):
        return reference_dense(inputs, weights[f"{name}.kernel"], weights[f"{name}.bias"])

    h = reference_activation(activation, dense(names[0], x))
    for inner, outer in zip(names[1:-1:2], names[2:-1:2]):
        h = dense(outer, reference_activation(activation, dense(inner, h))) + h
    return dense(names[-1], h)


def reference_clipped_softplus(raw, low, high):
    return np.minimum(np.maximum(ref.softplus(raw.astype(np.float64)), low), high)


def reference_share_start(symbol, cdf_value, num_symbols, precision_bits):
    """:func:`bbans_numba.quantize.share_start`, with ``start(0) = 0`` and ``start(K) = 2**precision``."""
    clipped = np.where(cdf_value > 0.0, np.minimum(cdf_value, 1.0), 0.0)
    spare = (1 << precision_bits) - num_symbols
    start = symbol + np.minimum(np.floor(clipped * spare).astype(np.int64), spare)
    return np.where(symbol <= 0, 0, np.where(symbol >= num_symbols, 1 << precision_bits, start))


def reference_gaussian_starts(mean, std, bucket_bits, precision_bits, method):
    """Starts of buckets 0 .. K (K + 1 values) of N(mean, std) for each (mean, std) row."""
    num_buckets = 1 << bucket_bits
    edges = ref.ndtri(np.arange(1, num_buckets, dtype=np.float64) / num_buckets)
    mean, std = mean[:, None], std[:, None]
    buckets = np.arange(num_buckets + 1)
    if method == "exact":
        inner = reference_share_start(buckets[1:-1], ref.ndtr((edges - mean) / std), num_buckets, precision_bits)
        top = 1 << precision_bits
    else:
        count = 1 << precision_bits
        points = ref.ndtri((np.arange(count, dtype=np.float64) + 0.5) / count)
        # start(k) = how many points mean + std * point lie below edge k - 1 (the points are sorted)
        inner = np.stack([np.count_nonzero(m + s * points < edges[:, None], axis=1) for m, s in zip(mean, std)])
        top = count
    rows = len(mean)
    return np.concatenate([np.zeros((rows, 1), np.int64), inner, np.full((rows, 1), top)], axis=1)


def reference_logistic_starts(means, log_scales, logits, precision_bits, num_symbols=256):
    """Starts of symbols 0 .. num_symbols of each mixture (means etc. (..., M), clamped log-scales)."""
    largest = logits.max(axis=-1, keepdims=True)
    weights = ref.exp(logits - largest)
    total = np.zeros(weights.shape[:-1])
    for c in range(weights.shape[-1]):
        total = total + weights[..., c]
    weights = weights / total[..., None]
    inverse_scales = ref.exp(-log_scales)
    symbols = np.arange(num_symbols + 1)
    edge = symbols - 0.5
    cdf_value = np.zeros(means.shape[:-1] + (num_symbols + 1,))
    for c in range(means.shape[-1]):
        scaled = -(edge - means[..., None, c]) * inverse_scales[..., None, c]
        cdf_value = cdf_value + weights[..., None, c] / (1.0 + ref.exp(scaled))
    return reference_share_start(symbols, cdf_value, num_symbols, precision_bits)


def reference_beta_binomial_sums(alpha, beta, trials):
    """Running sums ``c(0) .. c(n+1)`` (shape (n + 2, rows)) of BetaBinomial(n = trials,
    alpha, beta) per row, as :mod:`bbans_numba.families.beta_binomial` builds them, and how
    many rows were rescaled.

    Rows side by side (elementwise NumPy), steps in order: clamp (NaN -> the lower
    bound), ``p(0) = 1``, ``p(k+1) = p(k) * ((n-k) * (k+alpha)) / ((k+1) * (n-k-1+beta))``,
    and a row whose new value exceeds the rescale bound has ``p(0) .. p(k+1)`` divided by
    it; then ``c(0) = 0``, ``c(k+1) = c(k) + p(k)`` one symbol at a time.
    """
    low, high = BETA_BINOMIAL_PARAM_RANGE
    alpha = np.where(alpha >= low, np.minimum(alpha, high), low)  # NaN fails >=: low
    beta = np.where(beta >= low, np.minimum(beta, high), low)
    pmf = np.zeros((trials + 1, len(alpha)))
    pmf[0] = 1.0
    rescaled = np.zeros(len(alpha), dtype=bool)
    for k in range(trials):
        falling, rising, after, left = float(trials - k), float(k), float(k + 1), float(trials - k - 1)
        pmf[k + 1] = pmf[k] * (falling * (rising + alpha)) / (after * (left + beta))
        overflows = pmf[k + 1] > _RESCALE_ABOVE
        pmf[:k + 2, overflows] /= _RESCALE_ABOVE
        rescaled |= overflows
    cumulative = np.zeros((trials + 2, len(alpha)))
    for k in range(trials + 1):
        cumulative[k + 1] = cumulative[k] + pmf[k]
    return cumulative, int(rescaled.sum())


def reference_beta_binomial_starts(alpha, beta, trials, precision_bits):
    """Starts of symbols 0 .. n + 1 per row (shape (rows, n + 2)): the per-symbol rule of
    ``c(k) / c(n+1)``."""
    cumulative = reference_beta_binomial_sums(alpha, beta, trials)[0]
    symbols = np.arange(trials + 2)
    return reference_share_start(symbols, (cumulative / cumulative[-1]).T, trials + 1, precision_bits)


def codec_beta_binomial_sums(alpha, beta, trials):
    """The codec's own running sums (its block kernel, block by block), to compare below
    the resolution of the starts."""
    out = np.empty((trials + 2, len(alpha)))
    pmf, cumulative = np.empty((trials + 3, _BLOCK_ROWS)), np.empty((trials + 2, _BLOCK_ROWS))
    for first in range(0, len(alpha), _BLOCK_ROWS):
        count = min(_BLOCK_ROWS, len(alpha) - first)
        _rows_block(alpha, beta, first, 1, count, trials, pmf, cumulative)
        out[:, first:first + count] = cumulative[:, :count]
    return out


# --- the codec against the reference -------------------------------------------------------


@pytest.mark.parametrize("name", MLP_MODELS)
def test_shipped_model_forward_passes_match_the_numpy_reference_bit_for_bit(name):
    model = load_model(name)
    rng = np.random.default_rng(7)
    images = np.concatenate([bb.load_images("mnist:sample")[:2], rng.integers(0, 256, (1, 28, 28), dtype=np.uint8)])
    pixels = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    encoder_out = reference_forward(model, "encoder", pixels)
    mean, std = model.encode(images)
    assert np.array_equal(mean, encoder_out[:, :model.latent_dim].astype(np.float64))
    assert np.array_equal(std, reference_clipped_softplus(encoder_out[:, model.latent_dim:], STD_MIN, STD_MAX))
    z = rng.normal(size=(3, model.latent_dim)).astype(np.float32)
    decoder_out = reference_forward(model, "decoder", z)
    assert np.array_equal(model.decoder_output(z), decoder_out)
    alpha, beta = model.likelihood_spec.parameters(decoder_out)
    expected = reference_clipped_softplus(decoder_out, *BETA_BINOMIAL_PARAM_RANGE)
    assert np.array_equal(np.concatenate([alpha, beta], axis=1), expected)


def test_bucket_tables_match_the_numpy_reference():
    edges = np.arange(1, 256) / 256.0
    assert np.array_equal(quantize.std_normal_bucket_edges(8), ref.ndtri(edges))
    assert np.array_equal(quantize.std_normal_bucket_centres(8), ref.ndtri((np.arange(256) + 0.5) / 256))
    assert np.array_equal(quantize.histogram_points(12), ref.ndtri((np.arange(4096) + 0.5) / 4096))


@pytest.mark.parametrize("method, precision_bits", [("exact", 20), ("histogram", 16)])
def test_gaussian_quantizers_match_the_numpy_reference(method, precision_bits):
    """Every bucket's interval, lane by lane (the histogram quantizer's empty buckets cannot
    be asked for: only those the reference gives a frequency are)."""
    rng = np.random.default_rng(8)
    bucket_bits = 8
    mean = np.concatenate([rng.normal(scale=1.5, size=3), [0.0]])
    std = np.concatenate([np.exp(rng.uniform(-5, 0.5, size=3)), [1.0]])
    expected = reference_gaussian_starts(mean, std, bucket_bits, precision_bits, method)
    for lane in range(len(mean)):
        buckets = np.flatnonzero(np.diff(expected[lane]) > 0)
        codec = bb.codecs.DiagGaussianStdBins(np.full((1, buckets.size), mean[lane]), np.full((1, buckets.size), std[lane]),
                                              bucket_bits=bucket_bits, precision_bits=precision_bits, method=method)
        starts, freqs = codec.intervals(bb.Message(num_lanes=1), buckets[None])
        assert np.array_equal(starts[0], expected[lane, buckets])
        assert np.array_equal(freqs[0], np.diff(expected[lane])[buckets])
    if method == "exact":
        assert (np.diff(expected) >= 1).all()  # every bucket can be coded


def test_logistic_mixture_matches_the_numpy_reference():
    likelihood = likelihood_from_description({"name": "logistic_mixture", "num_components": 3})
    raw = np.random.default_rng(9).normal(scale=1.5, size=(1, 9 * 4)).astype(np.float32)  # 1 image, 4 pixels
    means, log_scales, logits = likelihood.parameters(raw)
    expected = reference_logistic_starts(means[0], log_scales[0], logits[0], 24)
    codec = likelihood.codec(raw, precision_bits=24)
    got = np.stack([codec.intervals(bb.Message(num_lanes=1), np.full((1, 4), k))[0][0] for k in range(256)], axis=1)
    assert np.array_equal(got, expected[:, :256])


def test_beta_binomial_matches_the_numpy_reference():
    """The shipped models' pixel likelihood: the float64 running sums bit for bit, and at
    the codec's pixel precision (24 bits) every start of every row, by the table path
    (``cdf``) and the per-symbol path (``intervals`` of (lanes, steps) parameters, as a
    model decodes), over the whole clamp range -- log-uniform pairs (tiny and huge
    ratios), the extremes, and values the clamp moves."""
    rng = np.random.default_rng(11)
    extremes = np.array([1e-6, 1e-3, 0.5, 1.0, 7.0, 1e3, 1e6])
    grid_alpha, grid_beta = (a.ravel() for a in np.meshgrid(extremes, extremes))
    alpha = np.concatenate([10.0 ** rng.uniform(-6, 6, 240), grid_alpha])
    beta = np.concatenate([10.0 ** rng.uniform(-6, 6, 240), grid_beta])
    sums, rescaled = reference_beta_binomial_sums(alpha, beta, 255)
    assert rescaled > 0  # the rescaling branch is exercised
    assert np.array_equal(codec_beta_binomial_sums(alpha, beta, 255).view(np.int64), sums.view(np.int64))
    expected = reference_beta_binomial_starts(alpha, beta, 255, 24)
    assert np.array_equal(bb.codecs.BetaBinomial(255, alpha, beta, 24).cdf, expected)
    rows = len(alpha)
    codec = bb.codecs.BetaBinomial(255, np.repeat(alpha, 2).reshape(rows, 2), np.repeat(beta, 2).reshape(rows, 2), 24)
    symbols = rng.integers(0, 256, (rows, 2))
    starts, freqs = codec.intervals(bb.Message(num_lanes=rows), symbols)
    assert np.array_equal(starts, np.take_along_axis(expected, symbols, axis=1))
    assert np.array_equal(freqs, np.take_along_axis(np.diff(expected, axis=1), symbols, axis=1))
    outside = np.array([0.0, -1.0, 1e-9, 2e6, np.inf, np.nan])  # clamped (NaN -> the lower bound)
    odd_alpha, odd_beta = np.repeat(outside, len(outside)), np.tile(outside, len(outside))
    odd_sums = reference_beta_binomial_sums(odd_alpha, odd_beta, 255)[0]
    assert np.array_equal(codec_beta_binomial_sums(odd_alpha, odd_beta, 255).view(np.int64), odd_sums.view(np.int64))
    assert np.array_equal(beta_binomial_cdf(odd_alpha, odd_beta, 255, 24),
                          reference_beta_binomial_starts(odd_alpha, odd_beta, 255, 24))


# --- another instruction set, another process ------------------------------------------


def test_files_decode_in_a_process_compiled_for_a_generic_cpu(tmp_path):
    """Compress here; decode where Numba compiles everything afresh (its own empty cache)
    for ``NUMBA_CPU_NAME=generic`` (baseline x86-64 / AArch64: no AVX, no FMA units), with
    one thread.  Bit-exact."""
    rng = np.random.default_rng(10)
    images = np.concatenate([bb.load_images("mnist:sample")[:3], rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)])
    np.save(tmp_path / "images.npy", images)
    runs = {"mnist": "exact", "mnist-fast": "histogram"}
    for model, quantizer in runs.items():
        (tmp_path / f"{model}.bbans").write_bytes(bb.compress(images, model=model, lanes=2, quantizer=quantizer))
    script = textwrap.dedent(
        f"""
        import numpy as np, bbans_numba as bb
        images = np.load({str(tmp_path / 'images.npy')!r})
        for model in {list(runs)!r}:
            blob = open({str(tmp_path)!r} + '/' + model + '.bbans', 'rb').read()
            assert np.array_equal(bb.decompress(blob), images), model
        print('identical')
        """
    )
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "identical" in result.stdout
