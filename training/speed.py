"""Time the coding-time model's encode and decode at a few batch sizes.

Usage::

    python -m training.speed --model mnist --batches 1 100 1000

prints, per batch size, the median wall time of ``encode`` (on MNIST test images) and
``decode`` (the decoder network and the likelihood's parameters, on their posterior means)
over ``--repeats`` warm calls, as a Markdown table.
"""

import argparse
import statistics
import time

import numba
import numpy as np

from bbans_numba.datasets import load_images
from bbans_numba.model import load_model


def median_seconds(function, argument, repeats):
    """Median wall time of ``function(argument)`` over ``repeats`` calls, after one warm-up call."""
    function(argument)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mnist-mlp",
                        help="shipped model name or exported .npz of a residual-MLP VAE (default mnist-mlp; "
                             "for a PixelVAE such as mnist use bench/bench_pixelvae.py)")
    parser.add_argument("--data", default="mnist:test", help="image spec the batches are taken from")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    model = load_model(args.model)
    if not hasattr(model, "likelihood_spec"):
        parser.error(f"{args.model} is a PixelVAE, whose decoder runs per pixel: time it with bench/bench_pixelvae.py")
    images = load_images(args.data)
    print(f"model {args.model} ({model.fingerprint[:16]}), {numba.get_num_threads()} Numba threads")
    print("| batch | encode, ms | decode, ms | encode + decode, ms per image |")
    print("| --- | --- | --- | --- |")
    for batch in args.batches:
        x = np.resize(images, (batch, *images.shape[1:]))
        mean = model.encode(x)[0]
        encode = median_seconds(model.encode, x, args.repeats)
        decode = median_seconds(lambda z: model.likelihood_spec.parameters(model.decoder_output(z)), mean,
                                args.repeats)
        print(f"| {batch} | {encode * 1e3:.3f} | {decode * 1e3:.3f} | {(encode + decode) * 1e3 / batch:.4f} |")


if __name__ == "__main__":
    main()
