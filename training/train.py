"""Train a VAE and export it for the codec.

Usage::

    python -m training.train --data mnist:train --out runs/mnist [--model RECIPE]
        [--likelihood NAME] [--epochs E] [--time-budget MINUTES] [--limit N]

writes ``runs/mnist.keras`` (the best epoch by validation loss, also the checkpoint kept
during training) and ``runs/mnist.npz``: the codec model, what ``bbans --model`` and
``bbans_numba.model.load_model`` read. A path ending in ``.keras`` is used as given.
``--model`` names a recipe (architecture, sizes, likelihood, epochs; default ``resmlp-bb``,
how the shipped ``mnist`` was made); ``--likelihood`` replaces the recipe's likelihood by any
registered one (default options). ``--time-budget`` stops after the epoch during which the
budget ran out; the best epoch so far is exported all the same.

The last ``--validation-fraction`` of the shuffled images is held out for validation,
checkpoints and early stopping; the learning rate warms up linearly for one epoch, then
follows a cosine decay to 1% over the remaining steps. The loss printed after each epoch
is the single-sample negative ELBO in bits per pixel (bits/dim).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras

from bbans_numba.datasets import load_images
from bbans_numba.likelihoods import LIKELIHOODS
from training.export import export_npz, load_keras_vae
from training.models import DEFAULT_RECIPE, RECIPES, build_vae


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


class EpochReport(keras.callbacks.Callback):
    """One line per epoch with the losses and their unit; stops once ``budget_seconds`` are spent.

    Examples
    --------
    >>> report = EpochReport(epochs=3, budget_seconds=None)
    >>> report.line(0, {"loss": 1.5, "val_loss": 1.625}, seconds=12.0)
    'epoch 1/3: loss 1.5000 bits/dim, validation loss 1.6250 bits/dim (12 s)'
    """

    def __init__(self, epochs, budget_seconds):
        super().__init__()
        self.epochs, self.budget_seconds = epochs, budget_seconds
        self.started = self.epoch_started = time.perf_counter()

    @staticmethod
    def _bits(logs, key):
        return f"{logs[key]:.4f} bits/dim" if key in logs else "n/a"

    def line(self, epoch, logs, seconds):
        validation = f", validation loss {self._bits(logs, 'val_loss')}" if "val_loss" in logs else ""
        return f"epoch {epoch + 1}/{self.epochs}: loss {self._bits(logs, 'loss')}{validation} ({seconds:.0f} s)"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        print(self.line(epoch, logs or {}, now - self.epoch_started), flush=True)
        if self.budget_seconds is not None and now - self.started >= self.budget_seconds and epoch + 1 < self.epochs:
            print(f"time budget of {self.budget_seconds / 60:g} min spent: stopping after epoch {epoch + 1}", flush=True)
            self.model.stop_training = True


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="image spec, e.g. mnist:train, images.npy, a PNG folder")
    parser.add_argument("--out", required=True, help="output path; writes OUT.keras and OUT.npz (the codec model)")
    parser.add_argument("--model", default=DEFAULT_RECIPE, choices=sorted(RECIPES),
                        help=f"recipe: architecture, sizes, likelihood, epochs (default {DEFAULT_RECIPE})")
    parser.add_argument("--likelihood", choices=sorted(LIKELIHOODS), default=None,
                        help="pixel likelihood instead of the recipe's (default options)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="stop after the epoch during which this many minutes were spent")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images after shuffling")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate (Adam)")
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    parser.add_argument("--patience", type=int, default=10, help="early stop after this many epochs without improvement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = RECIPES[args.model]["epochs"]
    if args.epochs < 1 or (args.time_budget is not None and args.time_budget < 0):
        parser.error("--epochs must be positive and --time-budget not negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    images = load_images(args.data)
    train_x, validation_x = split_images(images, args.validation_fraction, args.limit, args.seed)
    keras_path, npz_path = output_paths(args.out)
    keras_path.parent.mkdir(parents=True, exist_ok=True)

    vae = build_vae(args.model, image_shape=images.shape[1:], seed=args.seed, likelihood=args.likelihood)
    steps_per_epoch = -(-len(train_x) // args.batch_size)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(args.learning_rate, steps_per_epoch, args.epochs)))
    print(f"{args.model} ({vae.model_config.architecture!r}, likelihood {vae.model_config.likelihood!r}): "
          f"{vae.count_params():,} parameters; {len(train_x)} training and {len(validation_x)} validation images "
          f"of shape {images.shape[1:]}; loss: negative ELBO in bits/dim", flush=True)

    monitor = "val_loss" if len(validation_x) else "loss"
    budget = None if args.time_budget is None else args.time_budget * 60
    callbacks = [
        keras.callbacks.ModelCheckpoint(keras_path, monitor=monitor, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=args.patience),
        EpochReport(args.epochs, budget),
    ]
    started = time.perf_counter()
    vae.fit(train_x, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, callbacks=callbacks,
            validation_data=(validation_x,) if len(validation_x) else None,
            verbose=1 if sys.stdout.isatty() else 0)
    minutes = (time.perf_counter() - started) / 60
    export_npz(load_keras_vae(keras_path), npz_path)
    print(f"trained in {minutes:.1f} min; best epoch saved to {keras_path}; "
          f"codec model (for bbans --model and training.evaluate) written to {npz_path}")


if __name__ == "__main__":
    main()
