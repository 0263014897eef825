"""The coding settings of BB-ANS and their defaults, resolved here and nowhere else.

Two kinds of setting decide how a file is coded:

* :class:`CodingSettings` -- how the latents and pixels are quantized; stored in the file
  header (``settings``), so the decoder uses exactly what the encoder used;
* the number of **lanes** -- independent rANS states coded in lock-step
  (:func:`resolve_lanes`); stored in the header as the number of lanes.

This module is cheap to import (no Numba), so the command line can show the real defaults
in its ``--help``.

Examples
--------
>>> CodingSettings()
CodingSettings(quantizer='histogram', bucket_bits=8, latent_precision_bits=16, pixel_precision_bits=24)
>>> CodingSettings(quantizer="exact").latent_precision_bits   # bucket_bits + 12
20
>>> CodingSettings.from_options(quantizer="exact", bucket_bits=None) == CodingSettings(quantizer="exact")
True
>>> resolve_lanes(None, 10_000), resolve_lanes(None, 5), resolve_lanes(8, 0)
(64, 5, 1)
"""

from dataclasses import asdict, dataclass

import numpy as np

from .container import ContainerError, is_integer

__all__ = ["CodingSettings", "DEFAULT_LANES", "resolve_lanes"]

# Each lane costs a fixed overhead (its 64-bit head and the "initial bits" its first
# posterior pop draws): 64 lanes keep it near 0.2 % on the 10k MNIST test images (README).
DEFAULT_LANES = 64
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

    def __post_init__(self):
        for name, value in asdict(self).items():  # NumPy integers become plain ones (JSON headers)
            if isinstance(value, np.integer):
                object.__setattr__(self, name, int(value))
        if self.latent_precision_bits is None:
            object.__setattr__(self, "latent_precision_bits", self._default_latent_precision())
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

    @classmethod
    def from_options(cls, **options):
        """Settings from keyword options where ``None`` means "the default".

        The one way callers with optional arguments (``compress``, the CLI) build settings.
        """
        return cls(**{name: value for name, value in options.items() if value is not None})

    def to_header(self, likelihood):
        """The ``settings`` object of a file header: these fields plus the model's ``likelihood``.

        ``likelihood`` is informative (``bbans info`` shows it); the model fingerprint is what
        ties a file to its model.
        """
        return dict(asdict(self), likelihood=likelihood)

    @classmethod
    def from_header(cls, stored):
        """The settings stored in a header's ``settings`` object (:class:`ContainerError` if bad)."""
        try:
            return cls(**{name: stored[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError) as error:
            raise ContainerError(f"corrupted header: bad coding settings {stored!r} ({error})") from error


def resolve_lanes(lanes, count):
    """The number of lanes to code ``count`` images with.

    Parameters
    ----------
    lanes : int or None
        The lanes asked for; ``None`` takes :data:`DEFAULT_LANES`.
    count : int
        Number of images.

    Returns
    -------
    int
        ``min(lanes, count)`` and at least 1: a lane codes one image per round, so lanes
        beyond the image count would carry nothing but their fixed cost.  Callers that let a
        user ask for lanes say so when this is fewer than asked (the CLI prints a note).

    Raises
    ------
    ValueError
        ``lanes`` is not a positive integer.
    """
    lanes = DEFAULT_LANES if lanes is None else lanes
    if not is_integer(lanes) or lanes < 1:
        raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
    return int(max(1, min(lanes, count)))
