"""Load a feed's suite (expectations/<feed>.json) into Great Expectations objects.

The suite files are plain GX 1.x suite JSON that a steward edits and that stock
Great Expectations runs unchanged. Two conventions live in `meta`, which GX keeps
but never reads:
- `meta.code_set` (+ `meta.not_applicable`) names the seeds/code_sets.csv code set a
  value-in-set rule's `value_set` is rendered from (`python -m tools.gx_suites`), so a
  code is added once, in the seed; a suite whose list differs from its seed is refused
  with the command that renders it (never run against a stale list);
- `meta.rule` is the quarantine reason people read (a value-in-set rule's gets the code
  set's name and its fix appended: the row to add to seeds/code_sets.csv) and
  `meta.scope` is "row" (evaluated chunk by chunk) or "partition" (needs every row of the
  partition at once, e.g. uniqueness).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.lib.paths import EXPECTATIONS_DIR
from orchestration.lib.reference import NOT_APPLICABLE, code_sets


class SuiteError(Exception):
    """A suite file a steward edited cannot be used; the message says where."""


@dataclass(frozen=True)
class Rule:
    index: int  # position in the suite file
    type: str
    kwargs: dict
    rule: str
    scope: str

    @property
    def columns(self) -> list[str]:
        k = self.kwargs
        if "column" in k:
            return [k["column"]]
        if "column_A" in k:
            return [k["column_A"], k["column_B"]]
        return list(k.get("column_list", []))


def suite_path(feed: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{feed}.json"


def suite_sha(feed: str, directory: Path = EXPECTATIONS_DIR) -> str:
    """SHA-256 of the suite file, the code sets it reads and the SQL of the derived
    columns it checks (with the calendar's bound in it): a load is recorded against it,
    so a changed contract revalidates unchanged files."""
    from orchestration.lib.contracts.derived import derived_select
    from orchestration.lib.paths import SEEDS_DIR
    from orchestration.lib.storage import sha256_bytes

    return sha256_bytes(
        suite_path(feed, directory).read_bytes(),
        (SEEDS_DIR / "code_sets.csv").read_bytes(),
        derived_select(feed).encode(),
    )


RENDER_COMMAND = "python -m tools.gx_suites (make suites)"


def code_set_values(name: str, not_applicable: bool, where: str) -> list[str]:
    """The value_set a rule naming code set `name` must hold: the seed's codes, sorted,
    plus the Not Applicable marker where the element allows it."""
    sets = code_sets()
    if name not in sets:
        raise SuiteError(f"{where}: meta.code_set names {name!r}, which is not in seeds/code_sets.csv")
    return sorted(sets[name]) + ([NOT_APPLICABLE] if not_applicable else [])


def _checked_kwargs(kwargs: dict, meta: dict, where: str) -> dict:
    vs = kwargs.get("value_set")
    if isinstance(vs, dict):  # the indirection GX cannot read: every row would fail in stock GX
        raise SuiteError(
            f"{where}: value_set must be a list that stock Great Expectations can run; name the code set in "
            f"meta.code_set and render the list with {RENDER_COMMAND}"
        )
    if "code_set" in meta:
        expected = code_set_values(meta["code_set"], bool(meta.get("not_applicable")), where)
        if vs != expected:
            raise SuiteError(
                f"{where}: value_set is not seeds/code_sets.csv code set {meta['code_set']!r} "
                f"(the seed changed or the list was edited by hand): run {RENDER_COMMAND}"
            )
    return copy.deepcopy(kwargs)


def code_set_reason(rule: str, code_set: str) -> str:
    """The quarantine reason of a value-in-set rule: the suite's text, the code set named
    (if the text does not name it) and the fix for a valid new code, a seed row."""
    from orchestration.lib.reference_completeness import code_set_fix

    named = rule if code_set in rule else f"{rule} (code set {code_set})"
    return f"{named}; {code_set_fix(code_set)}"


def rendered_suite(doc: dict, where: str) -> dict:
    """`doc` with every meta.code_set rule's value_set rendered from the seed."""
    doc = copy.deepcopy(doc)
    for i, e in enumerate(doc.get("expectations", [])):
        meta = e.get("meta") or {}
        if "code_set" in meta:
            at = f"{where} expectation #{i + 1} ({e.get('type')})"
            e["kwargs"]["value_set"] = code_set_values(meta["code_set"], bool(meta.get("not_applicable")), at)
    return doc


def suite_text(doc: dict) -> str:
    """A suite as its file holds it: indented JSON with each value_set on one line, so a
    steward reads one line per code list and a seed change is a one-line diff."""
    lists = {}

    def placeholder(e: dict) -> dict:
        if isinstance(e.get("kwargs", {}).get("value_set"), list):
            key = f"@@value_set_{len(lists)}@@"
            lists[key] = json.dumps(e["kwargs"]["value_set"], ensure_ascii=False)
            e = {**e, "kwargs": {**e["kwargs"], "value_set": key}}
        return e

    shown = {**doc, "expectations": [placeholder(e) for e in doc.get("expectations", [])]}
    text = json.dumps(shown, indent=2, ensure_ascii=False) + "\n"
    for key, value in lists.items():
        text = text.replace(f'"{key}"', value)
    return text


@cache
def load_rules(feed: str, directory: Path = EXPECTATIONS_DIR) -> tuple[Rule, ...]:
    path = suite_path(feed, directory)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no suite for feed {feed!r}: expected {path}") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path} is not valid JSON: {exc}") from None
    rules = []
    for i, e in enumerate(doc.get("expectations", [])):
        where = f"{path.name} expectation #{i + 1} ({e.get('type')})"
        meta = e.get("meta") or {}
        if "type" not in e or "kwargs" not in e:
            raise SuiteError(f"{where}: needs 'type' and 'kwargs'")
        scope = meta.get("scope", "row")
        if scope not in ("row", "partition"):
            raise SuiteError(f"{where}: meta.scope must be 'row' or 'partition', not {scope!r}")
        reason = meta.get("rule") or e["type"]
        if "code_set" in meta:  # the reason names the code set and its fix: a row in seeds/code_sets.csv
            reason = code_set_reason(reason, meta["code_set"])
        rules.append(Rule(i, e["type"], _checked_kwargs(e["kwargs"], meta, where), reason, scope))
    return tuple(rules)


def gx_suite(feed: str, rules: tuple[Rule, ...]):
    """The row-scope rules as a GX ExpectationSuite (built once per ingest run)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=f"{feed}_ingest")
    for r in rules:
        if r.scope != "row":
            continue
        try:
            config = ExpectationConfiguration(type=r.type, kwargs=r.kwargs, meta={"rule": r.rule, "index": r.index})
            suite.add_expectation_configuration(config)
        except Exception as exc:  # GX raises many types for a bad expectation
            raise SuiteError(f"{feed} suite expectation #{r.index + 1} ({r.type}): {exc}") from exc
    return suite
