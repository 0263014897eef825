"""The ``bbans`` command: compress, decompress, inspect and demonstrate BB-ANS image files.

Usage::

    bbans compress INPUT OUTPUT [--model NAME|PATH] [--lanes L] [--quantizer exact|histogram]
                                [--bucket-bits B] [--chunk-images C] [--workers N] [--scheduler ADDRESS]
                                [--no-file-names] [--force] [--quiet] [--debug]
    bbans decompress INPUT OUTPUT [--model NAME|PATH] [--images A:B] [--workers N] [--scheduler ADDRESS]
                                  [--numbered-names] [--force] [--quiet] [--debug]
    bbans info FILE [--debug]
    bbans format
    bbans demo [--limit N] [--lanes L] [--quiet] [--debug]
    bbans --version

``--chains`` is a deprecated alias of ``--lanes`` (it prints a one-line note).

OUTPUT of ``decompress``: a ``.npy`` file (any case), one ``.png`` file (one image only), or
else a folder of PNGs, named as the compressed PNG folder's files were (stored in the file's
optional header key ``file_names``) or numbered ``000000.png``, ...  Other image suffixes
(``.tif``, ``.jpg``, ...) are refused rather than made into a folder.  ``--force`` into a
non-empty folder deletes the ``.png`` files there that the new images do not replace, so the
folder then holds exactly the decompressed images (other files stay).

Outputs are written with :mod:`bbans_numba.fileio`: checked before any coding (a missing
folder, or an existing file or non-empty folder without ``--force``, is refused at once),
written to a temporary file beside the target and published in one atomic step, so a failed
write leaves no partial output and never destroys the old file, and without ``--force`` a
file that appears meanwhile is never replaced.

Errors are printed as one line ``bbans: error: <message>`` on stderr with exit status 1
(2 for usage errors, 130 when interrupted); ``--debug`` adds the traceback.  Also runnable
as ``python -m bbans_numba.cli``.
"""

import argparse
import bz2
import gzip
import importlib.resources
import lzma
import math
import os
import sys
import time
import traceback
import types
from pathlib import Path

import numpy as np

import bbans_numba as bb
from bbans_numba import container, fileio
from bbans_numba.datasets import MNIST_INSTALL_HINT, ImageSet, load_image_set
from bbans_numba.settings import DEFAULT_CHUNK_IMAGES, DEFAULT_LANES, IMAGES_PER_LANE, CodingSettings, resolve_lanes

__all__ = ["main", "ProgressBar"]

PROG = "bbans"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
DEMO_SPEC = "mnist:test"
DEMO_FALLBACK_SPEC = "mnist:sample"
MIN_PNG_NAME_DIGITS = 6
FORMAT_FILE = "format.md"  # package data: the .bbans file format, printed by ``bbans format``
# Image formats bbans does not write: refused as a decompress OUTPUT instead of becoming a folder's name.
OTHER_IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jxl", ".jp2",
                                  ".avif", ".heic", ".pgm", ".ppm", ".pnm"})
MAX_NOTE_NAMES = 5
# What Pillow writes for each number of channels of an image; None: (H, W) images.
PNG_KINDS = {None: "grayscale", 3: "RGB", 4: "RGBA"}

QUIET_HELP = ("print nothing on success: no progress bar (shown only on a terminal anyway), no summary line "
              "(a note about the input, such as files not read, still goes to stderr)")
SPEC_HELP = ("an image SPEC: mnist, mnist:train, mnist:test, mnist:sample, a .npy file of uint8 "
             "(N, H, W) or (N, H, W, C), an IDX file (*-idx3-ubyte[.gz]), a .png file or a folder of PNGs "
             "(other files in it are not read: a note lists them)")


class ProgressBar:
    """A one-line progress bar on stderr, ``[#####.....]  45% 1234/10000``, redrawn in place.

    Pass an instance as the ``progress`` callback of :func:`bbans_numba.compress` and
    :func:`bbans_numba.decompress`.  It draws only when ``enabled`` and stderr is a terminal,
    and at most every ``min_interval`` seconds (and at the end); use it as a context
    manager so the line is ended even when coding fails.
    """

    WIDTH = 30

    def __init__(self, label, enabled=True, stream=None, min_interval=0.1):
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream.isatty()
        self.min_interval = min_interval
        self._last_draw = -math.inf
        self._drawn = False

    def __call__(self, done, total):
        """Show that ``done`` of ``total`` images are coded."""
        now = time.monotonic()
        if not self.enabled or (done < total and now - self._last_draw < self.min_interval):
            return
        fraction = done / total if total else 1.0
        filled = int(self.WIDTH * fraction)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {done}/{total}")
        self.stream.flush()
        self._last_draw = now
        self._drawn = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


# -- argument types ---------------------------------------------------------------------
def image_range(text):
    """argparse type: ``A:B`` (either side may be left out) as a slice of image indices.

    >>> image_range("5000:5100"), image_range(":10")
    (slice(5000, 5100, None), slice(None, 10, None))
    """
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        first, stop = (int(part) if part.strip() else None for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B (e.g. 5000:5100), got {text!r}") from None
    return slice(first, stop)


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_count_option(parser, flag, metavar, help):
    """Add option ``flag`` taking a positive integer (:func:`positive_int`): every count
    option of ``bbans`` (lanes, workers, bucket bits, chunk images, a limit) has this shape."""
    parser.add_argument(flag, type=positive_int, metavar=metavar, help=help)


class DeprecatedAlias(argparse.Action):
    """An old option name that works like ``replacement`` after a one-line note on stderr."""

    def __init__(self, option_strings, dest, replacement, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None):
        note(f"{option_string} is deprecated; use {self.replacement}")
        setattr(namespace, self.dest, values)


def build_parser():
    """The argument parser of ``bbans`` and its four subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Lossless image compression with bits-back ANS (BB-ANS) and a VAE.",
        epilog="Run 'bbans COMMAND --help' for the options of a command. Errors print one line "
               "'bbans: error: ...' and exit with status 1 (2 for usage errors, 130 when interrupted); "
               "--debug adds the traceback. 'bbans format' prints the description of the .bbans file format "
               "(installed with the package as bbans_numba/format.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {bb.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="on error, print the full traceback too")
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument("--force", action="store_true",
                       help="overwrite an existing OUTPUT file, or write PNGs into a non-empty OUTPUT folder and then "
                            "delete the .png files there that the new images did not replace, so the folder holds "
                            "exactly the decompressed images (other files stay)")
    lanes = argparse.ArgumentParser(add_help=False)
    add_count_option(lanes, "--lanes", "L",
                     "rANS lanes per chunk, coded in lock-step, one image per lane and round: more is faster "
                     f"per image but adds a fixed cost per lane (default: one per {IMAGES_PER_LANE} images, at "
                     f"most {DEFAULT_LANES}; never more than a chunk's images: asking for more codes with one "
                     "lane per image, with a note)")
    parallel = argparse.ArgumentParser(add_help=False)
    add_count_option(parallel, "--workers", "N",
                     f"threads coding chunks at once (default: one per core, here {bb.chunks.default_workers()}); "
                     "the bytes do not depend on it")
    parallel.add_argument("--scheduler", metavar="ADDRESS",
                          help="code the chunks on a running dask.distributed cluster at ADDRESS (e.g. "
                               "tcp://10.0.0.5:8786) instead of local threads; needs the dask extra: "
                               "pip install 'bbans_numba[dask]'")
    lanes.add_argument("--chains", type=positive_int, dest="lanes", action=DeprecatedAlias, replacement="--lanes",
                       help=argparse.SUPPRESS)

    compress = commands.add_parser(
        "compress", parents=[lanes, parallel, force, debug], help="compress images to a .bbans file",
        description="Compress images losslessly to a .bbans file and print a one-line summary "
                    "(images, bytes, bits/dim, images/s).")
    compress.add_argument("input", metavar="INPUT", help=SPEC_HELP)
    compress.add_argument("output", metavar="OUTPUT", help="the .bbans file to write")
    compress.add_argument("--model", default="mnist", metavar="NAME|PATH",
                          help="a shipped model name (mnist: the default, a PixelVAE; mnist-mlp, mnist-fast: "
                               "residual-MLP VAEs, faster) or an exported .npz model file (default: mnist)")
    compress.add_argument("--quantizer", choices=("exact", "histogram"), default=None,
                          help="how the posterior is quantized onto latent buckets: 'exact' takes CDF differences "
                               "at the bucket edges (every bucket >= 1), 'histogram' counts equiprobable posterior "
                               f"points into the buckets (default: {CodingSettings.quantizer})")
    add_count_option(compress, "--bucket-bits", "B",
                     f"use 2**B equal-mass buckets per latent dimension (default: {CodingSettings.bucket_bits})")
    add_count_option(compress, "--chunk-images", "C",
                     "images per chunk: chunks are coded independently, in parallel, and decoding any image "
                     f"decodes its whole chunk (default: {DEFAULT_CHUNK_IMAGES})")
    compress.add_argument("--no-file-names", action="store_true",
                          help="for a PNG input, do not store the PNG file names in OUTPUT (stored by default, at "
                               "about their length in bytes, unless they are 000000.png, 000001.png, ...: "
                               "decompress names the PNGs that way without them)")
    compress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    compress.set_defaults(run=run_compress)

    decompress = commands.add_parser(
        "decompress", parents=[parallel, force, debug], help="decompress a .bbans file to .npy or PNGs",
        description="Decompress a .bbans file. The pixels are checked against the checksums stored in the file.")
    decompress.add_argument("input", metavar="INPUT", help="the .bbans file to read")
    decompress.add_argument("output", metavar="OUTPUT",
                            help="a path ending in .npy (one NumPy array), a path ending in .png (a file holding only "
                                 "one image), or a folder to fill with PNGs (grayscale for (H, W) images, RGB for "
                                 "(H, W, 3), RGBA for (H, W, 4)) named as the compressed PNG files were, else "
                                 "000000.png, 000001.png, ...; other image suffixes (.tif, .jpg, ...) are refused")
    decompress.add_argument("--model", metavar="NAME|PATH",
                            help="the model to decode with (default: the shipped model named in the file; a model "
                                 "of your own is given here as PATH, never taken from the file); its fingerprint "
                                 "must match the file's")
    decompress.add_argument("--images", type=image_range, metavar="A:B",
                            help="only images A to B-1 (Python slice bounds; either may be left out): only the "
                                 "chunks holding them are decoded")
    decompress.add_argument("--numbered-names", action="store_true",
                            help="name the PNGs 000000.png, 000001.png, ... even where the file stores the original "
                                 "file names")
    decompress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    decompress.set_defaults(run=run_decompress)

    info = commands.add_parser(
        "info", parents=[debug], help="describe a .bbans file",
        description="Print what a .bbans file holds: image count and shape, model and fingerprint, lanes, "
                    "coding settings, bits/dim and the fixed overheads. Decodes nothing.")
    info.add_argument("file", metavar="FILE", help="the .bbans file to describe")
    info.set_defaults(run=run_info)

    file_format = commands.add_parser(
        "format", parents=[debug], help="print the description of the .bbans file format",
        description="Print the specification of the .bbans file format (Markdown), which is installed with the "
                    "package as bbans_numba/format.md.")
    file_format.set_defaults(run=run_format)

    demo = commands.add_parser(
        "demo", parents=[lanes, debug], help="round-trip MNIST and compare with gzip, bz2, lzma and JPEG-XL",
        description=f"Compress and decompress the MNIST test set ({DEMO_SPEC}; the bundled {DEMO_FALLBACK_SPEC} "
                    "when MNIST is not installed), check that every pixel comes back, and print bits/dim and "
                    "images/s each way beside gzip -9, bz2 -9 and lzma -9e on the same raw bytes and, where "
                    "imagecodecs is installed (the bench extra), JPEG-XL lossless at effort 10 on all images "
                    "as one strip.")
    add_count_option(demo, "--limit", "N", "use only the first N images")
    demo.add_argument("--quiet", action="store_true",
                      help="no progress bars or stage lines (the table is printed all the same)")
    demo.set_defaults(run=run_demo)
    return parser


# -- commands ---------------------------------------------------------------------------
def run_compress(args):
    """``bbans compress``: images from a SPEC to a .bbans file (a .npy is read a chunk at a time)."""
    output = fileio.check_output(args.output, args.force)
    image_set = load_images_lazily(args.input)
    images = image_set.images
    note_entries_not_read(args.input, image_set.skipped)
    note_fewer_lanes(args.lanes, min(len(images), args.chunk_images or DEFAULT_CHUNK_IMAGES))
    file_names = None if args.no_file_names else names_worth_storing(image_set.names)
    options = dict(model=args.model, lanes=args.lanes, quantizer=args.quantizer, bucket_bits=args.bucket_bits,
                   file_names=file_names)
    start = time.perf_counter()
    sizes = []
    if args.scheduler:
        blob = bb.compress_dask(dask_images(images, args.chunk_images), scheduler=args.scheduler, **options)
        fileio.write_bytes(output, blob, args.force)
        sizes.append(len(blob))
    else:
        with ProgressBar("compressing", enabled=not args.quiet) as progress:
            fileio.write_file(output, lambda stream: sizes.append(bb.compress_to(
                stream, images, chunk_images=args.chunk_images, workers=args.workers, progress=progress, **options)),
                args.force)
    seconds = time.perf_counter() - start
    size = sizes[0]
    if not args.quiet:
        print(f"compressed {len(images)} images of {shape_text(images.shape[1:])} from {args.input} to {output}: "
              f"{size} bytes, {bits_per_dim(size, images):.4f} bits/dim, "
              f"{images_per_second(len(images), seconds)} images/s")
    return 0


def run_decompress(args):
    """``bbans decompress``: a .bbans file to a .npy file (written a chunk at a time) or a folder of PNGs."""
    output = Path(args.output)
    with open(args.input, "rb") as source:
        info = bb.bbans.file_info(source)
        bb.bbans.refuse_old_version(info["format_version"])  # before OUTPUT is looked at
        first, stop = bb.chunks.image_range(args.images, info["count"])
        form = output_form(output, (stop - first, *info["image_shape"]))  # a bad OUTPUT is refused before decoding
        fileio.check_output(output, args.force, folder=form == "folder")
        names = None if args.numbered_names or info["file_names"] is None else info["file_names"][first:stop]
    start = time.perf_counter()
    with open(args.input, "rb") as source:
        removed = 0
        if args.scheduler:
            from bbans_numba import on_dask

            lazy = bb.decompress_dask(source.read(), model=args.model)[args.images or slice(None)]
            (images,) = on_dask.compute([lazy], args.scheduler)
            removed = write_images(images, output, form, names, args.force)
            shape = images.shape
        elif form == "npy":
            shapes = []
            with ProgressBar("decompressing", enabled=not args.quiet) as progress:
                fileio.write_file(output, lambda stream: shapes.append(bb.decompress_to_npy(
                    source, stream, model=args.model, images=args.images, workers=args.workers, progress=progress)),
                    args.force)
            shape = shapes[0]
        else:
            with ProgressBar("decompressing", enabled=not args.quiet) as progress:
                images = bb.decompress(source, model=args.model, images=args.images, workers=args.workers,
                                       progress=progress)
            removed = write_images(images, output, form, names, args.force)
            shape = images.shape
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(f"decompressed {shape[0]} images of {shape_text(shape[1:])} from {args.input} to {output} "
              f"({images_per_second(shape[0], seconds)} images/s); all pixel checksums match"
              + (f"; deleted {plural(removed, 'old .png file')} that {'was' if removed == 1 else 'were'} not replaced"
                 if removed else ""))
    return 0


def run_info(args):
    """``bbans info``: print :func:`bbans_numba.bbans.file_info` as aligned lines."""
    with open(args.file, "rb") as source:
        info = bb.bbans.file_info(source)
    rate = "n/a (no images)" if info["bits_per_dim"] is None else f"{info['bits_per_dim']:.4f}"
    version_two = info["format_version"] == 2
    rows = [
        ("file", f"{args.file} ({info['file_bytes']} bytes, format version {info['format_version']})"),
        ("images", str(info["count"])),
        ("image shape", shape_text(info["image_shape"])),
        ("dtype", info["dtype"]),
        ("model", info["model"] or "not a shipped model (pass it with --model PATH to decode)"),
        ("model id", info["model_id"]) if version_two else ("model fingerprint", info["model_fingerprint"]),
        *([("chunks", str(info["chunks"]))] if version_two else []),
        ("lanes", str(info["lanes"]) + (" (most in a chunk)" if version_two else "")),
        ("settings", ", ".join(f"{key}={value}" for key, value in sorted(info["settings"].items()))),
        ("bits/dim", rate),
        ("payload bytes", str(info["payload_bytes"])),
        ("container bytes", str(info["container_bytes"])),
        ("initial bits", str(info["initial_bits"])),
        ("flush bits", str(info["flush_bits"])),
        ("file names", "none stored" if info["file_names"] is None else shortened_list(info["file_names"])),
    ]
    width = max(len(key) for key, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}")
    return 0


def run_format(args):
    """``bbans format``: print the file format's description shipped in the package."""
    print(importlib.resources.files("bbans_numba").joinpath(FORMAT_FILE).read_text(encoding="utf-8"), end="")
    return 0


def run_demo(args):
    """``bbans demo``: round-trip MNIST with BB-ANS and compare with the standard compressors."""
    try:
        images = bb.load_images(DEMO_SPEC)
        spec = DEMO_SPEC
    except FileNotFoundError:
        images = bb.load_images(DEMO_FALLBACK_SPEC)
        spec = DEMO_FALLBACK_SPEC
        print(f"MNIST is not installed ({MNIST_INSTALL_HINT} adds it): using the bundled sample {spec}")
    images = images[:args.limit]
    print(f"{spec}: {len(images)} images of {shape_text(images.shape[1:])}", flush=True)
    note_fewer_lanes(args.lanes, len(images))

    def stage(text):  # one line per stage, shown at once even when stdout is a pipe or a file
        if not args.quiet:
            print(text, flush=True)

    stage("compressing with bbans (the first run after installing also compiles the kernels: about 10 s of CPU here)")
    start = time.perf_counter()
    with ProgressBar("compressing", enabled=not args.quiet) as progress:
        blob = bb.compress(images, lanes=args.lanes, progress=progress)
    middle = time.perf_counter()
    stage(f"  {len(blob)} bytes in {middle - start:.1f} s; decompressing")
    with ProgressBar("decompressing", enabled=not args.quiet) as progress:
        restored = bb.decompress(blob, progress=progress)
    end = time.perf_counter()
    if not np.array_equal(restored, images):
        raise ValueError("demo round trip failed: the decompressed images differ from the originals")
    baselines = list(BASELINES)
    jpegxl = jpegxl_baseline() if images.ndim == 3 else None
    if jpegxl is not None:
        baselines.append(jpegxl)
    stage(f"  every pixel back in {end - middle:.1f} s; compressing with "
          f"{', '.join(name for name, _, _ in baselines)} for comparison")
    info = bb.bbans.file_info(blob)
    rows = [(f"bbans ({info['model']}, {info['lanes']} lanes)", len(blob), middle - start, end - middle)]
    rows += [baseline_row(name, compress, decompress, images) for name, compress, decompress in baselines]

    width = max(28, *(len(name) for name, _, _, _ in rows))
    print(f"{'codec':<{width}} {'bits/dim':>9} {'compress img/s':>15} {'decompress img/s':>17}")
    for name, size, compress_seconds, decompress_seconds in rows:
        print(f"{name:<{width}} {bits_per_dim(size, images):>9.4f} "
              f"{images_per_second(len(images), compress_seconds):>15} "
              f"{images_per_second(len(images), decompress_seconds):>17}")
    print(DEMO_TABLE_NOTE)
    if jpegxl is None:
        print(f"JPEG-XL, the strongest classical codec on MNIST, is left out: {JPEGXL_HINT} adds it.")
    print("lossless round trip: OK (every pixel checked)")
    return 0


DEMO_TABLE_NOTE = (
    "bits/dim: compressed bits per pixel value, all overheads in (the raw images take 8); lower is better.\n"
    "img/s: images per second, higher is better; on the first run after installing, bbans' compress rate\n"
    "includes compiling the kernels (later runs load them from the disk cache: run the demo again to see).")


def _byte_stream(compress, decompress):
    """A general-purpose compressor as an image codec: all images as one stream of raw C-order bytes."""
    return (lambda images: compress(images.tobytes()),
            lambda packed, like: np.frombuffer(decompress(packed), dtype=like.dtype).reshape(like.shape))


BASELINES = (
    ("gzip -9", *_byte_stream(lambda raw: gzip.compress(raw, compresslevel=9), gzip.decompress)),
    ("bz2 -9", *_byte_stream(lambda raw: bz2.compress(raw, compresslevel=9), bz2.decompress)),
    ("lzma -9e", *_byte_stream(lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME), lzma.decompress)),
)
JPEGXL_NAME = "JPEG-XL lossless (effort 10, one strip)"
JPEGXL_HINT = 'pip install ".[bench]"'


def jpegxl_baseline():
    """JPEG-XL lossless at effort 10 on all (grayscale) images as one vertical strip, the strongest
    classical codec on MNIST in bench/bench_mnist.py; None without ``imagecodecs`` (or its JPEG-XL)."""
    try:
        import imagecodecs
    except ImportError:
        return None
    if not imagecodecs.JPEGXL.available:
        return None
    return (JPEGXL_NAME,
            lambda images: imagecodecs.jpegxl_encode(images.reshape(-1, images.shape[-1]), lossless=True, effort=10),
            lambda packed, like: np.asarray(imagecodecs.jpegxl_decode(packed)).reshape(like.shape))


def baseline_row(name, compress, decompress, images):
    """(name, compressed bytes, compress seconds, decompress seconds) of a classical codec, its round
    trip checked: ``compress(images) -> bytes``, ``decompress(bytes, images) -> images``."""
    start = time.perf_counter()
    packed = compress(images)
    middle = time.perf_counter()
    unpacked = decompress(packed, images)
    end = time.perf_counter()
    if not np.array_equal(unpacked, images):
        raise ValueError(f"{name} round trip failed")
    return name, len(packed), middle - start, end - middle


# -- helpers ----------------------------------------------------------------------------
def note_fewer_lanes(requested, count):
    """Say on stderr when chunks of (at most) ``count`` images get fewer lanes than the ``requested`` ones."""
    lanes = resolve_lanes(requested, count)
    if requested is not None and lanes < requested:
        note(f"--lanes {requested} is more than the {plural(count, 'image')} of a chunk: coding with "
             f"{plural(lanes, 'lane')} (one image per lane)")


def load_images_lazily(spec):
    """The :class:`~bbans_numba.datasets.ImageSet` of ``spec``; a ``.npy`` file's images are read a chunk at a
    time when coding (bounded memory)."""
    if str(spec).lower().endswith(".npy") and Path(spec).is_file():
        from bbans_numba.npy_stream import NpyImages

        try:
            images = NpyImages(spec)
        except ValueError:
            return load_image_set(spec)  # its own, precise message
        if images.ndim in (3, 4) and len(images):
            return ImageSet(images)
    return load_image_set(spec)


def dask_images(images, chunk_images):
    """``images`` as a dask array chunked like the file's chunks (needs the dask extra)."""
    from bbans_numba import on_dask

    return on_dask.from_images(images, chunk_images)


def plural(count, noun):
    """``count`` and ``noun``, plural unless the count is one.

    >>> plural(1, "image"), plural(2, "lane")
    ('1 image', '2 lanes')
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def output_form(output, shape):
    """How ``bbans decompress`` writes images of ``shape`` (N, ...) to ``output``: ``"npy"``, ``"png"`` or ``"folder"``.

    Raises ``ValueError`` when ``output`` cannot hold them: several images for one ``.png``
    file, a suffix of another image format, or images PNG cannot store.

    >>> output_form(Path("out.NPY"), (5, 28, 28)), output_form(Path("one.png"), (1, 28, 28))
    ('npy', 'png')
    >>> output_form(Path("digits"), (5, 28, 28))
    'folder'
    """
    suffix = output.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix in OTHER_IMAGE_SUFFIXES:
        raise ValueError(f"{output}: bbans does not write {suffix} files; give a .npy file, a .png file (one image) "
                         f"or a folder for PNGs (e.g. {output.with_suffix('')})")
    channels = shape[3] if len(shape) == 4 else None
    if len(shape) not in (3, 4) or channels not in PNG_KINDS:
        raise ValueError(f"images of shape {shape_text(shape[1:])} cannot be written as PNG; "
                         "give an OUTPUT ending in .npy")
    if suffix == ".png":
        if shape[0] != 1:
            raise ValueError(f"{output}: one .png file holds one image, the file has {shape[0]}; give a folder "
                             f"for the PNGs (e.g. {output.with_suffix('')}) or a .npy file")
        return "png"
    return "folder"


def write_images(images, output, form, names=None, force=False):
    """Save ``images`` to ``output`` in the ``form`` :func:`output_form` chose; returns the stale PNGs deleted.

    Every form is written atomically (:mod:`bbans_numba.fileio`).  A folder gets one PNG per
    image, named ``names`` (default :func:`numbered_png_names`); with ``force``, the ``.png``
    files that were in it before and were not overwritten are deleted afterwards, so that the
    folder holds exactly these images (reading it back gives them, and only them).  Other
    files are left alone.
    """
    if form == "npy":
        fileio.write_file(output, npy_writer(images), force)
        return 0
    if form == "png":
        fileio.write_file(output, png_writer(images[0]), force)
        return 0
    names = names or numbered_png_names(len(images))
    before = [path for path in output.iterdir() if is_png_file(path)] if force and output.is_dir() else []
    fileio.write_folder(output, ((name, png_writer(image)) for name, image in zip(names, images)), force)
    written = {file_identity(output / name) for name in names}
    stale = [path for path in before if file_identity(path) not in written]
    for path in stale:
        path.unlink()
    return len(stale)


def npy_writer(images):
    """A ``write(stream)`` function that saves ``images`` as ``.npy`` (for :mod:`bbans_numba.fileio`).

    It writes to a stream, not a path (``numpy.save(path)`` would add ``.npy`` to a name
    ending in ``.NPY``), and through the stream's ``write``: given a real file, ``numpy.save``
    writes through C stdio and loses the error of a failed write (disk full, file too large),
    which ``write`` raises.
    """
    return lambda stream: np.save(types.SimpleNamespace(write=stream.write), images)


def png_writer(image):
    """A ``write(stream)`` function that saves one image as PNG (for :mod:`bbans_numba.fileio`)."""
    from PIL import Image

    return lambda stream: Image.fromarray(image).save(stream, format="PNG")


def is_png_file(path):
    return path.suffix.lower() == ".png" and path.is_file()


def file_identity(path):
    """(device, inode) of ``path``: equal for two names of one file, as on a case-insensitive file system."""
    status = path.stat()
    return status.st_dev, status.st_ino


def numbered_png_names(count):
    """``000000.png``, ``000001.png``, ...: the PNG names used when a file stores none."""
    return [png_file_name(index, count) for index in range(count)]


def names_worth_storing(names):
    """The PNG file ``names`` to store in the compressed file, or None.

    None when there are none (not a PNG input), when they are :func:`numbered_png_names`
    (decompression gives those anyway), or when the file format cannot hold them
    (:func:`bbans_numba.container.file_names_problem`; a note says why).
    """
    if names is None or names == numbered_png_names(len(names)):
        return None
    problem = container.file_names_problem(names, len(names))
    if problem:
        note(f"the PNG file names are not stored (the list {problem}); decompressing numbers the PNGs instead")
        return None
    return names


def note_entries_not_read(spec, skipped):
    """Say on stderr which entries of an input folder were not read (not .png files), the first few by name."""
    if not skipped:
        return
    count = len(skipped)
    note(f"{spec}: {count} {'entry is not a .png file' if count == 1 else 'entries are not .png files'} "
         f"and {'was' if count == 1 else 'were'} not read: {shortened_list(skipped)}")


def shortened_list(names):
    """The first :data:`MAX_NOTE_NAMES` of ``names``, comma-separated, then ``...`` if there are more.

    >>> shortened_list(["a", "b"]), shortened_list([str(i) for i in range(9)])
    ('a, b', '0, 1, 2, 3, 4, ...')
    """
    return ", ".join(names[:MAX_NOTE_NAMES]) + (", ..." if len(names) > MAX_NOTE_NAMES else "")


def note(text):
    """A one-line note on stderr: something the user may not expect, not an error."""
    print(f"{PROG}: note: {text}", file=sys.stderr)


def png_file_name(index, count):
    """``000042.png``: the index zero-padded to the width of the largest index (at least 6 digits)."""
    digits = max(MIN_PNG_NAME_DIGITS, len(str(count - 1)))
    return f"{index:0{digits}d}.png"


def shape_text(shape):
    """``(28, 28)`` as ``28x28``."""
    return "x".join(str(size) for size in shape)


def bits_per_dim(num_bytes, images):
    """Rate of ``num_bytes`` for ``images``: 8 * bytes / number of pixel values."""
    return 8 * num_bytes / images.size


def images_per_second(count, seconds):
    """A rounded rate for display (three significant digits below 100 images/s)."""
    if seconds <= 0:
        return "inf"
    rate = count / seconds
    return f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"


def error_message(error):
    """One line describing ``error`` for the user."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.splitlines())


def stdout_to_devnull():
    """Make the process's stdout ``os.devnull`` (after its reader closed the pipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv=None):
    """Run ``bbans`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version and usage errors (status 2)
        return exit_request.code
    try:
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader of stdout went away (``bbans info f | head -1``): nothing is wrong and
        # nothing is left to say.  As the Python docs advise, point stdout at devnull so the
        # flush at exit cannot fail again, and exit quietly with status 1.
        stdout_to_devnull()
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # ContainerError is a ValueError, FileNotFoundError an OSError
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {error_message(error)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
