"""MSDS-style K-12 collections, one school year at a time.

The model: cohorts enter kindergarten (and some arrive from out of state),
advance a grade a year (a few are retained), move between districts, exit
(graduate, drop out, transfer, expulsion) and carry characteristics (special
education, LEP, economic disadvantage) that start and end on dated events.
Each school year becomes enrollment *spells* (student x district); the Fall,
Spring and End of Year collections are views of the spells at their count
dates, and SRM files correct a few records with AS OF / certification dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from orchestration.lib.generate.directory import K12Directory
from orchestration.lib.generate.names import NamePool
from orchestration.lib.generate.people import People
from orchestration.lib.generate.rand import stream
from orchestration.lib.generate.scales import K12_FIRST_YEAR, K12_YEARS, Scale, school_year_label
from orchestration.lib.reference import code_sets, read_seed

EPOCH = dt.date(1970, 1, 1)
NONE = 99  # "no such year" for event years

# The MSDS code lists are public facts read from seeds/code_sets.csv (never copied here), and
# the codes a rule singles out from seeds/msds_code_roles.csv. Only how often each code occurs
# is the generator's: most students carry the common codes; a code of the seed that has no
# share below gets _RARE, so every code of every list occurs (and a code added to the seed
# shows up in the synthetic files without a code change). Shares are relative; rates are synthetic.
_RARE = 0.002
_SHARES = {
    "msds_residency": {"14": 0.965, "08": 0.01, "15": 0.01, "04": 0.008, "07": 0.007},
    "msds_primary_disability": {
        "12": 0.35,
        "10": 0.2,
        "06": 0.15,
        "14": 0.11,
        "01": 0.06,
        "02": 0.05,
        "11": 0.03,
        "13": 0.01,
        "03": 0.015,
        "05": 0.01,
        "04": 0.007,
        "15": 0.005,
        "16": 0.003,
    },
    "msds_sped_exit_reason": {"01": 0.4, "04": 0.25, "02": 0.15, "03": 0.05, "05": 0.1, "06": 0.05},
    # ESL and sheltered instruction are most LEP students' programs; the retired codes are rare
    "msds_lep_program": {"09": 0.55, "10": 0.12, "07": 0.08, "05": 0.06, "13": 0.04, "15": 0.05, "16": 0.03},
    "msds_lep_exit_reason": {"50": 0.85, "51": 0.06, "52": 0.06, "53": 0.03},
    # most homeless students are doubled up
    "msds_nighttime_residence": {"13": 0.75, "10": 0.12, "11": 0.08, "12": 0.05},
    "msds_nutrition_eligibility": {"01": 0.8, "02": 0.2},
}
# what the simulation does with exit statuses (their meanings: seeds/code_sets.csv); a status
# of the seed named nowhere here is a rare mid-year exit (the student leaves the district)
_EXIT_HAZARDS = [("14", 0.015), ("13", 0.004), ("16", 0.003), ("10", 0.0003), ("15", 0.0001)]
_OTHER_EXIT = 0.0002
_DROPOUT = ("11", 0.025)  # grades 9-12 only
_MOVE = "12"  # a mid-year move: the old district reports it, the student enrols in the new one
_CERTIFICATE, _MAX_AGE = "03", "04"  # end of grade 12, special education students only
_ECDD = "11"  # the primary disability of early-childhood (grade 30) special education children
_MIDYEAR_MOVE = 0.04
_SUMMER_MOVE = 0.03
_NEW_UIC_ON_MOVE = 0.05  # a receiving district issues a second UIC instead of finding the first
_STREETS = [
    "Main St",
    "Oak Ave",
    "Maple St",
    "Cedar Ln",
    "Park Ave",
    "Lake Dr",
    "Pine St",
    "2nd St",
    "Elm St",
    "River Rd",
    "Hill St",
    "Washington Ave",
    "Lincoln Ave",
    "Prairie Rd",
    "1st Ave",
    "Birch Ct",
    "Summit Ave",
    "Grand Ave",
    "Spruce Way",
    "Willow Ln",
]


def to_days(d: dt.date) -> int:
    return (d - EPOCH).days


def role_codes(role: str) -> list[str]:
    """The codes seeds/msds_code_roles.csv gives `role` (e.g. the regular-diploma exit status)."""
    found = [r["code"] for r in read_seed("msds_code_roles") if r["role"] == role]
    if not found:
        raise KeyError(f"seeds/msds_code_roles.csv has no row for role {role!r}")
    return found


def code_choice(code_set: str, exclude=(), only=None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, probabilities) over the seed's codes of `code_set` (optionally a subset), with the
    shares of _SHARES and _RARE for a code that has none."""
    members = [c for c in code_sets()[code_set] if c not in exclude and (only is None or c in only)]
    if not members:
        raise KeyError(f"seeds/code_sets.csv has no codes of {code_set!r} to draw from")
    shares = _SHARES.get(code_set, {})
    w = np.array([shares.get(c, _RARE) for c in members])
    return np.array(members), w / w.sum()


def exit_codes() -> dict[str, str]:
    """The exit statuses the simulation gives a meaning, checked against the seed."""
    known = set(code_sets()["msds_exit_status"])
    named = {
        "continuing": role_codes("exit_status_continuing")[0],
        "diploma": role_codes("exit_status_regular_diploma")[0],
        "dropout": _DROPOUT[0],
        "move": _MOVE,
        "certificate": _CERTIFICATE,
        "max_age": _MAX_AGE,
    }
    missing = sorted(c for c in [*named.values(), *(c for c, _ in _EXIT_HAZARDS)] if c not in known)
    if missing:
        raise KeyError(f"exit statuses {missing} of the generator are not in seeds/code_sets.csv msds_exit_status")
    return named


def cover(rng: np.random.Generator, values: np.ndarray, codes: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Give each of `codes` to one of `members` (in `values`, in place), so every code of a list
    occurs even in a tiny data set; returns the members chosen, in the order of `codes`."""
    pick = rng.choice(members, size=min(len(codes), len(members)), replace=False)
    values[pick] = codes[: len(pick)]
    return pick


@dataclass
class YearDates:
    first_day: int
    fall: int
    spring: int
    last_day: int
    fall_as_of: tuple[int, int]
    spring_as_of: tuple[int, int]
    fall_deadline: int
    spring_deadline: int

    @classmethod
    def for_year(cls, start_year: int) -> YearDates:
        cal = {
            r["collection"]: r
            for r in read_seed("msds_collection_calendar")
            if r["school_year"] == school_year_label(start_year)
        }
        if {"fall", "spring", "eoy"} - set(cal):
            raise KeyError(f"seeds/msds_collection_calendar.csv has no dates for {school_year_label(start_year)}")

        def d(coll: str, col: str) -> int:
            return to_days(dt.date.fromisoformat(cal[coll][col]))

        return cls(
            first_day=to_days(dt.date(start_year, 8, 26)),
            fall=d("fall", "count_date"),
            spring=d("spring", "count_date"),
            last_day=to_days(dt.date(start_year + 1, 6, 10)),
            fall_as_of=(d("fall", "as_of_start"), d("fall", "as_of_end")),
            spring_as_of=(d("spring", "as_of_start"), d("spring", "as_of_end")),
            fall_deadline=d("fall", "certification_deadline"),
            spring_deadline=d("spring", "certification_deadline"),
        )


class K12Model:
    """All K-12 students of the six school years, simulated year by year."""

    def __init__(self, scale: Scale, seed: int, people: People, pool: NamePool, dirs: K12Directory):
        self.seed, self.people, self.pool, self.dirs = seed, people, pool, dirs
        rng = stream(seed, "k12-cohorts")
        n = scale.students_per_grade
        first_day0 = to_days(dt.date(K12_FIRST_YEAR, 8, 26))
        parts = []  # (t0, grade0, count, arrival-day fraction)
        for g in range(13):
            parts.append((0, g, n, 0.0))
        for t in range(1, K12_YEARS + 1):  # year 6 exists only as next year's early-childhood (30)
            parts.append((t, 0, int(n * rng.normal(1.0, 0.02)), 0.0))
        for t in range(K12_YEARS):  # out-of-state arrivals, some mid-year
            for g in range(13):
                parts.append((t, g, max(1, int(n * 0.015)), 0.3))
        t0 = np.concatenate([np.full(c, t) for t, g, c, _ in parts])
        grade0 = np.concatenate([np.full(c, g) for t, g, c, _ in parts])
        midyear = np.concatenate([rng.random(c) < f for t, g, c, f in parts])
        late = rng.random(len(t0)) < 0.05  # started school a year late / retained before the window
        age_sep1 = grade0 + 5 + late
        start_days = first_day0 + t0 * 365
        birth = start_days - age_sep1 * 365 - rng.integers(0, 365, size=len(t0))
        pids, origin = people.add(rng, pool, birth, k12=True, twin_share=0.0075)
        t0, grade0, midyear = t0[origin], grade0[origin], midyear[origin]
        start_days = start_days[origin]
        m = len(pids)
        self.n = m
        self.pid = pids
        self.t0 = t0
        self.grade0 = grade0
        self.arrive_frac = np.where(midyear, rng.uniform(0.25, 0.6, m), 0.0)
        self.retain_year = np.where(rng.random(m) < 0.04, t0 + rng.integers(0, K12_YEARS, m), NONE)
        district = rng.choice(len(dirs.district_p), size=m, p=dirs.district_p)
        twin = people.twin_of[pids] >= 0
        src = np.searchsorted(pids, people.twin_of[pids[twin]])
        district[twin] = district[src]  # twins live together
        self.district = district
        self.slot = rng.integers(0, 1 << 30, m)
        arrival = start_days + (self.arrive_frac * 280).astype(np.int64)
        already_here = (t0 == 0) & ~midyear  # enrolled in this district since an earlier year
        self.entry_day = np.where(already_here, first_day0 - rng.integers(0, grade0 + 1) * 365, arrival).astype(
            np.int64
        )
        # 10-digit UICs, unique, in random order
        self.uic = 1_000_000_000 + np.unique(rng.integers(0, 8_000_000_000, int(m * 1.01) + 10))[:m]
        rng.shuffle(self.uic)
        self.next_uic = int(self.uic.max()) + 1
        # every code of each list at least once, among students seen in some collection (a
        # separate stream, so the other draws stay as they are)
        cov = stream(seed, "k12-code-cover")
        seen = np.flatnonzero(t0 < K12_YEARS)
        res_codes, res_p = code_choice("msds_residency")
        self.residency = rng.choice(res_codes, size=m, p=res_p)
        cover(cov, self.residency, res_codes, seen)
        resident = role_codes("residency_resident")[0]
        self.fte = np.where(self.residency == resident, 1.0, rng.choice([0.25, 0.33, 0.5], m))
        self.street_no = rng.integers(100, 9999, m)
        self.street = rng.integers(0, len(_STREETS), m)
        self.street_no[twin] = self.street_no[src]
        self.street[twin] = self.street[src]
        # special education: present at entry or identified in a later year; some exit
        swd0 = rng.random(m) < 0.11
        swd_later = ~swd0 & (rng.random(m) < 0.04)
        self.sped_start = np.where(swd0, t0, np.where(swd_later, t0 + rng.integers(1, 4, m), NONE))
        dis_codes, dis_p = code_choice("msds_primary_disability")
        self.sped_code = rng.choice(dis_codes, size=m, p=dis_p)
        self.sped_exit_year = np.where(rng.random(m) < 0.12, self.sped_start + rng.integers(0, 5, m), NONE)
        self.sped_exit_frac = rng.uniform(0.05, 0.95, m)
        seen_swd = np.flatnonzero(swd0 & (t0 < K12_YEARS))
        cover(cov, self.sped_code, dis_codes, seen_swd)
        sped_exit_codes, sped_exit_p = code_choice("msds_sped_exit_reason")
        self.sped_exit_reason = cov.choice(sped_exit_codes, size=m, p=sped_exit_p)
        exits = cover(cov, self.sped_exit_reason, sped_exit_codes, seen_swd)
        self.sped_exit_year[exits] = t0[exits]  # these leave special education in their first year
        self.sped_exit_frac[exits] = 0.2
        # ungraded reporting (grade 14) for some severely impaired students
        self.ungraded = np.isin(self.sped_code, ["01", "13", "14"]) & (rng.random(m) < 0.3)
        # LEP: more likely for Hispanic and Asian students; exits by reason 50 or others
        race = people.race[pids]
        p_lep = np.where(race & 1, 0.3, np.where(race & 16, 0.25, 0.02))
        lep = rng.random(m) < p_lep
        self.lep_start = np.where(lep, t0, NONE)
        self.lep_exit_year = np.where(lep, t0 + rng.geometric(0.22, m) - 1, NONE)
        lep_exit_codes, lep_exit_p = code_choice("msds_lep_exit_reason")
        self.lep_exit_reason = rng.choice(lep_exit_codes, m, p=lep_exit_p)
        self.lep_exit_frac = rng.uniform(0.1, 0.95, m)
        lep_codes, lep_p = code_choice("msds_lep_program")
        self.lep_program = rng.choice(lep_codes, m, p=lep_p)
        seen_lep = np.flatnonzero(lep & (t0 < K12_YEARS))
        cover(cov, self.lep_program, lep_codes, seen_lep)
        exits = cover(cov, self.lep_exit_reason, lep_exit_codes, seen_lep)
        self.lep_exit_year[exits] = t0[exits]  # these exit LEP in their first year
        self.lep_exit_frac[exits] = 0.2
        # economic disadvantage: a persistent base with yearly churn; the eligible code (free or
        # reduced-price meals) is the student's, the others mean not eligible
        self.ed_base = rng.random(m) < 0.45
        eligible = role_codes("nutrition_eligible")
        ok_codes, ok_p = code_choice("msds_nutrition_eligibility", only=eligible)
        self.nutrition_code = ok_codes[np.minimum(np.searchsorted(np.cumsum(ok_p), rng.random(m)), len(ok_p) - 1)]
        no_codes, no_p = code_choice("msds_nutrition_eligibility", exclude=eligible)
        self.nutrition_none = cov.choice(no_codes, size=m, p=no_p)
        self.migrant = rng.random(m) < 0.004
        # homeless: the student's primary nighttime residence when homeless (msds.py decides when);
        # the codes other than the "not homeless" one, each given to one student in a first year
        self.not_homeless = role_codes("nighttime_not_homeless")[0]
        night_codes, night_p = code_choice("msds_nighttime_residence", exclude=[self.not_homeless])
        self.night_code = cov.choice(night_codes, size=m, p=night_p)
        self.homeless_year = np.full(m, NONE)
        forced = cover(cov, self.night_code, night_codes, seen)
        self.homeless_year[forced] = t0[forced]
        self.active = np.ones(m, bool)
        self.adult_ed_year = np.full(m, NONE)
        self.see = np.zeros(m, bool)

    # ---------------------------------------------------------------- per year
    def grade(self, t: int) -> np.ndarray:
        return self.grade0 + (t - self.t0) - (t > self.retain_year)

    def year(self, t: int) -> dict[str, np.ndarray]:
        """Simulate school year t; return its enrollment spells as arrays."""
        rng = stream(self.seed, f"k12-year-{t}")
        dates = YearDates.for_year(K12_FIRST_YEAR + t)
        span = dates.last_day - dates.first_day
        grade = self.grade(t)
        prek = (self.t0 == t + 1) & (rng.random(self.n) < 0.05)  # early childhood (30)
        adult = self.adult_ed_year == t
        enrolled = (self.active & (self.t0 <= t) & (grade <= 12)) | prek | adult
        idx = np.flatnonzero(enrolled)
        k = len(idx)
        g = grade[idx]
        # summer moves between districts (not in the year a student arrives)
        summer = (rng.random(k) < _SUMMER_MOVE) & (self.t0[idx] < t)
        self._move(idx[summer], rng, dates.first_day)
        start = np.where(self.t0[idx] == t, (self.arrive_frac[idx] * 280).astype(int), 0)
        # exits during the year
        ex = exit_codes()
        u = rng.random(k)
        status = np.full(k, "", dtype="<U2")
        acc = 0.0
        named = set(ex.values()) | {c for c, _ in _EXIT_HAZARDS}
        hazards = _EXIT_HAZARDS + [(c, _OTHER_EXIT) for c in code_sets()["msds_exit_status"] if c not in named]
        for code, p in hazards:
            status[(u >= acc) & (u < acc + p)] = code
            acc += p
        drop = (g >= 9) & (g <= 12) & (rng.random(k) < _DROPOUT[1]) & (status == "")
        status[drop] = ex["dropout"]
        status[prek[idx]] = ""
        exit_day = np.where(status != "", rng.integers(5, span - 5, k), span)
        exit_day = np.maximum(exit_day, start + 3)
        # graduation (and certificates, maximum age) at the end of grade 12
        g12 = (g == 12) & (status == "")
        grad_u = rng.random(k)
        sped_now = self.sped_start[idx] <= t
        status[g12 & (grad_u < 0.9)] = ex["diploma"]
        status[g12 & (grad_u >= 0.9) & (grad_u < 0.92) & sped_now] = ex["certificate"]
        status[g12 & (grad_u >= 0.92) & (grad_u < 0.93) & sped_now] = ex["max_age"]
        status[adult[idx]] = np.where(rng.random(int(adult[idx].sum())) < 0.5, ex["dropout"], "")
        # a status no student drew this year goes to a grade-12 student (a separate stream):
        # every code of the list occurs at any scale, the rare ones rarely
        cov = stream(self.seed, f"k12-exit-cover-{t}")
        ending_codes = [ex["diploma"], ex["certificate"], ex["max_age"]]
        drawn = set(status.tolist()) | {ex["continuing"], ex["move"]}
        absent = np.array([c for c in code_sets()["msds_exit_status"] if c not in drawn])
        eligible = (g == 12) & ~prek[idx] & ~adult[idx] & np.isin(status, ["", ex["diploma"]])
        # a certificate or reaching the maximum age ends special education students' schooling only
        sped_ending = np.isin(absent, [ex["certificate"], ex["max_age"]])
        forced = np.array([], np.int64)
        for codes, pool in ((absent[sped_ending], np.flatnonzero(eligible & sped_now)),
                            (absent[~sped_ending], np.flatnonzero(eligible & ~sped_now))):  # fmt: skip
            if len(codes) and len(pool):
                forced = np.concatenate([forced, cover(cov, status, codes, pool)])
        if len(forced):
            midyear = ~np.isin(status[forced], ending_codes)
            exit_day[forced] = np.where(
                midyear, np.maximum(cov.integers(5, span - 5, len(forced)), start[forced] + 3), span
            )
        ending = np.isin(status, ending_codes)
        exit_day = np.where(ending, span - 3, exit_day)
        # mid-year moves to another district (the old one reports exit status 12)
        move = (status == "") & (rng.random(k) < _MIDYEAR_MOVE) & ~prek[idx]
        move_day = rng.integers(20, span - 20, k)
        move_day = np.maximum(move_day, start + 5)
        old_district = self.district[idx].copy()
        old_uic = self.uic[idx].copy()
        old_entry = self.entry_day[idx].copy()
        self._move(idx[move], rng, dates.first_day + move_day[move])
        # spells: the first (possibly ended by exit or move) and, for movers, the second
        s_status = np.where(move, ex["move"], status)
        s_end = np.where(move, move_day, exit_day)
        sp = {
            "j": np.concatenate([idx, idx[move]]),
            "district": np.concatenate([old_district, self.district[idx[move]]]),
            "uic": np.concatenate([old_uic, self.uic[idx[move]]]),
            "entry": np.concatenate([old_entry, self.entry_day[idx[move]]]),
            "start": np.concatenate([start, move_day[move] + 1]),
            "end": np.concatenate([s_end, np.full(int(move.sum()), span)]),
            "status": np.concatenate([s_status, np.full(int(move.sum()), "", dtype="<U2")]),
            "grade": np.concatenate([g, g[move]]),
        }
        sp["prek"] = prek[sp["j"]]
        # early-childhood children enrol this year, before their kindergarten cohort starts
        sp["entry"] = np.where(sp["prek"], dates.first_day, sp["entry"])
        sp["adult"] = adult[sp["j"]]
        # dropouts: some come back next year to adult education (grade 20)
        back = np.flatnonzero(status == ex["dropout"])
        chosen = rng.random(len(back)) < 0.1
        if len(back) and not chosen.any():  # adult education (grade 20) occurs every year, at any scale
            chosen[cov.integers(0, len(back))] = True
        back = back[chosen]
        self.adult_ed_year[idx[back]] = t + 1
        # state after the year
        leaving = (status != "") & (status != ex["move"])
        self.active[idx[leaving]] = False
        self.active[idx[adult[idx]]] = False
        sp["span"] = span
        sp["dates"] = dates
        return sp

    def _move(self, j: np.ndarray, rng: np.random.Generator, day) -> None:
        if len(j) == 0:
            return
        new = rng.choice(len(self.dirs.district_p), size=len(j), p=self.dirs.district_p)
        same = new == self.district[j]
        new[same] = (new[same] + 1) % len(self.dirs.district_p)
        self.district[j] = new
        self.entry_day[j] = day
        self.street_no[j] = rng.integers(100, 9999, len(j))
        reissue = rng.random(len(j)) < _NEW_UIC_ON_MOVE
        if reissue.any():
            n = int(reissue.sum())
            self.uic[j[reissue]] = np.arange(self.next_uic, self.next_uic + n)
            self.next_uic += n
