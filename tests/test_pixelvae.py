"""PixelVAE: Keras loss against the NumPy reference, causality of the neighbourhood, export."""

import json

import numpy as np
import pytest

from training import pixelvae_reference as ref
from training.pixelvae import compiled_elbo_terms, build_pixelvae, export_arrays, export_npz, load_npz

SHAPE = (5, 6)
TINY = dict(image_shape=SHAPE, latent_dim=3, features=2, encoder_hidden=(8,), decoder_hidden=(7,),
            rows_above=2, half_width=1, left=2, pixel_hidden=(9, 5))


def tiny(**overrides):
    model = build_pixelvae(**dict(TINY, **overrides))
    # random (not initial) weights so that every term of the forward pass matters
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def images(count, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (count,) + SHAPE, dtype=np.uint8)
    x[0] = 0
    x[1] = 255
    return x


@pytest.mark.parametrize("overrides", [
    dict(head="logistic", components=3),
    dict(head="categorical"),
    dict(latent_dim=0, head="logistic", components=2),
    dict(rows_above=0, half_width=0, left=0, head="logistic", components=2),
])
def test_keras_loss_equals_numpy_reference(overrides):
    model = tiny(**overrides)
    config, arrays = ref_config(model)
    x = images(4)
    noise = np.random.default_rng(2).standard_normal((4, model.latent_dim)).astype(np.float32)
    keras_terms = np.asarray(compiled_elbo_terms(model)(x.reshape(4, -1), noise))
    nll, kl = ref.negative_elbo_bits(config, arrays, x, noise)
    np.testing.assert_allclose(keras_terms[:, 0], nll, rtol=1e-4)
    np.testing.assert_allclose(keras_terms[:, 1], kl, rtol=1e-4, atol=1e-4)


def ref_config(model):
    arrays = export_arrays(model)
    return json.loads(str(arrays.pop("config"))), arrays


def test_head_pmf_sums_to_one():
    model = tiny(head="logistic", components=3)
    config, arrays = ref_config(model)
    raw = ref.head_params(config, arrays, images(2), np.zeros((2, 3), np.float32))
    total = np.exp(ref.head_log_pmf(config, raw)).sum(axis=-1)
    np.testing.assert_allclose(total, 1.0, rtol=1e-9)


def test_neighbourhood_is_causal():
    model = tiny(head="logistic", components=2)
    config, arrays = ref_config(model)
    z = np.zeros((1, 3), np.float32)
    base = images(3)[2:3]
    before = ref.head_params(config, arrays, base, z)[0]
    influenced = 0
    for i in range(base[0].size):
        changed = base.copy().reshape(1, -1)
        changed[0, i] = 255 - changed[0, i]
        after = ref.head_params(config, arrays, changed.reshape(base.shape), z)[0]
        np.testing.assert_array_equal(after[:i + 1], before[:i + 1])
        influenced += not np.array_equal(after[i + 1:], before[i + 1:])
    assert influenced == base[0].size - 1  # every pixel but the last is someone's neighbour


def test_reference_neighbourhood_matches_keras_gathering():
    from training.pixelvae import causal_neighbourhood
    offsets = [(-2, -1), (-2, 0), (-2, 1), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1)]
    x = images(2)
    keras_n = np.asarray(causal_neighbourhood(x.astype(np.float32) / np.float32(255), offsets))
    np.testing.assert_array_equal(keras_n, ref.neighbourhood(x, offsets))


def test_export_round_trip(tmp_path):
    model = tiny(head="logistic", components=2)
    export_npz(model, tmp_path / "m.npz")
    config, arrays = load_npz(tmp_path / "m.npz")
    assert config["offsets"][0] == [-2, -1] and config["head"] == "logistic"
    assert all(a.dtype == np.float32 for a in arrays.values())
    np.testing.assert_array_equal(arrays["pixel.output.kernel"], model.pixel_out.get_weights()[0])


def test_train_command_writes_checkpoint_and_codec_model(tmp_path, capsys):
    """``training.train`` trains the default recipe (a PixelVAE) within a tiny time budget:
    OUT.keras and OUT.npz written, the .npz loads as the codec's model, KL reported."""
    from bbans_numba.pixelvae import load_pixelvae
    from training import train

    sizes = json.dumps(dict(latent_dim=2, features=2, encoder_hidden=[8], decoder_hidden=[8], rows_above=1,
                            half_width=1, left=1, pixel_hidden=[8], components=2))
    train.main(["--data", "mnist:sample", "--out", str(tmp_path / "run" / "tiny"), "--limit", "40", "--epochs", "3",
                "--time-budget", "0.001", "--set", sizes, "--test", "mnist:sample"])
    log = capsys.readouterr().out
    assert "PixelVAE" in log and "epoch 1/3: loss " in log and "bits/image" in log
    assert "stopping after epoch 1" in log and "epoch 2/3" not in log
    model = load_pixelvae(tmp_path / "run" / "tiny.npz")
    assert model.config["pixel_hidden"] == [8] and len(model.offsets) == 4 and model.latent_dim == 2
    result = json.loads((tmp_path / "run" / "tiny.json").read_text())
    assert result["recipe"] == "pixelvae" and result["validation_images"] == 2 and result["best_epoch"] == 1
    assert 0 < result["test_bits_per_dim"] < 9 and result["test_kl_bits_per_image"] >= 0
    assert (tmp_path / "run" / "tiny.keras").exists() and (tmp_path / "run" / "tiny.csv").exists()
