"""Chunks: the unit of coding, of parallel work and of random access in a version-2 file.

A chunk is a run of consecutive images coded onto its own fresh message
(:meth:`bbans_numba.bbans.VAECodec.push_chunk`): it decodes alone, so chunks are coded in
parallel (:class:`ChunkCoder`: threads over kernels that release the GIL) and a reader that
wants a few images decodes only the chunks that hold them.  A chunk's payload is its
message without the serialization header: ``lanes`` u64 heads, then the u32 words, bottom
first (:func:`payload_of` / :func:`message_of`).

Guarantees the encoder gives a reader (so that its work is bounded by the payload):

* the message never borrowed from the underflow generator: if a posterior pop ever finds
  the stream empty, the chunk is coded again over zero *pad words* at the bottom of the
  stream (:func:`encode_chunk`), so a decoder refuses a chunk as soon as it draws;
* every image has at least ``container_v2.MIN_PAYLOAD_BYTES_PER_IMAGE`` payload byte (pad words
  again, if it ever had to; no real image comes near: MNIST digits take ~130 bytes), so a
  reader refuses a chunk claiming more images than payload bytes.

Examples
--------
>>> import numpy as np, bbans_numba as bb
>>> from bbans_numba.bbans import VAECodec
>>> codec = VAECodec("mnist")
>>> images = bb.load_images("mnist:sample")[:6]
>>> chunk, payload = encode_chunk(codec, images, lanes=2)
>>> chunk.count, chunk.lanes, chunk.pad_words, len(payload) == chunk.payload_bytes
(6, 2, 0, True)
>>> bool(np.array_equal(decode_chunk(codec, chunk, payload), images))
True
"""

import collections
import math
import os
import shutil
import struct
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import container_v2
from .bbans import BorrowedBitsError, VAECodec
from .container import ContainerError, file_names_problem
from .container_v2 import Chunk, ChunkedHeader
from .model import available_models, load_model
from .rans import HEAD_LOWER_BOUND, Message
from .settings import CodingSettings, chunk_sizes, resolve_lanes

__all__ = ["encode_chunk", "decode_chunk", "fresh_message", "payload_of", "message_of", "pixel_crc", "model_id",
           "ChunkCoder", "encode_chunks", "compress_images", "write_compressed", "decode_chunks", "decompress_file",
           "decompress_to_npy", "codec_for", "image_range", "default_workers"]

# Message.to_bytes() layout before the heads: num_lanes, reserved, underflow_words, num_words.
_MESSAGE_PREFIX = struct.Struct("<IIQQ")
# The bits of a chunk's pixel CRC-32 that lane 0's initial head carries.
_CHECKSUM_MASK = HEAD_LOWER_BOUND - 1
# Codings of one chunk before giving up on padding (each doubles the pad words).
_MAX_PAD_ATTEMPTS = 24
_FIRST_PAD_WORDS = 16
# Chunks handed to the workers ahead of the one being collected, per worker (bounds memory).
_TASKS_AHEAD_PER_WORKER = 2
# Payload bytes held in memory before write_compressed spills them to a temporary file.
_SPOOL_BYTES = 1 << 24


# -- one chunk's message --------------------------------------------------------------------
def fresh_message(lanes, pad_words=0, checksum=0):
    """The message a chunk is coded onto: ``lanes`` empty heads over ``pad_words`` zero words.

    Every head is ``2**31`` plus 31 low bits: the smallest heads the coder allows, so a lane
    costs ~32 bits.  The low bits of lanes 1, 2, ... are pseudo-random (those of a fresh
    :class:`~bbans_numba.rans.Message`'s heads), so that their first pops are not biased.
    Lane 0 pushes before it pops (its first image, :meth:`~bbans_numba.bbans.VAECodec.push_first`),
    so its low bits are free to carry the chunk's pixel ``checksum`` (31 bits of it): a decoder
    must end at exactly this message, which checks the pixels at no cost in bytes.
    """
    heads = Message(num_lanes=lanes).heads >> np.uint64(31)
    heads[0] = np.uint64(HEAD_LOWER_BOUND | (checksum & _CHECKSUM_MASK))
    return Message.from_bytes(_MESSAGE_PREFIX.pack(lanes, 0, 0, pad_words) + heads.astype("<u8").tobytes()
                              + bytes(container_v2.WORD_BYTES * pad_words))


def payload_of(message):
    """A chunk's payload: ``message`` serialized without its header (it must not have borrowed)."""
    if message.underflow_words:
        raise BorrowedBitsError("a chunk's message may not owe words to the underflow generator")
    return message.to_bytes()[_MESSAGE_PREFIX.size:]


def message_of(chunk, payload):
    """The message a chunk's ``payload`` holds (``ValueError`` if malformed)."""
    return Message.from_bytes(_MESSAGE_PREFIX.pack(chunk.lanes, 0, 0, chunk.words) + bytes(payload))


def pixel_crc(images, fingerprint):
    """CRC-32 of ``images``' C-order bytes, started from the CRC-32 of the 32-byte ``fingerprint``.

    Starting from the model's full fingerprint makes the check cover the model too: a file
    names its model by 8 bytes of the fingerprint only, and a model that shares them but not
    the rest fails this check (31 bits of it are kept: with probability 1 - 2**-31) even if
    it decoded the same pixels.
    """
    return zlib.crc32(np.ascontiguousarray(images), zlib.crc32(bytes.fromhex(fingerprint)))


def model_id(model):
    """The 8-byte model id a version-2 file stores: the start of the model's sha256 fingerprint."""
    return bytes.fromhex(model.fingerprint)[:container_v2.MODEL_ID_BYTES]


def encode_chunk(codec, images, lanes):
    """Code ``images`` as one chunk on ``lanes`` lanes: ``(Chunk, payload bytes)``.

    Pads the bottom of the stream with zero words when the plain coding borrowed from the
    underflow generator (coded again over more pad words until it does not) or left an
    image without its payload byte (pad words added below the words, which no pop reached).
    """
    images = codec.check_images(images)
    count = len(images)
    checksum = pixel_crc(images, codec.model.fingerprint)
    pad_words = 0
    for _ in range(_MAX_PAD_ATTEMPTS):
        message = fresh_message(lanes, pad_words, checksum)
        try:
            codec.push_chunk(message, images)
            break
        except BorrowedBitsError:
            pad_words = max(2 * pad_words, _FIRST_PAD_WORDS)
    else:
        raise RuntimeError(f"could not code a chunk of {count} images without borrowing, even over {pad_words} pad "
                           "words")
    payload = payload_of(message)
    missing = container_v2.MIN_PAYLOAD_BYTES_PER_IMAGE * count - len(payload)
    if missing > 0:  # the pops never reached the bottom, so more pad words there change nothing else
        extra = math.ceil(missing / container_v2.WORD_BYTES)
        heads = container_v2.HEAD_BYTES * lanes
        payload = payload[:heads] + bytes(container_v2.WORD_BYTES * extra) + payload[heads:]
        pad_words += extra
    return Chunk(count=count, lanes=message.num_lanes, payload_bytes=len(payload), pad_words=pad_words), payload


def decode_chunk(codec, chunk, payload, index=0, last=False):
    """Decode and check one chunk: its images, or :class:`ContainerError` naming chunk ``index``.

    Refuses as soon as decoding draws from the underflow generator (the payload ran out);
    afterwards, the message must be back to the chunk's fresh message: its pad words, and
    lane 0's head carrying the CRC-32 of the decoded pixels (:func:`fresh_message`).  The
    last chunk's payload is the rest of the file, so for it (``last``) the message says
    that the file may be truncated.
    """
    truncated = " (it is the last chunk: the file may be truncated)" if last else ""
    try:
        message = message_of(chunk, payload)
        images = codec.pop_chunk(message, chunk.count)
    except ValueError as error:  # a malformed payload, a run-out payload, an impossible symbol
        raise ContainerError(f"chunk {index} is corrupted{truncated} (or was coded with another model): "
                             f"{error}") from error
    if message != fresh_message(chunk.lanes, chunk.pad_words, pixel_crc(images, codec.model.fingerprint)):
        raise ContainerError(f"chunk {index} is corrupted{truncated} (or was coded with another model, or with one "
                             "whose fingerprint differs beyond the 8 bytes of its id): decoding did not end at its "
                             "initial state and pixel checksum")
    return images


# -- running chunks, here or in threads ----------------------------------------------------
def default_workers():
    """The cores this process may run on (the default number of workers of the CLI)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _encode_task(codec, images, lanes):
    return encode_chunk(codec, images, lanes)


def _decode_task(codec, chunk, payload, index, last):
    return decode_chunk(codec, chunk, payload, index, last)


class ChunkCoder:
    """Runs chunk tasks with one codec: in this thread, or in ``workers`` threads.

    Every kernel of the coding path is sequential and releases the GIL (chunks are the unit
    of parallel work: a kernel that split one round, a few lanes, over threads would spend
    its time synchronizing, and collapse when another process holds a core), so threads
    run chunks side by side with no start-up cost; the Python between kernels is a few
    percent of the time.  Results come back in task order; at most ``2 * workers`` tasks
    are in flight, so a stream of chunks is coded in bounded memory.  Use as a context
    manager.
    """

    def __init__(self, codec, workers=1, num_tasks=None):
        workers = default_workers() if workers is None else workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.codec = codec
        self.workers = workers if num_tasks is None else max(1, min(workers, num_tasks))
        self._pool = None

    def __enter__(self):
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="bbans-chunk")
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, task, arguments):
        """``task(codec, *args)`` for each ``args`` of the iterable ``arguments``, yielded in order."""
        if self._pool is None:
            for args in arguments:
                yield task(self.codec, *args)
            return
        pending = collections.deque()
        for args in arguments:
            pending.append(self._pool.submit(task, self.codec, *args))
            if len(pending) >= _TASKS_AHEAD_PER_WORKER * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# -- files ------------------------------------------------------------------------------------
def _check_image_array(codec, images):
    """Check dtype and shape without reading the pixels (``images`` may be memory-mapped)."""
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        images = np.asarray(images)
    codec.check_images(images[:0])
    return images


def encode_chunks(codec, images, lanes=None, chunk_images=None, workers=1, progress=None):
    """Code ``images`` chunk by chunk: yields ``(Chunk, payload)`` in order.

    Each chunk's images are read from ``images`` (e.g. a memory map) only when it is handed
    to a worker.  ``progress(done, total)`` is called after each chunk.
    """
    images = _check_image_array(codec, images)
    sizes = chunk_sizes(len(images), chunk_images)
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
    arguments = ((np.ascontiguousarray(images[start:stop]), resolve_lanes(lanes, stop - start))
                 for start, stop in zip(starts[:-1], starts[1:]))
    with ChunkCoder(codec, workers, len(sizes)) as coder:
        for index, result in enumerate(coder.map(_encode_task, arguments)):
            if progress is not None:
                progress(starts[index + 1], len(images))
            yield result


def header_for(codec, image_shape, chunks, file_names=None):
    """The version-2 header of ``chunks`` coded with ``codec`` (``file_names``: optional, one per image)."""
    return ChunkedHeader(model_id=model_id(codec.model), image_shape=tuple(image_shape),
                         settings=codec.settings.to_header(), chunks=tuple(chunks), file_names=file_names)


def check_file_names(file_names, count):
    """Refuse, before any coding, ``file_names`` that cannot name ``count`` images (None passes)."""
    if file_names is not None:
        problem = file_names_problem(file_names, count)
        if problem:
            raise ValueError(f"file_names {problem}")


def compress_images(codec, images, lanes=None, chunk_images=None, workers=1, progress=None, file_names=None):
    """The bytes of a version-2 file holding ``images`` (see :func:`bbans_numba.compress`)."""
    images = _check_image_array(codec, images)
    check_file_names(file_names, len(images))
    coded = list(encode_chunks(codec, images, lanes, chunk_images, workers, progress))
    header = header_for(codec, images.shape[1:], [chunk for chunk, _ in coded], file_names)
    return header.to_bytes() + b"".join(payload for _, payload in coded)


def write_compressed(codec, images, stream, lanes=None, chunk_images=None, workers=1, progress=None,
                     file_names=None):
    """Write the version-2 file of ``images`` to the binary ``stream``; returns its size in bytes.

    Memory stays bounded whatever the number of images: payloads wait in a temporary file
    (in memory up to 16 MiB) until the header, which lists their sizes, has been written.
    """
    images = _check_image_array(codec, images)
    check_file_names(file_names, len(images))
    chunks = []
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        for chunk, payload in encode_chunks(codec, images, lanes, chunk_images, workers, progress):
            chunks.append(chunk)
            spool.write(payload)
        header = header_for(codec, images.shape[1:], chunks, file_names).to_bytes()
        stream.write(header)
        spool.seek(0)
        shutil.copyfileobj(spool, stream)
    return len(header) + sum(chunk.payload_bytes for chunk in chunks)


# Shipped models loaded so far, by name: a file names its model by id, and finding the id
# means loading the models (~0.15 s each); they are read-only, so one copy serves every call.
_SHIPPED_MODELS = {}


def _shipped_model(name):
    if name not in _SHIPPED_MODELS:
        _SHIPPED_MODELS[name] = load_model(name)
    return _SHIPPED_MODELS[name]


def shipped_model_name(wanted):
    """The name of the shipped model whose id is ``wanted`` (8 bytes), or None."""
    for name in available_models():
        if model_id(_shipped_model(name)) == wanted:
            return name
    return None


def _shipped_model_with_id(wanted):
    """The shipped model whose id is ``wanted``, or a ContainerError saying how to pass another model."""
    name = shipped_model_name(wanted)
    if name is None:
        raise ContainerError(f"this file was compressed with model id {wanted.hex()}, which is not a shipped model "
                             f"(shipped: {', '.join(available_models()) or 'none'}): pass it explicitly with "
                             "model=... (CLI: --model PATH)")
    return _shipped_model(name)


def codec_for(header, model=None):
    """The codec that decodes a version-2 file with ``header``.

    ``model`` (a name, path or loaded model) is used when given; otherwise the shipped model
    with the file's id is (a file never names a path).  Its id must match the file's: the
    rest of its fingerprint is checked by every chunk's pixel CRC (:func:`pixel_crc`).
    """
    if model is None:
        model = _shipped_model_with_id(header.model_id)
    elif isinstance(model, (str, os.PathLike)):  # a loaded model of any kind is used as given
        model = load_model(model)
    if model_id(model) != header.model_id:
        raise ContainerError(f"this file was compressed with model id {header.model_id.hex()}, but model "
                             f"{model.name!r} has id {model_id(model).hex()}: decoding needs the same weights")
    if header.image_shape != tuple(model.image_shape):
        raise ContainerError(f"file holds images of shape {header.image_shape}, model {model.name!r} codes "
                             f"{tuple(model.image_shape)}")
    return VAECodec(model, CodingSettings.from_header(header.settings))


def image_range(images, count):
    """``(first, stop)`` of the selection ``images`` (None: all, or a slice with step 1) of ``count`` images.

    >>> image_range(None, 10), image_range(slice(3, None), 10), image_range(slice(-2, 100), 10)
    ((0, 10), (3, 10), (8, 10))
    """
    if images is None:
        return 0, count
    if not isinstance(images, slice) or images.step not in (None, 1):
        raise ValueError(f"images must be a slice with step 1 (e.g. slice(100, 200)), got {images!r}")
    first, stop, _ = images.indices(count)
    return first, max(first, stop)


def decode_chunks(source, model=None, images=None, workers=1, progress=None):
    """Decode the chunks of a version-2 file holding the selected images.

    Parameters
    ----------
    source : bytes-like or seekable binary file
    model, images, workers, progress
        As for :func:`bbans_numba.decompress`.

    Returns
    -------
    header : ChunkedHeader
    first, stop : int
        The selected image range.
    parts : iterator of (int, numpy.ndarray)
        ``(index of its first image, images)`` of each selected image run, in order, each
        checked against its chunk's CRC before it is yielded.
    """
    header, header_bytes = container_v2.read_header(source)
    codec = codec_for(header, model)
    first, stop = image_range(images, header.count)
    indices = header.chunks_holding(first, stop)
    starts = header.chunk_starts()
    offsets = header.payload_offsets(header_bytes)
    view = memoryview(source) if isinstance(source, (bytes, bytearray, memoryview)) else None

    def payload(index):
        chunk, offset = header.chunks[index], offsets[index]
        if view is not None:
            return bytes(view[offset:offset + chunk.payload_bytes])
        source.seek(offset)
        return source.read(chunk.payload_bytes)

    def parts():
        arguments = ((header.chunks[index], payload(index), index, index == len(header.chunks) - 1)
                     for index in indices)
        with ChunkCoder(codec, workers, len(indices)) as coder:
            done = 0
            for index, decoded in zip(indices, coder.map(_decode_task, arguments)):
                low, high = max(first, starts[index]), min(stop, starts[index + 1])
                done += high - low
                if progress is not None:
                    progress(done, stop - first)
                yield low, decoded[low - starts[index]:high - starts[index]]

    return header, first, stop, parts()


def decompress_file(source, model=None, images=None, workers=1, progress=None):
    """The images of a version-2 file (see :func:`bbans_numba.decompress`)."""
    header, first, stop, parts = decode_chunks(source, model, images, workers, progress)
    decoded = [part for _, part in parts]
    if not decoded:
        return np.empty((stop - first,) + header.image_shape, dtype=np.uint8)
    return np.concatenate(decoded) if len(decoded) > 1 else decoded[0].copy()


def decompress_to_npy(source, stream, model=None, images=None, workers=1, progress=None):
    """Decode a version-2 file into the binary ``stream`` as a ``.npy`` file, chunk by chunk.

    Memory stays bounded by a few chunks whatever the number of images.  Returns the
    shape written.
    """
    header, first, stop, parts = decode_chunks(source, model, images, workers, progress)
    shape = (stop - first,) + header.image_shape
    np.lib.format.write_array_header_2_0(stream, {"descr": "|u1", "fortran_order": False, "shape": shape})
    for _, part in parts:
        stream.write(part.tobytes())
    return shape
