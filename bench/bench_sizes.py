"""Every size, from one image to many: rate against N, throughput against workers, memory, random access.

Usage (from the repository root)::

    python bench/bench_sizes.py rates                    # bits/dim for N = 1, 10, 100, 1k, 10k beside lzma, JPEG-XL
    python bench/bench_sizes.py workers --count 4096     # images/s with 1 and 2 worker threads
    python bench/bench_sizes.py memory --counts 10000 100000   # peak RSS of the CLI on a memory-mapped .npy
    python bench/bench_sizes.py access                   # latency of decoding 100 images out of the 60k train set
    python bench/bench_sizes.py all --out bench/out/bench_sizes

Each part prints a Markdown table (with the machine, and its load average: this machine is
shared) and adds its rows to ``OUT.json``.  Every bbans row is a real round trip checked
bit-exact; bits/dim come from the file size, all overheads in (8 * bytes / (N * 784)).
"""

import argparse
import lzma
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import bbans_numba as bb  # noqa: E402
from bench import report  # noqa: E402
from bench.bench_mnist import _imagecodecs_codec  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def bits_per_dim(num_bytes, count, dims=784):
    return 8 * num_bytes / (count * dims)


def load_average():
    return round(os.getloadavg()[0], 1)


def jpegxl_per_image_bytes(images):
    """Bytes of JPEG-XL lossless (effort 10), every image in its own file."""
    encode, decode = _imagecodecs_codec("jpegxl", lossless=True, effort=10)
    total = 0
    for image in images:
        blob = encode(image)
        assert np.array_equal(decode(blob, image.shape), image)
        total += len(blob)
    return total


def round_trip_bytes(images, **options):
    blob = bb.compress(images, **options)
    assert np.array_equal(bb.decompress(blob), images), "bbans round trip failed"
    return len(blob)


# -- rate against N ---------------------------------------------------------------------------
def rates(counts, jpegxl_limit, subsets, seed=0):
    """bits/dim of the first N MNIST test images, for each N, beside lzma -9e and JPEG-XL per image."""
    images = bb.load_images("mnist:test")
    rows = []
    for count in counts:
        part = images[:count]
        row = {"name": f"first {count}", "count": count,
               "bbans": bits_per_dim(round_trip_bytes(part), count),
               "lzma": bits_per_dim(len(lzma.compress(part.tobytes(), preset=9 | lzma.PRESET_EXTREME)), count),
               "jpegxl_per_image": (bits_per_dim(jpegxl_per_image_bytes(part), count) if count <= jpegxl_limit
                                    else None)}
        rows.append(row)
        print(f"  N={count}: {row}", flush=True)
    rng = np.random.default_rng(seed)
    for count, repeats in subsets:
        values = [bits_per_dim(round_trip_bytes(images[rng.choice(len(images), count, replace=False)]), count)
                  for _ in range(repeats)]
        rows.append({"name": f"{repeats} random sets of {count}, mean", "count": count, "bbans": float(np.mean(values)),
                     "spread": float(np.std(values))})
        print(f"  {rows[-1]}", flush=True)
    return rows


# -- throughput against workers ------------------------------------------------------------------
def workers(count, worker_counts, repeats):
    """Images/s each way for each number of worker threads, runs interleaved (the machine is shared).

    Also the process's CPU time (all threads): ``cores_used`` = CPU seconds / wall seconds
    shows how much of the machine the run got, and CPU ms per image whether parallel runs
    cost extra work.
    """
    images = bb.load_images("mnist:test")[:count]
    bb.decompress(bb.compress(images[:40]))  # compile / load everything once
    timings = {workers: {"compress": [], "decompress": [], "cpu": [], "wall": []} for workers in worker_counts}
    blob = None
    for _ in range(repeats):
        for workers in worker_counts:
            cpu, start = time.process_time(), time.perf_counter()
            coded = bb.compress(images, workers=workers)
            middle = time.perf_counter()
            decoded = bb.decompress(coded, workers=workers)
            end, cpu = time.perf_counter(), time.process_time() - cpu
            assert np.array_equal(decoded, images) and (blob is None or coded == blob)
            blob = coded
            timing = timings[workers]
            timing["compress"].append(middle - start)
            timing["decompress"].append(end - middle)
            timing["cpu"].append(cpu)
            timing["wall"].append(end - start)
    rows = []
    for workers in worker_counts:
        timing = timings[workers]
        rows.append({"name": f"{workers} worker{'s' if workers > 1 else ''}", "workers": workers, "count": count,
                     "compress_images_per_s": count / float(np.median(timing["compress"])),
                     "decompress_images_per_s": count / float(np.median(timing["decompress"])),
                     "cpu_ms_per_image": 1000 * float(np.median(timing["cpu"])) / (2 * count),
                     "cores_used": float(np.sum(timing["cpu"]) / np.sum(timing["wall"])),
                     "load_average": load_average()})
    base = rows[0]
    for row in rows:
        row["compress_speedup"] = row["compress_images_per_s"] / base["compress_images_per_s"]
        row["decompress_speedup"] = row["decompress_images_per_s"] / base["decompress_images_per_s"]
    return rows


# -- memory against N ----------------------------------------------------------------------------
def tiled_mnist(path, count):
    """A .npy of ``count`` MNIST images (train then test, tiled), written a block at a time."""
    train, test = bb.load_images("mnist:train"), bb.load_images("mnist:test")
    source = np.concatenate([train, test])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, 28, 28))
    for first in range(0, count, len(source)):
        stop = min(first + len(source), count)
        out[first:stop] = source[:stop - first]
    out.flush()
    del out


# Runs argv[1:] and prints its wall time and peak RSS (KiB).  A small process in between: a
# child's peak RSS starts from its parent's at fork, and this benchmark holds all of MNIST.
_MEASURE = """
import os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)
"""


def peak_rss_of(command):
    """``(seconds, peak RSS in MiB)`` of running ``command`` (a list) to completion."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True)
    status, seconds, kib = result.stdout.split()
    if int(status) or result.returncode:
        raise RuntimeError(f"{command} failed with status {status}: {result.stderr}")
    return float(seconds), int(kib) / 1024


def same_npy(first, second, block=65536):
    a, b = np.load(first, mmap_mode="r"), np.load(second, mmap_mode="r")
    return a.shape == b.shape and all(np.array_equal(a[i:i + block], b[i:i + block]) for i in range(0, len(a), block))


def memory(counts, folder):
    rows = []
    cli = [sys.executable, "-m", "bbans_numba.cli"]
    for count in counts:
        source, packed, restored = (Path(folder) / f"{name}{count}{ext}" for name, ext in
                                    (("in", ".npy"), ("packed", ".bbans"), ("out", ".npy")))
        tiled_mnist(source, count)
        compress_s, compress_mib = peak_rss_of(cli + ["compress", str(source), str(packed), "--quiet", "--force"])
        decompress_s, decompress_mib = peak_rss_of(cli + ["decompress", str(packed), str(restored), "--quiet",
                                                          "--force"])
        assert same_npy(source, restored), "round trip failed"
        rows.append({"name": f"{count} images", "count": count, "input_mib": source.stat().st_size / 2**20,
                     "bits_per_dim": bits_per_dim(packed.stat().st_size, count),
                     "compress_peak_rss_mib": compress_mib, "decompress_peak_rss_mib": decompress_mib,
                     "compress_images_per_s": count / compress_s, "decompress_images_per_s": count / decompress_s,
                     "load_average": load_average()})
        print(f"  {rows[-1]}", flush=True)
        for path in (source, packed, restored):
            path.unlink()
    return rows


# -- random access ---------------------------------------------------------------------------------
def access(spec, span, repeats, folder, seed=1):
    images = bb.load_images(spec)
    path = Path(folder) / "access.bbans"
    with open(path, "wb") as stream:
        bb.compress_to(stream, images)
    rng = np.random.default_rng(seed)
    times = []
    with open(path, "rb") as source:
        bb.decompress(source, images=slice(0, span))  # warm: kernels and model loaded
        for first in rng.integers(0, len(images) - span, repeats):
            start = time.perf_counter()
            part = bb.decompress(source, images=slice(int(first), int(first) + span))
            times.append(time.perf_counter() - start)
            assert np.array_equal(part, images[first:first + span])
    return [{"name": f"{span} images out of {len(images)} ({spec})", "count": len(images), "span": span,
             "bits_per_dim": bits_per_dim(path.stat().st_size, len(images)),
             "median_s": float(np.median(times)), "max_s": float(np.max(times)), "repeats": repeats,
             "load_average": load_average()}]


TABLES = {
    "rates": [("name", "images", None), ("bbans", "bbans bits/dim", 4), ("spread", "std over sets", 4),
              ("lzma", "lzma -9e", 4), ("jpegxl_per_image", "JPEG-XL per image", 4)],
    "workers": [("name", "workers", None), ("count", "images", None), ("compress_images_per_s", "compress img/s", 0),
                ("compress_speedup", "speed-up", 2), ("decompress_images_per_s", "decompress img/s", 0),
                ("decompress_speedup", "speed-up", 2), ("cpu_ms_per_image", "CPU ms/image (each way)", 2),
                ("cores_used", "cores used", 2), ("load_average", "load avg", 1)],
    "memory": [("name", "images", None), ("input_mib", "input MiB", 1), ("bits_per_dim", "bits/dim", 4),
               ("compress_peak_rss_mib", "compress peak RSS MiB", 0),
               ("decompress_peak_rss_mib", "decompress peak RSS MiB", 0),
               ("compress_images_per_s", "compress img/s", 0), ("decompress_images_per_s", "decompress img/s", 0),
               ("load_average", "load avg", 1)],
    "access": [("name", "random access", None), ("bits_per_dim", "file bits/dim", 4), ("median_s", "median s", 3),
               ("max_s", "max s", 3), ("repeats", "runs", None), ("load_average", "load avg", 1)],
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=[*TABLES, "all"])
    parser.add_argument("--counts", type=int, nargs="*", help="rates: N values (default 1 10 100 1000 10000); "
                                                               "memory: image counts (default 10000 100000)")
    parser.add_argument("--jpegxl-limit", type=int, default=1000, help="rates: JPEG-XL per image up to this N")
    parser.add_argument("--count", type=int, default=4096, help="workers: images coded")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="workers: thread counts")
    parser.add_argument("--repeats", type=int, default=3, help="workers / access: timed runs (median)")
    parser.add_argument("--access-spec", default="mnist:train", help="access: the images of the file")
    parser.add_argument("--out", default="bench/out/bench_sizes", help="output path stem for the .json")
    args = parser.parse_args(argv)
    parts = list(TABLES) if args.part == "all" else [args.part]
    machine = report.machine_info()
    print(f"machine: {machine}; load average {os.getloadavg()}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_sizes.") as folder:
        for part in parts:
            print(f"## {part}", flush=True)
            if part == "rates":
                rows = rates(args.counts or [1, 10, 100, 1000, 10000], args.jpegxl_limit, [(100, 10), (1, 20)])
            elif part == "workers":
                rows = workers(args.count, args.workers, args.repeats)
            elif part == "memory":
                rows = memory(args.counts or [10000, 100000], folder)
            else:
                rows = access(args.access_spec, 100, max(args.repeats, 5), folder)
            results[part] = rows
            print(report.markdown_table(rows, TABLES[part]), flush=True)
    report.write_json(f"{args.out}.json", machine, [dict(row, part=part) for part, rows in results.items()
                                                    for row in rows], vars(args))


if __name__ == "__main__":
    main()
