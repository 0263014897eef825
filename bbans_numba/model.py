"""The coding-time view of a trained VAE: what :mod:`bbans_numba.bbans` codes with.

:func:`load_model` reads either kind of exported ``.npz`` (:mod:`bbans_numba.model_file`
checks it, whatever the kind) and returns the matching model:

- a PixelVAE (``training.pixelvae.export_npz``; its config says ``"format": "pixelvae-1"``):
  a :class:`bbans_numba.pixelvae.PixelVAEModel`, whose likelihood is autoregressive over
  pixels.  The shipped default ``mnist`` is one.
- any other: a :class:`CodingModel` (below), e.g. the shipped ``mnist-mlp`` and ``mnist-fast``.

Both offer what the codec uses: ``name``, ``path``, ``fingerprint``, ``image_shape``,
``latent_dim``, ``num_pixels``, ``likelihood``, ``encode(images)`` and
``likelihood_codec(z, precision_bits)``.

A :class:`CodingModel` is an exported ``.npz`` (written by ``training.export``)
described by a :class:`~bbans_numba.model_config.ModelConfig`:
an architecture from :mod:`bbans_numba.architectures` (its networks run here in Numba, not
Keras) and a pixel likelihood from :mod:`bbans_numba.likelihoods`. The model adds what all
of them share:

- prior p(z) = N(0, I) over ``latent_dim`` latents;
- posterior q(z|x) = N(mean, std^2): the encoder sees pixels / 255 and outputs
  ``mean, raw = split(out)``, ``std = clip(softplus(raw), STD_MIN, STD_MAX)``;
- likelihood p(x|z): the likelihood's codec (and log-pmf) given the decoder's output at z.

Every output is bit-identical whatever the batch size, batch split and thread count (see
:mod:`bbans_numba.nn`); ``tests/test_model.py`` checks it across processes.

Examples
--------
>>> import numpy as np
>>> from bbans_numba.model import load_model
>>> model = load_model("mnist-mlp")
>>> mean, std = model.encode(np.zeros((2, 28, 28), dtype=np.uint8))
>>> mean.shape, mean.dtype, bool((std > 0).all())
((2, 50), dtype('float64'), True)
>>> codec = model.likelihood_codec(mean, precision_bits=24)      # a codec over (2, 784) pixels
>>> model.likelihood, model.log_likelihood(np.zeros((2, 28, 28), dtype=np.uint8), mean).shape
('beta_binomial', (2,))
"""

import hashlib
import importlib.resources
from pathlib import Path

import numpy as np

from . import nn
from .architectures.residual_mlp import network_layer_names  # noqa: F401  (tests write v1 files with it)
from .model_config import FORMAT_VERSION, ModelConfig  # noqa: F401  (FORMAT_VERSION: what export writes)
from .model_file import checked_config, read_model_file
from .pixelvae_config import PixelVAEConfig

# Posterior standard deviations are clamped into [STD_MIN, STD_MAX] (training uses the same).
STD_MIN = 1e-6
STD_MAX = 1e3
DEFAULT_MODEL = "mnist"

__all__ = ["CodingModel", "load_model", "available_models", "fingerprint_arrays"]


class CodingModel:
    """A trained VAE as the codec sees it.

    Attributes
    ----------
    name : str
        The shipped model's name (e.g. ``"mnist-mlp"``), else the file stem.
    fingerprint : str
        sha256 hex digest of the canonical weight bytes (see :func:`fingerprint_arrays`).
    config : ModelConfig
    image_shape : tuple of int
    latent_dim, num_pixels : int
    architecture, likelihood : str
        Registry names, e.g. ``"residual_mlp"``, ``"beta_binomial"``.
    architecture_spec, likelihood_spec : bbans_numba.options.Spec
        The configured units themselves.
    path : pathlib.Path or None
        The ``.npz`` it was loaded from.
    """

    def __init__(self, name, path, arrays, config=None):
        """Wrap ``arrays`` (name -> numpy array, as in an exported ``.npz``; ``config`` the
        parsed ``arrays["config"]`` when already known) after checking every array."""
        config = checked_config(path if path is not None else name, arrays, config, kind=ModelConfig)
        shapes = config.array_shapes()
        self.name = name
        self.path = Path(path) if path is not None else None
        self.fingerprint = fingerprint_arrays(arrays)
        self.config = config
        self.image_shape = config.image_shape
        self.latent_dim = config.latent_dim
        self.num_pixels = config.num_pixels
        self.architecture_spec = config.architecture
        self.likelihood_spec = config.likelihood
        self.architecture = config.architecture.NAME
        self.likelihood = config.likelihood.NAME
        self._weights = {key: np.ascontiguousarray(arrays[key], dtype=np.float32) for key in shapes}

    def __repr__(self):
        return (f"CodingModel(name={self.name!r}, image_shape={self.image_shape}, latent_dim={self.latent_dim}, "
                f"architecture={self.architecture_spec!r}, likelihood={self.likelihood_spec!r}, "
                f"fingerprint={self.fingerprint[:12]}...)")

    def _pixels(self, x):
        """Checked uint8 images (B, *image_shape) -> their (B, D) pixel rows."""
        x = np.asarray(x)
        if x.dtype != np.uint8 or x.shape[1:] != self.image_shape:
            raise ValueError(f"expected uint8 images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {x.dtype} {x.shape}")
        return x.reshape(len(x), self.num_pixels)

    def encode(self, x):
        """Posterior q(z|x) of a batch of images.

        Parameters
        ----------
        x : array_like of uint8, shape (B, *image_shape)

        Returns
        -------
        mean, std : numpy.ndarray of float64, shape (B, latent_dim)
            ``std`` lies in [STD_MIN, STD_MAX].
        """
        pixels = np.ascontiguousarray(self._pixels(x), dtype=np.float32) / np.float32(255)
        raw = self.architecture_spec.forward(self._weights, "encoder", pixels)
        mean = raw[:, :self.latent_dim].astype(np.float64)
        std = nn.clipped_softplus(np.ascontiguousarray(raw[:, self.latent_dim:]), STD_MIN, STD_MAX)
        return mean, std

    def decoder_output(self, z):
        """The decoder network's raw float32 output (B, P * D) at latents ``z`` (B, latent_dim):
        what the likelihood is conditioned on."""
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latents of shape (B, {self.latent_dim}), got {z.shape}")
        return self.architecture_spec.forward(self._weights, "decoder", np.ascontiguousarray(z, dtype=np.float32))

    def likelihood_codec(self, z, precision_bits):
        """p(x|z) as a codec over (B, D) pixels: ``push(message, pixels)`` / ``pop(message, num_steps=D)``,
        one lane per row of ``z``."""
        return self.likelihood_spec.codec(self.decoder_output(z), precision_bits)

    def log_likelihood(self, x, z):
        """log p(x|z) in float64 nats per image, shape (B,), for images ``x`` and latents ``z``."""
        pixels = self._pixels(x)
        return self.likelihood_spec.log_pmf(pixels, self.decoder_output(z)).sum(axis=1)


def fingerprint_arrays(arrays):
    """sha256 hex digest over the arrays' names, dtypes, shapes and little-endian bytes, sorted by name.

    Independent of how the ``.npz`` was zipped (timestamps, compression).
    """
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.asarray(arrays[key])
        value = value.astype(value.dtype.newbyteorder("<")) if value.dtype.byteorder == ">" else value
        digest.update(f"{key}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _shipped_models_folder():
    return importlib.resources.files("bbans_numba") / "models"


def available_models():
    """Names of the models shipped in ``bbans_numba/models/``, of either kind.

    >>> available_models()
    ['mnist', 'mnist-fast', 'mnist-mlp']
    """
    return sorted(entry.name[:-4] for entry in _shipped_models_folder().iterdir() if entry.name.endswith(".npz"))


def load_model(name_or_path=DEFAULT_MODEL):
    """Load a shipped model by name (``"mnist"`` is the default) or an exported ``.npz`` by path.

    The file's config says which kind it is (module docstring); both are read and checked
    by :func:`bbans_numba.model_file.read_model_file`.

    Returns
    -------
    CodingModel or bbans_numba.pixelvae.PixelVAEModel

    Raises
    ------
    FileNotFoundError
        Neither a shipped model name nor an existing file.
    ValueError
        The file is not a valid exported model (the message names the file and the problem).

    Examples
    --------
    >>> model = load_model()
    >>> model.name, type(model).__name__, model.likelihood
    ('mnist', 'PixelVAEModel', 'autoregressive_logistic_mixture')
    >>> type(load_model("mnist-mlp")).__name__
    'CodingModel'
    """
    name_or_path = str(name_or_path)
    if name_or_path in available_models():
        path, name = Path(str(_shipped_models_folder() / f"{name_or_path}.npz")), name_or_path
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{name_or_path}: no such model file, and not a shipped model "
                                    f"(shipped: {', '.join(available_models()) or 'none'})")
        name = path.stem
    try:
        config, arrays = read_model_file(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error
    if isinstance(config, PixelVAEConfig):
        from .pixelvae import PixelVAEModel  # imported here: pixelvae imports this module

        return PixelVAEModel(name, arrays, path, config)
    return CodingModel(name, path, arrays, config)
