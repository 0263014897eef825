"""Tests of the version-1 .bbans container (still read, no longer written): the Header object, round trip,
every refusal and its message, pixel checksums.  Version 2: tests/test_container_v2.py."""

import dataclasses
import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbans_numba import container
from bbans_numba.container import ContainerError, Header, HeaderFieldError, pack, pixel_checksums, unpack

PAYLOAD = bytes(range(40))
# Offsets of the fixed-size fields, for corrupting one part on purpose.
VERSION_AT = len(container.MAGIC)
HEADER_LEN_AT = VERSION_AT + 2
HEADER_AT = HEADER_LEN_AT + 4


def make_header(images, chunk_images=3, lanes=2, **overrides):
    """A valid header describing ``images``; ``overrides`` replace fields."""
    header = Header.for_images(images, model_name="mnist", model_fingerprint="ab" * 32, lanes=lanes, initial_words=5,
                               chunk_images=chunk_images,
                               settings={"likelihood": "beta_binomial", "bucket_bits": 10, "quantizer": "exact"})
    return dataclasses.replace(header, **overrides) if overrides else header


def raw_container(header_bytes, payload=PAYLOAD, version=1):
    """A file laid out by hand, bypassing pack()'s validation, with correct CRCs."""
    return b"".join((
        container.MAGIC, struct.pack("<HI", version, len(header_bytes)), header_bytes,
        struct.pack("<I", zlib.crc32(header_bytes)), struct.pack("<Q", len(payload)), payload,
        struct.pack("<I", zlib.crc32(payload)),
    ))


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(10, 4, 5), dtype=np.uint8)


@pytest.fixture(scope="module")
def header(images):
    return make_header(images)


@pytest.fixture(scope="module")
def blob(header):
    return pack(header, PAYLOAD)


def refusal(data):
    """The message unpack() refuses ``data`` with (fails the test if it accepts it)."""
    with pytest.raises(ContainerError) as caught:
        unpack(data)
    return str(caught.value)


# -- round trip and writing -------------------------------------------------------------
def test_round_trip_returns_header_and_payload(header, blob):
    assert unpack(blob) == (header, PAYLOAD)
    assert unpack(bytearray(blob)) == (header, PAYLOAD)


def test_layout_matches_the_documented_fields(header, blob):
    header_bytes = json.dumps(header.to_json_object(), sort_keys=True, separators=(",", ":")).encode()
    assert blob == raw_container(header_bytes)
    assert len(blob) == container.FIXED_BYTES + len(header_bytes) + len(PAYLOAD)


def test_version_1_json_keys(header):
    """The v1 key names, "chains" for the lanes among them, are part of the format."""
    assert header.to_json_object() == {
        "model": {"name": "mnist", "fingerprint": "ab" * 32},
        "image_shape": [4, 5],
        "dtype": "uint8",
        "count": 10,
        "chains": 2,
        "settings": {"likelihood": "beta_binomial", "bucket_bits": 10, "quantizer": "exact"},
        "initial_words": 5,
        "checksums": {"chunk_images": 3, "crc32": list(header.crc32)},
    }
    assert Header.from_json_bytes(header.to_json_bytes()) == header


def test_header_makes_numpy_values_plain(images, header):
    same = make_header(images, count=np.int64(len(images)), image_shape=np.array(images.shape[1:]),
                       lanes=np.uint8(2))
    assert same == header and type(same.count) is int and same.image_shape == (4, 5)
    assert unpack(pack(same, b""))[0] == header


def test_file_names_are_optional_and_written_only_when_present(images, header):
    """No ``file_names`` key without names (the pinned bytes stay as they were); with names, one more key."""
    assert header.file_names is None and "file_names" not in header.to_json_object()
    names = [f"digit {i}.PNG" for i in range(len(images))]
    named = make_header(images, file_names=names)
    assert named.file_names == tuple(names)
    assert named.to_json_object() == dict(header.to_json_object(), file_names=names)
    assert unpack(pack(named, PAYLOAD)) == (named, PAYLOAD)
    assert dataclasses.replace(named, file_names=None) == header


@pytest.mark.parametrize(("names", "expected"), [
    (["a.png"], "must be a list of 10 file names"),
    ("a.png", "must be a list of 10 file names"),
    (["../up.png"] + [f"{i}.png" for i in range(9)], "holds '../up.png', which is not a plain .png file name"),
    (["a\\b.png"] + [f"{i}.png" for i in range(9)], "which is not a plain .png file name"),
    (["a\x00.png"] + [f"{i}.png" for i in range(9)], "which is not a plain .png file name"),
    (["a.txt"] + [f"{i}.png" for i in range(9)], "which is not a plain .png file name"),
    (["x" * 252 + ".png"] + [f"{i}.png" for i in range(9)], "which is not a plain .png file name"),
    ([None] + [f"{i}.png" for i in range(9)], "holds None, which is not a file name in Unicode"),
    (["A.png", "a.PNG"] + [f"{i}.png" for i in range(8)], "holds names that differ only in case"),
])
def test_unsafe_file_names_cannot_be_built_nor_read(images, header, names, expected):
    with pytest.raises(HeaderFieldError) as caught:
        make_header(images, file_names=names)
    assert caught.value.field == "file_names" and expected in str(caught.value)
    document = dict(header.to_json_object(), file_names=names)
    message = refusal(raw_container(json.dumps(document).encode()))
    assert message.startswith("corrupted header: key 'file_names' ") and expected in message


def test_unknown_extra_keys_are_ignored(header):
    document = dict(header.to_json_object(), written_by="bbans_numba 9.9")
    assert unpack(raw_container(json.dumps(document).encode()))[0] == header


@pytest.mark.parametrize(("overrides", "expected"), [
    (dict(lanes=0), "invalid header: field 'lanes' must be an integer >= 1, found 0"),
    (dict(lanes=11), "invalid header: field 'lanes' is 11 but 10 images use at most 10"),
    (dict(count=True), "invalid header: field 'count' must be an integer >= 0, found True"),
    (dict(crc32=(1, 2)), "invalid header: field 'crc32' holds 2 checksums but 10 images in chunks of 3 need 4"),
    (dict(model_fingerprint="x"), "invalid header: field 'model_fingerprint' must be 64 hexadecimal digits"),
])
def test_an_invalid_header_cannot_be_built(images, overrides, expected):
    with pytest.raises(HeaderFieldError) as caught:
        make_header(images, **overrides)
    assert str(caught.value).startswith(expected)
    assert caught.value.field == next(iter(overrides))


def test_pack_refuses_settings_it_could_not_write(images):
    with pytest.raises(ContainerError, match="cannot be written as JSON"):
        pack(make_header(images, settings={"quantizer": object()}), PAYLOAD)
    with pytest.raises(TypeError, match="needs a Header"):
        pack({"count": 0}, PAYLOAD)


# -- refusals, one kind at a time -------------------------------------------------------
@pytest.mark.parametrize(("data", "expected"), [
    (b"", "not a bbans file: the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "looks like a PNG image"),
    (b"\x1f\x8b\x08\x00" + bytes(30), "looks like gzip-compressed data"),
    (b"\x93NUMPY\x01\x00" + bytes(30), "looks like a NumPy .npy file"),
    (b"magic? no, just some text\n", "looks like text"),
    (b"\x89BBANS\n" + bytes(30), "damaged by a text-mode copy"),
    (b"\x09BBANS\r\n" + bytes(30), "damaged by a text-mode copy"),
    (bytes(range(250, 256)) * 3, "is not the bbans magic number 89 42 42 41 4e 53 0d 0a"),
])
def test_wrong_magic_says_what_was_found(data, expected):
    message = refusal(data)
    assert expected in message
    assert data == b"" or message.startswith("not a bbans file: it starts with ")


def test_newer_version_asks_for_an_upgrade(blob):
    newer = blob[:VERSION_AT] + struct.pack("<H", 3) + blob[VERSION_AT + 2:]
    assert refusal(newer) == ("this file was written by format version 3; "
                              "this bbans_numba reads versions 1, 2: upgrade bbans_numba")
    assert container.FORMAT_VERSION == 2 and container.READABLE_VERSIONS == (1, 2)


def test_a_version_2_file_is_not_read_as_version_1(blob):
    other = blob[:VERSION_AT] + struct.pack("<H", 2) + blob[VERSION_AT + 2:]
    assert refusal(other).startswith("this is a format version 2 file, not version 1")


def test_version_zero_is_invalid(blob):
    assert "invalid format version 0" in refusal(blob[:VERSION_AT] + bytes(2) + blob[VERSION_AT + 2:])


def test_every_truncation_is_reported_as_such(blob):
    for length in range(1, len(blob)):
        message = refusal(blob[:length])
        assert message.startswith("truncated file: the "), (length, message)
        assert "bytes" in message and "are present" in message


def test_truncated_payload_says_bytes_needed_and_present(blob):
    message = refusal(blob[:-10])
    assert message == (f"truncated file: the payload needs {len(PAYLOAD)} bytes at offset "
                       f"{len(blob) - len(PAYLOAD) - 4} but only {len(PAYLOAD) - 6} are present")


@given(junk=st.binary(min_size=1, max_size=50))
def test_appended_junk_is_refused(blob, junk):
    assert refusal(blob + junk) == (f"{len(junk)} unexpected bytes follow the end of the payload "
                                    f"(the file should end at byte {len(blob)})")


def region_of(byte_index, blob):
    """Which part of ``blob`` byte ``byte_index`` belongs to, and the messages a flip there may give."""
    header_len = struct.unpack_from("<I", blob, HEADER_LEN_AT)[0]
    payload_len_at = HEADER_AT + header_len + 4
    regions = [
        (VERSION_AT, ("not a bbans file",)),
        (HEADER_LEN_AT, ("format version",)),
        (HEADER_AT, ("truncated file: the header ", "corrupted header")),
        (payload_len_at, ("corrupted header",)),
        (payload_len_at + 8, ("truncated file: the payload ", "corrupted payload")),
        (len(blob), ("corrupted payload",)),
    ]
    return next(kinds for end, kinds in regions if byte_index < end)


def test_every_single_bit_flip_is_refused_with_the_right_kind_of_message(blob):
    for bit in range(8 * len(blob)):
        flipped = bytearray(blob)
        flipped[bit // 8] ^= 1 << (bit % 8)
        message = refusal(bytes(flipped))
        assert any(kind in message for kind in region_of(bit // 8, blob)), (bit, message)


@given(data=st.data())
def test_overwritten_bytes_never_give_wrong_output_or_a_foreign_exception(blob, header, data):
    start = data.draw(st.integers(0, len(blob) - 1))
    replacement = data.draw(st.binary(min_size=1, max_size=16))
    corrupted = blob[:start] + replacement + blob[start + len(replacement):]
    try:
        result = unpack(corrupted)
    except ContainerError:
        return
    assert result == (header, PAYLOAD)


@given(data=st.binary(max_size=200))
def test_random_bytes_are_refused(data):
    refusal(data)


@given(data=st.binary(max_size=200))
def test_random_bytes_after_a_valid_magic_and_version_are_refused(data):
    refusal(container.MAGIC + struct.pack("<H", container.FORMAT_VERSION) + data)


@given(header_len=st.integers(0, 2**32 - 1), data=st.binary(max_size=64))
def test_any_header_length_is_refused_cleanly(header_len, data):
    refusal(container.MAGIC + struct.pack("<HI", container.FORMAT_VERSION, header_len) + data)


# -- header content ---------------------------------------------------------------------
def test_invalid_json_with_a_valid_crc_is_a_corrupted_header():
    assert refusal(raw_container(b'{"count": ')).startswith("corrupted header: not valid UTF-8 JSON")
    assert refusal(raw_container(b"\xff\xfe")).startswith("corrupted header: not valid UTF-8 JSON")
    assert refusal(raw_container(b"[" * 100_000)).startswith("corrupted header: not valid UTF-8 JSON")


def test_a_json_value_other_than_an_object_is_refused():
    assert refusal(raw_container(b"[1, 2]")) == "corrupted header: expected a JSON object, found list"


def without(mapping, key):
    return {name: value for name, value in mapping.items() if name != key}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda h: without(h, "model"), "required key 'model' is missing"),
    (lambda h: {**h, "model": "mnist"}, "key 'model' must be an object"),
    (lambda h: {**h, "model": without(h["model"], "name")}, "required key 'model.name' is missing"),
    (lambda h: {**h, "model": {**h["model"], "fingerprint": "abc"}}, "key 'model.fingerprint' must be 64 hexadecimal"),
    (lambda h: {**h, "image_shape": []}, "key 'image_shape' must be a non-empty list of positive integers"),
    (lambda h: {**h, "image_shape": [4, 0]}, "key 'image_shape' must be a non-empty list of positive integers"),
    (lambda h: {**h, "image_shape": "4x5"}, "key 'image_shape' must be a non-empty list of positive integers"),
    (lambda h: without(h, "dtype"), "required key 'dtype' is missing"),
    (lambda h: {**h, "dtype": "float32"}, "key 'dtype' must be \"uint8\", found 'float32'"),
    (lambda h: {**h, "count": -1}, "key 'count' must be an integer >= 0, found -1"),
    (lambda h: {**h, "count": True}, "key 'count' must be an integer >= 0, found True"),
    (lambda h: {**h, "count": 10**400}, "key 'checksums.crc32' holds 4 checksums but 1000000000000"),
    (lambda h: {**h, "chains": 1.5}, "key 'chains' must be an integer >= 1, found 1.5"),
    (lambda h: {**h, "chains": 11}, "key 'chains' is 11 but 10 images use at most 10"),
    (lambda h: {**h, "settings": [1]}, "key 'settings' must be an object, found [1]"),
    (lambda h: {**h, "checksums": [3]}, "key 'checksums' must be an object, found [3]"),
    (lambda h: without(h, "settings"), "required key 'settings' is missing"),
    (lambda h: {**h, "initial_words": "5"}, "key 'initial_words' must be an integer >= 0"),
    (lambda h: without(h, "checksums"), "required key 'checksums' is missing"),
    (lambda h: {**h, "checksums": {**h["checksums"], "chunk_images": 0}}, "key 'checksums.chunk_images' must be"),
    (lambda h: {**h, "checksums": {**h["checksums"], "crc32": [-1] * 4}}, "key 'checksums.crc32' must be a list of integers"),
    (lambda h: {**h, "checksums": {**h["checksums"], "crc32": [1, 2]}},
     "key 'checksums.crc32' holds 2 checksums but 10 images in chunks of 3 need 4"),
])
def test_each_bad_header_key_is_named(header, change, expected):
    header_bytes = json.dumps(change(header.to_json_object())).encode()
    message = refusal(raw_container(header_bytes))
    assert message.startswith("corrupted header: ") and expected in message


# -- pixel checksums --------------------------------------------------------------------
def test_pixel_checksums_are_crc32_of_each_chunk(images):
    expected = [zlib.crc32(images[i:i + 4].tobytes()) for i in (0, 4, 8)]
    assert pixel_checksums(images, 4) == expected
    assert pixel_checksums(images[:, ::2], 4) == [zlib.crc32(images[i:i + 4, ::2].tobytes()) for i in (0, 4, 8)]
    assert pixel_checksums(images[:0], 4) == []
    with pytest.raises(ValueError, match="chunk_images"):
        pixel_checksums(images, 0)


def test_verify_pixels_accepts_the_original(images, header):
    header.verify_pixels(images.copy())


@pytest.mark.parametrize(("image_index", "expected"), [
    (0, "chunk 0 (images 0..2)"),
    (7, "chunk 2 (images 6..8)"),
    (9, "chunk 3 (images 9..9)"),
])
def test_verify_pixels_names_the_chunk_with_a_changed_pixel(images, header, image_index, expected):
    changed = images.copy()
    changed[image_index, 1, 2] ^= 1
    with pytest.raises(ContainerError, match="pixel checksum mismatch in ") as caught:
        header.verify_pixels(changed)
    assert expected in str(caught.value)


def test_verify_pixels_refuses_a_wrong_shape_or_dtype(images, header):
    with pytest.raises(ContainerError, match=r"decoded images are uint8 \(9, 4, 5\)"):
        header.verify_pixels(images[:9])
    with pytest.raises(ContainerError, match="decoded images are int16"):
        header.verify_pixels(images.astype(np.int16))


# -- describe ---------------------------------------------------------------------------
def test_describe_numbers(blob):
    info = container.describe_file(blob)
    assert info["format_version"] == 1
    assert info["count"] == 10 and info["image_shape"] == (4, 5) and info["dtype"] == "uint8"
    assert info["model"] == "mnist" and info["model_fingerprint"] == "ab" * 32
    assert info["lanes"] == 2 and info["settings"]["bucket_bits"] == 10
    assert info["bits_per_dim"] == pytest.approx(8 * len(blob) / (10 * 20))
    assert info["initial_bits"] == 32 * 5 and info["flush_bits"] == 64 * 2
    assert info["payload_bytes"] == len(PAYLOAD)
    assert info["container_bytes"] + info["payload_bytes"] == info["file_bytes"] == len(blob)


def test_describe_a_non_canonical_header(header):
    """Spaces and unsorted keys in the header JSON: the sizes are still the ones in the file."""
    spaced = json.dumps(header.to_json_object(), indent=2).encode()
    blob = raw_container(spaced)
    info = container.describe_file(blob)
    assert info["payload_bytes"] == len(PAYLOAD)
    assert info["container_bytes"] == container.FIXED_BYTES + len(spaced)


def test_describe_of_an_empty_image_set_has_no_rate():
    empty = np.zeros((0, 28, 28), dtype=np.uint8)
    header = make_header(empty, lanes=1)
    assert container.describe_file(pack(header, b""))["bits_per_dim"] is None
