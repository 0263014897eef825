"""The coding-time view of a trained VAE: ``encode(x) -> (mean, std)``, ``decode(z) -> params``.

The codec does not run Keras. A model is an exported ``.npz`` (written by
``training.export``) whose residual MLPs are evaluated here by small Numba kernels::

    h = f(x @ W_in + b_in)                                        # x = pixels / 255
    repeat R times:  h = h + (f(h @ W_inner + b_inner) @ W_outer + b_outer)
    out = h @ W_out + b_out

Encoder head: ``mean, raw = split(out)``, ``std = clip(softplus(raw), STD_MIN, STD_MAX)``.
Decoder head (beta-binomial, n = 255): ``alpha, beta = clip(softplus(split(out)),
BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX)``, one pair per pixel.

Reproducibility, by construction
--------------------------------
Encoder and decoder of the codec run in different processes, with different batch sizes
and thread counts, and must see bit-identical outputs. Every output row here depends only
on its own input row, through the same floating-point operations in the same order:

- dense layers accumulate in float32 ``out[r, j] = b[j]; out[r, j] += x[r, k] * W[k, j]``
  for k ascending (k with ``x[r, k] == 0`` skipped, which depends only on that row). Rows
  are grouped into blocks of ``ROW_BLOCK`` to reuse each weight row from cache, a row's
  sum is never split, and the loop over j vectorizes without any reassociation (each lane
  is a separate output element). Kernels run sequentially and release the GIL: chunks of
  images are what runs in parallel (threads, :mod:`bbans_numba.chunks`);
- kernels are compiled without ``fastmath``, so LLVM may neither reassociate nor contract
  a multiply and an add into an FMA;
- activations and heads are elementwise, in scalar libm calls (Numba has no vector math
  library here unless Intel SVML is installed; ``numba.config.USING_SVML`` says).

So batch size, batch split and ``NUMBA_NUM_THREADS`` cannot change a single bit. The same
holds across machines with the same libm; ``tests/test_model.py`` checks it across processes.

Examples
--------
>>> import numpy as np
>>> from bbans_numba.model import load_model
>>> model = load_model("mnist")
>>> mean, std = model.encode(np.zeros((2, 28, 28), dtype=np.uint8))
>>> mean.shape, mean.dtype, bool((std > 0).all())
((2, 50), dtype('float64'), True)
>>> alpha, beta = model.decode(mean)
>>> alpha.shape
(2, 784)
"""

import hashlib
import importlib.resources
import json
from pathlib import Path

import numba
import numpy as np

# Parameter ranges shared with training (training.models imports these).
STD_MIN = 1e-6
STD_MAX = 1e3
BETA_BINOMIAL_MIN = 1e-6
BETA_BINOMIAL_MAX = 1e6
BETA_BINOMIAL_TRIALS = 255
FORMAT_VERSION = 1
DEFAULT_MODEL = "mnist"
ROW_BLOCK = 8
ACTIVATIONS = {"linear": 0, "relu": 1, "elu": 2}
LIKELIHOODS = ("beta_binomial",)
# Weights may be stored as float16 to keep shipped files small; they are computed with in float32.
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))
CONFIG_KEYS = ("format_version", "image_shape", "latent_dim", "hidden_units", "residual_blocks",
               "activation", "likelihood", "num_components")

__all__ = ["CodingModel", "load_model", "available_models"]


def network_layer_names(network, residual_blocks):
    """Names of the dense layers of one exported network, in forward order.

    Examples
    --------
    >>> network_layer_names("encoder", 1)
    ['encoder.input', 'encoder.block0.inner', 'encoder.block0.outer', 'encoder.output']
    """
    inner = [f"{network}.block{i}.{part}" for i in range(residual_blocks) for part in ("inner", "outer")]
    return [f"{network}.input", *inner, f"{network}.output"]


@numba.njit(cache=True, nogil=True)
def _dense(x, kernel, bias, activation, residual):
    """``activation(x @ kernel + bias) + residual`` row by row (see the module docstring).

    ``residual`` is added when it has as many rows as ``x`` (pass a (0, 0) array for none).
    """
    rows, outputs = x.shape[0], kernel.shape[1]
    out = np.empty((rows, outputs), dtype=np.float32)
    for block in range((rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first, stop = block * ROW_BLOCK, min(block * ROW_BLOCK + ROW_BLOCK, rows)
        for r in range(first, stop):
            out[r, :] = bias
        for k in range(kernel.shape[0]):
            weights = kernel[k]
            for r in range(first, stop):
                xk = x[r, k]
                if xk != 0:
                    row = out[r]
                    for j in range(outputs):
                        row[j] += xk * weights[j]
        for r in range(first, stop):
            row = out[r]
            for j in range(outputs):
                value = row[j]
                if activation == 1:
                    value = max(value, np.float32(0))
                elif activation == 2 and value < 0:
                    value = np.float32(np.expm1(value))
                if residual.shape[0] == rows:
                    value += residual[r, j]
                row[j] = value
    return out


@numba.njit(cache=True, nogil=True)
def _clipped_softplus(raw, low, high):
    """``clip(softplus(raw), low, high)`` in float64, elementwise, for (B, N) float32 ``raw``."""
    out = np.empty(raw.shape, dtype=np.float64)
    for r in range(raw.shape[0]):
        for j in range(raw.shape[1]):
            x = np.float64(raw[r, j])
            softplus = max(x, 0.0) + np.log1p(np.exp(-abs(x)))
            out[r, j] = min(max(softplus, low), high)
    return out


class CodingModel:
    """A trained VAE as the codec sees it.

    Attributes
    ----------
    name : str
        ``"mnist"`` for the shipped default, else the file stem.
    fingerprint : str
        sha256 hex digest of the canonical weight bytes (see :func:`fingerprint_arrays`).
    image_shape : tuple of int
    latent_dim : int
    likelihood : str
        ``"beta_binomial"``.
    num_components : int
        1 (mixture components; unused for the beta-binomial likelihood).
    path : pathlib.Path
        The ``.npz`` it was loaded from.
    """

    def __init__(self, name, path, arrays):
        """Wrap ``arrays`` (name -> numpy array, as in the ``.npz`` at ``path``) after validating them."""
        config = _validated_config(path, arrays)
        self.name = name
        self.path = Path(path)
        self.fingerprint = fingerprint_arrays(arrays)
        self.image_shape = tuple(config["image_shape"])
        self.latent_dim = int(config["latent_dim"])
        self.likelihood = config["likelihood"]
        self.num_components = int(config["num_components"])
        self.num_pixels = int(np.prod(self.image_shape))
        self._activation = ACTIVATIONS[config["activation"]]
        self._residual_blocks = int(config["residual_blocks"])
        self._layers = {key: value.astype(np.float32) for key, value in arrays.items() if key != "config"}

    def __repr__(self):
        return (f"CodingModel(name={self.name!r}, image_shape={self.image_shape}, latent_dim={self.latent_dim}, "
                f"likelihood={self.likelihood!r}, fingerprint={self.fingerprint[:12]}...)")

    def _network(self, network, x):
        """The raw float32 output of the encoder or decoder MLP for float32 rows ``x``."""
        none = np.empty((0, 0), dtype=np.float32)
        names = network_layer_names(network, self._residual_blocks)
        h = _dense(x, self._layers[f"{names[0]}.kernel"], self._layers[f"{names[0]}.bias"], self._activation, none)
        for inner, outer in zip(names[1:-1:2], names[2:-1:2]):
            hidden = _dense(h, self._layers[f"{inner}.kernel"], self._layers[f"{inner}.bias"], self._activation, none)
            h = _dense(hidden, self._layers[f"{outer}.kernel"], self._layers[f"{outer}.bias"], ACTIVATIONS["linear"], h)
        return _dense(h, self._layers[f"{names[-1]}.kernel"], self._layers[f"{names[-1]}.bias"],
                      ACTIVATIONS["linear"], none)

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
        x = np.asarray(x)
        if x.dtype != np.uint8 or x.shape[1:] != self.image_shape:
            raise ValueError(f"encode expects uint8 images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {x.dtype} {x.shape}")
        pixels = np.ascontiguousarray(x.reshape(len(x), self.num_pixels), dtype=np.float32) / np.float32(255)
        raw = self._network("encoder", pixels)
        mean = raw[:, :self.latent_dim].astype(np.float64)
        std = _clipped_softplus(np.ascontiguousarray(raw[:, self.latent_dim:]), STD_MIN, STD_MAX)
        return mean, std

    def decode(self, z):
        """Likelihood parameters of p(x|z) for a batch of latents.

        Parameters
        ----------
        z : array_like of float, shape (B, latent_dim)

        Returns
        -------
        alpha, beta : numpy.ndarray of float64, shape (B, D), D = prod(image_shape)
            Beta-binomial parameters (n = 255) per pixel, in [BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX].
        """
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode expects latents of shape (B, {self.latent_dim}), got {z.shape}")
        raw = self._network("decoder", np.ascontiguousarray(z, dtype=np.float32))
        params = _clipped_softplus(raw, BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX)
        return params[:, :self.num_pixels], params[:, self.num_pixels:]


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


def _validated_config(path, arrays):
    """The parsed config of an exported model, after checking every array it implies."""
    if "config" not in arrays:
        raise ValueError(f"{path}: not an exported bbans_numba model (no 'config' entry)")
    try:
        config = json.loads(str(arrays["config"][()]))
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{path}: 'config' is not valid JSON ({error})") from error
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path}: config lacks {missing}")
    if config["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {config['format_version']} is not supported "
                         f"(this version reads {FORMAT_VERSION})")
    if config["likelihood"] not in LIKELIHOODS:
        raise ValueError(f"{path}: unknown likelihood {config['likelihood']!r}; supported: {LIKELIHOODS}")
    if config["activation"] not in ACTIVATIONS:
        raise ValueError(f"{path}: unknown activation {config['activation']!r}; supported: {sorted(ACTIVATIONS)}")
    num_pixels = int(np.prod(config["image_shape"]))
    latent, hidden, blocks = config["latent_dim"], config["hidden_units"], config["residual_blocks"]
    for network, inputs, outputs in (("encoder", num_pixels, 2 * latent), ("decoder", latent, 2 * num_pixels)):
        names = network_layer_names(network, blocks)
        sizes = [inputs] + [hidden] * (len(names) - 1) + [outputs]
        for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
            for key, shape in ((f"{name}.kernel", (fan_in, fan_out)), (f"{name}.bias", (fan_out,))):
                if key not in arrays:
                    raise ValueError(f"{path}: missing array {key!r}")
                value = arrays[key]
                if value.shape != shape or value.dtype not in WEIGHT_DTYPES:
                    raise ValueError(f"{path}: array {key!r} is {value.dtype} {value.shape}, "
                                     f"expected float32 or float16 {shape}")
                if not np.isfinite(value).all():
                    raise ValueError(f"{path}: array {key!r} holds non-finite values")
    return config


def _shipped_models_folder():
    return importlib.resources.files("bbans_numba") / "models"


def available_models():
    """Names of the models shipped in ``bbans_numba/models/``, e.g. ``['mnist']``."""
    return sorted(entry.name[:-4] for entry in _shipped_models_folder().iterdir() if entry.name.endswith(".npz"))


def load_model(name_or_path=DEFAULT_MODEL):
    """Load a shipped model by name (``"mnist"`` is the default) or an exported ``.npz`` by path.

    Raises
    ------
    FileNotFoundError
        Neither a shipped model name nor an existing file.
    ValueError
        The file is not a valid exported model (the message names the file and the problem).

    Examples
    --------
    >>> load_model().name
    'mnist'
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
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz model file ({error})") from error
    return CodingModel(name, path, arrays)
