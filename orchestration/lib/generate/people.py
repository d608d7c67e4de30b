"""The synthetic population: one row per true person, in NumPy arrays.

Persons are the ground truth that every feed record points back to. Identity
attributes (names, birthdate, SSN, twins, later surname changes) live here; the
feeds copy them with the noise a real source adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from orchestration.lib.generate.names import NamePool

# race/ethnicity bits in the MSDS flag order: AIAN, Asian, Black, NHPI, White, Hispanic
RACE_BITS = np.array([32, 16, 8, 4, 2, 1], dtype=np.uint8)
# Single-group shares and a multi-race share, roughly a Midwest state's K-12 population
_RACE_SINGLE = np.array([32, 16, 8, 4, 2, 1], dtype=np.uint8)
_RACE_SINGLE_P = np.array([0.015, 0.07, 0.11, 0.002, 0.64, 0.09])
_RACE_MULTI_P = 0.073
NEVER = np.iinfo(np.int64).max // 4


def draw_race(rng: np.random.Generator, n: int) -> np.ndarray:
    p = _RACE_SINGLE_P / _RACE_SINGLE_P.sum()
    race = rng.choice(_RACE_SINGLE, size=n, p=p)
    multi = rng.random(n) < _RACE_MULTI_P
    # a second flag for multi-race people (White + another, or Hispanic + another, mostly)
    second = rng.choice(_RACE_SINGLE, size=n, p=[0.10, 0.12, 0.18, 0.02, 0.30, 0.28])
    race = np.where(multi, race | second, race)
    # if the second flag equalled the first, force a visible second group
    still_single = multi & (np.bitwise_count(race) == 1)
    race = np.where(still_single, race | np.where(race == 2, 1, 2).astype(np.uint8), race)
    return race.astype(np.uint8)


def race_strings(race: np.ndarray) -> np.ndarray:
    """6-character 0/1 strings in MSDS order (e.g. 000011 = White and Hispanic)."""
    lookup = np.array([format(v, "06b") for v in range(64)])
    return lookup[race]


def draw_ssns(rng: np.random.Generator, n: int, have: np.ndarray) -> np.ndarray:
    """Unique, valid-looking SSNs (area 001-665, 667-899; group and serial non-zero)."""
    area = rng.integers(1, 899, size=n)
    area = np.where(area == 666, 667, area)
    group = rng.integers(1, 100, size=n)
    serial = rng.integers(1, 10000, size=n)
    ssn = area * 1_000_000 + group * 10_000 + serial
    # resolve the rare collisions so that shared SSNs only come from deliberate noise
    _, first = np.unique(ssn, return_index=True)
    dup = np.ones(n, dtype=bool)
    dup[first] = False
    ssn[dup] = 900_000_000 - np.arange(dup.sum())  # unused 8xx area block, still valid-shaped
    return np.where(have, ssn, 0).astype(np.int64)


@dataclass
class People:
    """All persons generated so far. `pid` is the row index."""

    female: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    first: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    middle: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # -1 = none
    last: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    birth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # days since 1970
    race: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    ssn: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # 0 = none
    twin_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # -1 = none
    married_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # NEVER = no change
    married_last: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    k12: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # appears in MSDS

    def __len__(self) -> int:
        return len(self.female)

    def add(
        self,
        rng: np.random.Generator,
        pool: NamePool,
        birth: np.ndarray,
        k12: bool,
        twin_share: float = 0.0,
        ssn_share: float = 0.93,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Create len(birth) persons plus twins of some of them.

        Returns (pids, origin): origin[i] is the index into `birth` that person i was
        made from (a twin points at its sibling's index), so callers can copy
        per-person attributes such as grade or district to twins."""
        n = len(birth)
        female = rng.random(n) < 0.49
        batch = {
            "female": female,
            "first": pool.draw_first(rng, female),
            "middle": np.where(rng.random(n) < 0.85, pool.draw_first(rng, female), -1).astype(np.int32),
            "last": pool.draw_last(rng, n),
            "birth": birth.astype(np.int64),
            "race": draw_race(rng, n),
            "twin_of": np.full(n, -1, np.int64),
        }
        start = len(self)
        origin = np.arange(n)
        if twin_share:
            # a twin shares birthdate, surname, race and home; differs in first name (maybe sex)
            src = np.flatnonzero(rng.random(n) < twin_share)
            t_female = np.where(rng.random(len(src)) < 0.5, female[src], rng.random(len(src)) < 0.49)
            twin = {
                "female": t_female,
                "first": pool.draw_first(rng, t_female),
                "middle": np.where(rng.random(len(src)) < 0.85, pool.draw_first(rng, t_female), -1).astype(np.int32),
                "last": batch["last"][src],
                "birth": batch["birth"][src],
                "race": batch["race"][src],
                "twin_of": (start + src).astype(np.int64),
            }
            batch = {k: np.concatenate([batch[k], twin[k]]) for k in batch}
            origin = np.concatenate([origin, src])
        m = len(batch["female"])
        batch["ssn"] = draw_ssns(rng, m, rng.random(m) < ssn_share)
        # surname changes (marriage) for some women, effective on a day in adulthood
        marry = batch["female"] & (rng.random(m) < 0.45)
        age_days = rng.integers(21 * 365, 36 * 365, size=m)
        batch["married_day"] = np.where(marry, batch["birth"] + age_days, NEVER).astype(np.int64)
        batch["married_last"] = pool.draw_last(rng, m)
        batch["k12"] = np.full(m, k12)
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), batch[f.name]]))
        return np.arange(start, start + m, dtype=np.int64), origin
