"""The rANS step's invariants, asserted with BBANS_DEBUG_RANS=1 (bbans_numba.rans.DEBUG).

Numba freezes the switch into compiled code and its on-disk cache does not know it, so the
checked run is a process of its own with an empty cache of its own: every family pushes
and pops there, and a broken interval handed straight to a kernel trips an assertion.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import bbans_numba as bb
    from bbans_numba import codecs, rans

    assert rans.DEBUG
    rng = np.random.default_rng(0)
    lanes, steps = 5, 7
    per_symbol = (lanes, steps)
    every_family = [
        codecs.Uniform(8),
        codecs.Categorical(rng.dirichlet(np.ones(20)), 12),          # shared table, slot map
        codecs.Categorical(rng.dirichlet(np.ones(20)), 20),          # shared table, bisection
        codecs.Categorical(rng.dirichlet(np.ones(20), lanes), 12),   # per-lane tables
        codecs.CumulativeCategorical(rng.dirichlet(np.ones(20), lanes), 12),
        codecs.BetaBinomial(255, 2.0, 3.0, 16),                      # tables
        codecs.BetaBinomial(255, rng.gamma(1, 1, per_symbol), rng.gamma(1, 1, per_symbol), 16),
        codecs.DiscretizedLogisticMixture(rng.uniform(0, 255, per_symbol + (2,)), np.ones(per_symbol + (2,)),
                                          np.zeros(per_symbol + (2,)), 16),
        codecs.DiagGaussianStdBins(rng.normal(size=per_symbol), np.full(per_symbol, 0.3), 6, 14, "exact"),
        codecs.DiagGaussianStdBins(rng.normal(size=per_symbol), np.full(per_symbol, 0.3), 6, 14, "histogram"),
    ]
    message = bb.Message(lanes)
    for codec in every_family:  # pop first: bits back from the generator, then push back
        symbols = codec.pop(message, num_steps=steps)
        codec.push(message, symbols)
        codec.push(message, symbols)
        assert np.array_equal(codec.pop(message, num_steps=steps), symbols)
    assert message == bb.Message(lanes)
    message.push(np.arange(lanes), np.full(lanes, 3), 4)
    message.pop(np.arange(lanes), np.full(lanes, 3), 4)

    heads, words, counters = message.kernel_arrays(reserve_words=lanes)
    bad = rans.Intervals(np.full((lanes, 1), 14, dtype=np.uint32), np.full((lanes, 1), 3, dtype=np.uint32))
    try:  # start + freq = 17 > 2**4: a kernel would code garbage; the debug build refuses
        rans.push_kernel(heads, words, counters, 4, bad, bad.starts)
    except AssertionError as error:
        print("refused:", error)
    else:
        raise SystemExit("the debug build let an interval past 2**precision_bits through")
    """
)


def test_every_family_codes_with_the_step_invariants_asserted(tmp_path):
    env = dict(os.environ, BBANS_DEBUG_RANS="1", NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"), PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: start + freq > 2**p" in result.stdout
