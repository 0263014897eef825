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

A *recipe* (``--model`` of ``training.train``, :data:`RECIPES`) names a model and how it is
trained: its kind (``"pixelvae"``: :class:`training.pixelvae.PixelVAE`; ``"vae"``: the
:class:`VAE` here), the model's settings and the training settings (epochs, time budget,
batch size, peak learning rate, learning-rate schedule, early-stopping patience): how a
shipped model was made. :func:`build_model` builds any of them.

Examples
--------
>>> import training.models as tm
>>> vae = tm.build_model("mlp-bb", image_shape=(4, 4), overrides={"likelihood": "logistic_mixture"})
>>> vae.model_config.architecture
ResidualMLP(hidden_units=500, residual_blocks=0, activation='relu')
>>> vae.model_config.likelihood, vae.decoder.output_shape   # 3 * 5 outputs for each of 16 pixels
(LogisticMixtureLikelihood(num_components=5), (None, 240))
>>> type(tm.build_model("pixelvae", image_shape=(4, 4))).__name__, tm.DEFAULT_RECIPE
('PixelVAE', 'pixelvae')
"""

import math

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras
from keras import ops

from bbans_numba.model import STD_MAX, STD_MIN
from bbans_numba.model_config import ModelConfig
from training import portable_ops
from training.pixelvae import PixelVAE

# The residual-MLP recipes' training: epoch-based schedule (one epoch of warm-up, cosine decay).
_MLP_TRAINING = dict(time_budget=None, batch_size=128, learning_rate=1e-3, schedule="epochs", patience=10)

# name -> how to build and train it (image_shape comes from the data). ``model``: the
# constructor settings of the kind's class; ``time_budget`` in minutes (None: none);
# ``schedule``: "wall_clock" (cosine over the time budget, down to 2% of the peak, set at
# each epoch's start) or "epochs" (one epoch of linear warm-up, then cosine decay to 1% over
# the remaining epochs); ``patience``: early stop after this many epochs without improvement
# (None: never).
RECIPES = {
    # PixelVAE (notes in docs/models.md): 16 latents, 8 features per pixel, a 24-pixel causal
    # neighbourhood (3 rows above, dx -3..3, 3 to the left), pixel network [48, 48],
    # 5-component logistic mixture; trained under a wall-clock budget.
    "pixelvae": dict(kind="pixelvae", model=dict(latent_dim=16, features=8, encoder_hidden=[256],
                                                 decoder_hidden=[256], rows_above=3, half_width=3, left=3,
                                                 pixel_hidden=[48, 48], head="logistic", components=5),
                     epochs=1000, time_budget=50.0, batch_size=64, learning_rate=2e-3, schedule="wall_clock",
                     patience=None),
    # The published BB-ANS MNIST model: 784-500-50 encoder, 50-500-784 decoder, ReLU.
    "mlp-bb": dict(kind="vae", model=dict(latent_dim=50, likelihood={"name": "beta_binomial"},
                                          architecture={"name": "residual_mlp", "hidden_units": 500,
                                                        "residual_blocks": 0, "activation": "relu"}),
                   epochs=30, **_MLP_TRAINING),
    # Wider, residual, smooth activation: ~4.3M multiply-adds per image (encoder + decoder).
    "resmlp-bb": dict(kind="vae", model=dict(latent_dim=50, likelihood={"name": "beta_binomial"},
                                             architecture={"name": "residual_mlp", "hidden_units": 768,
                                                           "residual_blocks": 1, "activation": "elu"}),
                      epochs=100, **_MLP_TRAINING),
}
DEFAULT_RECIPE = "pixelvae"  # how the default shipped model, mnist, was made
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

    @property
    def latent_dim(self):
        return self.model_config.latent_dim

    def elbo_terms(self, x, noise):
        """(B, 2): -log2 p(x|z) and KL in bits per image for pixels x (B, D), z = mean + std * noise
        (the same terms as :meth:`training.pixelvae.PixelVAE.elbo_terms`)."""
        mean, std = self.posterior(x)
        raw = self.decoder(mean + std * noise)
        log_likelihood = ops.sum(self.model_config.likelihood.keras_log_pmf(ops.cast(x, "float32"), raw), axis=-1)
        return ops.stack([-log_likelihood, gaussian_kl_to_standard_normal(mean, std)], axis=-1) / LN2

    def negative_elbo_bits_per_dim(self, x, noise):
        """Per-image negative ELBO (bits/pixel) for pixels x (B, D) and given eps (B, latent_dim)."""
        return ops.sum(self.elbo_terms(x, noise), axis=-1) / self.num_pixels

    def call(self, x):
        noise = keras.random.normal((ops.shape(x)[0], self.latent_dim), seed=self.noise_seed)
        return self.negative_elbo_bits_per_dim(x, noise)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)

    def get_config(self):
        config = self.model_config
        return dict(super().get_config(), image_shape=list(config.image_shape), latent_dim=config.latent_dim,
                    architecture=config.architecture.description(), likelihood=config.likelihood.description(),
                    seed=self.seed)


def build_model(recipe=DEFAULT_RECIPE, image_shape=(28, 28), seed=0, overrides=None):
    """A fresh, built model of the named recipe: a :class:`training.pixelvae.PixelVAE` or a :class:`VAE`.

    Parameters
    ----------
    overrides : dict, optional
        Replace entries of the recipe's ``model`` settings (shallow): PixelVAE constructor
        arguments, or ``latent_dim`` / ``architecture`` / ``likelihood`` of a VAE, where a
        likelihood may be given by name alone (default options).

    Raises
    ------
    ValueError
        ``recipe`` is not a key of :data:`RECIPES`, or a setting is unknown or invalid.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    kind = RECIPES[recipe]["kind"]
    settings = dict(RECIPES[recipe]["model"], **(overrides or {}))
    name = recipe.replace("-", "_")
    if kind == "pixelvae":
        unknown = sorted(set(settings) - set(PixelVAE.ARCHITECTURE_KEYS))
        if unknown:
            raise ValueError(f"recipe {recipe!r} (a PixelVAE) has no setting {unknown[0]!r}")
        model = PixelVAE(image_shape=image_shape, seed=seed, name=name, **settings)
        model.build()
        return model
    unknown = sorted(set(settings) - {"latent_dim", "architecture", "likelihood"})
    if unknown:
        raise ValueError(f"recipe {recipe!r} (a VAE) has no setting {unknown[0]!r}")
    if isinstance(settings["likelihood"], str):
        settings["likelihood"] = {"name": settings["likelihood"]}
    vae = VAE(image_shape=image_shape, seed=seed, name=name, **settings)
    vae.build((None, vae.num_pixels))  # its networks are built already; no need to run the loss eagerly
    return vae
