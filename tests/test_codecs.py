"""Codec and quantizer properties (bbans_numba.codecs, bbans_numba.quantize)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import bbans_numba as bb
from bbans_numba import codecs, quantize

lane_counts = st.sampled_from([1, 2, 5, 64, 1024])


@st.composite
def distributions(draw):
    """Probability rows of K symbols (2..4096), shared or per lane, of varied shapes."""
    num_symbols = draw(st.sampled_from([2, 3, 17, 256, 4096]))
    num_lanes = draw(lane_counts)
    per_lane = draw(st.booleans()) and num_lanes * num_symbols <= 1 << 16
    rows = num_lanes if per_lane else 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["dirichlet", "one-hot", "all-but-one", "sparse", "peaked"]))
    if style == "dirichlet":
        probs = rng.dirichlet(np.full(num_symbols, 0.5), size=rows)
    elif style == "one-hot":
        probs = np.zeros((rows, num_symbols))
        probs[np.arange(rows), rng.integers(0, num_symbols, rows)] = 1.0
    elif style == "all-but-one":
        probs = np.full((rows, num_symbols), 1e-12)
        probs[np.arange(rows), rng.integers(0, num_symbols, rows)] = 1.0
    elif style == "sparse":
        probs = rng.random((rows, num_symbols)) * (rng.random((rows, num_symbols)) < 0.1)
        probs[:, 0] += 0.1
    else:
        probs = np.exp(-30 * rng.random((rows, num_symbols)))
    needed = max(1, math.ceil(math.log2(max(int((probs > 0).sum(axis=1).max()), 1))))
    precision_bits = draw(st.integers(min_value=needed, max_value=24))
    return (probs if per_lane else probs[0]), num_lanes, precision_bits, rng


def assert_round_trip_restores(codec, symbols):
    """Push then pop gives the symbols back and leaves a fresh message fresh."""
    message = bb.Message(symbols.shape[0])
    codec.push(message, symbols)
    assert np.array_equal(codec.pop(message, num_steps=symbols.shape[1]), symbols)
    assert message == bb.Message(symbols.shape[0])


def sample_symbols(probs, num_lanes, num_steps, rng):
    rows = np.broadcast_to(probs, (num_lanes, probs.shape[-1]))
    return np.stack([rng.choice(rows.shape[1], size=num_steps, p=row / row.sum()) for row in rows])


@given(distributions(), st.integers(min_value=1, max_value=8))
def test_categorical_round_trip_and_restore(dist, num_steps):
    probs, num_lanes, precision_bits, rng = dist
    codec = codecs.Categorical(probs, precision_bits)
    symbols = sample_symbols(probs, num_lanes, num_steps, rng)
    message = bb.Message(num_lanes)
    before = message.to_bytes()
    codec.push(message, symbols)
    assert np.array_equal(codec.pop(message, num_steps=num_steps), symbols)
    assert message.to_bytes() == before
    # pop then push (bits back) restores too
    popped = codec.pop(message, num_steps=num_steps)
    codec.push(message, popped)
    assert message.to_bytes() == before


@given(distributions())
def test_quantized_frequencies_cover_possible_symbols_and_sum_exactly(dist):
    probs, _, precision_bits, _ = dist
    freqs = quantize.quantize_probs(probs, precision_bits).astype(np.int64)
    assert np.all(freqs.sum(axis=-1) == 1 << precision_bits)
    assert np.all(freqs[probs > 0] >= 1)
    assert np.all(freqs[probs == 0] == 0)


def test_quantize_probs_example_and_errors():
    assert quantize.quantize_probs([0.5, 0.25, 0.25, 0.0], 3).tolist() == [4, 2, 2, 0]
    with pytest.raises(ValueError, match="do not fit"):
        quantize.quantize_probs(np.ones(5), 2)
    with pytest.raises(ValueError, match="finite"):
        quantize.quantize_probs([0.5, np.nan], 8)
    with pytest.raises(ValueError, match="non-negative"):
        quantize.quantize_probs([0.5, -0.1], 8)
    with pytest.raises(ValueError, match="positive total"):
        quantize.quantize_probs([0.0, 0.0], 8)


@pytest.mark.parametrize("num_symbols, precision_bits, bound", [(256, 16, 0.005), (256, 12, 0.08), (16, 12, 0.002)])
def test_categorical_quantization_loss_is_small(num_symbols, precision_bits, bound):
    """Extra bits per symbol, KL(p || q), for realistic (Dirichlet) distributions."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(num_symbols), size=200)
    freqs = quantize.quantize_probs(probs, precision_bits).astype(np.float64)
    kl = np.sum(probs * np.log2(probs / (freqs / (1 << precision_bits))), axis=1)
    assert kl.max() < bound
    assert kl.min() >= 0


def test_pushing_impossible_symbol_raises_without_changing_message():
    codec = codecs.Categorical([0.5, 0.0, 0.5], 8)
    message = bb.Message(2)
    before = message.to_bytes()
    with pytest.raises(ValueError, match="probability 0"):
        codec.push(message, np.array([0, 1]))
    assert message.to_bytes() == before


@pytest.mark.parametrize("precision_bits", range(1, 32))
def test_uniform_round_trip_every_precision(precision_bits):
    rng = np.random.default_rng(precision_bits)
    symbols = rng.integers(0, 1 << precision_bits, size=(9, 7))
    message = bb.Message(9)
    codecs.Uniform(precision_bits).push(message, symbols)
    assert message.num_bits() <= 64 * 9 + symbols.size * precision_bits + 32 * 9 + 1
    assert_round_trip_restores(codecs.Uniform(precision_bits), symbols)


@st.composite
def beta_binomial_params(draw):
    num_lanes = draw(lane_counts)
    num_steps = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    log_range = draw(st.sampled_from([(-2, 2), (-9, 9)]))  # (-9, 9) exceeds the clamp on both sides
    alpha = 10 ** rng.uniform(*log_range, size=(num_lanes, num_steps))
    beta = 10 ** rng.uniform(*log_range, size=(num_lanes, num_steps))
    return alpha, beta, draw(st.integers(8, 24)), rng


@given(beta_binomial_params())
def test_beta_binomial_round_trip(params):
    alpha, beta, precision_bits, rng = params
    codec = codecs.BetaBinomial(255, alpha, beta, precision_bits)
    freqs = codec.freqs.astype(np.int64)
    assert np.all(freqs >= 1) and np.all(freqs.sum(-1) == 1 << precision_bits)
    assert_round_trip_restores(codec, rng.integers(0, 256, size=alpha.shape))


@pytest.mark.parametrize("precision_bits", [8, 9, 12, 16])
@pytest.mark.parametrize("shape", [(), (3,)], ids=["scalar", "per lane"])
def test_beta_binomial_tables_at_low_precision(shape, precision_bits):
    """Issue 12 item 6: shared (table) parameters failed for precision_bits <= 16."""
    codec = codecs.BetaBinomial(255, np.full(shape, 0.3), np.full(shape, 4.0), precision_bits)
    freqs = codec.freqs.astype(np.int64)
    assert np.all(freqs >= 1) and np.all(freqs.sum(-1) == 1 << precision_bits)
    assert_round_trip_restores(codec, np.random.default_rng(precision_bits).integers(0, 256, size=(3, 5)))


def test_beta_binomial_matches_scipy():
    rng = np.random.default_rng(1)
    alpha = 10 ** rng.uniform(-3, 3, size=300)
    beta = 10 ** rng.uniform(-3, 3, size=300)
    freqs = codecs.BetaBinomial(255, alpha, beta, 24).freqs.astype(np.float64) / 2**24
    exact = stats.betabinom.pmf(np.arange(256), 255, alpha[:, None], beta[:, None])
    kl = np.sum(exact * np.log2(np.maximum(exact, 1e-300) / freqs), axis=1)
    assert kl.max() < 1e-3
    assert np.abs(freqs - exact).max() < 1e-4


def test_beta_binomial_rejects_bad_parameters():
    with pytest.raises(ValueError, match="same shape"):
        codecs.BetaBinomial(255, np.ones(3), np.ones(2), 16)
    with pytest.raises(ValueError, match="n \\+ 1"):
        codecs.BetaBinomial(255, np.ones(3), np.ones(3), 7)
    with pytest.raises(ValueError, match="NaN"):
        codecs.BetaBinomial(255, np.array([np.nan]), np.ones(1), 16)


@st.composite
def logistic_params(draw):
    num_lanes = draw(lane_counts)
    num_steps = draw(st.integers(1, 10))
    components = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (num_lanes, num_steps, components)
    means = rng.uniform(-50, 300, size=shape)
    log_scales = rng.uniform(-9, 8, size=shape)
    logits = rng.normal(0, 3, size=shape)
    return means, log_scales, logits, draw(st.integers(8, 24)), rng


@given(logistic_params())
def test_logistic_mixture_round_trip(params):
    means, log_scales, logits, precision_bits, rng = params
    codec = codecs.DiscretizedLogisticMixture(means, log_scales, logits, precision_bits)
    assert_round_trip_restores(codec, rng.integers(0, 256, size=means.shape[:2]))


def test_logistic_mixture_table_matches_direct_cdf():
    rng = np.random.default_rng(2)
    means = rng.uniform(0, 255, size=(50, 3))
    log_scales = rng.uniform(-1, 3, size=(50, 3))
    logits = rng.normal(size=(50, 3))
    freqs = codecs.DiscretizedLogisticMixture(means, log_scales, logits, 24).freqs.astype(np.float64) / 2**24
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    edges = np.arange(1, 256) - 0.5
    cdf = np.sum(weights[:, None, :] * stats.logistic.cdf(edges[None, :, None], means[:, None, :], np.exp(log_scales)[:, None, :]), axis=-1)
    exact = np.diff(np.concatenate([np.zeros((50, 1)), cdf, np.ones((50, 1))], axis=1), axis=1)
    assert np.abs(freqs - exact).max() < 1e-4
    assert np.all(freqs > 0)


@st.composite
def gaussian_params(draw):
    num_lanes = draw(lane_counts)
    num_steps = draw(st.integers(1, 10))
    method = draw(st.sampled_from(["exact", "histogram"]))
    bucket_bits = draw(st.integers(1, 12))
    low = bucket_bits if method == "exact" else 1
    precision_bits = draw(st.integers(low, 24 if method == "exact" else 18))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mean = rng.normal(0, 3, size=(num_lanes, num_steps))
    std = np.exp(rng.uniform(-10, 2, size=(num_lanes, num_steps)))
    return mean, std, bucket_bits, precision_bits, method


@given(gaussian_params())
def test_gaussian_pop_then_push_and_push_then_pop(params):
    mean, std, bucket_bits, precision_bits, method = params
    codec = codecs.DiagGaussianStdBins(mean, std, bucket_bits, precision_bits, method)
    message = bb.Message(mean.shape[0])
    before = message.to_bytes()
    buckets = codec.pop(message)  # bits back from an empty message
    assert buckets.shape == mean.shape and buckets.min() >= 0 and buckets.max() < 1 << bucket_bits
    codec.push(message, buckets)
    assert message.to_bytes() == before
    codec.push(message, buckets)
    assert np.array_equal(codec.pop(message), buckets)
    assert message.to_bytes() == before


@given(gaussian_params())
def test_gaussian_frequencies_sum_exactly_and_cover_possible_buckets(params):
    mean, std, bucket_bits, precision_bits, method = params
    freqs = codecs.DiagGaussianStdBins(mean, std, bucket_bits, precision_bits, method).freqs.astype(np.int64)
    assert np.all(freqs.sum(-1) == 1 << precision_bits)
    if method == "exact":
        assert np.all(freqs >= 1)
    else:
        # every bucket a point can land in has frequency >= 1 by construction; check
        # that the popped buckets are exactly those with positive frequency
        assert np.all(freqs >= 0)


@pytest.mark.parametrize("method", ["exact", "histogram"])
@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (0.7, 0.5), (-1.3, 0.2), (2.0, 2.5)])
def test_gaussian_frequencies_match_bucket_masses(method, mean, std):
    """Frequencies follow N(mean, std) -- a variance-for-std mix-up fails this."""
    bucket_bits, precision_bits = 6, 18
    freqs = codecs.DiagGaussianStdBins([mean], [std], bucket_bits, precision_bits, method).freqs[0]
    edges = np.concatenate([[-np.inf], quantize.std_normal_bucket_edges(bucket_bits), [np.inf]])
    masses = np.diff(stats.norm.cdf(edges, loc=mean, scale=std))
    error = np.abs(freqs / 2**precision_bits - masses).max()
    assert error < 2e-4
    if std != 1.0:
        wrong = np.diff(stats.norm.cdf(edges, loc=mean, scale=std**2))
        assert np.abs(freqs / 2**precision_bits - wrong).max() > 50 * error


def test_histogram_quantizer_counts_equiprobable_points():
    """The histogram quantizer is literally a histogram of N(mean, std)'s quantile points."""
    mean, std, bucket_bits, precision_bits = 0.4, 0.3, 5, 12
    points = mean + std * stats.norm.ppf((np.arange(2**precision_bits) + 0.5) / 2**precision_bits)
    buckets = np.searchsorted(quantize.std_normal_bucket_edges(bucket_bits), points, side="right")
    expected = np.bincount(buckets, minlength=2**bucket_bits)
    got = codecs.DiagGaussianStdBins([mean], [std], bucket_bits, precision_bits, "histogram").freqs[0]
    assert np.array_equal(got, expected)


def test_bucket_edges_and_centres_have_equal_mass():
    edges = quantize.std_normal_bucket_edges(4)
    centres = quantize.std_normal_bucket_centres(4)
    assert np.allclose(stats.norm.cdf(edges), np.arange(1, 16) / 16)
    assert np.allclose(stats.norm.cdf(centres), (np.arange(16) + 0.5) / 16)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mean=[0.0], std=[0.0], bucket_bits=4, precision_bits=8), "std"),
        (dict(mean=[0.0], std=[-1.0], bucket_bits=4, precision_bits=8), "std"),
        (dict(mean=[np.nan], std=[1.0], bucket_bits=4, precision_bits=8), "mean"),
        (dict(mean=[0.0, 1.0], std=[1.0], bucket_bits=4, precision_bits=8), "same shape"),
        (dict(mean=[0.0], std=[1.0], bucket_bits=9, precision_bits=8), "precision_bits >= bucket_bits"),
        (dict(mean=[0.0], std=[1.0], bucket_bits=0, precision_bits=8), "bucket_bits"),
        (dict(mean=[0.0], std=[1.0], bucket_bits=4, precision_bits=8, method="median"), "method"),
        (dict(mean=[0.0], std=[1.0], bucket_bits=4, precision_bits=25, method="histogram"), "<= 24"),
    ],
)
def test_gaussian_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        codecs.DiagGaussianStdBins(**kwargs)


def test_symbol_shape_and_range_errors():
    codec = codecs.Categorical(np.ones((3, 4)) / 4, 8)  # per lane: 3 lanes
    with pytest.raises(ValueError, match="3 lanes"):
        codec.push(bb.Message(2), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="in \\[0, 4\\)"):
        codec.push(bb.Message(3), np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="integers"):
        codec.push(bb.Message(3), np.array([0.0, 1.0, 1.0]))
    per_step = codecs.Categorical(np.ones((3, 5, 4)) / 4, 8)
    with pytest.raises(ValueError, match="2-D"):
        per_step.push(bb.Message(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="5 steps"):
        per_step.pop(bb.Message(3), num_steps=4)


def test_codecs_stack_in_one_message():
    """Different codecs interleave on one message and unwind in reverse (LIFO)."""
    rng = np.random.default_rng(5)
    lanes, steps = 4, 6
    parts = [
        (codecs.Uniform(5), rng.integers(0, 32, (lanes, steps))),
        (codecs.Categorical(rng.dirichlet(np.ones(7)), 10), rng.integers(0, 7, (lanes, steps))),
        (codecs.BetaBinomial(255, rng.gamma(1, 1, (lanes, steps)), rng.gamma(1, 1, (lanes, steps)), 16),
         rng.integers(0, 256, (lanes, steps))),
        (codecs.DiagGaussianStdBins(rng.normal(size=(lanes, steps)), np.full((lanes, steps), 0.3), 8, 14, "exact"),
         rng.integers(0, 256, (lanes, steps))),
    ]
    message = bb.Message(lanes)
    for codec, symbols in parts:
        codec.push(message, symbols)
    for codec, symbols in reversed(parts):
        assert np.array_equal(codec.pop(message, num_steps=steps), symbols)
    assert message == bb.Message(lanes)


@pytest.mark.parametrize("num_symbols", [0, -3, 2.5, True])
def test_logistic_mixture_rejects_bad_symbol_counts(num_symbols):
    with pytest.raises(ValueError, match="num_symbols"):
        codecs.DiscretizedLogisticMixture([[1.0]], [[0.0]], [[0.0]], 16, num_symbols=num_symbols)


@given(distributions(), st.integers(min_value=1, max_value=4))
def test_cumulative_categorical_round_trip(dist, num_steps):
    probs, num_lanes, precision_bits, rng = dist
    precision_bits = max(precision_bits, math.ceil(math.log2(probs.shape[-1])))
    codec = codecs.CumulativeCategorical(probs, precision_bits)
    freqs = codec.freqs.astype(np.int64)
    assert np.all(freqs >= 1) and np.all(freqs.sum(-1) == 1 << precision_bits)
    assert_round_trip_restores(codec, rng.integers(0, probs.shape[-1], (num_lanes, num_steps)))


@pytest.mark.parametrize(
    "probs, precision_bits, match",
    [([0.5, np.nan], 8, "finite"), ([0.5, -0.1], 8, "non-negative"), ([0.0, 0.0], 8, "positive total"),
     (np.ones(5), 2, "symbols"), (np.ones((2, 3, 4)), 8, "shape")],
)  # fmt: skip
def test_cumulative_categorical_bad_arguments(probs, precision_bits, match):
    with pytest.raises(ValueError, match=match):
        codecs.CumulativeCategorical(probs, precision_bits)


@pytest.mark.parametrize("num_steps", [-1, 1.5, True, "2"])
def test_pop_refuses_a_step_count_that_is_not_a_count(num_steps):
    message = bb.Message(2)
    with pytest.raises(ValueError, match="num_steps"):
        codecs.Uniform(8).pop(message, num_steps=num_steps)
    assert message == bb.Message(2)
