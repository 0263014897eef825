"""Find platform-dependent math in compiled Numba kernels, from their LLVM IR and assembly.

A frequency table must come out bit-identical on every machine, so the coding path may use
only IEEE-754 basic operations (see ``bbans_numba.portable``).  :func:`inspect_dispatchers`
compiles a fresh, uncached copy of each jitted function for each signature it was compiled
for (Numba cannot show the IR of code loaded from its cache), and reports:

``libm call``
    a call to (or the address of) a libm transcendental, in any spelling: ``exp``,
    ``expf``, ``numba_erf``, ``__exp_finite``, ``__svml_exp8``... (:data:`LIBM_FUNCTIONS`).
``math intrinsic``
    an LLVM intrinsic that computes a transcendental or fuses operations
    (:data:`DENIED_INTRINSICS`: ``llvm.exp.*``, ``llvm.log.*``, ``llvm.pow.*``,
    ``llvm.fma.*``, ``llvm.fmuladd.*``...).
``unlisted intrinsic``
    an LLVM intrinsic in neither list: decide which list it belongs to.
``unknown function``
    a call to an external function that is neither Numba's runtime nor the Python C API
    (:data:`ALLOWED_EXTERNAL`): decide whether it is harmless.
``fast-math flag``
    ``fast``, ``reassoc``, ``contract``, ``afn``, ``arcp``, ``nnan``, ``ninf`` or ``nsz`` on a
    float instruction (these let LLVM change results), or a function attribute that does
    the same (``"unsafe-fp-math"="true"``...).
``fma instruction``
    a fused multiply-add in the machine code (x86 ``vfmadd...``, ARM ``fmadd``/``fmla``,
    POWER ``xsmadd...``).

Allowed, because IEEE-754 defines them exactly (:data:`ALLOWED_INTRINSICS`, and the same
names as libm calls): ``sqrt``, ``fabs``, ``floor``, ``ceil``, ``trunc``, ``rint``,
``nearbyint``, ``round``, ``copysign``, ``minnum``/``maxnum``/``minimum``/``maximum``,
``fmod``/``remainder``; integer, memory and vector-shuffling intrinsics; ordered vector
reductions (a reassociating one carries ``reassoc`` and is reported).

Examples
--------
>>> scan_llvm_ir("%r = call double @llvm.exp.f64(double %x)\\ndeclare double @llvm.exp.f64(double)")
[('math intrinsic', 'llvm.exp.f64')]
>>> scan_llvm_ir("%r = fmul contract double %a, %b")
[('fast-math flag', 'fmul contract')]
>>> scan_llvm_ir("%r = call double @llvm.sqrt.f64(double %x)\\n%s = fadd double %r, 1.0")
[]
"""

import dataclasses
import importlib
import pkgutil
import re
import warnings

import numba
from numba.core.registry import CPUDispatcher

LIBM_FUNCTIONS = frozenset("""
    exp exp2 exp10 expm1 log log2 log10 log1p logb ilogb pow powi cbrt hypot
    sin cos tan asin acos atan atan2 sinh cosh tanh asinh acosh atanh sincos
    erf erfc tgamma lgamma gamma lgamma_r j0 j1 jn y0 y1 yn ldexp frexp scalbn scalbln fma
""".split())
# Exact by IEEE-754: allowed as calls too (libm's sqrt is correctly rounded everywhere).
EXACT_FUNCTIONS = frozenset("""
    sqrt fabs floor ceil trunc rint nearbyint round lround llround lrint llrint roundeven
    copysign fmin fmax fmod remainder modf nextafter
""".split())
DENIED_INTRINSICS = frozenset("""
    exp exp2 exp10 log log2 log10 pow powi sin cos tan asin acos atan atan2 sinh cosh tanh
    sincos fma fmuladd ldexp frexp
""".split())
ALLOWED_INTRINSICS = frozenset("""
    sqrt fabs floor ceil trunc rint nearbyint round roundeven lround llround lrint llrint
    copysign minnum maxnum minimum maximum canonicalize is.fpclass
    smin smax umin umax abs ctpop ctlz cttz bswap bitreverse fshl fshr
    sadd.with.overflow uadd.with.overflow ssub.with.overflow usub.with.overflow
    smul.with.overflow umul.with.overflow sadd.sat uadd.sat ssub.sat usub.sat
    memcpy memmove memset lifetime.start lifetime.end assume expect invariant.start invariant.end
    experimental.noalias.scope.decl masked.load masked.store masked.gather masked.scatter
    masked.expandload masked.compressstore prefetch stacksave stackrestore dbg.value dbg.declare
    vector.reduce.add vector.reduce.mul vector.reduce.and vector.reduce.or vector.reduce.xor
    vector.reduce.smin vector.reduce.smax vector.reduce.umin vector.reduce.umax
    vector.reduce.fadd vector.reduce.fmul vector.reduce.fmin vector.reduce.fmax
    vector.insert vector.extract x86.atomic
""".split())
# External functions that do no math: Numba's runtime and helpers, its parallel scheduler,
# the Python C API, the C library's memory and printing functions.
ALLOWED_EXTERNAL = re.compile(
    r"^(NRT_\w+|Py\w+|_Py\w+|numba_(?:do_raise|gil_ensure|gil_release|parallel_for|runtime_build_excinfo_struct"
    r"|unpickle|unpickle_\w+|get_\w+|set_\w+|adapt_\w+|extract_\w+|fatal_error|attempt_nocopy_reshape|xxnrm2"
    r"|raise_\w+|py_\w+|rnd_\w+|\w+_record_\w+)|allocate_sched|deallocate_sched|do_scheduling_(?:signed|unsigned)"
    r"|get_num_threads|set_num_threads|get_thread_id|get_parallel_chunksize|set_parallel_chunksize|get_sched_size"
    r"|printf|puts|memcpy|memmove|memset|memcmp|malloc|calloc|realloc|free|abort)$")
_FLAGS = r"(?:fast|reassoc|nnan|ninf|nsz|arcp|contract|afn)"
_FLAGGED_INSTRUCTION = re.compile(
    rf"(?:=\s*|^\s*)(?:(?:tail|musttail|notail)\s+)?(fadd|fsub|fmul|fdiv|frem|fneg|fcmp|call|select|phi|"
    rf"fptrunc|fpext)((?:\s+{_FLAGS})+)\b", re.MULTILINE)
_FAST_ATTRIBUTE = re.compile(
    r'"(unsafe-fp-math|no-nans-fp-math|no-infs-fp-math|no-signed-zeros-fp-math|approx-func-fp-math'
    r'|less-precise-fpmad)"="true"')
_SYMBOL = re.compile(r'@(?:"([^"]+)"|([\w.$]+))')
_DECLARATION = re.compile(r'^declare\b[^@]*@(?:"([^"]+)"|([\w.$]+))\s*\(', re.MULTILINE)
_FMA_MNEMONIC = re.compile(
    r"^\s*(v?fn?m(?:add|sub)(?:sub|add)?(?:132|213|231)?[ps][sdh]|fn?m(?:add|sub)|fml[as]|x[sv]n?m(?:add|sub)[am][sd]p)\b", re.MULTILINE)


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    """One piece of platform-dependent math in one compiled kernel."""

    kernel: str  # module.qualname of the jitted function
    signature: str  # its argument types
    kind: str  # see the module docstring
    detail: str  # the symbol, flag, attribute or instruction

    def __str__(self):
        return f"{self.kernel}{self.signature}: {self.kind} {self.detail}"


def _libm_base(name):
    """The libm function ``name`` spells (``expf`` -> ``exp``, ``numba_erf`` -> ``erf``,
    ``__exp_finite`` -> ``exp``), or None."""
    stripped = re.sub(r"^(?:numba_|__svml_|__|_)", "", name)
    stripped = re.sub(r"(?:_finite)?$", "", stripped)
    for candidate in (stripped, stripped[:-1] if stripped[-1:] in ("f", "l") else None):
        if candidate in LIBM_FUNCTIONS or candidate in EXACT_FUNCTIONS:
            return candidate
    return None


def _intrinsic_family(name):
    """``llvm.exp.f64`` -> ``exp``; ``llvm.vector.reduce.fadd.v4f64`` -> ``vector.reduce.fadd``."""
    parts = name[len("llvm."):].split(".")
    for length in range(len(parts), 0, -1):
        family = ".".join(parts[:length])
        if family in DENIED_INTRINSICS or family in ALLOWED_INTRINSICS:
            return family
    return None


def scan_llvm_ir(text):
    """``[(kind, detail), ...]`` for every piece of platform-dependent math in an LLVM module
    (see the module docstring), sorted, each reported once."""
    declared = {quoted or plain for quoted, plain in _DECLARATION.findall(text)}
    used = {quoted or plain for line in text.splitlines() if not line.startswith("declare")
            for quoted, plain in _SYMBOL.findall(line)}
    findings = set()
    for name in declared & used:
        if name.startswith("llvm."):
            family = _intrinsic_family(name)
            if family in DENIED_INTRINSICS:
                findings.add(("math intrinsic", name))
            elif family is None:
                findings.add(("unlisted intrinsic", name))
        elif "svml" in name.lower():
            findings.add(("libm call", name))
        elif _libm_base(name) in LIBM_FUNCTIONS:
            findings.add(("libm call", name))
        elif _libm_base(name) is None and not ALLOWED_EXTERNAL.match(name) and not name.startswith("_ZN"):
            findings.add(("unknown function", name))
    for opcode, flags in _FLAGGED_INSTRUCTION.findall(text):
        findings.add(("fast-math flag", f"{opcode} {' '.join(flags.split())}"))
    for attribute in _FAST_ATTRIBUTE.findall(text):
        findings.add(("fast-math flag", f'"{attribute}"="true"'))
    return sorted(findings)


def scan_assembly(text):
    """``[("fma instruction", mnemonic), ...]`` for every fused multiply-add mnemonic in
    machine code (x86, ARM, POWER spellings), each reported once."""
    return sorted({("fma instruction", mnemonic) for mnemonic in _FMA_MNEMONIC.findall(text)})


def _fresh_copy(dispatcher):
    """An uncached copy of a jitted function, with the same options otherwise."""
    options = {key: value for key, value in dispatcher.targetoptions.items() if key not in ("cache", "nopython")}
    return numba.njit(**options)(dispatcher.py_func)


def _name(dispatcher):
    return f"{dispatcher.py_func.__module__}.{dispatcher.py_func.__qualname__}"


def inspect_dispatchers(dispatchers, skip=None):
    """Findings (sorted :class:`Finding` list) in every compiled signature of each dispatcher
    (but those in ``skip[name]``, a set of signatures already inspected)."""
    findings = set()
    for dispatcher in dispatchers:
        copy = _fresh_copy(dispatcher)
        for signature in set(dispatcher.signatures) - (skip or {}).get(_name(dispatcher), set()):
            copy.compile(signature)
            signature_text = "(" + ", ".join(str(t) for t in signature) + ")"
            for kind, detail in scan_llvm_ir(copy.inspect_llvm(signature)) + scan_assembly(copy.inspect_asm(signature)):
                findings.add(Finding(_name(dispatcher), signature_text, kind, detail))
    return sorted(findings)


def compiled_dispatchers(package):
    """The jitted functions of ``package`` (a module object) and its submodules that have
    compiled signatures, as ``{name: dispatcher}``."""
    modules = [package] + [importlib.import_module(info.name)
                           for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    found = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.signatures and value.py_func.__module__ == module.__name__:
                found[_name(value)] = value
    return found


def inspect_package(package):
    """Findings in every compiled jitted function of ``package``, including the functions
    they call: compiling a fresh copy of a caller compiles its callees for their argument
    types (their code may come from the cache), which are inspected in turn, until no new
    signature appears."""
    inspected = {}
    findings = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaWarning)
        while True:
            pending = {name: dispatcher for name, dispatcher in compiled_dispatchers(package).items()
                       if set(dispatcher.signatures) - inspected.get(name, set())}
            if not pending:
                return sorted(findings)
            for name, dispatcher in pending.items():
                signatures = set(dispatcher.signatures)
                findings.update(inspect_dispatchers([dispatcher], skip=inspected))
                inspected[name] = signatures
