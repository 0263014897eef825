"""Hostile PixelVAE configs and arguments (issue 12's rules applied to bbans_numba.pixelvae):
every config value is type- and range-checked before a shape, table or kernel argument is
derived from it, so a wrong one is one ValueError naming it, never a TypeError, an
integer overflow that lets zero-size arrays pass, or a neighbour read before it is decoded."""

import json

import numpy as np
import pytest

import bbans_numba as bb
from bbans_numba.pixelvae import PixelVAEModel, random_arrays

SHAPE = (4, 5)


def arrays_with(**changes):
    """A tiny model's arrays with config entries replaced by ``changes``."""
    arrays = random_arrays(image_shape=SHAPE, latent_dim=2, features=2, encoder_hidden=(3,), decoder_hidden=(3,),
                           offsets=[(-1, 0), (0, -1)], pixel_hidden=(4,), components=2, seed=0)
    config = json.loads(str(arrays["config"][()]))
    arrays["config"] = np.array(json.dumps(dict(config, **changes)))
    return arrays


@pytest.mark.parametrize("key, value, match", [
    ("image_shape", "ab", "image_shape"), ("image_shape", [4.0, 5], "image_shape"), ("image_shape", [True, 5], "image_shape"),
    ("image_shape", [4, 5, 1], "image_shape"), ("image_shape", [0, 5], "image_shape"),
    ("latent_dim", "2", "latent_dim"), ("latent_dim", None, "latent_dim"), ("latent_dim", 2.0, "latent_dim"),
    ("latent_dim", -1, "latent_dim"), ("features", -1, "features"), ("components", "2", "components"),
    ("components", 2.5, "components"), ("components", 0, "components"), ("encoder_hidden", "x", "encoder_hidden"),
    ("pixel_hidden", [0], "pixel_hidden"), ("pixel_hidden", [], "pixel_hidden"), ("pixel_hidden", None, "pixel_hidden"),
    ("offsets", "ab", "offsets"), ("offsets", [[-1]], "offset"), ("offsets", [["a", "b"]], "offset"),
    ("offsets", [[-10**30, 0]], "offset"), ("offsets", [[-1, 0], [0, 1]], "not before the pixel"),
    ("log_scale_min", None, "log_scale_min"), ("log_scale_min", -1e6, "log_scale_min"),
    ("log_scale_min", 10.0, "log_scale_min <= log_scale_max"), ("std_min", None, "std_min"), ("std_min", -1.0, "std_min"),
    ("std_max", 1e400, "std_max"),
])
def test_each_bad_config_value_is_one_value_error_naming_it(key, value, match):
    with pytest.raises(ValueError, match=match):
        PixelVAEModel("bad", arrays_with(**{key: value}))


@pytest.mark.parametrize("text", ["[1, 2]", "NaN", "[" * 100_000])
def test_a_config_that_is_not_an_object_is_refused(text):
    arrays = arrays_with()
    arrays["config"] = np.array(text)
    with pytest.raises(ValueError, match="config"):
        PixelVAEModel("bad", arrays)


def test_nan_bounds_are_refused():
    """JSON as Python reads it allows NaN: it fails every range test."""
    with pytest.raises(ValueError, match="log_scale_max"):
        PixelVAEModel("bad", arrays_with(log_scale_max=float("nan")))


def test_fractional_offsets_cannot_point_after_the_pixel():
    """dy = -0.5, dx = 3 passed the old causality test yet, truncated in the neighbour table,
    read a pixel after the one being coded: the round trip silently lost the images."""
    with pytest.raises(ValueError, match="offset"):
        PixelVAEModel("bad", arrays_with(offsets=[[-0.5, 3], [0, -1]]))


def test_an_image_size_whose_product_overflows_int64_is_refused():
    """(2**32, 2**32) made np.prod 0, so zero-size weight arrays matched the shapes."""
    arrays = arrays_with(image_shape=[2**32, 2**32])
    arrays["encoder.hidden0.kernel"] = np.zeros((0, 3), np.float32)
    arrays["decoder.output.kernel"] = np.zeros((3, 0), np.float32)
    arrays["decoder.output.bias"] = np.zeros(0, np.float32)
    with pytest.raises(ValueError, match="image_shape"):
        PixelVAEModel("bad", arrays)


def test_too_many_pixels_are_refused_from_the_config():
    with pytest.raises(ValueError, match="more than"):
        PixelVAEModel("bad", arrays_with(image_shape=[1 << 16, 1 << 16]))


@pytest.fixture(scope="module")
def model():
    return PixelVAEModel("tiny", arrays_with())


@pytest.mark.parametrize("raw", [np.float32(1), np.zeros((2, 5), np.float32), np.zeros((2, 7), np.float32)],
                         ids=["scalar", "5 outputs", "7 outputs"])
def test_interval_starts_checks_the_head_width(model, raw):
    with pytest.raises(ValueError, match="raw head outputs"):
        model.interval_starts(raw, 16)


def test_codec_arguments_are_checked_before_any_kernel(model):
    codec = model.likelihood_codec(np.zeros((2, 2)), 16)
    pixels = np.zeros((2, 20), np.uint8)
    for call, match in [
        (lambda: codec.push(bb.Message(3), np.zeros((3, 20), np.uint8)), "lanes"),
        (lambda: codec.push(bb.Message(2), np.full((2, 20), 256)), r"\[0, 255\]"),
        (lambda: codec.push(bb.Message(2), pixels.astype(float)), r"\[0, 255\]"),
        (lambda: codec.push(bb.Message(2), pixels[:, :19]), "shape"),
        (lambda: codec.pop(bb.Message(3)), "lanes"),
        (lambda: codec.pop(bb.Message(2), num_steps=19), "whole images"),
        (lambda: codec.intervals(bb.Message(1), pixels), "lanes"),
        (lambda: codec.pixel_intervals(pixels[:1]), "lanes"),
        (lambda: model.likelihood_codec(np.zeros((2, 2)), 7), "precision_bits"),
        (lambda: model.likelihood_codec(np.zeros((2, 2)), 32), "precision_bits"),
        (lambda: model.likelihood_codec(np.zeros((2, 3)), 16), "latents"),
        (lambda: bb.pixelvae.AutoregressivePixelCodec(model, np.zeros((2, 7)), 16), "features"),
    ]:
        message = bb.Message(2)
        before = message.to_bytes()
        with pytest.raises(ValueError, match=match):
            call()
        assert message.to_bytes() == before


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 1e30])
def test_non_finite_or_huge_latents_still_round_trip(model, fill):
    """NaN or overflowing features make NaN head outputs: the quantizer counts NaN as 0, every
    value keeps frequency >= 1, and the coder stays inside its arrays."""
    codec = model.likelihood_codec(np.full((3, 2), fill), 16)
    pixels = np.random.default_rng(0).integers(0, 256, (3, 20), dtype=np.uint8)
    message = bb.Message(3)
    codec.push(message, pixels)
    assert np.array_equal(codec.pop(message), pixels)
    assert message == bb.Message(3)


def test_popping_from_an_empty_message_stays_in_bounds(model):
    """Decoding pixels that were never pushed draws generator words: any slot maps to a value."""
    codec = model.likelihood_codec(np.zeros((2, 2)), 31)
    message = bb.Message(2)
    pixels = codec.pop(message)
    assert pixels.shape == (2, 20) and message.underflow_words > 0


@pytest.mark.parametrize("x, kernel, bias", [
    (np.ones((2, 3), np.float32), np.ones((5, 4), np.float32), np.ones(4, np.float32)),
    (np.ones((2, 5), np.float32), np.ones((5, 4), np.float32), np.ones(2, np.float32)),
], ids=["x narrower than the kernel", "bias shorter than the outputs"])
def test_dense_refuses_shapes_that_do_not_match(x, kernel, bias):
    """nn.dense, public and used by every per-image network, indexed x and bias by the kernel's sizes."""
    with pytest.raises(ValueError, match="must match"):
        bb.nn.dense(x, kernel, bias)
