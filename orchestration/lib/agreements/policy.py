"""The agreement policy, read from seeds: every fact the checks, dbt tags, lineage,
releases and the governance report need about clauses, written once as data.

- `agreement_clauses.csv`: the clauses (and attachments) of the data sharing agreement,
  each with the document it comes from; every clause id cited anywhere must be a row here.
- `agreement_rules.csv`: each release rule (a check in `checks.py`) and the clause it enforces.
- `policy_scopes.csv`: what each audience (sleds, institution_mart, public) and each
  governance asset falls under, as a list of clauses; an audience's `release_schema`
  names the dbt schema its release models are built in.
- `feed_layouts.csv` column `restricted_element`: the feed columns that carry an element
  the agreement may withhold (agreement_restrictions.csv names the element, not columns).

The first three live with the registry (`registry_dir()`: seeds/ or SLEDS_AGREEMENTS_DIR),
so they are validated together with it; the feed layout lives in seeds/ with the other
layouts. Marking a further feed column `restricted_element` is all it takes for the checks,
the tags and the lineage to guard it.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.reference import FEEDS, feed_layout

CLAUSES_FILE = "agreement_clauses.csv"
RULES_FILE = "agreement_rules.csv"
SCOPES_FILE = "policy_scopes.csv"
SCOPE_KINDS = ("audience", "governance")
_ELEMENT = re.compile(r"^[a-z][a-z0-9_]*$")


class PolicyError(ValueError):
    """The policy seeds cannot be used; the message lists every problem found."""


@dataclass(frozen=True)
class Clause:
    clause: str
    title: str
    summary: str
    other_safeguards: str
    source: str


@dataclass(frozen=True)
class Rule:
    rule: str
    clause: str
    description: str


@dataclass(frozen=True)
class Scope:
    scope: str
    kind: str
    release_schema: str
    clauses: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Policy:
    clauses: dict[str, Clause]
    rules: dict[str, Rule]  # in file order: the order the checks run in
    scopes: dict[str, Scope]
    restricted: dict[str, dict[str, list[str]]]  # element -> feed -> columns
    problems: tuple[str, ...]


def policy_dir() -> Path:
    """Where the clause, rule and scope seeds are read: the registry's folder."""
    return Path(os.environ.get("SLEDS_AGREEMENTS_DIR", paths.SEEDS_DIR))


def _read_csv(path: Path, required: list[str], problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    if not path.exists():
        problems.append(f"{path}: file missing")
        return []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            problems.append(f"{path.name}: header lacks column(s) {', '.join(missing)}")
            return []
        return [(n, {k: (v or "").strip() for k, v in row.items() if k}) for n, row in enumerate(reader, start=2)]


def split_clauses(value: str) -> tuple[str, ...]:
    """A `;`-separated list of clause ids as written in policy_scopes.csv."""
    return tuple(c.strip() for c in value.split(";") if c.strip())


def _stamp(*files: Path) -> tuple:
    # re-read a seed when it changes (tests edit copies; a long-lived process sees edits)
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else (str(f),) for f in files)


def load_policy(folder: Path | None = None, seeds_dir: Path | None = None) -> Policy:
    """The policy with every problem found (`problems`); use `policy()` to fail on them."""
    folder = Path(folder or policy_dir())
    seeds_dir = Path(seeds_dir or paths.SEEDS_DIR)
    files = (folder / CLAUSES_FILE, folder / RULES_FILE, folder / SCOPES_FILE, seeds_dir / "feed_layouts.csv")
    return _load(folder, seeds_dir, _stamp(*files))


@cache
def _load(folder: Path, seeds_dir: Path, _stamp: tuple) -> Policy:
    problems: list[str] = []
    clauses: dict[str, Clause] = {}
    for line, row in _read_csv(folder / CLAUSES_FILE, ["clause", "title", "summary", "source"], problems):
        where = f"{CLAUSES_FILE} line {line}"
        if not row["clause"]:
            problems.append(f"{where}: clause is empty")
            continue
        if row["clause"] in clauses:
            problems.append(f"{where}: clause {row['clause']!r} appears twice")
        for column in ("title", "source"):
            if not row[column]:
                problems.append(f"{where}: clause {row['clause']!r} has no {column}")
        clauses[row["clause"]] = Clause(row["clause"], row["title"], row["summary"], row.get("other_safeguards", ""),
                                        row["source"])  # fmt: skip

    def cited(value: str, where: str, column: str) -> None:
        if clauses and value not in clauses:
            problems.append(f"{where}: {column} {value!r} is not in {CLAUSES_FILE}")

    rules: dict[str, Rule] = {}
    for line, row in _read_csv(folder / RULES_FILE, ["rule", "clause", "description"], problems):
        where = f"{RULES_FILE} line {line}"
        if not row["rule"]:
            problems.append(f"{where}: rule is empty")
            continue
        if row["rule"] in rules:
            problems.append(f"{where}: rule {row['rule']!r} appears twice")
        cited(row["clause"], where, "clause")
        rules[row["rule"]] = Rule(row["rule"], row["clause"], row["description"])

    scopes: dict[str, Scope] = {}
    schemas: set[str] = set()
    for line, row in _read_csv(folder / SCOPES_FILE, ["scope", "kind", "release_schema", "clauses"], problems):
        where = f"{SCOPES_FILE} line {line}"
        if not row["scope"]:
            problems.append(f"{where}: scope is empty")
            continue
        if row["scope"] in scopes:
            problems.append(f"{where}: scope {row['scope']!r} appears twice")
        if row["kind"] not in SCOPE_KINDS:
            problems.append(f"{where}: kind {row['kind']!r} is not one of {', '.join(SCOPE_KINDS)}")
        if row["release_schema"]:
            if row["release_schema"] in schemas:
                problems.append(f"{where}: release_schema {row['release_schema']!r} belongs to two scopes")
            schemas.add(row["release_schema"])
        listed = split_clauses(row["clauses"])
        if not listed:
            problems.append(f"{where}: scope {row['scope']!r} lists no clauses")
        for clause in listed:
            cited(clause, where, "clause")
        scopes[row["scope"]] = Scope(row["scope"], row["kind"], row["release_schema"], listed,
                                     row.get("description", ""))  # fmt: skip

    restricted: dict[str, dict[str, list[str]]] = {}
    for feed in FEEDS:
        for column in feed_layout(feed, seeds_dir):
            element = column.restricted_element
            if not element:
                continue
            if not _ELEMENT.match(element):
                problems.append(
                    f"feed_layouts.csv {feed}.{column.name}: restricted_element {element!r} is not a lower-case name"
                )
            if column.pii:
                problems.append(f"feed_layouts.csv {feed}.{column.name}: a PII column never leaves the vault; "
                                "it cannot also be a restricted element")  # fmt: skip
            restricted.setdefault(element, {}).setdefault(feed, []).append(column.name)
    return Policy(clauses, rules, scopes, restricted, tuple(problems))


def policy(folder: Path | None = None, seeds_dir: Path | None = None) -> Policy:
    """The validated policy; raises PolicyError listing every problem."""
    loaded = load_policy(folder, seeds_dir)
    if loaded.problems:
        listed = "\n  ".join(loaded.problems)
        raise PolicyError(f"agreement policy in {folder or policy_dir()} has {len(loaded.problems)} problem(s):\n  "
                          f"{listed}")  # fmt: skip
    return loaded


# ------------------------------------------------------------------ the questions code asks


def clause_ids() -> list[str]:
    return list(policy().clauses)


def clauses_for(scope: str) -> list[str]:
    """The clauses an audience's release (or a governance asset) falls under."""
    scopes = policy().scopes
    if scope not in scopes:
        raise KeyError(f"scope {scope!r} is not in {SCOPES_FILE} (scopes: {', '.join(scopes)})")
    return list(scopes[scope].clauses)


def audiences() -> list[str]:
    """The audiences a restriction or a release can name."""
    return [s.scope for s in policy().scopes.values() if s.kind == "audience"]


def release_schemas() -> dict[str, str]:
    """dbt release schema -> the audience whose release it builds."""
    return {s.release_schema: s.scope for s in policy().scopes.values() if s.release_schema}


def rules() -> list[str]:
    """Every release rule, in the order the checks run."""
    return list(policy().rules)


def _rule(rule: str) -> Rule:
    known = policy().rules
    if rule not in known:
        raise KeyError(f"rule {rule!r} is not in {RULES_FILE} (rules: {', '.join(known)})")
    return known[rule]


def rule_clause(rule: str) -> str:
    return _rule(rule).clause


def rule_text(rule: str) -> str:
    """What the rule checks, led by its clause ("9(c)(iv): the table has ...")."""
    r = _rule(rule)
    return f"{r.clause}: {r.description}"


def restricted_columns() -> dict[str, list[str]]:
    """element -> the feed columns carrying it (the same names in every feed and downstream)."""
    out: dict[str, list[str]] = {}
    for element, by_feed in policy().restricted.items():
        for columns in by_feed.values():
            out.setdefault(element, []).extend(c for c in columns if c not in out.get(element, []))
    return out


def restricted_sources() -> dict[str, list[str]]:
    """element -> the raw feed tables it arrives in (`raw.<feed>`)."""
    return {element: [f"raw.{feed}" for feed in by_feed] for element, by_feed in policy().restricted.items()}


def restricted_elements() -> list[str]:
    return list(policy().restricted)
