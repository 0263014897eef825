"""Properties of the rANS stack (bbans_numba.rans.Message)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bbans_numba as bb
from bbans_numba.rans import HEAD_LOWER_BOUND, HEAD_UPPER_BOUND, underflow_word

precisions = st.integers(min_value=1, max_value=24)
lane_counts = st.sampled_from([1, 2, 3, 7, 64, 1024])


@st.composite
def interval_batches(draw, max_steps=40):
    """Random (starts, freqs, precision_bits) of shape (num_lanes, num_steps)."""
    precision_bits = draw(precisions)
    num_lanes = draw(lane_counts)
    num_steps = draw(st.integers(min_value=1, max_value=max_steps if num_lanes < 64 else 4))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    total = 1 << precision_bits
    style = draw(st.sampled_from(["any", "tiny", "huge"]))
    if style == "tiny":  # frequency-1 bins: the most expensive symbols
        freqs = np.ones((num_lanes, num_steps), dtype=np.int64)
    elif style == "huge":  # near-certain symbols (all the mass but one slot)
        freqs = np.full((num_lanes, num_steps), max(total - 1, 1), dtype=np.int64)
    else:
        freqs = rng.integers(1, total + 1, size=(num_lanes, num_steps))
    starts = (rng.random((num_lanes, num_steps)) * (total - freqs + 1)).astype(np.int64)
    return starts, freqs, precision_bits


def ideal_bits(freqs, precision_bits):
    return float(np.sum(precision_bits - np.log2(freqs)))


@given(interval_batches())
def test_push_then_pop_restores_message_exactly(batch):
    starts, freqs, precision_bits = batch
    message = bb.Message(num_lanes=starts.shape[0])
    before = message.to_bytes()
    message.push_batch(starts, freqs, precision_bits)
    message.pop_batch(starts, freqs, precision_bits)
    assert message.to_bytes() == before


@given(interval_batches())
def test_single_steps_mirror_batches(batch):
    starts, freqs, precision_bits = batch
    batched = bb.Message(num_lanes=starts.shape[0])
    batched.push_batch(starts, freqs, precision_bits)
    stepped = bb.Message(num_lanes=starts.shape[0])
    for step in range(starts.shape[1]):
        stepped.push(starts[:, step], freqs[:, step], precision_bits)
    assert stepped == batched
    for step in reversed(range(starts.shape[1])):
        slots = stepped.peek(precision_bits)
        assert np.all((starts[:, step] <= slots) & (slots < starts[:, step] + freqs[:, step]))
        stepped.pop(starts[:, step], freqs[:, step], precision_bits)
    assert stepped == bb.Message(num_lanes=starts.shape[0])


@given(interval_batches())
def test_pop_then_push_restores_message(batch):
    starts, freqs, precision_bits = batch
    message = bb.Message(num_lanes=starts.shape[0])
    message.push_batch(starts, freqs, precision_bits)  # some content, then pop "unknown" data
    before = message.to_bytes()
    num_lanes, num_steps = starts.shape
    popped = []
    for _ in range(num_steps):  # pop uniform symbols with whatever the slots are
        slots = message.peek(precision_bits)
        message.pop(slots, np.ones(num_lanes, dtype=np.int64), precision_bits)
        popped.append(slots)
    for slots in reversed(popped):
        message.push(slots, np.ones(num_lanes, dtype=np.int64), precision_bits)
    assert message.to_bytes() == before


@given(interval_batches())
def test_size_is_within_stated_bound_of_ideal(batch):
    starts, freqs, precision_bits = batch
    num_lanes, num_steps = starts.shape
    message = bb.Message(num_lanes=num_lanes)
    message.push_batch(starts, freqs, precision_bits)
    # Bound: 64 bits per head, 32 bits of head slack per lane, and at most
    # log2(1 + 2**(precision_bits - 31)) bits of integer-division loss per symbol.
    slack = 96 * num_lanes + starts.size * math.log2(1 + 2.0 ** (precision_bits - 31))
    assert message.num_bits() <= ideal_bits(freqs, precision_bits) + slack + 1e-6
    assert message.num_bits() >= ideal_bits(freqs, precision_bits) - 32 * num_lanes


def test_rate_is_close_to_ideal_on_long_sequences():
    rng = np.random.default_rng(0)
    precision_bits, num_lanes, num_steps = 16, 4, 20_000
    freqs = rng.integers(1, 1 << 12, size=(num_lanes, num_steps))
    starts = rng.integers(0, (1 << 16) - (1 << 12), size=(num_lanes, num_steps))
    message = bb.Message(num_lanes)
    message.push_batch(starts, freqs, precision_bits)
    ideal = ideal_bits(freqs, precision_bits)
    assert message.num_bits() - 64 * num_lanes <= ideal * 1.0001 + 32 * num_lanes


@given(interval_batches())
def test_bytes_round_trip(batch):
    starts, freqs, precision_bits = batch
    message = bb.Message(num_lanes=starts.shape[0])
    message.push_batch(starts, freqs, precision_bits)
    data = message.to_bytes()
    restored = bb.Message.from_bytes(data)
    assert restored.to_bytes() == data
    assert restored.num_bits() == message.num_bits()
    restored.pop_batch(starts, freqs, precision_bits)
    assert restored == bb.Message(num_lanes=starts.shape[0])


def test_to_bytes_layout_is_little_endian():
    message = bb.Message(num_lanes=1)
    message.push(np.array([5]), np.array([1]), 31)  # forces a word out
    data = message.to_bytes()
    assert int.from_bytes(data[0:4], "little") == 1
    assert int.from_bytes(data[8:16], "little") == message.underflow_words
    assert int.from_bytes(data[16:24], "little") == message.num_words == 1
    assert int.from_bytes(data[24:32], "little") == int(message.heads[0])
    assert len(data) == 24 + 8 + 4


def test_heads_stay_in_range():
    rng = np.random.default_rng(3)
    message = bb.Message(num_lanes=16)
    for precision_bits in (1, 8, 24, 31):
        freqs = rng.integers(1, (1 << precision_bits) + 1, size=(16, 50))
        starts = ((1 << precision_bits) - freqs) // 2
        message.push_batch(starts, freqs, precision_bits)
        heads = message.heads
        assert np.all(heads >= np.uint64(HEAD_LOWER_BOUND)) and np.all(heads < np.uint64(HEAD_UPPER_BOUND))


def test_popping_an_empty_message_draws_counted_generator_words():
    message = bb.Message(num_lanes=2)
    before = message.to_bytes()
    for _ in range(10):
        slots = message.peek(20)
        message.pop(slots, np.ones(2, dtype=np.int64), 20)
    assert message.num_words == 0
    assert message.underflow_words > 0
    drawn = message.underflow_words
    assert underflow_word(0) == underflow_word(0) and underflow_word(0) != underflow_word(1)
    restored = bb.Message.from_bytes(message.to_bytes())
    assert restored.underflow_words == drawn
    assert restored != bb.Message(num_lanes=2)
    assert message.to_bytes() != before


def test_first_lanes_view_shares_state():
    message = bb.Message(num_lanes=4)
    view = message.first_lanes(2)
    view.push(np.array([1, 2]), np.array([3, 3]), 8)
    assert np.array_equal(message.heads[:2], view.heads)
    assert np.array_equal(message.heads[2:], bb.Message(num_lanes=4).heads[2:])
    view.pop(np.array([1, 2]), np.array([3, 3]), 8)
    assert message == bb.Message(num_lanes=4)
    with pytest.raises(ValueError):
        message.first_lanes(5)


@pytest.mark.parametrize(
    "starts, freqs, precision_bits, match",
    [
        ([0, 0], [0, 1], 8, "freq must be >= 1"),
        ([250, 0], [10, 1], 8, "start \\+ freq"),
        ([-1, 0], [1, 1], 8, "start must be >= 0"),
        ([0, 0, 0], [1, 1, 1], 8, "shape"),
        ([0, 0], [1, 1], 0, "precision_bits"),
        ([0, 0], [1, 1], 32, "precision_bits"),
        ([0, 0], [1, 1], 8.0, "precision_bits"),
        ([0.5, 0], [1, 1], 8, "integers"),
    ],
)
def test_bad_arguments_raise_before_anything_changes(starts, freqs, precision_bits, match):
    message = bb.Message(num_lanes=2)
    before = message.to_bytes()
    with pytest.raises(ValueError, match=match):
        message.push(np.array(starts), np.array(freqs), precision_bits)
    with pytest.raises(ValueError, match=match):
        message.pop(np.array(starts), np.array(freqs), precision_bits)
    assert message.to_bytes() == before


def test_pop_with_wrong_interval_raises():
    message = bb.Message(num_lanes=1)
    message.push(np.array([10]), np.array([5]), 8)
    with pytest.raises(ValueError, match="peek"):
        message.pop(np.array([0]), np.array([5]), 8)
    with pytest.raises(ValueError, match="not the symbols that were pushed"):
        message.pop_batch(np.array([[0]]), np.array([[5]]), 8)


@pytest.mark.parametrize("num_lanes", [0, -1, 1.5, True])
def test_bad_lane_counts(num_lanes):
    with pytest.raises(ValueError, match="num_lanes"):
        bb.Message(num_lanes=num_lanes)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_from_bytes_rejects_garbage_cleanly(data):
    try:
        message = bb.Message.from_bytes(data)
    except ValueError:
        return
    # Whatever parses is a well-formed message: it serializes back to the same bytes.
    assert message.to_bytes() == data


def test_from_bytes_rejects_truncation_and_bad_heads():
    message = bb.Message(num_lanes=3)
    message.push(np.array([1, 2, 3]), np.array([1, 1, 1]), 31)
    data = message.to_bytes()
    for cut in (0, 10, 24, len(data) - 1):
        with pytest.raises(ValueError):
            bb.Message.from_bytes(data[:cut])
    bad = bytearray(data)
    bad[24:32] = (5).to_bytes(8, "little")  # a head below 2**31
    with pytest.raises(ValueError, match="head"):
        bb.Message.from_bytes(bytes(bad))


def test_kernel_arrays_reserve_room_and_share_state():
    """The accessor kernels use: the message's own heads and counters, room reserved."""
    message = bb.Message(num_lanes=3)
    message.push(np.array([1, 2, 3]), np.array([4, 4, 4]), precision_bits=4)
    heads, words, counters = message.kernel_arrays(reserve_words=1000)
    assert words.size >= counters[0] + 1000 and counters.tolist() == [message.num_words, message.underflow_words]
    assert np.array_equal(heads, message.heads)
    heads[0] = heads[1]
    assert message.heads[0] == message.heads[1]
