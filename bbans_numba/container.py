"""The ``.bbans`` file container: magic, version dispatch, and format version 1.

Every version starts with the same magic and a u16 version; :func:`file_version` reads and
checks them.  This package writes version 2 (:mod:`bbans_numba.container_v2`: a compact
binary header over independent chunks).  Version 1, described here (a JSON header around one
rANS message), is still read for ``bbans info``, but no longer decoded: see
:func:`bbans_numba.bbans.refuse_old_version`.  Version-1 layout (all integers little-endian;
``bbans_numba/format.md``, printed by ``bbans format``, is the full specification)::

    magic        8 bytes   b"\\x89BBANS\\r\\n"
    version      u16       1
    header_len   u32
    header       header_len bytes: the :class:`Header`, as UTF-8 JSON (one object, keys sorted)
    header_crc   u32       zlib.crc32 of the header bytes
    payload_len  u64
    payload      payload_len bytes (bbans_numba.rans.Message.to_bytes())
    payload_crc  u32       zlib.crc32 of the payload bytes
    (end of file)

:class:`Header` is the one description of a file's header: its fields, their validation,
its serialization (the version-1 JSON form) and its summary for ``bbans info``.
:func:`unpack` accepts any bytes and either returns ``(header, payload)`` or raises
:class:`ContainerError` with one sentence saying what is wrong and where; no other exception
escapes it.  Per-chunk CRC32s of the original pixels travel in the header so that a decoder
can prove, with :meth:`Header.verify_pixels`, that it reproduced every pixel.

Examples
--------
>>> import numpy as np
>>> images = np.zeros((3, 2, 2), dtype=np.uint8)
>>> header = Header.for_images(images, model_name="mnist", model_fingerprint="0" * 64, lanes=1,
...                            settings={}, initial_words=0, chunk_images=2)
>>> header.count, header.image_shape, header.crc32 == tuple(pixel_checksums(images, 2))
(3, (2, 2), True)
>>> blob = pack(header, b"payload")
>>> unpack(blob) == (header, b"payload")
True
>>> header.verify_pixels(images)
"""

import json
import math
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "file_version",
    "MAGIC",
    "ContainerError",
    "HeaderFieldError",
    "Header",
    "file_names_problem",
    "pack",
    "unpack",
    "pixel_checksums",
    "describe_file",
]

# The version this package writes (2: container_v2), and every version it reads.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAGIC = b"\x89BBANS\r\n"
# Bits of final rANS state each lane stores when the message is flushed (one uint64 head).
FLUSH_BITS_PER_LANE = 64
WORD_BITS = 32
# Images per pixel checksum when the writer does not say.
DEFAULT_CHUNK_IMAGES = 1000
# A stored PNG file name: at most this many bytes of UTF-8 (the usual file system limit on one
# name), none of these characters, which are path syntax somewhere (POSIX, Windows), and no
# control characters (a name is printed, e.g. by ``bbans info``).
MAX_FILE_NAME_BYTES = 255
PATH_SYNTAX_CHARACTERS = frozenset("/\\:")

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


class HeaderFieldError(ContainerError):
    """A :class:`Header` field is invalid: ``field`` names it, ``detail`` says how ("must be ...").

    Each serialization reports it under its own name for the field (see ``Header.from_json_object``).
    """

    def __init__(self, field, detail):
        super().__init__(f"invalid header: field '{field}' {detail}")
        self.field = field
        self.detail = detail


def is_integer(value):
    """An ``int`` or NumPy integer, not a ``bool``: what every integer setting and header field must be."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


# -- the header -------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    """What a file says about its images: the one place the header's schema lives.

    Every field is validated (and NumPy values made plain) on construction, so a ``Header``
    in hand is always one a reader accepts; :class:`HeaderFieldError` names the first bad
    field.  It serializes itself (:meth:`to_json_bytes` / :meth:`from_json_bytes`, the
    version-1 form), checks decoded pixels against itself (:meth:`verify_pixels`) and
    summarizes itself for ``bbans info`` (:meth:`describe`).  A second serialization (a
    binary header) is a second pair of methods over the same fields.

    Attributes
    ----------
    model_name : str
        The model the images were coded with: a shipped model's name, else its file stem.
    model_fingerprint : str
        64 hex digits, sha256 of the model's weights; decoding with other weights is refused.
    image_shape : tuple of int
        Shape of one image, non-empty, every size > 0.
    count : int
        Number of images, >= 0.
    lanes : int
        rANS lanes the images were dealt to, in [1, max(count, 1)] (v1 JSON key ``chains``).
    settings : dict
        The codec's settings, free-form here (:class:`bbans_numba.settings.CodingSettings`
        reads them back).
    initial_words : int
        32-bit words the encoder drew from the rANS underflow generator and never gave back,
        >= 0; the payload's message must say the same (checked by the decoder).
    chunk_images : int
        Images per pixel checksum, >= 1.
    crc32 : tuple of int
        CRC32 of each chunk of ``chunk_images`` images, ``ceil(count / chunk_images)`` values.
    dtype : str
        ``"uint8"``, the only pixel type.
    file_names : tuple of str or None
        Optional: the PNG file name of each image, in image order (``None``: not stored).
        Safe to write into one folder: see :func:`file_names_problem`.  Decoding the pixels
        never depends on it.
    """

    model_name: str
    model_fingerprint: str
    image_shape: tuple
    count: int
    lanes: int
    settings: dict
    initial_words: int
    chunk_images: int
    crc32: tuple
    dtype: str = "uint8"
    file_names: tuple = None

    def __post_init__(self):
        for field, check in _FIELD_CHECKS.items():
            try:
                object.__setattr__(self, field, check(getattr(self, field)))
            except _Invalid as error:
                raise HeaderFieldError(field, f"must be {error}, found {_shown(getattr(self, field))}") from None
        if self.lanes > max(self.count, 1):
            raise HeaderFieldError("lanes", f"is {self.lanes} but {self.count} images use at most "
                                            f"{max(self.count, 1)} (one image per lane and round)")
        chunks = -(-self.count // self.chunk_images)  # integer ceil: exact for any count (10**400 too)
        if len(self.crc32) != chunks:
            raise HeaderFieldError("crc32", f"holds {len(self.crc32)} checksums but {self.count} images in "
                                            f"chunks of {self.chunk_images} need {chunks}")
        if self.file_names is not None:
            problem = file_names_problem(self.file_names, self.count)
            if problem:
                raise HeaderFieldError("file_names", problem)
            object.__setattr__(self, "file_names", tuple(self.file_names))

    @classmethod
    def for_images(cls, images, *, model_name, model_fingerprint, lanes, settings, initial_words,
                   chunk_images=DEFAULT_CHUNK_IMAGES, file_names=None):
        """The header of a file holding ``images`` (count, shape, dtype and checksums taken from them)."""
        images = np.asarray(images)
        return cls(model_name=model_name, model_fingerprint=model_fingerprint, image_shape=images.shape[1:],
                   count=len(images), lanes=lanes, settings=settings, initial_words=initial_words,
                   chunk_images=chunk_images, crc32=pixel_checksums(images, chunk_images), dtype=str(images.dtype),
                   file_names=file_names)

    # -- version-1 serialization: canonical JSON ------------------------------------------
    def to_json_object(self):
        """The version-1 JSON object (a dict of JSON values), keys as in :data:`V1_JSON_KEYS`.

        An optional field (:data:`V1_OPTIONAL_FIELDS`) that is ``None`` is left out, so a
        file without it has the same bytes as before the field existed.
        """
        document = {}
        for field, key in V1_JSON_KEYS.items():
            value = getattr(self, field)
            if value is None and field in V1_OPTIONAL_FIELDS:
                continue
            *parents, leaf = key.split(".")
            node = document
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = list(value) if isinstance(value, tuple) else value
        return document

    def to_json_bytes(self):
        """The canonical version-1 header bytes: compact UTF-8 JSON with sorted keys.

        Canonical means that decoding and re-encoding gives the same bytes.
        """
        try:
            text = json.dumps(self.to_json_object(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ContainerError(f"the header cannot be written as JSON: {error}") from error
        return text.encode("utf-8")

    @classmethod
    def from_json_object(cls, document):
        """The header a version-1 JSON object describes.

        Keys beyond those of :data:`V1_JSON_KEYS` are ignored (a writer may add information
        that decoding does not depend on); a missing optional key leaves its field ``None``.

        Raises
        ------
        ContainerError
            ``corrupted header: ...`` naming the first missing or bad key by its dotted name.
        """
        if not isinstance(document, dict):
            raise ContainerError(f"corrupted header: expected a JSON object, found {type(document).__name__}")
        values = {field: _json_lookup(document, key) for field, key in V1_JSON_KEYS.items()
                  if field not in V1_OPTIONAL_FIELDS or key in document}
        try:
            return cls(**values)
        except HeaderFieldError as error:
            raise ContainerError(f"corrupted header: key '{V1_JSON_KEYS[error.field]}' {error.detail}") from None

    @classmethod
    def from_json_bytes(cls, header_bytes):
        """The header stored as version-1 JSON bytes (:class:`ContainerError` if malformed)."""
        try:
            document = json.loads(bytes(header_bytes).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise ContainerError(f"corrupted header: not valid UTF-8 JSON ({error})") from error
        return cls.from_json_object(document)

    # -- what the header promises ----------------------------------------------------------
    def verify_pixels(self, images):
        """Check decoded ``images`` against this header's shape, dtype and pixel checksums.

        Raises
        ------
        ContainerError
            Wrong shape or dtype, or a chunk whose CRC32 differs: the message names the first
            bad chunk by its image index range.
        """
        images = np.asarray(images)
        expected_shape = (self.count, *self.image_shape)
        if images.shape != expected_shape or images.dtype != np.dtype(self.dtype):
            raise ContainerError(f"decoded images are {images.dtype} {images.shape} but the file describes "
                                 f"{self.dtype} {expected_shape}")
        found = pixel_checksums(images, self.chunk_images)
        for chunk, (actual, stored) in enumerate(zip(found, self.crc32)):
            if actual != stored:
                first = chunk * self.chunk_images
                last = min(first + self.chunk_images, self.count) - 1
                raise ContainerError(f"pixel checksum mismatch in chunk {chunk} (images {first}..{last}): "
                                     f"the decoded pixels differ from the original ones")

    def describe(self, file_bytes, payload_bytes):
        """The facts ``bbans info`` prints about a file with this header, as a dict.

        Parameters
        ----------
        file_bytes, payload_bytes : int
            Sizes of the whole file and of its payload, as read from the file.

        Returns
        -------
        dict
            ``count``, ``image_shape``, ``dtype``, ``model``, ``model_fingerprint``, ``lanes``,
            ``settings``, ``file_bytes``, ``payload_bytes``, ``container_bytes`` (everything
            around the payload), ``bits_per_dim`` (``8 * file_bytes / (count * prod(image_shape))``,
            None for an empty file), ``initial_bits`` (``32 * initial_words``: generator bits
            the encoder borrowed and the payload pays for) and ``flush_bits`` (the final 64-bit
            rANS state of every lane), ``file_names`` (a tuple, or None when not stored).
        """
        dims = self.count * math.prod(self.image_shape)
        return {
            "count": self.count,
            "image_shape": self.image_shape,
            "dtype": self.dtype,
            "model": self.model_name,
            "model_fingerprint": self.model_fingerprint,
            "lanes": self.lanes,
            "settings": self.settings,
            "file_bytes": file_bytes,
            "payload_bytes": payload_bytes,
            "container_bytes": file_bytes - payload_bytes,
            "bits_per_dim": 8 * file_bytes / dims if dims else None,
            "initial_bits": WORD_BITS * self.initial_words,
            "flush_bits": FLUSH_BITS_PER_LANE * self.lanes,
            "file_names": self.file_names,
        }


# The version-1 JSON key of each Header field, dotted for nested objects: the one place
# that knows them.  "chains" is version 1's name for lanes.
V1_JSON_KEYS = {
    "model_name": "model.name",
    "model_fingerprint": "model.fingerprint",
    "image_shape": "image_shape",
    "dtype": "dtype",
    "count": "count",
    "lanes": "chains",
    "settings": "settings",
    "initial_words": "initial_words",
    "chunk_images": "checksums.chunk_images",
    "crc32": "checksums.crc32",
    "file_names": "file_names",
}
# Fields a version-1 file may leave out (top-level keys): None when it does.
V1_OPTIONAL_FIELDS = frozenset({"file_names"})


def _json_lookup(document, dotted_key):
    """``document[a][b]`` for ``"a.b"``; a missing key or a non-object parent is a corrupted header."""
    node, path = document, []
    for part in dotted_key.split("."):
        if not isinstance(node, dict):
            raise ContainerError(f"corrupted header: key '{'.'.join(path)}' must be an object, found {_shown(node)}")
        path.append(part)
        if part not in node:
            raise ContainerError(f"corrupted header: required key '{'.'.join(path)}' is missing")
        node = node[part]
    return node


class _Invalid(Exception):
    """Raised by a field check with what the value must be ("an integer >= 0")."""


def _integer_at_least(minimum):
    def check(value):
        if not is_integer(value) or value < minimum:
            raise _Invalid(f"an integer >= {minimum}")
        return int(value)
    return check


def _integers(description, accept):
    """A check for a sequence (list, tuple or 1-D array) of integers each passing ``accept``."""
    def check(value):
        items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
        if items is None or not all(is_integer(item) and accept(item) for item in items):
            raise _Invalid(description)
        return tuple(int(item) for item in items)
    return check


def _shape(value):
    shape = _integers("a non-empty list of positive integers", lambda size: size > 0)(value)
    if not shape:
        raise _Invalid("a non-empty list of positive integers")
    return shape


def _instance(kind, description):
    def check(value):
        if not isinstance(value, kind):
            raise _Invalid(description)
        return value
    return check


def _fingerprint(value):
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _Invalid("64 hexadecimal digits (a sha256 digest)")
    return value


def _uint8(value):
    if value != "uint8":
        raise _Invalid('"uint8"')
    return value


def _settings(value):
    if not isinstance(value, dict):
        raise _Invalid("an object")
    return dict(value)


# How each field is checked and normalized, in the order a reader reports problems.
_FIELD_CHECKS = {
    "model_name": _instance(str, "a string"),
    "model_fingerprint": _fingerprint,
    "image_shape": _shape,
    "dtype": _uint8,
    "count": _integer_at_least(0),
    "lanes": _integer_at_least(1),
    "settings": _settings,
    "initial_words": _integer_at_least(0),
    "chunk_images": _integer_at_least(1),
    "crc32": _integers("a list of integers in [0, 2**32)", lambda crc: 0 <= crc < 1 << 32),
}


def file_names_problem(names, count):
    """Why ``names`` cannot name ``count`` PNG files in one folder, or None when they can.

    Each must be a plain file name ending in ``.png`` (any case): no folder part or other
    path syntax (:data:`PATH_SYNTAX_CHARACTERS`) or control characters (NUL included), valid Unicode of at most
    :data:`MAX_FILE_NAME_BYTES` bytes of UTF-8; and no two may differ only in case.  So a
    file's names can never make a writer leave its folder or overwrite one of its own files.

    Examples
    --------
    >>> file_names_problem(["a.png", "B.PNG"], 2) is None
    True
    >>> file_names_problem(["../a.png"], 1)
    "holds '../a.png', which is not a plain .png file name"
    """
    if not isinstance(names, (list, tuple)) or len(names) != count:
        return f"must be a list of {count} file names"
    for name in names:
        try:
            too_long = len(name.encode("utf-8")) > MAX_FILE_NAME_BYTES
        except (AttributeError, UnicodeEncodeError):  # not a string, or not valid Unicode
            return f"holds {_shown(name)}, which is not a file name in Unicode"
        if (too_long or not name.lower().endswith(".png") or PATH_SYNTAX_CHARACTERS.intersection(name)
                or any(unicodedata.category(character) == "Cc" for character in name)):
            return f"holds {_shown(name)}, which is not a plain .png file name"
    if len({name.casefold() for name in names}) != len(names):
        return "holds names that differ only in case"
    return None


def _shown(value):
    """``repr(value)``, cut to 60 characters, for error messages."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# -- writing ----------------------------------------------------------------------------
def pack(header, payload):
    """Wrap ``header`` and ``payload`` into the bytes of a ``.bbans`` file.

    Parameters
    ----------
    header : Header
    payload : bytes-like
        The serialized rANS message.

    Returns
    -------
    bytes

    Raises
    ------
    ContainerError
        The header's settings are not JSON-serializable.
    """
    if not isinstance(header, Header):
        raise TypeError(f"pack() needs a Header, got {type(header).__name__}")
    header_bytes = header.to_json_bytes()
    payload = bytes(payload)
    return b"".join((
        MAGIC,
        _VERSION.pack(1),
        _U32.pack(len(header_bytes)),
        header_bytes,
        _U32.pack(zlib.crc32(header_bytes)),
        _U64.pack(len(payload)),
        payload,
        _U32.pack(zlib.crc32(payload)),
    ))


# -- reading ----------------------------------------------------------------------------
def file_version(blob):
    """The format version of a ``.bbans`` file from its first bytes, after checking them.

    Parameters
    ----------
    blob : bytes-like
        The file, or at least its first ``len(MAGIC) + 2`` bytes.

    Raises
    ------
    ContainerError
        Not a bbans file (and what it looks like instead), truncated before the version,
        version 0, or a version newer than :data:`FORMAT_VERSION` (named, with a request to
        upgrade).
    """
    view = memoryview(bytes(blob[:len(MAGIC) + _VERSION.size]))
    _check_magic(view)
    version = _Reader(view).unpack(_VERSION, "format version")
    if version > FORMAT_VERSION:
        raise ContainerError(f"this file was written by format version {version}; this bbans_numba reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}: upgrade bbans_numba")
    if version < 1:
        raise ContainerError(f"invalid format version {version} (versions start at 1): the file is corrupted")
    return version


def unpack(blob):
    """Validate a version-1 ``.bbans`` file and return its header and payload.

    Version-2 files are read by :func:`bbans_numba.container_v2.read_header`.

    Parameters
    ----------
    blob : bytes-like
        The whole file.

    Returns
    -------
    header : Header
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
    version = file_version(view)
    if version != 1:
        raise ContainerError(f"this is a format version {version} file, not version 1 "
                             "(read it with bbans_numba.decompress)")
    reader = _Reader(view)
    reader.offset += _VERSION.size
    header_len = reader.unpack(_U32, "header length")
    header_bytes = reader.take(header_len, "header")
    header_crc = reader.unpack(_U32, "header checksum")
    if zlib.crc32(header_bytes) != header_crc:
        raise ContainerError("corrupted header: its CRC32 does not match the stored checksum")
    header = Header.from_json_bytes(header_bytes)
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
    if not is_integer(chunk_images) or chunk_images < 1:
        raise ValueError(f"chunk_images must be an integer >= 1, got {chunk_images!r}")
    images = np.asarray(images)
    return [zlib.crc32(np.ascontiguousarray(images[start:start + chunk_images]))
            for start in range(0, len(images), chunk_images)]


def describe_file(blob):
    """What ``bbans info`` shows about a whole file's bytes (validated first), as a dict.

    :meth:`Header.describe` for version 1 (plus ``format_version``),
    :meth:`bbans_numba.container_v2.ChunkedHeader.describe` for version 2.  The sizes are
    those read from the file, so they are right even for a header written in a non-canonical form.
    """
    if file_version(blob) == 2:
        from . import container_v2

        header, header_bytes = container_v2.read_header(blob)
        return header.describe(len(blob), header_bytes)
    header, payload = unpack(blob)
    return {"format_version": 1, **header.describe(len(blob), len(payload))}
