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
**rounds**: round ``r`` codes images ``r*lanes .. r*lanes + lanes - 1``, one per lane, so
every network call sees a batch and every jitted kernel loops over lanes; a last, partial
round uses only the first lanes.  (A codec *step*, as in ``pop(message, num_steps)``, is
one symbol per lane: a round pushes ``latent_dim`` steps of latents and ``D`` steps of
pixels.)  Each lane costs a fixed overhead (its 64-bit head, and the "initial bits" its
first pops draw from the message's generator), so more lanes is faster per image but costs
a little more: see :mod:`bbans_numba.settings` for the default.

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
"""

import os
import warnings

import numpy as np

from . import codecs, container
from . import quantize as q
from .model import available_models, load_model
from .rans import Message
from .settings import DEFAULT_LANES, CodingSettings, resolve_lanes

__all__ = ["compress", "decompress", "file_info", "VAECodec", "CodingSettings", "DEFAULT_LANES"]

# Rounds whose posteriors the encoder computes in one network call (bounds memory).
_POSTERIOR_ROUNDS_PER_CALL = 16


class VAECodec:
    """BB-ANS with a VAE as one symmetric codec: ``push(message, images)`` / ``pop(message, count)``.

    It is the composition of three codecs per image (the posterior q(z|x), the likelihood
    p(x|z) and the prior p(z)), dealt over the message's lanes in rounds (module docstring).

    Parameters
    ----------
    model : str or CodingModel
        A shipped model name, a path to an exported ``.npz``, or a loaded model.
    settings : CodingSettings, optional
        Quantization settings; the defaults of :class:`CodingSettings` when left out.
    """

    def __init__(self, model, settings=None):
        self.model = load_model(model) if isinstance(model, (str, os.PathLike)) else model
        self.settings = CodingSettings() if settings is None else settings
        self.prior = codecs.Uniform(self.settings.bucket_bits)
        self._centres = q.std_normal_bucket_centres(self.settings.bucket_bits)

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

    def push(self, message, images, progress=None):
        """Encode ``images`` onto ``message``, dealt to its lanes in rounds.

        ``progress(images_done, images_total)`` is called after each round.  The posterior
        network runs on up to ``_POSTERIOR_ROUNDS_PER_CALL`` rounds at once (rows are
        independent, so the batching cannot change a bit).
        """
        images = self.check_images(images)
        rounds = deal(len(images), message.num_lanes)
        for first in range(0, len(rounds), _POSTERIOR_ROUNDS_PER_CALL):
            batch = rounds[first:first + _POSTERIOR_ROUNDS_PER_CALL]
            offset = batch[0].start
            means, stds = self.model.encode(images[offset:batch[-1].stop])
            for images_of_round in batch:
                rows = slice(images_of_round.start - offset, images_of_round.stop - offset)
                lanes = images_of_round.stop - images_of_round.start
                self._push_round(message.first_lanes(lanes), images[images_of_round], means[rows], stds[rows])
                _report(progress, images_of_round.stop, len(images))

    def pop(self, message, count, progress=None):
        """Decode ``count`` images from ``message`` (the inverse of :meth:`push`); uint8 array.

        ``progress(images_done, images_total)`` is called after each round.
        """
        images = np.empty((count,) + tuple(self.model.image_shape), dtype=np.uint8)
        for images_of_round in reversed(deal(count, message.num_lanes)):
            lanes = images_of_round.stop - images_of_round.start
            images[images_of_round] = self._pop_round(message.first_lanes(lanes))
            _report(progress, count - images_of_round.start, count)
        return images

    # -- the codec as a file header describes it ----------------------------------------
    def header(self, images, message, file_names=None):
        """The :class:`~bbans_numba.container.Header` of ``images`` pushed onto ``message``.

        ``file_names`` (optional, one per image) are stored in it for whoever writes the
        images out again; the codec itself never reads them.
        """
        return container.Header.for_images(
            images, model_name=self.model.name, model_fingerprint=self.model.fingerprint, lanes=message.num_lanes,
            settings=self.settings.to_header(self.model.likelihood), initial_words=message.underflow_words,
            file_names=file_names,
        )

    @classmethod
    def for_header(cls, header, model=None):
        """The codec that decodes a file with ``header``.

        ``model`` (a name, path or loaded model) is used when given; otherwise the model
        named in the header is looked up among the shipped models only -- a name from a
        file is never opened as a path.  Either way its fingerprint must match.
        """
        if model is None:
            model = _shipped_model(header.model_name)
        codec = cls(model, CodingSettings.from_header(header.settings))
        found = codec.model
        if found.fingerprint != header.model_fingerprint:
            raise container.ContainerError(
                f"this file was compressed with model {header.model_name!r} (fingerprint "
                f"{header.model_fingerprint[:12]}...), but model {found.name!r} has fingerprint "
                f"{found.fingerprint[:12]}...: decoding needs the same weights"
            )
        if header.image_shape != tuple(found.image_shape):
            raise container.ContainerError(
                f"file holds images of shape {header.image_shape}, model codes {tuple(found.image_shape)}"
            )
        return codec


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


def _report(progress, done, total):
    if progress is not None:
        progress(done, total)


def _shipped_model(name):
    """The shipped model ``name`` names, or a ContainerError saying how to pass another model."""
    shipped = available_models()
    if name not in shipped:
        raise container.ContainerError(
            f"this file was compressed with model {name!r}, which is not a shipped model "
            f"(shipped: {', '.join(shipped) or 'none'}): pass it explicitly with model=... (CLI: --model PATH)"
        )
    return load_model(name)


def compress(images, model="mnist", lanes=None, quantizer=None, bucket_bits=None, latent_precision_bits=None,
             pixel_precision_bits=None, progress=None, *, file_names=None, chains=None):
    """Compress uint8 images losslessly with bits-back ANS.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N,) + model.image_shape
    model : str or CodingModel
        ``"mnist"`` (the shipped default), another shipped name, or a path to an
        exported ``.npz`` model.
    lanes : int, optional
        Number of rANS lanes coded in lock-step; see :func:`bbans_numba.settings.resolve_lanes`
        (default :data:`DEFAULT_LANES`, never more than N).
    quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits
        Quantization settings, see :class:`CodingSettings`; ``None`` takes its default.
    progress : callable, optional
        Called as ``progress(images_done, images_total)`` after each round.
    file_names : list of str, optional
        The PNG file name of each image, stored in the file's header (``Header.file_names``)
        so that decompressing to a folder can restore them; checked before any coding, see
        :func:`bbans_numba.container.file_names_problem`.  Decoding never depends on them.
    chains : int, optional
        Deprecated name of ``lanes``.

    Returns
    -------
    bytes
        A self-describing file (see ``bbans_numba/format.md``, printed by ``bbans format``).
    """
    if chains is not None:
        warnings.warn("compress(chains=...) is deprecated; use lanes=...", DeprecationWarning, stacklevel=2)
        lanes = chains if lanes is None else lanes
    settings = CodingSettings.from_options(quantizer=quantizer, bucket_bits=bucket_bits,
                                           latent_precision_bits=latent_precision_bits,
                                           pixel_precision_bits=pixel_precision_bits)
    codec = VAECodec(model, settings)
    images = codec.check_images(images)
    if file_names is not None:
        problem = container.file_names_problem(file_names, len(images))
        if problem:
            raise ValueError(f"file_names {problem}")
    message = Message(num_lanes=resolve_lanes(lanes, len(images)))
    codec.push(message, images, progress)
    return container.pack(codec.header(images, message, file_names), message.to_bytes())


def decompress(blob, model=None, progress=None):
    """Decompress a file made by :func:`compress`; returns the images, bit-exact.

    Parameters
    ----------
    blob : bytes
    model : str or CodingModel, optional
        The model to decode with.  By default the shipped model named in the file; a model
        of your own must be passed here (a file never makes the decoder open a path).  Its
        fingerprint must match the file's.
    progress : callable, optional
        Called as ``progress(images_done, images_total)`` after each round.

    Raises
    ------
    bbans_numba.container.ContainerError
        Not a bbans file, newer format, truncated, corrupted (checksums, or a header the
        payload contradicts), or a missing or different model.  Wrong pixels are never returned.
    """
    header, payload = container.unpack(blob)
    codec = VAECodec.for_header(header, model)
    message = _message_of(header, payload)
    try:
        images = codec.pop(message, header.count, progress)
    except ValueError as error:  # e.g. a decoded latent the posterior gives probability 0
        raise container.ContainerError(f"corrupted file or different model: {error}") from error
    if message != Message(num_lanes=header.lanes):
        raise container.ContainerError(
            "corrupted file or different model: decoding did not return the stream to its initial state"
        )
    header.verify_pixels(images)
    return images


def _message_of(header, payload):
    """The payload's rANS message, checked against what the header says of it."""
    try:
        message = Message.from_bytes(payload)
    except ValueError as error:
        raise container.ContainerError(f"corrupted payload: {error}") from error
    if message.num_lanes != header.lanes:
        raise container.ContainerError(
            f"corrupted file: the header says {header.lanes} lanes, the payload's message has {message.num_lanes}"
        )
    if message.underflow_words != header.initial_words:
        raise container.ContainerError(
            f"corrupted file: the header says {header.initial_words} initial words, the payload's message "
            f"has {message.underflow_words}"
        )
    return message


# What ``bbans info`` shows about a file (a dict; see bbans_numba.container.Header.describe).
file_info = container.describe_file
