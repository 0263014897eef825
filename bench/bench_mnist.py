"""Rate and speed of bbans against the codecs people use, on the same images.

Usage (from the repository root, after ``pip install ".[bench]"`` for the plot, WebP, JPEG-XL
and JPEG-LS; MNIST as in the README's Quickstart)::

    python bench/bench_mnist.py                      # 10k MNIST test images, every row
    python bench/bench_mnist.py --quick              # 500 images, the default settings only, about a minute
    python bench/bench_mnist.py --data my.npy --limit 2000 --out bench/out/mine
    python bench/bench_mnist.py --replot docs/bench_mnist.json --out docs/bench_mnist   # the plot only

Prints a Markdown table (with the machine it ran on), writes ``OUT.json`` and a plot
``OUT.png`` of bits/dim against images/s (the plot only where matplotlib is installed; the
table and JSON always).  Every row is a real round trip on these
images, checked bit-exact; bits/dim come from the actual output size, all overheads in.
Classical codecs run both ways: every image on its own, and all images as one stream (or
as one image: a vertical strip, or a near-square grid where the codec limits image size).
Published figures appear as labelled reference rows, never mixed with measurements.
"""

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bench import report  # noqa: E402
from bbans_numba import bbans as bbans_codec  # noqa: E402
from bbans_numba.datasets import load_images  # noqa: E402
from bbans_numba.model import available_models, load_model  # noqa: E402

PUBLISHED = [
    {"name": "BB-ANS, Townsend et al. ICLR 2019", "bits_per_dim": 1.41},
    {"name": "Bit-Swap, Kingma et al. ICML 2019", "bits_per_dim": 1.29},
]


# --- classical codecs: (encode(array) -> bytes, decode(bytes, shape) -> array) -----------


def _stream_codec(compress, decompress):
    return (lambda array: compress(array.tobytes()),
            lambda blob, shape: np.frombuffer(decompress(blob), dtype=np.uint8).reshape(shape))


def _pillow_codec(format_name, **options):
    from PIL import Image

    def encode(array):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format=format_name, **options)
        return buffer.getvalue()

    def decode(blob, shape):
        mode = "L" if len(shape) == 2 else "RGB"  # WebP decodes grey images as RGB
        return np.asarray(Image.open(io.BytesIO(blob)).convert(mode)).reshape(shape)

    return encode, decode


def _imagecodecs_codec(name, **options):
    import imagecodecs

    codec = getattr(imagecodecs, name.upper())
    if not codec.available:
        raise ImportError(f"imagecodecs was built without {name}")
    encode = getattr(imagecodecs, f"{name}_encode")
    decode = getattr(imagecodecs, f"{name}_decode")
    return (lambda array: encode(array, **options)), (lambda blob, shape: np.asarray(decode(blob)).reshape(shape))


# name, factory, largest image side the codec takes (None: a byte stream)
CLASSICAL = [
    ("gzip -9", lambda: _stream_codec(lambda b: gzip.compress(b, 9, mtime=0), gzip.decompress), None),
    ("bz2 -9", lambda: _stream_codec(lambda b: bz2.compress(b, 9), bz2.decompress), None),
    ("lzma -9e", lambda: _stream_codec(lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
     None),
    ("PNG (Pillow, optimize)", lambda: _pillow_codec("PNG", optimize=True), 1 << 20),
    ("WebP lossless (Pillow, method 6)", lambda: _pillow_codec("WEBP", lossless=True, quality=100, method=6), 16383),
    ("JPEG-XL lossless (effort 10)", lambda: _imagecodecs_codec("jpegxl", lossless=True, effort=10), 1 << 20),
    ("JPEG-LS (imagecodecs)", lambda: _imagecodecs_codec("jpegls"), 65535),
]
QUICK_CLASSICAL = {"gzip -9", "bz2 -9", "lzma -9e", "PNG (Pillow, optimize)", "WebP lossless (Pillow, method 6)",
                   "JPEG-XL lossless (effort 10)"}
QUANTIZERS = [bbans_codec.CodingSettings.quantizer, "exact"]  # the codec's default (histogram) first
BENCH_INSTALL_HINT = 'pip install ".[bench]"'


def as_one_image(images, max_side):
    """All images as one 2-D picture: a vertical strip if it fits, else a near-square grid
    (missing tiles are zero).  Returns (picture, layout name)."""
    count, height, width = images.shape[:3]
    if max_side is None or count * height <= max_side:
        return images.reshape(count * height, width), "one strip"
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    padded = np.zeros((rows * columns, height, width), dtype=np.uint8)
    padded[:count] = images
    grid = padded.reshape(rows, columns, height, width).transpose(0, 2, 1, 3).reshape(rows * height, columns * width)
    return grid, "one grid"


def from_one_image(picture, layout, shape):
    count, height, width = shape
    if layout == "one strip":
        return picture.reshape(shape)
    columns = picture.shape[1] // width
    rows = picture.shape[0] // height
    tiles = picture.reshape(rows, height, columns, width).transpose(0, 2, 1, 3).reshape(rows * columns, height, width)
    return tiles[:count]


def measure(name, family, layout, encode_all, decode_all, images, repeats):
    """Time an encode/decode pair over all images; returns a row."""
    compress_seconds, blobs, compress_runs = report.time_median(encode_all, repeats=repeats, warmup=0)
    decompress_seconds, restored, decompress_runs = report.time_median(
        lambda: decode_all(blobs), repeats=repeats, warmup=0
    )
    total_bytes = sum(len(blob) for blob in blobs)
    count = len(images)
    return {
        "name": f"{name}, {layout}",
        "codec": name,
        "family": family,
        "layout": layout,
        "bytes": total_bytes,
        "bits_per_dim": 8 * total_bytes / images.size,
        "compress_images_per_s": count / compress_seconds,
        "decompress_images_per_s": count / decompress_seconds,
        "compress_ms_per_image": 1000 * compress_seconds / count,
        "decompress_ms_per_image": 1000 * decompress_seconds / count,
        "round_trip_ok": bool(np.array_equal(restored, images)),
        "timed_runs": [compress_runs, decompress_runs],
    }


def classical_rows(images, names, repeats):
    rows = []
    for name, factory, max_side in CLASSICAL:
        if name not in names:
            continue
        try:
            encode, decode = factory()
            encode(images[0])  # warm-up, and a check that the codec works here
        except (ImportError, OSError, ValueError, KeyError) as error:
            print(f"skipping {name}: {error}", file=sys.stderr)
            rows.append({"name": name, "family": "classical", "skipped": str(error)})
            continue
        rows.append(measure(
            name, "classical", "per image",
            lambda: [encode(image) for image in images],
            lambda blobs: np.stack([decode(blob, images.shape[1:]) for blob in blobs]),
            images, repeats,
        ))
        picture, layout = as_one_image(images, max_side)
        rows.append(measure(
            name, "classical", layout if max_side else "one stream",
            lambda: [encode(picture)],
            lambda blobs: from_one_image(decode(blobs[0], picture.shape), layout, images.shape),
            images, repeats,
        ))
    return rows


def model_negative_elbo(model, images):
    """Single-sample test -ELBO in bits/dim with the codec's own forward pass."""
    from training.evaluate import evaluate

    return float(evaluate(model, images, samples=1, seed=0)[0, :, 0].mean())


def bbans_rows(images, model_names, quantizers, bucket_bits_list, lanes, repeats):
    rows = []
    for model_name in model_names:
        model = load_model(model_name)
        neg_elbo = model_negative_elbo(model, images)
        for quantizer in quantizers:
            for bucket_bits in bucket_bits_list:
                settings = dict(model=model, lanes=lanes, quantizer=quantizer, bucket_bits=bucket_bits)
                warm_up = bbans_codec.compress(images[: 2 * (lanes or bbans_codec.DEFAULT_LANES)], **settings)
                bbans_codec.decompress(warm_up, model=model)  # both ways compiled before timing
                row = measure(
                    f"bbans {model_name} ({model.likelihood}, {quantizer}, {bucket_bits or 'default'} bucket bits)",
                    "bbans", "lanes " + str(lanes or bbans_codec.DEFAULT_LANES),
                    lambda: [bbans_codec.compress(images, **settings)],
                    lambda blobs: bbans_codec.decompress(blobs[0], model=model),
                    images, repeats,
                )
                row["codec"] = f"bbans {model_name}"
                row["default_settings"] = (quantizer == bbans_codec.CodingSettings.quantizer and bucket_bits is None
                                           and lanes is None)
                row["neg_elbo"] = neg_elbo
                row["gap_percent"] = 100 * (row["bits_per_dim"] / neg_elbo - 1)
                rows.append(row)
    return rows


def write_plot(path, rows, title):
    """The rate/speed plot at ``path``, or None (with a note saying how to get it) without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"\n(no plot: matplotlib is not installed; {BENCH_INSTALL_HINT} adds it)")
        return None
    return report.plot_rate_vs_speed(path, rows, title)


def plot_title(settings, machine):
    """The plot's title: what was measured, where and when."""
    return (f"{settings['count']:,} images from {settings['data']}: every point a bit-exact round trip, "
            f"median of {settings['repeats']} run(s)\n{machine['cores']} cores, {machine['cpu']}, {machine['date']}")


COLUMNS = [
    ("name", "codec", None),
    ("bits_per_dim", "bits/dim", 4),
    ("compress_images_per_s", "compress img/s", 0),
    ("decompress_images_per_s", "decompress img/s", 0),
    ("compress_ms_per_image", "compress ms/img", 3),
    ("decompress_ms_per_image", "decompress ms/img", 3),
    ("round_trip_ok", "lossless", None),
    ("neg_elbo", "model −ELBO", 4),
    ("gap_percent", "gap to −ELBO %", 2),
    ("timed_runs", "runs (c, d)", None),
]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Install the optional codecs and the plot with: {BENCH_INSTALL_HINT}. Codecs that are missing "
               "are listed as skipped; without matplotlib the table and JSON are written, not the plot.")
    parser.add_argument("--data", default="mnist:test", help="image SPEC (default mnist:test)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images")
    parser.add_argument("--quick", action="store_true",
                        help="a check in about a minute: 500 images, one repeat, bbans with its default settings "
                             "only, the common codecs only (JPEG-LS left out)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per row; the median is reported")
    parser.add_argument("--lanes", type=int, default=None, help="bbans lanes (default: the codec's default)")
    parser.add_argument("--bucket-bits", type=int, nargs="*", default=None, help="bbans bucket bits to show")
    parser.add_argument("--out", default="bench/out/bench_mnist", help="output path stem for .json and .png")
    parser.add_argument("--replot", metavar="JSON",
                        help="measure nothing: draw OUT.png again from a JSON file this script wrote")
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        plot_path = write_plot(f"{args.out}.png", saved["rows"], plot_title(saved["settings"], saved["machine"]))
        print(f"wrote {plot_path}" if plot_path else "wrote nothing")
        return 0

    images = load_images(args.data)
    limit = 500 if args.quick and args.limit is None else args.limit
    images = np.ascontiguousarray(images[:limit])
    repeats = 1 if args.quick else args.repeats
    machine = report.machine_info()
    classical_names = QUICK_CLASSICAL if args.quick else {name for name, _, _ in CLASSICAL}
    bucket_bits_list = args.bucket_bits or ([None] if args.quick else [None, 12])
    quantizers = QUANTIZERS[:1] if args.quick else QUANTIZERS

    rows = bbans_rows(images, available_models(), quantizers, bucket_bits_list, args.lanes, repeats)
    rows += classical_rows(images, classical_names, repeats)
    rows.sort(key=lambda row: row.get("bits_per_dim", math.inf))
    measured = [row for row in rows if "skipped" not in row]
    all_rows = measured + [dict(row, reference=True, family="published") for row in PUBLISHED]

    print(f"# {len(images)} images from {args.data}, {images.shape[1:]} uint8; "
          f"{machine['cores']} cores, {machine['cpu']}; {machine['date']}; median of {repeats} run(s)\n")
    print(report.markdown_table(all_rows, COLUMNS))
    for row in rows:
        if "skipped" in row:
            print(f"\n(skipped: {row['name']}: {row['skipped']})")
    settings = {"data": args.data, "count": len(images), "repeats": repeats, "quick": args.quick}
    json_path = report.write_json(f"{args.out}.json", machine, all_rows, settings)
    plot_path = write_plot(f"{args.out}.png", all_rows, plot_title(settings, machine))
    print(f"\nwrote {json_path}" + (f" and {plot_path}" if plot_path else ""))
    return 0 if all(row["round_trip_ok"] for row in measured) else 1


if __name__ == "__main__":
    sys.exit(main())
