"""Load and validate the agreement registry; compute each agreement's status.

The registry is the CSV files a data steward edits (in `seeds/`, or the folder named
by SLEDS_AGREEMENTS_DIR):

- `agreements.csv`: one row per contributing institution's agreement (dates,
  permissions, destruction date);
- `agreement_restrictions.csv`: elements withheld from an audience for a range of
  academic years (clause 9(c)(vi));
- the policy (`agreement_clauses.csv`, `agreement_rules.csv`, `policy_scopes.csv`,
  read by `policy.py`): the clauses, the rule enforcing each, and the clauses each
  audience and governance asset falls under.

Every problem is reported with its file and line, all at once, so a steward fixes the
registry in one pass: a clause cited by a restriction, a rule or a scope that is not a
row of agreement_clauses.csv is one of them."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.agreements.policy import load_policy, policy_dir
from orchestration.lib.reference import read_seed

_YEAR = re.compile(r"^(\d{4})-(\d{2})$")


class AgreementRegistryError(ValueError):
    """The registry cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    institution_code: str
    agency: str
    agreement_version: str
    legal_basis: str
    executed_on: dt.date
    term_years: int
    permit_institution_identification: bool
    permit_gender_identity_institution_level: bool
    honour_ferpa_block: bool
    destruction_date: dt.date | None
    cancelled_on: dt.date | None

    @property
    def expires_on(self) -> dt.date:
        """Clause 28: in effect for `term_years` from execution (the day before the anniversary)."""
        try:
            anniversary = self.executed_on.replace(year=self.executed_on.year + self.term_years)
        except ValueError:  # executed on 29 February
            anniversary = dt.date(self.executed_on.year + self.term_years, 3, 1)
        return anniversary - dt.timedelta(days=1)

    def status(self, on: dt.date) -> str:
        if self.destruction_date and self.destruction_date <= on:
            return "destroyed"
        if self.cancelled_on and self.cancelled_on <= on:
            return "cancelled"
        if on < self.executed_on:
            return "not_yet_effective"
        if on > self.expires_on:
            return "expired"
        return "active"


@dataclass(frozen=True)
class Restriction:
    agreement_id: str
    element: str
    audience: str
    academic_year_from: str
    academic_year_to: str
    clause: str


@dataclass
class Registry:
    agreements: list[Agreement]
    restrictions: list[Restriction]
    clauses: dict[str, str]
    source: Path
    as_of: dt.date = field(default_factory=dt.date.today)

    def by_institution(self) -> dict[str, Agreement]:
        return {a.institution_code: a for a in self.agreements}


def registry_dir() -> Path:
    return policy_dir()


def as_of_date() -> dt.date:
    """The day statuses are computed for: SLEDS_AS_OF_DATE (YYYY-MM-DD) or today."""
    value = os.environ.get("SLEDS_AS_OF_DATE")
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise AgreementRegistryError(f"SLEDS_AS_OF_DATE={value!r} is not a date (YYYY-MM-DD)") from exc


def _rows(path: Path, required: list[str], problems: list[str]) -> list[tuple[int, dict]]:
    if not path.exists():
        problems.append(f"{path}: file missing")
        return []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{path.name}: header lacks column(s) {', '.join(missing)}")
            return []
        return [(n, {k: (v or "").strip() for k, v in row.items()}) for n, row in enumerate(reader, start=2)]


def _date(value: str, where: str, column: str, problems: list[str], optional: bool = False) -> dt.date | None:
    if not value and optional:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{where}: {column} {value!r} is not a date (YYYY-MM-DD)")
        return None


def _flag(value: str, where: str, column: str, problems: list[str]) -> bool:
    if value not in ("Y", "N"):
        problems.append(f"{where}: {column} must be Y or N, not {value!r}")
    return value == "Y"


def _academic_year(value: str, where: str, column: str, problems: list[str]) -> None:
    m = _YEAR.match(value)
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        problems.append(f"{where}: {column} {value!r} is not an academic year like 2021-22")


def load_registry(folder: Path | None = None, *, as_of: dt.date | None = None) -> Registry:
    folder = folder or registry_dir()
    problems: list[str] = []
    agreement_cols = [
        "agreement_id", "institution_code", "agency", "agreement_version", "legal_basis", "executed_on",
        "term_years", "permit_institution_identification", "permit_gender_identity_institution_level",
        "honour_ferpa_block", "destruction_date", "cancelled_on",
    ]  # fmt: skip
    policy = load_policy(folder)
    problems += policy.problems
    clauses = {c.clause: c.title for c in policy.clauses.values()}
    elements = list(policy.restricted)
    audiences = [s.scope for s in policy.scopes.values() if s.kind == "audience"]
    institutions = {r["institution_code"] for r in read_seed("institutions")}
    agreements: list[Agreement] = []
    seen_ids: set[str] = set()
    seen_institutions: set[str] = set()
    for line, row in _rows(folder / "agreements.csv", agreement_cols, problems):
        where = f"agreements.csv line {line}"
        if not row["agreement_id"]:
            problems.append(f"{where}: agreement_id is empty")
        elif row["agreement_id"] in seen_ids:
            problems.append(f"{where}: agreement_id {row['agreement_id']} appears twice")
        seen_ids.add(row["agreement_id"])
        code = row["institution_code"]
        if code not in institutions:
            problems.append(f"{where}: institution_code {code!r} is not in seeds/institutions.csv")
        elif code in seen_institutions:
            problems.append(f"{where}: institution {code} has a second agreement (one per institution)")
        seen_institutions.add(code)
        executed = _date(row["executed_on"], where, "executed_on", problems)
        if not row["term_years"].isdigit() or int(row["term_years"]) < 1:
            problems.append(f"{where}: term_years {row['term_years']!r} is not a whole number of years")
        destruction = _date(row["destruction_date"], where, "destruction_date", problems, optional=True)
        cancelled = _date(row["cancelled_on"], where, "cancelled_on", problems, optional=True)
        flags = [
            _flag(row[c], where, c, problems)
            for c in ("permit_institution_identification", "permit_gender_identity_institution_level",
                      "honour_ferpa_block")
        ]  # fmt: skip
        if executed and destruction and destruction < executed:
            problems.append(f"{where}: destruction_date {destruction} is before executed_on {executed}")
        if executed and row["term_years"].isdigit():
            agreements.append(
                Agreement(
                    row["agreement_id"],
                    code,
                    row["agency"],
                    row["agreement_version"],
                    row["legal_basis"],
                    executed,
                    int(row["term_years"]),
                    *flags,
                    destruction,
                    cancelled,
                )  # fmt: skip
            )
    restrictions: list[Restriction] = []
    restriction_cols = ["agreement_id", "element", "audience", "academic_year_from", "academic_year_to", "clause"]
    for line, row in _rows(folder / "agreement_restrictions.csv", restriction_cols, problems):
        where = f"agreement_restrictions.csv line {line}"
        if row["agreement_id"] not in seen_ids:
            problems.append(f"{where}: agreement_id {row['agreement_id']!r} is not in agreements.csv")
        if row["element"] not in elements:
            problems.append(
                f"{where}: element {row['element']!r} is not a restricted_element of seeds/feed_layouts.csv "
                f"({', '.join(elements)})"
            )
        if row["audience"] not in audiences:
            problems.append(f"{where}: audience {row['audience']!r} is not one of {', '.join(audiences)}")
        _academic_year(row["academic_year_from"], where, "academic_year_from", problems)
        _academic_year(row["academic_year_to"], where, "academic_year_to", problems)
        if row["academic_year_from"] > row["academic_year_to"]:
            problems.append(f"{where}: academic_year_from is after academic_year_to")
        if clauses and row["clause"] not in clauses:
            problems.append(f"{where}: clause {row['clause']!r} is not in agreement_clauses.csv")
        restrictions.append(Restriction(**{c: row[c] for c in restriction_cols}))
    if problems:
        listed = "\n  ".join(problems)
        raise AgreementRegistryError(f"agreement registry in {folder} has {len(problems)} problem(s):\n  {listed}")
    return Registry(agreements, restrictions, clauses, folder, as_of or as_of_date())


def clause_tags(clauses: list[str]) -> dict[str, str]:
    """Dagster tags marking the agreement clauses an asset falls under ("9(c)(vi)" ->
    "clause_9_c_vi"); tag values allow only a few characters, so the clause is the key."""
    return {"clause_" + re.sub(r"[^0-9a-z]+", "_", c.lower()).strip("_"): "agreement" for c in clauses}
