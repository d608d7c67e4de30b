"""State assessment results for one testing window, drawn from that window's MSDS collection.

One record per student per subject tested (reading and mathematics: about two test
events per tested student), the way a test vendor's file looks: the student as
registered for the test (UIC, name, birthdate copied from the MSDS record), where the
student sat the test, the grade of the test booklet, the assessment (general or the
alternate for students with significant cognitive disabilities), scale score and level.
Real files hold what the accountability rules exist for, so this one does too: students
expected to test with no record at all, students not tested with a reason, out-of-level
tests (a booklet of another grade than the MSDS grade), invalidated scores, S2E2 students
tested at their resident building, and records of students nobody expected to test
(nonpublic and home-schooled students, grade-12 retakes).

Scores come from a latent ability per person with the gaps real results show (economic
disadvantage, disability, English learners), so subgroup results differ as they do."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lib.generate.k12 import K12Model, role_codes
from orchestration.lib.generate.rand import hash_uniform

SUBJECTS = ("RD", "MA")
_COLUMNS = ("school_year", "testing_window", "uic", "last_name", "first_name", "date_of_birth", "district_code",
            "building_code", "test_grade", "subject", "assessment", "scale_score", "performance_level", "validity",
            "not_tested_reason")  # fmt: skip  # seeds/accountability_tested_subjects.csv: reading and mathematics
_NOT_TESTED = (("ABS", 0.50), ("MED", 0.12), ("REF", 0.20), ("OTH", 0.10), ("ELPA", 0.08))
_NO_RECORD, _NOT_TESTED_P, _OUT_OF_LEVEL_P = 0.02, 0.015, 0.012  # per student
_INVALID_P = 0.012  # per test event
_ALTERNATE_P = 0.12  # of students with a primary disability


def _text(arr: pa.Array) -> np.ndarray:
    return np.array(arr.to_pylist(), dtype=object)


def _normal(seed: int, salt: str, pid: np.ndarray) -> np.ndarray:
    u1 = np.maximum(hash_uniform(seed, salt + "-1", pid), 1e-12)
    u2 = hash_uniform(seed, salt + "-2", pid)
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def _grade_number(grade: np.ndarray, birth: np.ndarray, school_year_start: int) -> np.ndarray:
    """The MSDS grade as a number; ungraded (14) from age on December 1 minus 6; else -1."""
    out = np.full(len(grade), -1, np.int64)
    graded = np.isin(grade, [f"{g:02d}" for g in range(13)])
    out[graded] = grade[graded].astype(np.int64)
    ungraded = grade == "14"
    if ungraded.any():
        # whole years on December 1, by (month, day): day-of-year offsets shift in leap years
        born = birth[ungraded].astype(str)
        year = np.array([int(b[:4]) for b in born])
        after_dec1 = np.array([b[5:10] > "12-01" for b in born])
        out[ungraded] = school_year_start - year - after_dec1.astype(int) - 6
    return out


def results(
    model: K12Model, t: int, window: str, school_year_start: int, cols: dict[str, pa.Array], pid: np.ndarray
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The window's (FALL or SPRING) assessment file from its MSDS collection columns."""
    seed = model.seed
    # the codes the MSDS rules single out: seeds/msds_code_roles.csv, as the K-12 model reads them
    continuing = role_codes("exit_status_continuing")[0]
    exited = np.array([s is not None and s != continuing for s in cols["exit_status"].to_pylist()])
    # one row per student: the record that still enrols them, else the first
    order = np.lexsort((np.arange(len(pid)), exited, pid))
    first = order[np.r_[True, pid[order][1:] != pid[order][:-1]]] if len(pid) else order
    p = pid[first]
    grade = _text(cols["grade"])[first]
    birth = _text(cols["date_of_birth"])[first]
    g = _grade_number(grade, birth, school_year_start)
    residency = _text(cols["residency_code"])[first]
    disability = _text(cols["primary_disability"])[first]
    econ = np.isin(_text(cols["nutrition_eligibility"])[first], role_codes("nutrition_eligible"))
    lep = np.array([v is not None for v in _text(cols["lep_program"])[first]])
    u = hash_uniform(seed, f"assess-{t}-{window}", p)
    if window == "FALL":
        tested = (g >= 3) & (g <= 9)
    else:  # grade 11, and a few grade-12 students (eligible, or retaking)
        tested = (g == 11) | ((g == 12) & (hash_uniform(seed, f"assess-12-{t}", p) < 0.08))
    public = residency == role_codes("residency_resident")[0]
    tested &= public | (hash_uniform(seed, f"assess-nonpublic-{t}", p) < 0.2)
    tested &= ~exited[first] | (hash_uniform(seed, f"assess-exited-{t}", p) < 0.1)
    tested &= u >= _NO_RECORD  # expected to test, no record at all
    keep = np.flatnonzero(tested)
    if len(keep) == 0:  # a window nobody tests in (a tiny custom scale): an empty file, not a crash
        return {name: pa.array([], pa.string()) for name in _COLUMNS}, np.array([], np.int64)
    p, g, u, first = p[keep], g[keep], u[keep], first[keep]
    disability, econ, lep = disability[keep], econ[keep], lep[keep]
    not_tested = u < _NO_RECORD + _NOT_TESTED_P
    out_of_level = ~not_tested & (u < _NO_RECORD + _NOT_TESTED_P + _OUT_OF_LEVEL_P)
    test_grade = np.where(out_of_level, np.where(g > 3, g - 1, g + 1), g)
    test_grade = np.where(out_of_level & (g == 11), 12, np.where(out_of_level & (g == 12), 11, test_grade))
    test_grade = np.where(test_grade == 10, 9, test_grade)  # no grade-10 test: a grade-9 booklet
    swd = np.array([d is not None for d in disability])
    alternate = swd & (hash_uniform(seed, "alternate", p) < _ALTERNATE_P)
    ability = _normal(seed, "ability", p) - 0.45 * econ - 0.8 * swd - 0.5 * lep
    reason_u = hash_uniform(seed, f"assess-why-{t}-{window}", p)
    reasons, cuts = zip(*_NOT_TESTED, strict=True)
    reason = np.array(reasons)[np.searchsorted(np.cumsum(cuts), reason_u * sum(cuts), side="right")]
    # tested at the S2E2 (resident) building for half of the shared-time students
    s2e2 = _text(cols["s2e2_building_code"])[first]
    building = _text(cols["building_code"])[first]
    district = _text(cols["district_code"])[first]
    at_home = np.array([c is not None for c in s2e2]) & (hash_uniform(seed, f"assess-s2e2-{t}", p) < 0.5)
    home_district = _district_of(model, s2e2)
    building = np.where(at_home, s2e2, building)
    district = np.where(at_home, home_district, district)
    parts: list[dict[str, np.ndarray]] = []
    for subject in SUBJECTS:
        ev = hash_uniform(seed, f"assess-{t}-{window}-{subject}", p)
        noise = _normal(seed, f"assess-noise-{t}-{window}-{subject}", p)
        z = ability + 0.35 * noise + (0.1 if subject == "RD" else 0.0)
        # general: grade x 100 scale, proficient from x00; alternate (MI-Access) its own scale
        gen_diff = np.round(6 + 26 * z).astype(np.int64)
        alt_diff = np.round(8 + 15 * z + 20).astype(np.int64)
        score = np.where(alternate, 2300 + alt_diff, 100 * test_grade + gen_diff)
        level = np.where(
            alternate,
            np.where(alt_diff >= 40, "1", np.where(alt_diff >= 15, "2", "3")),
            np.where(gen_diff >= 30, "1", np.where(gen_diff >= 0, "2", np.where(gen_diff >= -25, "3", "4"))),
        )
        subject_reason = np.where((reason == "ELPA") & (subject != "RD"), "ABS", reason)
        invalid = ~not_tested & (ev < _INVALID_P)
        validity = np.where(ev < _INVALID_P * 0.4, "PB", "NS")
        parts.append(
            {
                "p": p,
                "first": first,
                "test_grade": np.char.zfill(test_grade.astype(str), 2),
                "subject": np.full(len(p), subject),
                "assessment": np.where(alternate, "ALTERNATE", "GENERAL"),
                "scale_score": np.where(not_tested, None, score.astype(str)),
                "performance_level": np.where(not_tested, None, level),
                "validity": np.where(invalid, validity, None),
                "not_tested_reason": np.where(not_tested, subject_reason, None),
                "district": district,
                "building": building,
            }
        )
    rows = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    # the vendor's file is sorted by student, then subject
    order = np.lexsort((rows["subject"], rows["p"]))
    rows = {k: v[order] for k, v in rows.items()}
    src = rows["first"]
    n = len(src)
    out = {
        "school_year": pa.repeat(pa.scalar(cols["school_year"][0].as_py() if len(cols["school_year"]) else ""), n),
        "testing_window": pa.repeat(pa.scalar(window), n),
        "uic": cols["uic"].take(pa.array(src)),
        "last_name": cols["last_name"].take(pa.array(src)),
        "first_name": cols["first_name"].take(pa.array(src)),
        "date_of_birth": cols["date_of_birth"].take(pa.array(src)),
        "district_code": pa.array(rows["district"].tolist(), pa.string()),
        "building_code": pa.array(rows["building"].tolist(), pa.string()),
    }
    for name in ("test_grade", "subject", "assessment", "scale_score", "performance_level", "validity"):
        out[name] = pa.array(rows[name].tolist(), pa.string())
    out["not_tested_reason"] = pa.array(rows["not_tested_reason"].tolist(), pa.string())
    return out, rows["p"]


def _district_of(model: K12Model, buildings: np.ndarray) -> np.ndarray:
    """The district code of each building code (None stays None), from the directory."""
    dirs = model.dirs
    codes = dirs.building_code.to_pylist()
    districts = dirs.district_code.to_pylist()
    of = {b: districts[dirs.building_district[i]] for i, b in enumerate(codes)}
    return np.array([of.get(b) if b is not None else None for b in buildings], dtype=object)
