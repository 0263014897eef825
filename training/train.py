"""Train a model for the codec and export it: the one training command.

Usage::

    python -m training.train --data mnist:train --out runs/mnist [--model RECIPE]
        [--time-budget MINUTES] [--epochs E] [--set JSON] [--likelihood NAME] [--limit N]
        [--resume CHECKPOINT.keras] [--test SPEC]

``--model`` names a recipe (:data:`training.models.RECIPES`: the model, its sizes and how it
is trained); the default, ``pixelvae``, is how the shipped ``mnist`` model was made: a
PixelVAE (a VAE whose pixels are coded by a network over their causal neighbourhood,
:mod:`training.pixelvae`) trained under a wall-clock budget of 50 minutes. ``mlp-bb`` and
``resmlp-bb`` are residual-MLP VAEs with beta-binomial pixels (:mod:`training.models`).
``--set`` replaces settings of the recipe's model (JSON, e.g. ``'{"components": 8}'``);
``--likelihood`` replaces a VAE recipe's pixel likelihood by any registered one (default
options). ``--resume`` continues from a checkpoint (its architecture wins over the recipe's
and ``--set``; the optimizer starts afresh).

Writes, each time the validation loss improves (so an interrupted run still leaves the best
epoch so far): ``OUT.keras`` (the Keras checkpoint) and ``OUT.npz`` (the codec model, what
``bbans --model OUT.npz`` and ``training.evaluate`` read); every epoch a line of ``OUT.csv``;
at the end ``OUT.json`` (the recipe, the best epoch, its losses and KL, the minutes, and with
``--test`` the best model's test -ELBO and KL). A path ending in ``.keras`` is used as given.

``--time-budget MINUTES`` (default: the recipe's; none for the VAE recipes) stops cleanly
within the budget: before an epoch that would not end within it (judged by the longest epoch
so far) and, at the latest, after the batch during which it ran out; that last epoch is
validated and checkpointed like any other. The learning rate follows the recipe's schedule:
``wall_clock`` (PixelVAE) a cosine over the time budget from the peak down to 2% of it, set
at each epoch's start; ``epochs`` (VAE) one epoch of linear warm-up, then a cosine decay to
1% over the remaining epochs.

The last ``--validation-fraction`` of the shuffled images is held out for validation,
checkpoints and early stopping. Each epoch prints the single-sample negative ELBO in bits
per pixel (bits/dim), on the training batches and on the validation images, and the KL of
the posterior to the prior in bits per image on the validation images (closed form): the
bits the latents carry, all that bits-back coding can give back.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras
from keras import ops

from bbans_numba.datasets import load_images
from bbans_numba.likelihoods import LIKELIHOODS
from training.export import export_npz, load_keras_vae
from training.models import DEFAULT_RECIPE, LN2, RECIPES, build_model, gaussian_kl_to_standard_normal
from training.pixelvae import PixelVAE, negative_elbo

SCHEDULES = ("wall_clock", "epochs")
WALL_CLOCK_FLOOR = 0.02  # the wall-clock cosine ends at this fraction of the peak learning rate


def output_paths(out):
    """(keras, npz, csv, json) paths for ``--out``: ``x`` or ``x.keras`` -> ``x.keras``, ``x.npz``, ...

    >>> [str(p) for p in output_paths("runs/m.keras")]
    ['runs/m.keras', 'runs/m.npz', 'runs/m.csv', 'runs/m.json']
    """
    out = Path(out)
    stem = out.with_suffix("") if out.suffix == ".keras" else out
    return tuple(stem.with_name(stem.name + suffix) for suffix in (".keras", ".npz", ".csv", ".json"))


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


def epoch_schedule(peak, steps_per_epoch, epochs):
    """The ``epochs`` schedule: one epoch of linear warm-up to ``peak``, then cosine decay to ``peak / 100``."""
    warmup = steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 100, decay_steps=max(1, steps_per_epoch * epochs - warmup), alpha=0.01,
        warmup_target=peak, warmup_steps=warmup)


def wall_clock_rate(peak, fraction):
    """The ``wall_clock`` schedule's rate once ``fraction`` (0..1) of the budget is spent.

    >>> wall_clock_rate(1.0, 0.0), wall_clock_rate(1.0, 1.0), round(wall_clock_rate(1.0, 0.5), 6)
    (1.0, 0.02, 0.51)
    """
    fraction = min(max(fraction, 0.0), 1.0)
    return peak * (WALL_CLOCK_FLOOR + (1 - WALL_CLOCK_FLOOR) * 0.5 * (1 + math.cos(math.pi * fraction)))


def kl_bits_per_image(model, images, batch_size=1000):
    """Mean KL(q(z|x) || N(0, I)) in bits per image over flattened uint8 ``images`` (N, D), either kind."""
    if not model.latent_dim or not len(images):
        return 0.0
    total = 0.0
    for first in range(0, len(images), batch_size):
        mean, std = model.posterior(images[first:first + batch_size])
        total += float(ops.convert_to_numpy(ops.sum(gaussian_kl_to_standard_normal(mean, std))))
    return total / (len(images) * LN2)


class WallClock(keras.callbacks.Callback):
    """Stops training within ``budget_seconds`` (None: never) and, with ``peak``, sets the
    ``wall_clock`` learning rate at each epoch's start (module docstring)."""

    def __init__(self, budget_seconds, peak=None):
        super().__init__()
        self.budget_seconds, self.peak = budget_seconds, peak
        self.started = self.epoch_started = time.perf_counter()
        self.longest_epoch = 0.0

    def elapsed(self):
        return time.perf_counter() - self.started

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()
        if self.peak is not None:
            self.model.optimizer.learning_rate = wall_clock_rate(self.peak, self.elapsed() / self.budget_seconds
                                                                 if self.budget_seconds else 1.0)

    def on_train_batch_end(self, batch, logs=None):
        if self.budget_seconds is not None and self.elapsed() > self.budget_seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.longest_epoch = max(self.longest_epoch, time.perf_counter() - self.epoch_started)
        if logs is not None:
            logs["learning_rate"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["minutes"] = self.elapsed() / 60
        if self.budget_seconds is not None and self.elapsed() + self.longest_epoch > self.budget_seconds:
            self.model.stop_training = True
        if self.model.stop_training and epoch + 1 < (self.params or {}).get("epochs", math.inf):
            print(f"time budget of {self.budget_seconds / 60:g} min: stopping after epoch {epoch + 1}", flush=True)


class EpochReport(keras.callbacks.Callback):
    """Adds ``kl_bits_per_image`` (on ``kl_images``) to the epoch's logs and prints one line.

    Examples
    --------
    >>> report = EpochReport(epochs=3, kl_images=None)
    >>> report.line(0, {"loss": 1.5, "val_loss": 1.625, "kl_bits_per_image": 10.3}, seconds=12.0)
    'epoch 1/3: loss 1.5000 bits/dim, validation loss 1.6250 bits/dim, KL 10.3 bits/image (12 s)'
    """

    def __init__(self, epochs, kl_images):
        super().__init__()
        self.epochs, self.kl_images = epochs, kl_images
        self.epoch_started = time.perf_counter()

    def line(self, epoch, logs, seconds):
        parts = [f"loss {logs['loss']:.4f} bits/dim" if "loss" in logs else "loss n/a"]
        if "val_loss" in logs:
            parts.append(f"validation loss {logs['val_loss']:.4f} bits/dim")
        if "kl_bits_per_image" in logs:
            parts.append(f"KL {logs['kl_bits_per_image']:.1f} bits/image")
        return f"epoch {epoch + 1}/{self.epochs}: {', '.join(parts)} ({seconds:.0f} s)"

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["kl_bits_per_image"] = kl_bits_per_image(self.model, self.kl_images)
        print(self.line(epoch, logs, time.perf_counter() - self.epoch_started), flush=True)


class KeepBest(keras.callbacks.Callback):
    """On every improvement of ``monitor``: save the checkpoint and export the codec's ``.npz``."""

    def __init__(self, keras_path, npz_path, monitor):
        super().__init__()
        self.keras_path, self.npz_path, self.monitor = keras_path, npz_path, monitor
        self.best, self.best_epoch, self.best_logs = math.inf, None, {}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor, math.inf)
        if value < self.best:
            self.best, self.best_epoch, self.best_logs = value, epoch, dict(logs)
            self.model.save(self.keras_path)
            export_npz(self.model, self.npz_path)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="image spec, e.g. mnist:train, images.npy, a PNG folder")
    parser.add_argument("--out", required=True,
                        help="output path; writes OUT.keras, OUT.npz (the codec model), OUT.csv and OUT.json")
    parser.add_argument("--model", default=DEFAULT_RECIPE, choices=sorted(RECIPES),
                        help=f"recipe: model, sizes and training settings (default {DEFAULT_RECIPE})")
    parser.add_argument("--set", default="{}", metavar="JSON", help="settings of the recipe's model to replace")
    parser.add_argument("--likelihood", choices=sorted(LIKELIHOODS), default=None,
                        help="pixel likelihood instead of a VAE recipe's (default options)")
    parser.add_argument("--epochs", type=int, default=None, help="most epochs (default: the recipe's)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="stop cleanly within this many minutes (default: the recipe's)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images after shuffling")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (Adam; default: the recipe's)")
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    parser.add_argument("--patience", type=int, default=None,
                        help="early stop after this many epochs without improvement (default: the recipe's)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="a .keras checkpoint of this recipe's kind to continue training from")
    parser.add_argument("--test", default=None, metavar="SPEC", help="image spec to report the best model's -ELBO on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    recipe = RECIPES[args.model]
    for name in ("epochs", "time_budget", "batch_size", "learning_rate", "patience"):
        if getattr(args, name) is None:
            setattr(args, name, recipe[name])
    try:
        args.set = json.loads(args.set)
    except json.JSONDecodeError as error:
        parser.error(f"--set is not JSON: {error}")
    if not isinstance(args.set, dict):
        parser.error("--set must be a JSON object")
    if args.likelihood is not None:
        if recipe["kind"] == "pixelvae":
            parser.error(f"--likelihood applies to the VAE recipes, not to {args.model!r}")
        args.set["likelihood"] = args.likelihood
    if args.epochs < 1 or (args.time_budget is not None and args.time_budget < 0):
        parser.error("--epochs must be positive and --time-budget not negative")
    return args


def describe(model):
    """One line: the model's settings and size."""
    if isinstance(model, PixelVAE):
        per_image, per_pixel = model.multiply_adds()
        return (f"PixelVAE {json.dumps(model.architecture())}: {model.count_params():,} parameters, "
                f"{per_pixel:,} multiply-adds per pixel + {per_image:,} per image")
    config = model.model_config
    return f"VAE ({config.architecture!r}, likelihood {config.likelihood!r}): {model.count_params():,} parameters"


def model_settings(model):
    """The model's settings as JSON-ready data (what rebuilds it)."""
    if isinstance(model, PixelVAE):
        return model.architecture()
    config = model.model_config
    return dict(image_shape=list(config.image_shape), latent_dim=config.latent_dim,
                architecture=config.architecture.description(), likelihood=config.likelihood.description())


def load_or_build(args, image_shape):
    """The model to train: ``--resume``'s checkpoint or a fresh one of the recipe (+ ``--set``)."""
    recipe = RECIPES[args.model]
    if args.resume is None:
        return build_model(args.model, image_shape=image_shape, seed=args.seed, overrides=args.set)
    model = load_keras_vae(args.resume)
    if isinstance(model, PixelVAE) != (recipe["kind"] == "pixelvae"):
        raise SystemExit(f"training.train: {args.resume} is a {type(model).__name__}; recipe {args.model!r} "
                         f"trains a {recipe['kind']} (pass the recipe it was trained with as --model)")
    return model


def main(argv=None):
    args = parse_args(argv)
    recipe = RECIPES[args.model]
    keras.utils.set_random_seed(args.seed)
    images = load_images(args.data)
    if recipe["kind"] == "pixelvae" and images.ndim != 3:
        raise SystemExit(f"training.train: {args.model} takes grayscale images (N, H, W), not {images.shape}")
    train_x, validation_x = split_images(images, args.validation_fraction, args.limit, args.seed)
    keras_path, npz_path, csv_path, json_path = output_paths(args.out)
    keras_path.parent.mkdir(parents=True, exist_ok=True)

    model = load_or_build(args, images.shape[1:])
    steps_per_epoch = -(-len(train_x) // args.batch_size)
    wall_clock = recipe["schedule"] == "wall_clock"
    rate = args.learning_rate if wall_clock else epoch_schedule(args.learning_rate, steps_per_epoch, args.epochs)
    model.compile(optimizer=keras.optimizers.Adam(rate))
    print(f"{args.model}: {describe(model)}; {len(train_x)} training and {len(validation_x)} validation images "
          f"of shape {images.shape[1:]}; loss: negative ELBO in bits/dim", flush=True)

    monitor = "val_loss" if len(validation_x) else "loss"
    budget = None if args.time_budget is None else args.time_budget * 60
    clock = WallClock(budget, args.learning_rate if wall_clock else None)
    keep = KeepBest(keras_path, npz_path, monitor)
    # Order matters: the report adds the KL to the logs that the others read; the clock adds the
    # learning rate and minutes before the CSV line is written.
    callbacks = [EpochReport(args.epochs, validation_x if len(validation_x) else train_x[:1000]), clock, keep,
                 keras.callbacks.CSVLogger(csv_path)]
    if args.patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=args.patience))
    model.fit(train_x, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, callbacks=callbacks,
              validation_data=(validation_x,) if len(validation_x) else None,
              verbose=1 if sys.stdout.isatty() else 0)
    if keep.best_epoch is None:
        raise SystemExit(f"training.train: no epoch ended with a finite {monitor}; nothing was written")

    result = dict(recipe=args.model, model=model_settings(model),
                  data=args.data, train_images=len(train_x), validation_images=len(validation_x),
                  minutes=clock.elapsed() / 60, best_epoch=keep.best_epoch + 1, monitor=monitor,
                  best_bits_per_dim=keep.best, best_kl_bits_per_image=keep.best_logs["kl_bits_per_image"])
    summary = (f"best epoch {result['best_epoch']}: {monitor} {keep.best:.4f} bits/dim, "
               f"KL {result['best_kl_bits_per_image']:.1f} bits/image")
    if args.test:
        test = load_images(args.test)
        nll, kl = negative_elbo(load_keras_vae(keras_path), test)
        result.update(test=args.test, test_bits_per_dim=float((nll + kl).mean() / test[0].size),
                      test_kl_bits_per_image=float(kl.mean()))
        summary += (f"; test ({args.test}, {len(test)} images) {result['test_bits_per_dim']:.4f} bits/dim, "
                    f"KL {result['test_kl_bits_per_image']:.1f} bits/image")
    json_path.write_text(json.dumps(result, indent=1))
    print(f"trained in {result['minutes']:.1f} min; {summary}\nbest epoch saved to {keras_path}; codec model "
          f"(for bbans --model and training.evaluate) written to {npz_path}; log {csv_path}, summary {json_path}",
          flush=True)


if __name__ == "__main__":
    main()
