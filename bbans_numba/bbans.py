"""Bits-back ANS as a codec: push a set of images onto a message with a VAE, pop them back.

One image costs about the model's negative ELBO.  Per image, :meth:`VAECodec.push`

1. **pops** latent buckets ``z`` with the quantized posterior q(z|x) (getting bits back),
2. **pushes** the pixels ``x`` with the likelihood p(x|z) (evaluated at the bucket centres),
3. **pushes** ``z`` with the prior, uniform over the ``2**bucket_bits`` equal-mass buckets.

:meth:`VAECodec.pop` runs the mirror image: pop ``z`` with the prior, pop ``x`` with p(x|z),
push ``z`` with q(z|x) -- which returns the bits borrowed in step 1.

Lanes and rounds
----------------
The message has ``lanes`` independent rANS states.  Images are dealt to them in
**rounds**: a round codes one image on each of its first lanes, so every network call sees a
batch and every jitted kernel loops over lanes.  (A codec *step*, as in
``pop(message, num_steps)``, is one symbol per lane: a round pushes ``latent_dim`` steps of
latents and ``D`` steps of pixels.)  :func:`deal` gives full rounds (a message you hold);
:func:`ramp` gives the rounds of a chunk that starts from nothing (version 2, below).

Chunks: starting from nothing
-----------------------------
A file is made of independent chunks, each coded onto a fresh message whose heads hold no
data (``2**31`` plus pseudo-random low bits: 32 bits each, the least a head can cost) and no
words.  Bits-back needs bits to pop, so :meth:`VAECodec.push_chunk` starts with one image
alone (:meth:`VAECodec.push_first`: its latent is *chosen* -- the posterior mean snapped to a
coarse grid -- and pushed uniformly, nothing is popped), then runs rounds of 2, 4, 8, ... lanes
up to the message's lanes (:func:`ramp`): each round's posterior pops find enough words
pushed by the rounds before it.  If a pop ever finds the stream empty (it would draw from
the underflow generator, whose words are not stored and so not refunded), the chunk is
coded again over zero *pad words* at the bottom of the stream; :mod:`bbans_numba.chunks`
does that, so a version-2 message never borrows and its decoder may refuse the first draw.

Determinism
-----------
Decoding needs bit-identical probabilities.  The networks of :mod:`bbans_numba.model`
compute every output row from its own input row alone, in a fixed order of
floating-point operations, so the batch size and thread count cannot change them; all
quantization is jitted integer/float code shared by both sides.  After decoding, the
message must be back to its fresh state and every chunk of pixels must match its CRC32
from the file, or decoding raises: corruption is reported, never returned as data.

Examples
--------
>>> import numpy as np, bbans_numba as bb
>>> images = bb.load_images("mnist:sample")[:20]
>>> blob = bb.compress(images, lanes=4)
>>> bool(np.array_equal(bb.decompress(blob), images))
True

The codec itself, on a message you hold:

>>> codec = VAECodec("mnist")
>>> message = bb.Message(num_lanes=4)
>>> codec.push(message, images[:6])
>>> bool(np.array_equal(codec.pop(message, 6), images[:6])), message == bb.Message(num_lanes=4)
(True, True)

A chunk, from nothing (no borrowed bits: ``underflow_words`` stays 0):

>>> from bbans_numba.chunks import fresh_message
>>> message = fresh_message(lanes=4)
>>> codec.push_chunk(message, images[:10])
>>> message.underflow_words, bool(np.array_equal(codec.pop_chunk(message, 10), images[:10]))
(0, True)
>>> message == fresh_message(lanes=4)
True
"""

import os
import warnings

import numpy as np

from . import codecs, container, portable
from . import quantize as q
from .model import available_models, load_model
from .rans import Message
from .settings import DEFAULT_CHUNK_IMAGES, DEFAULT_LANES, CodingSettings

__all__ = ["compress", "compress_to", "decompress", "decompress_to_npy", "file_info", "make_codec", "VAECodec",
           "CodingSettings", "DEFAULT_LANES", "DEFAULT_CHUNK_IMAGES", "BorrowedBitsError", "deal", "ramp"]

_LN2 = 0.6931471805599453  # log(2), rounded to float64

# Rounds whose posteriors the encoder computes in one network call (bounds memory).
_POSTERIOR_ROUNDS_PER_CALL = 16
# Chunks of fewer images refine their first image's latent with this many passes (encoder only).
_REFINE_BELOW_IMAGES = 64
_REFINE_PASSES = 2


class BorrowedBitsError(ValueError):
    """A pop found the stream empty and drew from the underflow generator where that is not allowed.

    For the encoder of a chunk this means "code it again over pad words"; for a decoder, that
    the payload ran out before the images it claims: a corrupted file.
    """


class VAECodec:
    """BB-ANS with a VAE as one symmetric codec: ``push(message, images)`` / ``pop(message, count)``.

    It is the composition of three codecs per image (the posterior q(z|x), the likelihood
    p(x|z) and the prior p(z)), dealt over the message's lanes in rounds (module docstring).
    :meth:`push_chunk` / :meth:`pop_chunk` code a chunk onto a message that holds nothing.

    Parameters
    ----------
    model : str, CodingModel or PixelVAEModel
        A shipped model name, a path to an exported ``.npz``, or a loaded model
        (:func:`bbans_numba.model.load_model`).
    settings : CodingSettings, optional
        Quantization settings; the defaults of :class:`CodingSettings` when left out.
    """

    def __init__(self, model, settings=None):
        self.model = load_model(model) if isinstance(model, (str, os.PathLike)) else model
        self.settings = CodingSettings() if settings is None else settings
        self.prior = codecs.Uniform(self.settings.bucket_bits)
        self.first_prior = codecs.Uniform(self.settings.first_latent_bits)
        self._centres = q.std_normal_bucket_centres(self.settings.bucket_bits)
        self._edges = q.std_normal_bucket_edges(self.settings.bucket_bits)
        # A super-bucket of the first image's latent grid spans 2**_first_shift buckets.
        self._first_shift = self.settings.bucket_bits - self.settings.first_latent_bits

    # -- the three codecs of one round (one image per lane) ------------------------------
    def posterior(self, mean, std):
        """q(z|x) over the latent buckets, for (lanes, latent_dim) ``mean`` and ``std``."""
        s = self.settings
        return codecs.DiagGaussianStdBins(mean, std, s.bucket_bits, s.latent_precision_bits, s.quantizer)

    def likelihood(self, buckets):
        """p(x|z) over (lanes, pixels), at the centres of the (lanes, latent_dim) ``buckets``."""
        return self.model.likelihood_codec(self._centres[buckets], self.settings.pixel_precision_bits)

    def _push_round(self, message, images, mean, std):
        buckets = self.posterior(mean, std).pop(message)
        self.likelihood(buckets).push(message, images.reshape(len(images), -1))
        self.prior.push(message, buckets)

    def _pop_round(self, message):
        buckets = self.prior.pop(message, num_steps=self.model.latent_dim)
        pixels = self.likelihood(buckets).pop(message, num_steps=self.model.num_pixels)
        images = pixels.astype(np.uint8).reshape((message.num_lanes,) + self.model.image_shape)
        self.posterior(*self.model.encode(images)).push(message, buckets)
        return images

    # -- a first image per lane, without bits back ---------------------------------------
    def first_latent(self, images, refine_passes=0):
        """The latent the encoder picks for ``images`` coded by :meth:`push_first`: super-bucket indices.

        Each dimension's posterior mean, snapped to the ``2**first_latent_bits`` equal-mass
        super-buckets of N(0, 1), then improved by ``refine_passes`` passes of
        :meth:`_refine_first_latent`.  The decoder never recomputes this choice (it pops it),
        so it need not be reproducible.
        """
        mean, _ = self.model.encode(images)
        choice = np.searchsorted(self._edges, mean) >> self._first_shift
        for row in range(len(images) if refine_passes else 0):
            choice[row] = self._refine_first_latent(images[row], choice[row], refine_passes)
        return choice

    def _pixel_bits(self, image, super_buckets):
        """Bits the pixels of ``image`` cost under each latent row of ``super_buckets`` (k, latent_dim)."""
        codec = self.likelihood(self._first_buckets(super_buckets))
        pixels = np.broadcast_to(image.reshape(1, -1).astype(np.int64), (len(super_buckets), image.size))
        _, freqs = codec.intervals(Message(num_lanes=len(super_buckets)), pixels)
        # Portable log (not libm's): the encoder's choice, hence the bytes, is the same on every machine,
        # so compress_dask on other machines still gives bb.compress's bytes.
        log2_freqs = portable.elementwise("log", freqs) / _LN2
        return np.sum(self.settings.pixel_precision_bits - log2_freqs, axis=1)

    def _refine_first_latent(self, image, choice, passes):
        """Move dimensions of ``choice`` to neighbouring super-buckets while the pixels get cheaper.

        Each pass prices every single move (one dimension up or down) in one batch, then
        takes the best move of every dimension that has an improving one if that combination
        is cheaper still, else the single best move.  The latent's own cost is the same
        wherever it lies (uniform), so only the pixels' cost counts.
        """
        top = (1 << self.settings.first_latent_bits) - 1
        cost = self._pixel_bits(image, choice[None])[0]
        dims = np.arange(choice.size)
        for _ in range(passes):
            moves = np.repeat(choice[None], 2 * choice.size, axis=0)
            moves[2 * dims, dims] -= 1
            moves[2 * dims + 1, dims] += 1
            np.clip(moves, 0, top, out=moves)
            costs = self._pixel_bits(image, moves).reshape(choice.size, 2)
            best = np.argmin(costs, axis=1)
            improving = costs[dims, best] < cost
            if not improving.any():
                break
            combined = np.where(improving, moves[2 * dims + best, dims], choice)
            combined_cost = self._pixel_bits(image, combined[None])[0]
            if combined_cost < cost:
                choice, cost = combined, combined_cost
            else:
                flat = int(np.argmin(costs))
                choice, cost = moves[flat], costs.reshape(-1)[flat]
        return choice

    def _first_buckets(self, super_buckets):
        """The bucket standing for each super-bucket: the middle one of the buckets it spans."""
        return (super_buckets << self._first_shift) | ((1 << self._first_shift) >> 1)

    def push_first(self, message, images, refine_passes=0):
        """Push one image per lane with a chosen latent: pixels with p(x|z), z uniformly; nothing is popped.

        Costs ``-log2 p(x|z) + latent_dim * first_latent_bits`` bits, a little more than
        bits-back, but needs no bits on the message (module docstring).  ``refine_passes``:
        see :meth:`first_latent`.
        """
        images = self.check_images(images)
        super_buckets = self.first_latent(images, refine_passes)
        self.likelihood(self._first_buckets(super_buckets)).push(message, images.reshape(len(images), -1))
        self.first_prior.push(message, super_buckets)

    def pop_first(self, message):
        """Undo :meth:`push_first`: one image per lane of ``message``."""
        super_buckets = self.first_prior.pop(message, num_steps=self.model.latent_dim)
        pixels = self.likelihood(self._first_buckets(super_buckets)).pop(message, num_steps=self.model.num_pixels)
        return pixels.astype(np.uint8).reshape((message.num_lanes,) + self.model.image_shape)

    # -- any number of images over the message's lanes -----------------------------------
    def check_images(self, images):
        """``images`` as a C-contiguous uint8 array of shape (N,) + model.image_shape, or ValueError."""
        images = np.asarray(images)
        shape = tuple(self.model.image_shape)
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got dtype {images.dtype}")
        if images.shape[1:] != shape or images.ndim != 1 + len(shape):
            raise ValueError(f"model {self.model.name!r} codes images of shape {shape}; got an array of shape "
                             f"{images.shape} (expected (N, {', '.join(map(str, shape))}))")
        return np.ascontiguousarray(images)

    def push(self, message, images, progress=None, rounds=None, borrow=True):
        """Encode ``images`` onto ``message`` with bits-back, in rounds.

        ``rounds`` (slices of ``images``, one image per lane each; default
        ``deal(len(images), message.num_lanes)``) are pushed in order.  ``progress(done, total)``
        is called after each round.  With ``borrow=False``, a round after which the message
        has drawn from the underflow generator raises :class:`BorrowedBitsError`.  The
        posterior network runs on up to ``_POSTERIOR_ROUNDS_PER_CALL`` rounds at once (rows
        are independent, so the batching cannot change a bit).
        """
        images = self.check_images(images)
        rounds = deal(len(images), message.num_lanes) if rounds is None else rounds
        for first in range(0, len(rounds), _POSTERIOR_ROUNDS_PER_CALL):
            batch = rounds[first:first + _POSTERIOR_ROUNDS_PER_CALL]
            offset = batch[0].start
            means, stds = self.model.encode(images[offset:batch[-1].stop])
            for images_of_round in batch:
                rows = slice(images_of_round.start - offset, images_of_round.stop - offset)
                lanes = images_of_round.stop - images_of_round.start
                self._push_round(message.first_lanes(lanes), images[images_of_round], means[rows], stds[rows])
                _check_borrowing(message, borrow, "the encoder's posterior pops found the stream empty")
                _report(progress, images_of_round.stop, len(images))

    def pop(self, message, count, progress=None, rounds=None, borrow=True, out=None):
        """Decode ``count`` images from ``message`` (the inverse of :meth:`push`); uint8 array.

        ``rounds`` must be those pushed (popped in reverse); ``out`` (shape (count, ...)), if
        given, receives the images.  ``progress(done, total)`` is called after each round.
        With ``borrow=False``, a round after which the message has drawn from the underflow
        generator raises :class:`BorrowedBitsError` (the payload ran out: decoding work stays
        bounded by the payload).
        """
        images = np.empty((count,) + tuple(self.model.image_shape), dtype=np.uint8) if out is None else out
        rounds = deal(count, message.num_lanes) if rounds is None else rounds
        for images_of_round in reversed(rounds):
            lanes = images_of_round.stop - images_of_round.start
            images[images_of_round] = self._pop_round(message.first_lanes(lanes))
            _check_borrowing(message, borrow, "the payload ran out before the images it claims")
            _report(progress, count - images_of_round.start, count)
        return images

    def push_chunk(self, message, images, progress=None):
        """Encode a chunk of ``images`` onto ``message``, which holds nothing (see :func:`ramp`).

        Raises :class:`BorrowedBitsError` if a posterior pop finds the stream empty (the
        caller codes the chunk again over pad words: :func:`bbans_numba.chunks.encode_chunk`).
        A chunk of fewer than ``_REFINE_BELOW_IMAGES`` images refines its first image's latent
        (:meth:`first_latent`): ~35 bits less on MNIST for ~0.2 s, which only small chunks
        notice (0.045 bits/dim for one image).
        """
        images = self.check_images(images)
        if not len(images):
            return
        rounds = ramp(len(images), message.num_lanes)
        refine = _REFINE_PASSES if len(images) < _REFINE_BELOW_IMAGES else 0
        self.push_first(message.first_lanes(1), images[rounds[0]], refine)
        _report(progress, 1, len(images))
        if len(rounds) > 1:
            self.push(message, images, progress, rounds=rounds[1:], borrow=False)

    def pop_chunk(self, message, count, progress=None):
        """Decode a chunk of ``count`` images (the inverse of :meth:`push_chunk`); uint8 array.

        Raises :class:`BorrowedBitsError` as soon as a round draws from the underflow
        generator: the payload ran out.
        """
        images = np.empty((count,) + tuple(self.model.image_shape), dtype=np.uint8)
        if not count:
            return images
        rounds = ramp(count, message.num_lanes)
        self.pop(message, count, progress, rounds=rounds[1:], borrow=False, out=images)
        images[rounds[0]] = self.pop_first(message.first_lanes(1))
        _check_borrowing(message, False, "the payload ran out before the images it claims")
        _report(progress, count, count)
        return images

def _check_borrowing(message, borrow, what):
    if not borrow and message.underflow_words:
        raise BorrowedBitsError(f"{what} (a pop drew from the underflow generator)")


def deal(count, lanes):
    """The images of each round, as slices: ``count`` images dealt to ``lanes`` lanes.

    Round ``r`` holds images ``r*lanes .. min((r+1)*lanes, count) - 1``, one per lane
    (the first lanes of a last, partial round).  Push runs the rounds forwards, pop backwards.

    Examples
    --------
    >>> deal(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    return [slice(first, min(first + lanes, count)) for first in range(0, count, lanes)]


def ramp(count, lanes):
    """The rounds of a chunk of ``count`` images coded from nothing on ``lanes`` lanes.

    Round 0 is image 0 alone (on lane 0, coded by :meth:`VAECodec.push_first`); then each
    round uses twice the lanes of the one before, up to ``lanes``: a round's posterior pops
    (~0.4 of an image's cost each on MNIST) take bits the earlier rounds pushed.  The last
    round may be partial.

    Examples
    --------
    >>> [(r.start, r.stop) for r in ramp(20, 4)]
    [(0, 1), (1, 3), (3, 7), (7, 11), (11, 15), (15, 19), (19, 20)]
    """
    rounds, first, size = [], 0, 1
    while first < count:
        rounds.append(slice(first, min(first + size, count)))
        first, size = rounds[-1].stop, min(2 * size, lanes)
    return rounds


def _report(progress, done, total):
    if progress is not None:
        progress(done, total)


def make_codec(model, quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits, first_latent_bits):
    """The :class:`VAECodec` of a model and optional settings (``None``: the default), as ``compress`` takes them."""
    settings = CodingSettings.from_options(quantizer=quantizer, bucket_bits=bucket_bits,
                                           latent_precision_bits=latent_precision_bits,
                                           pixel_precision_bits=pixel_precision_bits,
                                           first_latent_bits=first_latent_bits)
    return VAECodec(model, settings)


def compress(images, model="mnist", lanes=None, quantizer=None, bucket_bits=None, latent_precision_bits=None,
             pixel_precision_bits=None, first_latent_bits=None, chunk_images=None, workers=None, progress=None, *,
             file_names=None, chains=None):
    """Compress uint8 images losslessly with bits-back ANS (format version 2).

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N,) + model.image_shape
        Any array-like, a memory-mapped ``.npy`` included (read one chunk at a time).
    model : str, CodingModel or PixelVAEModel
        ``"mnist"`` (the shipped default, a PixelVAE), another shipped name (``"mnist-mlp"``,
        ``"mnist-fast"``), a path to an exported ``.npz`` model, or a loaded model.
    lanes : int, optional
        rANS lanes per chunk, coded in lock-step; see :func:`bbans_numba.settings.resolve_lanes`
        (default: one per 32 images, at most :data:`DEFAULT_LANES`).
    quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits, first_latent_bits
        Quantization settings, see :class:`CodingSettings`; ``None`` takes its default.
    chunk_images : int or sequence of int, optional
        Images per chunk (default :data:`DEFAULT_CHUNK_IMAGES`), or every chunk's size
        (see :func:`bbans_numba.settings.chunk_sizes`).  Chunks are coded independently:
        in parallel, and decoded alone for random access.
    workers : int, optional
        Threads coding chunks at once (default: one per core; 1: in the calling thread).
        The bytes do not depend on it.
    progress : callable, optional
        Called as ``progress(images_done, images_total)`` after each chunk.
    file_names : list of str, optional
        The PNG file name of each image, stored in the file's header (``file_names``) so
        that decompressing to a folder can restore them; checked before any coding, see
        :func:`bbans_numba.container.file_names_problem`.  Decoding never depends on them.
    chains : int, optional
        Deprecated name of ``lanes``.

    Returns
    -------
    bytes
        A self-describing file (see ``bbans_numba/format.md``, printed by ``bbans format``).
    """
    from . import chunks

    if chains is not None:
        warnings.warn("compress(chains=...) is deprecated; use lanes=...", DeprecationWarning, stacklevel=2)
        lanes = chains if lanes is None else lanes
    codec = make_codec(model, quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits,
                               first_latent_bits)
    return chunks.compress_images(codec, images, lanes=lanes, chunk_images=chunk_images, workers=workers,
                                  progress=progress, file_names=file_names)


def compress_to(stream, images, model="mnist", lanes=None, quantizer=None, bucket_bits=None,
                latent_precision_bits=None, pixel_precision_bits=None, first_latent_bits=None, chunk_images=None,
                workers=None, progress=None, *, file_names=None):
    """Like :func:`compress`, but write the file to the binary ``stream``; returns its size in bytes.

    Memory stays bounded whatever the number of images (a memory-mapped ``.npy`` is read a
    chunk at a time; payloads wait in a temporary file until the header is written).
    """
    from . import chunks

    codec = make_codec(model, quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits,
                               first_latent_bits)
    return chunks.write_compressed(codec, images, stream, lanes=lanes, chunk_images=chunk_images, workers=workers,
                                   progress=progress, file_names=file_names)


def decompress(source, model=None, images=None, workers=None, progress=None):
    """Decompress a file made by :func:`compress`; returns the images, bit-exact.

    Parameters
    ----------
    source : bytes or seekable binary file
        A version-2 file (from a file object, only the header and the chunks needed are read).
        A version-1 file is refused with a :class:`~bbans_numba.container.ContainerError`
        naming the release that decodes it (:func:`refuse_old_version`).
    model : str, CodingModel or PixelVAEModel, optional
        The model to decode with.  By default the shipped model the file names (by its model
        id); a model of your own must be passed here (a file never makes
        the decoder open a path).  Its fingerprint must match the file's.
    images : slice, optional
        Only these images (a slice of the image indices, step 1): only the chunks holding
        them are decoded.
    workers : int, optional
        Threads decoding chunks at once (default: one per core; 1: in the calling thread).
    progress : callable, optional
        Called as ``progress(images_done, images_total)``.

    Raises
    ------
    bbans_numba.container.ContainerError
        Not a bbans file, newer format, truncated, corrupted (checksums, or a header the
        payload contradicts), or a missing or different model.  Wrong pixels are never returned.
    """
    from . import chunks

    refuse_old_version(_version(source))
    return chunks.decompress_file(source, model=model, images=images, workers=workers, progress=progress)


def decompress_to_npy(source, stream, model=None, images=None, workers=None, progress=None):
    """Like :func:`decompress`, but write the images to the binary ``stream`` as a ``.npy`` file.

    A version-2 file is decoded and written chunk by chunk, in bounded memory.  Returns the
    shape written.
    """
    from . import chunks

    refuse_old_version(_version(source))
    return chunks.decompress_to_npy(source, stream, model=model, images=images, workers=workers, progress=progress)


# Format versions this release only describes (``bbans info``), each with the release that
# decodes it.  Version 1 (bbans_numba 0.1.x) computed the ``mnist`` model with the
# platform's libm; this release computes it with portable math (issue 10), so those files
# no longer decode bit-exactly here.
_DECODED_BY_RELEASE = {1: "0.1.0"}


def refuse_old_version(version):
    """Raise :class:`~bbans_numba.container.ContainerError` for a format version this release does not decode.

    Examples
    --------
    >>> refuse_old_version(2)
    >>> refuse_old_version(1)
    Traceback (most recent call last):
    ...
    bbans_numba.container.ContainerError: this is a format v1 file written by bbans_numba 0.1.x; this release (format v2) does not decode it: decode it with `pip install bbans_numba==0.1.0`
    """
    if version in _DECODED_BY_RELEASE:
        release = _DECODED_BY_RELEASE[version]
        raise container.ContainerError(
            f"this is a format v{version} file written by bbans_numba {release.rsplit('.', 1)[0]}.x; this release "
            f"(format v{container.FORMAT_VERSION}) does not decode it: decode it with "
            f"`pip install bbans_numba=={release}`"
        )


def _version(source):
    """The format version of ``source`` (bytes, or a seekable file: read from its start)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return container.file_version(source)
    source.seek(0)
    start = source.read(len(container.MAGIC) + 2)
    source.seek(0)
    return container.file_version(start)


def file_info(source):
    """What ``bbans info`` shows about a file (bytes or a seekable binary file), as a dict.

    See :func:`bbans_numba.container.describe_file`; for a version-2 file (of which only the
    header is read), ``model`` is the shipped model with the file's id, or None.
    """
    from . import chunks, container_v2

    if _version(source) == 2:
        header, header_bytes = container_v2.read_header(source)
        size = len(source) if isinstance(source, (bytes, bytearray, memoryview)) else source.seek(0, 2)
        return dict(header.describe(size, header_bytes), model=chunks.shipped_model_name(header.model_id))
    return container.describe_file(source if isinstance(source, (bytes, bytearray, memoryview)) else source.read())
