"""Train a PixelVAE under a wall-clock budget, keeping the best checkpoint and its export.

Usage::

    nice -n 5 python -m training.pixelvae_train --data mnist:train --out /work/runs/pixelvae/final \\
        --time-budget 50 [--set '{"components": 8}'] [--test mnist:test]

writes into the ``--out`` folder, each time the validation loss improves: ``best.keras`` and
``best.npz`` (the codec's weights, :func:`training.pixelvae.export_npz`); every epoch a line
of ``log.csv``; at the end ``result.json`` (and the test -ELBO when ``--test`` is given).
The last ``--validation-fraction`` of the shuffled images is held out. The learning rate
follows a cosine in wall-clock time, from ``--learning-rate`` down to 2% of it at the end of
the budget (set at each epoch's start); training stops before an epoch that would not end
within the budget, and in any case at the budget.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras

from bbans_numba.datasets import load_images
from training.pixelvae import build_pixelvae, export_npz, negative_elbo

# The default recipe (architecture; see notes/armodel.md for the measurements behind it).
DEFAULT_ARCHITECTURE = dict(latent_dim=16, features=8, encoder_hidden=[256], decoder_hidden=[256],
                            rows_above=3, half_width=3, left=3, pixel_hidden=[48, 48], head="logistic",
                            components=5)


class WallClockBudget(keras.callbacks.Callback):
    """Cosine learning rate over wall-clock time; stops training within the budget."""

    def __init__(self, budget_s, peak, floor=0.02):
        super().__init__()
        self.budget_s, self.peak, self.floor = budget_s, peak, floor
        self.started = self.epoch_started = None
        self.longest_epoch = 0.0

    def elapsed(self):
        return time.perf_counter() - self.started

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()
        fraction = min(1.0, self.elapsed() / self.budget_s)
        rate = self.peak * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * fraction)))
        self.model.optimizer.learning_rate = rate

    def on_train_batch_end(self, batch, logs=None):
        if self.elapsed() > self.budget_s:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.longest_epoch = max(self.longest_epoch, time.perf_counter() - self.epoch_started)
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["minutes"] = self.elapsed() / 60
        if self.elapsed() + self.longest_epoch > self.budget_s:
            self.model.stop_training = True


class KeepBest(keras.callbacks.Callback):
    """On every improvement of ``monitor``: save ``best.keras`` and export ``best.npz``."""

    def __init__(self, folder, monitor):
        super().__init__()
        self.folder, self.monitor, self.best, self.best_epoch = Path(folder), monitor, math.inf, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor, math.inf)
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self.model.save(self.folder / "best.keras")
            export_npz(self.model, self.folder / "best.npz")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training.pixelvae_train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="image spec, e.g. mnist:train")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--time-budget", type=float, default=45.0, help="minutes of training")
    parser.add_argument("--max-epochs", type=int, default=1000)
    parser.add_argument("--set", default="{}", help="JSON dict overriding the default architecture")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (Adam)")
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--test", default=None, help="image spec to report the best model's -ELBO on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", default=None,
                        help="a best.keras checkpoint to continue training from (its architecture wins over --set)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    images = load_images(args.data)
    if images.ndim != 3:
        raise SystemExit(f"pixelvae_train: grayscale images (N, H, W) only, not {images.shape}")
    flat = images.reshape(len(images), -1)
    order = np.random.default_rng(args.seed).permutation(len(flat))[:args.limit]
    num_validation = int(round(len(order) * args.validation_fraction))
    train_x, validation_x = flat[order[num_validation:]], flat[order[:num_validation]]
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)

    architecture = dict(DEFAULT_ARCHITECTURE, **json.loads(args.set), image_shape=list(images.shape[1:]),
                        seed=args.seed)
    if args.resume:
        model = keras.saving.load_model(args.resume, compile=False)
        architecture = dict(model.architecture(), seed=args.seed)
    else:
        model = build_pixelvae(**architecture)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    per_image, per_pixel = model.multiply_adds()
    print(f"PixelVAE {json.dumps(architecture)}: {model.count_params():,} parameters, {per_pixel:,} "
          f"multiply-adds per pixel + {per_image:,} per image; {len(train_x)} training and "
          f"{len(validation_x)} validation images", flush=True)

    monitor = "val_loss" if len(validation_x) else "loss"
    budget = WallClockBudget(args.time_budget * 60, args.learning_rate)
    keep = KeepBest(folder, monitor)
    model.fit(train_x, batch_size=args.batch_size, epochs=args.max_epochs, shuffle=True, verbose=2,
              validation_data=(validation_x,) if len(validation_x) else None,
              callbacks=[budget, keep, keras.callbacks.CSVLogger(folder / "log.csv")])
    result = dict(architecture=architecture, best_epoch=keep.best_epoch, best_bits_per_dim=keep.best,
                  monitor=monitor, minutes=budget.elapsed() / 60, data=args.data,
                  train_images=len(train_x), validation_images=len(validation_x))
    if args.test:
        best = keras.saving.load_model(folder / "best.keras", compile=False)
        test = load_images(args.test)
        nll, kl = negative_elbo(best, test)
        result.update(test=args.test, test_bits_per_dim=float((nll + kl).mean() / test[0].size),
                      test_kl_bits_per_image=float(kl.mean()))
    (folder / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
