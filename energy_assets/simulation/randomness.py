"""Counter-based randomness: every random number is a hash of what it is about.

A draw is ``hash(seed, stream, house, day, minute)``, not the next number of a generator, so the
readings of (seed, house, day) are the same whichever other houses or days run beside them, in
whatever chunking, on one core or a cluster. SplitMix64's finaliser, vectorised with numpy.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def keyed(*keys: int | np.ndarray) -> np.ndarray:
    """A 64-bit hash of the keys, broadcast like numpy arithmetic."""
    h = np.asarray(np.uint64(0x5DEECE66D))
    with np.errstate(over="ignore"):
        for key in keys:
            k = np.asarray(key).astype(np.int64).astype(np.uint64)
            h = _mix((h + _GOLDEN) ^ k)
    return h


def uniform(*keys: int | np.ndarray) -> np.ndarray:
    """Uniform draws in (0, 1), one per broadcast combination of the keys."""
    return ((keyed(*keys) >> _S11).astype(np.float64) + 0.5) * _TO_UNIT


def uniform_grid(base: np.ndarray, n: int) -> np.ndarray:
    """Uniform draws of shape ``base.shape + (n,)``: one hash per element, cheap for big grids."""
    with np.errstate(over="ignore"):
        z = _mix(base[..., None] + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)
    return ((z >> _S11).astype(np.float64) + 0.5) * _TO_UNIT


def normal(*keys: int | np.ndarray) -> np.ndarray:
    """Standard normal draws (Box-Muller over two keyed uniforms)."""
    u1 = uniform(*keys, 1)
    u2 = uniform(*keys, 2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def normal_grid(base: np.ndarray, n: int) -> np.ndarray:
    """Standard normal draws of shape ``base.shape + (n,)``."""
    u1 = uniform_grid(base, n)
    u2 = uniform_grid(_mix(base ^ np.uint64(0xA5A5A5A5)), n)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
