"""Is every piece of reference data the loaded records need in the seeds?

The models join loaded MSDS records to seeds: the collection calendar (the dated
windows DOMAIN §2 makes configuration) and the K-12 directory (buildings, districts).
A record whose key a seed lacks is kept by every model (a left join: no row dropped,
no fallback to another district filled in), and this module names what is missing,
each problem with the seed file, the missing key, how many loaded records need it and
the row to add (the seed's own header, with <placeholders> for what the records cannot
tell). The blocking check `reference_data_complete` (orchestration/defs/reference_checks.py)
fails the build on any problem, so nothing is released from incomplete reference data.

Pure: a DuckDB connection to the warehouse in, problems out; no Dagster. Codes and
counts only, never a person's value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import paths

RECORDS = "intermediate.int_msds__records"  # every loaded MSDS record with a research ID
CALENDAR = "msds_collection_calendar"
BUILDINGS = "k12_buildings"
DISTRICTS = "k12_districts"
CODE_SETS = "code_sets"
YEARS_SHOWN = 4  # school years named in one problem; more are counted


def seed_file(seed: str) -> str:
    return f"seeds/{seed}.csv"


def seed_header(seed: str, seeds_dir: Path | None = None) -> list[str]:
    """The column names of seeds/<seed>.csv, as the file has them now."""
    path = Path(seeds_dir or paths.SEEDS_DIR) / f"{seed}.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def row_to_add(seed: str, known: dict[str, str], seeds_dir: Path | None = None) -> str:
    """A CSV row of seeds/<seed>.csv in its header's order: the known values, and
    `<column>` for each value the steward supplies."""
    return ",".join(known.get(column, f"<{column}>") for column in seed_header(seed, seeds_dir))


def code_set_fix(code_set: str) -> str:
    """What a quarantine reason for a code outside `code_set` says to do if the code is valid."""
    return f"if the code is valid, add it to {seed_file(CODE_SETS)}: {row_to_add(CODE_SETS, {'code_set': code_set})}"


@dataclass(frozen=True)
class Use:
    """Records that need the missing key in one role (e.g. as their S2E2 building)."""

    role: str
    records: int
    school_years: tuple[str, ...]
    district: str = ""  # the district the records report a building with

    def describe(self) -> str:
        noun = "record" if self.records == 1 else "records"
        if not self.role:
            return f"needed by {self.records} loaded {noun}"
        years = ", ".join(self.school_years[:YEARS_SHOWN])
        if len(self.school_years) > YEARS_SHOWN:
            years += f" and {len(self.school_years) - YEARS_SHOWN} more years"
        district = f", reported with district {self.district}" if self.district else ""
        return f"{self.role} of {self.records} {noun} in {years}{district}"


@dataclass(frozen=True)
class MissingReference:
    seed: str  # the seed's name: seeds/<seed>.csv
    missing: str  # what the seed has no row for, e.g. "building 09999"
    key: tuple[str, ...]  # the missing key's values
    row: str  # the row to add, in the seed's column order
    uses: tuple[Use, ...] = field(default=())

    @property
    def file(self) -> str:
        return seed_file(self.seed)

    @property
    def records(self) -> int:
        return sum(u.records for u in self.uses)

    def message(self) -> str:
        uses = "; ".join(u.describe() for u in self.uses)
        return f"{self.file} has no {self.missing} ({uses}; add: {self.row})"

    def as_dict(self) -> dict:
        return {
            "seed_file": self.file,
            "missing": self.missing,
            "records": self.records,
            "uses": [
                {"role": u.role, "records": u.records, "school_years": list(u.school_years), "district": u.district}
                for u in self.uses
            ],
            "row_to_add": self.row,
        }


def _years(value) -> tuple[str, ...]:
    return tuple(sorted(value or ()))


def _calendar(con, records: str) -> list[MissingReference]:
    """(school year, collection) pairs the records need and the calendar lacks: a Fall,
    Spring or End of Year record needs its own collection's row, an SRM record the fall
    and spring rows its AS OF date is matched against."""
    rows = con.execute(
        f"""
        WITH needed AS (
            SELECT school_year, lower(collection) AS collection, count(*) AS records
            FROM {records} WHERE collection IN ('FALL', 'SPRING', 'EOY') AND school_year IS NOT NULL
            GROUP BY ALL
            UNION ALL
            SELECT r.school_year, w.collection, count(*)
            FROM {records} AS r CROSS JOIN (VALUES ('fall'), ('spring')) AS w(collection)
            WHERE r.collection = 'SRM' AND r.school_year IS NOT NULL
            GROUP BY ALL
        )
        SELECT n.school_year, n.collection, sum(n.records)::BIGINT
        FROM needed AS n
        WHERE NOT EXISTS (
            SELECT 1 FROM reference.{CALENDAR} AS c
            WHERE c.school_year = n.school_year AND lower(c.collection) = n.collection
        )
        GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    return [
        MissingReference(
            CALENDAR,
            f"row for school year {year}, collection {collection}",
            (year, collection),
            row_to_add(CALENDAR, {"school_year": year, "collection": collection}),
            (Use("", int(n), (year,)),),
        )
        for year, collection, n in rows
    ]


# (seed, its key column, what a missing key is called, the records' column, its role)
DIRECTORY_USES = (
    (BUILDINGS, "building_code", "building", "building_code", "building"),
    (BUILDINGS, "building_code", "building", "s2e2_building_code", "S2E2 building"),
    (DISTRICTS, "district_code", "district", "district_code", "district"),
)


def _directory(con, records: str) -> list[MissingReference]:
    """Building and district codes on loaded records that the K-12 directory lacks; one
    problem per missing code, with every role the code plays on the records."""
    found: dict[tuple[str, str], list[Use]] = {}
    for seed, key, _, column, role in DIRECTORY_USES:
        rows = con.execute(
            f"""
            SELECT r.{column}, count(*)::BIGINT, list(DISTINCT r.school_year),
                   -- the district the records report a building with (a building's own district)
                   {"mode(r.district_code)" if column == "building_code" else "NULL"}
            FROM {records} AS r
            WHERE r.{column} IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM reference.{seed} AS s WHERE s.{key} = r.{column})
            GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        for code, n, years, district in rows:
            found.setdefault((seed, code), []).append(Use(role, int(n), _years(years), district or ""))
    problems = []
    for (seed, code), uses in sorted(found.items()):
        key, noun = next((k, noun) for s, k, noun, _, _ in DIRECTORY_USES if s == seed)
        problems.append(MissingReference(seed, f"{noun} {code}", (code,), row_to_add(seed, {key: code}), tuple(uses)))
    return problems


def missing_reference(con, records: str = RECORDS) -> list[MissingReference]:
    """Every seed row the loaded MSDS records need and the seeds lack (none: complete).
    `con` is a connection to the warehouse (schemas `intermediate` and `reference`)."""
    return _calendar(con, records) + _directory(con, records)
