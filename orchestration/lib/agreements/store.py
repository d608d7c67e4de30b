"""Write the validated registry, with each agreement's status on the as-of day, to the
warehouse (`governance.*`), where the release models and checks read it."""

from __future__ import annotations

import duckdb

from orchestration.lib import storage
from orchestration.lib.agreements.registry import Registry


def write_registry(con: duckdb.DuckDBPyConnection, registry: Registry, schema: str = "governance") -> dict:
    """Replace the governance registry tables in one transaction; returns status counts."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute("BEGIN TRANSACTION")
    con.execute(
        f"CREATE OR REPLACE TABLE {schema}.agreements (agreement_id VARCHAR, institution_code VARCHAR, "
        "agency VARCHAR, agreement_version VARCHAR, legal_basis VARCHAR, executed_on DATE, term_years INTEGER, "
        "expires_on DATE, permit_institution_identification BOOLEAN, "
        "permit_gender_identity_institution_level BOOLEAN, honour_ferpa_block BOOLEAN, destruction_date DATE, "
        "cancelled_on DATE, status VARCHAR, status_as_of DATE)"
    )
    con.executemany(
        f"INSERT INTO {schema}.agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                a.agreement_id,
                a.institution_code,
                a.agency,
                a.agreement_version,
                a.legal_basis,
                a.executed_on,
                a.term_years,
                a.expires_on,
                a.permit_institution_identification,
                a.permit_gender_identity_institution_level,
                a.honour_ferpa_block,
                a.destruction_date,
                a.cancelled_on,
                a.status(registry.as_of),
                registry.as_of,
            )  # fmt: skip
            for a in registry.agreements
        ],
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {schema}.agreement_restrictions (agreement_id VARCHAR, element VARCHAR, "
        "audience VARCHAR, academic_year_from VARCHAR, academic_year_to VARCHAR, clause VARCHAR)"
    )
    if registry.restrictions:
        con.executemany(
            f"INSERT INTO {schema}.agreement_restrictions VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.agreement_id, r.element, r.audience, r.academic_year_from, r.academic_year_to, r.clause)
                for r in registry.restrictions
            ],
        )
    con.execute(f"CREATE OR REPLACE TABLE {schema}.agreement_clauses (clause VARCHAR, title VARCHAR)")
    con.executemany(f"INSERT INTO {schema}.agreement_clauses VALUES (?, ?)", sorted(registry.clauses.items()))
    con.execute("COMMIT")
    counts: dict[str, int] = {}
    for a in registry.agreements:
        counts[a.status(registry.as_of)] = counts.get(a.status(registry.as_of), 0) + 1
    return counts


def record_registry_load(registry: Registry, counts: dict) -> None:
    """The activity log keeps every registry load: permissions in force are what the
    committee audits (DOMAIN.md §5, permission grants)."""
    from orchestration.lib.governance.activity_log import record_activity

    record_activity(
        "agreement_registry_loaded",
        {"source": str(registry.source), "as_of": str(registry.as_of), "status": counts,
         "restrictions": len(registry.restrictions),
         "permit_institution_identification": sum(a.permit_institution_identification for a in registry.agreements),
         "permit_gender_identity_institution_level": sum(
             a.permit_gender_identity_institution_level for a in registry.agreements)},
    )  # fmt: skip


def store_registry(registry: Registry, warehouse) -> dict:
    """Write the registry into the warehouse file and log the load; returns status counts."""
    with storage.warehouse(warehouse, read_only=False) as con:
        counts = write_registry(con, registry)
    record_registry_load(registry, counts)
    return counts
