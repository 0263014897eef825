"""BB-ANS round trips: lossless for every input, clear errors for everything else."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bbans_numba as bb
from bbans_numba import container, container_v2
from bbans_numba.bbans import VAECodec, deal, file_info, ramp
from bbans_numba.model import load_model, network_layer_names
from bbans_numba.settings import CodingSettings


def write_random_model(path, hidden_units=32, latent_dim=8, seed=0):
    """A small untrained model in the exported format: codes anything, just not well."""
    rng = np.random.default_rng(seed)
    config = dict(format_version=1, image_shape=[28, 28], latent_dim=latent_dim, hidden_units=hidden_units,
                  residual_blocks=0, activation="relu", likelihood="beta_binomial", num_components=1)
    arrays = {"config": np.array(json.dumps(config))}
    for network, inputs, outputs in (("encoder", 784, 2 * latent_dim), ("decoder", latent_dim, 2 * 784)):
        sizes = [inputs, hidden_units, outputs]
        for name, fan_in, fan_out in zip(network_layer_names(network, 0), sizes[:-1], sizes[1:]):
            arrays[f"{name}.kernel"] = (rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
            arrays[f"{name}.bias"] = np.zeros(fan_out, dtype=np.float32)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    return load_model(write_random_model(tmp_path_factory.mktemp("models") / "random.npz"))


@pytest.fixture(scope="module")
def mnist_images():
    return bb.load_images("mnist:sample")[:40]


def assert_round_trip(images, **kwargs):
    blob = bb.compress(images, **kwargs)
    restored = bb.decompress(blob, model=kwargs.get("model"))
    assert restored.dtype == np.uint8
    assert np.array_equal(restored, images)
    return blob


@pytest.mark.parametrize("quantizer", ["exact", "histogram"])
def test_mnist_round_trip_with_shipped_model(mnist_images, quantizer):
    blob = assert_round_trip(mnist_images, model="mnist", lanes=8, quantizer=quantizer)
    bits_per_dim = 8 * len(blob) / mnist_images.size
    assert bits_per_dim < 2.5  # a trained model: far below 8 bits raw (fixed overheads dominate 40 images)


def test_decompress_takes_model_from_file(mnist_images):
    blob = bb.compress(mnist_images[:5])
    assert np.array_equal(bb.decompress(blob), mnist_images[:5])


@pytest.mark.parametrize(
    "make_images",
    [
        lambda rng: rng.integers(0, 256, size=(13, 28, 28), dtype=np.uint8),  # noise
        lambda rng: np.zeros((7, 28, 28), dtype=np.uint8),  # all black
        lambda rng: np.full((7, 28, 28), 255, dtype=np.uint8),  # all white
        lambda rng: rng.integers(0, 256, size=(1, 28, 28), dtype=np.uint8),  # a single image
    ],
    ids=["noise", "black", "white", "single"],
)
@pytest.mark.parametrize("quantizer", ["exact", "histogram"])
def test_images_no_model_was_trained_for(random_model, make_images, quantizer):
    images = make_images(np.random.default_rng(7))
    assert_round_trip(images, model=random_model, lanes=4, quantizer=quantizer)
    assert_round_trip(images, model="mnist", lanes=3, quantizer=quantizer)


@given(
    count=st.integers(0, 12),
    lanes=st.integers(1, 16),
    bucket_bits=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=15)
def test_round_trip_any_count_lanes_and_buckets(random_model, count, lanes, bucket_bits, seed):
    rng = np.random.default_rng(seed)
    images = (rng.random((count, 28, 28)) ** rng.uniform(0.2, 5) * 256).astype(np.uint8)
    assert_round_trip(images, model=random_model, lanes=lanes, bucket_bits=bucket_bits,
                      latent_precision_bits=max(bucket_bits, 14))


def test_empty_input_round_trips(random_model):
    images = np.zeros((0, 28, 28), dtype=np.uint8)
    assert bb.decompress(bb.compress(images, model=random_model), model=random_model).shape == (0, 28, 28)


def test_info_reports_counts_and_overheads(mnist_images):
    blob = bb.compress(mnist_images, lanes=4, chunk_images=30)
    info = file_info(blob)
    assert info["format_version"] == 2 and info["model"] == "mnist" and info["chunks"] == 2
    assert info["count"] == len(mnist_images)
    assert info["lanes"] == 4 and info["flush_bits"] == 64 * (4 + 4)
    assert info["initial_bits"] == 0 and info["pad_words"] == 0  # version 2 never borrows
    assert info["bits_per_dim"] == pytest.approx(8 * len(blob) / mnist_images.size)
    assert info["header_bytes"] + info["payload_bytes"] == len(blob)


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((2, 32, 32), dtype=np.uint8), "shape \\(28, 28\\)"),
        (np.zeros((2, 28, 28, 3), dtype=np.uint8), "shape \\(28, 28\\)"),
        (np.zeros((2, 28, 28), dtype=np.float32), "uint8"),
        (np.zeros((28, 28), dtype=np.uint8), "shape"),
    ],
)
def test_bad_images_are_rejected(images, match):
    with pytest.raises(ValueError, match=match):
        bb.compress(images)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lanes=0), "lanes"),
        (dict(lanes=2.5), "lanes"),
        (dict(quantizer="nearest"), "method"),
        (dict(bucket_bits=0), "bucket_bits"),
        (dict(quantizer="exact", bucket_bits=12, latent_precision_bits=10), "precision_bits >= bucket_bits"),
        (dict(pixel_precision_bits=7), "pixel_precision_bits"),
    ],
)
def test_bad_settings_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bb.compress(np.zeros((2, 28, 28), dtype=np.uint8), **kwargs)


def test_different_model_is_refused_by_id(mnist_images, random_model):
    blob = bb.compress(mnist_images[:3])
    with pytest.raises(container.ContainerError, match="model id .* but model 'random' has id"):
        bb.decompress(blob, model=random_model)


def test_missing_model_is_named_by_id(mnist_images, random_model, tmp_path):
    blob = bb.compress(mnist_images[:3], model=random_model)
    wanted = random_model.fingerprint[:16]
    with pytest.raises(container.ContainerError, match=f"model id {wanted}, which is not a shipped model.*model=..."):
        bb.decompress(blob)
    assert np.array_equal(bb.decompress(blob, model=random_model.path), mnist_images[:3])


def test_a_model_sharing_the_id_but_not_the_fingerprint_is_caught(mnist_images, monkeypatch):
    """The file stores 8 bytes of the fingerprint; the pixel CRC, seeded with all 32, checks the rest."""
    blob = bb.compress(mnist_images[:3])
    model = bb.load_model("mnist")
    model.fingerprint = model.fingerprint[:16] + "0" * 48  # same id, same weights, another fingerprint
    with pytest.raises(container.ContainerError, match="differs beyond the 8 bytes of its id"):
        bb.decompress(blob, model=model)


def test_a_v2_file_names_no_path_only_a_model_id(mnist_images, random_model, monkeypatch):
    """Version 2 stores no name at all: the decoder only loads shipped models, to compare their ids."""
    blob = bb.compress(mnist_images[:2], model=random_model)
    opened = []
    real_load = bb.chunks.load_model
    monkeypatch.setattr(bb.chunks, "load_model", lambda name: opened.append(name) or real_load(name))
    monkeypatch.setattr(bb.chunks, "_SHIPPED_MODELS", {})
    with pytest.raises(container.ContainerError, match="not a shipped model"):
        bb.decompress(blob)
    assert opened and set(opened) <= set(bb.model.available_models())


def with_chunks(blob, **changes):
    """A version-2 ``blob`` whose first chunk entry has fields replaced (header CRC recomputed)."""
    header, header_bytes = container_v2.read_header(blob)
    first = dataclasses.replace(header.chunks[0], **changes)
    header = dataclasses.replace(header, chunks=(first, *header.chunks[1:]))
    return header.to_bytes() + blob[header_bytes:]


def test_header_claims_are_checked_against_the_payload(mnist_images):
    blob = bb.compress(mnist_images[:6], lanes=3)
    assert np.array_equal(bb.decompress(with_chunks(blob)), mnist_images[:6])
    with pytest.raises(container.ContainerError, match="chunk 0 is corrupted"):
        payload_bytes = container_v2.read_header(blob)[0].chunks[0].payload_bytes
        bb.decompress(with_chunks(blob, lanes=2, payload_bytes=payload_bytes))
    with pytest.raises(container.ContainerError, match="chunk 0 is corrupted"):
        bb.decompress(with_chunks(blob, count=5))
    with pytest.raises(container.ContainerError, match="chunk 0 is corrupted"):
        bb.decompress(with_chunks(blob, pad_words=1))


def test_settings_defaults_are_resolved_once(mnist_images):
    """compress() and CodingSettings() agree on every default (the latent precision depends on the quantizer)."""
    for quantizer in ("exact", "histogram"):
        stored = container_v2.read_header(bb.compress(mnist_images[:2], quantizer=quantizer))[0].settings
        assert CodingSettings.from_header(stored) == CodingSettings(quantizer=quantizer)
    assert CodingSettings(quantizer="exact").latent_precision_bits == 20
    assert CodingSettings(quantizer="exact", bucket_bits=14).latent_precision_bits == 24


def test_more_lanes_than_images_codes_one_image_per_lane(mnist_images):
    assert file_info(bb.compress(mnist_images[:5], lanes=100_000))["lanes"] == 5


def test_chains_is_a_deprecated_name_for_lanes(mnist_images):
    with pytest.warns(DeprecationWarning, match="use lanes="):
        blob = bb.compress(mnist_images[:7], chains=3)
    assert blob == bb.compress(mnist_images[:7], lanes=3)


def test_the_codec_is_symmetric_on_a_message_that_holds_other_data(random_model, mnist_images):
    """push then pop returns the images and leaves the message exactly as it was."""
    codec = VAECodec(random_model, CodingSettings(bucket_bits=6))
    message = bb.Message(num_lanes=4)
    bb.codecs.Uniform(8).push(message, np.arange(8).reshape(4, 2))
    before = message.copy()
    done = []
    codec.push(message, mnist_images[:10], progress=lambda *args: done.append(args))
    assert done == [(4, 10), (8, 10), (10, 10)]
    assert np.array_equal(codec.pop(message, 10, progress=lambda *args: done.append(args)), mnist_images[:10])
    assert done[3:] == [(2, 10), (6, 10), (10, 10)]
    assert message == before


def test_images_are_dealt_to_lanes_in_rounds():
    assert deal(0, 3) == []
    assert deal(7, 3) == [slice(0, 3), slice(3, 6), slice(6, 7)]
    assert deal(2, 64) == [slice(0, 2)]


def test_a_chunk_ramps_up_from_one_image_to_its_lanes():
    assert ramp(0, 4) == []
    assert ramp(1, 1) == [slice(0, 1)]
    assert [r.stop - r.start for r in ramp(40, 16)] == [1, 2, 4, 8, 16, 9]
    assert [r.stop - r.start for r in ramp(5, 1)] == [1, 1, 1, 1, 1]


def test_a_chunk_codes_from_nothing_and_returns_to_nothing(random_model, mnist_images):
    """push_chunk never borrows from the underflow generator; pop_chunk leaves the fresh message."""
    from bbans_numba.chunks import fresh_message

    codec = VAECodec(random_model)
    done = []
    message = fresh_message(lanes=4, checksum=12345)
    codec.push_chunk(message, mnist_images[:10], progress=lambda *args: done.append(args))
    assert message.underflow_words == 0
    assert done == [(1, 10), (3, 10), (7, 10), (10, 10)]
    assert np.array_equal(codec.pop_chunk(message, 10), mnist_images[:10])
    assert message == fresh_message(lanes=4, checksum=12345)


def test_decode_in_another_process_with_one_thread(tmp_path, mnist_images):
    """Probabilities must not depend on the process, batch split or thread count."""
    images = np.concatenate([mnist_images, np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)])
    np.save(tmp_path / "in.npy", images)
    (tmp_path / "file.bbans").write_bytes(bb.compress(images, lanes=7))
    script = textwrap.dedent(
        f"""
        import numpy as np, bbans_numba as bb
        out = bb.decompress(open({str(tmp_path / 'file.bbans')!r}, 'rb').read())
        assert np.array_equal(out, np.load({str(tmp_path / 'in.npy')!r})), 'pixels differ'
        print('identical')
        """
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "identical" in result.stdout


@pytest.fixture(scope="module")
def small_blob(random_model):
    images = np.random.default_rng(3).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    return images, bb.compress(images, model=random_model, lanes=3)


@given(data=st.data())
@settings(max_examples=30)
def test_corrupted_files_raise_clear_errors(random_model, small_blob, data):
    images, blob = small_blob
    kind = data.draw(st.sampled_from(["flip", "truncate", "append", "magic"]))
    corrupted = bytearray(blob)
    if kind == "flip":
        position = data.draw(st.integers(0, 8 * len(blob) - 1))
        corrupted[position // 8] ^= 1 << (position % 8)
    elif kind == "truncate":
        corrupted = corrupted[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "append":
        corrupted += data.draw(st.binary(min_size=1, max_size=16))
    else:
        corrupted[:4] = b"GIF8"
    with pytest.raises(ValueError):  # ContainerError is a ValueError; never another exception
        bb.decompress(bytes(corrupted), model=random_model)


@given(seed=st.integers(0, 2**32 - 1), words=st.integers(0, 3000))
@settings(max_examples=10)
def test_garbage_payload_with_valid_checksums_is_refused(random_model, small_blob, seed, words):
    """A payload that passes every header check but is not what the encoder wrote still never decodes."""
    _, blob = small_blob
    header, header_bytes = container_v2.read_header(blob)
    (chunk,) = header.chunks
    rng = np.random.default_rng(seed)
    heads = rng.integers(2**31, 2**63, chunk.lanes, dtype=np.uint64).astype("<u8").tobytes()
    garbage = heads + rng.integers(0, 2**32, words + chunk.count, dtype=np.uint32).astype("<u4").tobytes()
    with pytest.raises(container.ContainerError, match="chunk 0"):
        bb.decompress(blob[:header_bytes] + garbage, model=random_model)
