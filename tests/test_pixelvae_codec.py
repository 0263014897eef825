"""The PixelVAE as a codec: round trips, compress/decompress parameter identity, the NumPy reference."""

import json

import numpy as np
import pytest
from numba import njit

import bbans_numba as bb
from bbans_numba import nn
from bbans_numba import pixelvae as pv
from bbans_numba.model import load_model
from bbans_numba.pixelvae import PixelVAEModel, random_arrays

PRECISION = 24
SHAPE = (28, 28)


@pytest.fixture(scope="module")
def keras_model_path(tmp_path_factory):
    """A small PixelVAE built by training.pixelvae with random weights, exported to .npz."""
    from training.pixelvae import build_pixelvae, export_npz

    model = build_pixelvae(image_shape=SHAPE, latent_dim=4, features=2, encoder_hidden=(32,), decoder_hidden=(24,),
                           rows_above=2, half_width=2, left=2, pixel_hidden=(16, 8), head="logistic", components=3)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path_factory.mktemp("models") / "tiny.npz"
    export_npz(model, path)
    return path


@pytest.fixture(scope="module")
def model(keras_model_path):
    return load_model(keras_model_path)


def adversarial_images():
    """Uniform noise, all black, all white, a checkerboard and its inverse (uint8, 28x28)."""
    noise = np.random.default_rng(0).integers(0, 256, (3,) + SHAPE, dtype=np.uint8)
    checker = (np.indices(SHAPE).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.concatenate([noise, np.zeros((1,) + SHAPE, np.uint8), np.full((1,) + SHAPE, 255, np.uint8),
                           checker[None], 255 - checker[None]])


def image_sets():
    return {"mnist": bb.load_images("mnist:sample")[:13], "adversarial": adversarial_images()}


@pytest.mark.parametrize("name", ["mnist", "adversarial"])
def test_round_trip_through_compress(model, name):
    images = image_sets()[name]
    blob = bb.compress(images, model=model, lanes=4)  # 4 lanes: full rounds and a partial one
    assert np.array_equal(bb.decompress(blob, model=model), images)  # decompress also checks the unwinding


def test_round_trip_with_extreme_parameters():
    """Weights 30x too large: saturated logits, means far outside 0..255, clamped scales."""
    model = PixelVAEModel("extreme", random_arrays(latent_dim=3, encoder_hidden=(16,), decoder_hidden=(16,),
                                                   pixel_hidden=(12,), components=4, weight_scale=30.0, seed=2))
    images = np.concatenate([adversarial_images(), bb.load_images("mnist:sample")[:3]])
    blob = bb.compress(images, model=model, lanes=3)
    assert np.array_equal(bb.decompress(blob, model=model), images)


def test_codec_unwinds_message_exactly(model):
    images = image_sets()["mnist"][:5]
    z, _ = model.encode(images)
    codec = model.likelihood_codec(z, PRECISION)
    message = bb.Message(num_lanes=5)
    codec.push(message, images.reshape(5, -1))
    assert np.array_equal(codec.pop(message, num_steps=model.num_pixels), images.reshape(5, -1))
    assert message == bb.Message(num_lanes=5)


@pytest.mark.parametrize("name", ["mnist", "adversarial"])
def test_decoder_sees_the_encoders_parameters_bit_for_bit(model, name):
    """Raw head outputs and intervals of the batched (push) pass equal those the pixel-by-pixel
    pop computed, bit for bit."""
    images = image_sets()[name]
    pixels = images.reshape(len(images), -1)
    z, _ = model.encode(images)
    codec = model.likelihood_codec(z, PRECISION)
    pushed_raw = model.head_params(images, z)
    starts, freqs = codec.pixel_intervals(pixels)
    message = bb.Message(num_lanes=len(images))
    codec.push(message, pixels)
    record = {}
    assert np.array_equal(codec.pop(message, record=record), pixels)
    assert np.array_equal(record["raw"].view(np.uint32), pushed_raw.view(np.uint32))
    assert np.array_equal(record["intervals"][..., 0], starts)
    assert np.array_equal(record["intervals"][..., 1] - record["intervals"][..., 0], freqs)


def test_batch_size_changes_no_bit(model):
    images = np.concatenate([image_sets()["mnist"][:4], adversarial_images()[:3]])
    mean, std = model.encode(images)
    raw = model.head_params(images, mean)
    for i in range(len(images)):
        one_mean, one_std = model.encode(images[i:i + 1])
        assert np.array_equal(one_mean, mean[i:i + 1]) and np.array_equal(one_std, std[i:i + 1])
        assert np.array_equal(model.head_params(images[i:i + 1], mean[i:i + 1]).view(np.uint32),
                              raw[i:i + 1].view(np.uint32))


def test_matches_numpy_reference(keras_model_path, model):
    """Same formulas as training.pixelvae_reference, in another summation order (the reference
    multiplies with BLAS, the kernels add term by term), so equal to float32 rounding."""
    from training.pixelvae import load_npz
    from training import pixelvae_reference as ref

    config, arrays = load_npz(keras_model_path)
    images = np.concatenate([image_sets()["mnist"][:4], adversarial_images()])
    mean, std = model.encode(images)
    ref_mean, ref_std = ref.posterior(config, arrays, images)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-5, atol=1e-6)
    raw = model.head_params(images, mean)
    ref_raw = ref.head_params(config, arrays, images, mean.astype(np.float32))
    np.testing.assert_allclose(raw, ref_raw, rtol=1e-5, atol=1e-5)


def test_quantized_pmf_follows_reference_pmf(keras_model_path, model):
    """Every value gets >= 1 slot, the slots sum to 2**p, each probable value's share is the
    reference head's probability (to quantization error), and a push codes these intervals."""
    from training.pixelvae import load_npz
    from training import pixelvae_reference as ref

    config, _ = load_npz(keras_model_path)
    images = np.concatenate([image_sets()["mnist"][:2], adversarial_images()[:2]])
    z, _ = model.encode(images)
    raw = model.head_params(images, z)
    starts = model.interval_starts(raw, PRECISION)
    freqs = np.diff(starts, axis=-1)
    assert freqs.min() >= 1 and np.all(starts[..., -1] == 1 << PRECISION)
    probs = np.exp(ref.head_log_pmf(config, raw))
    # The rule gives freq(k) = 1 + P(k) * (2**p - 256) + (0 or -1): within this of 2**p P(k).
    bound = 2.0 + probs * 256 + probs * 2.0 ** PRECISION * 1e-9
    assert np.all(np.abs(freqs - probs * 2.0 ** PRECISION) <= bound)
    pixels = images.reshape(len(images), -1)
    pushed_starts, pushed_freqs = model.likelihood_codec(z, PRECISION).pixel_intervals(pixels)
    assert np.array_equal(pushed_starts, np.take_along_axis(starts, pixels[..., None].astype(int), -1)[..., 0])
    assert np.array_equal(pushed_freqs, np.take_along_axis(freqs, pixels[..., None].astype(int), -1)[..., 0])


def test_model_attributes_and_fingerprint(keras_model_path, model):
    from bbans_numba.model import fingerprint_arrays

    with np.load(keras_model_path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    assert model.fingerprint == fingerprint_arrays(arrays)
    assert (model.name, model.image_shape, model.latent_dim, model.num_pixels) == ("tiny", SHAPE, 4, 784)
    assert model.likelihood == "autoregressive_logistic_mixture"


def test_rejects_non_causal_offsets_and_bad_arrays():
    arrays = random_arrays(image_shape=(4, 4), latent_dim=1, encoder_hidden=(3,), decoder_hidden=(3,),
                           offsets=[(-1, 0), (0, -1)], pixel_hidden=(4,), components=2)
    config = json.loads(str(arrays["config"]))
    with pytest.raises(ValueError, match="not before the pixel"):
        PixelVAEModel("bad", dict(arrays, config=np.array(json.dumps(dict(config, offsets=[[-1, 0], [0, 1]])))))
    arrays = random_arrays(image_shape=(4, 4), latent_dim=1, encoder_hidden=(3,), decoder_hidden=(3,),
                           offsets=[(-1, 0)], pixel_hidden=(4,), components=2)
    arrays["pixel.output.bias"] = arrays["pixel.output.bias"][:-1]
    with pytest.raises(ValueError, match="pixel.output.bias"):
        PixelVAEModel("bad", arrays)
    config = json.loads(str(arrays["config"]))
    arrays["config"] = np.array(json.dumps(dict(config, head="categorical")))
    with pytest.raises(ValueError, match="head"):
        PixelVAEModel("bad", arrays)


def test_no_latents_model_round_trips():
    model = PixelVAEModel("nolatent", random_arrays(image_shape=(6, 7), latent_dim=0, offsets=[(-1, -1), (-1, 0),
                                                    (0, -1)], pixel_hidden=(5,), components=2, seed=3))
    images = adversarial_images()[:, :6, :7]
    z = np.zeros((len(images), 0))
    codec = model.likelihood_codec(z, 16)
    message = bb.Message(num_lanes=len(images))
    codec.push(message, images.reshape(len(images), -1))
    assert np.array_equal(codec.pop(message), images.reshape(len(images), -1))
    assert message == bb.Message(num_lanes=len(images))


def test_neighbour_table_is_causal():
    offsets = [(-2, -1), (-1, 2), (0, -1)]
    table = pv.neighbour_table((5, 4), offsets)
    assert np.all(table < np.arange(20)[:, None])


@njit
def _find_all(raw, log_scale_range, precision_bits, found):
    """found[c, slot] = (symbol, start, end) of every slot under the mixture of raw column c."""
    mixture = np.empty((3, raw.shape[0] // 3))
    for c in range(raw.shape[1]):
        pv._mixture_params(raw, c, log_scale_range[0], log_scale_range[1], mixture)
        for slot in range(found.shape[1]):
            found[c, slot] = pv._find_symbol(np.uint64(slot), mixture, precision_bits)


def test_pop_search_finds_the_symbol_of_every_slot(model):
    """The search returns the value whose interval holds the slot, for every slot, under
    ordinary, sharp, flat, far-off and non-finite mixtures."""
    rng = np.random.default_rng(7)
    k = model.num_components
    raw = rng.normal(0, 1, (40, 3 * k)).astype(np.float32)
    raw[10:20, 2 * k:] = -30.0  # scales below the clamp: all mass on one or two values
    raw[20:25, 2 * k:] = 30.0  # flat
    raw[25:30, k:2 * k] = rng.normal(0, 50, (5, k))  # means far outside 0..255
    raw[30:33, :k] = rng.normal(0, 1e4, (3, k))  # saturated softmax
    raw[33, 0], raw[34, k], raw[35, 2 * k] = np.inf, np.nan, -np.inf
    raw[36:38] = np.float32(3e38)
    precision = 12
    starts = model.interval_starts(raw, precision)
    found = np.empty((len(raw), 1 << precision, 3), dtype=np.int64)
    _find_all(np.ascontiguousarray(raw.T), model._network[-2:], precision, found)
    slots = np.arange(1 << precision)
    for c in range(len(raw)):
        assert np.all(np.diff(starts[c]) >= 1)
        symbols = np.searchsorted(starts[c], slots, side="right") - 1
        assert np.array_equal(found[c, :, 0], symbols)
        assert np.array_equal(found[c, :, 1], starts[c][symbols])
        assert np.array_equal(found[c, :, 2], starts[c][symbols + 1])


def test_coding_path_has_no_platform_math(model):
    """Issue 10's scanner finds no libm call, math intrinsic, fast-math flag or FMA in any
    compiled kernel of the PixelVAE codec (exp, sigmoid, softplus, log come from portable)."""
    from platform_math import inspect_dispatchers

    images = adversarial_images()[:2]
    mean, _ = model.encode(images)
    codec = model.likelihood_codec(mean, PRECISION)
    message = bb.Message(num_lanes=2)
    codec.push(message, images.reshape(2, -1))
    codec.pop(message, record={})
    model.interval_starts(model.head_params(images, mean), PRECISION)
    kernels = [pv._pixels_kernel, pv._push_kernel, pv._starts_kernel, nn.dense, nn.relu, nn.clipped_softplus]
    assert all(kernel.signatures for kernel in kernels), [k.__name__ for k in kernels if not k.signatures]
    findings = inspect_dispatchers(kernels)
    # Called (not inlined) by the kernels above: a kernel loaded from the cache leaves them
    # uncompiled, but the scanner's fresh compile of their callers compiles them.
    helpers = [pv._mixture_params, pv._symbol_start]
    assert all(helper.signatures for helper in helpers), [h.__name__ for h in helpers if not h.signatures]
    assert findings + inspect_dispatchers(helpers) == []


def test_log_likelihood_is_the_reference_nll_to_quantization():
    """log p(x|z) as the codec prices it (what training.evaluate and the bench read) against
    the float pmf of the NumPy reference, at the same latents: the shipped model on MNIST
    (where no pixel's probability is near the 2**-24 floor of the quantized pmf)."""
    from training import pixelvae_reference as ref
    from training.pixelvae import load_npz

    model = load_model("mnist")
    config, arrays = load_npz(model.path)
    images = image_sets()["mnist"][:6]
    noise = np.random.default_rng(4).standard_normal((len(images), model.latent_dim)).astype(np.float32)
    reference_nll, _ = ref.negative_elbo_bits(config, arrays, images, noise)
    mean, std = model.encode(images)
    nll = -model.log_likelihood(images, (mean + std * noise).astype(np.float32)) / np.log(2)
    assert nll.shape == (len(images),)
    np.testing.assert_allclose(nll, reference_nll, rtol=2e-4)  # measured: 4e-5
