"""Short PixelVAE experiments for ranking architectures (subset of the data, few epochs).

Usage::

    nice -n 5 python -m training.pixelvae_search --name base --train-limit 10000 --epochs 3 \\
        --set '{"head": "categorical"}' --notes /work/notes/armodel.md

trains on the first ``--train-limit`` shuffled images of ``--data`` and reports the negative
ELBO (bits/dim) and KL (bits/image) on the first ``--test-limit`` images of ``--test``; one
line per run is appended to ``--notes``.
"""

import argparse
import json
import time

import numpy as np

import training  # noqa: F401
import keras

from bbans_numba.datasets import load_images
from training.pixelvae import build_pixelvae, negative_elbo


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.pixelvae_search")
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", default="mnist:train")
    parser.add_argument("--test", default="mnist:test")
    parser.add_argument("--train-limit", type=int, default=10000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--set", default="{}", help="JSON dict of PixelVAE arguments")
    parser.add_argument("--notes", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    images = load_images(args.data)
    order = np.random.default_rng(args.seed).permutation(len(images))[:args.train_limit]
    train_x = images[order].reshape(len(order), -1)
    test_x = load_images(args.test)[:args.test_limit].reshape(args.test_limit, -1)
    architecture = dict(image_shape=images.shape[1:], **json.loads(args.set))
    model = build_pixelvae(**architecture)
    steps = args.epochs * -(-len(train_x) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    started = time.perf_counter()
    history = model.fit(train_x, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=2)
    wall = time.perf_counter() - started
    nll, kl = negative_elbo(model, test_x)
    d = train_x.shape[1]
    per_image, per_pixel = model.multiply_adds()
    line = (f"| {args.name} | `{args.set}` | {model.count_params():,} | {per_pixel:,} | {per_image:,} | "
            f"{args.train_limit} x {args.epochs} ep | {wall / 60:.1f} min | "
            f"{history.history['loss'][-1]:.4f} | {(nll + kl).mean() / d:.4f} | {kl.mean():.1f} |")
    print(line, flush=True)
    if args.notes:
        with open(args.notes, "a") as notes:
            notes.write(line + "\n")


if __name__ == "__main__":
    main()
