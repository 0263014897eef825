"""Reading an exported model file (``.npz``: a zip of ``.npy`` members), hostile input included.

Nothing large is read or allocated before it is known to be wanted and possible:

1. the file must be a zip whose members are all ``.npy`` (a lone ``.npy`` array, a Keras
   ``.keras`` checkpoint or anything else is refused with a message saying what it is);
2. the ``config`` member must be a small 0-d string; it is parsed and checked
   (:func:`parse_config`: a :class:`~bbans_numba.model_config.ModelConfig`, or a
   :class:`~bbans_numba.pixelvae_config.PixelVAEConfig` when it says ``"format":
   "pixelvae-1"``), which gives every array's shape;
3. the members must be exactly those arrays, and each ``.npy`` header (read alone) must
   announce that shape, a float32 / float16 dtype, and no more bytes than the member holds;
   the members' compressed sizes must fit in the file, and none may inflate to more than
   :data:`MAX_INFLATION` times its compressed size;
4. only then are the arrays read.

So the work and memory spent on a file are bounded by its size. Every failure is a
``ValueError`` (callers prefix the path).  :func:`checked_config` applies the same checks
to arrays already in memory (a model built from a dict of arrays).
"""

import os
import zipfile
import zlib

import numpy as np

from .model_config import ModelConfig, load_json
from .pixelvae_config import PixelVAEConfig

__all__ = ["read_model_file", "parse_config", "checked_config", "check_weight_array", "WEIGHT_DTYPES"]

# Weights may be stored as float16 to keep shipped files small; they are computed with in float32.
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))
MAX_CONFIG_CHARS = 1 << 16
# Deflate cannot exceed about 1032:1; other zip methods (bzip2, lzma) could, and are refused by this.
MAX_INFLATION = 1100
_NPY_MAGIC = b"\x93NUMPY"
_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def check_weight_array(name, dtype, shape, expected_shape):
    """ValueError unless a weight array has ``expected_shape`` and a weight dtype."""
    if tuple(shape) != tuple(expected_shape) or np.dtype(dtype) not in WEIGHT_DTYPES:
        raise ValueError(f"array {name!r} is {np.dtype(dtype)} {tuple(shape)}, expected float32 or float16 "
                         f"{tuple(expected_shape)}")


def parse_config(text):
    """The checked config of either kind of model file, from its JSON ``text`` (ValueError if invalid).

    A config with a ``"format"`` key describes a PixelVAE
    (:class:`~bbans_numba.pixelvae_config.PixelVAEConfig`); any other, a residual-MLP VAE
    (:class:`~bbans_numba.model_config.ModelConfig`).

    >>> type(parse_config('{"format": "pixelvae-1"}'))
    Traceback (most recent call last):
    ...
    ValueError: config lacks ['image_shape', 'latent_dim', 'features', 'encoder_hidden', 'decoder_hidden', \
'pixel_hidden', 'head', 'components', 'offsets', 'log_scale_min', 'log_scale_max', 'std_min', 'std_max']
    """
    config = load_json(text)
    if isinstance(config, dict) and "format" in config:
        return PixelVAEConfig.from_dict(config)
    return ModelConfig.from_dict(config)


def checked_config(where, arrays, config=None, kind=None):
    """The config of a model given as arrays in memory, after checking every array against it.

    Parameters
    ----------
    where : str or os.PathLike
        The file or model name, prefixed to every error message.
    arrays : dict
        name -> array, as in an exported ``.npz`` (``config`` included).
    config : ModelConfig or PixelVAEConfig, optional
        Already parsed (:func:`read_model_file`); else parsed from ``arrays["config"]``.
    kind : type, optional
        The config class the caller codes with; another kind is refused.

    Raises
    ------
    ValueError
        ``"{where}: {problem}"``: no or invalid config, a missing, unexpected, misshapen,
        non-float or non-finite array.
    """
    try:
        if config is None:
            if "config" not in arrays:
                raise ValueError("not an exported bbans_numba model (no 'config' entry)")
            config = parse_config(str(np.asarray(arrays["config"])[()]))
        if kind is not None and not isinstance(config, kind):
            raise ValueError(f"a {type(config).__name__} describes this model, not a {kind.__name__}")
        shapes = config.array_shapes()
        unexpected = sorted(set(arrays) - set(shapes) - {"config"})
        if unexpected:
            raise ValueError(f"unexpected array(s) {unexpected[:5]} for this config")
        for key, shape in shapes.items():
            if key not in arrays:
                raise ValueError(f"missing array {key!r}")
            check_weight_array(key, arrays[key].dtype, arrays[key].shape, shape)
            if not np.isfinite(arrays[key]).all():
                raise ValueError(f"array {key!r} holds non-finite values")
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    return config


def read_model_file(path):
    """``(config, arrays)`` of the exported model at ``path``, checked as the module docstring says.

    Returns
    -------
    config : ModelConfig or PixelVAEConfig
    arrays : dict
        name -> numpy array, every member of the file (``config`` included).

    Raises
    ------
    ValueError
        Not a model file, or an invalid one (the message says why, without the path).
    """
    with open(path, "rb") as file:
        if file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError("this is a single .npy array, not an exported .npz model")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _npy_members(archive, os.path.getsize(path), os.path.splitext(os.path.basename(path))[0])
            config_text = str(_read_member(archive, members, "config", expect_config=True)[()])
            config = parse_config(config_text)
            shapes = config.array_shapes()
            missing = [name for name in shapes if name not in members]
            unexpected = sorted(set(members) - set(shapes) - {"config"})
            if missing:
                raise ValueError(f"missing array {missing[0]!r}" + (f" and {len(missing) - 1} more" if missing[1:] else ""))
            if unexpected:
                raise ValueError(f"unexpected member(s) {unexpected[:5]} for this config")
            arrays = {name: _read_member(archive, members, name, expected_shape=shape) for name, shape in shapes.items()}
    except _ERRORS as error:
        if isinstance(error, ValueError) and not isinstance(error, zipfile.BadZipFile):
            raise
        raise ValueError(f"not a readable .npz model file ({type(error).__name__}: {error})") from error
    arrays["config"] = np.array(config_text)
    return config, arrays


def _npy_members(archive, file_size, stem):
    """name -> ZipInfo of the ``.npy`` members; refuses Keras checkpoints, foreign members and
    sizes the file cannot back."""
    names = archive.namelist()
    if "config.json" in names and any(name.endswith(".weights.h5") for name in names):
        raise ValueError(f"this is a Keras .keras checkpoint; the codec model is the .npz that training.train "
                         f"writes beside it ({stem}.npz), or export one with python -m training.export")
    members = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"member {info.filename!r} is not a .npy array")
        name = info.filename[:-4]
        if name in members:
            raise ValueError(f"member {info.filename!r} appears twice")
        if info.file_size > MAX_INFLATION * max(info.compress_size, 1) + 4096:
            raise ValueError(f"member {info.filename!r} claims to inflate {info.compress_size} bytes to "
                             f"{info.file_size}")
        members[name] = info
    if sum(info.compress_size for info in members.values()) > file_size:
        raise ValueError(f"members claim more compressed bytes than the file's {file_size}")
    if "config" not in members:
        raise ValueError("not an exported bbans_numba model (no 'config' entry)")
    return members


def _read_member(archive, members, name, expected_shape=None, expect_config=False):
    """The array in member ``name`` after its header passed the checks (see the module docstring)."""
    info = members[name]
    with archive.open(info) as file:
        version = np.lib.format.read_magic(file)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"array {name!r}: unsupported .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(file)
        header_size = file.tell()
        if expect_config:
            if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_CONFIG_CHARS:
                raise ValueError(f"'config' must be a JSON string of at most {MAX_CONFIG_CHARS} characters, "
                                 f"got {dtype} {shape}")
        else:
            check_weight_array(name, dtype, shape, expected_shape)
        if header_size + dtype.itemsize * int(np.prod(shape, dtype=np.int64)) > info.file_size:
            raise ValueError(f"array {name!r} is truncated")
    with archive.open(info) as file:
        return np.lib.format.read_array(file, allow_pickle=False)
