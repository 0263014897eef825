"""Format version 2: the binary header, its refusals, and hostile files (valid CRCs recomputed).

What a reader guarantees (bbans_numba/format.md): every claim in the header is checked against the
bytes present before anything is allocated from it; decoding refuses a chunk as soon as its
payload runs out; every case ends in a one-line ContainerError or the original images.
"""

import dataclasses
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bbans_numba as bb
from bbans_numba import container, container_v2
from bbans_numba.container import ContainerError
from bbans_numba.container_v2 import DEFAULT_SETTINGS, Chunk, ChunkedHeader, read_header, varint

MODEL_ID = bytes(range(8))


def raw_header(entries, shape=(28, 28), settings=b"\x00", num_chunks=None, version=2, model_id=MODEL_ID):
    """Header bytes laid out by hand, bypassing validation, with a correct CRC.

    ``entries`` are lists of the raw varint values of each chunk entry (count << 2 | flags, ...).
    """
    parts = [container.MAGIC, struct.pack("<H", version), model_id, bytes([len(shape)])]
    parts += [varint(size) for size in shape]
    parts += [settings, varint(len(entries) if num_chunks is None else num_chunks)]
    parts += [varint(value) for entry in entries for value in entry]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def refusal(data, match):
    started = time.perf_counter()
    with pytest.raises(ContainerError, match=match) as caught:
        read_header(data)
    assert time.perf_counter() - started < 0.5
    assert "\n" not in str(caught.value)


def header_of(*chunks, shape=(28, 28), settings=DEFAULT_SETTINGS):
    return ChunkedHeader(model_id=MODEL_ID, image_shape=shape, settings=settings, chunks=chunks)


# -- the layout -------------------------------------------------------------------------
def test_one_image_header_is_28_bytes():
    header = header_of(Chunk(count=1, lanes=1, payload_bytes=128, pad_words=0))
    data = header.to_bytes()
    assert len(data) == 28
    assert data == raw_header([[1 << 2]])
    assert read_header(data + bytes(128)) == (header, 28)


def test_file_names_are_an_optional_flagged_field_after_the_chunk_table():
    chunk = Chunk(count=2, lanes=1, payload_bytes=128, pad_words=0)
    plain = header_of(chunk)
    named = ChunkedHeader(model_id=MODEL_ID, image_shape=(28, 28), settings=DEFAULT_SETTINGS, chunks=(chunk,),
                          file_names=["a.png", "\u00e9t\u00e9.PNG"])
    data = named.to_bytes()
    names = "a.png/\u00e9t\u00e9.PNG".encode()
    assert data[:-4] == (raw_header([[2 << 2]], settings=b"\x80")[:-4] + varint(len(names)) + names)
    assert read_header(data + bytes(128)) == (named, len(data))
    assert len(data) - len(plain.to_bytes()) == 1 + len(names)  # nothing at all when no names are stored
    with pytest.raises(ContainerError, match="file_names must be a list of 2"):
        ChunkedHeader(model_id=MODEL_ID, image_shape=(28, 28), settings=DEFAULT_SETTINGS, chunks=(chunk,),
                      file_names=["a.png"])
    refusal(raw_header([[2 << 2]], settings=b"\x80")[:-4] + varint(1000) + b"a.png", "truncated file: the file names")


def test_compress_stores_file_names_in_a_v2_file():
    images = bb.load_images("mnist:sample")[:2]
    blob = bb.compress(images, model="mnist-fast", file_names=["x.png", "y.png"])
    assert read_header(blob)[0].file_names == ("x.png", "y.png")
    assert np.array_equal(bb.decompress(blob), images)
    assert bb.bbans.file_info(blob)["file_names"] == ("x.png", "y.png")
    with pytest.raises(ValueError, match="file_names holds '../x.png'"):
        bb.compress(images, model="mnist-fast", file_names=["../x.png", "y.png"])


def test_layout_of_a_header_with_every_field():
    settings = dict(DEFAULT_SETTINGS, quantizer="exact", latent_precision_bits=20)
    header = header_of(Chunk(count=512, lanes=16, payload_bytes=1000, pad_words=0),
                       Chunk(count=3, lanes=1, payload_bytes=200, pad_words=2), shape=(5, 6, 3), settings=settings)
    data = header.to_bytes()
    assert data == raw_header([[512 << 2 | 2, 16, 1000], [3 << 2 | 1, 2]], shape=(5, 6, 3),
                              settings=bytes([1, 1, 8, 20, 24, 4]))
    assert read_header(data + bytes(1200)) == (header, len(data))
    assert header.chunk_starts() == [0, 512, 515] and header.payload_offsets(len(data)) == [len(data), len(data) + 1000]
    assert header.chunks_holding(510, 513) == [0, 1] and header.chunks_holding(512, 515) == [1]


@given(counts=st.lists(st.integers(1, 5000), max_size=6), shape=st.lists(st.integers(1, 300), min_size=1, max_size=4),
       data=st.data())
def test_any_valid_header_reads_back_identically(counts, shape, data):
    chunks = []
    for count in counts:
        lanes = data.draw(st.integers(1, min(count, 64)))
        words = data.draw(st.integers(count, count + 10_000))
        pad = data.draw(st.integers(0, min(3, words)))
        chunks.append(Chunk(count=count, lanes=lanes, payload_bytes=8 * lanes + 4 * words, pad_words=pad))
    header = header_of(*chunks, shape=tuple(shape))
    encoded = header.to_bytes()
    payloads = sum(chunk.payload_bytes for chunk in chunks)
    assert read_header(encoded + bytes(payloads)) == (header, len(encoded))
    assert header.count == sum(counts)


def test_read_header_from_a_file(tmp_path):
    header = header_of(Chunk(count=2, lanes=1, payload_bytes=12, pad_words=0))
    path = tmp_path / "x.bbans"
    path.write_bytes(header.to_bytes() + bytes(12))
    with open(path, "rb") as stream:
        assert read_header(stream) == (header, 28)


# -- refusals, each named -------------------------------------------------------------------
@pytest.mark.parametrize("data, match", [
    (raw_header([[4_000_000 << 2]]) + bytes(16), "chunk 0: 4000000 images cannot fit in 16 payload bytes"),
    (raw_header([[1 << 2]], num_chunks=2**62), "4611686018427387904 chunks claimed but only"),
    (raw_header([[8 << 2 | 2, 9]]) + bytes(200), "chunk 0: 9 lanes for 8 images"),
    (raw_header([[8 << 2 | 2, 1]]) + bytes(200), "flags a field with its default value"),
    (raw_header([[8 << 2 | 1, 0]]) + bytes(200), "flags a field with its default value"),
    (raw_header([[8 << 2 | 1, 50]]) + bytes(200), "chunk 0: 50 pad words in a payload of 48 words"),
    (raw_header([[8 << 2]]) + bytes(11), "chunk 0: a payload of 11 bytes cannot hold 1 8-byte heads"),
    (raw_header([[8 << 2]]) + bytes(4), "chunk 0: a payload of 4 bytes cannot hold"),
    (raw_header([[0]]) + bytes(12), "chunk 0: it holds no images"),
    (raw_header([[2 << 2, 10**6], [2 << 2]]) + bytes(40), "truncated file: the chunks' payloads need more than"),
    (raw_header([]) + b"x", "1 unexpected bytes follow a header of no chunks"),
    (raw_header([[1 << 2]], shape=()) + bytes(12), "images of 0 dimensions"),
    (raw_header([[1 << 2]], shape=(1,) * 9) + bytes(12), "images of 9 dimensions"),
    (raw_header([[1 << 2]], shape=(28, 0)) + bytes(12), "has a size 0"),
    (raw_header([[1 << 2]], settings=b"\x02") + bytes(12), "unknown settings code 2"),
    (raw_header([[1 << 2]], settings=b"\x01\x07\x08\x10\x18\x04") + bytes(12), "unknown quantizer code 7"),
    (raw_header([[1 << 2]])[:-1] + b"\x00" + bytes(12), "header: its CRC32 does not match"),
])
def test_each_impossible_claim_is_refused_at_once(data, match):
    refusal(data, match)


def test_a_varint_must_be_short_and_minimal():
    body = container.MAGIC + struct.pack("<H", 2) + MODEL_ID + b"\x02" + b"\x9c\x00" + b"\x1c"
    refusal(body + bytes(40), "image size is not written in its shortest form")
    body = container.MAGIC + struct.pack("<H", 2) + MODEL_ID + b"\x01" + b"\xff" * 10
    refusal(body + bytes(40), "image size is longer than 9 bytes")


def test_every_truncation_of_a_header_is_refused():
    header = header_of(Chunk(count=3, lanes=2, payload_bytes=24, pad_words=0),
                       Chunk(count=3, lanes=1, payload_bytes=20, pad_words=1)).to_bytes()
    for length in range(len(header)):
        with pytest.raises(ContainerError):
            read_header(header[:length] + bytes(44))


def test_a_newer_version_is_refused_naming_it():
    data = raw_header([[1 << 2]], version=3) + bytes(12)
    with pytest.raises(ContainerError, match="written by format version 3; this bbans_numba reads versions 1, 2"):
        bb.decompress(data)


# -- hostile files through the decoder --------------------------------------------------------
# The reader's memory bound (format.md, "Hostile input"): a chunk holds at most one image per
# payload byte, so the images decoded take at most 784 bytes per file byte, held twice at the
# most (the chunks' arrays and their concatenation); plus the working arrays of one round.
MEMORY_PER_FILE_BYTE = 2 * 28 * 28
ROUND_MEMORY = 8 << 20


def bounded_decompress(data, seconds):
    """``bb.decompress(data)``, asserting its time and its peak of traced (Python and NumPy) memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        return bb.decompress(data)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert time.perf_counter() - started < seconds
        assert peak < ROUND_MEMORY + MEMORY_PER_FILE_BYTE * len(data)


@pytest.fixture(scope="module")
def small_file():
    images = bb.load_images("mnist:sample")[:7]
    blob = bb.compress(images, model="mnist-fast", lanes=3, chunk_images=4)
    bb.decompress(blob)  # loads the shipped models once (the memory bounds are per file, not per process)
    return images, blob


def test_a_tiny_file_claiming_four_million_images_is_refused_in_well_under_a_second():
    bomb = raw_header([[4_000_000 << 2]], model_id=bb.chunks.model_id(bb.load_model("mnist"))) + bytes(944)
    started = time.perf_counter()
    with pytest.raises(ContainerError, match="4000000 images cannot fit in 944 payload bytes"):
        bb.decompress(bomb)
    assert time.perf_counter() - started < 0.5


def test_a_payload_that_runs_out_is_refused_at_the_first_round_it_cannot_back(small_file):
    """The most images a payload may claim (one per byte), over an all-zero payload: refused after one round."""
    _, blob = small_file
    header, header_bytes = read_header(blob)
    lanes = 8
    bomb_header = dataclasses.replace(header, chunks=(Chunk(count=8 * 1000, lanes=lanes, payload_bytes=8 * 1000,
                                                            pad_words=0),))
    heads = np.full(lanes, 2**31, dtype="<u8").tobytes()
    with pytest.raises(ContainerError, match="chunk 0 is corrupted"):
        bounded_decompress(bomb_header.to_bytes() + heads + bytes(8 * 1000 - len(heads)), seconds=2)


@pytest.mark.parametrize("cut", [1, 3, 4, 8, 100])
def test_a_truncated_payload_is_refused(small_file, cut):
    """The last chunk's payload is the rest of the file: cut short, it fails its checks or its decoding."""
    _, blob = small_file
    with pytest.raises(ContainerError, match="chunk 1|truncated"):
        bb.decompress(blob[:-cut])


@pytest.mark.parametrize("field", ["count", "lanes", "pad_words"])
def test_every_chunk_claim_is_checked_by_decoding(small_file, field):
    _, blob = small_file
    header, header_bytes = read_header(blob)
    first = header.chunks[0]
    changed = dataclasses.replace(first, **{field: getattr(first, field) + 1})
    payload = blob[header_bytes:]
    if field == "lanes":  # keep the sizes consistent: the payload gains a head
        changed = dataclasses.replace(changed, payload_bytes=first.payload_bytes + 8)
        payload = payload[:8 * first.lanes] + bytes([0, 0, 0, 0x80, 0, 0, 0, 0]) + payload[8 * first.lanes:]
    forged = dataclasses.replace(header, chunks=(changed, *header.chunks[1:])).to_bytes() + payload
    with pytest.raises(ContainerError, match="chunk 0"):
        bb.decompress(forged)


@given(data=st.data())
@settings(max_examples=60)
def test_mutated_files_with_recomputed_crcs_decode_or_are_refused_in_one_line(small_file, data):
    images, blob = small_file
    header, header_bytes = read_header(blob)
    kind = data.draw(st.sampled_from(["header", "payload", "insert", "delete"]))
    body, payload = bytearray(blob[:header_bytes - 4]), bytearray(blob[header_bytes:])
    if kind == "header":
        index = data.draw(st.integers(len(container.MAGIC) + 2, len(body) - 1))
        body[index] = data.draw(st.integers(0, 255))
    elif kind == "payload":
        index = data.draw(st.integers(0, len(payload) - 1))
        payload[index] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "insert":
        index = data.draw(st.integers(0, len(payload)))
        payload[index:index] = data.draw(st.binary(min_size=1, max_size=12))
    else:
        index = data.draw(st.integers(0, len(payload) - 1))
        del payload[index:index + data.draw(st.integers(1, 12))]
    mutated = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))) + bytes(payload)
    try:
        decoded = bounded_decompress(mutated, seconds=5)
    except ContainerError as error:
        assert "\n" not in str(error)
    else:
        assert np.array_equal(decoded, images)
