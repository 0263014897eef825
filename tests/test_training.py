"""Training side: lgamma, the losses against SciPy, export to the codec, the command lines."""

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
import bbans_numba as bb
from bbans_numba.likelihoods.beta_binomial import keras_lgamma
from bbans_numba.model import load_model
from training.evaluate import negative_elbo_bits
from training.export import export_npz
from training.models import DEFAULT_RECIPE, RECIPES, VAE, build_model
from training.train import WallClock, output_paths, split_images

REPO = Path(__file__).resolve().parents[1]
TINY = dict(image_shape=(3, 4), latent_dim=2,
            architecture=dict(name="residual_mlp", hidden_units=6, residual_blocks=1, activation="elu"))
LIKELIHOODS = [dict(name="beta_binomial"), dict(name="logistic_mixture", num_components=3)]


def tiny_vae(likelihood, seed=3, **changes):
    keras.utils.set_random_seed(seed)
    vae = VAE(**dict(TINY, likelihood=likelihood, **changes))
    vae.build((None, vae.num_pixels))
    return vae


@pytest.fixture(scope="module", params=LIKELIHOODS, ids=lambda d: d["name"])
def vae(request):
    return tiny_vae(request.param)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, size=(5, 12)).astype(np.uint8)
    pixels[:, :3] = [0, 255, 128]  # both ends of the support and the middle
    return pixels, rng.standard_normal((5, 2)).astype(np.float32)


def test_lgamma_matches_scipy():
    x = np.geomspace(1e-6, 2e6, 400).astype(np.float32)
    ours = np.asarray(keras_lgamma(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(ours, special.gammaln(x.astype(np.float64)), rtol=2e-6, atol=2e-6)


def scipy_log_likelihood(likelihood, x, raw):
    """log p(x|z) per image straight from scipy.stats (independent of the unit's log-pmf)."""
    params = likelihood.parameters(raw)
    if likelihood.NAME == "beta_binomial":
        return stats.betabinom.logpmf(x, 255, *params).sum(axis=1)
    means, log_scales, logits = params
    scales, xs = np.exp(log_scales), x[..., None].astype(np.float64)
    upper = np.where(xs >= 255, 1.0, stats.logistic.cdf(xs + 0.5, means, scales))
    lower = np.where(xs <= 0, 0.0, stats.logistic.cdf(xs - 0.5, means, scales))
    return np.log(np.sum(special.softmax(logits, axis=-1) * (upper - lower), axis=-1)).sum(axis=1)


def test_loss_matches_scipy(vae, batch):
    """The Keras loss equals -log p(x|z) + KL(q || N(0, I)), per pixel in bits, from SciPy."""
    x, noise = batch
    likelihood = vae.model_config.likelihood
    loss = np.asarray(vae.negative_elbo_bits_per_dim(x, noise), dtype=np.float64)
    mean, std = (np.asarray(t, dtype=np.float64) for t in vae.posterior(x))
    raw = np.asarray(vae.decoder(mean + std * noise))
    log_likelihood = scipy_log_likelihood(likelihood, x, raw)
    # KL(q || p) = -H(q) - E_q[log p(z)], with E_q[log N(z; 0, 1)] = -(log 2 pi + mean^2 + std^2) / 2.
    kl = (-stats.norm(mean, std).entropy() + 0.5 * (math.log(2 * math.pi) + mean**2 + std**2)).sum(axis=1)
    expected = (kl - log_likelihood) / (12 * math.log(2))
    np.testing.assert_allclose(loss, expected, rtol=2e-5)
    np.testing.assert_allclose(negative_elbo_bits(likelihood.log_pmf(x, raw).sum(axis=1), mean, std, 12)[0],
                               expected, rtol=1e-9)


def test_keras_and_numpy_parameters_agree(vae, batch):
    raw = np.asarray(vae.decoder(batch[1]))
    likelihood = vae.model_config.likelihood
    for ours, theirs in zip(likelihood.parameters(raw), likelihood.keras_parameters(raw)):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6)


def test_training_reduces_the_loss(batch):
    vae = tiny_vae(LIKELIHOODS[1])
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.repeat(batch[0], 20, axis=0)
    history = vae.fit(x, batch_size=20, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("weight_dtype, rtol", [("float32", 1e-5), ("float16", 2e-2)])
def test_export_matches_keras(vae, batch, tmp_path, weight_dtype, rtol):
    x, noise = batch
    export_npz(vae, tmp_path / "tiny.npz", weight_dtype)
    model = load_model(tmp_path / "tiny.npz")
    assert model.config == vae.model_config
    mean, std = model.encode(x.reshape(5, 3, 4))
    keras_mean, keras_std = vae.posterior(x)
    np.testing.assert_allclose(mean, keras_mean, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(std, keras_std, rtol=rtol)
    np.testing.assert_allclose(model.decoder_output(mean), vae.decoder(mean.astype(np.float32)), rtol=rtol, atol=rtol)


def test_recipes_by_name():
    encoder = (784 * 500 + 500) + (500 * 2 * 50 + 2 * 50)
    decoder = (50 * 500 + 500) + (500 * 2 * 784 + 2 * 784)
    assert build_model("mlp-bb").count_params() == encoder + decoder
    assert {"mlp-bb", "resmlp-bb", "pixelvae"} <= set(RECIPES) and DEFAULT_RECIPE == "pixelvae"
    pixelvae = build_model(image_shape=(5, 6), overrides={"pixel_hidden": [7]})
    assert pixelvae.pixel_hidden == (7,) and pixelvae.features == RECIPES["pixelvae"]["model"]["features"]
    with pytest.raises(ValueError, match="unknown recipe 'cnn'"):
        build_model("cnn")
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        build_model("mlp-bb", overrides={"likelihood": "poisson"})
    with pytest.raises(ValueError, match="has no setting 'hidden_units'"):
        build_model("pixelvae", overrides={"hidden_units": 3})


def test_unsupported_activation_is_refused_before_training():
    with pytest.raises(ValueError, match="'activation' must be one of relu, elu; got 'swish'"):
        VAE(**dict(TINY, architecture=dict(TINY["architecture"], activation="swish"),
                   likelihood=dict(name="beta_binomial")))


def test_output_paths():
    assert output_paths("runs/m")[:2] == (Path("runs/m.keras"), Path("runs/m.npz"))
    assert output_paths("runs/m.keras") == output_paths("runs/m")
    assert output_paths("runs/m.v2") == tuple(Path("runs/m.v2" + s) for s in (".keras", ".npz", ".csv", ".json"))


def test_split_images():
    images = np.arange(40, dtype=np.uint8).reshape(10, 2, 2)
    train, validation = split_images(images, 0.2, None, seed=0)
    assert train.shape == (8, 4) and validation.shape == (2, 4)
    assert sorted(np.concatenate([train, validation])[:, 0]) == list(range(0, 40, 4))
    assert split_images(images, 0.5, 4, seed=0)[0].shape == (2, 4)
    with pytest.raises(ValueError, match="cannot be split"):
        split_images(images, 0.5, 1, seed=0)


def test_time_budget_stops_within_the_budget():
    class FakeModel:
        stop_training = False
        optimizer = keras.optimizers.Adam(1e-3)

    clock = WallClock(budget_seconds=3600.0)
    clock.set_model(FakeModel())
    clock.on_train_begin()
    clock.on_epoch_begin(0)
    clock.on_train_batch_end(0)
    clock.on_epoch_end(0, {"loss": 2.0})
    assert not clock.model.stop_training  # an hour left, the epoch took a moment
    clock.longest_epoch = 3600.0  # the next epoch would not end within the budget
    clock.on_epoch_end(1, {"loss": 2.0})
    assert clock.model.stop_training
    clock = WallClock(budget_seconds=0.0)
    clock.set_model(FakeModel())
    clock.on_train_begin()
    clock.on_train_batch_end(0)  # mid-epoch, at the latest after the batch during which it ran out
    assert clock.model.stop_training


def test_logistic_mixture_vae_exports_and_codes_losslessly(tmp_path):
    """The fast version of the end-to-end proof: training code -> export -> bb.compress -> decompress."""
    keras.utils.set_random_seed(0)
    vae = build_model("mlp-bb", overrides={"likelihood": {"name": "logistic_mixture", "num_components": 2}})
    export_npz(vae, tmp_path / "lm.npz")
    images = bb.load_images("mnist:sample")[:3]
    blob = bb.compress(images, model=tmp_path / "lm.npz")
    assert np.array_equal(bb.decompress(blob, model=tmp_path / "lm.npz"), images)


def run_module(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_and_evaluate_end_to_end(tmp_path):
    """Train (from a directory other than the repository), export, evaluate both files the same."""
    log = run_module("training.train", "--data", "mnist:sample", "--model", "mlp-bb", "--epochs", "2",
                     "--time-budget", "0", "--limit", "64", "--out", "run/tiny", "--batch-size", "32",
                     cwd=tmp_path)
    out = tmp_path / "run" / "tiny"
    assert "parameters" in log and "epoch 1/2: loss " in log and "validation loss" in log and "bits/dim" in log
    assert "bits/image" in log and "stopping after epoch 1" in log and "epoch 2/2" not in log
    assert load_model(f"{out}.npz").latent_dim == 50
    reports = [run_module("training.evaluate", "--model", path, "--data", "mnist:sample", "--limit", "8",
                          "--samples", "2") for path in (f"{out}.npz", f"{out}.keras")]
    # Same float32 weights, same noise: the Numba and Keras forward passes print the same figures.
    assert "bits/dim: single sample" in reports[0]
    assert reports[0].splitlines()[1:] == reports[1].splitlines()[1:]
