"""Deliberately bad records, so the quarantine has work in every generated data set.

Each defect breaks exactly one row-level rule that the ingest contracts
(expectations/) enforce; the ground truth names the defect, so tests can check
that every injected row is quarantined for the right reason and nothing else is.
File-level problems (bad encodings, missing columns) are not generated here:
they would fail the whole partition; the ingest test corpus covers them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.generate.rand import stream

# (defect name, column, bad value); "DUPLICATE" copies a whole row
_DEFECTS = {
    "msds": [
        ("invalid_grade", "grade", "16"),
        ("uic_not_10_digits", "uic", "123456789"),
        ("race_not_6_flags", "race_ethnicity", "00100"),
        ("exit_before_enrollment", "exit_date", "2001-01-01"),
        ("birthdate_in_future", "date_of_birth", "2031-05-17"),
        ("invalid_residency", "residency_code", "99"),
        ("missing_first_name", "first_name", None),
        ("fte_above_one", "fte", "1.50"),
        ("impossible_date", "enrollment_date", "2019-02-30"),
        ("duplicate_record", "DUPLICATE", None),
    ],
    "assessment": [
        ("invalid_subject", "subject", "XX"),
        ("uic_not_10_digits", "uic", "12345"),
        ("invalid_performance_level", "performance_level", "7"),
        ("score_not_a_number", "scale_score", "4O5"),
        ("duplicate_record", "DUPLICATE", None),
    ],
    "ps_enrollment": [
        ("invalid_term_season", "term_season", "XX"),
        ("cip_bad_format", "major_1_cip", "5.0101"),
        ("not_applicable_on_unstarred", "award_seeking", "NA"),
        ("act_out_of_range", "act_composite", "44"),
        ("term_end_before_start", "term_end_date", "2000-01-01"),
        ("impossible_date", "birthdate", "2001-02-30"),
        ("duplicate_record", "DUPLICATE", None),
    ],
    "ps_awards": [
        ("invalid_award_type", "award_type", "99"),
        ("negative_debt", "cumulative_debt", "-500"),
        ("not_applicable_on_unstarred", "award_type", "NA"),
        ("duplicate_record", "DUPLICATE", None),
    ],
}


def inject(feed: str, cols: dict[str, pa.Array], pid: np.ndarray, seed: int):
    """Return (columns, person ids, defect per row) with one row per defect broken."""
    n = len(pid)
    specs = _DEFECTS[feed]
    if n < len(specs) + 1:
        return cols, pid, None
    rng = stream(seed, f"defects-{feed}")
    rows = rng.choice(n, size=len(specs), replace=False)
    defect = np.full(n, None, dtype=object)
    cols = dict(cols)
    duplicate_of = None
    for (name, column, value), row in zip(specs, rows, strict=True):
        defect[row] = name
        if column == "DUPLICATE":
            duplicate_of = int(row)
            defect[row] = None  # the original row is fine; its copy is the defect
            continue
        mask = np.zeros(n, bool)
        mask[row] = True
        cols[column] = pc.if_else(pa.array(mask), pa.scalar(value, pa.string()), cols[column].cast(pa.string()))
    if duplicate_of is not None:
        cols = {
            k: pa.concat_arrays([v.cast(pa.string()), v.cast(pa.string()).slice(duplicate_of, 1)])
            for k, v in cols.items()
        }
        pid = np.concatenate([pid, pid[duplicate_of : duplicate_of + 1]])
        defect = np.concatenate([defect, np.array(["duplicate_record"], dtype=object)])
    return cols, pid, defect.tolist()
