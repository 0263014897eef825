"""PixelVAE: a VAE whose likelihood is a local autoregressive pixel model (Keras 3, JAX).

p(x|z) = prod_i p(x_i | x[causal neighbourhood of i], h_i(z)), pixels in raster order.

Forward pass (every formula here is what :func:`reference_head_params` re-implements in NumPy
and what the coding kernel must reproduce; D = H*W pixels, x in 0..255):

- posterior q(z|x) = N(mean, std^2): ``a = x/255``; ``a = relu(a @ W + b)`` per encoder
  hidden layer; ``out = a @ W + b`` (2*L values); ``mean = out[:L]``,
  ``std = clip(softplus(out[L:]), STD_MIN, STD_MAX)``; prior N(0, I).
- per-pixel features h(z), (D, F): ``g = z``; ``g = relu(g @ W + b)`` per decoder hidden
  layer; ``h = reshape(g @ W + b, (D, F))``. With no latents (L = 0), h is one learned
  (D, F) table (the decoder output bias alone): a pure position embedding.
- neighbourhood n_i, (N,): ``n_i[j] = x[r + dy_j, c + dx_j] / 255`` for the offsets
  (dy_j, dx_j) of :func:`neighbourhood_offsets` (all strictly before pixel i in raster
  order), 0 where the position is outside the image.
- shared pixel network: ``u = relu(n_i @ Wn + h_i @ Wh + b)`` (the first layer's kernel is
  stored whole, rows [:N] for n and [N:] for h); ``u = relu(u @ W + b)`` per further hidden
  layer; ``raw = u @ W + b``.
- head, the pmf of x_i from ``raw``:

  * ``logistic``: K components, ``raw = [logit (K), mean_raw (K), log_scale_raw (K)]``;
    ``w = softmax(logit)``, ``mu = 255 * mean_raw``,
    ``inv_s = exp(-clip(log_scale_raw, LOG_SCALE_MIN, LOG_SCALE_MAX))`` (scale in pixel
    units); ``P(k) = sum_c w_c * (sigmoid((k + 0.5 - mu_c) * inv_s_c) -
    sigmoid((k - 0.5 - mu_c) * inv_s_c))`` with the outer edges at -inf (k = 0) and +inf
    (k = 255).
  * ``categorical``: 256 logits, ``P = softmax(raw)``.

The loss is the single-sample negative ELBO in bits per pixel, KL in closed form.

Examples
--------
>>> neighbourhood_offsets(1, 1, 1)
[(-1, -1), (-1, 0), (-1, 1), (0, -1)]
>>> model = PixelVAE(image_shape=(4, 5), latent_dim=2, features=2, encoder_hidden=(8,),
...                  decoder_hidden=(8,), pixel_hidden=(6,), head="logistic", components=2)
>>> model.num_neighbours, model.head_outputs
(12, 6)
"""

import json
import math

import numpy as np

import training  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
import keras
from keras import ops

from bbans_numba.model import STD_MAX, STD_MIN

LN2 = math.log(2.0)
LOG_SCALE_MIN = -4.0  # scale >= 0.018 pixel: a bin can hold all but ~1e-12 of the mass
LOG_SCALE_MAX = 7.0   # scale <= 1100 pixels: flat over 0..255
HEADS = ("logistic", "categorical")
FORMAT = "pixelvae-1"


def neighbourhood_offsets(rows_above, half_width, left):
    """Causal neighbourhood offsets (dy, dx), in raster order.

    ``rows_above`` rows above the pixel, each from ``-half_width`` to ``+half_width``, then
    ``left`` pixels to the left in the pixel's own row. Every offset is strictly before the
    pixel in raster order.

    >>> neighbourhood_offsets(2, 2, 2)[:3], len(neighbourhood_offsets(2, 2, 2))
    ([(-2, -2), (-2, -1), (-2, 0)], 12)
    """
    offsets = [(dy, dx) for dy in range(-rows_above, 0) for dx in range(-half_width, half_width + 1)]
    return offsets + [(0, dx) for dx in range(-left, 0)]


def causal_neighbourhood(x, offsets):
    """(B, H*W, N) neighbour values of every pixel from images ``x`` (B, H, W), 0 outside.

    Works on NumPy arrays and Keras tensors alike (pad + shifted slices, no gather).
    """
    if not offsets:
        return ops.zeros((ops.shape(x)[0], ops.shape(x)[1] * ops.shape(x)[2], 0), dtype=x.dtype)
    top = max(-dy for dy, _ in offsets)
    side = max(abs(dx) for _, dx in offsets)
    height, width = x.shape[1], x.shape[2]
    padded = ops.pad(x, ((0, 0), (top, 0), (side, side)))
    shifted = [padded[:, top + dy: top + dy + height, side + dx: side + dx + width] for dy, dx in offsets]
    stacked = ops.stack(shifted, axis=-1)
    return ops.reshape(stacked, (-1, height * width, len(offsets)))


def logistic_mixture_log_pmf(k, raw):
    """log P(k) in nats for pixel values ``k`` (...,) and head outputs ``raw`` (..., 3K).

    Uses ``sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a))``, so every
    term is a log-sigmoid or ``log(-expm1(-inv_s))``: no cancellation.
    """
    logit, mean_raw, log_scale_raw = ops.split(raw, 3, axis=-1)
    k = ops.expand_dims(k, -1)
    mu = 255.0 * mean_raw
    log_scale = ops.clip(log_scale_raw, LOG_SCALE_MIN, LOG_SCALE_MAX)
    inv_s = ops.exp(-log_scale)
    upper = (k + 0.5 - mu) * inv_s
    lower = (k - 0.5 - mu) * inv_s
    has_upper = ops.cast(k < 255.0, raw.dtype)
    has_lower = ops.cast(k > 0.0, raw.dtype)
    interior = has_upper * has_lower
    log_mass = (-ops.softplus(-upper) * has_upper - ops.softplus(lower) * has_lower
                + interior * ops.log(-ops.expm1(-inv_s)))
    return ops.logsumexp(ops.log_softmax(logit, axis=-1) + log_mass, axis=-1)


def categorical_log_pmf(k, raw):
    """log P(k) in nats for pixel values ``k`` (...,) and 256 logits ``raw`` (..., 256)."""
    log_p = ops.log_softmax(raw, axis=-1)
    one_hot = ops.one_hot(ops.cast(k, "int32"), 256, dtype=raw.dtype)
    return ops.sum(log_p * one_hot, axis=-1)


@keras.saving.register_keras_serializable(package="bbans_numba")
class PixelVAE(keras.Model):
    """The PixelVAE of the module docstring.

    Calling it on flattened images (B, D) with values 0..255 returns (B, 2): per image,
    ``-log2 p(x|z)`` and ``KL(q(z|x) || p(z))`` in bits, for one reparameterized sample z.
    The training loss is their mean sum divided by D (bits per pixel).
    """

    # The constructor's settings of the architecture (besides image_shape and seed).
    ARCHITECTURE_KEYS = ("latent_dim", "features", "encoder_hidden", "decoder_hidden", "rows_above", "half_width",
                         "left", "pixel_hidden", "head", "components")

    def __init__(self, image_shape=(28, 28), latent_dim=16, features=4, encoder_hidden=(256,),
                 decoder_hidden=(256,), rows_above=2, half_width=2, left=2, pixel_hidden=(64,),
                 head="logistic", components=5, seed=0, **kwargs):
        super().__init__(**kwargs)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {head!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_pixels = int(np.prod(self.image_shape))
        self.latent_dim = int(latent_dim)
        self.features = int(features)
        self.encoder_hidden = tuple(int(u) for u in encoder_hidden)
        self.decoder_hidden = tuple(int(u) for u in decoder_hidden)
        self.rows_above, self.half_width, self.left = int(rows_above), int(half_width), int(left)
        self.offsets = neighbourhood_offsets(self.rows_above, self.half_width, self.left)
        self.num_neighbours = len(self.offsets)
        self.pixel_hidden = tuple(int(u) for u in pixel_hidden)
        self.head = head
        self.components = int(components)
        self.head_outputs = 3 * self.components if head == "logistic" else 256
        self.seed = int(seed)
        dense = keras.layers.Dense
        if self.latent_dim == 0:  # no latents: no encoder; the decoder is its output bias alone
            self.encoder_hidden = self.decoder_hidden = ()
        self.encoder_layers = [dense(u, activation="relu", name=f"encoder_hidden{i}")
                               for i, u in enumerate(self.encoder_hidden)]
        self.encoder_out = dense(2 * self.latent_dim, name="encoder_output") if self.latent_dim else None
        self.decoder_layers = [dense(u, activation="relu", name=f"decoder_hidden{i}")
                               for i, u in enumerate(self.decoder_hidden)]
        self.decoder_out = dense(self.num_pixels * self.features, name="decoder_output")
        self.pixel_layers = [dense(u, activation="relu", name=f"pixel_hidden{i}")
                             for i, u in enumerate(self.pixel_hidden)]
        self.pixel_out = dense(self.head_outputs, name="pixel_output", bias_initializer=self._head_bias_initializer)
        self.noise_seed = keras.random.SeedGenerator(self.seed)

    def _head_bias_initializer(self, shape, dtype=None):
        """Logistic head starts broad (scale e^3 = 20 pixels) with means spread over 0..255."""
        bias = np.zeros(shape, np.float32)
        if self.head == "logistic":
            k = self.components
            bias[k:2 * k] = np.linspace(0.0, 1.0, k)
            bias[2 * k:] = 3.0
        return ops.convert_to_tensor(bias, dtype=dtype)

    def build(self, input_shape=None):
        d = self.num_pixels
        width = d
        for layer in self.encoder_layers + ([self.encoder_out] if self.latent_dim else []):
            layer.build((None, width))
            width = layer.units
        width = max(self.latent_dim, 1)
        for layer in self.decoder_layers + [self.decoder_out]:
            layer.build((None, width))
            width = layer.units
        width = self.num_neighbours + self.features
        for layer in self.pixel_layers + [self.pixel_out]:
            layer.build((None, width))
            width = layer.units
        self.built = True

    def posterior(self, x):
        """(mean, std) of q(z|x), each (B, L), for pixels x (B, D) in 0..255 (L = 0: empty)."""
        if self.latent_dim == 0:
            return ops.zeros((ops.shape(x)[0], 0)), ops.ones((ops.shape(x)[0], 0))
        a = ops.cast(x, "float32") / 255.0
        for layer in self.encoder_layers:
            a = layer(a)
        out = self.encoder_out(a)
        mean, raw_std = out[:, :self.latent_dim], out[:, self.latent_dim:]
        return mean, ops.clip(ops.softplus(raw_std), STD_MIN, STD_MAX)

    def pixel_features(self, z):
        """h(z), (B, D, F). With no latents z is (B, 0) and h is the output bias alone."""
        if self.latent_dim == 0:
            bias = ops.reshape(self.decoder_out.bias, (1, self.num_pixels, self.features))
            return ops.broadcast_to(bias, (ops.shape(z)[0], self.num_pixels, self.features))
        g = z
        for layer in self.decoder_layers:
            g = layer(g)
        return ops.reshape(self.decoder_out(g), (-1, self.num_pixels, self.features))

    def head_params(self, x, z):
        """Raw head outputs (B, D, P) for pixels x (B, D) and latents z (B, L), teacher forced."""
        images = ops.reshape(ops.cast(x, "float32") / 255.0, (-1,) + self.image_shape)
        u = ops.concatenate([causal_neighbourhood(images, self.offsets), self.pixel_features(z)], axis=-1)
        for layer in self.pixel_layers:
            u = layer(u)
        return self.pixel_out(u)

    def log_pmf(self, x, raw):
        """log p(x_i | ...) in nats, (B, D)."""
        k = ops.cast(x, "float32")
        if self.head == "logistic":
            return logistic_mixture_log_pmf(k, raw)
        return categorical_log_pmf(k, raw)

    def elbo_terms(self, x, noise):
        """(B, 2): -log2 p(x|z) and KL in bits per image, with z = mean + std * noise."""
        if self.latent_dim:
            mean, std = self.posterior(x)
            z = mean + std * noise
            kl = 0.5 * ops.sum(ops.square(mean) + ops.square(std) - 1.0 - 2.0 * ops.log(std), axis=-1)
        else:
            z = ops.zeros((ops.shape(x)[0], 0))
            kl = ops.zeros((ops.shape(x)[0],))
        nll = -ops.sum(self.log_pmf(x, self.head_params(x, z)), axis=-1)
        return ops.stack([nll, kl], axis=-1) / LN2

    def call(self, x):
        noise = keras.random.normal((ops.shape(x)[0], max(self.latent_dim, 1)), seed=self.noise_seed)
        return self.elbo_terms(x, noise[:, :self.latent_dim])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(ops.sum(y_pred, axis=-1)) / self.num_pixels

    def get_config(self):
        return dict(super().get_config(), **self.architecture())

    def architecture(self):
        """The constructor arguments (JSON-serializable) that rebuild this model."""
        return dict(image_shape=list(self.image_shape), latent_dim=self.latent_dim, features=self.features,
                    encoder_hidden=list(self.encoder_hidden), decoder_hidden=list(self.decoder_hidden),
                    rows_above=self.rows_above, half_width=self.half_width, left=self.left,
                    pixel_hidden=list(self.pixel_hidden), head=self.head, components=self.components,
                    seed=self.seed)

    def multiply_adds(self):
        """(per image: encoder + decoder, per pixel: shared network + head) multiply-adds."""
        def mlp(widths):
            return sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        per_image = mlp([self.num_pixels, *self.encoder_hidden, 2 * self.latent_dim])
        if self.latent_dim:
            per_image += mlp([self.latent_dim, *self.decoder_hidden, self.num_pixels * self.features])
        per_pixel = mlp([self.num_neighbours + self.features, *self.pixel_hidden, self.head_outputs])
        return per_image, per_pixel


def build_pixelvae(**architecture):
    """A fresh, built :class:`PixelVAE`."""
    model = PixelVAE(**architecture)
    model.build()
    return model


def negative_elbo(model, images, batch_size=500, seed=0):
    """(nll, kl) in bits per image, each (N,), for uint8 ``images`` (N, H, W) or (N, D).

    One posterior sample per image from a seeded generator (reproducible). Any model with
    ``elbo_terms(x, noise)`` and ``latent_dim`` serves: a PixelVAE or a ``training.models.VAE``.
    """
    flat = np.asarray(images).reshape(len(images), -1)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((len(flat), model.latent_dim)).astype(np.float32)
    terms = compiled_elbo_terms(model)
    out = [np.asarray(terms(flat[i:i + batch_size], noise[i:i + batch_size]))
           for i in range(0, len(flat), batch_size)]
    result = np.concatenate(out)
    return result[:, 0], result[:, 1]


def compiled_elbo_terms(model):
    """elbo_terms as one compiled function of (x, noise) for the JAX backend."""
    if keras.backend.backend() != "jax":
        return lambda x, noise: model.elbo_terms(x, noise)
    import jax

    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def run(trainable, non_trainable, x, noise):
        with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, trainable))
                                  + list(zip(model.non_trainable_variables, non_trainable))):
            return model.elbo_terms(x, noise)

    return lambda x, noise: run(trainable, non_trainable, x, noise)


# --------------------------------------------------------------------------- export + NumPy reference

def export_arrays(model):
    """name -> float32 array dict (+ ``config`` JSON) of a trained :class:`PixelVAE`.

    Kernels are (in, out), biases (out,): ``encoder.hidden{i}``, ``encoder.output``,
    ``decoder.hidden{i}``, ``decoder.output``, ``pixel.hidden{i}``, ``pixel.output``, each
    with ``.kernel`` and ``.bias``. With no latents only ``decoder.output.bias`` (D*F) is
    stored for the decoder.
    """
    config = dict(model.architecture(), format=FORMAT, offsets=[list(o) for o in model.offsets],
                  log_scale_min=LOG_SCALE_MIN, log_scale_max=LOG_SCALE_MAX, std_min=STD_MIN, std_max=STD_MAX)
    arrays = {"config": np.array(json.dumps(config, sort_keys=True))}

    def put(name, layer, kernel=True):
        # convert_to_numpy of each variable's value: get_weights() goes through np.array(variable), which
        # NumPy 2 warns about (__array__ without a copy keyword).
        kernel_value, bias_value = (keras.ops.convert_to_numpy(v.value) for v in layer.weights)
        if kernel:
            arrays[f"{name}.kernel"] = np.ascontiguousarray(kernel_value, dtype=np.float32)
        arrays[f"{name}.bias"] = np.ascontiguousarray(bias_value, dtype=np.float32)

    if model.latent_dim:
        for i, layer in enumerate(model.encoder_layers):
            put(f"encoder.hidden{i}", layer)
        put("encoder.output", model.encoder_out)
        for i, layer in enumerate(model.decoder_layers):
            put(f"decoder.hidden{i}", layer)
        put("decoder.output", model.decoder_out)
    else:
        put("decoder.output", model.decoder_out, kernel=False)
    for i, layer in enumerate(model.pixel_layers):
        put(f"pixel.hidden{i}", layer)
    put("pixel.output", model.pixel_out)
    return arrays


def export_npz(model, path):
    """Write :func:`export_arrays` of ``model`` to ``path`` (uncompressed ``.npz``)."""
    np.savez(path, **export_arrays(model))


def load_npz(path):
    """(config dict, arrays dict) of an exported file."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    return json.loads(str(arrays.pop("config"))), arrays
