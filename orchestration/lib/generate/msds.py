"""Turn a school year's enrollment spells into MSDS collection files."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lib.generate.k12 import _ECDD, _STREETS, K12Model
from orchestration.lib.generate.names import apply_noise
from orchestration.lib.generate.people import race_strings
from orchestration.lib.generate.rand import hash_uniform, stream
from orchestration.lib.generate.scales import K12_FIRST_YEAR, school_year_label


def _grade_code(grade: np.ndarray, prek: np.ndarray, adult: np.ndarray, ungraded: np.ndarray) -> np.ndarray:
    codes = np.char.zfill(np.clip(grade, 0, 12).astype(str), 2)
    codes = np.where(ungraded & (grade >= 3) & (grade <= 12), "14", codes)
    codes = np.where(prek, "30", codes)
    return np.where(adult, "20", codes)


def _dates(days: np.ndarray, keep: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string())
    if keep is None:
        return arr
    return pa.array(np.where(keep, arr.to_numpy(zero_copy_only=False), None), pa.string())


def collection(model: K12Model, t: int, sp: dict, name: str) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Columns of one collection (FALL, SPRING or EOY) and the person id of each row."""
    d = sp["dates"]
    first = d.first_day
    count = {"FALL": d.fall, "SPRING": d.spring, "EOY": d.last_day}[name] - first
    start, end, status = sp["start"], sp["end"], sp["status"]
    if name == "FALL":
        keep = start <= count
    elif name == "SPRING":
        keep = (start <= count) & (end >= d.fall - first)
    else:
        keep = np.ones(len(start), bool)
    rows = np.flatnonzero(keep)
    j = sp["j"][rows]
    en, stat = end[rows], status[rows]
    exited = (stat != "") & (en <= count)
    if name == "EOY":  # everyone gets an exit record at year end; 19 = continuing
        stat = np.where(stat == "", "19", stat)
        exited = np.ones(len(rows), bool)
    return _columns(model, t, sp, name, rows, j, count, stat, exited)


def _columns(model, t, sp, name, rows, j, count, stat, exited):
    people, pool, dirs = model.people, model.pool, model.dirs
    d = sp["dates"]
    first = d.first_day
    pid = model.pid[j]
    n = len(rows)
    u = hash_uniform(model.seed, f"msds-{t}-{name}", pid)
    grade = sp["grade"][rows]
    district = sp["district"][rows]
    slot = model.slot[j]
    building = dirs.building_for(district, np.where(sp["prek"][rows], 0, grade), slot)
    # SEE / shared time: some high-school students are taught (and reported) at a career
    # centre; the S2E2 code sends their scores back to the home building
    see = (grade >= 11) & (grade <= 12) & (hash_uniform(model.seed, f"see-{t}", pid) < 0.015)
    center = dirs.career_centers[slot % len(dirs.career_centers)]
    s2e2 = np.where(see, building, -1)
    building = np.where(see, center, building)
    rec_district = np.where(see, dirs.building_district[building], district)
    ungraded = model.ungraded[j] & (model.sped_start[j] <= t)
    # characteristics at the collection's count date
    c_day = count
    span = sp["span"]
    sped_on = (model.sped_start[j] <= t) & (model.sped_exit_year[j] >= t)
    sped_exit_day = (model.sped_exit_frac[j] * span).astype(int)
    sped_exited = sped_on & (model.sped_exit_year[j] == t) & (sped_exit_day <= c_day)
    code = np.where(sp["prek"][rows], _ECDD, model.sped_code[j])
    sped_on = sped_on | sp["prek"][rows]
    lep_on = (model.lep_start[j] <= t) & (model.lep_exit_year[j] >= t)
    lep_exit_day = (model.lep_exit_frac[j] * span).astype(int)
    lep_exited = lep_on & (model.lep_exit_year[j] == t) & (lep_exit_day <= c_day)
    churn = hash_uniform(model.seed, f"ed-{t}", pid) < 0.08
    eligible = model.ed_base[j] ^ churn
    gained = ~eligible & (hash_uniform(model.seed, f"ed-gain-{t}", pid) < 0.04) & (name != "FALL")
    eligible = eligible | gained
    nutrition = np.where(eligible, model.nutrition_code[j], model.nutrition_none[j])
    direct = np.where(eligible & (hash_uniform(model.seed, "dc", pid) < 0.55), "Y", "N")
    # homeless in about 2% of records, and in the year a student was chosen to carry a rare code
    homeless = (hash_uniform(model.seed, f"homeless-{t}", pid) < 0.02) | (model.homeless_year[j] == t)
    night = np.where(homeless, model.night_code[j], model.not_homeless)
    # names: legal name with keying noise in about 1 record in 80
    last_idx = people.last[pid]
    first_names = pool.first.take(pa.array(people.first[pid]))
    last_names = pool.last.take(pa.array(last_idx))
    mid = people.middle[pid]
    middle = pool.first.take(pa.array(np.maximum(mid, 0)))
    middle = pa.array(np.where(mid >= 0, middle.to_numpy(zero_copy_only=False), None), pa.string())
    nk = np.where(u < 0.006, 1, 0)
    first_names = apply_noise(first_names, nk, u * 1000 % 1, pool)
    last_names = apply_noise(last_names, np.where((u >= 0.006) & (u < 0.012), 1, 0), u * 777 % 1, pool)
    middle = apply_noise(middle, np.where((u >= 0.012) & (u < 0.05), 4, 0), u, pool)
    streets = np.array(_STREETS)[model.street[j]]
    cities = np.array(dirs.district_city)[district]
    zips = (55001 + (district * 37) % 1700).astype(str)
    entry = sp["entry"][rows]
    exit_day = np.where(stat == "19", span, sp["end"][rows]) + first
    # the submitting entity is the district that reports the record
    cols = {
        "school_year": pa.repeat(pa.scalar(school_year_label(K12_FIRST_YEAR + t)), n),
        "collection": pa.repeat(pa.scalar(name), n),
        "submitting_entity": dirs.district_code.take(pa.array(rec_district)),
        "uic": pa.array(sp["uic"][rows]),
        "last_name": last_names,
        "first_name": first_names,
        "middle_name": middle,
        "date_of_birth": _dates(people.birth[pid]),
        "gender": pa.array(np.where(people.female[pid], "F", "M")),
        "street_address": pa.array(np.char.add(np.char.add(model.street_no[j].astype(str), " "), streets)),
        "city": pa.array(cities),
        "zip_code": pa.array(zips),
        "district_code": dirs.district_code.take(pa.array(rec_district)),
        "building_code": dirs.building_code.take(pa.array(building)),
        "grade": pa.array(_grade_code(grade, sp["prek"][rows], sp["adult"][rows], ungraded)),
        "residency_code": pa.array(model.residency[j]),
        "fte": pa.array(np.round(model.fte[j], 2)).cast(pa.decimal128(3, 2)),
        "enrollment_date": _dates(entry),
        "exit_date": _dates(exit_day, exited),
        "exit_status": pa.array(np.where(exited, stat, None), pa.string()),
        "race_ethnicity": pa.array(race_strings(people.race[pid])),
        "primary_disability": pa.array(np.where(sped_on, code, None), pa.string()),
        "sped_exit_date": _dates(first + sped_exit_day, sped_exited),
        "sped_exit_reason": pa.array(np.where(sped_exited, model.sped_exit_reason[j], None), pa.string()),
        "lep_program": pa.array(np.where(lep_on, model.lep_program[j], None), pa.string()),
        "lep_exit_date": _dates(first + lep_exit_day, lep_exited),
        "lep_exit_reason": pa.array(np.where(lep_exited, model.lep_exit_reason[j], None), pa.string()),
        "nutrition_eligibility": pa.array(nutrition),
        "direct_certification": pa.array(direct),
        "migrant": pa.array(np.where(model.migrant[j], "Y", "N")),
        "nighttime_residence": pa.array(night),
        "s2e2_building_code": pa.array(
            np.where(
                see,
                dirs.building_code.take(pa.array(np.maximum(s2e2, 0))).to_numpy(zero_copy_only=False),
                None,
            ),
            pa.string(),
        ),
        "as_of_date": pa.nulls(n, pa.string()),
        "certification_date": pa.nulls(n, pa.string()),
    }
    return cols, pid


def srm(model: K12Model, t: int, sp: dict, part: int) -> tuple[dict[str, pa.Array], np.ndarray]:
    """A Student Record Maintenance file: corrections to a few Fall (part 1) or Spring
    (part 2) records, with AS OF and certification dates. Some fall outside the AS OF
    range or were certified after the deadline, as real SRMs do, so the accountability
    rules have something to reject."""
    base = "FALL" if part == 1 else "SPRING"
    cols, pid = collection(model, t, sp, base)
    rng = stream(model.seed, f"srm-{t}-{part}")
    n = len(pid)
    pick = np.flatnonzero(rng.random(n) < 0.004)
    if len(pick) == 0 and n:
        pick = np.array([0])
    cols = {k: v.take(pa.array(pick)) for k, v in cols.items()}
    pid = pid[pick]
    k = len(pick)
    d = sp["dates"]
    lo, hi = d.fall_as_of if part == 1 else d.spring_as_of
    deadline = d.fall_deadline if part == 1 else d.spring_deadline
    kind = rng.random(k)
    as_of = np.where(kind < 0.85, rng.integers(lo, hi + 1, k), lo - rng.integers(5, 40, k))
    late = rng.random(k) < 0.15
    cert = np.where(
        late,
        deadline + rng.integers(1, 30, k),
        np.minimum(as_of + rng.integers(1, 20, k), deadline),
    )
    # what the SRM changes: grade correction, residency, a disability or an exit
    change = rng.integers(0, 4, k)
    grade = np.array(cols["grade"].to_pylist(), dtype=object)
    fix_grade = (change == 0) & np.isin(grade, [f"{g:02d}" for g in range(12)])
    grade[fix_grade] = [f"{int(g) + 1:02d}" for g in grade[fix_grade]]
    cols["grade"] = pa.array(grade.tolist(), pa.string())
    res = np.array(cols["residency_code"].to_pylist(), dtype=object)
    res[change == 1] = "08"
    cols["residency_code"] = pa.array(res.tolist(), pa.string())
    dis = np.array(cols["primary_disability"].to_pylist(), dtype=object)
    dis[(change == 2)] = "12"
    cols["primary_disability"] = pa.array(dis.tolist(), pa.string())
    ex = change == 3
    cols["exit_status"] = pa.array(
        np.where(ex, "12", np.array(cols["exit_status"].to_pylist(), dtype=object)).tolist(),
        pa.string(),
    )
    cols["exit_date"] = pa.array(
        np.where(
            ex,
            _dates(as_of).to_numpy(zero_copy_only=False),
            np.array(cols["exit_date"].to_pylist(), dtype=object),
        ).tolist(),
        pa.string(),
    )
    cols["collection"] = pa.repeat(pa.scalar("SRM"), k)
    cols["as_of_date"] = _dates(as_of)
    cols["certification_date"] = _dates(cert)
    return cols, pid
