"""Load a feed's suite (expectations/<feed>.json) into Great Expectations objects.

The suite files are plain GX 1.x suite JSON that a steward edits, with two
conventions: `value_set: {"$code_set": name, "not_applicable": bool}` is filled
from seeds/code_sets.csv (so a code is added once, in the seed), and each
expectation's `meta` carries `rule` (the quarantine reason people read) and
`scope` ("row": evaluated chunk by chunk in GX; "partition": needs every row of
the partition at once, e.g. uniqueness).
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
    """SHA-256 of the suite file and the code sets it reads: a load is recorded
    against it, so a changed contract revalidates unchanged files."""
    from orchestration.lib.paths import SEEDS_DIR
    from orchestration.lib.storage import sha256_bytes

    return sha256_bytes(suite_path(feed, directory).read_bytes(), (SEEDS_DIR / "code_sets.csv").read_bytes())


def _resolve(kwargs: dict, where: str) -> dict:
    kwargs = copy.deepcopy(kwargs)
    vs = kwargs.get("value_set")
    if isinstance(vs, dict):
        name = vs.get("$code_set")
        sets = code_sets()
        if name not in sets:
            raise SuiteError(f"{where}: value_set names code set {name!r}, which is not in seeds/code_sets.csv")
        kwargs["value_set"] = sorted(sets[name]) + ([NOT_APPLICABLE] if vs.get("not_applicable") else [])
    return kwargs


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
        rules.append(Rule(i, e["type"], _resolve(e["kwargs"], where), meta.get("rule") or e["type"], scope))
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
