"""The PixelVAE codec: rate and speed through ``bb.compress`` / ``bb.decompress``, and where the time goes.

Usage (from the repository root)::

    python bench/bench_pixelvae.py --model PATH.npz                # an exported PixelVAE, 10k MNIST test images
    python bench/bench_pixelvae.py --model PATH.npz --limit 2000 --lanes 64
    python bench/bench_pixelvae.py --random                        # random weights, default sizes (speed only)
    python bench/bench_pixelvae.py --random --cold-start           # first compress + decompress, empty Numba cache
    python bench/bench_pixelvae.py --cold-start --model mnist-mlp  # the same for any model bb.compress takes

Measures, in one warm process (Numba cache warm after a first small round trip):

* bits/dim from the compressed size (all overheads in), beside the model's single-sample
  -ELBO and KL on the same images (from the codec's quantized intervals, checked against
  the NumPy reference ``training/pixelvae_reference.py`` on the first 100 images);
* compress and decompress images/s (median of ``--repeats``), wall clock, with the load
  average (the machine is shared: wall figures move with it);
* a breakdown of one round (``--lanes`` images) into posterior network, decoder features,
  pixel network, head (mixture parameters and interval starts), the rANS push, and the pop
  kernel (network + head + symbol search + rANS pop), in CPU microseconds per image
  (process time, which other processes' load inflates less than wall time).

Prints a Markdown table and writes ``--json`` if given.

``--cold-start`` instead measures, in a fresh process with an empty Numba cache (a new
``NUMBA_CACHE_DIR``): the import, the first ``bb.compress`` of 8 images and the first
``bb.decompress`` (both dominated by compiling the kernels), and then the same in a second
fresh process reading that cache (warm start), in wall and in CPU seconds (process time:
less inflated by other processes on a shared machine); with the compile time (CPU) of each
jitted function (Numba's compile events; nested calls are counted inside their callers too).
``--random`` there uses the sizes of the ``pixelvae`` recipe (compile time does not depend
on sizes); ``--model`` is anything ``bb.compress(model=...)`` takes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bbans_numba as bb  # noqa: E402
from bbans_numba import pixelvae as pv  # noqa: E402
from bench import report  # noqa: E402


@njit(cache=True)
def _network_and_head(level, num_lanes, pixels, features, neighbours, scaled, layout, weights, log_scale_min,
                      log_scale_max, precision_bits):
    """The compress pass cut short: ``level`` 0 the pixel network only, 1 plus mixture
    parameters, 2 plus the interval starts (the whole interval pass)."""
    num_pixels, lanes = pixels.shape
    inputs, rows_a, rows_b, hidden_a, hidden_b, raw, mixture = pv._scratch(lanes, layout)
    checksum = 0.0
    for i in range(num_pixels):
        pv._pixel_network(i, pixels, features, neighbours, scaled, layout, weights, inputs, rows_a, rows_b,
                          hidden_a, hidden_b, raw)
        checksum += raw[0, 0]
        if level == 0:
            continue
        for lane in range(num_lanes):
            pv._mixture_params(raw, lane, log_scale_min, log_scale_max, mixture)
            checksum += mixture[0, 0]
            if level == 2:
                symbol = np.int64(pixels[i, lane])
                checksum += pv._symbol_start(symbol + 1, mixture, precision_bits) - pv._symbol_start(
                    symbol, mixture, precision_bits)
    return checksum


def cpu_time(function, repeats=5):
    """Least process time (s) of ``repeats`` calls after one warm-up."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def breakdown(model, images, precision_bits):
    """CPU microseconds per image of each part of one round of ``len(images)`` lanes."""
    lanes = len(images)
    pixels = images.reshape(lanes, -1)
    mean, _ = model.encode(images)
    codec = model.likelihood_codec(mean, precision_bits)
    lane_pixels, features = model.lane_pixels(pixels), model.lane_features(model.pixel_features(mean))

    def partial(level):
        return lambda: _network_and_head(level, lanes, lane_pixels, features, *model._network, precision_bits)

    starts, freqs = codec.pixel_intervals(pixels)

    def push():
        message = bb.Message(num_lanes=lanes)
        pv._push_kernel(*message.kernel_arrays(reserve_words=starts.size), precision_bits, starts, freqs)
        return message

    pushed = push()
    seconds = {
        "posterior network": cpu_time(lambda: model.encode(images)),
        "decoder features": cpu_time(lambda: model.lane_features(model.pixel_features(mean))),
        "pixel network": cpu_time(partial(0)),
        "network + mixture params": cpu_time(partial(1)),
        "network + head (interval pass)": cpu_time(partial(2)),
        "rANS push": cpu_time(push),
        "pop kernel (network, head, search, rANS)": cpu_time(lambda: codec.pop(pushed.copy())),
    }
    return {name: 1e6 * value / lanes for name, value in seconds.items()}


def negative_elbo(model, images, precision_bits, batch=256):
    """(bits/dim, KL bits/image): the single-sample -ELBO (posterior noise seed 0), with
    -log2 p(x|z) read off the codec's own quantized intervals (within ~1e-4 bits/dim of the
    float pmf: :func:`reference_negative_elbo` checks it on a few images)."""
    noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim))
    nll, kl = [], []
    for first in range(0, len(images), batch):
        part = images[first:first + batch]
        mean, std = model.encode(part)
        z = mean + std * noise[first:first + batch]
        _, freqs = model.likelihood_codec(z, precision_bits).pixel_intervals(part.reshape(len(part), -1))
        nll.append(-np.log2(freqs / 2.0 ** precision_bits).sum(axis=1))
        kl.append(0.5 * np.sum(mean ** 2 + std ** 2 - 1 - 2 * np.log(std), axis=1) / np.log(2))
    nll, kl = np.concatenate(nll), np.concatenate(kl)
    return float((nll + kl).mean() / model.num_pixels), float(kl.mean())


def reference_negative_elbo(model, images, batch=10):
    """The same from the NumPy reference of training (float pmf; slow: all 256 values)."""
    from training import pixelvae_reference as ref

    with np.load(model.path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    noise = np.random.default_rng(0).standard_normal((len(images), model.latent_dim)).astype(np.float32)
    total = []
    for first in range(0, len(images), batch):
        nll, kl = ref.negative_elbo_bits(model.config, arrays, images[first:first + batch], noise[first:first + batch])
        total.append(nll + kl)
    return float(np.concatenate(total).mean() / model.num_pixels)


_COLD_START_CHILD = """
import json, resource, sys, time
from collections import defaultdict
from numba.core import event

compile_s, began = defaultdict(float), {}


class Compiles(event.Listener):
    def on_start(self, ev):
        began[id(ev.data["dispatcher"]), str(ev.data["args"])] = time.process_time()

    def on_end(self, ev):
        function = ev.data["dispatcher"].py_func
        seconds = time.process_time() - began.pop((id(ev.data["dispatcher"]), str(ev.data["args"])))
        compile_s[function.__module__ + "." + function.__qualname__] += seconds


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


event.register("numba:compile", Compiles())
times = [(time.perf_counter(), cpu())]
import numpy as np
import bbans_numba as bb
from bbans_numba import pixelvae as pv
times.append((time.perf_counter(), cpu()))
spec = sys.argv[1]
model = (pv.PixelVAEModel("random", pv.random_arrays(features=8, pixel_hidden=(48, 48))) if spec == "random"
         else spec)
images = bb.load_images("mnist:sample")[:8]
times.append((time.perf_counter(), cpu()))
blob = bb.compress(images, model=model)
times.append((time.perf_counter(), cpu()))
assert np.array_equal(bb.decompress(blob, model=model), images)
times.append((time.perf_counter(), cpu()))
(wall0, cpu0), (wall1, cpu1), (wall2, cpu2), (wall3, cpu3), (wall4, cpu4) = times
print(json.dumps(dict(import_s=wall1 - wall0, compress_s=wall3 - wall2, decompress_s=wall4 - wall3,
                      total_s=wall4 - wall0, import_cpu_s=cpu1 - cpu0, compress_cpu_s=cpu3 - cpu2,
                      decompress_cpu_s=cpu4 - cpu3, total_cpu_s=cpu4 - cpu0,
                      compile_s=dict(sorted(compile_s.items(), key=lambda item: -item[1])))))
"""


def cold_start(spec):
    """(cold, warm) timings of :data:`_COLD_START_CHILD` for model ``spec`` ("random" or a
    ``bb.compress`` model), each in a fresh process; cold with an empty Numba cache."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        runs = [subprocess.run([sys.executable, "-c", _COLD_START_CHILD, spec], env=env, capture_output=True,
                               text=True, check=True) for _ in range(2)]
    return [json.loads(run.stdout.splitlines()[-1]) for run in runs]


def print_cold_start(spec, top=12):
    load_before = os.getloadavg()[0]
    cold, warm = cold_start(spec)
    print(f"Start of model {spec!r}, 8 images (load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}):")
    for name, run in (("cold (empty Numba cache)", cold), ("warm (cached)", warm)):
        for unit, suffix in (("wall", "_s"), ("CPU", "_cpu_s")):
            print(f"  {name:26s} {unit:4s}: import {run['import' + suffix]:5.1f} s, first compress "
                  f"{run['compress' + suffix]:5.1f} s, first decompress {run['decompress' + suffix]:5.1f} s, "
                  f"total {run['total' + suffix]:5.1f} s")
    print(f"Compile time by function, cold, CPU (top {top}; a caller's time includes its callees'):")
    for name, seconds in list(cold["compile_s"].items())[:top]:
        print(f"  {seconds:6.2f} s  {name}")
    return cold, warm


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="exported PixelVAE .npz")
    source.add_argument("--random", action="store_true", help="random weights of the default sizes (speed only)")
    parser.add_argument("--data", default="mnist:test")
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--lanes", type=int, default=bb.settings.DEFAULT_LANES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--cold-start", action="store_true",
                        help="measure the start with an empty Numba cache instead (module docstring)")
    args = parser.parse_args(argv)
    if args.cold_start:
        cold, warm = print_cold_start("random" if args.random else args.model)
        if args.json:
            report.write_json(args.json, report.machine_info(), [dict(cold=cold, warm=warm)], vars(args))
        return

    model = pv.load_pixelvae(args.model) if args.model else pv.PixelVAEModel("random", pv.random_arrays())
    images = bb.load_images(args.data)[:args.limit]
    precision = bb.settings.CodingSettings().pixel_precision_bits
    bb.decompress(bb.compress(images[:2 * args.lanes], model=model, lanes=args.lanes), model=model)  # warm-up

    load_before = os.getloadavg()[0]
    compress_s, blob, _ = report.time_median(lambda: bb.compress(images, model=model, lanes=args.lanes),
                                             repeats=args.repeats, warmup=0)
    decompress_s, restored, _ = report.time_median(lambda: bb.decompress(blob, model=model),
                                                   repeats=args.repeats, warmup=0)
    load_after = os.getloadavg()[0]
    assert np.array_equal(restored, images), "round trip failed"
    elbo, kl = negative_elbo(model, images, precision)
    few = min(len(images), 100)
    elbo_few = negative_elbo(model, images[:few], precision)[0]
    reference_few = reference_negative_elbo(model, images[:few]) if args.model else None
    row = dict(name=model.name, images=len(images), lanes=args.lanes, bits_per_dim=8 * len(blob) / images.size,
               negative_elbo=elbo, kl_bits_per_image=kl, compress_images_per_s=len(images) / compress_s,
               decompress_images_per_s=len(images) / decompress_s, load_average=(load_before + load_after) / 2)
    print(report.markdown_table([row], [
        ("name", "model", None), ("images", "images", None), ("lanes", "lanes", None),
        ("bits_per_dim", "bits/dim (file)", 4), ("negative_elbo", "-ELBO bits/dim", 4),
        ("kl_bits_per_image", "KL bits/img", 1), ("compress_images_per_s", "compress img/s", 0),
        ("decompress_images_per_s", "decompress img/s", 0), ("load_average", "load avg (1 min)", 1)]))
    if reference_few is not None:
        print(f"\n-ELBO check on the first {few} images: codec intervals {elbo_few:.5f}, NumPy reference "
              f"{reference_few:.5f} bits/dim")
    parts = breakdown(model, images[:args.lanes], precision)
    print(f"\nOne round of {args.lanes} lanes, CPU microseconds per image (load {os.getloadavg()[0]:.1f}):")
    for name, micros in parts.items():
        print(f"  {name:42s} {micros:8.1f}")
    if args.json:
        report.write_json(args.json, report.machine_info(), [dict(row, breakdown_cpu_us=parts)], vars(args))


if __name__ == "__main__":
    main()
