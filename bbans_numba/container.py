"""The ``.bbans`` file container: a versioned, checksummed wrapper around one rANS message.

Layout (all integers little-endian; ``docs/format.md`` is the full specification)::

    magic        8 bytes   b"\\x89BBANS\\r\\n"
    version      u16       FORMAT_VERSION
    header_len   u32
    header       header_len bytes of UTF-8 JSON (one object, keys sorted)
    header_crc   u32       zlib.crc32 of the header bytes
    payload_len  u64
    payload      payload_len bytes (bbans_numba.rans.Message.to_bytes())
    payload_crc  u32       zlib.crc32 of the payload bytes
    (end of file)

:func:`unpack` accepts any bytes and either returns ``(header, payload)`` or raises
:class:`ContainerError` with one sentence saying what is wrong and where; no other exception
escapes it.  Per-chunk CRC32s of the original pixels travel in the header so that a decoder
can prove, with :func:`verify_pixels`, that it reproduced every pixel.

Examples
--------
>>> import numpy as np
>>> images = np.zeros((3, 2, 2), dtype=np.uint8)
>>> header = {
...     "model": {"name": "mnist", "fingerprint": "0" * 64},
...     "image_shape": [2, 2], "dtype": "uint8", "count": 3, "chains": 1,
...     "settings": {}, "initial_words": 0,
...     "checksums": {"chunk_images": 2, "crc32": pixel_checksums(images, 2)},
... }
>>> blob = pack(header, b"payload")
>>> unpack(blob) == (header, b"payload")
True
>>> verify_pixels(images, header)
"""

import json
import math
import re
import struct
import zlib

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "ContainerError",
    "pack",
    "unpack",
    "pixel_checksums",
    "verify_pixels",
    "describe",
    "describe_file",
]

FORMAT_VERSION = 1
MAGIC = b"\x89BBANS\r\n"
# Bits of final rANS state each chain stores when the message is flushed (one uint64 head).
FLUSH_BITS_PER_CHAIN = 64
WORD_BITS = 32

_VERSION = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
# Bytes of the file that are neither header nor payload: magic, version, header_len,
# header_crc, payload_len, payload_crc.
FIXED_BYTES = len(MAGIC) + _VERSION.size + 3 * _U32.size + _U64.size

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")

# Leading bytes of formats a user may hand us by mistake, for a helpful refusal.
_KNOWN_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"PK\x03\x04", "a zip archive (or .npz)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz/lzma-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x00\x00\x08", "an IDX file of unsigned bytes"),
)


class ContainerError(ValueError):
    """A ``.bbans`` file (or a header about to be written) is malformed; the message says how."""


# -- writing ----------------------------------------------------------------------------
def pack(header, payload):
    """Wrap ``header`` and ``payload`` into the bytes of a ``.bbans`` file.

    Parameters
    ----------
    header : dict
        The JSON header (see ``docs/format.md`` for the required keys).  NumPy scalars and
        arrays are converted to plain JSON numbers and lists.
    payload : bytes-like
        The serialized rANS message.

    Returns
    -------
    bytes

    Raises
    ------
    ContainerError
        The header is not JSON-serializable, or lacks a required key, or a key has the wrong
        type or an out-of-range value: such a file could not be read back.
    """
    header_bytes = encode_header(header)
    validate_header(json.loads(header_bytes))
    payload = bytes(payload)
    return b"".join((
        MAGIC,
        _VERSION.pack(FORMAT_VERSION),
        _U32.pack(len(header_bytes)),
        header_bytes,
        _U32.pack(zlib.crc32(header_bytes)),
        _U64.pack(len(payload)),
        payload,
        _U32.pack(zlib.crc32(payload)),
    ))


def encode_header(header):
    """The canonical header bytes: compact UTF-8 JSON with sorted keys.

    Canonical means that decoding and re-encoding gives the same bytes, which
    :func:`describe` relies on to recover the payload size from the header alone.
    """
    try:
        text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as error:
        raise ContainerError(f"the header cannot be written as JSON: {error}") from error
    return text.encode("utf-8")


def _json_default(value):
    """Convert the NumPy values a codec naturally produces into JSON types."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serializable")


# -- reading ----------------------------------------------------------------------------
def unpack(blob):
    """Validate a ``.bbans`` file and return its header and payload.

    Parameters
    ----------
    blob : bytes-like
        The whole file.

    Returns
    -------
    header : dict
    payload : bytes

    Raises
    ------
    ContainerError
        For every malformed input, with a one-sentence message: not a bbans file (and what it
        looks like instead), a newer or invalid format version, truncation (which part, bytes
        needed vs present), a corrupted header (CRC, JSON or a named key), a corrupted payload
        (CRC), or bytes trailing the payload.
    """
    view = memoryview(bytes(blob))
    _check_magic(view)
    reader = _Reader(view)
    version = reader.unpack(_VERSION, "format version")
    if version > FORMAT_VERSION:
        raise ContainerError(f"this file was written by format version {version}; "
                             f"this bbans_numba reads up to {FORMAT_VERSION}: upgrade bbans_numba")
    if version < 1:
        raise ContainerError(f"invalid format version {version} (versions start at 1): the file is corrupted")
    header_len = reader.unpack(_U32, "header length")
    header_bytes = reader.take(header_len, "header")
    header_crc = reader.unpack(_U32, "header checksum")
    if zlib.crc32(header_bytes) != header_crc:
        raise ContainerError("corrupted header: its CRC32 does not match the stored checksum")
    header = _decode_header(header_bytes)
    payload_len = reader.unpack(_U64, "payload length")
    payload = reader.take(payload_len, "payload")
    payload_crc = reader.unpack(_U32, "payload checksum")
    if zlib.crc32(payload) != payload_crc:
        raise ContainerError("corrupted payload: its CRC32 does not match the stored checksum")
    if reader.remaining:
        raise ContainerError(f"{reader.remaining} unexpected bytes follow the end of the payload "
                             f"(the file should end at byte {reader.offset})")
    return header, bytes(payload)


def _check_magic(view):
    """Refuse anything that does not start with :data:`MAGIC`, saying what it looks like."""
    head = bytes(view[:len(MAGIC)])
    if head == MAGIC:
        return
    if not head:
        raise ContainerError("not a bbans file: the file is empty")
    if MAGIC.startswith(head):
        raise ContainerError(f"truncated file: the magic number needs {len(MAGIC)} bytes but only "
                             f"{len(head)} are present")
    raise ContainerError(f"not a bbans file: it starts with {head.hex(' ')}, {_what_it_looks_like(bytes(view[:64]))}")


def _what_it_looks_like(start):
    """A phrase naming the format whose signature ``start`` carries, for error messages."""
    for signature, name in _KNOWN_SIGNATURES:
        if start.startswith(signature):
            return f"which looks like {name}"
    if b"BBANS" in start[:len(MAGIC) + 1]:
        return "which looks like a bbans magic number damaged by a text-mode copy (line endings or high bit changed)"
    text = start.decode("utf-8", errors="replace")
    if "\ufffd" not in text and all(ch.isprintable() or ch.isspace() for ch in text):
        return "which looks like text"
    return f"which is not the bbans magic number {MAGIC.hex(' ')}"


class _Reader:
    """Sequential reads from a memoryview; every short read becomes a truncation error."""

    def __init__(self, view):
        self.view = view
        self.offset = len(MAGIC)

    @property
    def remaining(self):
        return len(self.view) - self.offset

    def take(self, size, part):
        """The next ``size`` bytes, which hold ``part`` (named in the truncation message)."""
        if size > self.remaining:
            raise ContainerError(f"truncated file: the {part} needs {size} bytes at offset {self.offset} "
                                 f"but only {self.remaining} are present")
        chunk = self.view[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, layout, part):
        """The next integer, stored with the one-field ``struct`` ``layout``."""
        return layout.unpack(self.take(layout.size, part))[0]


def _decode_header(header_bytes):
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ContainerError(f"corrupted header: not valid UTF-8 JSON ({error})") from error
    validate_header(header)
    return header


# -- header schema ----------------------------------------------------------------------
def validate_header(header):
    """Check the required header keys, their types and ranges; :class:`ContainerError` names the first bad one.

    Keys beyond the required ones are allowed (later versions of the codec may add some).
    """
    if not isinstance(header, dict):
        raise ContainerError(f"corrupted header: expected a JSON object, found {type(header).__name__}")
    model = _required(header, "model", dict, "an object")
    _required(model, "name", str, "a string", where="model.name")
    fingerprint = _required(model, "fingerprint", str, "a string", where="model.fingerprint")
    if not _HEX64.fullmatch(fingerprint):
        _bad_key("model.fingerprint", "64 hexadecimal digits (a sha256 digest)", fingerprint)
    image_shape = _required(header, "image_shape", list, "a list of positive integers")
    if not image_shape or not all(_is_int(size) and size > 0 for size in image_shape):
        _bad_key("image_shape", "a non-empty list of positive integers", image_shape)
    if header.get("dtype") != "uint8":
        _bad_key("dtype", '"uint8"', header.get("dtype"), missing="dtype" not in header)
    count = _required_int(header, "count", minimum=0)
    _required_int(header, "chains", minimum=1)
    _required(header, "settings", dict, "an object")
    _required_int(header, "initial_words", minimum=0)
    checksums = _required(header, "checksums", dict, "an object")
    chunk_images = _required_int(checksums, "chunk_images", minimum=1, where="checksums.chunk_images")
    crcs = _required(checksums, "crc32", list, "a list of CRC32 values", where="checksums.crc32")
    if not all(_is_int(crc) and 0 <= crc < 1 << 32 for crc in crcs):
        _bad_key("checksums.crc32", "a list of integers in [0, 2**32)", crcs)
    expected_chunks = math.ceil(count / chunk_images)
    if len(crcs) != expected_chunks:
        raise ContainerError(f"corrupted header: key 'checksums.crc32' holds {len(crcs)} checksums but "
                             f"{count} images in chunks of {chunk_images} need {expected_chunks}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _required(mapping, key, kind, description, where=None):
    """``mapping[key]`` if present and an instance of ``kind``, else a :class:`ContainerError`."""
    where = where or key
    if key not in mapping:
        _bad_key(where, description, None, missing=True)
    value = mapping[key]
    if not isinstance(value, kind):
        _bad_key(where, description, value)
    return value


def _required_int(mapping, key, minimum, where=None):
    where = where or key
    value = _required(mapping, key, object, f"an integer >= {minimum}", where)
    if not _is_int(value) or value < minimum:
        _bad_key(where, f"an integer >= {minimum}", value)
    return value


def _bad_key(where, description, value, missing=False):
    if missing:
        raise ContainerError(f"corrupted header: required key '{where}' is missing")
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise ContainerError(f"corrupted header: key '{where}' must be {description}, found {shown}")


# -- pixel checksums --------------------------------------------------------------------
def pixel_checksums(images, chunk_images):
    """CRC32 of each run of ``chunk_images`` consecutive images (C-order bytes; the last run may be shorter).

    Parameters
    ----------
    images : numpy.ndarray
        Shape (N, ...), any dtype (the file format stores uint8).
    chunk_images : int
        Images per checksum, >= 1.

    Returns
    -------
    list of int
        ``ceil(N / chunk_images)`` values in [0, 2**32).
    """
    if not _is_int(chunk_images) or chunk_images < 1:
        raise ValueError(f"chunk_images must be an integer >= 1, got {chunk_images!r}")
    images = np.asarray(images)
    return [zlib.crc32(np.ascontiguousarray(images[start:start + chunk_images]))
            for start in range(0, len(images), chunk_images)]


def verify_pixels(images, header):
    """Check decoded ``images`` against the shape, dtype and pixel checksums in ``header``.

    Raises
    ------
    ContainerError
        Wrong shape or dtype, or a chunk whose CRC32 differs: the message names the first bad
        chunk by its image index range.
    """
    images = np.asarray(images)
    expected_shape = (header["count"], *header["image_shape"])
    if images.shape != expected_shape or images.dtype != np.dtype(header["dtype"]):
        raise ContainerError(f"decoded images are {images.dtype} {images.shape} but the file describes "
                             f"{header['dtype']} {expected_shape}")
    chunk_images = header["checksums"]["chunk_images"]
    actual = pixel_checksums(images, chunk_images)
    for chunk, (found, stored) in enumerate(zip(actual, header["checksums"]["crc32"])):
        if found != stored:
            first = chunk * chunk_images
            last = min(first + chunk_images, header["count"]) - 1
            raise ContainerError(f"pixel checksum mismatch in chunk {chunk} (images {first}..{last}): "
                                 f"the decoded pixels differ from the original ones")


# -- summary ----------------------------------------------------------------------------
def describe(header, file_size):
    """The facts ``bbans info`` prints about a file, as a dict.

    Parameters
    ----------
    header : dict
        A validated header (from :func:`unpack`).
    file_size : int
        Total size of the file in bytes.

    Returns
    -------
    dict
        ``count``, ``image_shape``, ``dtype``, ``model``, ``model_fingerprint``, ``chains``,
        ``settings``, ``file_bytes``, ``payload_bytes``, ``container_bytes`` (everything
        around the payload), ``bits_per_dim`` (``8 * file_size / (count * prod(image_shape))``,
        None for an empty file), ``initial_bits`` (``32 * initial_words``: generator bits the
        encoder borrowed and the payload pays for) and ``flush_bits`` (the final 64-bit rANS
        state of every chain).
    """
    dims = header["count"] * math.prod(header["image_shape"])
    container_bytes = FIXED_BYTES + len(encode_header(header))
    return {
        "count": header["count"],
        "image_shape": tuple(header["image_shape"]),
        "dtype": header["dtype"],
        "model": header["model"]["name"],
        "model_fingerprint": header["model"]["fingerprint"],
        "chains": header["chains"],
        "settings": header["settings"],
        "file_bytes": file_size,
        "payload_bytes": file_size - container_bytes,
        "container_bytes": container_bytes,
        "bits_per_dim": 8 * file_size / dims if dims else None,
        "initial_bits": WORD_BITS * header["initial_words"],
        "flush_bits": FLUSH_BITS_PER_CHAIN * header["chains"],
    }


def describe_file(blob):
    """:func:`describe` of a whole file's bytes (validated by :func:`unpack` first)."""
    header, _ = unpack(blob)
    return describe(header, len(blob))
