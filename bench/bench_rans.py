"""Throughput of the rANS coder and codecs (Msym/s), side by side with constriction.

Not a test: a script.  Prints a Markdown table and writes JSON::

    python bench/bench_rans.py                  # 10M symbols per case, 256 lanes
    python bench/bench_rans.py --quick          # 1M symbols
    python bench/bench_rans.py --sweep          # also a lanes sweep for the fixed table

Cases (every symbol 256-way, precision 16 bits):

* ``fixed``: one shared table (Categorical, probs of shape (256,)), one push/pop call.
* ``categorical``: a different 256-way table per lane and step, as an autoregressive
  model's softmax gives them: ``Categorical(probs)`` built from (lanes, 256) float32 rows
  at every step and pushed (popped) one step at a time, always 784 lanes x 100 steps
  (quantization inside the timing; constriction quantizes the same float rows).
* ``cumulative``: the same rows through ``CumulativeCategorical`` (the per-symbol rule
  over running sums instead of largest remainder).
* ``betabinomial`` / ``logistic3``: a different table per symbol (BetaBinomial, n = 255;
  DiscretizedLogisticMixture, 3 components), coded in chunks of ``--chunk-steps`` steps
  x lanes as BB-ANS does per batch; building the codec (tables) is inside the timing.
* ``gauss-exact`` / ``gauss-histogram``: DiagGaussianStdBins, bucket_bits 8.

Every decode is checked (``np.array_equal`` and the message back to its empty state); a
row that fails says so.  ``bits/sym`` is the coded size (stream + heads, less the empty
message) per symbol; ``ideal`` is the cross-entropy ``-mean log2 p(symbol)`` under the
unquantized distribution.  Timings: one warm-up (Numba compile), then ``--repeats`` runs,
median reported (the machine may be shared: look at the spread).  The message bytes of
every case at a fixed small size and seed (:func:`regression_hashes`) are pinned by
``tests/test_pinned_bytes.py``: speed work must not change a single bit.
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from scipy import special, stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bbans_numba as bb  # noqa: E402
from bbans_numba import codecs, quantize  # noqa: E402
from bbans_numba.families import beta_binomial  # noqa: E402

try:
    import constriction
except ImportError:  # rows for constriction are skipped
    constriction = None

PRECISION = 16
NUM_SYMBOLS = 256
BUCKET_BITS = 8
COMPONENTS = 3



# --- data ---------------------------------------------------------------------------------


def _pixel_probs(rng):
    """A fixed 256-way table shaped like pixel statistics (a peak at 0, a bump, a floor)."""
    k = np.arange(NUM_SYMBOLS)
    probs = 0.5 * np.exp(-k / 3.0) + 0.3 * np.exp(-((k - 200) / 25.0) ** 2) + 1e-4 + 0.01 * rng.random(NUM_SYMBOLS)
    return probs / probs.sum()


def ideal_bits(name, d):
    """Cross-entropy ``-mean log2 p(symbol)`` (bits) under the unquantized distribution."""
    symbols = d["symbols"]
    if name == "fixed":
        return float(-np.mean(np.log2(d["probs"][symbols])))
    if name in ("categorical", "cumulative"):
        rows = np.take_along_axis(d["rows"], symbols[..., None], axis=-1)[..., 0]
        return float(-np.mean(np.log2(rows / d["rows"].sum(axis=-1))))
    if name == "betabinomial":
        return float(-np.mean(stats.betabinom.logpmf(symbols, NUM_SYMBOLS - 1, d["alpha"], d["beta"])) / np.log(2))
    if name == "logistic3":
        weights = special.softmax(d["logits"], axis=-1)

        def mixture_cdf(edge):
            return np.sum(weights * special.expit((edge[..., None] - d["means"]) * np.exp(-d["log_scales"])), axis=-1)

        upper = np.where(symbols == NUM_SYMBOLS - 1, 1.0, mixture_cdf(symbols + 0.5))
        lower = np.where(symbols == 0, 0.0, mixture_cdf(symbols - 0.5))
        return float(-np.mean(np.log2(np.maximum(upper - lower, 1e-300))))
    outer = np.concatenate(([-np.inf], quantize.std_normal_bucket_edges(BUCKET_BITS), [np.inf]))
    mean, std = d["mean"], d["std"]
    mass = special.ndtr((outer[symbols + 1] - mean) / std) - special.ndtr((outer[symbols] - mean) / std)
    return float(-np.mean(np.log2(np.maximum(mass, 1e-300))))


def make_case(name, num_lanes, num_steps, rng):
    """Symbols (L, S) and parameters (per symbol, or one table) for one case, plus the
    ideal bits/symbol."""
    shape = (num_lanes, num_steps)
    if name == "fixed":
        probs = _pixel_probs(rng)
        data = {"symbols": rng.choice(NUM_SYMBOLS, size=shape, p=probs), "probs": probs}
    elif name in ("categorical", "cumulative"):  # peaked rows around a random centre, with a floor
        centre = rng.uniform(0.0, 255.0, shape + (1,))
        width = np.exp(rng.uniform(0.0, 4.0, shape + (1,)))
        rows = np.exp(-0.5 * ((np.arange(NUM_SYMBOLS) - centre) / width) ** 2) + 1e-4 * rng.random(shape + (NUM_SYMBOLS,))
        rows = rows.astype(np.float32)  # as a softmax head gives them; both coders read the same floats
        cumulative = np.cumsum(rows, axis=-1)
        draw = rng.random(shape + (1,)) * cumulative[..., -1:]
        symbols = np.minimum((cumulative < draw).sum(axis=-1), NUM_SYMBOLS - 1)
        data = {"symbols": symbols, "rows": rows}
    elif name == "betabinomial":
        alpha = np.exp(rng.uniform(-1.0, 3.0, shape))
        beta = np.exp(rng.uniform(-1.0, 3.0, shape))
        data = {"symbols": rng.binomial(NUM_SYMBOLS - 1, rng.beta(alpha, beta)), "alpha": alpha, "beta": beta}
    elif name == "logistic3":
        means = rng.uniform(0.0, 255.0, shape + (COMPONENTS,))
        log_scales = rng.uniform(0.0, 3.0, shape + (COMPONENTS,))
        logits = rng.normal(0.0, 1.0, shape + (COMPONENTS,))
        cumulative = np.cumsum(special.softmax(logits, axis=-1), axis=-1)
        component = np.minimum((rng.random(shape)[..., None] > cumulative).sum(axis=-1), COMPONENTS - 1)
        pick = lambda a: np.take_along_axis(a, component[..., None], axis=-1)[..., 0]  # noqa: E731
        u = rng.uniform(1e-12, 1.0 - 1e-12, shape)
        x = pick(means) + np.exp(pick(log_scales)) * np.log(u / (1.0 - u))
        symbols = np.clip(np.round(x), 0, NUM_SYMBOLS - 1).astype(np.int64)
        data = {"symbols": symbols, "means": means, "log_scales": log_scales, "logits": logits}
    elif name.startswith("gauss"):
        mean = rng.normal(0.0, 1.0, shape)
        std = np.exp(rng.uniform(np.log(0.05), np.log(1.0), shape))
        # Sample through the histogram quantizer's points so every symbol has freq >= 1
        # under both quantizers.
        points = quantize.histogram_points(PRECISION)
        values = mean + std * points[rng.integers(0, points.size, shape)]
        symbols = np.searchsorted(quantize.std_normal_bucket_edges(BUCKET_BITS), values, side="right")
        data = {"symbols": symbols.astype(np.int64), "mean": mean, "std": std}
    else:
        raise ValueError(name)
    data["ideal"] = ideal_bits(name, data)
    return data


def build_codec(name, data, step_slice):
    """The bbans_numba codec for steps ``step_slice`` of a case (table building)."""
    if name == "fixed":
        return codecs.Categorical(data["probs"], PRECISION)
    part = lambda key: data["chunks"][key][step_slice]  # noqa: E731
    if name == "categorical":
        return codecs.Categorical(part("rows"), PRECISION)
    if name == "cumulative":
        return codecs.CumulativeCategorical(part("rows")[:, 0], PRECISION)  # one step per chunk
    if name == "betabinomial":
        return codecs.BetaBinomial(NUM_SYMBOLS - 1, part("alpha"), part("beta"), PRECISION)
    if name == "logistic3":
        return codecs.DiscretizedLogisticMixture(part("means"), part("log_scales"), part("logits"), PRECISION)
    method = name.split("-")[1]
    return codecs.DiagGaussianStdBins(part("mean"), part("std"), BUCKET_BITS, PRECISION, method=method)


def split_chunks(name, data, chunk_steps):
    """Contiguous per-chunk copies of symbols and parameters (done outside the timing)."""
    num_steps = data["symbols"].shape[1]
    bounds = [(s, min(s + chunk_steps, num_steps)) for s in range(0, num_steps, chunk_steps)]
    if name == "fixed":
        bounds = [(0, num_steps)]
    keys = [k for k in data if k not in ("probs", "ideal", "chunks")]
    data["chunks"] = {k: [np.ascontiguousarray(data[k][:, a:b]) for a, b in bounds] for k in keys}
    return len(bounds)


# --- bbans_numba runs ---------------------------------------------------------------------


def encode(name, data, num_lanes):
    message = bb.Message(num_lanes)
    for index, symbols in enumerate(data["chunks"]["symbols"]):
        build_codec(name, data, index).push(message, symbols)
    return message


def decode(name, data, message):
    chunks = data["chunks"]["symbols"]
    out = [None] * len(chunks)
    for index in range(len(chunks) - 1, -1, -1):
        out[index] = build_codec(name, data, index).pop(message, num_steps=chunks[index].shape[1])
    return out  # per chunk: joining them is not the codec's work


def same_symbols(chunks, symbols):
    return bool(np.array_equal(np.concatenate(chunks, axis=1), symbols))


def timed(function, repeats, setup=None):
    """(median seconds, all seconds, last result) of ``repeats`` runs after one warm-up."""
    times, result = [], None
    for run in range(repeats + 1):
        argument = setup() if setup else None
        begin = time.perf_counter()
        result = function(argument)
        elapsed = time.perf_counter() - begin
        if run:  # run 0 is the warm-up (compilation, caches)
            times.append(elapsed)
    return statistics.median(times), times, result


def run_ours(name, num_lanes, num_symbols, chunk_steps, repeats, rng):
    num_steps = max(1, num_symbols // num_lanes)
    data = make_case(name, num_lanes, num_steps, rng)
    split_chunks(name, data, chunk_steps)
    total = num_lanes * num_steps
    empty = bb.Message(num_lanes).to_bytes()
    enc_time, enc_all, message = timed(lambda _: encode(name, data, num_lanes), repeats)
    bits = message.num_bits() - 64 * num_lanes
    encoded = message.to_bytes()
    dec_time, dec_all, decoded = timed(
        lambda m: decode(name, data, m), repeats, setup=lambda: bb.Message.from_bytes(encoded)
    )
    replay = bb.Message.from_bytes(encoded)
    ok = same_symbols(decode(name, data, replay), data["symbols"]) and replay.to_bytes() == empty
    ok = ok and same_symbols(decoded, data["symbols"])
    return {
        "case": name, "coder": "bbans_numba", "lanes": num_lanes, "symbols": total,
        "encode_msym_s": total / enc_time / 1e6, "decode_msym_s": total / dec_time / 1e6,
        "encode_s": enc_all, "decode_s": dec_all,
        "bits_per_symbol": bits / total, "ideal_bits_per_symbol": data["ideal"], "decode_ok": ok,
    }  # fmt: skip


# --- constriction runs --------------------------------------------------------------------


def flat_prefix(data, rows):
    """The first ``rows`` symbols (lane-major) of a case and their parameters, flattened."""
    return {k: v.reshape(-1, *v.shape[2:])[:rows] for k, v in data.items() if isinstance(v, np.ndarray) and k != "probs"}


def constriction_probs(name, prefix):
    """Float32 probability rows (rows, 256): our quantized tables of the same case."""
    if name in ("categorical", "cumulative"):  # the float rows themselves: constriction quantizes them
        return prefix["rows"]
    if name == "betabinomial":
        freqs = np.diff(beta_binomial.beta_binomial_cdf(prefix["alpha"], prefix["beta"], NUM_SYMBOLS - 1, PRECISION), axis=-1)
    elif name == "logistic3":
        freqs = codecs.DiscretizedLogisticMixture(prefix["means"], prefix["log_scales"], prefix["logits"], PRECISION).freqs
    else:
        method = name.split("-")[1]
        freqs = codecs.DiagGaussianStdBins(prefix["mean"], prefix["std"], BUCKET_BITS, PRECISION, method=method).freqs
        freqs = np.maximum(freqs, 1)  # histogram zeros; constriction gives every symbol >= 1 anyway
    return (freqs / freqs.sum(axis=-1, keepdims=True)).astype(np.float32)


def run_constriction(name, num_symbols, repeats, rng, chunk_rows=1 << 16):
    """constriction's AnsCoder on the same case: one concrete Categorical for the fixed
    table, the ``Categorical(perfect=False)`` family with a 2-D probability array (one row
    per symbol, precomputed outside the timing, in chunks of ``chunk_rows``) otherwise."""
    model, stack = constriction.stream.model, constriction.stream.stack
    data = make_case(name, 1, num_symbols, rng)
    symbols = data["symbols"].reshape(-1).astype(np.int32)
    if name == "fixed":
        fixed_model = model.Categorical(data["probs"].astype(np.float32), perfect=False)
        note = "concrete Categorical"
    else:
        family = model.Categorical(perfect=False)
        probs = constriction_probs(name, flat_prefix(data, symbols.size))
        bounds = [(a, min(a + chunk_rows, symbols.size)) for a in range(0, symbols.size, chunk_rows)]
        note = "Categorical family, float32 rows precomputed (not timed)"

    def enc(_):
        coder = stack.AnsCoder()
        if name == "fixed":
            coder.encode_reverse(symbols, fixed_model)
        else:
            for a, b in reversed(bounds):
                coder.encode_reverse(symbols[a:b], family, probs[a:b])
        return coder.get_compressed()

    def dec(compressed):
        coder = stack.AnsCoder(compressed)
        if name == "fixed":
            return coder.decode(fixed_model, symbols.size)
        return np.concatenate([coder.decode(family, probs[a:b]) for a, b in bounds])

    enc_time, enc_all, compressed = timed(enc, repeats)
    dec_time, dec_all, decoded = timed(dec, repeats, setup=lambda: compressed.copy())
    total = symbols.size
    return {
        "case": name, "coder": "constriction", "lanes": 1, "symbols": total,
        "encode_msym_s": total / enc_time / 1e6, "decode_msym_s": total / dec_time / 1e6,
        "encode_s": enc_all, "decode_s": dec_all,
        "bits_per_symbol": 32.0 * compressed.size / total, "ideal_bits_per_symbol": data["ideal"],
        "decode_ok": bool(np.array_equal(decoded, symbols)), "note": note,
    }  # fmt: skip


# --- where the time goes ------------------------------------------------------------------


def breakdown(num_lanes, num_symbols, chunk_steps, repeats, rng):
    """Split encode/decode of the fixed, categorical and beta-binomial cases into their stages."""
    num_steps = max(1, num_symbols // num_lanes)
    total = num_lanes * num_steps
    rows = []

    def stage(label, function, setup=None, symbols=total):
        seconds, _, _ = timed(function, repeats, setup)
        rows.append({"stage": label, "seconds": seconds, "ns_per_symbol": 1e9 * seconds / symbols})

    # categorical: a new (lanes, 256) table per step, one step per call (as in run_ours)
    cat_lanes, cat_steps = CATEGORICAL_SHAPE
    cat = make_case("categorical", cat_lanes, cat_steps, rng)
    split_chunks("categorical", cat, 1)
    steps = list(zip(cat["chunks"]["rows"], cat["chunks"]["symbols"]))
    built = [codecs.Categorical(r, PRECISION) for r, _ in steps]
    cat_total = cat_lanes * cat_steps
    stage("categorical: quantize each step's rows (quantized_cdf)", lambda _: [quantize.quantized_cdf(r, PRECISION) for r, _ in steps], symbols=cat_total)  # fmt: skip
    stage("categorical: build each step's codec (Categorical)", lambda _: [codecs.Categorical(r, PRECISION) for r, _ in steps], symbols=cat_total)  # fmt: skip

    def push_all(message):
        for codec, (_, s) in zip(built, steps):
            codec.push(message, s)
        return message

    stage("categorical: push, codecs built (tables cold)", push_all, setup=lambda: bb.Message(cat_lanes), symbols=cat_total)
    encoded = push_all(bb.Message(cat_lanes)).to_bytes()
    stage(
        "categorical: pop, codecs built (tables cold)",
        lambda m: [c.pop(m, num_steps=1) for c in reversed(built)],
        setup=lambda: bb.Message.from_bytes(encoded), symbols=cat_total,
    )  # fmt: skip

    fixed = make_case("fixed", num_lanes, num_steps, rng)
    codec = codecs.Categorical(fixed["probs"], PRECISION)
    message = bb.Message(num_lanes)
    starts, freqs = codec.intervals(message, fixed["symbols"])
    stage("fixed: intervals (table lookup; generic path only)", lambda _: codec.intervals(message, fixed["symbols"]))
    stage(
        "fixed: push kernel given intervals (division; generic path)",
        lambda m: m.push_batch(starts, freqs, PRECISION),
        setup=lambda: bb.Message(num_lanes),
    )
    stage("fixed: push (fused, reciprocals)", lambda m: codec.push(m, fixed["symbols"]), setup=lambda: bb.Message(num_lanes))
    codec.push(message, fixed["symbols"])
    encoded = message.to_bytes()
    stage("fixed: pop (slot table)", lambda m: codec.pop(m, num_steps), setup=lambda: bb.Message.from_bytes(encoded))

    data = make_case("betabinomial", num_lanes, num_steps, rng)
    split_chunks("betabinomial", data, chunk_steps)
    chunks = data["chunks"]
    stage(
        "betabinomial: whole tables (beta_binomial_cdf; not on the coding path)",
        lambda _: [beta_binomial.beta_binomial_cdf(a, b, NUM_SYMBOLS - 1, PRECISION) for a, b in zip(chunks["alpha"], chunks["beta"])],
    )  # fmt: skip
    built = [build_codec("betabinomial", data, i) for i in range(len(chunks["symbols"]))]
    intervals = [c.intervals(message, s) for c, s in zip(built, chunks["symbols"])]
    stage(
        "betabinomial: intervals (recurrence + running sums, per symbol)",
        lambda _: [c.intervals(message, s) for c, s in zip(built, chunks["symbols"])],
    )
    stage(
        "betabinomial: push kernel (given the intervals)",
        lambda m: [m.push_batch(a, f, PRECISION) for a, f in intervals],
        setup=lambda: bb.Message(num_lanes),
    )
    pushed = bb.Message(num_lanes)
    for c, s in zip(built, chunks["symbols"]):
        c.push(pushed, s)
    encoded = pushed.to_bytes()
    stage(
        "betabinomial: pop (recurrence + running sums + search + pop, per step)",
        lambda m: [c.pop(m, num_steps=s.shape[1]) for c, s in reversed(list(zip(built, chunks["symbols"])))],
        setup=lambda: bb.Message.from_bytes(encoded),
    )
    stage(
        "betabinomial: pop kernel alone (given the intervals)",
        lambda m: [m.pop_batch(a, f, PRECISION) for a, f in reversed(intervals)],
        setup=lambda: bb.Message.from_bytes(encoded),
    )
    return rows


# --- regression hashes --------------------------------------------------------------------


def regression_hashes(cases):
    """sha256 of the encoded message of each case at a fixed small size and seed, plus
    variants that take other kernel paths (precision 20: no slot table; per-lane tables;
    Uniform; one lane)."""
    hashes = {}
    digest = lambda message: hashlib.sha256(message.to_bytes()).hexdigest()  # noqa: E731
    for name in cases:
        rng = np.random.default_rng(1234)
        data = make_case(name, 64, 1024, rng)
        split_chunks(name, data, 64)
        hashes[name] = digest(encode(name, data, 64))
    rng = np.random.default_rng(1234)
    probs = _pixel_probs(rng)
    symbols = rng.choice(NUM_SYMBOLS, size=(64, 1024), p=probs)
    variants = {
        "fixed-p20": (codecs.Categorical(probs, 20), symbols),
        "per-lane-table": (codecs.Categorical(rng.dirichlet(np.ones(NUM_SYMBOLS), 64), 16), symbols),
        "uniform": (codecs.Uniform(8), symbols),
        "fixed-1-lane": (codecs.Categorical(probs, 16), symbols[:1]),
    }
    for name, (codec, values) in variants.items():
        message = bb.Message(values.shape[0])
        codec.push(message, values)
        hashes[name] = digest(message)
    return hashes


# --- main ---------------------------------------------------------------------------------

# The cases whose coded bytes tests/test_pinned_bytes.py pins (see regression_hashes).
CASES = ["fixed", "betabinomial", "logistic3", "gauss-exact", "gauss-histogram"]
# ``categorical`` and ``cumulative`` always code this many lanes x steps, one step per call.
CATEGORICAL_SHAPE = (784, 100)
ALL_CASES = ["fixed", "categorical", "cumulative", "betabinomial", "logistic3", "gauss-exact", "gauss-histogram"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown_table(rows):
    lines = [
        "| case | coder | lanes | symbols | encode Msym/s | decode Msym/s | bits/sym | ideal | overhead | decode |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        overhead = 100.0 * (r["bits_per_symbol"] / r["ideal_bits_per_symbol"] - 1.0)
        lines.append(
            f"| {r['case']} | {r['coder']} | {r['lanes']} | {r['symbols']:,} | {r['encode_msym_s']:.1f} | "
            f"{r['decode_msym_s']:.1f} | {r['bits_per_symbol']:.4f} | {r['ideal_bits_per_symbol']:.4f} | "
            f"{overhead:+.2f}% | {'ok' if r['decode_ok'] else 'FAILED'} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=10_000_000, help="symbols per case (default 10M)")
    parser.add_argument("--quick", action="store_true", help="1M symbols, 3 repeats")
    parser.add_argument("--lanes", type=int, default=256, help="lanes (interleaved rANS states), default 256")
    parser.add_argument("--chunk-steps", type=int, default=64, help="steps per codec build for per-symbol cases")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up; median reported")
    parser.add_argument("--constriction-symbols", type=int, default=500_000,
                        help="symbols for constriction's per-symbol-table rows (float rows are precomputed)")  # fmt: skip
    parser.add_argument("--cases", default=",".join(ALL_CASES), help="comma-separated subset of " + ",".join(ALL_CASES))
    parser.add_argument("--sweep", action="store_true", help="lanes sweep for the fixed table")
    parser.add_argument("--breakdown", action="store_true", help="time the stages of the fixed, categorical and beta-binomial cases")
    parser.add_argument("--threads", type=int, default=0,
                        help="Numba threads for the parallel table/interval kernels (default: all cores)")  # fmt: skip
    parser.add_argument("--no-constriction", action="store_true")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "bench_rans.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.symbols, args.repeats = 1_000_000, 3
    if args.threads:
        __import__("numba").set_num_threads(args.threads)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(ALL_CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_rans: {os.cpu_count()} cores, {cpu_model()}, numba threads "
          f"{__import__('numba').get_num_threads()}, load average {load:.2f}, python {platform.python_version()}")  # fmt: skip
    print(f"symbols/case {args.symbols:,}, lanes {args.lanes}, precision {PRECISION}, chunk {args.chunk_steps} steps, "
          f"median of {args.repeats} after 1 warm-up")  # fmt: skip
    have_constriction = constriction is not None and not args.no_constriction
    if not have_constriction:
        print("constriction: not installed (or disabled): its rows are skipped")


    rows = []
    for name in cases:
        lanes, size, chunk_steps = args.lanes, args.symbols, args.chunk_steps
        if name in ("categorical", "cumulative"):
            lanes, size, chunk_steps = CATEGORICAL_SHAPE[0], CATEGORICAL_SHAPE[0] * CATEGORICAL_SHAPE[1], 1
        rows.append(run_ours(name, lanes, size, chunk_steps, args.repeats, np.random.default_rng(7)))
        if have_constriction:
            if name not in ("fixed", "categorical", "cumulative"):
                size = min(size, args.constriction_symbols)
            rows.append(run_constriction(name, size, args.repeats, np.random.default_rng(7)))
        print(markdown_table(rows[-2 if have_constriction else -1 :]).split("\n", 2)[-1], flush=True)
    print()
    print(markdown_table(rows))

    ratios = {}
    if have_constriction:
        for name in cases:
            ours = next(r for r in rows if r["case"] == name and r["coder"] == "bbans_numba")
            theirs = next(r for r in rows if r["case"] == name and r["coder"] == "constriction")
            ratios[name] = {k: ours[k] / theirs[k] for k in ("encode_msym_s", "decode_msym_s")}
        print()
        print("speed-up over constriction (encode / decode): "
              + ", ".join(f"{n} {v['encode_msym_s']:.1f}x / {v['decode_msym_s']:.1f}x" for n, v in ratios.items()))  # fmt: skip

    sweep = []
    if args.sweep:
        print()
        for lanes in (1, 4, 16, 64, 256, 1024, 4096):
            sweep.append(run_ours("fixed", lanes, args.symbols, args.chunk_steps, args.repeats, np.random.default_rng(7)))
        print("lanes sweep, fixed table:")
        print(markdown_table(sweep))

    stages = []
    if args.breakdown:
        stages = breakdown(args.lanes, args.symbols, args.chunk_steps, args.repeats, np.random.default_rng(7))
        print()
        print("| stage | seconds | ns/symbol |\n|---|---:|---:|")
        for s in stages:
            print(f"| {s['stage']} | {s['seconds']:.4f} | {s['ns_per_symbol']:.2f} |")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as handle:
        json.dump({
            "machine": {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
            "settings": vars(args), "rows": rows, "speedup_vs_constriction": ratios, "lanes_sweep": sweep,
            "breakdown": stages,
        }, handle, indent=1)  # fmt: skip
    print(f"\nwrote {args.json}")
    failed = [r for r in rows + sweep if not r["decode_ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
