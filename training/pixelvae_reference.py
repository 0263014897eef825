"""NumPy reference of the PixelVAE forward pass, from exported weights (no Keras).

The coding kernel is tested against this: :func:`head_params` gives every pixel's raw head
outputs for a batch of images and latents (teacher forced, i.e. what the encoder side sees),
:func:`head_log_pmf` the log-probabilities of all 256 values. Formulas: the docstring of
:mod:`training.pixelvae`. Everything is float32 except the log-pmf (float64).

Examples
--------
>>> import numpy as np
>>> images = np.zeros((1, 2, 3), np.uint8); images[0, 0, 1] = 255
>>> neighbourhood(images, [(-1, 0), (0, -1)])[0]   # pixel (1, 1) sees (0, 1) above
array([[0., 0.],
       [0., 0.],
       [0., 1.],
       [0., 0.],
       [1., 0.],
       [0., 0.]], dtype=float32)
"""

import numpy as np


def _relu(a):
    return np.maximum(a, np.float32(0))


def _softplus(a):
    return np.logaddexp(np.float32(0), a).astype(np.float32)


def _layers(arrays, prefix):
    """[(kernel, bias)] of ``{prefix}.hidden0..`` in order."""
    layers, i = [], 0
    while f"{prefix}.hidden{i}.kernel" in arrays:
        layers.append((arrays[f"{prefix}.hidden{i}.kernel"], arrays[f"{prefix}.hidden{i}.bias"]))
        i += 1
    return layers


def _mlp(a, arrays, prefix):
    for kernel, bias in _layers(arrays, prefix):
        a = _relu(a @ kernel + bias)
    return a @ arrays[f"{prefix}.output.kernel"] + arrays[f"{prefix}.output.bias"]


def posterior(config, arrays, images):
    """(mean, std) of q(z|x), each (B, L) float32, for uint8 images (B, H, W)."""
    latent = config["latent_dim"]
    out = _mlp(images.reshape(len(images), -1).astype(np.float32) / np.float32(255), arrays, "encoder")
    std = np.clip(_softplus(out[:, latent:]), np.float32(config["std_min"]), np.float32(config["std_max"]))
    return out[:, :latent], std


def pixel_features(config, arrays, z):
    """h(z), (B, D, F) float32, for latents z (B, L)."""
    d = int(np.prod(config["image_shape"]))
    if config["latent_dim"] == 0:
        return np.broadcast_to(arrays["decoder.output.bias"].reshape(1, d, -1), (len(z), d, config["features"]))
    return _mlp(z.astype(np.float32), arrays, "decoder").reshape(len(z), d, config["features"])


def neighbourhood(images, offsets):
    """(B, H*W, N) float32 neighbour values / 255 of every pixel, 0 outside the image."""
    count, height, width = images.shape
    out = np.zeros((count, height, width, len(offsets)), np.float32)
    scaled = images.astype(np.float32) / np.float32(255)
    for j, (dy, dx) in enumerate(offsets):
        rows = slice(max(0, -dy), height - max(0, dy))
        cols = slice(max(0, -dx), width - max(0, dx))
        src_rows = slice(rows.start + dy, rows.stop + dy)
        src_cols = slice(cols.start + dx, cols.stop + dx)
        out[:, rows, cols, j] = scaled[:, src_rows, src_cols]
    return out.reshape(count, height * width, len(offsets))


def head_params(config, arrays, images, z):
    """Raw head outputs (B, D, P) float32 of every pixel, teacher forced from ``images``."""
    offsets = [tuple(o) for o in config["offsets"]]
    u = np.concatenate([neighbourhood(images, offsets), pixel_features(config, arrays, z)], axis=-1)
    return _mlp(u, arrays, "pixel")


def head_log_pmf(config, raw):
    """log P(k) in nats for k = 0..255, (..., 256) float64, from raw head outputs (..., P)."""
    raw = raw.astype(np.float64)
    if config["head"] == "categorical":
        return raw - np.logaddexp.reduce(raw, axis=-1, keepdims=True)
    logit, mean_raw, log_scale_raw = np.split(raw[..., None, :], 3, axis=-1)
    log_w = logit - np.logaddexp.reduce(logit, axis=-1, keepdims=True)
    mu = 255.0 * mean_raw
    inv_s = np.exp(-np.clip(log_scale_raw, config["log_scale_min"], config["log_scale_max"]))
    k = np.arange(256.0)[:, None]
    upper = np.where(k < 255, (k + 0.5 - mu) * inv_s, np.inf)
    lower = np.where(k > 0, (k - 0.5 - mu) * inv_s, -np.inf)
    # log(sigmoid(upper) - sigmoid(lower)), written without cancellation
    log_mass = (-np.logaddexp(0, -upper) - np.logaddexp(0, lower)
                + np.where((k > 0) & (k < 255), np.log(-np.expm1(-inv_s)), 0.0))
    return np.logaddexp.reduce(log_w + log_mass, axis=-1)


def negative_elbo_bits(config, arrays, images, noise):
    """(nll, kl) in bits per image for uint8 images (B, H, W) and posterior noise (B, L)."""
    if config["latent_dim"]:
        mean, std = posterior(config, arrays, images)
        z = mean + std * noise
        kl = 0.5 * np.sum(mean.astype(np.float64) ** 2 + std.astype(np.float64) ** 2 - 1 - 2 * np.log(std), axis=-1)
    else:
        z = np.zeros((len(images), 0), np.float32)
        kl = np.zeros(len(images))
    log_p = head_log_pmf(config, head_params(config, arrays, images, z))
    flat = images.reshape(len(images), -1).astype(np.intp)
    nll = -np.take_along_axis(log_p, flat[..., None], axis=-1)[..., 0].sum(axis=-1)
    return nll / np.log(2), kl / np.log(2)
