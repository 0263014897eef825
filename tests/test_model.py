"""The coding-time model: shipped weights, likelihood units, validation, bit-exact reproducibility."""

import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

import bbans_numba as bb
from bbans_numba.datasets import load_images
from bbans_numba.likelihoods import LIKELIHOODS, likelihood_from_description
from bbans_numba.likelihoods.beta_binomial import PARAM_RANGE
from bbans_numba.model import STD_MAX, STD_MIN, available_models, fingerprint_arrays, load_model
from bbans_numba.model_config import FORMAT_VERSION, ModelConfig

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = dict(format_version=FORMAT_VERSION, image_shape=[3, 4], latent_dim=2,
                   architecture=dict(name="residual_mlp", hidden_units=5, residual_blocks=1, activation="elu"),
                   likelihood=dict(name="beta_binomial"))
# The flat version 1 config of the shipped files.
V1_CONFIG = dict(format_version=1, image_shape=[3, 4], latent_dim=2, hidden_units=5, residual_blocks=1,
                 activation="elu", likelihood="beta_binomial", num_components=1)


def tiny_arrays(config=TINY_CONFIG, scale=1.0, seed=1):
    """A valid exported model with random weights for ``config``, as a name -> array dict."""
    rng = np.random.default_rng(seed)
    arrays = {"config": np.array(json.dumps(config))}
    for name, shape in ModelConfig.from_dict(config).array_shapes().items():
        arrays[name] = (scale * rng.normal(size=shape)).astype(np.float32)
    return arrays


def with_config(**changes):
    return lambda arrays: arrays.update(config=np.array(json.dumps(dict(TINY_CONFIG, **changes))))


def with_architecture(**changes):
    return with_config(architecture=dict(TINY_CONFIG["architecture"], **changes))


@pytest.fixture(scope="module")
def model():
    """The shipped residual-MLP VAE (these tests are about CodingModel; the default is a PixelVAE)."""
    return load_model("mnist-mlp")


@pytest.fixture(scope="module")
def images():
    return load_images("mnist:sample")


def test_shipped_model(model):
    assert {"mnist", "mnist-mlp", "mnist-fast"} <= set(available_models())
    assert model.name == "mnist-mlp" and model.image_shape == (28, 28) and model.latent_dim == 50
    assert model.likelihood == "beta_binomial" and model.architecture == "residual_mlp"
    assert model.architecture_spec.options == dict(hidden_units=768, residual_blocks=1, activation="elu")
    assert model.path.stat().st_size <= 10 * 2**20
    with np.load(model.path) as archive:
        assert model.fingerprint == fingerprint_arrays({key: archive[key] for key in archive.files})
        assert json.loads(str(archive["config"]))["format_version"] == 1  # shipped files stay version 1
    assert len(model.fingerprint) == 64 and int(model.fingerprint, 16) >= 0


def test_version_1_and_2_configs_describe_the_same_model(tmp_path):
    arrays = tiny_arrays()
    np.savez(tmp_path / "v2.npz", **arrays)
    np.savez(tmp_path / "v1.npz", **dict(arrays, config=np.array(json.dumps(V1_CONFIG))))
    v1, v2 = load_model(tmp_path / "v1.npz"), load_model(tmp_path / "v2.npz")
    assert v1.config == v2.config and v1.config.to_dict() == TINY_CONFIG
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert all(np.array_equal(a, b) for a, b in zip(v1.encode(x), v2.encode(x)))


def test_fingerprint_ignores_zip_details_but_not_weights(tmp_path):
    arrays = tiny_arrays()
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    assert load_model(tmp_path / "plain.npz").fingerprint == load_model(tmp_path / "packed.npz").fingerprint
    arrays["decoder.output.bias"][0] += 1
    np.savez(tmp_path / "changed.npz", **arrays)
    assert load_model(tmp_path / "changed.npz").fingerprint != load_model(tmp_path / "plain.npz").fingerprint
    assert load_model(tmp_path / "plain.npz").name == "plain"


def test_outputs(model, images):
    mean, std = model.encode(images)
    assert mean.shape == std.shape == (100, 50) and mean.dtype == std.dtype == np.float64
    assert np.isfinite(mean).all() and ((std >= STD_MIN) & (std <= STD_MAX)).all()
    alpha, beta = model.likelihood_spec.parameters(model.decoder_output(mean + std))
    assert alpha.shape == beta.shape == (100, 784) and alpha.dtype == beta.dtype == np.float64
    for param in (alpha, beta):
        assert ((param >= PARAM_RANGE[0]) & (param <= PARAM_RANGE[1])).all()
    log_likelihood = model.log_likelihood(images, mean)
    assert log_likelihood.shape == (100,) and (log_likelihood < 0).all()
    # A trained model: the mean image costs far less than 8 bits per pixel.
    assert -log_likelihood.mean() / (784 * math.log(2)) < 2


def test_extreme_latents_stay_in_range(model):
    alpha, beta = model.likelihood_spec.parameters(model.decoder_output(np.full((2, 50), 1e4) * [[1], [-1]]))
    assert ((alpha >= PARAM_RANGE[0]) & (alpha <= PARAM_RANGE[1])).all() and np.isfinite(beta).all()


def test_input_checks(model, images):
    with pytest.raises(ValueError, match="uint8 images of shape"):
        model.encode(images.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 images of shape"):
        model.encode(images[:, :27])
    with pytest.raises(ValueError, match=r"latents of shape \(B, 50\)"):
        model.likelihood_codec(np.zeros((3, 49)), 24)


def test_tiny_model_matches_numpy(tmp_path):
    """The Numba forward pass against a plain numpy statement of the same network."""
    arrays = tiny_arrays()
    np.savez(tmp_path / "tiny.npz", **arrays)
    tiny = load_model(tmp_path / "tiny.npz")
    x = np.random.default_rng(2).integers(0, 256, size=(7, 3, 4), dtype=np.uint8)

    def elu(v):
        return np.where(v > 0, v, np.expm1(v))

    def mlp(network, h):
        def dense(name, v):
            return v @ arrays[f"{name}.kernel"].astype(np.float64) + arrays[f"{name}.bias"]
        h = elu(dense(f"{network}.input", h))
        h = h + dense(f"{network}.block0.outer", elu(dense(f"{network}.block0.inner", h)))
        return dense(f"{network}.output", h)

    def softplus(v):
        return np.logaddexp(0, v)

    raw = mlp("encoder", x.reshape(7, 12) / 255.0)
    mean, std = tiny.encode(x)
    np.testing.assert_allclose(mean, raw[:, :2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std, np.clip(softplus(raw[:, 2:]), STD_MIN, STD_MAX), rtol=1e-4, atol=1e-6)
    raw = mlp("decoder", mean)
    np.testing.assert_allclose(tiny.decoder_output(mean), raw, rtol=1e-4, atol=1e-5)
    alpha, beta = tiny.likelihood_spec.parameters(tiny.decoder_output(mean))
    np.testing.assert_allclose(alpha, np.clip(softplus(raw[:, :12]), *PARAM_RANGE), rtol=1e-4)
    np.testing.assert_allclose(beta, np.clip(softplus(raw[:, 12:]), *PARAM_RANGE), rtol=1e-4)
    expected = stats.betabinom.logpmf(x.reshape(7, 12), 255, alpha, beta).sum(axis=1)
    np.testing.assert_allclose(tiny.log_likelihood(x, mean), expected, rtol=1e-10)


def test_float16_weights_are_accepted(tmp_path):
    arrays = {key: (value.astype(np.float16) if key != "config" else value) for key, value in tiny_arrays().items()}
    np.savez(tmp_path / "half.npz", **arrays)
    assert load_model(tmp_path / "half.npz").encode(np.zeros((1, 3, 4), dtype=np.uint8))[1].shape == (1, 2)


# -- likelihood units ---------------------------------------------------------------------

def logistic_mixture_pmf_by_definition(x, means, log_scales, logits):
    """P(x) = sum_c w_c (F_c(x + 1/2) - F_c(x - 1/2)), F_c(-1/2) := 0, F_c(255 + 1/2) := 1 (SciPy)."""
    weights = special.softmax(logits, axis=-1)
    x = x[..., None]
    upper = np.where(x >= 255, 1.0, stats.logistic.cdf(x + 0.5, means, np.exp(log_scales)))
    lower = np.where(x <= 0, 0.0, stats.logistic.cdf(x - 0.5, means, np.exp(log_scales)))
    return np.sum(weights * (upper - lower), axis=-1)


@pytest.mark.parametrize("description", [{"name": "beta_binomial"}, {"name": "logistic_mixture", "num_components": 3}])
def test_likelihood_log_pmf_against_scipy_and_codec(description):
    """Each unit's NumPy log-pmf against SciPy, summing to 1, and against its codec's frequencies."""
    likelihood = likelihood_from_description(description)
    num_pixels, rows = 4, 3
    raw = np.random.default_rng(5).normal(scale=1.5, size=(rows, likelihood.raw_outputs_per_pixel * num_pixels))
    raw = raw.astype(np.float32)
    symbols = np.broadcast_to(np.arange(256), (rows, num_pixels, 256))
    log_pmf = np.stack([likelihood.log_pmf(symbols[:, :, k], raw) for k in range(256)], axis=-1)
    params = likelihood.parameters(raw)
    if description["name"] == "beta_binomial":
        expected = stats.betabinom.pmf(symbols, 255, params[0][..., None], params[1][..., None])
    else:
        expected = np.stack([logistic_mixture_pmf_by_definition(symbols[:, :, k], *params)
                             for k in range(256)], axis=-1)
    np.testing.assert_allclose(np.exp(log_pmf), expected, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_pmf).sum(axis=-1), 1.0, rtol=1e-9)
    # The codec quantizes the same distribution: frequency / 2**24 within 256 / 2**24 of P.
    message = bb.Message(num_lanes=rows)
    codec = likelihood.codec(raw, precision_bits=24)
    pixels = np.random.default_rng(6).integers(0, 256, size=(rows, num_pixels))
    starts, freqs = codec.intervals(message, pixels)
    probability = np.take_along_axis(expected, pixels[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(freqs / 2**24, probability, atol=300 / 2**24)
    codec.push(message, pixels)
    assert np.array_equal(likelihood.codec(raw, precision_bits=24).pop(message, num_steps=num_pixels), pixels)


def test_logistic_mixture_log_pmf_is_finite_in_the_far_tails():
    likelihood = likelihood_from_description({"name": "logistic_mixture", "num_components": 1})
    raw = np.array([[-1.0, -20.0, 0.0]], dtype=np.float32)  # mean 0, log-scale clamped to -7
    log_pmf = [float(likelihood.log_pmf(np.array([[k]]), raw)[0, 0]) for k in (0, 1, 200, 255)]
    assert log_pmf[0] == pytest.approx(0, abs=1e-12) and all(np.isfinite(log_pmf)) and log_pmf[3] < -1e5


def test_registry_refuses_bad_options():
    assert sorted(LIKELIHOODS) == ["beta_binomial", "logistic_mixture"]
    with pytest.raises(ValueError, match="'num_components' must be an integer in"):
        likelihood_from_description({"name": "logistic_mixture", "num_components": "5"})
    with pytest.raises(ValueError, match="has no option"):
        likelihood_from_description({"name": "beta_binomial", "num_components": 1})


def test_tiny_logistic_mixture_model_codes_losslessly(tmp_path):
    config = dict(TINY_CONFIG, image_shape=[28, 28], likelihood=dict(name="logistic_mixture", num_components=2))
    np.savez(tmp_path / "lm.npz", **tiny_arrays(config, scale=0.1))
    model = load_model(tmp_path / "lm.npz")
    assert model.likelihood == "logistic_mixture" and model.likelihood_spec.raw_outputs_per_pixel == 6
    images = load_images("mnist:sample")[:3]
    assert np.array_equal(bb.decompress(bb.compress(images, model=model), model=model), images)


# -- hostile and broken files -------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("config"), "no 'config' entry"),
    (lambda a: a.update(config=np.array("{not json")), "not valid JSON"),
    (lambda a: a.update(config=np.array("[" * 50000)), "not valid JSON"),
    (lambda a: a.update(config=np.array("x" * 100000)), "at most 65536 characters"),
    (lambda a: a.update(config=np.zeros(3)), "'config' must be a JSON string"),
    (lambda a: a.update(config=np.array(json.dumps({"format_version": 2, "latent_dim": 2}))), "config lacks"),
    (lambda a: a.update(config=np.array("[1, 2]")), "must be a JSON object"),
    (with_config(format_version=99), "version 99"),
    (with_config(format_version="2"), "version '2'"),
    (with_config(format_version=True), "version True"),
    (with_config(extra=1), "unknown keys"),
    (with_config(likelihood=dict(name="poisson")), "unknown likelihood"),
    (with_config(likelihood="beta_binomial"), "likelihood must be an object"),
    (with_config(latent_dim="5"), "'latent_dim' must be an integer"),
    (with_config(latent_dim=None), "'latent_dim' must be an integer"),
    (with_config(latent_dim=2.0), "'latent_dim' must be an integer"),
    (with_config(image_shape=None), "image_shape must be a list"),
    (with_config(image_shape=[3, "4"]), "'image_shape' must be an integer"),
    (with_config(image_shape=[60000, 60000]), "more than 16777216 pixels"),
    (with_architecture(activation="swish"), "'activation' must be one of relu, elu"),
    (with_architecture(residual_blocks="1"), "'residual_blocks' must be an integer"),
    (with_architecture(residual_blocks=10**9), "'residual_blocks' must be an integer in"),
    (with_architecture(hidden_units=None), "'hidden_units' must be an integer"),
    (with_architecture(name="cnn"), "unknown architecture 'cnn'"),
    (lambda a: a.update(config=np.array(json.dumps(dict(V1_CONFIG, residual_blocks="1")))), "'residual_blocks'"),
    (lambda a: a.update(config=np.array(json.dumps(dict(V1_CONFIG, num_components=3)))), "num_components 1"),
    (lambda a: a.update(config=np.array(json.dumps(dict(V1_CONFIG, likelihood=None)))), "beta_binomial likelihood"),
    (lambda a: a.pop("decoder.block0.inner.bias"), "missing array 'decoder.block0.inner.bias'"),
    (lambda a: a.update(stray=np.zeros(1, np.float32)), r"unexpected member\(s\) \['stray'\]"),
    (lambda a: a.update({"encoder.input.kernel": np.zeros((12, 6), np.float32)}), r"expected float32 or float16 \(12, 5\)"),
    (lambda a: a.update({"encoder.output.bias": np.zeros(4, np.float64)}), "is float64"),
    (lambda a: a.update({"encoder.output.bias": np.array(["a", "b", "c", "d"])}), "is <U1"),
    (lambda a: a["decoder.output.kernel"].__setitem__((0, 0), np.nan), "non-finite"),
])
def test_invalid_files_name_the_file_and_problem(tmp_path, change, message):
    assert_changed_file_is_refused(tmp_path / "broken_model.npz", tiny_arrays(), change, message)


def assert_changed_file_is_refused(path, arrays, change, message):
    """``arrays`` after ``change``, saved to ``path``: load_model raises a ValueError matching
    ``message`` that names the file."""
    change(arrays)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as error:
        load_model(path)
    assert path.name in str(error.value)


def test_allocation_bomb_is_refused_before_anything_large_is_built(tmp_path):
    """A 1 KB file claiming 10**9 residual blocks, or 2**16-wide layers it does not hold."""
    path = tmp_path / "bomb.npz"
    np.savez(path, config=np.array(json.dumps(dict(V1_CONFIG, residual_blocks=10**9))))
    assert path.stat().st_size < 1024
    with pytest.raises(ValueError, match="bomb.npz: .*'residual_blocks' must be an integer in"):
        load_model(path)
    arrays = tiny_arrays()
    np.savez(path, **dict(arrays, config=np.array(json.dumps(dict(V1_CONFIG, hidden_units=1 << 16)))))
    with pytest.raises(ValueError, match=r"bomb.npz: array 'encoder.input.kernel' is float32 \(12, 5\), "
                                         r"expected float32 or float16 \(12, 65536\)"):
        load_model(path)


def test_lying_npy_header_is_refused_before_reading(tmp_path):
    """Members whose headers announce the expected (large) shapes but hold no data."""
    config = dict(TINY_CONFIG, architecture=dict(TINY_CONFIG["architecture"], hidden_units=1 << 16))
    path = write_headers_only(tmp_path / "liar.npz", config, ModelConfig.from_dict(config).array_shapes())
    with pytest.raises(ValueError, match="liar.npz: array 'encoder.input.kernel' is truncated"):
        load_model(path)


def write_headers_only(path, config, shapes):
    """A small model file whose array members are ``.npy`` headers announcing ``shapes``, with no data."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.npy", tiny_arrays_bytes(np.array(json.dumps(config))))
        for key, shape in shapes.items():
            with archive.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
    assert path.stat().st_size < 8192
    return path


def tiny_arrays_bytes(array):
    with io.BytesIO() as buffer:
        np.lib.format.write_array(buffer, array)
        return buffer.getvalue()


def test_wrong_kinds_of_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npz: not a readable .npz"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="not a shipped model"):
        load_model(tmp_path / "absent.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="array.npy: this is a single .npy array, not an exported .npz model"):
        load_model(tmp_path / "array.npy")
    with zipfile.ZipFile(tmp_path / "foreign.npz", "w") as archive:
        archive.writestr("config.npy", b"")
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="foreign.npz: member 'notes.txt' is not a .npy array"):
        load_model(tmp_path / "foreign.npz")
    with zipfile.ZipFile(tmp_path / "run.keras", "w") as archive:  # the layout of a Keras checkpoint
        for name in ("metadata.json", "config.json", "model.weights.h5"):
            archive.writestr(name, b"{}")
    with pytest.raises(ValueError, match=r"run.keras: this is a Keras .keras checkpoint; .* beside it \(run.npz\)"):
        load_model(tmp_path / "run.keras")


def test_inflation_bomb_member_is_refused(tmp_path):
    path = tmp_path / "zipbomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        with archive.open("config.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(2_000_000, np.float32))
    with pytest.raises(ValueError, match="zipbomb.npz: member 'config.npy' claims to inflate"):
        load_model(path)


# -- the same guarantees for a PixelVAE file (one loading path decides the kind by its config) ------

def tiny_pixelvae_arrays():
    from bbans_numba.pixelvae import random_arrays

    return random_arrays(image_shape=(4, 5), latent_dim=2, features=2, encoder_hidden=(3,), decoder_hidden=(3,),
                         offsets=[(-1, 0), (0, -1)], pixel_hidden=(4,), components=2, seed=1)


def with_pixelvae_config(**changes):
    def change(arrays):
        arrays["config"] = np.array(json.dumps(dict(json.loads(str(arrays["config"])), **changes)))
    return change


def test_load_model_tells_the_kinds_apart(tmp_path):
    from bbans_numba.pixelvae import PixelVAEModel

    np.savez(tmp_path / "pv.npz", **tiny_pixelvae_arrays())
    model = load_model(tmp_path / "pv.npz")
    assert isinstance(model, PixelVAEModel) and model.name == "pv" and model.image_shape == (4, 5)
    assert model.fingerprint == fingerprint_arrays(tiny_pixelvae_arrays())
    arrays = tiny_pixelvae_arrays()
    half = {key: value if key == "config" else value.astype(np.float16) for key, value in arrays.items()}
    np.savez(tmp_path / "half.npz", **half)
    assert load_model(tmp_path / "half.npz").encode(np.zeros((1, 4, 5), np.uint8))[0].dtype == np.float64
    shipped = load_model("mnist")
    assert isinstance(shipped, PixelVAEModel) and shipped.name == "mnist"
    with np.load(shipped.path) as archive:  # to_dict gives back the stored config (bench_pixelvae uses it)
        assert shipped.config.to_dict() == json.loads(str(archive["config"]))
    with pytest.raises(ValueError, match="tiny: a ModelConfig describes this model, not a PixelVAEConfig"):
        PixelVAEModel("tiny", tiny_arrays())


@pytest.mark.parametrize("change, message", [
    (with_pixelvae_config(format="pixelvae-9"), "model format 'pixelvae-9' is not supported"),
    (with_pixelvae_config(format=None), "model format None is not supported"),
    (with_pixelvae_config(extra=1), r"unknown keys \['extra'\]"),
    (with_pixelvae_config(head="categorical"), "'head' must be one of logistic"),
    (with_pixelvae_config(latent_dim="2"), "'latent_dim' must be an integer"),
    (with_pixelvae_config(latent_dim=-1), "'latent_dim' must be an integer in"),
    (with_pixelvae_config(features=2.0), "'features' must be an integer"),
    (with_pixelvae_config(components=10**9), "'components' must be an integer in"),
    (with_pixelvae_config(image_shape=[4, 5, 1]), r"image_shape must be \[height, width\]"),
    (with_pixelvae_config(image_shape=[60000, 60000]), "more than 16777216 pixels"),
    (with_pixelvae_config(image_shape=[4096, 4096], offsets=[[-1, 0], [0, -1]]), "neighbours is more than"),
    (with_pixelvae_config(encoder_hidden=[3] * 100), "'encoder_hidden' must be a list of 0 to 16"),
    (with_pixelvae_config(decoder_hidden=[1 << 20]), "'decoder_hidden' must be an integer in"),
    (with_pixelvae_config(pixel_hidden=[]), "'pixel_hidden' must be a list of 1 to 16"),
    (with_pixelvae_config(offsets=[[-1, 0], [0, 1]]), r"offset \[0, 1\] is not before the pixel"),
    (with_pixelvae_config(offsets=[[-1]]), "each neighbourhood offset must be"),
    (with_pixelvae_config(offsets="above"), "'offsets' must be a list"),
    (with_pixelvae_config(std_min=0), "0 < std_min"),
    (with_pixelvae_config(log_scale_max="7"), "'log_scale_max' must be a finite number"),
    (with_pixelvae_config(seed=None), "'seed' must be an integer"),
    (lambda a: a.pop("pixel.hidden0.kernel"), "missing array 'pixel.hidden0.kernel'"),
    (lambda a: a.update(stray=np.zeros(1, np.float32)), r"unexpected member\(s\) \['stray'\]"),
    (lambda a: a.update({"pixel.output.bias": np.zeros(3, np.float32)}), r"expected float32 or float16 \(6,\)"),
    (lambda a: a.update({"decoder.output.bias": np.zeros(40, np.int32)}), "is int32"),
    (lambda a: a["encoder.output.kernel"].__setitem__((0, 0), np.inf), "non-finite"),
])
def test_invalid_pixelvae_files_name_the_file_and_problem(tmp_path, change, message):
    assert_changed_file_is_refused(tmp_path / "broken_pixelvae.npz", tiny_pixelvae_arrays(), change, message)


def test_pixelvae_bombs_are_refused_before_anything_large_is_built(tmp_path):
    """Headers that announce the (large) shapes a hostile config implies, with no data; a
    foreign member beside a PixelVAE config."""
    from bbans_numba.pixelvae_config import PixelVAEConfig

    config = dict(json.loads(str(tiny_pixelvae_arrays()["config"])), image_shape=[2048, 2048], latent_dim=1 << 16,
                  decoder_hidden=[1 << 16])
    path = write_headers_only(tmp_path / "liar.npz", config, PixelVAEConfig.from_dict(config).array_shapes())
    with pytest.raises(ValueError, match="liar.npz: array '.*' is truncated"):
        load_model(path)
    with zipfile.ZipFile(tmp_path / "foreign.npz", "w") as archive:
        archive.writestr("config.npy", tiny_arrays_bytes(tiny_pixelvae_arrays()["config"]))
        archive.writestr("weights.pkl", b"\x80\x04")
    with pytest.raises(ValueError, match="foreign.npz: member 'weights.pkl' is not a .npy array"):
        load_model(tmp_path / "foreign.npz")


# Run in a fresh process: outputs for the sample images computed one row at a time and as a
# shuffled batch padded with other images; written as raw bytes for an exact comparison.
CHILD = """
import sys, numpy as np
from bbans_numba.model import load_model
from bbans_numba.datasets import load_images
model, images = load_model("mnist-mlp"), load_images("mnist:sample")
decode = lambda z: model.likelihood_spec.parameters(model.decoder_output(z))
noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim))
rows = [model.encode(images[i:i + 1]) for i in range(len(images))]
mean, std = (np.concatenate(part) for part in zip(*rows))
alpha, beta = (np.concatenate(part) for part in zip(*[decode((mean + std * noise)[i:i + 1]) for i in range(len(images))]))
padded = np.concatenate([images, images[::-1] // 2])
order = np.random.default_rng(1).permutation(len(padded))
inverse = np.argsort(order)
shuffled_mean, shuffled_std = (part[inverse][:len(images)] for part in model.encode(padded[order]))
z = np.concatenate([mean + std * noise, np.zeros((len(images), model.latent_dim))])
shuffled_alpha, shuffled_beta = (part[inverse][:len(images)] for part in decode(z[order]))
np.savez(sys.argv[1], mean=mean, std=std, alpha=alpha, beta=beta, shuffled_mean=shuffled_mean,
         shuffled_std=shuffled_std, shuffled_alpha=shuffled_alpha, shuffled_beta=shuffled_beta)
"""


def test_bit_identical_across_processes_threads_and_batches(model, images, tmp_path):
    noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim))
    mean, std = model.encode(images)
    alpha, beta = model.likelihood_spec.parameters(model.decoder_output(mean + std * noise))
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "child.npz")], check=True, env=env, cwd=REPO)
    with np.load(tmp_path / "child.npz") as child:
        for prefix in ("", "shuffled_"):
            for name, ours in (("mean", mean), ("std", std), ("alpha", alpha), ("beta", beta)):
                theirs = child[prefix + name]
                assert theirs.dtype == ours.dtype and theirs.tobytes() == ours.tobytes(), prefix + name

