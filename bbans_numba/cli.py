"""The ``bbans`` command: compress, decompress, inspect and demonstrate BB-ANS image files.

Usage::

    bbans compress INPUT OUTPUT [--model NAME|PATH] [--chains C] [--quantizer exact|histogram]
                                [--bucket-bits B] [--force] [--quiet] [--debug]
    bbans decompress INPUT OUTPUT [--model NAME|PATH] [--force] [--quiet] [--debug]
    bbans info FILE [--debug]
    bbans demo [--limit N] [--chains C] [--quiet] [--debug]
    bbans --version

Errors are printed as one line ``bbans: error: <message>`` on stderr with exit status 1
(2 for usage errors, 130 when interrupted); ``--debug`` adds the traceback.  Also runnable
as ``python -m bbans_numba.cli``.
"""

import argparse
import bz2
import gzip
import lzma
import math
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import bbans_numba as bb
from bbans_numba import container
from bbans_numba.datasets import MNIST_INSTALL_HINT

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
def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    chains = argparse.ArgumentParser(add_help=False)
    chains.add_argument("--chains", type=positive_int, metavar="C",
                        help="number of independent BB-ANS chains coded in lock-step: more is faster per image but "
                             "adds a fixed overhead per chain (default: the codec's, at most the image count)")

    compress = commands.add_parser(
        "compress", parents=[chains, force, debug], help="compress images to a .bbans file",
        description="Compress images losslessly to a .bbans file and print a one-line summary "
                    "(images, bytes, bits/dim, images/s).")
    compress.add_argument("input", metavar="INPUT", help=SPEC_HELP)
    compress.add_argument("output", metavar="OUTPUT", help="the .bbans file to write")
    compress.add_argument("--model", default="mnist", metavar="NAME|PATH",
                          help="a shipped model name or an exported .npz model file (default: mnist)")
    compress.add_argument("--quantizer", choices=("exact", "histogram"), default=None,
                          help="how the posterior is quantized onto latent buckets: 'exact' takes CDF differences "
                               "at the bucket edges (every bucket >= 1), 'histogram' counts equiprobable posterior "
                               "points into the buckets (default: the codec's, histogram)")
    compress.add_argument("--bucket-bits", type=positive_int, metavar="B",
                          help="use 2**B equal-mass buckets per latent dimension (default: the codec's)")
    compress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    compress.set_defaults(run=run_compress)

    decompress = commands.add_parser(
        "decompress", parents=[force, debug], help="decompress a .bbans file to .npy or PNGs",
        description="Decompress a .bbans file. The pixels are checked against the checksums stored in the file.")
    decompress.add_argument("input", metavar="INPUT", help="the .bbans file to read")
    decompress.add_argument("output", metavar="OUTPUT",
                            help="a path ending in .npy (one NumPy array) or a folder to fill with PNGs "
                                 "000000.png, 000001.png, ... (grayscale for (H, W) images, RGB for (H, W, 3), "
                                 "RGBA for (H, W, 4))")
    decompress.add_argument("--model", metavar="NAME|PATH",
                            help="the model to decode with (default: the one named in the file; its fingerprint "
                                 "must match either way)")
    decompress.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    decompress.set_defaults(run=run_decompress)

    info = commands.add_parser(
        "info", parents=[debug], help="describe a .bbans file",
        description="Print what a .bbans file holds: image count and shape, model and fingerprint, chains, "
                    "coding settings, bits/dim and the fixed overheads. Decodes nothing.")
    info.add_argument("file", metavar="FILE", help="the .bbans file to describe")
    info.set_defaults(run=run_info)

    demo = commands.add_parser(
        "demo", parents=[chains, debug], help="round-trip MNIST and compare with gzip, bz2 and lzma",
        description=f"Compress and decompress the MNIST test set ({DEMO_SPEC}; the bundled {DEMO_FALLBACK_SPEC} "
                    "when MNIST is not installed), check that every pixel comes back, and print bits/dim and "
                    "images/s each way beside gzip -9, bz2 -9 and lzma -9e on the same raw bytes.")
    demo.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N images")
    demo.add_argument("--quiet", action="store_true",
                      help="no progress bars or stage lines (the table is printed all the same)")
    demo.set_defaults(run=run_demo)
    return parser


# -- commands ---------------------------------------------------------------------------
def run_compress(args):
    """``bbans compress``: images from a SPEC to a .bbans file."""
    output = Path(args.output)
    refuse_to_overwrite(output, args.force)
    images = bb.load_images(args.input)
    start = time.perf_counter()
    with ProgressBar("compressing", enabled=not args.quiet) as progress:
        blob = bb.compress(images, model=args.model, chains=args.chains, quantizer=args.quantizer,
                           bucket_bits=args.bucket_bits, progress=progress)
    seconds = time.perf_counter() - start
    output.write_bytes(blob)
    if not args.quiet:
        print(f"compressed {len(images)} images of {shape_text(images.shape[1:])} from {args.input} to {output}: "
              f"{len(blob)} bytes, {bits_per_dim(len(blob), images):.4f} bits/dim, "
              f"{images_per_second(len(images), seconds)} images/s")
    return 0


def run_decompress(args):
    """``bbans decompress``: a .bbans file to a .npy file or a folder of PNGs."""
    output = Path(args.output)
    refuse_to_overwrite(output, args.force)
    blob = Path(args.input).read_bytes()
    start = time.perf_counter()
    with ProgressBar("decompressing", enabled=not args.quiet) as progress:
        images = bb.decompress(blob, model=args.model, progress=progress)
    seconds = time.perf_counter() - start
    write_images(images, output)
    if not args.quiet:
        print(f"decompressed {len(images)} images of {shape_text(images.shape[1:])} from {args.input} to {output} "
              f"({images_per_second(len(images), seconds)} images/s); all pixel checksums match")
    return 0


def run_info(args):
    """``bbans info``: print :func:`bbans_numba.container.describe` as aligned lines."""
    info = container.describe_file(Path(args.file).read_bytes())
    rate = "n/a (no images)" if info["bits_per_dim"] is None else f"{info['bits_per_dim']:.4f}"
    rows = [
        ("file", f"{args.file} ({info['file_bytes']} bytes)"),
        ("images", str(info["count"])),
        ("image shape", shape_text(info["image_shape"])),
        ("dtype", info["dtype"]),
        ("model", info["model"]),
        ("model fingerprint", info["model_fingerprint"]),
        ("chains", str(info["chains"])),
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
    print(f"{spec}: {len(images)} images of {shape_text(images.shape[1:])}", flush=True)

    def stage(text):  # one line per stage, shown at once even when stdout is a pipe or a file
        if not args.quiet:
            print(text, flush=True)

    stage("compressing with bbans (the first run after installing also compiles the kernels: about 15-20 s)")
    start = time.perf_counter()
    with ProgressBar("compressing", enabled=not args.quiet) as progress:
        blob = bb.compress(images, chains=args.chains, progress=progress)
    middle = time.perf_counter()
    stage(f"  {len(blob)} bytes in {middle - start:.1f} s; decompressing")
    with ProgressBar("decompressing", enabled=not args.quiet) as progress:
        restored = bb.decompress(blob, progress=progress)
    end = time.perf_counter()
    if not np.array_equal(restored, images):
        raise ValueError("demo round trip failed: the decompressed images differ from the originals")
    stage(f"  every pixel back in {end - middle:.1f} s; compressing the raw bytes with "
          f"{', '.join(name for name, _, _ in BASELINES)} for comparison")
    header, _ = container.unpack(blob)
    rows = [(f"bbans ({header['model']['name']}, {header['chains']} chains)", len(blob), middle - start, end - middle)]
    rows += [baseline_row(name, compress, decompress, images) for name, compress, decompress in BASELINES]

    print(f"{'codec':<28} {'bits/dim':>9} {'compress img/s':>15} {'decompress img/s':>17}")
    for name, size, compress_seconds, decompress_seconds in rows:
        print(f"{name:<28} {bits_per_dim(size, images):>9.4f} {images_per_second(len(images), compress_seconds):>15} "
              f"{images_per_second(len(images), decompress_seconds):>17}")
    print(DEMO_TABLE_NOTE)
    print("lossless round trip: OK (every pixel checked)")
    return 0


DEMO_TABLE_NOTE = (
    "bits/dim: compressed bits per pixel value, all overheads in (the raw images take 8); lower is better.\n"
    "img/s: images per second, higher is better; on the first run after installing, bbans' compress rate\n"
    "includes compiling the kernels (later runs load them from the disk cache: run the demo again to see).")


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
