"""One-pass kernels for the L1 updates and the mini-batch gather, compiled with Numba when
it is installed.

The L1 rules touch every weight once per mini-batch step with a few comparisons. Written
with NumPy ufuncs they take several passes over the weights (``np.sign`` alone costs as
much as three multiplications on this kind of machine), which at a mini-batch of 10 made
L1 steps up to 1.7× as slow as L2 ones. Each kernel here is one loop over the weights:

* ``scaled_sign(p, c, out)``: out = c·sgn(p), with sgn(0) = 0 (subgradient L1's term);
* ``add_scaled(p, h, alpha)``: p ← p + α·h, in place (the term joins an SGD step);
* ``sign_step(p, k)``: p ← p + k·sgn(p), in place (both of the above in one pass);
* ``soft_threshold_(p, t)``: p ← sgn(p)·max(|p| − t, 0), in place (proximal L1, elastic net);
* ``cumulative_shrink_(w, applied, total, t)``: Tsuruoka et al.'s cumulative penalty, in place;
* ``gather_divided(codes, rows, divisor, out)``: a mini-batch of integer-coded inputs
  (MNIST's bytes) gathered and divided in one pass instead of three;
* ``shuffle_as_random_does(order)``: the permutation ``random.shuffle`` makes, ten times
  faster (the ``network2`` front's epochs draw their order from Python's ``random``).

The gather reads rows scattered over the data set, so it waits on memory: at a mini-batch of
1000 about half its time went to cache misses. The compiled gather asks the processor for
each row a few rows before it converts it (LLVM's prefetch hint, which changes no value), so
the loads overlap: one gather of 1000 MNIST rows went from ~270 µs to ~150 µs, an epoch at
batch 1000 in float32 ~10 % faster. Asking, in the same way, for the next mini-batch's rows
while the current one trains measured no faster and was left out.

With Numba (``pip install "nnreg[fast]"``) they are compiled loops; without it, the NumPy
functions named ``*_reference`` below run instead. Numba takes ~0.9 s and ~120 MB to start,
even from its on-disk cache, so it is started by the first L1 step (where the loops save
that within a few epochs), and for the gather and the shuffle only when a run is long
enough for them to repay the start (:func:`start_if_worth`: ~40 MNIST epochs for the
gather, ~16 for the ``network2`` front's gather and shuffle); otherwise those use the
compiled loops only if something else has loaded them. Both give the same numbers bit for bit
(same operations in the same order, in the arrays' dtype; NaN and inf pass through as
they do in NumPy) — the tests check it. ``NNREG_NUMBA=0`` in the environment turns the
compiled kernels off.
"""

from __future__ import annotations

import os
import threading

import numpy as np

# -- the references: NumPy formulations, also the fallback ------------------------------


def scaled_sign_reference(p: np.ndarray, c: float, out: np.ndarray) -> np.ndarray:
    """out = c·sgn(p)."""
    np.sign(p, out=out)
    out *= c
    return out


def sign_step_reference(p: np.ndarray, k: float) -> None:
    """p ← p + k·sgn(p)."""
    step = np.sign(p)
    step *= k
    p += step


def add_scaled_reference(p: np.ndarray, h: np.ndarray, alpha: float) -> None:
    """p ← p + α·h."""
    p += alpha * h


def soft_threshold_reference(p: np.ndarray, t: float) -> None:
    """p ← p − clip(p, −t, t): where |p| ≤ t that is p − p, exactly zero."""
    np.subtract(p, np.clip(p, -t, t), out=p)


def cumulative_shrink_reference(
    w: np.ndarray, applied: np.ndarray, total: np.ndarray, threshold: float
) -> None:
    """u ← u + threshold (``total``, a 0-d array); w ← w − clip(w, −owed, owed) with
    owed = u + sgn(w)·q; q ← q − (that change)."""
    total += threshold
    owed = np.sign(w)
    owed *= applied
    owed += total
    change = np.negative(owed)
    np.maximum(w, change, out=change)
    np.minimum(change, owed, out=change)
    w -= change
    applied -= change


# -- the compiled loops (nnreg/_compiled.py) ----------------------------------------


def _compile():
    """The Numba versions of the kernels, or None when Numba is absent or turned off."""
    if os.environ.get("NNREG_NUMBA", "1") == "0":
        return None
    try:
        from nnreg import _compiled as c
    except ImportError:
        return None
    kernels = (
        c.scaled_sign,
        c.add_scaled,
        c.soft_threshold,
        c.cumulative_shrink,
        c.sign_step,
        c.gather_divided,
        c.fisher_yates,
    )
    try:  # the prefetch hint is lowered by hand: should this LLVM refuse it, do without Numba
        c.gather_divided(np.zeros((2, 8), np.uint8), np.zeros(1, np.int64), 1.0, np.empty((1, 8)))
    except Exception:  # noqa: BLE001  any compilation failure means: no compiled kernels
        return None
    return kernels


_COMPILED = None
_LOOKED = False
_LOCK = threading.Lock()


def _kernels():
    global _COMPILED, _LOOKED
    with _LOCK:
        if not _LOOKED:
            _COMPILED, _LOOKED = _compile(), True
    return _COMPILED


GATHER_AHEAD = 4
"""Rows: the compiled gather asks for row e + 4 while it converts row e."""

START_SECONDS = 0.9
"""What starting Numba costs, even from its cache (measured on the 2-core reference machine)."""
GATHER_SAVING_PER_ROW = 0.5e-6
"""Seconds the compiled gather saves per byte-coded row at a mini-batch of 10 (MNIST)."""
SHUFFLE_SAVING_PER_ITEM = 0.6e-6
"""Seconds the compiled shuffle saves per item against ``random.shuffle``."""


def start_if_worth(seconds_saved: float) -> None:
    """Load the compiled loops now if they would save more than starting them costs (a
    long run over byte-coded data; the L1 loops load on their first use anyway)."""
    if seconds_saved > START_SECONDS and not _LOOKED:
        _kernels()


def loaded() -> bool:
    """Whether the compiled loops are loaded already (asking does not load them)."""
    return _LOOKED and _COMPILED is not None


def compiled() -> bool:
    """Whether the Numba kernels are in use."""
    return _kernels() is not None


def _usable(p: np.ndarray, *others: np.ndarray) -> bool:
    """Whether the compiled kernels may work on these arrays: C-contiguous (then ``ravel``
    gives views, so in-place writes land in them) and of one dtype. Cheap: it runs at every
    step."""
    if not p.flags.c_contiguous:
        return False
    for other in others:
        if not other.flags.c_contiguous or other.dtype != p.dtype:
            return False
    return True


# -- the public kernels: compiled when possible, else the reference ---------------------


def scaled_sign(p: np.ndarray, c: float, out: np.ndarray) -> np.ndarray:
    """out = c·sgn(p) with sgn(0) = 0; returns ``out``."""
    kernels = _COMPILED if _LOOKED else _kernels()
    if kernels is None or not _usable(p, out):
        return scaled_sign_reference(p, c, out)
    kernels[0](p.ravel(), p.dtype.type(c), out.ravel())
    return out


def sign_step(p: np.ndarray, k: float) -> None:
    """p ← p + k·sgn(p), in place (sgn(0) = 0): subgradient L1's term joined to the weights."""
    kernels = _COMPILED if _LOOKED else _kernels()
    if kernels is None or not _usable(p):
        sign_step_reference(p, k)
    else:
        kernels[4](p.ravel(), p.dtype.type(k))


def add_scaled(p: np.ndarray, h: np.ndarray, alpha: float) -> None:
    """p ← p + α·h, in place."""
    kernels = _COMPILED if _LOOKED else _kernels()
    if kernels is None or not _usable(p, h):
        add_scaled_reference(p, h, alpha)
    else:
        kernels[1](p.ravel(), h.ravel(), p.dtype.type(alpha))


def soft_threshold_(p: np.ndarray, t: float) -> None:
    """p ← sgn(p)·max(|p| − t, 0), in place, for a scalar threshold t ≥ 0."""
    kernels = _COMPILED if _LOOKED else _kernels()
    if kernels is None or not _usable(p):
        soft_threshold_reference(p, t)
    else:
        kernels[2](p.ravel(), p.dtype.type(t))


def cumulative_shrink_(
    w: np.ndarray, applied: np.ndarray, total: np.ndarray, threshold: float
) -> None:
    """One step of the cumulative L1 penalty, in place: the penalty so far u (``total``,
    a 0-d array) grows by ``threshold``, then ``w`` shrinks and ``applied`` follows."""
    kernels = _COMPILED if _LOOKED else _kernels()
    if kernels is None or not _usable(w, applied, total):
        cumulative_shrink_reference(w, applied, total, threshold)
    else:
        kernels[3](w.ravel(), applied.ravel(), total.ravel(), w.dtype.type(threshold))


SHUFFLE_WORDS_PER_ITEM = 1.5  # words drawn at first; ~1.4 are used on average


def shuffle_as_random_does(order: np.ndarray, generator=None) -> None:
    """Shuffle the 1-D array ``order`` in place exactly as ``random.shuffle`` would shuffle
    ``list(order)``, leaving ``generator`` (default: the ``random`` module's) in the same
    state as that call.

    ``random.shuffle`` is Fisher–Yates in Python, where position i swaps with
    j = ``_randbelow(i + 1)``: ``getrandbits(k)``, k = (i + 1).bit_length(), drawn again
    while ≥ i + 1; ``getrandbits(k)`` for k ≤ 32 is the generator's next 32-bit word shifted
    right by 32 − k. So the words are drawn in one call (``getrandbits(32·W)`` returns W
    words, the first in the lowest bits), the loop runs compiled, and the generator is
    rewound and moved on by exactly the words used. 50,000 items: ~2 ms instead of ~20 ms.
    Without Numba, or for a generator other than a plain ``random.Random``, it calls
    ``generator.shuffle`` (the same permutation either way; the tests check it), as it
    does while the kernels are not loaded.
    """
    import random

    generator = generator or random._inst
    kernels = _COMPILED if _LOOKED else None  # never worth starting Numba for: see above
    # a subclass may draw its numbers otherwise (SystemRandom has no state at all)
    standard = type(generator) is random.Random
    if kernels is None or not standard or order.ndim != 1 or len(order) < 2:
        items = order.tolist()
        generator.shuffle(items)
        order[:] = items
        return
    state = generator.getstate()
    words = int(len(order) * SHUFFLE_WORDS_PER_ITEM) + 64
    while True:
        drawn = np.frombuffer(
            generator.getrandbits(32 * words).to_bytes(4 * words, "little"), dtype="<u4"
        ).astype(np.uint32)
        trial = order.copy()
        used = kernels[6](trial, drawn)
        generator.setstate(state)
        if used >= 0:
            break
        words *= 2  # rejections used up the words: draw more (rare)
    order[:] = trial
    generator.getrandbits(32 * used)  # move the generator on as random.shuffle would have


def gather_divided(codes: np.ndarray, rows: np.ndarray, divisor, out: np.ndarray) -> bool:
    """out[i] = codes[rows[i]] / divisor, in one pass; False (nothing done) without Numba.

    ``divisor`` is a NumPy scalar whose type sets the arithmetic (float64, or the output's
    dtype where that gives the same numbers; see :func:`nnreg.datasets.dataset.to_float`).
    ``rows`` must be valid row indices.
    """
    kernels = _COMPILED if _LOOKED else None  # never worth starting Numba for: see above
    if kernels is None or not (codes.flags.c_contiguous and out.flags.c_contiguous):
        return False
    kernels[5](codes, rows, divisor, out)
    return True
