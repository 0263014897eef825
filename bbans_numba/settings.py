"""The coding settings of BB-ANS and their defaults, resolved here and nowhere else.

Two kinds of setting decide how a file is coded:

* :class:`CodingSettings` -- how the latents and pixels are quantized; stored in the file
  header (``settings``), so the decoder uses exactly what the encoder used;
* how the images are split: into **chunks** of :data:`DEFAULT_CHUNK_IMAGES` images
  (:func:`chunk_sizes`), each coded alone on its own **lanes** -- independent rANS states
  coded in lock-step (:func:`resolve_lanes`); both are stored in the header's chunk table.

This module is cheap to import (no Numba), so the command line can show the real defaults
in its ``--help``.

Examples
--------
>>> CodingSettings()  # doctest: +NORMALIZE_WHITESPACE
CodingSettings(quantizer='histogram', bucket_bits=8, latent_precision_bits=16, pixel_precision_bits=24,
               first_latent_bits=4)
>>> CodingSettings(quantizer="exact").latent_precision_bits   # bucket_bits + 12
20
>>> CodingSettings.from_options(quantizer="exact", bucket_bits=None) == CodingSettings(quantizer="exact")
True
>>> resolve_lanes(None, 512), resolve_lanes(None, 100), resolve_lanes(None, 5), resolve_lanes(8, 3)
(16, 3, 1, 3)
>>> chunk_sizes(1100), chunk_sizes(1100, 600), chunk_sizes(0)
([512, 512, 76], [600, 500], [])
"""

from dataclasses import asdict, dataclass

import numpy as np

from .container import ContainerError, is_integer

__all__ = ["CodingSettings", "DEFAULT_LANES", "DEFAULT_CHUNK_IMAGES", "IMAGES_PER_LANE", "resolve_lanes",
           "chunk_sizes"]

# Images per chunk: a chunk is the unit of parallel work and of random access (decoding any
# image decodes its whole chunk), and costs ~100 bits (its first image codes its latent
# without bits back) plus its table entry: 512 keep that near 0.03 % and decode in well
# under a second (README, bench/bench_sizes.py).
DEFAULT_CHUNK_IMAGES = 512
# Lanes per chunk when not asked for: one per IMAGES_PER_LANE images, at most DEFAULT_LANES.
# A lane costs ~48 bits (its initial head, 2**31 plus pseudo-random low bits, and the slack of
# its final 64-bit head), so 32 images per lane keep that under 0.2 %; more lanes code faster.
DEFAULT_LANES = 16
IMAGES_PER_LANE = 32
# Bits per latent dimension of a chunk's first image, unless bucket_bits is smaller.
_FIRST_LATENT_BITS = 4
# The latent precision of the exact quantizer: this many bits more than bucket_bits ...
_EXACT_EXTRA_PRECISION = 12
# ... and at most this many.
_EXACT_MAX_PRECISION = 24


@dataclass(frozen=True)
class CodingSettings:
    """Quantization settings of a file (stored in its header); validated on construction.

    Attributes
    ----------
    quantizer : {"exact", "histogram"}
        How the posterior N(mean, std) is quantized onto the latent buckets.
    bucket_bits : int
        ``2**bucket_bits`` equal-mass N(0, 1) buckets per latent dimension.
    latent_precision_bits : int
        Precision of the posterior's frequencies (``2**latent_precision_bits``).  Left out
        (``None``), it is resolved for the quantizer: ``min(bucket_bits + 12, 24)`` for
        ``"exact"`` (every bucket gets at least one slot, which reserves
        ``2**bucket_bits / 2**precision`` of the mass: 12 extra bits keep that at 1/4096),
        16 for ``"histogram"`` (no such floor; 16 measured as well as 20, README).
    pixel_precision_bits : int
        Precision of the pixel likelihood's frequencies, in [8, 31].
    first_latent_bits : int
        The first image of each chunk has no bits to borrow: its latent is chosen by the
        encoder (the posterior mean, snapped to ``2**first_latent_bits`` equal-mass
        super-buckets per dimension) and pushed uniformly at ``first_latent_bits`` bits per
        dimension, in [1, bucket_bits].  Left out, ``min(4, bucket_bits)``: 4 measured best
        on MNIST (README).

    Raises
    ------
    ValueError
        A setting out of range, or a combination the quantizer cannot code.
    """

    # Defaults chosen on the 10k MNIST test set with the shipped model (README, bench):
    # the histogram quantizer at 8 bucket bits came closest to the -ELBO (gap 0.26 %).
    quantizer: str = "histogram"
    bucket_bits: int = 8
    latent_precision_bits: int | None = None
    pixel_precision_bits: int = 24
    first_latent_bits: int | None = None

    def __post_init__(self):
        for name, value in asdict(self).items():  # NumPy integers become plain ones (JSON headers)
            if isinstance(value, np.integer):
                object.__setattr__(self, name, int(value))
        if self.latent_precision_bits is None:
            object.__setattr__(self, "latent_precision_bits", self._default_latent_precision())
        if self.first_latent_bits is None and is_integer(self.bucket_bits):
            object.__setattr__(self, "first_latent_bits", min(_FIRST_LATENT_BITS, self.bucket_bits))
        self._check()

    def _default_latent_precision(self):
        if self.quantizer == "exact" and is_integer(self.bucket_bits):
            return min(self.bucket_bits + _EXACT_EXTRA_PRECISION, _EXACT_MAX_PRECISION)
        return 16

    def _check(self):
        """Validate by building the posterior codec once on dummy parameters."""
        from . import codecs  # imported here: this module stays free of Numba

        codecs.DiagGaussianStdBins(0.0, 1.0, self.bucket_bits, self.latent_precision_bits, self.quantizer)
        if not (is_integer(self.pixel_precision_bits) and 8 <= self.pixel_precision_bits <= 31):
            raise ValueError(f"pixel_precision_bits must be an integer in [8, 31], got {self.pixel_precision_bits!r}")
        if not (is_integer(self.first_latent_bits) and 1 <= self.first_latent_bits <= self.bucket_bits):
            raise ValueError(f"first_latent_bits must be an integer in [1, bucket_bits = {self.bucket_bits}], "
                             f"got {self.first_latent_bits!r}")

    @classmethod
    def from_options(cls, **options):
        """Settings from keyword options where ``None`` means "the default".

        The one way callers with optional arguments (``compress``, the CLI) build settings.
        """
        return cls(**{name: value for name, value in options.items() if value is not None})

    def to_header(self):
        """The settings as a header stores them: a dict of every field."""
        return asdict(self)

    @classmethod
    def from_header(cls, stored):
        """The settings stored in a (version-2) header (:class:`ContainerError` if bad)."""
        try:
            return cls(**{name: stored[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as error:
            raise ContainerError(f"corrupted header: bad coding settings {stored!r} ({error})") from error


def resolve_lanes(lanes, count):
    """The number of lanes to code a chunk of ``count`` images with.

    Parameters
    ----------
    lanes : int or None
        The lanes asked for; ``None`` takes one lane per :data:`IMAGES_PER_LANE` images, at
        least 1 and at most :data:`DEFAULT_LANES`.
    count : int
        Number of images in the chunk.

    Returns
    -------
    int
        At most ``count`` and at least 1: a lane codes one image per round, so lanes beyond
        the image count would carry nothing but their fixed cost.  Callers that let a user
        ask for lanes say so when this is fewer than asked (the CLI prints a note).

    Raises
    ------
    ValueError
        ``lanes`` is not a positive integer.
    """
    if lanes is None:
        return int(max(1, min(DEFAULT_LANES, count // IMAGES_PER_LANE)))
    if not is_integer(lanes) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
    return int(max(1, min(lanes, count)))


def chunk_sizes(count, chunk_images=None):
    """The image count of each chunk when ``count`` images are split into chunks.

    Parameters
    ----------
    count : int
    chunk_images : int or sequence of int, optional
        Images per chunk (default :data:`DEFAULT_CHUNK_IMAGES`; the last chunk takes the
        rest), or the size of every chunk, which must add up to ``count`` (as a Dask
        array's chunks along its first axis do).

    Raises
    ------
    ValueError
        A size that is not a positive integer, or sizes that do not add up to ``count``.
    """
    if chunk_images is None:
        chunk_images = DEFAULT_CHUNK_IMAGES
    if is_integer(chunk_images):
        if chunk_images < 1:
            raise ValueError(f"chunk_images must be a positive integer, got {chunk_images!r}")
        return [min(chunk_images, count - first) for first in range(0, count, int(chunk_images))]
    sizes = [int(size) if is_integer(size) else size for size in chunk_images]
    if not all(is_integer(size) and size >= 1 for size in sizes) or sum(sizes) != count:
        raise ValueError(f"chunk sizes must be positive integers adding up to the {count} images, got {sizes!r}")
    return sizes
