"""The agreement policy is written once, as data (orchestration/lib/agreements/policy.py
over seeds/agreement_clauses.csv, agreement_rules.csv, policy_scopes.csv and the
`restricted_element` column of feed_layouts.csv):

- every clause id cited in code, dbt models, Dagster tags, release manifests and the
  governance report is a row of the clause seed;
- no code restates a clause id as a value (the rule is spelled out in
  `clause_literals`);
- marking a further feed column restricted is one seed edit: the registry, the checks,
  the dbt tags and the lineage pick it up with no code change;
- the MSDS codes the K-12 SQL singles out come from seeds/msds_code_roles.csv.
"""

from __future__ import annotations

import ast
import csv
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.agreements import checks, policy
from orchestration.lib.agreements.registry import AgreementRegistryError, clause_tags, load_registry
from orchestration.lib.agreements.store import write_registry
from orchestration.lib.governance import lineage as L
from orchestration.lib.governance.dbt_tags import governance_tags
from orchestration.lib.reference import code_sets, read_seed
from tests.conftest import copy_home

ROOT = paths.REPO_ROOT
PYTHON_FILES = sorted((ROOT / "orchestration").rglob("*.py"))
DBT_FILES = sorted(
    p for d in ("models", "macros") for p in (ROOT / "dbt_project" / d).rglob("*") if p.suffix in (".sql", ".yml")
)
DOC_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# seeds whose free text cites the agreement (the suppression policies' sources)
CITING_SEEDS = [paths.SEEDS_DIR / "suppression_policies.csv", paths.SEEDS_DIR / "msds_code_roles.csv"]
# a clause id: 9(c)(vi), 9(c)(iii)5, 10(a)(i), or an attachment of the agreement. Not
# preceded by a word character or a dot, so "34 CFR 99.31(a)(3)" is not one.
CLAUSE_ID = r"(?<![\w.])\d{1,2}(?:\([a-z]+\))+\d?|Attachment [A-Z]\b"
CLAUSE_MENTION = re.compile(rf"{CLAUSE_ID}|(?<=[Cc]lause )\d{{1,2}}\b(?!\()")
CLAUSE_VALUE = re.compile(rf"^(?:{CLAUSE_ID})$")
BARE_NUMBER = re.compile(r"^\d{1,2}$")


def seed_clauses() -> set[str]:
    return {r["clause"] for r in read_seed("agreement_clauses")}


# ---------------------------------------------------------------- every clause resolves


def test_the_shipped_policy_has_no_problems_and_cites_only_seeded_clauses():
    loaded = policy.load_policy(paths.SEEDS_DIR)
    assert loaded.problems == ()
    cited = {r.clause for r in loaded.rules.values()} | {c for s in loaded.scopes.values() for c in s.clauses}
    cited |= {r["clause"] for r in read_seed("agreement_restrictions")}
    assert cited <= seed_clauses()
    # the clauses code used to cite without a row: now rows, with the document behind them
    rows = {c.clause: c for c in loaded.clauses.values()}
    assert rows["9(c)(iii)5"].source.startswith("003 clause 9(c)(iii)")
    assert rows["Attachment B"].source.startswith("003 Attachment B")


def test_every_clause_mentioned_in_code_dbt_and_docs_is_a_row_of_the_clause_seed():
    """Comments, docstrings, descriptions, report prose and the docs included: what the
    committee reads must name a clause the seed defines."""
    known = seed_clauses()
    unknown = []
    for path in [*PYTHON_FILES, *DBT_FILES, *DOC_FILES, *CITING_SEEDS]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for match in CLAUSE_MENTION.findall(line):
                if match not in known:
                    unknown.append(f"{path.relative_to(ROOT)}:{n}: {match}")
    assert not unknown, "clause ids with no row in seeds/agreement_clauses.csv:\n" + "\n".join(unknown)


def test_every_clause_tag_in_the_dagster_definitions_names_a_seeded_clause():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    tag_of = {key: clause for clause in seed_clauses() for key in clause_tags([clause])}
    seen = set()
    for key in graph.get_all_asset_keys():
        for tag in graph.get(key).tags:
            if tag.startswith("clause_"):
                assert tag in tag_of, f"{key.to_user_string()}: tag {tag} is no seeded clause"
                seen.add(tag_of[tag])
    assert {"9(c)(iii)5", "9(c)(vi)", "21", "Attachment B"} <= seen


def test_release_and_publication_manifests_cite_the_policy_clauses():
    """The clause lists the exporters write into manifests and the disclosure log (and the
    governance report shows from there) are the policy's."""
    from orchestration.defs import releases
    from orchestration.lib.publish.release import PUBLIC_CLAUSES

    assert releases.SLEDS_CLAUSES == policy.clauses_for("sleds")
    assert releases.INSTITUTION_CLAUSES == policy.clauses_for("institution_mart")
    assert PUBLIC_CLAUSES == policy.clauses_for("public")
    for clauses in (releases.SLEDS_CLAUSES, releases.INSTITUTION_CLAUSES, PUBLIC_CLAUSES):
        assert clauses and set(clauses) <= seed_clauses()


def test_every_rule_has_its_check_and_its_clause():
    assert list(checks.RULES) == policy.rules() and set(checks.SLEDS_CHECKS) == set(policy.rules())
    assert policy.rule_clause("release_ferpa_blocks_honoured") == "15"
    assert policy.rule_text("release_restricted_elements_withheld").startswith("9(c)(vi): ")


def test_the_registry_loader_reports_every_uncited_clause_with_file_and_line(tmp_path):
    folder = tmp_path / "registry"
    shutil.copytree(paths.SEEDS_DIR, folder)
    rows = (folder / "agreement_clauses.csv").read_text().splitlines()
    (folder / "agreement_clauses.csv").write_text(
        "\n".join(r for r in rows if not r.startswith(("9(c)(iii)5,", "15,"))) + "\n"
    )
    rules = folder / "agreement_rules.csv"
    rules.write_text(rules.read_text().replace("release_agreements_active,28,", "release_agreements_active,29,"))
    with pytest.raises(AgreementRegistryError) as err:
        load_registry(folder)
    msg = str(err.value)
    assert "agreement_rules.csv line 6: clause '15' is not in agreement_clauses.csv" in msg
    assert "agreement_rules.csv line 7: clause '29' is not in agreement_clauses.csv" in msg
    assert "policy_scopes.csv line 2: clause '15' is not in agreement_clauses.csv" in msg
    assert "policy_scopes.csv line 3: clause '9(c)(iii)5' is not in agreement_clauses.csv" in msg
    assert "policy_scopes.csv line 5: clause '15' is not in agreement_clauses.csv" in msg


# ---------------------------------------------------------------- no clause literals in code


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _clause_context_nodes(tree: ast.AST):
    """Sub-trees where a bare number is a clause: arguments of clause_tags and RuleCheck,
    `clause=` / `clauses=` keywords, and values assigned to a name containing CLAUSE."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("clause_tags", "RuleCheck"):
                yield from node.args
            yield from (k.value for k in node.keywords if k.arg in ("clause", "clauses"))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any("CLAUSE" in getattr(t, "id", "").upper() for t in targets) and node.value is not None:
                yield node.value


def clause_literals(source: str) -> list[tuple[int, str]]:
    """The rule: in Python code, a string constant that IS a clause id ("9(c)(vi)",
    "Attachment B") is a restated policy fact, wherever it is; so is a bare clause number
    ("15") where a clause is expected (see _clause_context_nodes). Docstrings, comments
    and prose that mentions a clause inside a sentence are documentation and allowed
    (the resolution test above checks them). Code gets clauses from policy.py."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if CLAUSE_VALUE.match(node.value.strip()):
                found.append((node.lineno, node.value))
    for context in _clause_context_nodes(tree):
        for node in ast.walk(context):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and BARE_NUMBER.match(node.value):
                found.append((node.lineno, node.value))
    return sorted(set(found))


def sql_clause_literals(source: str) -> list[str]:
    """In dbt SQL, a quoted clause id outside comments ({# #}, --, /* */) is a literal."""
    code = re.sub(r"\{#.*?#\}|/\*.*?\*/|--[^\n]*", "", source, flags=re.S)
    return [m for m in re.findall(r"'([^'\n]*)'", code) if CLAUSE_VALUE.match(m.strip())]


def test_the_literal_rule_catches_restated_clauses_and_spares_prose():
    sample = '''
"""Docstring citing 9(c)(vi) is fine."""
CLAUSES = ["9(c)(i)", "15"]
tags = clause_tags(["21"])
check = RuleCheck("rule", "28", True, 0, "")
other = make(clause="13")
text = "clause 9(c)(v): prose is documentation"
ok = {"15": "a count, not a clause"}
'''
    assert clause_literals(sample) == [(3, "15"), (3, "9(c)(i)"), (4, "21"), (5, "28"), (6, "13")]
    assert sql_clause_literals("-- clause '9(c)(vi)'\nselect '9(c)(vi)' as c, '15' as n") == ["9(c)(vi)"]


def test_no_clause_id_literal_remains_in_code():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in PYTHON_FILES
        for line, value in clause_literals(path.read_text(encoding="utf-8"))
    ]
    found += [
        f"{path.relative_to(ROOT)}: {value!r}"
        for path in DBT_FILES
        if path.suffix == ".sql"
        for value in sql_clause_literals(path.read_text(encoding="utf-8"))
    ]
    assert not found, "clause ids restated in code (take them from orchestration/lib/agreements/policy.py):\n" + (
        "\n".join(found)
    )


# ---------------------------------------------------------------- a new restricted element


def _mark_restricted(seeds: Path, feed: str, columns: set[str], element: str) -> None:
    path = seeds / "feed_layouts.csv"
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        if row["feed"] == feed and row["column_name"] in columns:
            row["restricted_element"] = element
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture()
def gpa_restricted(tmp_path, monkeypatch) -> Path:
    """A copy of seeds/ whose only change is one edit of feed_layouts.csv: the two GPA
    columns of the enrollment feed carry a new restricted element."""
    seeds = tmp_path / "seeds"
    shutil.copytree(paths.SEEDS_DIR, seeds)
    _mark_restricted(seeds, "ps_enrollment", {"term_gpa", "cumulative_gpa"}, "grade_point_average")
    monkeypatch.delenv("SLEDS_AGREEMENTS_DIR", raising=False)
    monkeypatch.setattr(paths, "SEEDS_DIR", seeds)
    return seeds


def _restrict_for_sleds(seeds: Path, element: str) -> None:
    """The steward's registry row restricting the element for one agreement (data, as for
    gender identity today)."""
    agreement = read_seed("agreements", seeds)[0]["agreement_id"]
    with (seeds / "agreement_restrictions.csv").open("a", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerow([agreement, element, "sleds", "2021-22", "2025-26", "9(c)(vi)"])


def test_a_new_restricted_element_is_refused_by_the_registry_until_the_layout_marks_it(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    shutil.copytree(paths.SEEDS_DIR, seeds)
    monkeypatch.setattr(paths, "SEEDS_DIR", seeds)
    _restrict_for_sleds(seeds, "grade_point_average")
    with pytest.raises(AgreementRegistryError, match="element 'grade_point_average' is not a restricted_element"):
        load_registry(seeds)
    _mark_restricted(seeds, "ps_enrollment", {"term_gpa", "cumulative_gpa"}, "grade_point_average")
    registry = load_registry(seeds)
    assert "grade_point_average" in {r.element for r in registry.restrictions}


def test_one_layout_edit_makes_tags_and_lineage_guard_the_new_element(gpa_restricted):
    assert policy.restricted_columns()["grade_point_average"] == ["term_gpa", "cumulative_gpa"]
    assert policy.restricted_sources()["grade_point_average"] == ["raw.ps_enrollment"]
    # dbt tags: a release model with the columns is marked, under the restrictions' clauses
    tags = governance_tags({"schema": "release_sleds", "columns": {"research_id": {}, "term_gpa": {}}})
    assert tags["restricted_grade_point_average"] == "guarded_by_registry"
    assert set(clause_tags(policy.clauses_for("agreement_restrictions"))) <= set(tags)
    mart = governance_tags({"schema": "marts", "columns": {"cumulative_gpa": {}}})
    assert mart["restricted_grade_point_average"] == "present"
    # lineage: the element is traced from its feed, and the report lists it
    lin = L.ColumnLineage(
        {},
        [
            L.ColumnEdge("raw.ps_enrollment.term_gpa", "staging.stg_ps__enrollment.term_gpa", "copy"),
            L.ColumnEdge(
                "staging.stg_ps__enrollment.term_gpa", "release_sleds.rel_sleds__ps_enrollment.term_gpa", "copy"
            ),
        ],
        [],
    )
    reached = [r.column for r in L.element_trace(lin, "grade_point_average")]
    assert reached == ["release_sleds.rel_sleds__ps_enrollment.term_gpa", "staging.stg_ps__enrollment.term_gpa"]
    assert "grade_point_average" in L.RESTRICTED_ELEMENTS and "raw.ps_enrollment" in L.TRACED_SOURCES


def test_one_layout_edit_makes_the_release_check_see_the_new_element(gpa_restricted, tiny_warehouse, tmp_path):
    """On a built release: once the registry restricts the new element, the blocking check
    counts every GPA value of the restricted agreement's restricted years, naming the
    table and the element; the shipped seeds pass the same release."""
    home = copy_home(tiny_warehouse, tmp_path / "home")
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        before = checks.check_restricted_elements(con, checks.SLEDS_SCHEMA, "sleds")
        assert before.passed and not any("grade_point_average" in p for p in before.detail.split("; "))
        _restrict_for_sleds(gpa_restricted, "grade_point_average")
        write_registry(con, load_registry(gpa_restricted))
        agreement = read_seed("agreements", gpa_restricted)[0]["agreement_id"]
        expected = con.execute(
            "SELECT count(*) FROM release_sleds.rel_sleds__ps_enrollment WHERE agreement_id = ? "
            "AND academic_year BETWEEN '2021-22' AND '2025-26' "
            "AND (term_gpa IS NOT NULL OR cumulative_gpa IS NOT NULL)",
            [agreement],
        ).fetchall()[0][0]
        after = checks.check_restricted_elements(con, checks.SLEDS_SCHEMA, "sleds")
    finally:
        con.close()
    assert expected > 0, "the tiny release should hold GPA values of the first agreement"
    assert not after.passed and after.violations == expected
    assert f"rel_sleds__ps_enrollment.grade_point_average: {expected} rows" in after.detail
    assert after.clause == policy.rule_clause("release_restricted_elements_withheld")


# ---------------------------------------------------------------- MSDS codes from seeds


def test_every_code_role_the_sql_uses_is_seeded_with_a_known_code():
    roles: dict[str, list[dict]] = {}
    for row in read_seed("msds_code_roles"):
        roles.setdefault(row["role"], []).append(row)
    flag_positions = {r["flag_position"] for r in read_seed("k12_race_subgroups")}
    for rows in roles.values():
        for row in rows:
            if row["code_set"] == "k12_race_subgroups":
                assert row["code"] in flag_positions, row
            else:
                assert row["code"] in code_sets()[row["code_set"]], row
            assert row["source"], row
    used = {
        (macro, role)
        for path in DBT_FILES
        for macro, role in re.findall(r"\b(role_codes?)\('([a-z_]+)'\)", path.read_text(encoding="utf-8"))
    }
    assert used, "the SQL should read its codes through role_code / role_codes"
    for macro, role in sorted(used):
        assert role in roles, f"{macro}('{role}') has no row in seeds/msds_code_roles.csv"
        if macro == "role_code":
            assert len(roles[role]) == 1, f"role_code('{role}') is a scalar: the seed must list one code"


def test_no_msds_code_literal_remains_where_a_role_exists():
    """The codes the K-12 rules single out are compared through their role, never quoted."""
    codes = {(r["code_set"], r["code"]) for r in read_seed("msds_code_roles")}
    columns = {
        "msds_exit_status": "exit_status",
        "msds_residency": "residency_code",
        "msds_lep_exit_reason": "lep_exit_reason",
        "msds_grade": "reported_grade",
        "msds_nutrition_eligibility": "nutrition_eligibility",
        "msds_nighttime_residence": "nighttime_residence",
    }
    found = []
    for path in DBT_FILES:
        if path.suffix != ".sql" or "/staging/" in str(path):
            continue
        code = re.sub(r"\{#.*?#\}|--[^\n]*", "", path.read_text(encoding="utf-8"), flags=re.S)
        for code_set, value in codes:
            column = columns.get(code_set)
            if column and re.search(rf"{column}\s*(?:=|<>|!=|in\s*\()[^\n]*'{value}'", code):
                found.append(f"{path.name}: {column} '{value}'")
        if re.search(r"substr\([^,]*race_ethnicity,\s*\d", code):
            found.append(f"{path.name}: race flag position literal")
    assert not found, found
