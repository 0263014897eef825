"""Issue 12 item 1: the public Message API validates before any kernel runs.

Before the fix, ``Message.push_checked`` took the lane count from its arrays (a 2M-row
array on a 1-lane message wrote past the heads: segfault) and ``Message.push`` let starts of
2**63 - 1 (int64) or >= 2**63 (uint64) pass the range check by overflow.
"""

import numpy as np
import pytest

import bbans_numba as bb


def test_no_unchecked_push_is_public():
    assert not hasattr(bb.Message(1), "push_checked")


def test_more_rows_than_lanes_are_refused_before_any_kernel():
    message = bb.Message(1)
    before = message.to_bytes()
    with pytest.raises(ValueError, match="shape"):
        message.push_batch(np.zeros((2_000_000, 1), np.uint32), np.ones((2_000_000, 1), np.uint32), 16)
    assert message.to_bytes() == before


def test_freqs_of_another_shape_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        bb.Message(2).push_batch(np.zeros((2, 4), np.uint32), np.ones((2, 1), np.uint32), 16)


@pytest.mark.parametrize("precision_bits", [0, 32, 64, -1])
def test_precision_outside_1_to_31_is_refused(precision_bits):
    with pytest.raises(ValueError, match="precision_bits"):
        bb.Message(1).push_batch(np.zeros((1, 1)), np.ones((1, 1)), precision_bits)


@pytest.mark.parametrize("start", [np.array([2**63 - 1], dtype=np.int64), np.array([2**63], dtype=np.uint64),
                                   np.array([2**64 - 1], dtype=np.uint64)], ids=["int64 max", "2**63", "2**64-1"])
def test_starts_that_would_overflow_the_range_check_are_refused(start):
    message = bb.Message(1)
    before = message.to_bytes()
    with pytest.raises(ValueError, match="start \\+ freq"):
        message.push(start, np.array([1]), 16)
    assert message.to_bytes() == before


def test_huge_freqs_are_refused():
    with pytest.raises(ValueError, match="start \\+ freq"):
        bb.Message(1).push(np.array([0]), np.array([2**64 - 1], dtype=np.uint64), 16)


def test_a_failed_pop_batch_leaves_the_message_as_it_was():
    """Issue 12 item 6: pop_batch stopped at the first wrong interval with the lanes and steps
    before it already popped."""
    message = bb.Message(3)
    starts, freqs = np.tile([[0, 1]], (3, 1)), np.full((3, 2), 4)
    message.push_batch(starts, freqs, 4)
    before = message.to_bytes()
    wrong = starts.copy()
    wrong[0, 0] = 8
    with pytest.raises(ValueError, match="not the symbols that were pushed"):
        message.pop_batch(wrong, freqs, 4)
    assert message.to_bytes() == before
    message.pop_batch(starts, freqs, 4)
    assert message == bb.Message(3)
