"""The coding-time model: shipped weights, outputs, validation, bit-exact reproducibility."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bbans_numba.datasets import load_images
from bbans_numba.model import (
    BETA_BINOMIAL_MAX,
    BETA_BINOMIAL_MIN,
    FORMAT_VERSION,
    STD_MAX,
    STD_MIN,
    available_models,
    fingerprint_arrays,
    load_model,
    network_layer_names,
)

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = dict(format_version=FORMAT_VERSION, image_shape=[3, 4], latent_dim=2, hidden_units=5,
                   residual_blocks=1, activation="elu", likelihood="beta_binomial", num_components=1)


def tiny_arrays(**config_changes):
    """A valid exported model with random weights, as a name -> array dict."""
    config = dict(TINY_CONFIG, **config_changes)
    rng = np.random.default_rng(1)
    pixels, latent, hidden = int(np.prod(config["image_shape"])), config["latent_dim"], config["hidden_units"]
    arrays = {"config": np.array(json.dumps(config))}
    for network, inputs, outputs in (("encoder", pixels, 2 * latent), ("decoder", latent, 2 * pixels)):
        names = network_layer_names(network, config["residual_blocks"])
        sizes = [inputs] + [hidden] * (len(names) - 1) + [outputs]
        for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
            arrays[f"{name}.kernel"] = rng.normal(size=(fan_in, fan_out)).astype(np.float32)
            arrays[f"{name}.bias"] = rng.normal(size=fan_out).astype(np.float32)
    return arrays


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def images():
    return load_images("mnist:sample")


def test_shipped_model(model):
    assert {"mnist", "mnist-fast"} <= set(available_models())
    assert model.name == "mnist" and model.image_shape == (28, 28) and model.latent_dim == 50
    assert model.likelihood == "beta_binomial" and model.num_components == 1
    assert model.path.stat().st_size <= 10 * 2**20
    with np.load(model.path) as archive:
        assert model.fingerprint == fingerprint_arrays({key: archive[key] for key in archive.files})
    assert len(model.fingerprint) == 64 and int(model.fingerprint, 16) >= 0


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
    alpha, beta = model.decode(mean + std)
    assert alpha.shape == beta.shape == (100, 784) and alpha.dtype == beta.dtype == np.float64
    for param in (alpha, beta):
        assert ((param >= BETA_BINOMIAL_MIN) & (param <= BETA_BINOMIAL_MAX)).all()


def test_extreme_latents_stay_in_range(model):
    alpha, beta = model.decode(np.full((2, 50), 1e4) * [[1], [-1]])
    assert ((alpha >= BETA_BINOMIAL_MIN) & (alpha <= BETA_BINOMIAL_MAX)).all() and np.isfinite(beta).all()


def test_input_checks(model, images):
    with pytest.raises(ValueError, match="uint8 images of shape"):
        model.encode(images.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 images of shape"):
        model.encode(images[:, :27])
    with pytest.raises(ValueError, match=r"latents of shape \(B, 50\)"):
        model.decode(np.zeros((3, 49)))


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
    alpha, beta = tiny.decode(mean)
    np.testing.assert_allclose(alpha, np.clip(softplus(raw[:, :12]), BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX), rtol=1e-4)
    np.testing.assert_allclose(beta, np.clip(softplus(raw[:, 12:]), BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX), rtol=1e-4)


def test_float16_weights_are_accepted(tmp_path):
    arrays = {key: (value.astype(np.float16) if key != "config" else value) for key, value in tiny_arrays().items()}
    np.savez(tmp_path / "half.npz", **arrays)
    assert load_model(tmp_path / "half.npz").encode(np.zeros((1, 3, 4), dtype=np.uint8))[1].shape == (1, 2)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("config"), "no 'config' entry"),
    (lambda a: a.update(config=np.array("{not json")), "not valid JSON"),
    (lambda a: a.update(config=np.array(json.dumps({"latent_dim": 2}))), "config lacks"),
    (lambda a: a.update(config=np.array(json.dumps(dict(TINY_CONFIG, format_version=99)))), "version 99"),
    (lambda a: a.update(config=np.array(json.dumps(dict(TINY_CONFIG, likelihood="poisson")))), "unknown likelihood"),
    (lambda a: a.update(config=np.array(json.dumps(dict(TINY_CONFIG, activation="swish")))), "unknown activation"),
    (lambda a: a.pop("decoder.block0.inner.bias"), "missing array 'decoder.block0.inner.bias'"),
    (lambda a: a.update({"encoder.input.kernel": np.zeros((12, 6), np.float32)}), r"expected float32 or float16 \(12, 5\)"),
    (lambda a: a.update({"encoder.output.bias": np.zeros(4, np.float64)}), "is float64"),
    (lambda a: a["decoder.output.kernel"].__setitem__((0, 0), np.nan), "non-finite"),
])
def test_invalid_files_name_the_file_and_problem(tmp_path, change, message):
    arrays = tiny_arrays()
    change(arrays)
    path = tmp_path / "broken_model.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as error:
        load_model(path)
    assert "broken_model.npz" in str(error.value)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npz: not a readable .npz"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="not a shipped model"):
        load_model(tmp_path / "absent.npz")


# Run in a fresh process: outputs for the sample images computed one row at a time and as a
# shuffled batch padded with other images; written as raw bytes for an exact comparison.
CHILD = """
import sys, numpy as np
from bbans_numba.model import load_model
from bbans_numba.datasets import load_images
model, images = load_model(), load_images("mnist:sample")
noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim))
rows = [model.encode(images[i:i + 1]) for i in range(len(images))]
mean, std = (np.concatenate(part) for part in zip(*rows))
alpha, beta = (np.concatenate(part) for part in zip(*[model.decode((mean + std * noise)[i:i + 1]) for i in range(len(images))]))
padded = np.concatenate([images, images[::-1] // 2])
order = np.random.default_rng(1).permutation(len(padded))
inverse = np.argsort(order)
shuffled_mean, shuffled_std = (part[inverse][:len(images)] for part in model.encode(padded[order]))
z = np.concatenate([mean + std * noise, np.zeros((len(images), model.latent_dim))])
shuffled_alpha, shuffled_beta = (part[inverse][:len(images)] for part in model.decode(z[order]))
np.savez(sys.argv[1], mean=mean, std=std, alpha=alpha, beta=beta, shuffled_mean=shuffled_mean,
         shuffled_std=shuffled_std, shuffled_alpha=shuffled_alpha, shuffled_beta=shuffled_beta)
"""


def test_bit_identical_across_processes_threads_and_batches(model, images, tmp_path):
    noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim))
    mean, std = model.encode(images)
    alpha, beta = model.decode(mean + std * noise)
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "child.npz")], check=True, env=env, cwd=REPO)
    with np.load(tmp_path / "child.npz") as child:
        for prefix in ("", "shuffled_"):
            for name, ours in (("mean", mean), ("std", std), ("alpha", alpha), ("beta", beta)):
                theirs = child[prefix + name]
                assert theirs.dtype == ours.dtype and theirs.tobytes() == ours.tobytes(), prefix + name
