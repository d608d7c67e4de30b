"""Names and the identity noise real feeds carry (typos, nicknames, swaps).

Vectorised sampling of name indices; the string edits are applied only to the
few percent of records that get noise, in plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration.lib.reference import read_seed


@dataclass
class NamePool:
    first: pa.Array  # all first names; index into it
    first_female: np.ndarray  # indices of female names
    first_female_p: np.ndarray
    first_male: np.ndarray
    first_male_p: np.ndarray
    last: pa.Array
    last_p: np.ndarray
    nicknames: dict[str, list[str]]

    @classmethod
    def from_seeds(cls) -> NamePool:
        firsts = read_seed("first_names")
        lasts = read_seed("last_names")
        names = [r["first_name"] for r in firsts]
        weights = np.array([float(r["weight"]) for r in firsts])
        sexes = np.array([r["sex"] for r in firsts])
        fem = np.flatnonzero(sexes == "F")
        mal = np.flatnonzero(sexes == "M")
        nick: dict[str, list[str]] = {}
        for row in read_seed("nicknames"):
            nick.setdefault(row["formal_name"], []).append(row["nickname"])
        lw = np.array([float(r["weight"]) for r in lasts])
        return cls(
            first=pa.array(names),
            first_female=fem,
            first_female_p=weights[fem] / weights[fem].sum(),
            first_male=mal,
            first_male_p=weights[mal] / weights[mal].sum(),
            last=pa.array([r["last_name"] for r in lasts]),
            last_p=lw / lw.sum(),
            nicknames=nick,
        )

    def draw_first(self, rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
        out = np.empty(len(female), dtype=np.int32)
        nf = int(female.sum())
        out[female] = rng.choice(self.first_female, size=nf, p=self.first_female_p)
        out[~female] = rng.choice(self.first_male, size=len(female) - nf, p=self.first_male_p)
        return out

    def draw_last(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(len(self.last), size=n, p=self.last_p).astype(np.int32)


_KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "e": "wr",
    "i": "uo",
    "o": "ip",
    "n": "bm",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "l": "k",
    "m": "n",
    "h": "gj",
    "c": "xv",
    "d": "sf",
    "y": "tu",
    "u": "yi",
}


def typo(name: str, u: float) -> str:
    """One realistic keying error, chosen by u in [0, 1): drop, double, swap or replace."""
    if len(name) < 3:
        return name
    pos = 1 + int(u * 997) % (len(name) - 2)
    kind = int(u * 4)
    if kind == 0:
        return name[:pos] + name[pos + 1 :]
    if kind == 1:
        return name[:pos] + name[pos] + name[pos:]
    if kind == 2:
        return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
    ch = name[pos].lower()
    repl = _KEYBOARD_NEIGHBOURS.get(ch, "e")[int(u * 13) % len(_KEYBOARD_NEIGHBOURS.get(ch, "e"))]
    return name[:pos] + repl + name[pos + 1 :]


def apply_noise(values: pa.Array, kinds: np.ndarray, u: np.ndarray, pool: NamePool) -> pa.Array:
    """Return `values` with per-row noise: kind 0 none, 1 typo, 2 nickname, 3 upper-case,
    4 middle initial only. Only the noisy rows are touched in Python."""
    idx = np.flatnonzero(kinds)
    if len(idx) == 0:
        return values
    py = values.to_pylist()
    for i in idx:
        v = py[i]
        if not v:
            continue
        k = kinds[i]
        if k == 1:
            py[i] = typo(v, float(u[i]))
        elif k == 2:
            options = pool.nicknames.get(v)
            py[i] = options[int(u[i] * len(options))] if options else v
        elif k == 3:
            py[i] = v.upper()
        elif k == 4:
            py[i] = v[0]
    return pa.array(py, type=pa.string())


def swap_day_month(days: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Birthdates keyed day-for-month (only where the day is 12 or less)."""
    d = days.astype("datetime64[D]")
    out = days.copy()
    if not mask.any():
        return out
    years = d.astype("datetime64[Y]")
    months = (d.astype("datetime64[M]") - years).astype(int) + 1
    dom = (d - d.astype("datetime64[M]")).astype(int) + 1
    ok = mask & (dom <= 12) & (dom != months)
    swapped = (years[ok] + (dom[ok] - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (months[ok] - 1).astype(
        "timedelta64[D]"
    )
    out[ok] = swapped.astype(np.int64)
    return out
