"""Deterministic randomness.

Each component draws from its own stream (seed, component), so adding a draw in
one place does not reshuffle every other file. `hash_uniform` gives a stable
uniform number for a tuple of integer keys (e.g. person x institution) without
storing anything: the institution's copy of a person's identity is the same in
every term.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, component: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(component.encode())])


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser: a cheap, well-distributed 64-bit hash
    with np.errstate(over="ignore"):
        x = (x + _M1).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * _M2
        x = (x ^ (x >> np.uint64(27))) * _M3
        return x ^ (x >> np.uint64(31))


def hash_uniform(seed: int, salt: str, *keys: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) per row, a pure function of (seed, salt, keys)."""
    h = np.full(np.broadcast(*keys).shape, np.uint64(seed * 1_000_003 + zlib.crc32(salt.encode())))
    for key in keys:
        h = _mix(h ^ np.asarray(key).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def hash_int(seed: int, salt: str, high: int, *keys: np.ndarray) -> np.ndarray:
    return np.minimum((hash_uniform(seed, salt, *keys) * high).astype(np.int64), high - 1)
