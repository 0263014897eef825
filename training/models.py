"""VAE architectures by name and their loss, the negative ELBO in bits per dimension.

Every architecture here is a pair of residual MLPs, because the codec does not run Keras:
``bbans_numba.model`` re-implements exactly this forward pass in Numba from exported
weights. A residual MLP with ``hidden_units`` H, ``residual_blocks`` R and activation f is::

    h = f(x @ W_in + b_in)
    repeat R times:  h = h + (f(h @ W_inner + b_inner) @ W_outer + b_outer)
    out = h @ W_out + b_out

Model (the conventions the codec uses, matched here exactly):

- prior p(z) = N(0, I) over ``latent_dim`` latents;
- posterior q(z|x) = N(mean, std^2), encoder input x / 255, ``std = clip(softplus(raw),
  STD_MIN, STD_MAX)``;
- likelihood p(x|z): independent beta-binomial per pixel with n = 255 trials,
  ``alpha, beta = clip(softplus(raw), BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX)``.

The loss is the single-sample reparameterized negative ELBO per image in bits per pixel:
``(-log p(x|z) + KL(q(z|x) || p(z))) / (D ln 2)`` with z = mean + std * eps, eps ~ N(0, I),
and the Gaussian KL in closed form (same expectation as the Monte Carlo log q - log p term,
lower variance).

Examples
--------
>>> import training.models as tm
>>> vae = tm.build_vae("mlp-bb")
>>> vae.latent_dim, vae.hidden_units, vae.residual_blocks
(50, 500, 0)
"""

import math

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras
from keras import ops

from bbans_numba.model import (
    BETA_BINOMIAL_MAX,
    BETA_BINOMIAL_MIN,
    BETA_BINOMIAL_TRIALS,
    STD_MAX,
    STD_MIN,
)

# name -> constructor arguments of BetaBinomialVAE (image_shape comes from the data).
ARCHITECTURES = {
    # The published BB-ANS MNIST model: 784-500-50 encoder, 50-500-784 decoder, ReLU.
    "mlp-bb": dict(latent_dim=50, hidden_units=500, residual_blocks=0, activation="relu"),
    # Wider, residual, smooth activation: ~4.3M multiply-adds per image (encoder + decoder).
    "resmlp-bb": dict(latent_dim=50, hidden_units=768, residual_blocks=1, activation="elu"),
}
LN2 = math.log(2.0)


def lgamma(x):
    """Natural log of the gamma function, elementwise, through the active Keras backend.

    ``keras.ops`` has no lgamma, so this dispatches to each backend's own (all accurate to
    a few ulp of float32).

    Examples
    --------
    >>> round(float(lgamma(keras.ops.convert_to_tensor([5.0]))[0]), 4)  # log(4!) = log(24)
    3.1781
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax.scipy.special

        return jax.scipy.special.gammaln(x)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.math.lgamma(x)
    if backend == "torch":
        import torch

        return torch.lgamma(x)
    raise NotImplementedError(f"lgamma is not available for the Keras backend {backend!r}")


def clipped_softplus(raw, low, high):
    """softplus(raw) clipped into [low, high]: how every positive parameter is made."""
    return ops.clip(ops.softplus(raw), low, high)


def beta_binomial_log_pmf(k, alpha, beta, n=BETA_BINOMIAL_TRIALS):
    """log P(k | n, alpha, beta) of the beta-binomial distribution, elementwise, in nats.

    ``log C(n, k) + lbeta(k + alpha, n - k + beta) - lbeta(alpha, beta)``.
    """
    log_choose = lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)
    return (
        log_choose
        + lgamma(k + alpha)
        + lgamma(n - k + beta)
        - lgamma(n + alpha + beta)
        - lgamma(alpha)
        - lgamma(beta)
        + lgamma(alpha + beta)
    )


def gaussian_kl_to_standard_normal(mean, std):
    """KL(N(mean, std^2) || N(0, 1)) summed over the last axis, in nats."""
    return 0.5 * ops.sum(ops.square(mean) + ops.square(std) - 1.0 - 2.0 * ops.log(std), axis=-1)


def residual_mlp(input_dim, hidden_units, residual_blocks, output_dim, activation, name):
    """The residual MLP described in the module docstring, as a functional Keras model.

    Layer names (``{name}_input``, ``{name}_block{i}_inner``, ``{name}_block{i}_outer``,
    ``{name}_output``) are what :mod:`training.export` reads.
    """
    inputs = keras.Input((input_dim,), name=f"{name}_x")
    h = keras.layers.Dense(hidden_units, activation=activation, name=f"{name}_input")(inputs)
    for block in range(residual_blocks):
        inner = keras.layers.Dense(hidden_units, activation=activation, name=f"{name}_block{block}_inner")(h)
        outer = keras.layers.Dense(hidden_units, name=f"{name}_block{block}_outer")(inner)
        h = keras.layers.Add(name=f"{name}_block{block}_add")([h, outer])
    outputs = keras.layers.Dense(output_dim, name=f"{name}_output")(h)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="bbans_numba")
class BetaBinomialVAE(keras.Model):
    """VAE with a Gaussian posterior and a per-pixel beta-binomial likelihood.

    Calling the model on a batch of flattened images (B, D) with pixel values 0..255 returns
    the per-image single-sample negative ELBO in bits per pixel, shape (B,); training
    minimizes its mean.

    Parameters
    ----------
    image_shape : tuple of int
        Shape of one image, e.g. (28, 28); D = prod(image_shape).
    latent_dim, hidden_units, residual_blocks : int
        Sizes of the latent space and of both residual MLPs.
    activation : str
        Hidden activation, one that ``bbans_numba.model`` implements (``relu``, ``elu``).
    seed : int
        Seed of the reparameterization noise.
    """

    def __init__(self, image_shape=(28, 28), latent_dim=50, hidden_units=500, residual_blocks=0,
                 activation="relu", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_pixels = int(np.prod(self.image_shape))
        self.latent_dim = int(latent_dim)
        self.hidden_units = int(hidden_units)
        self.residual_blocks = int(residual_blocks)
        self.activation = activation
        self.seed = int(seed)
        self.encoder = residual_mlp(self.num_pixels, hidden_units, residual_blocks, 2 * latent_dim, activation, "encoder")
        self.decoder = residual_mlp(latent_dim, hidden_units, residual_blocks, 2 * self.num_pixels, activation, "decoder")
        self.noise_seed = keras.random.SeedGenerator(seed)

    def posterior(self, x):
        """(mean, std) of q(z|x) for pixels x (B, D) in 0..255."""
        raw = self.encoder(ops.cast(x, "float32") / 255.0)
        mean, raw_std = ops.split(raw, 2, axis=-1)
        return mean, clipped_softplus(raw_std, STD_MIN, STD_MAX)

    def likelihood(self, z):
        """(alpha, beta) of p(x|z), each (B, D)."""
        raw_alpha, raw_beta = ops.split(self.decoder(z), 2, axis=-1)
        return (clipped_softplus(raw_alpha, BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX),
                clipped_softplus(raw_beta, BETA_BINOMIAL_MIN, BETA_BINOMIAL_MAX))

    def negative_elbo_bits_per_dim(self, x, noise):
        """Per-image negative ELBO (bits/pixel) for pixels x (B, D) and given eps (B, latent_dim)."""
        mean, std = self.posterior(x)
        alpha, beta = self.likelihood(mean + std * noise)
        log_likelihood = ops.sum(beta_binomial_log_pmf(ops.cast(x, "float32"), alpha, beta), axis=-1)
        kl = gaussian_kl_to_standard_normal(mean, std)
        return (kl - log_likelihood) / (self.num_pixels * LN2)

    def call(self, x):
        noise = keras.random.normal((ops.shape(x)[0], self.latent_dim), seed=self.noise_seed)
        return self.negative_elbo_bits_per_dim(x, noise)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)

    def get_config(self):
        return dict(super().get_config(), image_shape=self.image_shape, latent_dim=self.latent_dim,
                    hidden_units=self.hidden_units, residual_blocks=self.residual_blocks,
                    activation=self.activation, seed=self.seed)


def build_vae(architecture, image_shape=(28, 28), seed=0):
    """A fresh, built :class:`BetaBinomialVAE` of the named architecture.

    Raises
    ------
    ValueError
        ``architecture`` is not a key of :data:`ARCHITECTURES`.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
    vae = BetaBinomialVAE(image_shape=image_shape, seed=seed, name=architecture.replace("-", "_"),
                          **ARCHITECTURES[architecture])
    vae(np.zeros((1, vae.num_pixels), dtype=np.uint8))
    return vae
