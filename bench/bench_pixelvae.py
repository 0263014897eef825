"""The PixelVAE codec: rate and speed through ``bb.compress`` / ``bb.decompress``, and where the time goes.

Usage (from the repository root)::

    python bench/bench_pixelvae.py --model PATH.npz                # an exported PixelVAE, 10k MNIST test images
    python bench/bench_pixelvae.py --model PATH.npz --limit 2000 --lanes 64
    python bench/bench_pixelvae.py --random                        # random weights, default sizes (speed only)

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
"""

import argparse
import os
import sys
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
    config = model.config.to_dict()
    for first in range(0, len(images), batch):
        nll, kl = ref.negative_elbo_bits(config, arrays, images[first:first + batch], noise[first:first + batch])
        total.append(nll + kl)
    return float(np.concatenate(total).mean() / model.num_pixels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a shipped PixelVAE (mnist) or an exported PixelVAE .npz")
    source.add_argument("--random", action="store_true", help="random weights of the default sizes (speed only)")
    parser.add_argument("--data", default="mnist:test")
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--lanes", type=int, default=bb.settings.DEFAULT_LANES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)

    model = bb.load_model(args.model) if args.model else pv.PixelVAEModel("random", pv.random_arrays())
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
