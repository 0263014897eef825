"""The fast paths code exactly what the plain ones do (bbans_numba.rans, codecs, quantize).

* the division-free push (rans64 reciprocals) equals ``x // freq`` arithmetic;
* shared and per-lane table codecs (fused kernels) write the same bytes as pushing their
  intervals with :meth:`Message.push_batch`, and pop back;
* the blocked, vectorized beta-binomial tables equal the scalar recurrence.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import bbans_numba as bb
from bbans_numba import codecs, quantize, rans
from bbans_numba.families import beta_binomial, cumulative, logistic


@given(st.integers(1, 31), st.data())
def test_reciprocal_push_equals_division(precision_bits, data):
    total = 1 << precision_bits
    freqs = data.draw(st.lists(st.integers(1, total), min_size=1, max_size=4))
    freqs = [min(f, total) for f in freqs]
    for freq in freqs + [1, total, max(1, total // 2 + 1), max(1, total - 1)]:
        start = data.draw(st.integers(0, total - freq))
        cdf = np.array([0, start, start + freq, total] if start else [0, freq, total], dtype=np.uint32)
        cdf = np.unique(cdf)  # strictly increasing starts: the row of (start, freq) is index 1 or 0
        symbol = int(np.searchsorted(cdf, start))
        encoder = np.empty((cdf.size - 1, 5), dtype=np.uint64)
        rans.encoder_table(cdf, precision_bits, encoder)
        x_max = freq << (63 - precision_bits)
        assert int(encoder[symbol, 0]) == x_max
        candidates = [2**31, x_max - 1, x_max // 2, (x_max - 1) // freq * freq, (x_max - 1) // freq * freq - 1]
        candidates += data.draw(st.lists(st.integers(2**31, x_max - 1), min_size=3, max_size=3))
        for x in candidates:
            if not 2**31 <= x < x_max:
                continue
            expected = (x // freq << precision_bits) + x % freq + start
            assert int(rans.encode_symbol(np.uint64(x), encoder, symbol)) == expected


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_mulhi64(a, b):
    assert int(rans.mulhi64(np.uint64(a), np.uint64(b))) == (a * b) >> 64


@st.composite
def table_cases(draw):
    num_symbols = draw(st.sampled_from([2, 5, 256, 300, 4096]))
    precision_bits = draw(st.integers(max(1, math.ceil(math.log2(num_symbols))), 24))
    num_lanes = draw(st.sampled_from([1, 3, 64]))
    num_steps = draw(st.integers(1, 12))
    batch = draw(st.sampled_from([(), (num_lanes,), (num_lanes, num_steps)]))  # shared, per lane, per symbol
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    probs = rng.dirichlet(np.full(num_symbols, draw(st.sampled_from([0.05, 1.0]))), size=batch or None)
    if draw(st.booleans()):  # impossible symbols: empty intervals a pop must step over
        probs = probs * (rng.random(probs.shape) < 0.5)
        probs[..., rng.integers(num_symbols)] += 1.0
    return probs, precision_bits, num_lanes, num_steps, rng


@given(table_cases())
def test_table_paths_match_explicit_intervals(case):
    probs, precision_bits, num_lanes, num_steps, rng = case
    codec = codecs.Categorical(probs, precision_bits)
    cdf = codec.cdf.astype(np.int64)
    cdf = cdf.reshape(cdf.shape[:-1] + (1,) * (3 - cdf.ndim) + cdf.shape[-1:])  # (A, B, K + 1)
    rows = np.broadcast_to(cdf, (num_lanes, num_steps, codec.num_symbols + 1))
    freqs = np.diff(rows, axis=-1)
    symbols = np.array([[rng.choice(codec.num_symbols, p=f / f.sum()) for f in lane] for lane in freqs])
    starts = np.take_along_axis(rows, symbols[..., None], axis=-1)[..., 0]
    ends = np.take_along_axis(rows, symbols[..., None] + 1, axis=-1)[..., 0]
    fast, plain = bb.Message(num_lanes), bb.Message(num_lanes)
    codec.push(fast, symbols)
    plain.push_batch(starts, ends - starts, precision_bits)
    assert fast.to_bytes() == plain.to_bytes()
    assert np.array_equal(codec.pop(fast, num_steps=num_steps), symbols)
    assert fast.to_bytes() == bb.Message(num_lanes).to_bytes()


def test_zero_frequency_symbol_raises_before_any_change():
    for probs in ([0.5, 0.0, 0.5], [[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]]):
        codec = codecs.Categorical(probs, 8)
        message = bb.Message(2)
        codecs.Categorical([0.25] * 4, 8).push(message, np.array([[1, 2, 3], [0, 1, 2]]))
        before = message.to_bytes()
        try:
            codec.push(message, np.array([[1, 2], [0, 1]]))
        except ValueError as error:
            assert "probability 0" in str(error)
        else:
            raise AssertionError("a zero-frequency symbol was pushed")
        assert message.to_bytes() == before


def _beta_binomial_reference(alpha, beta, trials, precision_bits):
    """The scalar recurrence, one row at a time, in plain Python floats."""
    low, high = beta_binomial.BETA_BINOMIAL_PARAM_RANGE
    alpha = low if not alpha >= low else min(alpha, high)
    beta = low if not beta >= low else min(beta, high)
    pmf = [1.0]
    for k in range(trials):
        value = pmf[k] * ((trials - k) * (k + alpha)) / ((k + 1) * (trials - k - 1 + beta))
        if value > 1e150:
            pmf = [p / 1e150 for p in pmf]
            value /= 1e150
        pmf.append(value)
    total = 0.0
    for p in pmf:
        total += p
    spare = (1 << precision_bits) - (trials + 1)
    cdf, cumulative = [0], 0.0
    for k in range(1, trials + 1):
        cumulative += pmf[k - 1]
        value = min(max(cumulative / total, 0.0), 1.0)
        cdf.append(k + min(math.floor(value * spare), spare))
    return cdf + [1 << precision_bits]


@given(st.sampled_from([1, 7, 255]), st.integers(9, 24), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_blocked_beta_binomial_equals_scalar_recurrence(trials, precision_bits, rows, seed):
    rng = np.random.default_rng(seed)
    alpha = np.exp(rng.uniform(-16, 16, rows))
    beta = np.exp(rng.uniform(-16, 16, rows))
    alpha[::3] = 1e-6
    beta[1::4] = 1e7
    cdf = beta_binomial.beta_binomial_cdf(alpha, beta, trials, precision_bits)
    for row in range(0, rows, max(1, rows // 5)):
        assert cdf[row].tolist() == _beta_binomial_reference(alpha[row], beta[row], trials, precision_bits)


@given(st.sampled_from([1, 3, 64, 65, 130]), st.integers(1, 9), st.integers(9, 24), st.integers(0, 2**32 - 1))
def test_per_symbol_beta_binomial_matches_its_tables(num_lanes, num_steps, precision_bits, seed):
    """Per-symbol parameters code without tables: same bytes as the tables' intervals."""
    rng = np.random.default_rng(seed)
    shape = (num_lanes, num_steps)
    alpha, beta = np.exp(rng.uniform(-14, 14, shape)), np.exp(rng.uniform(-14, 14, shape))
    symbols = rng.integers(0, 256, shape)
    codec = codecs.BetaBinomial(255, alpha, beta, precision_bits)
    rows = codec.cdf.astype(np.int64)  # built on demand
    starts = np.take_along_axis(rows, symbols[..., None], axis=-1)[..., 0]
    ends = np.take_along_axis(rows, symbols[..., None] + 1, axis=-1)[..., 0]
    fast, plain = bb.Message(num_lanes), bb.Message(num_lanes)
    codecs.BetaBinomial(255, alpha, beta, precision_bits).push(fast, symbols)
    plain.push_batch(starts, ends - starts, precision_bits)
    assert fast.to_bytes() == plain.to_bytes()
    assert np.array_equal(codecs.BetaBinomial(255, alpha, beta, precision_bits).pop(fast), symbols)
    assert fast.to_bytes() == bb.Message(num_lanes).to_bytes()


def _exp(x):
    """``math.exp`` with IEEE overflow to inf, as in jitted code."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@given(st.integers(1, 4), st.integers(8, 24), st.integers(0, 2**32 - 1))
def test_logistic_tables_equal_the_scalar_formula(components, precision_bits, seed):
    """Scales are inverted once per mixture; every start stays the formula's, bit for bit."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-50, 300, (3, components))
    log_scales = rng.uniform(-9, 9, (3, components))
    logits = rng.normal(0, 3, (3, components))
    freqs = codecs.DiscretizedLogisticMixture(means, log_scales, logits, precision_bits).freqs
    _, clamped, weights, _ = logistic.check_logistic_params(means, log_scales, logits)
    spare = (1 << precision_bits) - 256
    for row in range(3):
        starts = [0]
        for k in range(1, 256):
            value = 0.0
            for c in range(components):
                value += weights[row, c] / (1.0 + _exp(-(k - 0.5 - means[row, c]) * _exp(-clamped[row, c])))
            value = 0.0 if not value > 0.0 else min(value, 1.0)
            starts.append(k + min(math.floor(value * spare), spare))
        starts.append(1 << precision_bits)
        assert np.diff(starts).tolist() == freqs[row].tolist()


@given(st.integers(1, 10), st.integers(1, 18), st.floats(-40, 40), st.floats(-25, 4), st.integers(0, 2**32 - 1))
def test_histogram_starts_equal_counting_every_point(bucket_bits, precision_bits, mean, log_std, seed):
    """The guessed-and-galloped search counts exactly the points below each edge."""
    std = math.exp(log_std)
    freqs = codecs.DiagGaussianStdBins([mean], [std], bucket_bits, precision_bits, method="histogram").freqs[0]
    values = mean + std * quantize.histogram_points(precision_bits)
    below = [np.count_nonzero(values < edge) for edge in quantize.std_normal_bucket_edges(bucket_bits)]
    assert np.diff([0] + below + [values.size]).tolist() == freqs.tolist()


def _largest_remainder_reference(weights, precision_bits):
    """The largest-remainder rule as first written: a stable sort of the remainders."""
    total = 1 << precision_bits
    mass = 0.0
    for value in weights:
        mass += float(value)
    possible = weights > 0
    share = total - int(possible.sum())
    exact = np.where(possible, weights.astype(np.float64) / mass * share, 0.0)
    whole = np.minimum(np.floor(exact), share).astype(np.int64)
    freqs = np.where(possible, 1 + whole, 0)
    remainders = np.where(possible, exact - whole, -1.0)
    order = np.argsort(-remainders, kind="mergesort")
    for i in range(total - int(freqs.sum())):
        freqs[order[i % int(possible.sum())]] += 1
    return freqs


def _draw_weights(draw, num_symbols, rng):
    style = draw(st.sampled_from([
        "dirichlet", "equal", "few-values", "spread", "sparse", "dyadic", "crowded", "one-huge",
        "denormal", "off-sum", "softmax", "two-levels",
    ]))  # fmt: skip
    if style == "dirichlet":
        weights = rng.dirichlet(np.full(num_symbols, 0.3))
    elif style == "equal":
        weights = np.ones(num_symbols)
    elif style == "few-values":
        weights = rng.integers(0, 4, num_symbols).astype(np.float64)
    elif style == "spread":
        weights = np.exp(rng.normal(0, 4, num_symbols))
    elif style == "sparse":
        weights = rng.random(num_symbols) * (rng.random(num_symbols) < 0.2)
    elif style == "dyadic":
        weights = np.round(rng.random(num_symbols) * 8) / 8
    elif style == "crowded":  # many remainders within a hair of each other
        weights = 1.0 + rng.integers(0, 3, num_symbols) * 1e-13
    elif style == "one-huge":  # one weight dwarfs the rest (their shares are all below 1)
        weights = rng.random(num_symbols) * 1e-12
        weights[rng.integers(num_symbols)] = 1e30
    elif style == "denormal":  # subnormal weights (float64), alone or beside normal ones
        weights = rng.integers(0, 4, num_symbols) * 5e-324
        weights[rng.random(num_symbols) < 0.1] += 1e-310
    elif style == "off-sum":  # a normalized row off 1 by float noise
        weights = rng.random(num_symbols)
        weights = weights / weights.sum() * (1.0 + rng.choice([-1e-7, -1e-15, 1e-15, 1e-7]))
    elif style == "softmax":  # a confident head in float32: most weights far below the peak
        logits = rng.normal(0, 12, num_symbols)
        weights = np.exp(logits - logits.max())
    else:  # two values: every remainder ties with half the row
        weights = np.where(rng.random(num_symbols) < 0.5, 1.0, 3.0)
    weights[0] += 0.0 if weights.sum() > 0 else 1.0
    return weights.astype(draw(st.sampled_from([np.float64, np.float32])))


def _needed_bits(rows):
    return max(1, math.ceil(math.log2(max(int(np.count_nonzero(rows, axis=-1).max()), 1))))


@st.composite
def weight_rows(draw):
    """Rows with ties, zeros, near-integer shares, crowded remainders, one huge weight,
    subnormals and sums a hair off 1."""
    num_symbols = draw(st.sampled_from([1, 2, 3, 17, 256, 300]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = _draw_weights(draw, num_symbols, rng)
    if (weights > 0).sum() == 0:  # float32 underflow of subnormal float64 weights
        weights[0] = 1
    return weights, draw(st.integers(_needed_bits(weights), 31))


@settings(max_examples=300)
@given(weight_rows())
def test_fast_largest_remainder_equals_the_sort(row):
    """The rank search gives exactly the frequencies of a stable sort (ties to the lower
    symbol), for float32 weights too (read as the same float64 values)."""
    weights, precision_bits = row
    expected = _largest_remainder_reference(weights.astype(np.float64), precision_bits)
    assert quantize.quantize_probs(weights, precision_bits).tolist() == expected.tolist()
    assert quantize.quantize_probs(np.stack([weights] * 5), precision_bits).tolist() == [expected.tolist()] * 5


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 21), st.sampled_from([3, 256]), st.integers(9, 24), st.integers(0, 2**32 - 1), st.data())
def test_fast_largest_remainder_of_a_batch_is_the_sort_per_row(num_rows, num_symbols, precision_bits, seed, data):
    """Rows quantized together (masses summed several rows side by side) come out as each
    row alone through the stable sort."""
    rng = np.random.default_rng(seed)
    rows = np.stack([_draw_weights(data.draw, num_symbols, rng).astype(np.float64) for _ in range(num_rows)])
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    rows = rows.astype(dtype)
    rows[(rows > 0).sum(axis=-1) == 0, 0] = 1
    precision_bits = max(precision_bits, _needed_bits(rows))
    expected = [_largest_remainder_reference(row.astype(np.float64), precision_bits).tolist() for row in rows]
    assert quantize.quantize_probs(rows, precision_bits).tolist() == expected


def test_quantize_reports_the_first_bad_row_and_its_first_problem():
    """Rows are checked in order (across the groups summed side by side); in a row the
    first bad weight in symbol order names the problem."""
    rows = np.ones((19, 4))
    rows[11] = [1.0, -1.0, np.nan, 1.0]  # negative first
    rows[13] = [np.nan, -1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"finite and non-negative \(row 11\)"):
        quantize.quantize_probs(rows, 8)
    rows[11] = 0.0
    with pytest.raises(ValueError, match=r"positive total mass \(row 11 has none\)"):
        quantize.quantize_probs(rows, 8)
    rows[11] = 1e308  # the sum overflows: every weight is fine, the row is shared out evenly
    rows[13] = 1.0
    assert quantize.quantize_probs(rows, 8)[11].tolist() == [64, 64, 64, 64]


@given(st.integers(1, 300), st.integers(9, 24), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_cumulative_categorical_follows_the_rule_and_its_row_functions(num_symbols, precision_bits, dtype, seed):
    """CumulativeCategorical adds running sums up on the fly: the same intervals as the
    rule over stored running sums (cumulative_interval / cumulative_quantile), which a
    decode kernel calls itself."""
    precision_bits = max(precision_bits, math.ceil(math.log2(num_symbols)))
    rng = np.random.default_rng(seed)
    weights = (rng.dirichlet(np.full(num_symbols, 0.5), size=3) * (rng.random((3, num_symbols)) < 0.7)).astype(dtype)
    weights[:, 0] += dtype(0.01)
    codec = codecs.CumulativeCategorical(weights, precision_bits)
    spare = (1 << precision_bits) - num_symbols
    for lane in range(3):
        running = np.array([sum(float(w) for w in weights[lane, :k]) for k in range(num_symbols + 1)])
        starts = [0] + [k + min(math.floor(running[k] / running[-1] * spare), spare) for k in range(1, num_symbols)]
        assert np.diff(starts + [1 << precision_bits]).tolist() == codec.freqs[lane].tolist()
    symbols = rng.integers(0, num_symbols, (3, 4))
    starts, freqs = codec.intervals(bb.Message(3), symbols)
    message = bb.Message(3)
    codec.push(message, symbols)
    stored = bb.Message(3)
    stored.push_batch(starts, freqs, precision_bits)
    assert message == stored
    assert np.array_equal(codec.pop(message, num_steps=4), symbols) and message == bb.Message(3)
    rows = np.stack([[sum(float(w) for w in weights[lane, :k]) for k in range(num_symbols + 1)] for lane in range(3)])
    slots = rng.integers(0, 1 << precision_bits, 20)
    for lane, slot in zip(rng.integers(0, 3, 20), slots):
        symbol, first, freq = _row_quantile(rows[lane], slot, precision_bits)
        assert first <= slot < first + freq
        assert [first, freq] == [int(v[lane, 0]) for v in codec.intervals(bb.Message(3), np.full((3, 1), symbol))]


@njit
def _row_quantile(row, slot, precision_bits):
    return cumulative.cumulative_quantile(row, slot, precision_bits)
