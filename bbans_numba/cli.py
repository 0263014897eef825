"""The ``bbans`` command: compress, decompress, inspect and demonstrate BB-ANS image files.

Usage::

    bbans compress INPUT OUTPUT [--model NAME|PATH] [--lanes L] [--quantizer exact|histogram]
                                [--bucket-bits B] [--chunk-images C] [--workers N] [--scheduler ADDRESS]
                                [--force] [--quiet] [--debug]
    bbans decompress INPUT OUTPUT [--model NAME|PATH] [--images A:B] [--workers N] [--scheduler ADDRESS]
                                  [--force] [--quiet] [--debug]
    bbans info FILE [--debug]
    bbans demo [--limit N] [--lanes L] [--quiet] [--debug]

``--chains`` is a deprecated alias of ``--lanes`` (it prints a one-line note).
    bbans --version

Errors are printed as one line ``bbans: error: <message>`` on stderr with exit status 1
(2 for usage errors, 130 when interrupted); ``--debug`` adds the traceback.  Also runnable
as ``python -m bbans_numba.cli``.
"""

import argparse
import bz2
import contextlib
import gzip
import lzma
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

import bbans_numba as bb
from bbans_numba.datasets import MNIST_INSTALL_HINT
from bbans_numba.settings import DEFAULT_CHUNK_IMAGES, DEFAULT_LANES, IMAGES_PER_LANE, CodingSettings, resolve_lanes

__all__ = ["main", "ProgressBar"]

PROG = "bbans"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
DEMO_SPEC = "mnist:test"
DEMO_FALLBACK_SPEC = "mnist:sample"
MIN_PNG_NAME_DIGITS = 6
# What Pillow writes for each number of channels of an image; None: (H, W) images.
PNG_KINDS = {None: "grayscale", 3: "RGB", 4: "RGBA"}

QUIET_HELP = "print nothing on success: no progress bar (shown only on a terminal anyway), no summary line"
SPEC_HELP = ("an image SPEC: mnist, mnist:train, mnist:test, mnist:sample, a .npy file of uint8 "
             "(N, H, W) or (N, H, W, C), an IDX file (*-idx3-ubyte[.gz]) or a folder of PNGs")


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


class DeprecatedAlias(argparse.Action):
    """An old option name that works like ``replacement`` after a one-line note on stderr."""

    def __init__(self, option_strings, dest, replacement, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{PROG}: note: {option_string} is deprecated; use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def build_parser():
    """The argument parser of ``bbans`` and its four subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Lossless image compression with bits-back ANS (BB-ANS) and a VAE.",
        epilog="Run 'bbans COMMAND --help' for the options of a command. Errors print one line "
               "'bbans: error: ...' and exit with status 1 (2 for usage errors, 130 when interrupted); "
               "--debug adds the traceback. File format: docs/format.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {bb.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="on error, print the full traceback too")
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument("--force", action="store_true",
                       help="overwrite an existing OUTPUT file, or write PNGs into a non-empty OUTPUT folder")
    lanes = argparse.ArgumentParser(add_help=False)
    lanes.add_argument("--lanes", type=positive_int, metavar="L",
                       help="rANS lanes per chunk, coded in lock-step, one image per lane and round: more is faster "
                            f"per image but adds a fixed cost per lane (default: one per {IMAGES_PER_LANE} images, at "
                            f"most {DEFAULT_LANES}; never more than a chunk's images: asking for more codes with one "
                            "lane per image, with a note)")
    parallel = argparse.ArgumentParser(add_help=False)
    parallel.add_argument("--workers", type=positive_int, metavar="N",
                          help="processes coding chunks at once (default: one per core, here "
                               f"{bb.chunks.default_workers()}); the bytes do not depend on it")
    parallel.add_argument("--scheduler", metavar="ADDRESS",
                          help="code the chunks on a running dask.distributed cluster at ADDRESS (e.g. "
                               "tcp://10.0.0.5:8786) instead of local processes; needs the dask extra: "
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
                          help="a shipped model name or an exported .npz model file (default: mnist)")
    compress.add_argument("--quantizer", choices=("exact", "histogram"), default=None,
                          help="how the posterior is quantized onto latent buckets: 'exact' takes CDF differences "
                               "at the bucket edges (every bucket >= 1), 'histogram' counts equiprobable posterior "
                               f"points into the buckets (default: {CodingSettings.quantizer})")
    compress.add_argument("--bucket-bits", type=positive_int, metavar="B",
                          help="use 2**B equal-mass buckets per latent dimension "
                               f"(default: {CodingSettings.bucket_bits})")
    compress.add_argument("--chunk-images", type=positive_int, metavar="C",
                          help="images per chunk: chunks are coded independently, in parallel, and decoding any "
                               f"image decodes its whole chunk (default: {DEFAULT_CHUNK_IMAGES})")
    compress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    compress.set_defaults(run=run_compress)

    decompress = commands.add_parser(
        "decompress", parents=[parallel, force, debug], help="decompress a .bbans file to .npy or PNGs",
        description="Decompress a .bbans file. The pixels are checked against the checksums stored in the file.")
    decompress.add_argument("input", metavar="INPUT", help="the .bbans file to read")
    decompress.add_argument("output", metavar="OUTPUT",
                            help="a path ending in .npy (one NumPy array) or a folder to fill with PNGs "
                                 "000000.png, 000001.png, ... (grayscale for (H, W) images, RGB for (H, W, 3), "
                                 "RGBA for (H, W, 4))")
    decompress.add_argument("--model", metavar="NAME|PATH",
                            help="the model to decode with (default: the shipped model named in the file; a model "
                                 "of your own is given here as PATH, never taken from the file); its fingerprint "
                                 "must match the file's")
    decompress.add_argument("--images", type=image_range, metavar="A:B",
                            help="only images A to B-1 (Python slice bounds; either may be left out): only the "
                                 "chunks holding them are decoded")
    decompress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    decompress.set_defaults(run=run_decompress)

    info = commands.add_parser(
        "info", parents=[debug], help="describe a .bbans file",
        description="Print what a .bbans file holds: image count and shape, model and fingerprint, lanes, "
                    "coding settings, bits/dim and the fixed overheads. Decodes nothing.")
    info.add_argument("file", metavar="FILE", help="the .bbans file to describe")
    info.set_defaults(run=run_info)

    demo = commands.add_parser(
        "demo", parents=[lanes, debug], help="round-trip MNIST and compare with gzip, bz2 and lzma",
        description=f"Compress and decompress the MNIST test set ({DEMO_SPEC}; the bundled {DEMO_FALLBACK_SPEC} "
                    "when MNIST is not installed), check that every pixel comes back, and print bits/dim and "
                    "images/s each way beside gzip -9, bz2 -9 and lzma -9e on the same raw bytes.")
    demo.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N images")
    demo.add_argument("--quiet", action="store_true", help="no progress bars (the table is printed all the same)")
    demo.set_defaults(run=run_demo)
    return parser


# -- commands ---------------------------------------------------------------------------
def run_compress(args):
    """``bbans compress``: images from a SPEC to a .bbans file (a .npy is read a chunk at a time)."""
    output = Path(args.output)
    refuse_to_overwrite(output, args.force)
    images = load_images_lazily(args.input)
    note_fewer_lanes(args.lanes, min(len(images), args.chunk_images or DEFAULT_CHUNK_IMAGES))
    options = dict(model=args.model, lanes=args.lanes, quantizer=args.quantizer, bucket_bits=args.bucket_bits)
    start = time.perf_counter()
    if args.scheduler:
        blob = bb.compress_dask(dask_images(images, args.chunk_images), scheduler=args.scheduler, **options)
        with written(output) as stream:
            size = stream.write(blob)
    else:
        with ProgressBar("compressing", enabled=not args.quiet) as progress, written(output) as stream:
            size = bb.compress_to(stream, images, chunk_images=args.chunk_images, workers=args.workers,
                                  progress=progress, **options)
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(f"compressed {len(images)} images of {shape_text(images.shape[1:])} from {args.input} to {output}: "
              f"{size} bytes, {bits_per_dim(size, images):.4f} bits/dim, "
              f"{images_per_second(len(images), seconds)} images/s")
    return 0


def run_decompress(args):
    """``bbans decompress``: a .bbans file to a .npy file (written a chunk at a time) or a folder of PNGs."""
    output = Path(args.output)
    refuse_to_overwrite(output, args.force)
    start = time.perf_counter()
    with open(args.input, "rb") as source:
        if args.scheduler:
            from bbans_numba import on_dask

            lazy = bb.decompress_dask(source.read(), model=args.model)[args.images or slice(None)]
            (images,) = on_dask.compute([lazy], args.scheduler)
            write_images(images, output)
            shape = images.shape
        elif output.suffix.lower() == ".npy":
            with ProgressBar("decompressing", enabled=not args.quiet) as progress, written(output) as stream:
                shape = bb.decompress_to_npy(source, stream, model=args.model, images=args.images,
                                             workers=args.workers, progress=progress)
        else:
            with ProgressBar("decompressing", enabled=not args.quiet) as progress:
                images = bb.decompress(source, model=args.model, images=args.images, workers=args.workers,
                                       progress=progress)
            write_images(images, output)
            shape = images.shape
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(f"decompressed {shape[0]} images of {shape_text(shape[1:])} from {args.input} to {output} "
              f"({images_per_second(shape[0], seconds)} images/s); all pixel checksums match")
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
    ]
    width = max(len(key) for key, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}")
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
    print(f"{spec}: {len(images)} images of {shape_text(images.shape[1:])}")
    note_fewer_lanes(args.lanes, len(images))

    start = time.perf_counter()
    with ProgressBar("compressing", enabled=not args.quiet) as progress:
        blob = bb.compress(images, lanes=args.lanes, progress=progress)
    middle = time.perf_counter()
    with ProgressBar("decompressing", enabled=not args.quiet) as progress:
        restored = bb.decompress(blob, progress=progress)
    end = time.perf_counter()
    if not np.array_equal(restored, images):
        raise ValueError("demo round trip failed: the decompressed images differ from the originals")
    info = bb.bbans.file_info(blob)
    rows = [(f"bbans ({info['model']}, {info['lanes']} lanes)", len(blob), middle - start, end - middle)]
    rows += [baseline_row(name, compress, decompress, images) for name, compress, decompress in BASELINES]

    print(f"{'codec':<28} {'bits/dim':>9} {'compress img/s':>15} {'decompress img/s':>17}")
    for name, size, compress_seconds, decompress_seconds in rows:
        print(f"{name:<28} {bits_per_dim(size, images):>9.4f} {images_per_second(len(images), compress_seconds):>15} "
              f"{images_per_second(len(images), decompress_seconds):>17}")
    print("lossless round trip: OK (every pixel checked)")
    return 0


BASELINES = (
    ("gzip -9", lambda raw: gzip.compress(raw, compresslevel=9), gzip.decompress),
    ("bz2 -9", lambda raw: bz2.compress(raw, compresslevel=9), bz2.decompress),
    ("lzma -9e", lambda raw: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
)


def baseline_row(name, compress, decompress, images):
    """(name, compressed bytes, compress seconds, decompress seconds) of a general-purpose compressor.

    All images go through as one stream of their raw C-order bytes.
    """
    raw = images.tobytes()
    start = time.perf_counter()
    packed = compress(raw)
    middle = time.perf_counter()
    unpacked = decompress(packed)
    end = time.perf_counter()
    if unpacked != raw:
        raise ValueError(f"{name} round trip failed")
    return name, len(packed), middle - start, end - middle


# -- helpers ----------------------------------------------------------------------------
def note_fewer_lanes(requested, count):
    """Say on stderr when chunks of (at most) ``count`` images get fewer lanes than the ``requested`` ones."""
    lanes = resolve_lanes(requested, count)
    if requested is not None and lanes < requested:
        print(f"{PROG}: note: --lanes {requested} is more than the {plural(count, 'image')} of a chunk: coding with "
              f"{plural(lanes, 'lane')} (one image per lane)", file=sys.stderr)


@contextlib.contextmanager
def written(output):
    """A binary stream whose bytes become the file ``output`` only if the block succeeds.

    They go to a temporary file beside it, renamed over ``output`` at the end, so a failure
    (or an interruption) leaves no partial output and no damaged old file.
    """
    stream = tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.", suffix=".part", delete=False)
    try:
        with stream:
            yield stream
        os.replace(stream.name, output)
    except BaseException:
        Path(stream.name).unlink(missing_ok=True)
        raise


def load_images_lazily(spec):
    """The images of ``spec``; a ``.npy`` file is read a chunk at a time when coding (bounded memory)."""
    if str(spec).lower().endswith(".npy") and Path(spec).is_file():
        from bbans_numba.npy_stream import NpyImages

        try:
            images = NpyImages(spec)
        except ValueError:
            return bb.load_images(spec)  # its own, precise message
        if images.ndim in (3, 4) and len(images):
            return images
    return bb.load_images(spec)


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


def refuse_to_overwrite(output, force):
    """Raise ``FileExistsError`` if writing ``output`` would replace a file or fill a non-empty folder."""
    if force:
        return
    if output.is_dir() and any(output.iterdir()):
        raise FileExistsError(f"{output}: folder exists and is not empty (use --force to write into it)")
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output}: file exists (use --force to overwrite it)")


def write_images(images, output):
    """Save ``images`` as ``output`` if it ends in ``.npy``, else as PNG files in the folder ``output``."""
    if output.suffix.lower() == ".npy":
        np.save(output, images)
        return
    from PIL import Image

    channels = images.shape[3] if images.ndim == 4 else None
    if images.ndim not in (3, 4) or channels not in PNG_KINDS:
        raise ValueError(f"images of shape {shape_text(images.shape[1:])} cannot be written as PNG; "
                         "give an OUTPUT ending in .npy")
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output}: exists and is not a folder (PNG output needs a folder; "
                              "give an OUTPUT ending in .npy for one file)")
    output.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image).save(output / png_file_name(index, len(images)))


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


def main(argv=None):
    """Run ``bbans`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # --help, --version and usage errors (status 2)
        return exit_request.code
    try:
        return args.run(args)
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
