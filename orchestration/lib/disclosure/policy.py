"""Suppression policies as data: `seeds/suppression_policies.csv` and `seeds/suppression_rate_bands.csv`.

A steward changes a threshold or a recode band by editing those files; nothing here
holds a policy number. Every loading error names the file, the row and the column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.paths import SEEDS_DIR

POLICIES_FILE = "suppression_policies.csv"
BANDS_FILE = "suppression_rate_bands.csv"
SMALL_COUNTS = ("always", "unless_other_information", "never")
CONFLICT_ACTIONS = ("suppress_rate", "withhold_count")
POLICY_COLUMNS = [
    "policy",
    "description",
    "min_n",
    "small_counts",
    "counts_with_rates",
    "zero_is_protected",
    "consistency_rules",
    "recode_conflict_action",
    "insider_coalition",
    "source",
]
BAND_COLUMNS = [
    "policy",
    "band",
    "rule_id",
    "n_min",
    "n_max",
    "related_min",
    "bottom_max",
    "top_min",
    "intervals",
    "source",
]


class PolicyError(ValueError):
    """A policy seed that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class RateBand:
    """How percentages are coded for a group whose size falls in [n_min, n_max]."""

    band: str
    rule_id: str
    n_min: int
    n_max: int | None
    related_min: int | None  # the band applies only if no related group is smaller than this
    bottom_max: int | None  # whole percentages <= this are shown as '<=bottom_max%'
    top_min: int | None  # whole percentages >= this are shown as '>=top_min%'
    intervals: tuple[tuple[int, int], ...]  # other values shown as 'lo-hi%'; empty: whole percentages

    def applies(self, n: int, smallest_related: int) -> bool:
        if n < self.n_min or (self.n_max is not None and n > self.n_max):
            return False
        return self.related_min is None or smallest_related >= self.related_min


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    min_n: int
    small_counts: str
    counts_with_rates: bool
    zero_is_protected: bool
    consistency_rules: bool
    recode_conflict_action: str
    insider_coalition: int  # the audit's insider reader: a coalition of this many respondents (0: none)
    source: str
    bands: tuple[RateBand, ...]

    def band_for(self, n: int, smallest_related: int) -> RateBand | None:
        for band in self.bands:
            if band.applies(n, smallest_related):
                return band
        return None


def _read(path: Path, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    if not path.exists():
        raise PolicyError(f"{path}: policy seed file is missing")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise PolicyError(f"{path}: header lacks column(s) {missing}")
        return [(i + 2, {k: (v or "").strip() for k, v in row.items()}) for i, row in enumerate(reader)]


class _Row:
    """Field parsing with errors that point at file, line and column."""

    def __init__(self, path: Path, line: int, row: dict[str, str]):
        self.path, self.line, self.row = path, line, row

    def fail(self, column: str, problem: str) -> PolicyError:
        name = self.row.get("policy") or "?"
        return PolicyError(f"{self.path} line {self.line} (policy {name!r}), column {column!r}: {problem}")

    def text(self, column: str, required: bool = True) -> str:
        value = self.row.get(column, "")
        if required and not value:
            raise self.fail(column, "is empty")
        return value

    def integer(self, column: str, required: bool = True, minimum: int = 0) -> int | None:
        value = self.row.get(column, "")
        if not value:
            if required:
                raise self.fail(column, "is empty")
            return None
        try:
            number = int(value)
        except ValueError:
            raise self.fail(column, f"must be a whole number, got {value!r}") from None
        if number < minimum:
            raise self.fail(column, f"must be at least {minimum}, got {number}")
        return number

    def boolean(self, column: str) -> bool:
        value = self.row.get(column, "").lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no"):
            return False
        raise self.fail(column, f"must be true or false, got {self.row.get(column)!r}")

    def choice(self, column: str, allowed: tuple[str, ...]) -> str:
        value = self.row.get(column, "")
        if value not in allowed:
            raise self.fail(column, f"must be one of {allowed}, got {value!r}")
        return value

    def intervals(self, column: str) -> tuple[tuple[int, int], ...]:
        value = self.row.get(column, "")
        out = []
        for part in filter(None, (p.strip() for p in value.split(";"))):
            try:
                lo, hi = (int(x) for x in part.split("-"))
            except ValueError:
                raise self.fail(column, f"interval {part!r} is not 'lo-hi'") from None
            if not 0 <= lo <= hi <= 100:
                raise self.fail(column, f"interval {part!r} must satisfy 0 <= lo <= hi <= 100")
            out.append((lo, hi))
        return tuple(out)


def _check_band_coverage(path: Path, line: int, band: RateBand) -> None:
    """Banded codings must give every whole percentage 0..100 exactly one display."""
    if not band.intervals:
        return
    covered = []
    if band.bottom_max is not None:
        covered += range(0, band.bottom_max + 1)
    if band.top_min is not None:
        covered += range(band.top_min, 101)
    for lo, hi in band.intervals:
        covered += range(lo, hi + 1)
    gaps = sorted(set(range(101)) - set(covered))
    doubles = sorted({v for v in covered if covered.count(v) > 1})
    if gaps or doubles:
        raise PolicyError(
            f"{path} line {line} (band {band.band!r}), column 'intervals': whole percentages "
            f"{gaps or doubles} are {'not covered' if gaps else 'covered twice'} by bottom, top and intervals"
        )


def load_policies(seeds_dir: Path = SEEDS_DIR) -> dict[str, Policy]:
    """All policies of the seeds, keyed by name, each with its rate bands in file order."""
    bands_path = seeds_dir / BANDS_FILE
    bands: dict[str, list[RateBand]] = {}
    for line, raw in _read(bands_path, BAND_COLUMNS):
        row = _Row(bands_path, line, raw)
        band = RateBand(
            band=row.text("band"),
            rule_id=row.text("rule_id"),
            n_min=row.integer("n_min"),
            n_max=row.integer("n_max", required=False),
            related_min=row.integer("related_min", required=False),
            bottom_max=row.integer("bottom_max", required=False),
            top_min=row.integer("top_min", required=False),
            intervals=row.intervals("intervals"),
        )
        if band.n_max is not None and band.n_max < band.n_min:
            raise row.fail("n_max", f"is below n_min ({band.n_max} < {band.n_min})")
        if band.bottom_max is not None and band.top_min is not None and band.bottom_max >= band.top_min:
            raise row.fail("top_min", "must be above bottom_max")
        _check_band_coverage(bands_path, line, band)
        bands.setdefault(row.text("policy"), []).append(band)

    policies_path = seeds_dir / POLICIES_FILE
    policy_rows = _read(policies_path, POLICY_COLUMNS)
    unknown = sorted(set(bands) - {raw.get("policy", "") for _, raw in policy_rows})
    if unknown:
        raise PolicyError(f"{bands_path}: rate bands name unknown policy(ies) {unknown} (not rows of {POLICIES_FILE})")
    policies: dict[str, Policy] = {}
    for line, raw in policy_rows:
        row = _Row(policies_path, line, raw)
        name = row.text("policy")
        if name in policies:
            raise row.fail("policy", "appears twice")
        policy = Policy(
            name=name,
            description=row.text("description", required=False),
            min_n=row.integer("min_n", minimum=1),
            small_counts=row.choice("small_counts", SMALL_COUNTS),
            counts_with_rates=row.boolean("counts_with_rates"),
            zero_is_protected=row.boolean("zero_is_protected"),
            consistency_rules=row.boolean("consistency_rules"),
            recode_conflict_action=row.choice("recode_conflict_action", CONFLICT_ACTIONS),
            insider_coalition=row.integer("insider_coalition", minimum=0),
            source=row.text("source", required=False),
            bands=tuple(bands.pop(name, [])),
        )
        # every publishable rate needs a coding: check sizes min_n..1000, with related groups of any size
        for n in range(policy.min_n, 1001):
            for smallest in (0, n):
                if policy.band_for(n, smallest) is None:
                    raise PolicyError(
                        f"{bands_path}: policy {name!r} (line {line} of {policies_path.name}) has no rate band "
                        f"for a group of {n} whose smallest related group is {smallest}"
                    )
        policies[name] = policy
    return policies


def policy_named(policies: dict[str, Policy], name: str, table_id: str) -> Policy:
    try:
        return policies[name]
    except KeyError:
        raise PolicyError(
            f"table {table_id!r} asks for policy {name!r}, which is not a row of seeds/{POLICIES_FILE} "
            f"(known: {sorted(policies)})"
        ) from None
