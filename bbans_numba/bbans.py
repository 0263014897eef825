"""Bits-back ANS over batched chains: compress a set of images with a VAE.

One image costs about the model's negative ELBO.  Per image, the encoder

1. **pops** latent buckets ``z`` with the quantized posterior q(z|x) (getting bits back),
2. **pushes** the pixels ``x`` with the likelihood p(x|z) (evaluated at the bucket centres),
3. **pushes** ``z`` with the prior, uniform over the ``2**bucket_bits`` equal-mass buckets.

The decoder runs the mirror image: pop ``z`` with the prior, pop ``x`` with p(x|z), push
``z`` with q(z|x) -- which returns the bits borrowed in step 1.

Chains
------
Images are dealt to ``chains`` independent rANS lanes that advance in lock-step: step
``t`` codes images ``t*chains .. t*chains + chains - 1``, one per lane, so every network call
sees a batch and every jitted kernel loops over lanes.  A last, partial step uses only the
first lanes.  Each lane costs a fixed overhead (its 64-bit head, and the "initial bits"
its first pops draw from the message's generator), so more chains is faster per image
but costs a little more; :data:`DEFAULT_CHAINS` keeps the overhead near 0.2 % on 10k
MNIST images.

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
>>> blob = bb.compress(images, chains=4)
>>> bool(np.array_equal(bb.decompress(blob), images))
True
"""

from dataclasses import asdict, dataclass

import numpy as np

from . import codecs, container
from . import quantize as q
from .model import CodingModel, load_model
from .rans import Message

__all__ = ["compress", "decompress", "file_info", "CodingSettings", "DEFAULT_CHAINS"]

DEFAULT_CHAINS = 64
CHECKSUM_CHUNK_IMAGES = 1000
# Steps whose posteriors the encoder computes in one network call (bounds memory).
_POSTERIOR_STEPS_PER_CALL = 16


@dataclass(frozen=True)
class CodingSettings:
    """Quantization settings of a file (stored in its header).

    Attributes
    ----------
    quantizer : {"exact", "histogram"}
        How the posterior N(mean, std) is quantized onto the latent buckets.
    bucket_bits : int
        ``2**bucket_bits`` equal-mass N(0, 1) buckets per latent dimension.
    latent_precision_bits : int
        Precision of the posterior's frequencies (``2**latent_precision_bits``); when
        not given, :meth:`default_latent_precision` picks it for the quantizer.
    pixel_precision_bits : int
        Precision of the pixel likelihood's frequencies.
    """

    # Defaults chosen on the 10k MNIST test set with the shipped model (README, bench):
    # the histogram quantizer at 8 bucket bits came closest to the -ELBO (gap 0.26 %).
    quantizer: str = "histogram"
    bucket_bits: int = 8
    latent_precision_bits: int = 16
    pixel_precision_bits: int = 24

    @staticmethod
    def default_latent_precision(quantizer, bucket_bits):
        """The latent precision used when none is given.

        The exact quantizer gives every bucket at least one slot, which reserves
        ``2**bucket_bits / 2**precision`` of the mass; 12 bits more than ``bucket_bits``
        (at most 24) keep that at 1/4096.  The histogram quantizer has no such floor:
        16 bits measured as well as 20 (README, bench).
        """
        if quantizer == "exact" and isinstance(bucket_bits, (int, np.integer)):
            return int(min(bucket_bits + 12, 24))
        return CodingSettings.latent_precision_bits

    def check(self):
        """Validate by building the codecs once on dummy parameters (ValueError if bad)."""
        codecs.DiagGaussianStdBins(0.0, 1.0, self.bucket_bits, self.latent_precision_bits, self.quantizer)
        if not 8 <= self.pixel_precision_bits <= 31:
            raise ValueError(f"pixel_precision_bits must be in [8, 31], got {self.pixel_precision_bits}")
        return self


def _resolve_model(model):
    return model if isinstance(model, CodingModel) else load_model(model)


def _check_images(images, model):
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got dtype {images.dtype}")
    if images.ndim != 1 + len(model.image_shape) or images.shape[1:] != tuple(model.image_shape):
        raise ValueError(
            f"model {model.name!r} codes images of shape {tuple(model.image_shape)}; "
            f"got an array of shape {images.shape} (expected (N, {', '.join(map(str, model.image_shape))}))"
        )
    return np.ascontiguousarray(images)


class _Coder:
    """The three codecs of one step, built from a model and settings."""

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        self.centres = q.std_normal_bucket_centres(settings.bucket_bits)
        self.prior = codecs.Uniform(settings.bucket_bits)

    def posterior(self, mean, std):
        s = self.settings
        return codecs.DiagGaussianStdBins(mean, std, s.bucket_bits, s.latent_precision_bits, s.quantizer)

    def likelihood(self, buckets):
        return self.model.likelihood_codec(self.centres[buckets], self.settings.pixel_precision_bits)

    def encode_step(self, message, pixels, mean, std):
        buckets = self.posterior(mean, std).pop(message)
        self.likelihood(buckets).push(message, pixels)
        self.prior.push(message, buckets)

    def decode_step(self, message, shape):
        buckets = self.prior.pop(message, num_steps=self.model.latent_dim)
        pixels = self.likelihood(buckets).pop(message, num_steps=int(np.prod(self.model.image_shape)))
        images = pixels.astype(np.uint8).reshape((-1,) + shape)
        mean, std = self.model.encode(images)
        self.posterior(mean, std).push(message, buckets)
        return images


def _step_lanes(count, chains):
    """(first image, lanes) of each lock-step step."""
    return [(first, min(chains, count - first)) for first in range(0, count, chains)]


def compress(
    images,
    model="mnist",
    chains=None,
    quantizer=None,
    bucket_bits=None,
    latent_precision_bits=None,
    pixel_precision_bits=None,
    progress=None,
):
    """Compress uint8 images losslessly with bits-back ANS.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (N,) + model.image_shape
    model : str or CodingModel
        ``"mnist"`` (the shipped default), another shipped name, or a path to an
        exported ``.npz`` model.
    chains : int, optional
        Number of lock-step chains (lanes); default :data:`DEFAULT_CHAINS`, at most N.
    quantizer, bucket_bits, latent_precision_bits, pixel_precision_bits
        Quantization settings, see :class:`CodingSettings`; ``None`` takes its default.
    progress : callable, optional
        Called as ``progress(images_done, images_total)`` after each step.

    Returns
    -------
    bytes
        A self-describing file (see ``docs/format.md``).
    """
    model = _resolve_model(model)
    images = _check_images(images, model)
    defaults = CodingSettings()
    quantizer = defaults.quantizer if quantizer is None else quantizer
    bucket_bits = defaults.bucket_bits if bucket_bits is None else bucket_bits
    if latent_precision_bits is None:
        latent_precision_bits = CodingSettings.default_latent_precision(quantizer, bucket_bits)
    settings = CodingSettings(
        quantizer=quantizer,
        bucket_bits=bucket_bits,
        latent_precision_bits=latent_precision_bits,
        pixel_precision_bits=defaults.pixel_precision_bits if pixel_precision_bits is None else pixel_precision_bits,
    ).check()
    count = images.shape[0]
    chains = DEFAULT_CHAINS if chains is None else chains
    if isinstance(chains, bool) or not isinstance(chains, (int, np.integer)) or chains < 1:
        raise ValueError(f"chains must be a positive integer, got {chains!r}")
    chains = int(max(1, min(chains, count)))
    coder = _Coder(model, settings)
    message = Message(num_lanes=chains)
    pixels = images.reshape(count, int(np.prod(model.image_shape)))
    steps = _step_lanes(count, chains)
    for call_start in range(0, len(steps), _POSTERIOR_STEPS_PER_CALL):
        call_steps = steps[call_start : call_start + _POSTERIOR_STEPS_PER_CALL]
        first_image = call_steps[0][0]
        last_image = call_steps[-1][0] + call_steps[-1][1]
        means, stds = model.encode(images[first_image:last_image])
        for first, lanes in call_steps:
            rows = slice(first - first_image, first - first_image + lanes)
            coder.encode_step(message.first_lanes(lanes), pixels[first : first + lanes], means[rows], stds[rows])
            if progress is not None:
                progress(first + lanes, count)
    header = {
        "model": {"name": model.name, "fingerprint": model.fingerprint},
        "image_shape": list(model.image_shape),
        "dtype": "uint8",
        "count": int(count),
        "chains": int(chains),
        "settings": dict(asdict(settings), likelihood=model.likelihood),
        "initial_words": message.underflow_words,
        "checksums": {
            "chunk_images": CHECKSUM_CHUNK_IMAGES,
            "crc32": container.pixel_checksums(images, CHECKSUM_CHUNK_IMAGES),
        },
    }
    return container.pack(header, message.to_bytes())


def _model_for_file(header, model):
    wanted = header["model"]
    if model is None:
        try:
            model = load_model(wanted["name"])
        except (FileNotFoundError, ValueError) as error:
            raise container.ContainerError(
                f"this file was compressed with model {wanted['name']!r}, which is not available here "
                f"({error}); pass the model with model=... (CLI: --model NAME|PATH)"
            ) from error
    model = _resolve_model(model)
    if model.fingerprint != wanted["fingerprint"]:
        raise container.ContainerError(
            f"this file was compressed with model {wanted['name']!r} (fingerprint {wanted['fingerprint'][:12]}...), "
            f"but model {model.name!r} has fingerprint {model.fingerprint[:12]}...: decoding needs the same weights"
        )
    if tuple(header["image_shape"]) != tuple(model.image_shape):
        raise container.ContainerError(
            f"file holds images of shape {tuple(header['image_shape'])}, model codes {tuple(model.image_shape)}"
        )
    return model


def _settings_from_header(header):
    stored = header["settings"]
    try:
        return CodingSettings(
            quantizer=stored["quantizer"],
            bucket_bits=stored["bucket_bits"],
            latent_precision_bits=stored["latent_precision_bits"],
            pixel_precision_bits=stored["pixel_precision_bits"],
        ).check()
    except (KeyError, TypeError, ValueError) as error:
        raise container.ContainerError(f"corrupted header: bad coding settings {stored!r} ({error})") from error


def decompress(blob, model=None, progress=None):
    """Decompress a file made by :func:`compress`; returns the images, bit-exact.

    Parameters
    ----------
    blob : bytes
    model : str or CodingModel, optional
        The model to decode with; by default the one named in the file.  It must have
        the same fingerprint as the model that compressed the file.
    progress : callable, optional
        Called as ``progress(images_done, images_total)`` after each step.

    Raises
    ------
    bbans_numba.container.ContainerError
        Not a bbans file, newer format, truncated, corrupted (checksums), or a missing
        or different model.  Wrong pixels are never returned.
    """
    header, payload = container.unpack(blob)
    model = _model_for_file(header, model)
    settings = _settings_from_header(header)
    count, chains = header["count"], header["chains"]
    try:
        message = Message.from_bytes(payload)
    except ValueError as error:
        raise container.ContainerError(f"corrupted payload: {error}") from error
    if message.num_lanes != chains and count > 0:
        raise container.ContainerError(f"corrupted file: header says {chains} chains, payload has {message.num_lanes}")
    shape = tuple(model.image_shape)
    images = np.empty((count,) + shape, dtype=np.uint8)
    coder = _Coder(model, settings)
    done = 0
    for first, lanes in reversed(_step_lanes(count, chains)):
        try:
            images[first : first + lanes] = coder.decode_step(message.first_lanes(lanes), shape)
        except ValueError as error:  # e.g. a decoded latent the posterior gives probability 0
            raise container.ContainerError(f"corrupted file or different model: {error}") from error
        done += lanes
        if progress is not None:
            progress(done, count)
    if count and message != Message(num_lanes=chains):
        raise container.ContainerError(
            "corrupted file or different model: decoding did not return the stream to its initial state"
        )
    container.verify_pixels(images, header)
    return images


# What ``bbans info`` shows about a file (a dict; see bbans_numba.container.describe).
file_info = container.describe_file

