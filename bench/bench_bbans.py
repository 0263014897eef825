"""The BB-ANS codec end to end, through the ``bbans`` CLI: rate, speed, start-up, profile.

Usage (from the repository root, with the package installed or on PYTHONPATH)::

    python bench/bench_bbans.py                   # full MNIST test set (10k images)
    python bench/bench_bbans.py --limit 1000      # fewer images
    python bench/bench_bbans.py --lanes 16 64 256    # the lanes trade-off

Measures, each in fresh processes running ``python -m bbans_numba.cli``:

* bits/dim from the output file size (all overheads in), with the initial bits and the
  per-lane flush bits reported separately, against the model's −ELBO on the same images;
* compress and decompress images/s with a warm Numba cache (median of ``--repeats``);
* cold start: a one-image round trip with an empty Numba cache (``NUMBA_CACHE_DIR``
  pointing at a new folder), and the same warm;
* where the time goes in-process (cProfile, grouped into networks / tables / coder / I/O).

Prints Markdown tables and writes ``OUT.json``.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402


def run_cli(arguments, env=None):
    """Run ``python -m bbans_numba.cli ARGUMENTS``; returns wall seconds (raises on failure)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bbans_numba.cli", *arguments, "--quiet"],
                            env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"bbans {' '.join(arguments)} failed: {result.stderr.strip()}")
    return seconds


def cli_round_trip(input_spec, folder, lanes, repeats, env=None):
    """Median compress/decompress seconds (whole processes) and the file they made."""
    compressed = folder / "images.bbans"
    restored = folder / "restored.npy"
    lane_args = ["--lanes", str(lanes)] if lanes else []
    compress_times, decompress_times = [], []
    for _ in range(repeats):
        compress_times.append(run_cli(["compress", input_spec, str(compressed), *lane_args, "--force"], env))
        decompress_times.append(run_cli(["decompress", str(compressed), str(restored), "--force"], env))
    return statistics.median(compress_times), statistics.median(decompress_times), compressed, restored


def in_process_rates(images, lanes):
    """Compress/decompress seconds measured inside one warm process (no start-up, no I/O)."""
    import bbans_numba as bb

    bb.decompress(bb.compress(images[:lanes * 2], lanes=lanes))  # warm-up
    start = time.perf_counter()
    blob = bb.compress(images, lanes=lanes)
    middle = time.perf_counter()
    restored = bb.decompress(blob)
    end = time.perf_counter()
    assert np.array_equal(restored, images)
    return middle - start, end - middle, blob


CATEGORIES = [
    ("networks", ("bbans_numba/model.py",)),
    ("tables (quantization)", ("bbans_numba/quantize.py",)),
    ("coder (rANS kernels, intervals, search)", ("bbans_numba/codecs.py", "bbans_numba/rans.py", "bbans_numba/families/")),
    ("container, checksums, I/O", ("bbans_numba/container.py", "bbans_numba/container_v2.py", "bbans_numba/chunks.py",
                                   "bbans_numba/datasets.py", "zlib")),
]


def profile_breakdown(function):
    """Seconds of ``function()`` by category (self time of the functions in each file)."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(function)
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    seconds = {name: 0.0 for name, _ in CATEGORIES}
    for (filename, _, function_name), (_, _, self_time, _, _) in stats.items():
        where = f"{filename}:{function_name}"
        for name, needles in CATEGORIES:
            if any(needle in where for needle in needles):
                seconds[name] += self_time
                break
    seconds["other (Python glue)"] = max(0.0, total - sum(seconds.values()))
    return total, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="mnist:test")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--lanes", type=int, nargs="*", default=None,
                        help="lane counts to compare (default: the codec's default only)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/out/bench_bbans")
    args = parser.parse_args(argv)

    import bbans_numba as bb
    from bbans_numba.bbans import DEFAULT_LANES
    from bench.bench_mnist import model_negative_elbo

    machine = report.machine_info()
    images = np.ascontiguousarray(bb.load_images(args.data)[: args.limit])
    model = bb.load_model("mnist")
    neg_elbo = model_negative_elbo(model, images)
    lane_counts = args.lanes or [DEFAULT_LANES]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        input_path = scratch / "input.npy"
        np.save(input_path, images)
        for lanes in lane_counts:
            compress_s, decompress_s, compressed, restored = cli_round_trip(str(input_path), scratch, lanes,
                                                                            args.repeats)
            ok = bool(np.array_equal(np.load(restored), images))
            blob = compressed.read_bytes()
            info = bb.bbans.file_info(blob)
            rows.append({
                "name": f"bbans CLI, {lanes} lanes",
                "bits_per_dim": 8 * len(blob) / images.size,
                "initial_bits_per_dim": info["initial_bits"] / images.size,
                "flush_bits_per_dim": info["flush_bits"] / images.size,
                "neg_elbo": neg_elbo,
                "gap_percent": 100 * (8 * len(blob) / images.size / neg_elbo - 1),
                "compress_images_per_s": len(images) / compress_s,
                "decompress_images_per_s": len(images) / decompress_s,
                "round_trip_ok": ok,
            })
            in_compress, in_decompress, _ = in_process_rates(images, lanes)
            rows[-1]["in_process_compress_images_per_s"] = len(images) / in_compress
            rows[-1]["in_process_decompress_images_per_s"] = len(images) / in_decompress

        one = scratch / "one.npy"
        np.save(one, images[:1])
        start_rows = []
        for label, cache in (("cold (empty Numba cache)", tempfile.mkdtemp(dir=scratch)), ("warm", None)):
            env = dict(os.environ)
            if cache:
                env["NUMBA_CACHE_DIR"] = cache
            compress_s, decompress_s, _, _ = cli_round_trip(str(one), scratch, None, 1, env)
            start_rows.append({"name": f"one-image round trip, {label}", "compress_s": compress_s,
                               "decompress_s": decompress_s, "total_s": compress_s + decompress_s})

    lanes = lane_counts[0]
    blob_holder = {}
    compress_total, compress_parts = profile_breakdown(lambda: blob_holder.setdefault(
        "blob", bb.compress(images, lanes=lanes)))
    decompress_total, decompress_parts = profile_breakdown(lambda: bb.decompress(blob_holder["blob"]))

    print(f"# {len(images)} images from {args.data}; {machine['cores']} cores, {machine['cpu']}; {machine['date']}\n")
    print(report.markdown_table(rows, [
        ("name", "run", None), ("bits_per_dim", "bits/dim (file)", 4), ("initial_bits_per_dim", "of which initial", 4),
        ("flush_bits_per_dim", "of which heads", 4), ("neg_elbo", "model −ELBO", 4), ("gap_percent", "gap %", 2),
        ("compress_images_per_s", "CLI compress img/s", 0), ("decompress_images_per_s", "CLI decompress img/s", 0),
        ("in_process_compress_images_per_s", "in-process compress img/s", 0),
        ("in_process_decompress_images_per_s", "in-process decompress img/s", 0), ("round_trip_ok", "lossless", None),
    ]))
    print()
    print(report.markdown_table(start_rows, [("name", "start-up", None), ("compress_s", "compress s", 2),
                                             ("decompress_s", "decompress s", 2), ("total_s", "total s", 2)]))
    print(f"\n## Where the time goes ({lanes} lanes, in-process, cProfile self time)\n")
    profile_rows = [{"name": name, "compress_s": compress_parts[name], "decompress_s": decompress_parts[name],
                     "compress_share": 100 * compress_parts[name] / compress_total,
                     "decompress_share": 100 * decompress_parts[name] / decompress_total}
                    for name in compress_parts]
    print(report.markdown_table(profile_rows, [("name", "part", None), ("compress_s", "compress s", 3),
                                               ("compress_share", "%", 1), ("decompress_s", "decompress s", 3),
                                               ("decompress_share", "%", 1)]))
    path = report.write_json(f"{args.out}.json", machine, rows + start_rows + profile_rows,
                             {"data": args.data, "count": len(images), "repeats": args.repeats})
    print(f"\nwrote {path}")
    return 0 if all(row["round_trip_ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
