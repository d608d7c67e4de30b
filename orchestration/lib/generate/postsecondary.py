"""Postsecondary enrollment (per person x institution x term) and awards conferred.

Students come from the K-12 side (graduates, and high-school students taking
concurrent-enrollment courses) and from outside it (out-of-state graduates,
in-state graduates from before the K-12 window, older adults). Each term, an
active student is enrolled at one institution; at the end of each fiscal year
students persist, transfer, stop out or complete an award. Each institution keeps
its own copy of a student's identity, with the noise real feeds carry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.generate import defects
from orchestration.lib.generate.directory import Institutions
from orchestration.lib.generate.k12 import K12Model, to_days
from orchestration.lib.generate.names import NamePool, apply_noise, swap_day_month
from orchestration.lib.generate.people import People
from orchestration.lib.generate.rand import hash_int, hash_uniform, stream
from orchestration.lib.generate.scales import K12_FIRST_YEAR, PS_FIRST_FY, PS_LAST_FY, Scale
from orchestration.lib.generate.writer import FeedWriter
from orchestration.lib.reference import NOT_APPLICABLE, read_seed

SEASONS = ("SU", "FA", "WI", "SP")
_CIPS = [
    "24.0101",
    "51.3801",
    "52.0201",
    "11.0701",
    "14.0901",
    "26.0101",
    "42.0101",
    "13.1202",
    "45.1001",
    "51.0601",
    "47.0604",
    "46.0302",
    "12.0500",
    "43.0104",
    "50.0409",
    "27.0101",
    "09.0101",
    "23.0101",
    "40.0501",
    "52.0301",
    "51.0801",
    "15.0303",
    "44.0701",
    "31.0505",
]
_OUT_OF_STATE = ["WI", "IA", "ND", "SD", "MI", "IL", "CA", "TX", "NY", "FL", "OH", "ON", "MB"]
_PLACEHOLDER_SSNS = np.array([0, 999_999_999, 123_456_789])
_DETAIL = {
    16: ["HMO", "VIE", "KAR", "IND", "CHI"],
    8: ["SOM", "ETH", "LIB", "AFA"],
    1: ["MEX", "PUR", "ECU"],
    32: ["OJI", "DAK"],
    2: ["EUR", "SCA"],
    4: ["OTH"],
}
_TRIBES = ["RL", "WE", "LL", "ML", "BF", "FDL", "GP", "LS", "US", "PIC", "SMS", "OTH"]
_NA_GROUPS = {
    "gender_identity": [f"gender_identity_{x}" for x in "abcd"],
    "tribe": [f"tribe_enrolled_{x}" for x in "ab"] + [f"tribe_descended_{x}" for x in "abcd"],
    "detailed_race": [f"race_detail_{x}" for x in "abcd"],
    "act_composite": ["act_composite"],
    "hs_gpa": ["hs_gpa"],
    "first_generation": ["first_generation"],
    "ssn": ["ssn"],
    "disabling_condition": ["disabling_condition"],
    "veteran_status": ["veteran_status"],
    "citizenship_status": ["citizenship_status"],
}
# award level sought -> years of full enrolment to complete
_YEARS_TO_AWARD = {"01": 1.0, "02": 1.5, "03": 2.3, "05": 4.2, "07": 2.0}
_DEBT = {"01": 6000, "02": 9000, "03": 13000, "05": 28000, "07": 42000}


@dataclass
class K12Outcomes:
    """What the postsecondary side needs from the K-12 simulation."""

    grad_pid: list[np.ndarray] = field(default_factory=list)
    grad_year: list[np.ndarray] = field(default_factory=list)  # calendar year of graduation
    pseo_pid: list[np.ndarray] = field(default_factory=list)
    pseo_fy: list[np.ndarray] = field(default_factory=list)
    uic_of: dict = field(default_factory=dict)  # filled at the end: pid -> first UIC
    pid_uic: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    pid_zip: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    swd: list[np.ndarray] = field(default_factory=list)

    def record_year(self, model: K12Model, t: int, sp: dict) -> None:
        j, status, grade = sp["j"], sp["status"], sp["grade"]
        grads = np.unique(j[status == "01"])
        self.grad_pid.append(model.pid[grads])
        self.grad_year.append(np.full(len(grads), K12_FIRST_YEAR + t + 1))
        juniors = np.unique(j[(grade >= 11) & (grade <= 12)])
        self.pseo_pid.append(model.pid[juniors])
        self.pseo_fy.append(np.full(len(juniors), K12_FIRST_YEAR + t + 1))
        self.pid_uic.append((model.pid[sp["j"]], sp["uic"]))
        self.pid_zip.append((model.pid[sp["j"]], 55001 + (sp["district"] * 37) % 1700))
        self.swd.append(model.pid[j[model.sped_start[j] <= t]])


@dataclass
class Students:
    """One row per postsecondary spell (a person's run at one institution)."""

    pid: np.ndarray
    inst: np.ndarray
    start_fy: np.ndarray
    start_season: np.ndarray  # index into SEASONS
    level: np.ndarray  # award level sought ("00" none)
    pseo: np.ndarray
    state: np.ndarray  # state of residence
    hs_year: np.ndarray  # 0 unknown / not undergraduate
    graduate: np.ndarray
    prior_years: np.ndarray  # years completed before the window (continuing students)

    @staticmethod
    def concat(parts: list[Students]) -> Students:
        return Students(*[np.concatenate([getattr(p, f) for p in parts]) for f in Students.__dataclass_fields__])


def _days(year: int, month_day: str) -> int:
    m, d = map(int, month_day.split("-"))
    return to_days(dt.date(year, m, d))


def generate(
    scale: Scale,
    seed: int,
    people: People,
    pool: NamePool,
    inst: Institutions,
    k12: K12Outcomes,
    writer: FeedWriter,
    progress,
) -> None:
    rng = stream(seed, "ps-entrants")
    two_year = np.isin(inst.sector, ["public_2yr", "tribal", "private_for_profit"])
    p2 = np.where(two_year, inst.p, 0)
    p2 = p2 / p2.sum()
    p4 = np.where(~two_year, inst.p, 0)
    p4 = p4 / p4.sum()
    parts: list[Students] = []

    def entrants(pid, fy, season, four_year_share, state, hs_year, level_grad=None, prior=None):
        n = len(pid)
        four = rng.random(n) < four_year_share
        chosen = np.where(four, rng.choice(len(inst.p), n, p=p4), rng.choice(len(inst.p), n, p=p2))
        level = np.where(four, "05", rng.choice(["03", "01", "02"], n, p=[0.7, 0.15, 0.15]))
        graduate = np.zeros(n, bool) if level_grad is None else level_grad
        level = np.where(graduate, "07", level)
        parts.append(
            Students(
                pid,
                chosen,
                fy,
                season,
                level,
                np.zeros(n, bool),
                state,
                hs_year,
                graduate,
                np.zeros(n) if prior is None else prior,
            )
        )

    # K-12 graduates who enrol in the state
    gp, gy = np.concatenate(k12.grad_pid), np.concatenate(k12.grad_year)
    go = rng.random(len(gp)) < 0.64
    delay = rng.choice([0, 1, 2], len(gp), p=[0.85, 0.1, 0.05])
    gp, gy, delay = gp[go], gy[go], delay[go]
    entrants(gp, gy + 1 + delay, np.full(len(gp), 1), 0.55, np.full(len(gp), "MN"), gy)
    # concurrent enrolment (PSEO): high-school juniors and seniors at two-year colleges
    pp, pf = np.concatenate(k12.pseo_pid), np.concatenate(k12.pseo_fy)
    take = rng.random(len(pp)) < 0.06
    pp, pf = pp[take], pf[take]
    n = len(pp)
    parts.append(
        Students(
            pp,
            rng.choice(len(inst.p), n, p=p2),
            pf,
            np.full(n, 1),
            np.full(n, "00"),
            np.ones(n, bool),
            np.full(n, "MN"),
            np.zeros(n, int),
            np.zeros(n, bool),
            np.zeros(n),
        )
    )
    # people from outside the K-12 window: out-of-state graduates, earlier in-state
    # graduates and adults, each fiscal year; plus students already enrolled in FY2019
    per_year = max(4, int(len(gp) / max(1, len(k12.grad_pid)) * scale.adult_entrant_ratio))
    for fy in range(PS_FIRST_FY - 3, PS_LAST_FY + 1):
        kind = rng.choice(["oos", "prior", "adult"], per_year, p=[0.35, 0.2, 0.45])
        age = np.where(kind == "adult", rng.integers(22, 50, per_year), 18)
        birth = _days(fy - 1, "09-01") - age * 365 - rng.integers(0, 365, per_year)
        pids, origin = people.add(rng, pool, birth, k12=False, twin_share=0.004, ssn_share=0.9)
        kind, age = kind[origin], age[origin]
        m = len(pids)
        state = np.where(kind == "oos", rng.choice(_OUT_OF_STATE, m), "MN")
        hs_year = np.where(kind == "adult", fy - 1 - (age - 18), fy - 1)
        grad = (kind == "adult") & (age >= 24) & (rng.random(m) < 0.25)
        start_fy = np.full(m, max(fy, PS_FIRST_FY))
        prior = np.full(m, float(max(0, PS_FIRST_FY - fy)))
        season = np.where((kind == "adult") & (rng.random(m) < 0.3), 3, 1)
        entrants(pids, start_fy, season, np.where(kind == "adult", 0.3, 0.6), state, hs_year, grad, prior)
    students = Students.concat(parts)
    progress(f"postsecondary: {len(students.pid)} student spells")
    _simulate(scale, seed, people, pool, inst, k12, writer, students, two_year, p4, progress)


@dataclass
class Simulation:
    """What every term and award writer needs, fixed for the whole simulation."""

    seed: int
    people: People
    pool: NamePool
    inst: Institutions
    writer: FeedWriter
    students: Students
    calendar: dict
    uic: dict  # pid -> first UIC (the K-12 ID carried as MARSS number)
    zips: dict  # pid -> last K-12 ZIP code
    swd: np.ndarray  # pids ever in special education
    rng: np.random.Generator


@dataclass
class Standing:
    """Per-spell state the terms update in place (one entry per Students row)."""

    inst_of: np.ndarray
    level: np.ndarray
    years: np.ndarray
    acc_units: np.ndarray
    transfer_units: np.ndarray
    gpa_pts: np.ndarray
    gpa_units: np.ndarray


def _simulate(scale, seed, people, pool, inst, k12, writer, s: Students, two_year, p4, progress) -> None:
    rng = stream(seed, "ps-terms")
    n = len(s.pid)
    calendar = {(r["term_type"], r["term_season"]): r for r in read_seed("ps_term_calendar")}
    active = np.zeros(n, bool)
    done = np.zeros(n, bool)
    years = s.prior_years.astype(float)
    acc_units = years * 30.0
    transfer_units = np.zeros(n)
    gpa_pts = np.zeros(n)
    gpa_units = np.zeros(n)
    enrolled_this_year = np.zeros(n, bool)
    target = np.array([_YEARS_TO_AWARD.get(lv, 99.0) for lv in s.level]) * rng.normal(1.0, 0.12, n)
    persist = np.where(two_year[s.inst], 0.62, 0.84)
    inst_of = s.inst.copy()
    level = s.level.copy()
    uic = _first_uic(k12)
    zips = _first_zip(k12)
    swd = np.unique(np.concatenate(k12.swd)) if k12.swd else np.zeros(0, np.int64)
    sim = Simulation(seed, people, pool, inst, writer, s, calendar, uic, zips, swd, rng)
    standing = Standing(inst_of, level, years, acc_units, transfer_units, gpa_pts, gpa_units)
    for fy in range(PS_FIRST_FY, PS_LAST_FY + 1):
        for si, season in enumerate(SEASONS):
            starting = ~done & ~active & (s.start_fy == fy) & (s.start_season == si)
            active |= starting
            quarter = inst.quarter[inst_of]
            on = active & ~done & (quarter | (season != "WI"))
            if season == "SU":
                on &= hash_uniform(seed, f"su-{fy}", np.arange(n)) < 0.12
            if s.pseo.any():
                on &= ~s.pseo | (season in ("FA", "SP"))
            rows = np.flatnonzero(on)
            if len(rows):
                enrolled_this_year[rows] = True
                _write_terms(sim, standing, rows, fy, season)
        # end of fiscal year: complete, persist, transfer or stop out
        years[enrolled_this_year] += 1
        # reaching the expected length makes completion likely, not certain
        completing = active & enrolled_this_year & (years >= target) & (level != "00") & (rng.random(n) < 0.7)
        _write_awards(sim, standing, np.flatnonzero(completing), fy)
        go_on = completing & (level == "05") & (rng.random(n) < 0.1)
        level[go_on] = "07"
        years[go_on] = 0
        target[go_on] = 2.0
        done |= completing & ~go_on
        stop = active & ~completing & (rng.random(n) > persist)
        stop |= s.pseo & active  # concurrent enrolment lasts one year
        done |= stop
        move = active & ~done & (rng.random(n) < 0.05)
        if move.any():
            transfer_units[move] = acc_units[move]
            inst_of[move] = rng.choice(len(inst.p), int(move.sum()), p=p4)
        enrolled_this_year[:] = False
        progress(f"postsecondary FY{fy}: {int((active & ~done).sum())} continuing")


def _first_uic(k12: K12Outcomes) -> dict:
    pid = np.concatenate([p for p, _ in k12.pid_uic])
    uic = np.concatenate([u for _, u in k12.pid_uic])
    order = np.argsort(pid, kind="stable")
    pid, uic = pid[order], uic[order]
    first = np.r_[True, pid[1:] != pid[:-1]]
    return {"pid": pid[first], "uic": uic[first]}


def _first_zip(k12: K12Outcomes) -> dict:
    pid = np.concatenate([p for p, _ in k12.pid_zip])
    z = np.concatenate([v for _, v in k12.pid_zip])
    order = np.argsort(pid, kind="stable")
    pid, z = pid[order], z[order]
    last = np.r_[pid[1:] != pid[:-1], True]
    return {"pid": pid[last], "zip": z[last]}


def _lookup(table: dict, key: str, pid: np.ndarray, default) -> tuple[np.ndarray, np.ndarray]:
    keys = table["pid"]
    pos = np.clip(np.searchsorted(keys, pid), 0, max(len(keys) - 1, 0))
    found = (keys[pos] == pid) if len(keys) else np.zeros(len(pid), bool)
    return np.where(found, table[key][pos] if len(keys) else default, default), found


def _text(values, mask=None) -> pa.Array:
    values = np.asarray(values)
    if mask is None:
        return pa.array(values.astype(str))
    return pa.array(np.where(mask, values.astype(str), None), pa.string())


def _decimal(values, scale=2, mask=None) -> pa.Array:
    arr = pa.array(np.round(values, scale)).cast(pa.decimal128(9, scale)).cast(pa.string())
    if mask is None:
        return arr
    return pa.array(np.where(mask, arr.to_numpy(zero_copy_only=False), None), pa.string())


def _identity(seed, people, pool, inst_idx, pid, on_day, k12_uic=None):
    """The institution's copy of each person's identity (noise is stable per
    person x institution, so every term from one institution agrees)."""
    key = pid * 1000 + inst_idx
    u = hash_uniform(seed, "id-noise", key)
    married = (people.married_day[pid] <= on_day) & (hash_uniform(seed, "married-update", key) < 0.85)
    last_idx = np.where(married, people.married_last[pid], people.last[pid])
    first_kind = np.select([u < 0.015, u < 0.035, u < 0.045], [1, 2, 3], 0)
    last_kind = np.where((u >= 0.5) & (u < 0.515), 1, 0)
    first = apply_noise(pool.first.take(pa.array(people.first[pid])), first_kind, (u * 7919) % 1, pool)
    last = apply_noise(pool.last.take(pa.array(last_idx)), last_kind, (u * 104729) % 1, pool)
    mid = people.middle[pid]
    mid_u = hash_uniform(seed, "mid", key)
    middle = pool.first.take(pa.array(np.maximum(mid, 0)))
    middle = apply_noise(middle, np.where(mid_u < 0.3, 4, 0), mid_u, pool)
    middle = pa.array(
        np.where((mid >= 0) & (mid_u < 0.9), middle.to_numpy(zero_copy_only=False), None),
        pa.string(),
    )
    birth = swap_day_month(people.birth[pid], hash_uniform(seed, "dm-swap", key) < 0.01)
    # SSN noise: typo, placeholder, someone else's (shared), missing
    ssn = people.ssn[pid].copy()
    su = hash_uniform(seed, "ssn-noise", key)
    digit = 10 ** hash_int(seed, "ssn-digit", 9, key)
    ssn = np.where(su < 0.01, ssn + digit * np.where((ssn // digit) % 10 == 9, -1, 1), ssn)
    ssn = np.where((su >= 0.01) & (su < 0.015), _PLACEHOLDER_SSNS[hash_int(seed, "ph", 3, key)], ssn)
    other = people.ssn[np.where(people.twin_of[pid] >= 0, people.twin_of[pid], (pid * 7 + 13) % len(people))]
    ssn = np.where((su >= 0.015) & (su < 0.018) & (other > 0), other, ssn)
    has_ssn = (people.ssn[pid] > 0) & ~((su >= 0.018) & (su < 0.07))
    has_ssn |= (su >= 0.01) & (su < 0.015)  # placeholders are present, just useless
    ssn_text = pa.array(np.where(has_ssn, np.char.zfill(ssn.astype(str), 9), None), pa.string())
    return {"first": first, "last": last, "middle": middle, "birth": birth, "ssn": ssn_text, "u": u}


def _race(people, pid, u):
    race = people.race[pid]
    single = {32: "AI", 16: "AS", 8: "BL", 4: "PI", 2: "WH", 1: "HI"}
    code = np.full(len(pid), "MU", dtype="<U2")
    for bit, c in single.items():
        code[race == bit] = c
    code[(race & 1).astype(bool)] = "HI"
    code[u < 0.02] = "UN"
    detail_a = np.full(len(pid), None, dtype=object)
    detail_b = np.full(len(pid), None, dtype=object)
    for bit, options in _DETAIL.items():
        has = (race & bit).astype(bool) & (((u * 31) % 1) < 0.5)
        pick = np.array(options, dtype=object)[((u * 97) % 1 * len(options)).astype(int)]
        fill_a = has & (detail_a == None)  # noqa: E711 (object array comparison)
        fill_b = has & ~fill_a & (detail_b == None)  # noqa: E711
        detail_a[fill_a] = pick[fill_a]
        detail_b[fill_b] = pick[fill_b]
    tribe = np.array(_TRIBES, dtype=object)[((u * 53) % 1 * len(_TRIBES)).astype(int)]
    aian = (race & 32).astype(bool)
    enrolled = aian & (((u * 17) % 1) < 0.6)
    descended = aian & ~enrolled & (((u * 19) % 1) < 0.7)
    return (
        code,
        detail_a,
        detail_b,
        np.where(enrolled, tribe, None),
        np.where(descended, tribe, None),
    )


def _demographics(seed, people, pid, inst_idx, u, sex_na=None):
    female = people.female[pid]
    gi_u = hash_uniform(seed, "gi", pid)
    gi_a = np.where(female, "W", "M").astype(object)
    gi_a[gi_u < 0.035] = np.array(["TW", "TM", "NB", "GQ", "TS", "OT", "PN"], dtype=object)[
        (gi_u[gi_u < 0.035] / 0.005).astype(int) % 7
    ]
    gi_b = np.where(gi_u < 0.008, "GQ", None)
    sex = np.where(female, "F", "M").astype(object)
    sex[u > 0.99] = "U"
    race, da, db, te, td = _race(people, pid, hash_uniform(seed, "race-report", pid))
    cols = {
        "ferpa_block": _text(np.where(hash_uniform(seed, "ferpa", pid * 1000 + inst_idx) < 0.04, "Y", "N")),
        "sex": pa.array(sex.tolist(), pa.string()),
        "gender_identity_a": pa.array(gi_a.tolist(), pa.string()),
        "gender_identity_b": pa.array(gi_b.tolist(), pa.string()),
        "gender_identity_c": pa.nulls(len(pid), pa.string()),
        "gender_identity_d": pa.nulls(len(pid), pa.string()),
        "race_ethnicity": _text(race),
        "race_detail_a": pa.array(da.tolist(), pa.string()),
        "race_detail_b": pa.array(db.tolist(), pa.string()),
        "race_detail_c": pa.nulls(len(pid), pa.string()),
        "race_detail_d": pa.nulls(len(pid), pa.string()),
        "tribe_enrolled_a": pa.array(te.tolist(), pa.string()),
        "tribe_enrolled_b": pa.nulls(len(pid), pa.string()),
        "tribe_descended_a": pa.array(td.tolist(), pa.string()),
        "tribe_descended_b": pa.nulls(len(pid), pa.string()),
        "tribe_descended_c": pa.nulls(len(pid), pa.string()),
        "tribe_descended_d": pa.nulls(len(pid), pa.string()),
    }
    return cols


def _apply_not_applicable(cols: dict, inst: Institutions, inst_idx: np.ndarray) -> dict:
    """Starred elements an institution does not collect or disclose carry "NA"."""
    for i, undisclosed in enumerate(inst.undisclosed):
        if not undisclosed:
            continue
        mask = pa.array(inst_idx == i)
        for group in undisclosed:
            for col in _NA_GROUPS.get(group, []):
                if col in cols:
                    cols[col] = pc.if_else(mask, pa.scalar(NOT_APPLICABLE), cols[col])
    return cols


def _write_terms(sim: Simulation, st: Standing, rows: np.ndarray, fy: int, season: str) -> None:
    seed, people, pool, inst, writer, s = sim.seed, sim.people, sim.pool, sim.inst, sim.writer, sim.students
    calendar, uic_tab, zip_tab, swd, rng = sim.calendar, sim.uic, sim.zips, sim.swd, sim.rng
    inst_of, level, years, acc_units = st.inst_of, st.level, st.years, st.acc_units
    transfer_units, gpa_pts, gpa_units = st.transfer_units, st.gpa_pts, st.gpa_units
    rows = rows[np.argsort(inst_of[rows], kind="stable")]
    pid = s.pid[rows]
    ii = inst_of[rows]
    n = len(rows)
    quarter = inst.quarter[ii]
    term_type = np.where(quarter, "Q", "S")
    cal_year = fy - 1 if season in ("SU", "FA") else fy

    # semester calendars have no winter term; only quarter rows reach here for WI
    def day(t, col):
        row = calendar.get((t, season)) or calendar[("Q", season)]
        return _days(cal_year, row[col])

    start = np.array([day(t, "start_month_day") for t in ("S", "Q")])
    end = np.array([day(t, "end_month_day") for t in ("S", "Q")])
    t_start, t_end = start[quarter.astype(int)], end[quarter.astype(int)]
    ident = _identity(seed, people, pool, ii, pid, t_start)
    u = ident["u"]
    pu = rng.random(n)
    # units: full- or part-time load in the institution's unit
    full = pu < np.where(inst.sector[ii] == "public_2yr", 0.55, 0.85)
    attempted = np.where(full, rng.integers(12, 17, n), rng.integers(3, 10, n)).astype(float)
    attempted = np.where(s.pseo[rows], rng.integers(3, 8, n), attempted)
    completed = np.floor(attempted * np.clip(rng.normal(0.9, 0.15, n), 0, 1))
    first_year = years[rows] < 1
    rem_p = np.where(inst.sector[ii] == "public_2yr", 0.35, 0.08) * first_year * ~s.pseo[rows]
    rem = {
        k: np.where(rng.random(n) < rem_p * w, rng.choice([3.0, 4.0], n), 0.0)
        for k, w in (("math", 1.0), ("reading", 0.45), ("writing", 0.5), ("other", 0.1))
    }
    rem_done = {k: np.where(rng.random(n) < 0.75, v, 0.0) for k, v in rem.items()}
    term_gpa = np.clip(rng.normal(2.95, 0.65, n), 0, 4)
    gpa_pts[rows] += term_gpa * completed
    gpa_units[rows] += completed
    acc_units[rows] += completed
    cum_gpa = np.where(gpa_units[rows] > 0, gpa_pts[rows] / np.maximum(gpa_units[rows], 1), term_gpa)
    undergrad = level[rows] != "07"
    recent = s.hs_year[rows] >= fy - 6
    uic, has_uic = _lookup(uic_tab, "uic", pid, 0)
    marss_u = hash_uniform(seed, "marss", pid * 1000 + ii)
    marss = np.where(marss_u < 0.005, uic + 1, uic)  # a keying error in the state ID
    prior_instate = (~people.k12[pid]) & (s.state[rows] == "MN") & (s.hs_year[rows] > 2000)
    fake_uic = 1_000_000_000 + (pid * 7_919) % 8_000_000_000  # earlier graduates: IDs outside the window
    marss = np.where(has_uic, marss, fake_uic)
    has_marss = (has_uic & (marss_u < 0.75)) | (prior_instate & (marss_u < 0.6))
    zip_k12, has_zip = _lookup(zip_tab, "zip", pid, 0)
    zip_code = np.where(has_zip, zip_k12, 55001 + (pid * 13) % 1700)
    zip_code = np.where(s.state[rows] == "MN", zip_code, 10001 + (pid * 31) % 89000)
    act = np.clip(np.round(rng.normal(21.5, 5, n)), 1, 36).astype(int)
    cip = np.array(_CIPS)[hash_int(seed, "cip", len(_CIPS), pid * 1000 + ii)]
    second = hash_uniform(seed, "major2", pid) < 0.05
    cip2 = np.array(_CIPS)[hash_int(seed, "cip2", len(_CIPS), pid)]
    seeking = level[rows] != "00"
    in_state = s.state[rows] == "MN"
    demo = _demographics(seed, people, pid, ii, u)
    cols = {
        "fiscal_year": pa.repeat(pa.scalar(str(fy)), n),
        "institution_code": inst.code.take(pa.array(ii)),
        "term_season": pa.repeat(pa.scalar(season), n),
        "term_start_date": _date_text(t_start),
        "term_end_date": _date_text(t_end),
        "term_type": _text(term_type),
        "last_name": ident["last"],
        "first_name": ident["first"],
        "middle_name": ident["middle"],
        "ssn": ident["ssn"],
        "institution_student_number": _text(
            np.char.add("S", (100_000_000 + (pid * 104_729 + ii * 7) % 900_000_000).astype(str))
        ),
        "marss_number": _text(marss, has_marss),
        **demo,
        "birthdate": _date_text(ident["birth"]),
        "disabling_condition": _text(np.where(np.isin(pid, swd) & (u < 0.7) | (u > 0.97), "Y", "N")),
        "first_generation": _text(np.where(hash_uniform(seed, "firstgen", pid) < 0.35, "Y", "N")),
        "veteran_status": _text(np.where((~recent) & (hash_uniform(seed, "vet", pid) < 0.08), "V", "N")),
        "citizenship_status": _text(np.where(u < 0.94, "1", np.where(u < 0.98, "2", "3"))),
        "state_of_residence": _text(s.state[rows]),
        "county_of_residence": _text(np.char.zfill((1 + 2 * ((zip_code * 7) % 87)).astype(str), 3), in_state),
        "zip_code": _text(np.char.zfill(zip_code.astype(str), 5)),
        "secondary_school_experience": _text(
            np.where(people.k12[pid] | prior_instate, "1", np.where(in_state, "5", "4")), undergrad
        ),
        "hs_graduation_year": _text(s.hs_year[rows], undergrad & (s.hs_year[rows] > 1950)),
        "act_composite": _text(act, undergrad & recent & (hash_uniform(seed, "act", pid) < 0.7)),
        "hs_gpa": _decimal(np.clip(rng.normal(3.2, 0.5, n), 0.5, 4.0), 2, undergrad & recent),
        "registration_type": _text(np.where(s.pseo[rows], "P", np.where(pu > 0.995, "A", "R"))),
        "student_level": _text(np.where(undergrad, "U", "G")),
        "tuition_type": _text(np.where(in_state, "R", np.where(np.isin(s.state[rows], ["WI", "ND", "SD"]), "C", "N"))),
        "award_seeking": _text(np.where(seeking, "Y", "N")),
        "major_1_cip": _text(cip, seeking),
        "cip_year": _text(np.where(fy <= 2020, "2010", "2020"), seeking),
        "award_level_1": _text(level[rows]),
        "major_2_cip": _text(cip2, second & seeking),
        "award_level_2": _text(level[rows], second & seeking),
        "term_gpa": _decimal(term_gpa),
        "cumulative_gpa": _decimal(cum_gpa),
        "unit_of_measure": _text(term_type),
        "quarter_hour_equivalence": _decimal(np.where(quarter, 1.0, 1.5)),
        "regular_units_attempted": _decimal(attempted, 1),
        "regular_units_completed": _decimal(completed, 1),
        "remedial_units_attempted": _decimal(sum(rem.values()), 1),
        "remedial_units_completed": _decimal(sum(rem_done.values()), 1),
        **{f"remedial_units_attempted_{k}": _decimal(v, 1) for k, v in rem.items()},
        **{f"remedial_units_completed_{k}": _decimal(v, 1) for k, v in rem_done.items()},
        "completed_college_math": _text(np.where(rng.random(n) < 0.25 * (completed > 0), "Y", "N")),
        "completed_college_english": _text(np.where(rng.random(n) < 0.3 * (completed > 0), "Y", "N")),
        "accumulated_units": _decimal(acc_units[rows] + transfer_units[rows], 1),
        "transfer_units": _decimal(transfer_units[rows], 1),
    }
    cols = _apply_not_applicable(cols, inst, ii)
    _write_by_institution(
        writer,
        "ps_enrollment",
        cols,
        pid,
        ii,
        inst,
        seed,
        lambda code: f"ps_enrollment/FY{fy}/enrollment_{code}_FY{fy}_{season}",
        inject=(season == "FA"),
    )


def _write_awards(sim: Simulation, st: Standing, rows: np.ndarray, fy: int) -> None:
    seed, people, pool, inst, writer, s, rng = (
        sim.seed,
        sim.people,
        sim.pool,
        sim.inst,
        sim.writer,
        sim.students,
        sim.rng,
    )
    inst_of, level = st.inst_of, st.level
    if len(rows) == 0:
        return
    rows = rows[np.argsort(inst_of[rows], kind="stable")]
    pid = s.pid[rows]
    ii = inst_of[rows]
    n = len(rows)
    award_day = np.array([_days(fy, "05-08")] * n) + rng.integers(0, 40, n)
    ident = _identity(seed, people, pool, ii, pid, award_day)
    u = ident["u"]
    lv = level[rows]
    has_debt = rng.random(n) < 0.62
    debt = np.round(np.array([_DEBT.get(x, 10000) for x in lv]) * rng.lognormal(0, 0.45, n), -1).astype(int)
    report_debt = has_debt | inst.state_aid[ii]
    debt = np.where(has_debt, debt, 0)
    optional_missing = ~inst.state_aid[ii] & (rng.random(n) < 0.5)
    joint = rng.random(n) < 0.01
    partner = inst.code.take(pa.array((ii + 1) % len(inst.codes))).to_numpy(zero_copy_only=False)
    cip = np.array(_CIPS)[hash_int(seed, "cip", len(_CIPS), pid * 1000 + ii)]
    second = hash_uniform(seed, "major2", pid) < 0.05
    cip2 = np.array(_CIPS)[hash_int(seed, "cip2", len(_CIPS), pid)]
    cols = {
        "fiscal_year": pa.repeat(pa.scalar(str(fy)), n),
        "institution_code": inst.code.take(pa.array(ii)),
        "last_name": ident["last"],
        "first_name": ident["first"],
        "middle_name": ident["middle"],
        "ssn": ident["ssn"],
        "institution_student_number": _text(
            np.char.add("S", (100_000_000 + (pid * 104_729 + ii * 7) % 900_000_000).astype(str))
        ),
        **_demographics(seed, people, pid, ii, u),
        "birthdate": _date_text(ident["birth"]),
        "state_of_residence": _text(s.state[rows]),
        "award_type": _text(lv),
        "award_date": _date_text(award_day),
        "joint_award_institution": _text(partner, joint),
        "major_1_cip": _text(cip),
        "major_2_cip": _text(cip2, second),
        "cip_year": _text(np.full(n, "2010" if fy <= 2020 else "2020")),
        "cumulative_debt": _text(debt, report_debt & ~optional_missing),
    }
    cols = _apply_not_applicable(cols, inst, ii)
    _write_by_institution(
        writer,
        "ps_awards",
        cols,
        pid,
        ii,
        inst,
        seed,
        lambda code: f"ps_awards/FY{fy}/awards_{code}_FY{fy}",
        inject=True,
    )


def _write_by_institution(writer, feed, cols, pid, ii, inst, seed, relpath, inject):
    bounds = np.flatnonzero(np.r_[True, ii[1:] != ii[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        part = {k: v.slice(a, b - a) for k, v in cols.items()}
        part_pid = pid[a:b]
        defect = None
        code = inst.codes[ii[a]]
        # one institution per file set gets the deliberately bad records
        if inject and writer.inject_bad_records and ii[a] == 0:
            part, part_pid, defect = defects.inject(feed, part, part_pid, seed + int(part_pid[0]) % 997)
        writer.write(feed, relpath(code), part, part_pid, defect)


def _date_text(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days).astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string())


__all__ = ["K12Outcomes", "generate"]
