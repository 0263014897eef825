"""The VAE that training fits, built from the registry, and the named recipes.

A :class:`VAE` is described by the same :class:`bbans_numba.model_config.ModelConfig` that
the exported file stores: its encoder and decoder networks come from the architecture spec
(:mod:`bbans_numba.architectures`), its pixel likelihood's loss from the likelihood spec
(:mod:`bbans_numba.likelihoods`). The conventions shared with the codec:

- prior p(z) = N(0, I) over ``latent_dim`` latents;
- posterior q(z|x) = N(mean, std^2), encoder input x / 255, ``std = clip(softplus(raw),
  STD_MIN, STD_MAX)``, softplus and ELU from :mod:`training.portable_ops` (the codec's
  portable functions in float32, issue 10);
- likelihood p(x|z): the likelihood spec's ``keras_log_pmf`` of the decoder's output.

The loss is the single-sample reparameterized negative ELBO per image in bits per pixel:
``(-log p(x|z) + KL(q(z|x) || p(z))) / (D ln 2)`` with z = mean + std * eps, eps ~ N(0, I),
and the Gaussian KL in closed form (same expectation as the Monte Carlo log q - log p term,
lower variance).

A *recipe* (``--model`` of ``training.train``) names an architecture with its options, a
latent size, a likelihood and an epoch count: how a shipped model was made.

Examples
--------
>>> import training.models as tm
>>> vae = tm.build_vae("mlp-bb", image_shape=(4, 4), likelihood="logistic_mixture")
>>> vae.model_config.architecture
ResidualMLP(hidden_units=500, residual_blocks=0, activation='relu')
>>> vae.model_config.likelihood, vae.decoder.output_shape   # 3 * 5 outputs for each of 16 pixels
(LogisticMixtureLikelihood(num_components=5), (None, 240))
"""

import math

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras
from keras import ops

from bbans_numba.model import STD_MAX, STD_MIN
from bbans_numba.model_config import ModelConfig
from training import portable_ops

# name -> how to build and train it (image_shape comes from the data).
RECIPES = {
    # The published BB-ANS MNIST model: 784-500-50 encoder, 50-500-784 decoder, ReLU.
    "mlp-bb": dict(latent_dim=50, epochs=30, likelihood={"name": "beta_binomial"},
                   architecture={"name": "residual_mlp", "hidden_units": 500, "residual_blocks": 0,
                                 "activation": "relu"}),
    # Wider, residual, smooth activation: ~4.3M multiply-adds per image (encoder + decoder).
    "resmlp-bb": dict(latent_dim=50, epochs=100, likelihood={"name": "beta_binomial"},
                      architecture={"name": "residual_mlp", "hidden_units": 768, "residual_blocks": 1,
                                    "activation": "elu"}),
}
DEFAULT_RECIPE = "resmlp-bb"  # how the default shipped model, mnist, was made
LN2 = math.log(2.0)


def gaussian_kl_to_standard_normal(mean, std):
    """KL(N(mean, std^2) || N(0, 1)) summed over the last axis, in nats."""
    return 0.5 * ops.sum(ops.square(mean) + ops.square(std) - 1.0 - 2.0 * ops.log(std), axis=-1)


@keras.saving.register_keras_serializable(package="bbans_numba")
class VAE(keras.Model):
    """VAE with a Gaussian posterior and a registered architecture and pixel likelihood.

    Calling the model on a batch of flattened images (B, D) with pixel values 0..255 returns
    the per-image single-sample negative ELBO in bits per pixel, shape (B,); training
    minimizes its mean.

    Parameters
    ----------
    image_shape : tuple of int
        Shape of one image, e.g. (28, 28); D = prod(image_shape).
    latent_dim : int
    architecture, likelihood : dict
        ``{"name": NAME, **options}`` as in the registries; checked here, so an unknown
        name, option or activation is refused before training starts (ValueError).
    seed : int
        Seed of the reparameterization noise.
    """

    def __init__(self, image_shape=(28, 28), latent_dim=50, architecture=None, likelihood=None, seed=0, **kwargs):
        config = ModelConfig.build(list(image_shape), latent_dim, architecture, likelihood)
        super().__init__(**kwargs)
        self.model_config = config
        self.num_pixels = config.num_pixels
        self.seed = int(seed)
        sizes = config.network_sizes()
        self.encoder = config.architecture.keras_network(*sizes["encoder"], "encoder")
        self.decoder = config.architecture.keras_network(*sizes["decoder"], "decoder")
        self.noise_seed = keras.random.SeedGenerator(seed)

    def posterior(self, x):
        """(mean, std) of q(z|x) for pixels x (B, D) in 0..255."""
        raw = self.encoder(ops.cast(x, "float32") / 255.0)
        mean, raw_std = ops.split(raw, 2, axis=-1)
        return mean, ops.clip(portable_ops.softplus(raw_std), STD_MIN, STD_MAX)

    def negative_elbo_bits_per_dim(self, x, noise):
        """Per-image negative ELBO (bits/pixel) for pixels x (B, D) and given eps (B, latent_dim)."""
        mean, std = self.posterior(x)
        raw = self.decoder(mean + std * noise)
        log_likelihood = ops.sum(self.model_config.likelihood.keras_log_pmf(ops.cast(x, "float32"), raw), axis=-1)
        kl = gaussian_kl_to_standard_normal(mean, std)
        return (kl - log_likelihood) / (self.num_pixels * LN2)

    def call(self, x):
        noise = keras.random.normal((ops.shape(x)[0], self.model_config.latent_dim), seed=self.noise_seed)
        return self.negative_elbo_bits_per_dim(x, noise)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)

    def get_config(self):
        config = self.model_config
        return dict(super().get_config(), image_shape=list(config.image_shape), latent_dim=config.latent_dim,
                    architecture=config.architecture.description(), likelihood=config.likelihood.description(),
                    seed=self.seed)


def build_vae(recipe=DEFAULT_RECIPE, image_shape=(28, 28), seed=0, likelihood=None):
    """A fresh, built :class:`VAE` of the named recipe.

    Parameters
    ----------
    likelihood : str or dict, optional
        A likelihood name (default options) or ``{"name": NAME, **options}`` instead of the recipe's.

    Raises
    ------
    ValueError
        ``recipe`` is not a key of :data:`RECIPES`, or the likelihood is unknown or invalid.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    settings = RECIPES[recipe]
    if likelihood is None:
        likelihood = settings["likelihood"]
    elif isinstance(likelihood, str):
        likelihood = {"name": likelihood}
    vae = VAE(image_shape=image_shape, latent_dim=settings["latent_dim"], architecture=settings["architecture"],
              likelihood=likelihood, seed=seed, name=recipe.replace("-", "_"))
    vae.build((None, vae.num_pixels))  # its networks are built already; no need to run the loss eagerly
    return vae
