"""How big each generated data set is. Every scale covers the same years, so the
calendar seeds and the pipeline see the same shape at every size."""

from __future__ import annotations

from dataclasses import dataclass

# K-12 school years 2018-19 .. 2023-24 (six), postsecondary fiscal years 2019 .. 2026:
# the postsecondary side runs two years past the last K-12 year so graduates have
# time to enrol, persist and complete, and it covers the agreement's restricted
# window (academic years 2021-22 through 2025-26) and years outside it.
K12_FIRST_YEAR = 2018
K12_YEARS = 6
PS_FIRST_FY = 2019
PS_LAST_FY = 2026


@dataclass(frozen=True)
class Scale:
    name: str
    students_per_grade: int  # size of each K-12 grade cohort
    districts: int  # how many districts of seeds/k12_districts.csv are used
    institutions: int  # how many institutions of seeds/institutions.csv are used
    adult_entrant_ratio: float  # non-K-12 college entrants per K-12 graduate
    inject_bad_records: bool = True


SCALES = {
    "tiny": Scale("tiny", students_per_grade=16, districts=4, institutions=6, adult_entrant_ratio=0.6),
    "demo": Scale("demo", students_per_grade=600, districts=40, institutions=20, adult_entrant_ratio=1.6),
    # a small state: one tenth of the students in the same 540 districts and 60 institutions,
    # so schools are small and published cells are many and small (issue 17)
    "tenth": Scale("tenth", students_per_grade=7_700, districts=540, institutions=60, adult_entrant_ratio=1.6),
    # ~1M K-12 students a year; ~5M enrollment-term rows; ~360k awards
    "state": Scale("state", students_per_grade=77_000, districts=540, institutions=60, adult_entrant_ratio=1.6),
}


def school_year_label(start_year: int) -> str:
    return f"{start_year}-{str(start_year + 1)[2:]}"
