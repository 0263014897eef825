"""Distribution families: each says, for one symbol, where its interval lies and which
symbol holds a slot; the generic kernels of :mod:`bbans_numba.rans` code them.

A family is one small module: a parameter class (a namedtuple deriving from
:class:`bbans_numba.rans.Model`: Numba compiles the generic kernels once per class, the
first time it is coded) and inline jitted functions registered with
:func:`bbans_numba.rans.register_family` (``start``, or ``interval`` and ``quantile``;
the protocol is written out next to that function).  The codecs of
:mod:`bbans_numba.codecs` check arguments and build a model; kernels know nothing of
codecs.

=====================  ==========================================================
``uniform``            all symbols equally likely
``categorical``        quantized CDF tables: shared (division-free push, slot map),
                       per lane, per lane and step
``cumulative``         the per-symbol rule over float cumulative masses of a row
                       (row-level functions for kernels that build rows themselves)
``beta_binomial``      beta-binomial pixels: whole tables, or table-free per symbol
``logistic``           discretized logistic mixtures (per-symbol rule)
``gaussian``           N(mean, std) over equal-mass standard-normal buckets, exact or
                       histogram quantizer
=====================  ==========================================================

Submodules are imported where used, so a family compiles only when it is coded.
"""
