"""Data sharing agreements as code: the registry is validated with clear errors, and
each rule both removes the data from the release built from crafted marts and is
caught by its check on a release built without the rule. Registry edits (dates,
permissions, years) change the release with no code change."""

import csv
import datetime as dt
import shutil

import duckdb
import pytest

from orchestration.lib import paths
from orchestration.lib.agreements import checks
from orchestration.lib.agreements.purge import purge_destroyed
from orchestration.lib.agreements.registry import AgreementRegistryError, load_registry
from orchestration.lib.agreements.store import store_registry
from orchestration.lib.dbt_prepare import ensure_manifest, run_dbt
from orchestration.lib.releases.export import export_institution_marts
from tests.conftest import copy_home

REGISTRY_FILES = (
    "agreements.csv",
    "agreement_restrictions.csv",
    "agreement_clauses.csv",
    "agreement_rules.csv",
    "policy_scopes.csv",
)


def registry_copy(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in REGISTRY_FILES:
        shutil.copy(paths.SEEDS_DIR / name, folder / name)
    return folder


def edit(folder, name, change):
    """Rewrite one registry file: change(row) edits each row dict in place."""
    path = folder / name
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        change(row)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------- registry (unit)


def test_shipped_registry_covers_every_institution_with_a_mix_of_permissions():
    registry = load_registry(paths.SEEDS_DIR, as_of=dt.date(2025, 1, 1))
    assert len(registry.agreements) == 60
    assert {a.permit_institution_identification for a in registry.agreements} == {True, False}
    assert {a.permit_gender_identity_institution_level for a in registry.agreements} == {True, False}
    assert {a.status(registry.as_of) for a in registry.agreements} == {"active"}
    windows = {(r.element, r.academic_year_from, r.academic_year_to) for r in registry.restrictions}
    assert windows == {("gender_identity", "2021-22", "2025-26"), ("cumulative_debt", "2021-22", "2025-26")}


def test_registry_errors_name_file_line_and_problem(tmp_path):
    folder = registry_copy(tmp_path / "reg")
    first = {"done": False}

    def break_first(row):
        if not first["done"]:
            row.update(executed_on="2022-13-01", institution_code="9999999", honour_ferpa_block="yes")
            first["done"] = True

    edit(folder, "agreements.csv", break_first)
    edit(folder, "agreement_restrictions.csv", lambda r: r.update(academic_year_to="2025-27"))
    with pytest.raises(AgreementRegistryError) as err:
        load_registry(folder)
    msg = str(err.value)
    assert "agreements.csv line 2: executed_on '2022-13-01' is not a date" in msg
    assert "institution_code '9999999' is not in seeds/institutions.csv" in msg
    assert "honour_ferpa_block must be Y or N, not 'yes'" in msg
    assert "agreement_restrictions.csv line 2: academic_year_to '2025-27' is not an academic year" in msg


def test_status_follows_the_five_year_term_cancellation_and_destruction(tmp_path):
    folder = registry_copy(tmp_path / "reg")
    registry = load_registry(folder)
    a = registry.agreements[0]
    assert a.expires_on == a.executed_on.replace(year=a.executed_on.year + 5) - dt.timedelta(days=1)
    assert a.status(a.expires_on) == "active"
    assert a.status(a.expires_on + dt.timedelta(days=1)) == "expired"
    assert a.status(a.executed_on - dt.timedelta(days=1)) == "not_yet_effective"
    edit(
        folder,
        "agreements.csv",
        lambda r: (
            r.update(destruction_date="2024-01-01", cancelled_on="2023-06-01")
            if r["agreement_id"] == a.agreement_id
            else None
        ),
    )
    b = load_registry(folder).agreements[0]
    assert b.status(dt.date(2023, 7, 1)) == "cancelled"
    assert b.status(dt.date(2024, 1, 1)) == "destroyed"


# ---------------------------------------------------------- releases (integration)


@pytest.fixture()
def home(tiny_warehouse, tmp_path, monkeypatch):
    """A private copy of the built tiny warehouse with every postsecondary row made to
    carry gender identity and debt, so each rule has something to remove."""
    h = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(h))
    folder = registry_copy(tmp_path / "registry")
    monkeypatch.setenv("SLEDS_AGREEMENTS_DIR", str(folder))
    con = duckdb.connect(str(paths.warehouse_path()))
    con.execute("UPDATE marts.fct_ps_awards SET gender_identity_a = 'W', cumulative_debt = 12000")
    con.execute("UPDATE marts.fct_ps_enrollment SET gender_identity_a = 'W', ferpa_block = false")
    con.close()
    return folder


def load_agreements(folder=None):
    return store_registry(load_registry(folder), paths.warehouse_path())


def rebuild_release(folder=None):
    load_agreements(folder)
    run_dbt("run", "--select", "path:models/release")


def query(sql, params=None):
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_check(fn, *args):
    con = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        return fn(con, checks.SLEDS_SCHEMA, *args)
    finally:
        con.close()


def naive_release(table, mart, columns):
    """What the release would be without the rules: the mart's values copied as they are."""
    con = duckdb.connect(str(paths.warehouse_path()))
    con.execute(
        f"CREATE OR REPLACE TABLE release_sleds.{table} AS SELECT m.research_id, a.agreement_id, "
        f"m.institution_code, m.fiscal_year, CAST(m.fiscal_year - 1 AS VARCHAR) || '-' || "
        f"lpad(CAST(m.fiscal_year % 100 AS VARCHAR), 2, '0') AS academic_year, {', '.join('m.' + c for c in columns)} "
        f"FROM marts.{mart} m JOIN governance.agreements a USING (institution_code)"
    )
    con.close()


def permit_all_gender_identity(row):
    row["permit_gender_identity_institution_level"] = "Y"


@pytest.mark.integration
def test_gender_identity_and_debt_withheld_in_the_restricted_years_only(home):
    edit(home, "agreements.csv", permit_all_gender_identity)
    rebuild_release(home)
    rows = dict(
        (year, (n, gi, debt))
        for year, n, gi, debt in query(
            "SELECT academic_year, count(*), count(gender_identity_a), count(cumulative_debt) "
            "FROM release_sleds.rel_sleds__ps_awards GROUP BY 1"
        )
    )
    inside = [y for y in rows if "2021-22" <= y <= "2025-26"]
    outside = [y for y in rows if y < "2021-22"]
    assert inside and outside
    for y in inside:
        assert rows[y][1:] == (0, 0), f"{y}: restricted element released"
    for y in outside:
        assert rows[y][1] == rows[y][0] and rows[y][2] == rows[y][0], f"{y}: outside the window the value stays"
    assert run_check(checks.check_restricted_elements, "sleds").passed
    naive_release("rel_sleds__ps_awards", "fct_ps_awards", ["gender_identity_a", "cumulative_debt"])
    caught = run_check(checks.check_restricted_elements, "sleds")
    assert not caught.passed and caught.violations > 0 and caught.clause == "9(c)(vi)"


@pytest.mark.integration
def test_changing_the_restricted_years_in_the_registry_changes_the_release(home):
    edit(home, "agreements.csv", permit_all_gender_identity)
    edit(
        home, "agreement_restrictions.csv", lambda r: r.update(academic_year_from="2019-20", academic_year_to="2019-20")
    )
    rebuild_release(home)
    counts = dict(
        query("SELECT academic_year, count(cumulative_debt) FROM release_sleds.rel_sleds__ps_awards GROUP BY 1")
    )
    assert counts.get("2019-20", 0) == 0
    assert counts.get("2022-23", 0) > 0  # no longer restricted: the agreement decides, and it allows


@pytest.mark.integration
def test_gender_identity_only_where_the_institution_permits(home):
    permitted = {}

    def every_other(row):
        row["permit_gender_identity_institution_level"] = "Y" if len(permitted) % 2 == 0 else "N"
        permitted[row["institution_code"]] = row["permit_gender_identity_institution_level"] == "Y"

    edit(home, "agreements.csv", every_other)
    edit(
        home, "agreement_restrictions.csv", lambda r: r.update(academic_year_from="2030-31", academic_year_to="2030-31")
    )
    rebuild_release(home)
    shown = dict(
        query(
            "SELECT a.institution_code, count(e.gender_identity_a) FROM release_sleds.rel_sleds__ps_enrollment e "
            "JOIN governance.agreements a USING (agreement_id) GROUP BY 1"
        )
    )
    assert any(permitted[c] for c in shown) and any(not permitted[c] for c in shown)
    for code, n in shown.items():
        assert (n > 0) == permitted[code], (
            f"institution {code}: gender identity shown={n > 0}, permitted={permitted[code]}"
        )
    assert run_check(checks.check_gender_identity_permission).passed
    naive_release("rel_sleds__ps_enrollment", "fct_ps_enrollment", ["gender_identity_a"])
    caught = run_check(checks.check_gender_identity_permission)
    assert not caught.passed and caught.clause == "9(c)(v)"


@pytest.mark.integration
def test_institution_named_only_with_permission(home):
    edit(home, "agreements.csv", lambda r: r.update(permit_institution_identification="N"))
    rebuild_release(home)
    assert query("SELECT count(institution_code) FROM release_sleds.rel_sleds__ps_enrollment")[0][0] == 0
    assert query("SELECT count(institution_sector) FROM release_sleds.rel_sleds__ps_enrollment")[0][0] > 0
    assert run_check(checks.check_institution_identity).passed
    naive_release("rel_sleds__ps_enrollment", "fct_ps_enrollment", ["term_season"])
    caught = run_check(checks.check_institution_identity)
    assert not caught.passed and caught.clause == "9(c)(i)"


@pytest.mark.integration
def test_ferpa_blocks_honoured_where_the_agreement_says(home):
    con = duckdb.connect(str(paths.warehouse_path()))
    con.execute("UPDATE marts.fct_ps_enrollment SET ferpa_block = (hash(research_id) % 5 = 0)")
    con.close()
    edit(home, "agreements.csv", lambda r: r.update(honour_ferpa_block="Y"))
    rebuild_release(home)
    blocked, total = query("SELECT count(*) FILTER (WHERE ferpa_block), count(*) FROM marts.fct_ps_enrollment")[0]
    released = query("SELECT count(*) FROM release_sleds.rel_sleds__ps_enrollment")[0][0]
    assert blocked > 0 and released == total - blocked
    assert run_check(checks.check_ferpa_blocks).passed
    naive_release("rel_sleds__ps_enrollment", "fct_ps_enrollment", ["term_season"])
    caught = run_check(checks.check_ferpa_blocks)
    assert not caught.passed and caught.clause == "15"


@pytest.mark.integration
def test_expired_agreement_stops_the_releases_that_need_its_data(home, tmp_path):
    rebuild_release(home)
    assert run_check(checks.check_agreements_active).passed
    present = query("SELECT DISTINCT institution_code FROM marts.fct_ps_enrollment ORDER BY 1")[0][0]
    export_institution_marts(
        paths.warehouse_path(), paths.releases_dir(), run_id="t", as_of=dt.date.today(), clauses=[]
    )
    assert (paths.releases_dir() / "institutions" / present).is_dir()
    edit(
        home,
        "agreements.csv",
        lambda r: r.update(executed_on="2015-01-01") if r["institution_code"] == present else None,
    )
    rebuild_release(home)
    caught = run_check(checks.check_agreements_active)
    assert not caught.passed and caught.clause == "28" and "expired" in caught.detail
    marts, skipped = export_institution_marts(
        paths.warehouse_path(), paths.releases_dir(), run_id="t", as_of=dt.date.today(), clauses=[]
    )
    manifests = [m.manifest for m in marts]
    assert skipped == {present: "agreement expired"}
    assert not (paths.releases_dir() / "institutions" / present).exists(), "an expired agreement keeps no mart"
    for m in manifests:  # every other institution's mart holds only its own rows
        code = m.audience.split(":")[1]
        con = duckdb.connect(str(m.folder / "institution_mart.duckdb"), read_only=True)
        for table in m.tables:
            assert (
                con.execute(f"SELECT count(*) FROM {table} WHERE institution_code <> ?", [code]).fetchall()[0][0] == 0
            )
        con.close()


@pytest.mark.integration
def test_destruction_date_purges_warehouse_vault_and_release_and_is_logged(home, tiny_feeds):
    doomed = query("SELECT DISTINCT institution_code FROM raw.ps_enrollment ORDER BY 1")[0][0]
    before = query("SELECT count(*) FROM raw.ps_enrollment WHERE institution_code = ?", [doomed])[0][0]
    assert before > 0
    edit(
        home,
        "agreements.csv",
        lambda r: r.update(destruction_date="2024-01-01") if r["institution_code"] == doomed else None,
    )
    load_agreements(home)
    report = purge_destroyed(load_registry(), paths.warehouse_path(), paths.vault_path(), tiny_feeds / "landing")
    assert report.institutions == [doomed] and report.rows_deleted["raw.ps_enrollment"] == before
    assert report.landing_files_remaining, "the steward is told which landing files to remove"
    assert query("SELECT count(*) FROM raw.ps_enrollment WHERE institution_code = ?", [doomed])[0][0] == 0
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    orphans = vault.execute(
        "SELECT count(*) FROM landing.ps_enrollment_identity v WHERE v.source_file LIKE ?", [f"%_{doomed}_%"]
    ).fetchall()[0][0]
    vault.close()
    assert orphans == 0, "PII of a destroyed institution left in the vault"
    vault = duckdb.connect(str(paths.vault_path()), read_only=True)
    keys = vault.execute("SELECT count(*) FROM identity.source_keys WHERE source_key LIKE ?", [f"P:{doomed}:%"])
    assert keys.fetchall()[0][0] == 0, "the identity crosswalk still holds the institution's student numbers"
    vault.close()
    assert report.rows_deleted["vault.identity.source_keys"] > 0
    logged = query("SELECT table_name, rows_deleted FROM governance.purge_log WHERE institution_code = ?", [doomed])
    assert ("raw.ps_enrollment", before) in logged
    run_dbt("build", "--select", "path:models/intermediate/postsecondary+")
    assert query("SELECT count(*) FROM marts.fct_ps_enrollment WHERE institution_code = ?", [doomed])[0][0] == 0
    assert (
        query(
            "SELECT count(*) FROM release_sleds.rel_sleds__ps_enrollment r "
            "JOIN governance.agreements a USING (agreement_id) WHERE a.institution_code = ?",
            [doomed],
        )[0][0]
        == 0
    )


@pytest.mark.integration
def test_release_columns_are_the_allowlist(home):
    allowlist = checks.release_allowlist(ensure_manifest(), checks.SLEDS_SCHEMA)
    assert run_check(checks.check_columns, allowlist).passed
    con = duckdb.connect(str(paths.warehouse_path()))
    con.execute("ALTER TABLE release_sleds.rel_sleds__ps_enrollment ADD COLUMN ssn VARCHAR")
    con.close()
    caught = run_check(checks.check_columns, allowlist)
    assert not caught.passed and "ssn" in caught.detail
