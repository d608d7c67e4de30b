"""Age on December 1 of the school year for every loaded MSDS record.

Reads `vault.landing.msds_identity` (date of birth) and `wh.raw.msds` (school year),
writes `wh.derived.msds_record_ages(record_token, age_on_december_1)`. Only the
integer age crosses into the warehouse; the birthdate stays in the vault."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.storage import warehouse_with_vault

# whole years between birth and December 1 of the school year's first calendar year
AGE_SQL = """
CREATE OR REPLACE TABLE wh.derived.msds_record_ages AS
SELECT r.record_token,
       CAST(date_sub('year', b.birth, make_date(CAST(substr(r.school_year, 1, 4) AS INTEGER), 12, 1))
            AS INTEGER) AS age_on_december_1
FROM wh.raw.msds r
JOIN (SELECT record_token, try_strptime(trim(date_of_birth), '%Y-%m-%d')::DATE AS birth
      FROM vault.landing.msds_identity) b USING (record_token)
WHERE b.birth IS NOT NULL
"""


@dataclass
class AgeReport:
    records: int
    with_age: int


def build_record_ages(warehouse: Path, vault: Path) -> AgeReport:
    with warehouse_with_vault(warehouse, vault, vault_access="read") as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS wh.derived")
        con.execute(AGE_SQL)
        records = con.execute("SELECT count(*) FROM wh.raw.msds").fetchall()[0][0]
        with_age = con.execute("SELECT count(*) FROM wh.derived.msds_record_ages").fetchall()[0][0]
    return AgeReport(records, with_age)
