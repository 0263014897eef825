"""Training side: lgamma, the loss against SciPy, export to the codec, the command lines."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

import training  # noqa: F401  (sets KERAS_BACKEND)
import keras
from bbans_numba.model import load_model
from training.evaluate import negative_elbo_bits
from training.export import export_npz
from training.models import BetaBinomialVAE, build_vae, lgamma
from training.train import output_paths, split_images

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_vae():
    keras.utils.set_random_seed(3)
    vae = BetaBinomialVAE(image_shape=(3, 4), latent_dim=2, hidden_units=6, residual_blocks=1, activation="elu")
    vae(np.zeros((1, 12), dtype=np.uint8))
    return vae


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(5, 12)).astype(np.uint8)
    pixels[:, :3] = [0, 255, 128]  # both ends of the support and the middle
    return pixels, rng.standard_normal((5, 2)).astype(np.float32)


def test_lgamma_matches_scipy():
    x = np.geomspace(1e-6, 2e6, 400).astype(np.float32)
    ours = np.asarray(lgamma(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(ours, special.gammaln(x.astype(np.float64)), rtol=2e-6, atol=2e-6)


def test_loss_matches_scipy(tiny_vae, batch):
    """The Keras loss equals -log betabinom(x) + KL(q || N(0, I)), per pixel in bits, from SciPy."""
    x, noise = batch
    loss = np.asarray(tiny_vae.negative_elbo_bits_per_dim(x, noise), dtype=np.float64)
    mean, std = (np.asarray(t, dtype=np.float64) for t in tiny_vae.posterior(x))
    alpha, beta = (np.asarray(t, dtype=np.float64) for t in tiny_vae.likelihood(mean + std * noise))
    log_likelihood = stats.betabinom.logpmf(x, 255, alpha, beta).sum(axis=1)
    # KL(q || p) = -H(q) - E_q[log p(z)], with E_q[log N(z; 0, 1)] = -(log 2 pi + mean^2 + std^2) / 2.
    kl = (-stats.norm(mean, std).entropy() + 0.5 * (math.log(2 * math.pi) + mean**2 + std**2)).sum(axis=1)
    expected = (kl - log_likelihood) / (12 * math.log(2))
    np.testing.assert_allclose(loss, expected, rtol=2e-5)
    np.testing.assert_allclose(negative_elbo_bits(x, mean, std, alpha, beta)[0], expected, rtol=1e-12)


def test_training_reduces_the_loss(tiny_vae, batch):
    vae = BetaBinomialVAE(image_shape=(3, 4), latent_dim=2, hidden_units=6, residual_blocks=1, activation="elu")
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.repeat(batch[0], 20, axis=0)
    history = vae.fit(x, batch_size=20, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("weight_dtype, rtol", [("float32", 1e-5), ("float16", 2e-2)])
def test_export_matches_keras(tiny_vae, batch, tmp_path, weight_dtype, rtol):
    x, noise = batch
    export_npz(tiny_vae, tmp_path / "tiny.npz", weight_dtype)
    model = load_model(tmp_path / "tiny.npz")
    assert model.image_shape == (3, 4) and model.latent_dim == 2
    mean, std = model.encode(x.reshape(5, 3, 4))
    keras_mean, keras_std = tiny_vae.posterior(x)
    np.testing.assert_allclose(mean, keras_mean, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(std, keras_std, rtol=rtol)
    for ours, theirs in zip(model.decode(mean), tiny_vae.likelihood(mean.astype(np.float32))):
        np.testing.assert_allclose(ours, theirs, rtol=rtol)


def test_architectures_by_name():
    encoder = (784 * 500 + 500) + (500 * 2 * 50 + 2 * 50)
    decoder = (50 * 500 + 500) + (500 * 2 * 784 + 2 * 784)
    assert build_vae("mlp-bb").count_params() == encoder + decoder
    with pytest.raises(ValueError, match="unknown architecture 'cnn'"):
        build_vae("cnn")


def test_output_paths():
    assert output_paths("runs/m") == (Path("runs/m.keras"), Path("runs/m.npz"))
    assert output_paths("runs/m.keras") == (Path("runs/m.keras"), Path("runs/m.npz"))
    assert output_paths("runs/m.v2") == (Path("runs/m.v2.keras"), Path("runs/m.v2.npz"))


def test_split_images():
    images = np.arange(40, dtype=np.uint8).reshape(10, 2, 2)
    train, validation = split_images(images, 0.2, None, seed=0)
    assert train.shape == (8, 4) and validation.shape == (2, 4)
    assert sorted(np.concatenate([train, validation])[:, 0]) == list(range(0, 40, 4))
    assert split_images(images, 0.5, 4, seed=0)[0].shape == (2, 4)
    with pytest.raises(ValueError, match="cannot be split"):
        split_images(images, 0.5, 1, seed=0)


def run_module(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_and_evaluate_end_to_end(tmp_path):
    out = tmp_path / "run" / "tiny"
    log = run_module("training.train", "--data", "mnist:sample", "--model", "mlp-bb", "--epochs", "1",
                     "--limit", "64", "--out", str(out), "--batch-size", "32")
    assert "parameters" in log and "val_loss" in log
    assert load_model(f"{out}.npz").latent_dim == 50
    reports = [run_module("training.evaluate", "--model", path, "--data", "mnist:sample", "--limit", "8",
                          "--samples", "2") for path in (f"{out}.npz", f"{out}.keras")]
    # Same float32 weights, same noise: the Numba and Keras forward passes print the same figures.
    assert "bits/dim: single sample" in reports[0]
    assert reports[0].splitlines()[1:] == reports[1].splitlines()[1:]
