"""Measure a model's negative ELBO in bits per pixel on an image set.

Usage::

    python -m training.evaluate --model bbans_numba/models/mnist.npz --data mnist:test
    python -m training.evaluate --model runs/mnist.keras --data mnist:test --samples 10

``--model`` is a shipped model name (``mnist``), an exported ``.npz`` (run by the same Numba
forward pass the codec uses, so the figure is what the codec sees) or a ``.keras`` file
(run by Keras), of any registered likelihood. Either way the ELBO itself is computed in
float64, with the likelihood's NumPy log-pmf (:mod:`bbans_numba.likelihoods`):

    -ELBO(x) = -log p(x | z) + KL(q(z|x) || N(0, I)),  z = mean + std * eps,  eps ~ N(0, I)

with the Gaussian KL in closed form. Reported, averaged over the images, in bits per pixel:
``single sample`` (one eps per image, seed ``--seed``) and ``mean of S samples`` (the average
of S independent single-sample estimates per image: the same ELBO, lower variance), with
the standard error over images, and the KL part alone.
"""

import argparse
import math
from pathlib import Path

import numpy as np

from bbans_numba.datasets import load_images
from bbans_numba.model import load_model


def negative_elbo_bits(log_likelihood, mean, std, num_pixels):
    """Per-image (-log p(x|z) + KL) / (D ln 2) for float64 log p(x|z) (B,) and posteriors (B, latent_dim).

    Returns
    -------
    total, kl : numpy.ndarray, shape (B,)

    Examples
    --------
    >>> total, kl = negative_elbo_bits(np.array([-math.log(2.0) * 4]), np.zeros((1, 2)), np.ones((1, 2)), 4)
    >>> total.tolist(), kl.tolist()
    ([1.0], [0.0])
    """
    kl = 0.5 * np.sum(mean**2 + std**2 - 1.0 - 2.0 * np.log(std), axis=1)
    scale = num_pixels * math.log(2.0)
    return (kl - log_likelihood) / scale, kl / scale


class KerasForward:
    """``encode`` and ``log_likelihood`` of :class:`bbans_numba.model.CodingModel` for a ``.keras``
    VAE: Keras networks, the likelihood's NumPy log-pmf."""

    def __init__(self, path):
        from training.export import load_keras_vae

        self.vae = load_keras_vae(path)
        if not hasattr(self.vae, "model_config"):
            raise SystemExit(f"{path}: a PixelVAE checkpoint; evaluate its exported .npz (written beside it by "
                             "training.train) instead")
        self.num_pixels = self.vae.num_pixels

    def encode(self, x):
        mean, std = self.vae.posterior(x.reshape(len(x), -1))
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)

    def log_likelihood(self, x, z):
        raw = np.asarray(self.vae.decoder(z.astype(np.float32)))
        return self.vae.model_config.likelihood.log_pmf(x.reshape(len(x), -1), raw).sum(axis=1)


def evaluate(model, images, samples=10, seed=0, batch_size=500):
    """Negative ELBO estimates, bits/pixel, per image.

    Parameters
    ----------
    model : CodingModel or KerasForward
        Anything with ``encode(x) -> (mean, std)``, ``log_likelihood(x, z)`` (nats per image)
        and ``num_pixels``.
    images : numpy.ndarray of uint8, (N, H, W)
    samples : int
        Independent single-sample estimates per image (S).

    Returns
    -------
    numpy.ndarray, shape (S, N, 2)
        ``[..., 0]`` the total, ``[..., 1]`` its KL part, for each sample and image.
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((samples, len(images), model.encode(images[:1])[0].shape[1]))
    results = np.empty((samples, len(images), 2))
    for first in range(0, len(images), batch_size):
        batch = images[first:first + batch_size]
        mean, std = model.encode(batch)
        for s in range(samples):
            log_likelihood = model.log_likelihood(batch, mean + std * noise[s, first:first + len(batch)])
            total, kl = negative_elbo_bits(log_likelihood, mean, std, model.num_pixels)
            results[s, first:first + len(batch)] = np.stack([total, kl], axis=1)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="shipped model name, exported .npz, or .keras file")
    parser.add_argument("--data", required=True, help="image spec, e.g. mnist:test")
    parser.add_argument("--samples", type=int, default=10, help="samples per image for the averaged estimate")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    images = load_images(args.data)[:args.limit]
    if Path(args.model).suffix == ".keras":
        model, how = KerasForward(args.model), "Keras forward pass"
        likelihood = model.vae.model_config.likelihood
    else:
        model = load_model(args.model)
        how = f"Numba forward pass, fingerprint {model.fingerprint[:16]}"
        likelihood = getattr(model, "likelihood_spec", None) or model.likelihood  # a PixelVAE names its own
    results = evaluate(model, images, samples=args.samples, seed=args.seed)
    single = results[0, :, 0]
    averaged = results[:, :, 0].mean(axis=0)
    print(f"model {args.model} ({how}, likelihood {likelihood!r}); data {args.data}: {len(images)} images")
    print(f"negative ELBO, bits/dim: single sample {single.mean():.4f} "
          f"(± {single.std(ddof=1) / math.sqrt(len(single)):.4f} s.e. over images)")
    print(f"negative ELBO, bits/dim: mean of {args.samples} samples {averaged.mean():.4f} "
          f"(± {averaged.std(ddof=1) / math.sqrt(len(averaged)):.4f}); of which KL {results[:, :, 1].mean():.4f}")


if __name__ == "__main__":
    main()
