"""Format version 2 of the ``.bbans`` container: a compact binary header over independent chunks.

Layout (``bbans_numba/format.md``, printed by ``bbans format``, is the full specification; integers little-endian, ``varint`` =
unsigned LEB128, minimal, at most 9 bytes, so every value is below 2**63)::

    magic          8 bytes  b"\\x89BBANS\\r\\n" (as in version 1)
    version        u16      2
    model_id       8 bytes  the first 8 bytes of the model's sha256 fingerprint
    ndim           u8       1 .. MAX_IMAGE_DIMS
    image_shape    ndim varints, each >= 1
    settings       u8 code | 0x80 if file names follow: code 0: DEFAULT_SETTINGS; or code 1
                   and 5 x u8: quantizer (0 histogram, 1 exact), bucket_bits,
                   latent_precision_bits, pixel_precision_bits, first_latent_bits
    num_chunks     varint
    chunk table    num_chunks entries of:
                     varint  count << 2 | (lanes > 1) << 1 | (pad_words > 0), count >= 1
                     varint  lanes, in [2, count]     (only if flagged; else 1)
                     varint  pad_words >= 1           (only if flagged; else 0)
                     varint  payload_bytes            (not for the last chunk: the rest of the file)
    file_names     only if flagged: varint byte length, then the PNG file name of each image
                   in UTF-8, joined by "/" (which no name holds; see
                   bbans_numba.container.file_names_problem)
    header_crc     u32      zlib.crc32 of every byte above, magic included
    payloads       the chunks' payloads, one after the other; nothing follows the last

A chunk's payload is its rANS message: ``lanes`` u64 heads, then u32 words bottom first (the
first ``pad_words`` of them are zero padding).  So it holds ``(payload_bytes - 8 * lanes) / 4``
words.  There is no pixel checksum in the table: the chunk's CRC-32 is carried by its
message (lane 0's initial head, see :mod:`bbans_numba.chunks`), which the decoder must get
back to.

Hostile input
-------------
:func:`read_header` reads the header from bytes or a seekable binary file and refuses, with a
one-line :class:`~bbans_numba.container.ContainerError`, anything the file cannot back, *before*
anything is allocated from a claim: every field is read inside the bytes present (a table
entry takes at least :data:`MIN_ENTRY_BYTES`, so ``num_chunks`` is checked against the bytes
left first); each chunk's claims are bounded by its payload (``count <= payload_bytes``:
the encoder guarantees at least one payload byte per image, padding if it ever had to; lanes
fit in the payload; pad words too); the payload sizes add up to exactly the rest of the file;
the header CRC matches.  Work and memory of a reader are therefore bounded by the file size.

Examples
--------
>>> header = ChunkedHeader(model_id=bytes(8), image_shape=(2, 2), settings=DEFAULT_SETTINGS,
...                        chunks=(Chunk(count=3, lanes=1, payload_bytes=12, pad_words=0),))
>>> data = header.to_bytes() + bytes(12)
>>> len(header.to_bytes()), header.count
(28, 3)
>>> read_header(data) == (header, len(header.to_bytes()))
True
"""

import math
import struct
import zlib
from dataclasses import dataclass

from .container import MAGIC, ContainerError, file_names_problem, is_integer

__all__ = ["VERSION", "Chunk", "ChunkedHeader", "read_header", "MODEL_ID_BYTES", "SETTINGS_FIELDS",
           "DEFAULT_SETTINGS", "MIN_PAYLOAD_BYTES_PER_IMAGE"]

VERSION = 2
MODEL_ID_BYTES = 8
MAX_IMAGE_DIMS = 8
HEAD_BYTES = 8
WORD_BYTES = 4
# A varint holds 7 bits per byte; 9 bytes keep every value below 2**63.
MAX_VARINT_BYTES = 9
# The fewest bytes a chunk table entry takes: its count (and, but for the last, its payload size).
MIN_ENTRY_BYTES = 1
# Every image costs its chunk at least one payload byte (the encoder pads to make sure; an
# MNIST digit takes ~130): decoding work is bounded by one image per payload byte.
MIN_PAYLOAD_BYTES_PER_IMAGE = 1
QUANTIZERS = ("histogram", "exact")
# The settings bytes, in order; the quantizer is stored as its index in QUANTIZERS.
SETTINGS_FIELDS = ("quantizer", "bucket_bits", "latent_precision_bits", "pixel_precision_bits", "first_latent_bits")
# The settings a settings byte of 0 stands for: fixed by the format (not by the codec's
# defaults, which may change; they are the defaults of bbans_numba 0.2.0).
DEFAULT_SETTINGS = {"quantizer": "histogram", "bucket_bits": 8, "latent_precision_bits": 16,
                    "pixel_precision_bits": 24, "first_latent_bits": 4}
_DEFAULT_SETTINGS_CODE = 0
_EXPLICIT_SETTINGS_CODE = 1
_LANES_FLAG = 2
_PAD_FLAG = 1
_FLAG_BITS = 2
_NAMES_FLAG = 0x80  # in the settings byte: file names follow the chunk table
_NAME_SEPARATOR = "/"

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def _refuse(message):
    raise ContainerError(message)


@dataclass(frozen=True)
class Chunk:
    """One entry of the chunk table: ``count`` images coded on ``lanes`` lanes into ``payload_bytes``.

    Attributes
    ----------
    count : int
        Images in the chunk, >= 1 and at most ``payload_bytes / MIN_PAYLOAD_BYTES_PER_IMAGE``.
    lanes : int
        rANS lanes of the chunk's message, in [1, count].
    payload_bytes : int
        Size of the payload: ``8 * lanes`` bytes of heads plus 4 bytes per word.
    pad_words : int
        Zero words at the bottom of the stream, there so that the encoder never borrowed
        from the underflow generator and every image has a payload byte (usually 0).
    """

    count: int
    lanes: int
    payload_bytes: int
    pad_words: int

    def __post_init__(self):
        for name in ("count", "lanes", "payload_bytes", "pad_words"):
            if not is_integer(getattr(self, name)) or getattr(self, name) < 0:
                raise ContainerError(f"invalid chunk: {name} must be an integer >= 0, found {getattr(self, name)!r}")
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.count < 1:
            raise ContainerError("invalid chunk: it holds no images")
        if not 1 <= self.lanes <= self.count:
            raise ContainerError(f"invalid chunk: {self.lanes} lanes for {self.count} images (one image per lane "
                                 f"and round: 1 to {self.count})")
        words, odd = divmod(self.payload_bytes - HEAD_BYTES * self.lanes, WORD_BYTES)
        if words < 0 or odd:
            raise ContainerError(f"invalid chunk: a payload of {self.payload_bytes} bytes cannot hold {self.lanes} "
                                 f"8-byte heads and whole 4-byte words")
        if self.count * MIN_PAYLOAD_BYTES_PER_IMAGE > self.payload_bytes:
            raise ContainerError(f"invalid chunk: {self.count} images cannot fit in {self.payload_bytes} payload "
                                 f"bytes (every image takes at least {MIN_PAYLOAD_BYTES_PER_IMAGE})")
        if self.pad_words > words:
            raise ContainerError(f"invalid chunk: {self.pad_words} pad words in a payload of {words} words")

    @property
    def words(self):
        """Words of the chunk's stream (pad words included)."""
        return (self.payload_bytes - HEAD_BYTES * self.lanes) // WORD_BYTES


@dataclass(frozen=True)
class ChunkedHeader:
    """The version-2 header: model id, image shape, coding settings and the chunk table.

    Attributes
    ----------
    model_id : bytes
        The first :data:`MODEL_ID_BYTES` bytes of the model's sha256 fingerprint.
    image_shape : tuple of int
        Shape of one image: 1 to :data:`MAX_IMAGE_DIMS` sizes, each >= 1.
    settings : dict
        :data:`SETTINGS_FIELDS` (read back by ``bbans_numba.settings.CodingSettings.from_header``).
    chunks : tuple of Chunk
        In image order: chunk ``i`` holds the images after those of chunks ``0 .. i-1``.
    file_names : tuple of str or None
        Optional: the PNG file name of each image (``None``: not stored), as
        :attr:`bbans_numba.container.Header.file_names`.  Decoding never depends on it.
    """

    model_id: bytes
    image_shape: tuple
    settings: dict
    chunks: tuple
    file_names: tuple = None

    def __post_init__(self):
        if not isinstance(self.model_id, bytes) or len(self.model_id) != MODEL_ID_BYTES:
            raise ContainerError(f"invalid header: the model id must be {MODEL_ID_BYTES} bytes")
        shape = tuple(self.image_shape)
        if not 1 <= len(shape) <= MAX_IMAGE_DIMS or not all(is_integer(size) and size >= 1 for size in shape):
            raise ContainerError(f"invalid header: image shape {shape} must be 1 to {MAX_IMAGE_DIMS} sizes >= 1")
        object.__setattr__(self, "image_shape", tuple(int(size) for size in shape))
        if set(self.settings) != set(SETTINGS_FIELDS):
            raise ContainerError(f"invalid header: settings must have exactly the keys {SETTINGS_FIELDS}")
        if self.settings["quantizer"] not in QUANTIZERS:
            raise ContainerError(f"invalid header: unknown quantizer {self.settings['quantizer']!r}")
        for name in SETTINGS_FIELDS[1:]:
            if not is_integer(self.settings[name]) or not 0 <= self.settings[name] <= 255:
                raise ContainerError(f"invalid header: setting {name} must be an integer in [0, 255]")
        object.__setattr__(self, "settings", dict(self.settings))
        object.__setattr__(self, "chunks", tuple(self.chunks))
        if not all(isinstance(chunk, Chunk) for chunk in self.chunks):
            raise ContainerError("invalid header: chunks must be Chunk entries")
        if self.file_names is not None:
            problem = file_names_problem(self.file_names, self.count)
            if problem:
                raise ContainerError(f"invalid header: file_names {problem}")
            object.__setattr__(self, "file_names", tuple(self.file_names))

    # -- what it says -------------------------------------------------------------------
    @property
    def count(self):
        """Number of images in the file."""
        return sum(chunk.count for chunk in self.chunks)

    @property
    def model_id_hex(self):
        return self.model_id.hex()

    def chunk_starts(self):
        """The index of each chunk's first image, and the image count after the last: ``len(chunks) + 1`` ints."""
        starts = [0]
        for chunk in self.chunks:
            starts.append(starts[-1] + chunk.count)
        return starts

    def payload_offsets(self, header_bytes):
        """The file offset of each chunk's payload, given the header's size in bytes."""
        offsets = [header_bytes]
        for chunk in self.chunks[:-1]:
            offsets.append(offsets[-1] + chunk.payload_bytes)
        return offsets

    def chunks_holding(self, first, stop):
        """Indices of the chunks holding any image in ``first .. stop - 1``."""
        starts = self.chunk_starts()
        return [index for index in range(len(self.chunks))
                if first < stop and starts[index] < stop and starts[index + 1] > first]

    # -- serialization --------------------------------------------------------------------
    def to_bytes(self):
        """The header's bytes, magic to header CRC: canonical (reading and writing gives them back)."""
        parts = [MAGIC, _U16.pack(VERSION), self.model_id, bytes([len(self.image_shape)])]
        parts += [varint(size) for size in self.image_shape]
        names_flag = 0 if self.file_names is None else _NAMES_FLAG
        if self.settings == DEFAULT_SETTINGS:
            parts.append(bytes([_DEFAULT_SETTINGS_CODE | names_flag]))
        else:
            parts.append(bytes([_EXPLICIT_SETTINGS_CODE | names_flag, QUANTIZERS.index(self.settings["quantizer"])] +
                               [self.settings[name] for name in SETTINGS_FIELDS[1:]]))
        parts.append(varint(len(self.chunks)))
        for index, chunk in enumerate(self.chunks):
            flags = (_LANES_FLAG if chunk.lanes > 1 else 0) | (_PAD_FLAG if chunk.pad_words else 0)
            parts.append(varint(chunk.count << _FLAG_BITS | flags))
            if chunk.lanes > 1:
                parts.append(varint(chunk.lanes))
            if chunk.pad_words:
                parts.append(varint(chunk.pad_words))
            if index < len(self.chunks) - 1:
                parts.append(varint(chunk.payload_bytes))
        if self.file_names is not None:
            names = _NAME_SEPARATOR.join(self.file_names).encode("utf-8")
            parts += [varint(len(names)), names]
        body = b"".join(parts)
        return body + _U32.pack(zlib.crc32(body))

    def describe(self, file_bytes, header_bytes):
        """The facts ``bbans info`` prints about a file with this header, as a dict.

        Same keys as :meth:`bbans_numba.container.Header.describe` where they apply, plus
        ``format_version``, ``chunks``, ``pad_words`` and ``header_bytes``, with ``model_id``
        (hex) in place of ``model_fingerprint``; ``model`` is ``None`` (a version-2 file names
        its model by id only), ``lanes`` the most lanes of a chunk and ``initial_bits`` 0
        (chunks never borrow from the underflow generator).
        """
        dims = self.count * math.prod(self.image_shape)
        lanes = [chunk.lanes for chunk in self.chunks]
        return {
            "format_version": VERSION,
            "count": self.count,
            "image_shape": self.image_shape,
            "dtype": "uint8",
            "model": None,
            "model_id": self.model_id_hex,
            "lanes": max(lanes, default=0),
            "chunks": len(self.chunks),
            "settings": dict(self.settings),
            "file_bytes": file_bytes,
            "header_bytes": header_bytes,
            "payload_bytes": file_bytes - header_bytes,
            "container_bytes": header_bytes,
            "bits_per_dim": 8 * file_bytes / dims if dims else None,
            "initial_bits": 0,
            "pad_words": sum(chunk.pad_words for chunk in self.chunks),
            "flush_bits": 8 * HEAD_BYTES * sum(lanes),
            "file_names": self.file_names,
        }


def varint(value):
    """``value`` (an int in [0, 2**63)) as a minimal unsigned LEB128 varint.

    >>> varint(0), varint(127), varint(128), varint(300)
    (b'\\x00', b'\\x7f', b'\\x80\\x01', b'\\xac\\x02')
    """
    if not 0 <= value < 1 << (7 * MAX_VARINT_BYTES):
        raise ContainerError(f"cannot write {value} as a varint (0 to 2**63 - 1)")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- reading ------------------------------------------------------------------------------
class _Cursor:
    """Sequential reads from bytes or a seekable binary file, CRC-32 accumulated over them.

    Every read is checked against the bytes the source holds before anything is read, so a
    claimed size never becomes an allocation.
    """

    def __init__(self, source, offset, size):
        self.source = source
        self.offset = offset
        self.size = size
        self.crc = 0

    def take(self, count, part):
        if count > self.size - self.offset:
            _refuse(f"truncated file: the {part} needs {count} bytes at offset {self.offset} but only "
                    f"{self.size - self.offset} are present")
        if isinstance(self.source, memoryview):
            data = bytes(self.source[self.offset:self.offset + count])
        else:
            self.source.seek(self.offset)
            data = self.source.read(count)
            if len(data) != count:
                _refuse(f"truncated file: the {part} could not be read at offset {self.offset}")
        self.offset += count
        self.crc = zlib.crc32(data, self.crc)
        return data

    def byte(self, part):
        return self.take(1, part)[0]

    def u32(self, part):
        return _U32.unpack(self.take(4, part))[0]

    def varint(self, part):
        value = 0
        for index in range(MAX_VARINT_BYTES):
            byte = self.byte(part)
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                if byte == 0 and index > 0:
                    _refuse(f"corrupted header: the {part} is not written in its shortest form")
                return value
        _refuse(f"corrupted header: the {part} is longer than {MAX_VARINT_BYTES} bytes (a value of 2**63 or more)")


def _source_size(source):
    """``(source, size)``: a memoryview of bytes-like data, or a seekable file and its size."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        return view, len(view)
    return source, source.seek(0, 2)


def read_header(source):
    """Read and check a version-2 header from ``source``: ``(header, header_bytes)``.

    Parameters
    ----------
    source : bytes-like or seekable binary file
        The whole file; its magic and version must already be known to be version 2
        (:func:`bbans_numba.container.file_version`).

    Returns
    -------
    header : ChunkedHeader
    header_bytes : int
        Offset of the first payload byte.

    Raises
    ------
    ContainerError
        One line naming the first problem: truncation, a field out of range, a chunk whose
        claims its payload cannot back, payload sizes that do not add up to the file, a
        header CRC mismatch, or trailing bytes.

        The last chunk's payload is the rest of the file, so a truncated or extended file
        shows as a last chunk whose claims its payload cannot back (or whose message does
        not decode).
    """
    source, size = _source_size(source)
    cursor = _Cursor(source, 0, size)
    cursor.take(len(MAGIC) + _U16.size, "magic and version")
    model_id = cursor.take(MODEL_ID_BYTES, "model id")
    ndim = cursor.byte("image rank")
    if not 1 <= ndim <= MAX_IMAGE_DIMS:
        _refuse(f"corrupted header: images of {ndim} dimensions (1 to {MAX_IMAGE_DIMS} allowed)")
    shape = tuple(cursor.varint("image size") for _ in range(ndim))
    if 0 in shape:
        _refuse(f"corrupted header: image shape {shape} has a size 0")
    settings_code = cursor.byte("settings")
    has_names = bool(settings_code & _NAMES_FLAG)
    settings_code &= ~_NAMES_FLAG
    if settings_code == _DEFAULT_SETTINGS_CODE:
        settings = dict(DEFAULT_SETTINGS)
    elif settings_code == _EXPLICIT_SETTINGS_CODE:
        settings_bytes = cursor.take(len(SETTINGS_FIELDS), "settings")
        if settings_bytes[0] >= len(QUANTIZERS):
            _refuse(f"corrupted header: unknown quantizer code {settings_bytes[0]}")
        settings = dict(zip(SETTINGS_FIELDS, (QUANTIZERS[settings_bytes[0]], *settings_bytes[1:])))
    else:
        _refuse(f"corrupted header: unknown settings code {settings_code}")
    num_chunks = cursor.varint("chunk count")
    if num_chunks * MIN_ENTRY_BYTES > size - cursor.offset:
        _refuse(f"corrupted header: {num_chunks} chunks claimed but only {size - cursor.offset} bytes follow "
                f"(each chunk entry takes at least {MIN_ENTRY_BYTES})")
    entries = []
    for index in range(num_chunks):
        count_flags = cursor.varint(f"chunk {index} image count")
        lanes = cursor.varint(f"chunk {index} lanes") if count_flags & _LANES_FLAG else 1
        pad_words = cursor.varint(f"chunk {index} pad words") if count_flags & _PAD_FLAG else 0
        payload_bytes = cursor.varint(f"chunk {index} payload size") if index < num_chunks - 1 else None
        if (count_flags & _LANES_FLAG and lanes < 2) or (count_flags & _PAD_FLAG and pad_words < 1):
            _refuse(f"corrupted header: chunk {index} flags a field with its default value (not canonical)")
        entries.append((count_flags >> _FLAG_BITS, lanes, payload_bytes, pad_words))
    file_names = _read_file_names(cursor, sum(entry[0] for entry in entries)) if has_names else None
    body_crc = cursor.crc
    stored_crc = cursor.u32("header checksum")
    if stored_crc != body_crc:
        _refuse("corrupted header: its CRC32 does not match the stored checksum")
    header_bytes = cursor.offset
    listed = sum(entry[2] for entry in entries[:-1])
    if listed > size - header_bytes:
        _refuse(f"truncated file: the chunks' payloads need more than {listed} bytes after the header but only "
                f"{size - header_bytes} are present")
    chunks = []
    for index, (count, lanes, payload_bytes, pad_words) in enumerate(entries):
        if payload_bytes is None:  # the last chunk's payload: the rest of the file
            payload_bytes = size - header_bytes - listed
        try:
            chunks.append(Chunk(count, lanes, payload_bytes, pad_words))
        except ContainerError as error:
            _refuse(f"corrupted header: chunk {index}: {str(error).removeprefix('invalid chunk: ')}")
    if not chunks and size > header_bytes:
        _refuse(f"{size - header_bytes} unexpected bytes follow a header of no chunks "
                f"(the file should end at byte {header_bytes})")
    return ChunkedHeader(model_id, shape, settings, tuple(chunks), file_names), header_bytes


def _read_file_names(cursor, count):
    """The stored file names of ``count`` images (read inside the bytes present, then checked)."""
    data = cursor.take(cursor.varint("file names length"), "file names")
    try:
        names = data.decode("utf-8").split(_NAME_SEPARATOR) if count else []
    except UnicodeDecodeError:
        _refuse("corrupted header: file_names are not valid UTF-8")
    problem = file_names_problem(names, count)
    if problem:
        _refuse(f"corrupted header: file_names {problem}")
    return tuple(names)
