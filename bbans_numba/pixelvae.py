"""The coding-time view of a PixelVAE: a VAE whose likelihood p(x|z) is autoregressive.

``p(x|z) = prod_i p(x_i | x[causal neighbourhood of i], h_i(z))``, pixels in raster order,
each a discretized logistic mixture (the forward pass of ``training/pixelvae.py``; sizes from
the model's JSON config).  Compress knows every pixel: it evaluates all of them in one batched
pass and pushes them in reverse raster order.  Decompress pops them in raster order in one
jitted kernel that, per pixel, gathers every lane's neighbourhood from the pixels decoded so
far, runs the shared pixel network and pops: no Python call per pixel.

Forward pass (float32 networks, float64 head; all of it from IEEE basic operations only)
----------------------------------------------------------------------------------------
- posterior: ``a = x / 255``; ``a = relu(a @ W + b)`` per encoder hidden layer; ``out = a @ W
  + b``; ``mean = out[:L]``, ``std = clip(softplus(out[L:]), std_min, std_max)`` (float64,
  :func:`bbans_numba.portable.softplus`).
- features, once per image: ``h = decoder(z)``, (D, F) (``decoder.output.bias`` alone when
  L = 0).
- pixel network, per pixel: ``u = relu(b0 + h_i @ W0[N:] + n_i @ W0[:N])`` with ``n_i[j] =
  x[r + dy_j, c + dx_j] / 255`` (0 outside the image); ``u = relu(u @ W + b)`` per further
  hidden layer; ``raw = u @ W + b`` (3K).  (The per-image part ``b0 + h_i @ W0[N:]`` is
  not precomputed: each pixel uses its own once, so a separate pass would do the same
  multiply-adds plus a store and reload of (D, H1) floats per image.)
- head: ``w = softmax(raw[:K])``, ``mu = 255 raw[K:2K]``, ``inv_s = exp(-clip(raw[2K:],
  log_scale_min, log_scale_max))``; ``CDF(t) = sum_c w_c sigmoid((t - mu_c) inv_s_c)``.
- quantization (the per-symbol rule of :mod:`bbans_numba.quantize`):
  ``start(k) = k + floor(CDF(k - 0.5) (2**p - 256))`` for 0 < k < 256, ``start(0) = 0``,
  ``start(256) = 2**p``: every value gets frequency >= 1.

Bit identity of the two sides
-----------------------------
Compress (teacher forcing) and decompress (pixel by pixel) run the same loop, one kernel
(:func:`_pixels_kernel`, both sides, so the network's code is compiled once): for each pixel
``i``, :func:`_pixel_network` (inline) evaluates the network for all lanes at once (the inner
loops run across lanes, vectorized), then the jitted functions :func:`_mixture_params` and :func:`_symbol_start` give each lane's interval (ordinary
calls: inlining them into the search tripled the compile time).  The inputs are the same on
both sides: the neighbourhood reads only pixels before ``i`` (decoded by then) and h(z)
comes from the same latents.  Each float32 output is its bias, then ``+= input * weight``
over the inputs in ascending order, the same for every lane (inputs that are +0 in every
lane are skipped, which changes no bit: :func:`_pixel_network`); nothing is compiled with
``fastmath``, so LLVM neither reassociates nor fuses a multiply and an add.  So the lane
count, the batch size and the other lanes cannot change a bit (tests check it directly).
The per-image dense layers (:func:`bbans_numba.nn.dense`, then :func:`bbans_numba.nn.relu`) have the same property.

Order on the message
--------------------
Push (:func:`_push_kernel`): pixels ``D-1, D-2, ..., 0``, lanes ``0 .. L-1`` within each
pixel.  Pop (:func:`_pixels_kernel` decoding): pixels ``0 .. D-1``, lanes ``L-1 .. 0`` within each: the
exact mirror, so the stack unwinds.  Both code through the rANS steps of
:mod:`bbans_numba.rans` (:func:`~bbans_numba.rans.push_step`,
:func:`~bbans_numba.rans.pop_step`).

Examples
--------
>>> import numpy as np, bbans_numba as bb
>>> from bbans_numba.pixelvae import PixelVAEModel, random_arrays
>>> model = PixelVAEModel("tiny", random_arrays(image_shape=(4, 5), latent_dim=2, seed=0))
>>> images = np.arange(40, dtype=np.uint8).reshape(2, 4, 5) * 6
>>> mean, std = model.encode(images)
>>> codec = model.likelihood_codec(mean, precision_bits=16)
>>> message = bb.Message(num_lanes=2)
>>> codec.push(message, images.reshape(2, -1))
>>> bool(np.array_equal(codec.pop(message, num_steps=20), images.reshape(2, -1)))
True
>>> message == bb.Message(num_lanes=2)
True
"""

import json
from pathlib import Path

import numpy as np
from numba import njit

from . import nn, portable
from . import quantize as q
from .model import fingerprint_arrays
from .model_file import checked_config
from .pixelvae_config import FORMAT, PixelVAEConfig
from .rans import STATUS_ZERO_FREQUENCY, check_precision, pop_step, push_step, raise_for_status

__all__ = ["PixelVAEModel", "AutoregressivePixelCodec", "random_arrays", "FORMAT"]

LIKELIHOOD = "autoregressive_logistic_mixture"
NUM_SYMBOLS = 256  # 8-bit pixels
MIN_PRECISION_BITS = 8  # 2**p >= 256 symbols
# The network runs over the lanes rounded up to a multiple of this (zero lanes, ignored): LLVM's
# vector loops (16 floats, unrolled 4x with AVX-512) then never fall back to scalar remainders.
LANE_BLOCK = 64
SECANT_STEPS = 3  # pop: candidates tried by secant steps after the first guess, before bisection
_NO_RECORD_RAW = np.zeros((0, 0, 0), dtype=np.float32)
_NO_RECORD_INTERVALS = np.zeros((0, 0, 2), dtype=np.int64)
_NO_INTERVALS = np.zeros((0, 0), dtype=np.int64)  # starts, freqs of the decoding side
_NO_MESSAGE = (np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint32), np.zeros(2, dtype=np.int64))


# --- the per-pixel network and head (the same code on both sides) -------------------------------


@njit(cache=True, inline="always")
def _dense_lanes(inputs, rows, count, weights, layer, target, relu, nonzero_rows):
    """One dense layer for every lane: ``target[o, :] = relu?(bias[o] + sum_t inputs[rows[t], :]
    * kernel[rows[t], o])`` over ``t < count`` in that order; returns how many outputs are
    nonzero in some lane, listed in ``nonzero_rows`` (only with ``relu``).

    ``layer = (fan_in, fan_out, kernel_offset, bias_offset)`` locates the layer in the flat
    ``weights`` (kernel row-major, (fan_in, fan_out)).  Terms are added four per pass over
    the lanes, ``(((acc + a0 w0) + a1 w1) + a2 w2) + a3 w3``: the very operations of four
    passes, with a quarter of the loads and stores of the accumulator.
    """
    lanes = target.shape[1]
    fan_out, kernel_offset, bias_offset = layer[1], layer[2], layer[3]
    num_nonzero = 0
    for o in range(fan_out):
        bias = weights[bias_offset + o]
        for r in range(lanes):
            target[o, r] = bias
        t = 0
        while t + 4 <= count:
            k0, k1, k2, k3 = rows[t], rows[t + 1], rows[t + 2], rows[t + 3]
            w0 = weights[kernel_offset + k0 * fan_out + o]
            w1 = weights[kernel_offset + k1 * fan_out + o]
            w2 = weights[kernel_offset + k2 * fan_out + o]
            w3 = weights[kernel_offset + k3 * fan_out + o]
            for r in range(lanes):
                target[o, r] = (((target[o, r] + inputs[k0, r] * w0) + inputs[k1, r] * w1)
                                + inputs[k2, r] * w2) + inputs[k3, r] * w3
            t += 4
        while t < count:
            k0 = rows[t]
            w0 = weights[kernel_offset + k0 * fan_out + o]
            for r in range(lanes):
                target[o, r] += inputs[k0, r] * w0
            t += 1
        if relu:
            nonzero = False
            for r in range(lanes):
                value = max(target[o, r], np.float32(0))
                target[o, r] = value
                nonzero |= value != 0
            if nonzero:
                nonzero_rows[num_nonzero] = o
                num_nonzero += 1
    return num_nonzero


@njit(cache=True, inline="always")
def _pixel_network(i, pixels, features, neighbours, scaled, layout, weights, inputs, rows_a, rows_b, hidden_a,
                   hidden_b, raw):
    """The raw head outputs ``raw[:, r]`` (3K, lanes) of pixel ``i`` of every lane ``r``.

    Arrays are lane-minor, so every inner loop runs across lanes (vectorized): ``pixels``
    (D, lanes) uint8 must be known before ``i`` (``neighbours[i]`` lists the flat indices of
    the causal neighbourhood, -1 outside the image); ``features`` (D, F, lanes) is h(z).
    The network input ``v = concat(n_i, h_i)`` (N + F, lanes) goes into ``inputs``;
    ``layout[l] = (fan_in, fan_out, kernel_offset, bias_offset)`` locates each layer in the
    flat ``weights``, the last one the (linear) output layer; ``rows_*``, ``hidden_*`` are
    scratch.

    Every output of every lane is its bias, then ``+= input * weight`` over the layer's
    inputs in ascending order, then ReLU: the same operations whatever the lanes.  An input
    that is 0 in every lane (a neighbour outside the image, a unit dead in every lane) is
    skipped: that is bit-exact, because such an input is +0 (``x / 255`` of 0, or
    ``max(x, +0)``) and no accumulator is ever -0 (it starts at a bias, which is never -0,
    see :class:`PixelVAEModel`; a sum of nonzero values rounds to +0, never -0; adding
    ``+0 * w = ±0`` to a nonzero value or to +0 changes nothing): ``acc + (+0) * w == acc``.
    """
    lanes = pixels.shape[1]
    num_neighbours, num_features = neighbours.shape[1], features.shape[1]
    count = 0
    for k in range(num_neighbours):
        index = neighbours[i, k]
        if index >= 0:
            nonzero = 0
            for r in range(lanes):
                value = pixels[index, r]
                nonzero |= value
                inputs[k, r] = scaled[value]
            if nonzero:
                rows_a[count] = k
                count += 1
    for f in range(num_features):
        for r in range(lanes):
            inputs[num_neighbours + f, r] = features[i, f, r]
        rows_a[count] = num_neighbours + f
        count += 1
    last = layout.shape[0] - 1
    count = _dense_lanes(inputs, rows_a, count, weights, layout[0], hidden_a if last else raw, last > 0, rows_b)
    for layer in range(1, last + 1):  # hidden_a -> hidden_b -> hidden_a ... -> raw
        source, source_rows = (hidden_a, rows_b) if layer % 2 == 1 else (hidden_b, rows_a)
        target, target_rows = (hidden_b, rows_a) if layer % 2 == 1 else (hidden_a, rows_b)
        count = _dense_lanes(source, source_rows, count, weights, layout[layer], raw if layer == last else target,
                             layer < last, target_rows)


@njit(cache=True, nogil=True)
def _mixture_params(raw, lane, log_scale_min, log_scale_max, mixture):
    """Head outputs ``raw[:, lane]`` -> ``mixture[0] = weights`` (softmax), ``[1] = means``
    (pixel units), ``[2] = inverse scales``, float64, each (K,)."""
    components = mixture.shape[1]
    largest = -np.inf
    for c in range(components):
        largest = max(largest, np.float64(raw[c, lane]))
    total = 0.0
    for c in range(components):
        mixture[0, c] = portable.exp(np.float64(raw[c, lane]) - largest)
        total += mixture[0, c]
    for c in range(components):
        mixture[0, c] /= total
        mixture[1, c] = 255.0 * np.float64(raw[components + c, lane])
        log_scale = np.float64(raw[2 * components + c, lane])
        log_scale = log_scale_min if not log_scale >= log_scale_min else min(log_scale, log_scale_max)
        mixture[2, c] = portable.exp(-log_scale)


@njit(cache=True, nogil=True)
def _symbol_start(symbol, mixture, precision_bits):
    """``start(symbol)`` for ``0 <= symbol <= 256`` (module docstring): strictly increasing,
    since the CDF is a fixed-order sum of monotone terms and the rule adds ``symbol``."""
    if symbol <= 0:
        return np.int64(0)
    if symbol >= NUM_SYMBOLS:
        return np.int64(1) << precision_bits
    edge = symbol - 0.5
    cdf = 0.0
    for c in range(mixture.shape[1]):  # fixed order
        cdf += mixture[0, c] * portable.sigmoid((edge - mixture[1, c]) * mixture[2, c])
    return q.share_start(symbol, cdf, NUM_SYMBOLS, precision_bits)


@njit(cache=True, inline="always")
def _scratch(lanes, layout):
    """The work arrays of :func:`_pixel_network` and :func:`_mixture_params`:
    ``(inputs, rows_a, rows_b, hidden_a, hidden_b, raw, mixture)``."""
    widest = 0
    for layer in range(layout.shape[0]):  # (a loop: array.max() would compile NumPy's reduction)
        widest = max(widest, layout[layer, 0], layout[layer, 1])
    outputs = layout[-1, 1]
    return (np.zeros((layout[0, 0], lanes), dtype=np.float32), np.empty(widest, dtype=np.int64),
            np.empty(widest, dtype=np.int64), np.empty((widest, lanes), dtype=np.float32),
            np.empty((widest, lanes), dtype=np.float32), np.empty((outputs, lanes), dtype=np.float32),
            np.empty((3, outputs // 3), dtype=np.float64))


# --- finding the symbol that holds a slot -----------------------------------------------------


@njit(cache=True, inline="always")
def _guess_symbol(slot, mixture, precision_bits):
    """A guess of the value whose interval holds ``slot``: the components, taken in order of
    their means, share [0, 1) by weight; the slot's fraction picks one, whose logistic
    quantile at the remaining fraction is rounded.  Only a starting point: the search settles
    the exact value from exact starts, so this need not be exact (nor identical anywhere)."""
    components = mixture.shape[1]
    fraction = (np.float64(slot) + 0.5) / np.float64(np.int64(1) << precision_bits)
    chosen = -1
    below = 0.0  # weight of the components with smaller means than the candidate
    lowest = -np.inf
    for _ in range(components):  # selection in mean order, K small
        candidate = -1
        for c in range(components):
            if mixture[1, c] > lowest or (mixture[1, c] == lowest and c > chosen):
                if candidate < 0 or mixture[1, c] < mixture[1, candidate]:
                    candidate = c
        if candidate < 0:
            break
        chosen = candidate
        lowest = mixture[1, candidate]
        weight = mixture[0, candidate]
        if fraction < below + weight:
            break
        below += weight
    if chosen < 0 or not mixture[0, chosen] > 0.0:
        return NUM_SYMBOLS // 2
    local = (fraction - below) / mixture[0, chosen]
    local = min(max(local, 1e-12), 1.0 - 1e-12)
    value = mixture[1, chosen] + portable.log(local / (1.0 - local)) / mixture[2, chosen]
    if not value > 0.0:  # NaN too
        return 0
    if value >= NUM_SYMBOLS - 1:
        return NUM_SYMBOLS - 1
    return np.int64(value + 0.5)


@njit(cache=True, inline="always")
def _find_symbol(slot, mixture, precision_bits):
    """``(symbol, start, end)`` with ``start = start(symbol) <= slot < end = start(symbol + 1)``.

    Exact whatever the guesses: every step keeps the invariant ``start(low) = low_start <=
    slot < high_end = start(high + 1)`` and shrinks ``[low, high]``, which holds the answer
    (starts are strictly increasing).  Candidates: :func:`_guess_symbol`, then up to
    ``SECANT_STEPS`` secant steps (the local density ``start(c + 1) - start(c)`` of the last
    candidate predicts how many values lie between it and the slot; a candidate just above
    the slot is followed by its lower neighbour, the commonest miss), then bisection.
    """
    slot = np.int64(slot)
    low, low_start = 0, np.int64(0)
    high, high_end = NUM_SYMBOLS - 1, np.int64(1) << precision_bits
    candidate = _guess_symbol(slot, mixture, precision_bits)
    for _ in range(SECANT_STEPS + 1):
        start = low_start if candidate == low else _symbol_start(candidate, mixture, precision_bits)
        if start <= slot:
            end = high_end if candidate == high else _symbol_start(candidate + 1, mixture, precision_bits)
            if end > slot:
                return candidate, start, end
            density = end - start
            low, low_start = candidate + 1, end
            candidate = low + (slot - low_start) // density
        else:
            density = high_end - start if candidate == high else np.int64(0)
            high, high_end = candidate - 1, start
            candidate = high - (high_end - 1 - slot) // density if density > 0 else high
        if low == high:
            return low, low_start, high_end
        candidate = min(max(candidate, low), high)
    while low < high:  # bisection
        middle = (low + high + 1) >> 1
        middle_start = _symbol_start(middle, mixture, precision_bits)
        if middle_start <= slot:
            low, low_start = middle, middle_start
        else:
            high, high_end = middle - 1, middle_start
    return low, low_start, high_end


# --- kernels ----------------------------------------------------------------------------------
# Both take the network as ``pixels, features`` (per round, lane-minor, lanes padded to a
# multiple of LANE_BLOCK with zeros) and ``neighbours, scaled, layout, weights, log_scale_min,
# log_scale_max`` (per model, :attr:`PixelVAEModel._network`); ``num_lanes`` are real.


@njit(cache=True, nogil=True)
def _pixels_kernel(decode, num_lanes, pixels, features, neighbours, scaled, layout, weights, log_scale_min,
                   log_scale_max, precision_bits, heads, words, counters, starts, freqs, record_raw, record_intervals):
    """Both sides in one kernel, so that the pixel network (inline) is compiled once, not
    once per side (a cold start compiles both sides: compress, then decompress).

    ``decode`` False, compress side: the interval ``[starts, starts + freqs)`` (L, D) of every
    known pixel, teacher forced; returns the count of zero frequencies (0: see
    :func:`_symbol_start`); the message arrays are not touched.  ``decode`` True, decompress
    side: pop (D, L) pixels into ``pixels`` in raster order, lanes ``L-1 .. 0`` within each
    (the mirror of :func:`_push_kernel`) from the message ``heads, words, counters``;
    ``starts, freqs`` are not touched; returns 0.  Either side records each pixel's raw head
    outputs into ``record_raw`` (L, D, 3K) and the decoder its interval ``(start, end)`` into
    ``record_intervals`` (L, D, 2) unless they are empty.
    """
    num_pixels, lanes = pixels.shape
    inputs, rows_a, rows_b, hidden_a, hidden_b, raw, mixture = _scratch(lanes, layout)
    mask = (np.uint64(1) << np.uint64(precision_bits)) - np.uint64(1)
    tail, underflow = counters[0], counters[1]
    zero_count = 0
    for i in range(num_pixels):
        _pixel_network(i, pixels, features, neighbours, scaled, layout, weights, inputs, rows_a, rows_b, hidden_a,
                       hidden_b, raw)
        if decode:
            for lane in range(num_lanes - 1, -1, -1):
                _mixture_params(raw, lane, log_scale_min, log_scale_max, mixture)
                x = heads[lane]
                symbol, start, end = _find_symbol(x & mask, mixture, precision_bits)
                x, tail, underflow = pop_step(x, start, end - start, precision_bits, words, tail, underflow)
                heads[lane] = x
                pixels[i, lane] = symbol
                if record_intervals.shape[0] > 0:
                    record_intervals[lane, i, 0] = start
                    record_intervals[lane, i, 1] = end
        else:
            for lane in range(num_lanes):
                _mixture_params(raw, lane, log_scale_min, log_scale_max, mixture)
                symbol = np.int64(pixels[i, lane])
                start = _symbol_start(symbol, mixture, precision_bits)
                end = _symbol_start(symbol + 1, mixture, precision_bits)
                starts[lane, i] = start
                freqs[lane, i] = end - start
                if end <= start:
                    zero_count += 1
        if record_raw.shape[0] > 0:
            for lane in range(num_lanes):
                for o in range(raw.shape[0]):  # (a slice assignment would bring in libm's log10)
                    record_raw[lane, i, o] = raw[o, lane]
    if decode:
        counters[0], counters[1] = tail, underflow
    return zero_count


@njit(cache=True, nogil=True)
def _push_kernel(heads, words, counters, precision_bits, starts, freqs):
    """Push the (L, D) intervals: pixels ``D-1 .. 0``, lanes ``0 .. L-1`` within each (the
    caller made room for L * D words and checked every frequency >= 1)."""
    num_lanes, num_pixels = starts.shape
    tail, underflow = counters[0], counters[1]
    for i in range(num_pixels - 1, -1, -1):
        for lane in range(num_lanes):
            heads[lane], tail, underflow = push_step(heads[lane], starts[lane, i], freqs[lane, i], precision_bits,
                                                     words, tail, underflow)
    counters[0], counters[1] = tail, underflow


@njit(cache=True, nogil=True)
def _starts_kernel(raw, log_scale_min, log_scale_max, precision_bits, starts):
    """``starts[r, k] = start(k)``, k = 0..256, of every column of raw head outputs (3K, R)."""
    mixture = np.empty((3, raw.shape[0] // 3), dtype=np.float64)
    for r in range(raw.shape[1]):
        _mixture_params(raw, r, log_scale_min, log_scale_max, mixture)
        for symbol in range(NUM_SYMBOLS + 1):
            starts[r, symbol] = _symbol_start(symbol, mixture, precision_bits)


# --- Python side ------------------------------------------------------------------------------


def padded_lanes(lanes):
    """``lanes`` rounded up to a multiple of :data:`LANE_BLOCK` (the kernels' lane count).

    >>> padded_lanes(1), padded_lanes(64), padded_lanes(65)
    (64, 64, 128)
    """
    return -(-lanes // LANE_BLOCK) * LANE_BLOCK


def check_pixel_precision(precision_bits):
    """``precision_bits`` as int after checking ``8 <= precision_bits <= 31`` (ValueError)."""
    precision_bits = check_precision(precision_bits)
    if precision_bits < MIN_PRECISION_BITS:
        raise ValueError(f"precision_bits must be >= {MIN_PRECISION_BITS} for {NUM_SYMBOLS} pixel values")
    return precision_bits


def neighbour_table(image_shape, offsets):
    """(D, N) int32 flat index of each pixel's neighbour ``(dy, dx)``, -1 outside the image.

    Examples
    --------
    >>> neighbour_table((2, 2), [(-1, 0), (0, -1)]).tolist()
    [[-1, -1], [-1, 0], [0, -1], [1, 2]]
    """
    height, width = image_shape
    rows, cols = np.divmod(np.arange(height * width), width)
    table = np.full((height * width, len(offsets)), -1, dtype=np.int32)
    for j, (dy, dx) in enumerate(offsets):
        r, c = rows + dy, cols + dx
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        table[inside, j] = (r * width + c)[inside]
    return table


class PixelVAEModel:
    """A trained PixelVAE as the codec sees it (the interface of
    :class:`bbans_numba.model.CodingModel`, with :meth:`likelihood_codec` for p(x|z)).

    Loaded from a file by :func:`bbans_numba.model.load_model`, which reads every kind of
    model file through one checked path.

    Parameters
    ----------
    name : str
    arrays : dict
        name -> array of an exported model (``training.pixelvae.export_arrays``), with its
        JSON ``config``; float32 or float16 weights, checked against the config.
    path : str or pathlib.Path, optional
        Where the arrays came from (for messages).
    config : PixelVAEConfig, optional
        The parsed ``arrays["config"]`` when already known.

    Attributes
    ----------
    name, path, fingerprint (sha256 of the arrays, :func:`bbans_numba.model.fingerprint_arrays`),
    image_shape, latent_dim, num_pixels, likelihood (``"autoregressive_logistic_mixture"``),
    num_components, config (:class:`~bbans_numba.pixelvae_config.PixelVAEConfig`).
    """

    def __init__(self, name, arrays, path=None, config=None):
        self.path = Path(path) if path is not None else None
        config = checked_config(path if path is not None else name, arrays, config, kind=PixelVAEConfig)
        self.name = name
        self.config = config
        self.fingerprint = fingerprint_arrays(arrays)
        self.image_shape = config.image_shape
        self.num_pixels = config.num_pixels
        self.latent_dim = config.latent_dim
        self.features = config.features
        self.num_components = config.components
        self.likelihood = LIKELIHOOD
        self.offsets = list(config.offsets)
        self._std_range = config.std_range
        self._log_scale_range = config.log_scale_range
        layers = {key: np.ascontiguousarray(arrays[key], dtype=np.float32) for key in config.array_shapes()}
        for key in layers:  # -0.0 + 0.0 = +0.0: no bias is -0, so no accumulator ever is (_pixel_network)
            if key.endswith(".bias"):
                layers[key] = layers[key] + np.float32(0)
        self._encoder = [(layers[f"{n}.kernel"], layers[f"{n}.bias"])
                         for n in config.layer_names("encoder")] if self.latent_dim else []
        self._decoder = [(layers[f"{n}.kernel"], layers[f"{n}.bias"])
                         for n in config.layer_names("decoder")] if self.latent_dim else []
        self._decoder_bias = layers["decoder.output.bias"]
        pieces, layout, offset = [], [], 0
        for name in config.layer_names("pixel"):  # all in one flat array
            kernel, bias = layers[f"{name}.kernel"], layers[f"{name}.bias"]
            layout.append((kernel.shape[0], kernel.shape[1], offset, offset + kernel.size))
            pieces += [kernel.ravel(), bias]
            offset += kernel.size + bias.size
        self._layout = np.array(layout, dtype=np.int64)
        self._neighbours = neighbour_table(self.image_shape, self.offsets)
        self._scaled = np.arange(NUM_SYMBOLS, dtype=np.float32) / np.float32(255)
        # the arguments of the kernels after (pixels, features): see "kernels" above
        self._network = (self._neighbours, self._scaled, self._layout, np.concatenate(pieces).astype(np.float32),
                         *self._log_scale_range)

    def __repr__(self):
        return (f"PixelVAEModel(name={self.name!r}, image_shape={self.image_shape}, latent_dim={self.latent_dim}, "
                f"offsets={len(self.offsets)}, pixel_hidden={list(self.config.pixel_hidden)}, "
                f"components={self.num_components}, fingerprint={self.fingerprint[:12]}...)")

    # -- per-image networks (rows independent: batch size cannot change a bit) --------------
    @staticmethod
    def _mlp(x, layers):
        for kernel, bias in layers[:-1]:
            x = nn.dense(x, kernel, bias)
            nn.relu(x)
        kernel, bias = layers[-1]
        return nn.dense(x, kernel, bias)

    def encode(self, images):
        """Posterior q(z|x): ``(mean, std)``, float64 (B, latent_dim), for uint8 images (B, H, W)."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != self.image_shape:
            raise ValueError(f"encode expects uint8 images of shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {images.dtype} {images.shape}")
        if not self.latent_dim:
            return np.zeros((len(images), 0)), np.ones((len(images), 0))
        x = self._scaled[images.reshape(len(images), self.num_pixels)]
        raw = self._mlp(x, self._encoder)
        mean = raw[:, :self.latent_dim].astype(np.float64)
        std = nn.clipped_softplus(np.ascontiguousarray(raw[:, self.latent_dim:]), *self._std_range)
        return mean, std

    def pixel_features(self, z):
        """h(z): (B, D * F) float32 per-pixel features (pixel-major) for latents z (B, L)."""
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected latents of shape (B, {self.latent_dim}), got {z.shape}")
        if not self.latent_dim:
            return np.ascontiguousarray(np.broadcast_to(self._decoder_bias, (len(z), self._decoder_bias.size)))
        return self._mlp(np.ascontiguousarray(z, dtype=np.float32), self._decoder)

    def lane_features(self, features):
        """Decoder outputs h (B, D * F) lane-minor, (D, F, lanes) float32, lanes padded with
        zeros to a multiple of :data:`LANE_BLOCK` (the kernels' layout)."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.num_pixels * self.features:
            raise ValueError(f"features must have shape (lanes, {self.num_pixels * self.features}), "
                             f"got {features.shape}")
        h = features.reshape(len(features), self.num_pixels, self.features)
        out = np.zeros((self.num_pixels, self.features, padded_lanes(len(features))), dtype=np.float32)
        out[:, :, :len(features)] = h.transpose(1, 2, 0)
        return out

    def lane_pixels(self, pixels):
        """Checked pixels (lanes, D) as the kernels' (D, padded lanes) uint8 array."""
        pixels = self._check_pixels(pixels)
        out = np.zeros((self.num_pixels, padded_lanes(len(pixels))), dtype=np.uint8)
        out[:, :len(pixels)] = pixels.T
        return out

    def log_likelihood(self, images, z, precision_bits=None):
        """log p(x|z) in float64 nats per image, shape (B,), as the codec prices it: from the
        quantized intervals at ``precision_bits`` (default: the coding default,
        :attr:`bbans_numba.settings.CodingSettings.pixel_precision_bits`), so within ~1e-4
        bits/dim of the float pmf (the interface of :meth:`bbans_numba.model.CodingModel.log_likelihood`,
        which ``training.evaluate`` uses)."""
        from .settings import CodingSettings

        precision_bits = CodingSettings.pixel_precision_bits if precision_bits is None else precision_bits
        images = np.asarray(images)
        _, freqs = self.likelihood_codec(z, precision_bits).pixel_intervals(images.reshape(len(images), -1))
        return np.sum(np.log(freqs), axis=1) - freqs.shape[1] * precision_bits * np.log(2.0)

    def head_params(self, images, z):
        """Raw head outputs (B, D, 3K) float32 of every pixel, teacher forced (the compress path)."""
        return self.likelihood_codec(z, MIN_PRECISION_BITS).pixel_intervals(np.asarray(images).reshape(len(images), -1),
                                                                     record_raw=True)[2]

    def interval_starts(self, raw, precision_bits):
        """``start(k)`` for k = 0..256 (int64, ``raw.shape[:-1] + (257,)``) of raw head outputs
        (..., 3K): the whole quantized CDF of each pixel (for inspection and tests)."""
        precision_bits = check_pixel_precision(precision_bits)
        raw = np.asarray(raw, dtype=np.float32)
        if raw.ndim < 1 or raw.shape[-1] != 3 * self.num_components:
            raise ValueError(f"raw head outputs must have shape (..., {3 * self.num_components}), got {raw.shape}")
        columns = np.ascontiguousarray(raw.reshape(-1, raw.shape[-1]).T)
        starts = np.empty((columns.shape[1], NUM_SYMBOLS + 1), dtype=np.int64)
        _starts_kernel(columns, *self._log_scale_range, precision_bits, starts)
        return starts.reshape(raw.shape[:-1] + (NUM_SYMBOLS + 1,))

    def _check_pixels(self, pixels):
        pixels = np.asarray(pixels)
        if pixels.ndim != 2 or pixels.shape[1] != self.num_pixels:
            raise ValueError(f"pixels must have shape (lanes, {self.num_pixels}), got {pixels.shape}")
        if pixels.dtype != np.uint8:
            if pixels.dtype.kind not in "iu" or (pixels.size and (pixels.min() < 0 or pixels.max() > 255)):
                raise ValueError("pixels must be integers in [0, 255]")
        return np.ascontiguousarray(pixels, dtype=np.uint8)

    def likelihood_codec(self, z, precision_bits):
        """p(x|z) as a codec over (lanes, D) pixels, one lane per row of ``z`` (B, L)."""
        return AutoregressivePixelCodec(self, self.pixel_features(z), precision_bits)


class AutoregressivePixelCodec:
    """p(x | h) of a :class:`PixelVAEModel`'s pixel network over the lanes of a message, given
    the decoder's per-pixel features ``h`` (lanes, D * F): ``push(message, pixels)`` /
    ``pop(message, num_steps=D)`` (module docstring: order, bit identity)."""

    def __init__(self, model, features, precision_bits):
        self.precision_bits = check_pixel_precision(precision_bits)
        self.model = model
        self.num_lanes = len(features)
        self._features = model.lane_features(features)

    def _check_lanes(self, message):
        if message.num_lanes != self.num_lanes:
            raise ValueError(f"codec is for {self.num_lanes} lanes, the message has {message.num_lanes}")

    def intervals(self, message, pixels):
        """The codec protocol's ``(starts, freqs)`` (lanes, D) of ``pixels`` on ``message``'s lanes."""
        self._check_lanes(message)
        return self.pixel_intervals(pixels)

    def pixel_intervals(self, pixels, record_raw=False):
        """``(starts, freqs)`` int64 (lanes, D) of the pixels' intervals, and with
        ``record_raw`` the raw head outputs (lanes, D, 3K) too."""
        model = self.model
        pixels = model._check_pixels(pixels)
        if len(pixels) != self.num_lanes:
            raise ValueError(f"pixels are for {len(pixels)} lanes, the codec for {self.num_lanes}")
        starts = np.empty((self.num_lanes, model.num_pixels), dtype=np.int64)
        freqs = np.empty_like(starts)
        raw = (np.empty((self.num_lanes, model.num_pixels, 3 * model.num_components), dtype=np.float32)
               if record_raw else _NO_RECORD_RAW)
        zero_count = _pixels_kernel(False, self.num_lanes, model.lane_pixels(pixels), self._features, *model._network,
                                    self.precision_bits, *_NO_MESSAGE, starts, freqs, raw, _NO_RECORD_INTERVALS)
        if zero_count:  # cannot happen (strictly increasing starts): kept as a guard
            raise_for_status(STATUS_ZERO_FREQUENCY)
        return (starts, freqs, raw) if record_raw else (starts, freqs)

    def push(self, message, pixels):
        """Push ``pixels`` (lanes, D): pixel D-1 first, lanes 0..L-1 within each."""
        self._check_lanes(message)
        starts, freqs = self.pixel_intervals(pixels)
        _push_kernel(*message.kernel_arrays(reserve_words=starts.size), self.precision_bits, starts, freqs)

    def pop(self, message, num_steps=None, record=None):
        """Pop (lanes, D) pixels (uint8) in raster order.

        ``record``: an optional dict that receives ``"raw"`` (lanes, D, 3K) head outputs and
        ``"intervals"`` (lanes, D, 2) ``(start, end)`` as the decoder computed them (tests).
        """
        self._check_lanes(message)
        num_pixels = self.model.num_pixels
        if num_steps is not None and num_steps != num_pixels:
            raise ValueError(f"this codec pops whole images of {num_pixels} pixels, not {num_steps}")
        pixels = np.zeros((num_pixels, self._features.shape[2]), dtype=np.uint8)
        record_raw, record_intervals = _NO_RECORD_RAW, _NO_RECORD_INTERVALS
        if record is not None:
            record_raw = record["raw"] = np.zeros((self.num_lanes, num_pixels, 3 * self.model.num_components),
                                                  dtype=np.float32)
            record_intervals = record["intervals"] = np.zeros((self.num_lanes, num_pixels, 2), dtype=np.int64)
        _pixels_kernel(True, self.num_lanes, pixels, self._features, *self.model._network, self.precision_bits,
                       *message.kernel_arrays(), _NO_INTERVALS, _NO_INTERVALS, record_raw, record_intervals)
        return np.ascontiguousarray(pixels[:, :self.num_lanes].T)


def random_arrays(image_shape=(28, 28), latent_dim=16, features=4, encoder_hidden=(256,), decoder_hidden=(256,),
                  offsets=None, pixel_hidden=(64,), components=5, seed=0, weight_scale=1.0):
    """Arrays of a PixelVAE with random weights (He-scaled normal, times ``weight_scale``), in the
    exported layout: for tests and benchmarks without Keras.

    ``offsets`` default to 3 rows above at dx = -3..3 and 3 to the left (N = 24).
    """
    if offsets is None:
        offsets = [(dy, dx) for dy in range(-3, 0) for dx in range(-3, 4)] + [(0, -3), (0, -2), (0, -1)]
    config = dict(format=FORMAT, image_shape=list(image_shape), latent_dim=latent_dim, features=features,
                  encoder_hidden=list(encoder_hidden), decoder_hidden=list(decoder_hidden),
                  pixel_hidden=list(pixel_hidden), head="logistic", components=components,
                  offsets=[list(o) for o in offsets], log_scale_min=-4.0, log_scale_max=7.0, std_min=1e-6,
                  std_max=1e3)
    rng = np.random.default_rng(seed)
    arrays = {"config": np.array(json.dumps(config, sort_keys=True))}
    for name, shape in PixelVAEConfig.from_dict(config).array_shapes().items():
        fan_in = shape[0] if len(shape) == 2 else 1
        std = weight_scale * np.sqrt(2.0 / fan_in) if len(shape) == 2 else 0.1 * weight_scale
        arrays[name] = rng.normal(0.0, std, shape).astype(np.float32)
    return arrays
