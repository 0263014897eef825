"""Train a VAE and export it for the codec.

Usage::

    python -m training.train --data mnist:train --model resmlp-bb --epochs 100 --out models/mnist

writes ``models/mnist.keras`` (the best epoch by validation loss, also the checkpoint kept
during training) and ``models/mnist.npz`` (what ``bbans_numba.model.load_model`` reads). A
path ending in ``.keras`` is used as given. The last ``--validation-fraction`` of the shuffled
images is held out for validation, checkpoints and early stopping; the learning rate warms up
linearly for one epoch, then follows a cosine decay to 1% over the remaining steps.
The printed loss is the single-sample negative ELBO in bits per pixel.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras

from bbans_numba.datasets import load_images
from training.export import export_npz, load_keras_vae
from training.models import ARCHITECTURES, build_vae


def output_paths(out):
    """(keras_path, npz_path) for ``--out``: ``x`` or ``x.keras`` -> ``x.keras``, ``x.npz``."""
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".keras" else out
    return stem.with_name(stem.name + ".keras"), stem.with_name(stem.name + ".npz")


def split_images(images, validation_fraction, limit, seed):
    """Flattened (train, validation) uint8 arrays after a seeded shuffle and optional ``limit``."""
    flat = images.reshape(len(images), -1)
    order = np.random.default_rng(seed).permutation(len(flat))
    if limit is not None:
        order = order[:limit]
    num_validation = int(round(len(order) * validation_fraction))
    if len(order) - num_validation < 1 or (validation_fraction > 0 and num_validation < 1):
        raise ValueError(f"{len(order)} images cannot be split with validation fraction {validation_fraction}")
    return flat[order[num_validation:]], flat[order[:num_validation]]


def learning_rate_schedule(peak, steps_per_epoch, epochs):
    """One epoch of linear warm-up to ``peak``, then cosine decay to ``peak / 100``."""
    warmup = steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 100, decay_steps=max(1, steps_per_epoch * epochs - warmup), alpha=0.01,
        warmup_target=peak, warmup_steps=warmup)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="image spec, e.g. mnist:train, images.npy, a PNG folder")
    parser.add_argument("--model", required=True, choices=sorted(ARCHITECTURES), help="architecture")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--out", required=True, help="output path; writes OUT.keras and OUT.npz")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images after shuffling")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate (Adam)")
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    parser.add_argument("--patience", type=int, default=10, help="early stop after this many epochs without improvement")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    images = load_images(args.data)
    train_x, validation_x = split_images(images, args.validation_fraction, args.limit, args.seed)
    keras_path, npz_path = output_paths(args.out)
    keras_path.parent.mkdir(parents=True, exist_ok=True)

    vae = build_vae(args.model, image_shape=images.shape[1:], seed=args.seed)
    steps_per_epoch = -(-len(train_x) // args.batch_size)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(args.learning_rate, steps_per_epoch, args.epochs)))
    print(f"{args.model}: {vae.count_params():,} parameters; {len(train_x)} training and "
          f"{len(validation_x)} validation images of shape {images.shape[1:]}", flush=True)

    monitor = "val_loss" if len(validation_x) else "loss"
    callbacks = [
        keras.callbacks.ModelCheckpoint(keras_path, monitor=monitor, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=args.patience),
    ]
    started = time.perf_counter()
    vae.fit(train_x, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, callbacks=callbacks,
            validation_data=(validation_x,) if len(validation_x) else None,
            verbose=1 if sys.stdout.isatty() else 2)
    minutes = (time.perf_counter() - started) / 60
    export_npz(load_keras_vae(keras_path), npz_path)
    print(f"trained in {minutes:.1f} min; best epoch saved to {keras_path}, codec weights to {npz_path}")


if __name__ == "__main__":
    main()
