"""Hostile image sources: every one ends in a ValueError naming the file, with bounded memory.

Lying headers (IDX, .npy, PNG) are refused from the header, before the data is read; gzip
bombs are refused after reading at most what the header claims; palette PNGs come back as
their colours; a folder mixing PNG modes or sizes is refused, naming the odd file.
"""

import gzip
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bbans_numba import datasets
from bbans_numba.datasets import load_images

RNG = np.random.default_rng(1)
IMAGES = RNG.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
# Peak traced memory (bytes) allowed to load a tiny hostile file: far below what its header claims.
SMALL_PEAK = 4 << 20


def idx_bytes(shape, data=b"", type_code=0x08):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, depth=8, colour_type=0, raw=b""):
    """A PNG with the given IHDR and one IDAT holding ``raw`` (filter bytes included) deflated."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def peak_memory_of(function):
    """Run ``function`` (which must raise ValueError) and return (error, peak traced bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            function()
        return error.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- IDX ---------------------------------------------------------------------------------
def test_gzip_idx_bomb_is_refused_without_reading_it_whole(tmp_path):
    # 3 images claimed, then 64 MB of zeros (a 64 KB file): refused after reading what the header claims.
    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(idx_bytes(IMAGES.shape, IMAGES.tobytes()))
        zeros = bytes(1 << 20)
        for _ in range(64):
            stream.write(zeros)
    assert path.stat().st_size < 1 << 17
    error, peak = peak_memory_of(lambda: load_images(path))
    assert "bomb-idx3-ubyte.gz" in str(error) and "more data" in str(error)
    assert peak < SMALL_PEAK


def test_idx_claim_above_the_source_limit_is_refused_from_the_header(tmp_path, monkeypatch):
    # An honest file, but larger than the documented limit (lowered here to keep the test small).
    monkeypatch.setattr(datasets, "MAX_SOURCE_BYTES", 1 << 20)
    path = tmp_path / "big-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes((2, 1024, 1024), bytes(2 << 20))))
    error, peak = peak_memory_of(lambda: load_images(path))
    assert "big-idx3-ubyte.gz" in str(error) and "MAX_SOURCE_BYTES" in str(error)
    assert peak < SMALL_PEAK


def test_gzip_idx_claim_beyond_deflates_ratio_is_refused_from_the_header(tmp_path):
    path = tmp_path / "liar-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes((100, 1000, 1000))))
    error, peak = peak_memory_of(lambda: load_images(path))
    assert "liar-idx3-ubyte.gz" in str(error) and "deflate" in str(error)
    assert peak < SMALL_PEAK


@pytest.mark.parametrize("shape", [(1 << 16,) * 4, (1 << 32) - 1, ((1 << 32) - 1, 1 << 31, 2)],
                         ids=["2**64", "rank3-wraps", "2**95"])
def test_idx_dimension_product_does_not_overflow(tmp_path, shape):
    shape = shape if isinstance(shape, tuple) else (shape, shape, shape)
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(idx_bytes(shape))
    with pytest.raises(ValueError, match="claims") as error:
        load_images(path)
    assert "huge-idx3-ubyte" in str(error.value) and str(shape[0]) in str(error.value)


def test_plain_idx_size_is_checked_against_the_file_before_reading(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes((1000, 100, 100), bytes(10)))
    with pytest.raises(ValueError, match="short-idx3-ubyte: .*holds 10 bytes of pixels, its header claims 10000000"):
        load_images(path)


# -- .npy ----------------------------------------------------------------------------------
def lying_npy(path, shape, data_bytes, dtype="|u1"):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    path.write_bytes(buffer.getvalue() + bytes(data_bytes))  # the buffer holds magic, version and header
    return path


@pytest.mark.parametrize("shape", [(10 ** 6, 1000, 1000), (10 ** 12, 10 ** 12, 10 ** 12)])
def test_lying_npy_header_is_refused_before_allocating(tmp_path, shape):
    path = lying_npy(tmp_path / "liar.npy", shape, 100)
    error, peak = peak_memory_of(lambda: load_images(path))
    assert "liar.npy" in str(error) and "claims" in str(error)
    assert peak < SMALL_PEAK


def test_npy_with_fortran_order_is_read_in_the_right_order(tmp_path):
    np.save(tmp_path / "fortran.npy", np.asfortranarray(IMAGES))
    assert np.array_equal(load_images(tmp_path / "fortran.npy"), IMAGES)


def test_truncated_npy_is_refused(tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, IMAGES)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="short.npy: .*holds 59 bytes of pixels, its header claims 60"):
        load_images(path)


def test_npy_of_non_integers_is_refused_from_the_header(tmp_path):
    path = lying_npy(tmp_path / "floats.npy", (10 ** 9, 28, 28), 10, dtype="<f4")
    with pytest.raises(ValueError, match="floats.npy: pixels must be uint8 .* got dtype float32"):
        load_images(path)


def npy_with_header(text, data=b""):
    """A version-1.0 .npy file with the header ``text``, padded as numpy pads it, then ``data``."""
    header = text.encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


@pytest.mark.parametrize("text, message", [
    ("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2)", "not a readable .npy"),
    ("{'descr': '|u1', 'fortran_order': False, 'shape': (-1, 2, 2), }", "negative dimension"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (1, 2, 2), }", "got dtype object"),
    ("{'descr': [('a', '|u1')], 'fortran_order': False, 'shape': (1, 2, 2), }", "got dtype"),
    ("{'descr': '|u1', 'fortran_order': False, 'shape': " + "(" * 300 + ")" * 300 + ", }", "not a readable .npy"),
], ids=["unterminated", "negative", "object", "structured", "deeply-nested"])
def test_malformed_npy_header_is_refused(tmp_path, text, message):
    (tmp_path / "bad.npy").write_bytes(npy_with_header(text, bytes(64)))
    with pytest.raises(ValueError, match=f"bad.npy: .*{message}"):
        load_images(tmp_path / "bad.npy")


@settings(max_examples=60)
@given(flips=st.lists(st.tuples(st.integers(0, 127), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 80))
def test_mutated_npy_is_read_or_refused_with_a_value_error(tmp_path_factory, flips, cut):
    buffer = io.BytesIO()
    np.save(buffer, IMAGES)
    data = bytearray(buffer.getvalue())
    for position, mask in flips:
        data[position] ^= mask
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    path.write_bytes(bytes(data[:len(data) - cut]))
    try:
        images = load_images(path)
    except ValueError as error:
        assert "x.npy" in str(error) and "\n" not in str(error)
    else:
        assert images.dtype == np.uint8 and images.ndim in (3, 4)


# -- PNG -----------------------------------------------------------------------------------
def test_png_decompression_bomb_is_refused_from_its_header(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_bytes(100_000, 100_000))
    with pytest.raises(ValueError, match=r"bomb.png: .*100000x100000 .*MAX_PNG_PIXELS"):
        load_images(tmp_path)


def test_png_just_above_the_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_PNG_PIXELS", 100)
    (tmp_path / "a.png").write_bytes(png_bytes(11, 10, raw=bytes(10 * 12)))
    with pytest.raises(ValueError, match="a.png: .*11x10 .*MAX_PNG_PIXELS"):
        load_images(tmp_path)


def palette_image(colours, indices):
    image = Image.new("P", (indices.shape[1], indices.shape[0]))
    image.putpalette([value for colour in colours for value in colour])
    image.putdata(indices.ravel().tolist())
    return image


def test_palette_png_is_decoded_to_its_colours(tmp_path):
    colours = [(255, 0, 0), (0, 200, 0), (10, 20, 30)]
    indices = np.array([[0, 1, 2], [2, 1, 0]])
    palette_image(colours, indices).save(tmp_path / "colours.png")
    assert np.array_equal(load_images(tmp_path)[0], np.array(colours, dtype=np.uint8)[indices])


def test_grey_palette_png_is_decoded_to_grey_levels(tmp_path):
    indices = np.array([[0, 1], [1, 0]])
    palette_image([(7, 7, 7), (200, 200, 200)], indices).save(tmp_path / "grey.png")
    assert np.array_equal(load_images(tmp_path)[0], np.array([7, 200], dtype=np.uint8)[indices])


def test_palette_png_with_transparency_keeps_its_alpha(tmp_path):
    indices = np.array([[0, 1]])
    palette_image([(1, 2, 3), (4, 5, 6)], indices).save(tmp_path / "alpha.png", transparency=1)
    assert np.array_equal(load_images(tmp_path)[0], np.array([[[1, 2, 3, 255], [4, 5, 6, 0]]], dtype=np.uint8))


def test_bilevel_png_is_read_as_black_and_white(tmp_path):
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "bits.png")
    assert np.array_equal(load_images(tmp_path)[0], np.array([[255, 0]], dtype=np.uint8))


@pytest.mark.parametrize("colour_type, sample_count", [(2, 3), (4, 2), (6, 4)], ids=["RGB", "LA", "RGBA"])
def test_sixteen_bit_colour_png_is_refused(tmp_path, colour_type, sample_count):
    # Pillow would keep only each sample's high byte: the pixels would not be the file's.
    (tmp_path / "deep.png").write_bytes(png_bytes(1, 1, 16, colour_type, b"\x00" + bytes(2 * sample_count)))
    with pytest.raises(ValueError, match="deep.png: 16-bit"):
        load_images(tmp_path)


@pytest.mark.parametrize("odd", [
    lambda: Image.fromarray(np.zeros((5, 4, 3), dtype=np.uint8)),
    lambda: palette_image([(1, 2, 3)], np.zeros((5, 4), dtype=int)),
    lambda: Image.fromarray(np.zeros((5, 4), dtype=np.uint16)),
    lambda: Image.fromarray(np.zeros((4, 5), dtype=np.uint8)),
], ids=["RGB", "palette", "16-bit", "size"])
def test_mixed_png_modes_or_sizes_are_refused_naming_the_odd_file(tmp_path, odd):
    Image.fromarray(IMAGES[0]).save(tmp_path / "a.png")
    Image.fromarray(IMAGES[1]).save(tmp_path / "b.png")
    odd().save(tmp_path / "c.png")
    with pytest.raises(ValueError, match="c.png: .* differ.* a.png"):
        load_images(tmp_path)


def test_animated_png_is_refused(tmp_path):
    frames = [Image.fromarray(image) for image in IMAGES]
    frames[0].save(tmp_path / "movie.png", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="movie.png: animated PNG with 3 frames"):
        load_images(tmp_path)


def test_png_with_other_content_is_refused(tmp_path):
    Image.fromarray(IMAGES[0]).save(tmp_path / "really-a.gif", format="GIF")
    (tmp_path / "really-a.gif").rename(tmp_path / "a.png")
    with pytest.raises(ValueError, match="a.png: not a readable PNG"):
        load_images(tmp_path)


@settings(max_examples=60)
@given(cut=st.integers(0, 200), flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), max_size=4))
def test_mutated_png_is_read_or_refused_with_a_value_error(tmp_path_factory, cut, flips):
    folder = tmp_path_factory.mktemp("png")
    buffer = io.BytesIO()
    Image.fromarray(IMAGES[0]).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    for position, mask in flips:
        data[position % len(data)] ^= mask
    (folder / "x.png").write_bytes(bytes(data[:len(data) - cut]))
    try:
        images = load_images(folder)
    except ValueError as error:
        assert "x.png" in str(error) and "\n" not in str(error)
    else:
        assert images.dtype == np.uint8 and images.shape[0] == 1
