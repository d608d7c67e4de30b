"""Researcher query access: read-only SQL against a release the researcher is entitled
to, never the warehouse, the vault or the internal schemas.

Three layers, each enough on its own for the vault:

1. the connection opens only the release's own file (`releases/sleds/sleds_release.duckdb`,
   an institution's `institution_mart.duckdb`, or the public tables loaded into memory),
   read-only; the warehouse and vault are never opened;
2. DuckDB's `enable_external_access` is off and the configuration is locked, so no
   statement can ATTACH a file, read one (`read_parquet`, `'file.csv'`, ...) or switch
   access back on;
3. before anything runs, the SQL is checked (`check_sql`): exactly one SELECT (or
   EXPLAIN), no reference to the vault, the warehouse file, an internal schema or a file
   function, no file path; a refusal says which rule and why, in plain words."""

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib import paths, storage

INTERNAL_SCHEMAS = (
    "raw", "ingest", "identity", "derived", "staging", "intermediate", "marts", "governance", "reference",
    "release_sleds", "release_institution", "publish", "landing", "wh", "vault",
)  # fmt: skip
FILE_FUNCTIONS = re.compile(
    r"\b(read_\w+|parquet_\w+|glob|sniff_csv|sqlite_\w+|postgres_\w+|mysql_\w+|iceberg_\w+|delta_\w+|"
    r"query_table|query|getenv|duckdb_secrets|duckdb_extensions|which_secret)\s*\(",
    re.IGNORECASE,
)
FORBIDDEN_WORDS = re.compile(
    r"\b(attach|detach|copy|export|import|install|load|pragma|checkpoint|use)\b", re.IGNORECASE
)
FILE_SUFFIX = re.compile(r"\.(duckdb|db|parquet|csv|tsv|json|jsonl|ndjson|txt|gz|zst|xlsx|arrow|sqlite|key)\b", re.I)
ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class QueryRefused(ValueError):
    """The query was not run; the message says why, for a researcher."""


@dataclass(frozen=True)
class Release:
    name: str  # sleds | institution:<code> | public
    path: Path  # the release's DuckDB file, or the public tables folder


def _strip(sql: str) -> tuple[str, list[str]]:
    """The SQL with comments removed and string literals blanked, and the literals."""
    out, literals, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif c == "'":
            j = i + 1
            buf = []
            while j < n:
                if sql[j] == "'" and sql.startswith("''", j):
                    buf.append("'")
                    j += 2
                    continue
                if sql[j] == "'":
                    break
                buf.append(sql[j])
                j += 1
            literals.append("".join(buf))
            out.append("''")
            i = j + 1
        elif c == '"':  # quoted identifier: keep its name, unquoted, for the schema check
            j = sql.find('"', i + 1)
            j = n if j < 0 else j
            out.append(sql[i + 1 : j].replace(" ", "_"))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), literals


def check_sql(sql: str, *, internal: bool = False) -> None:
    """Raise QueryRefused unless `sql` is one read-only query over release tables.
    `internal=True` (data engineers, `sleds query --warehouse`) allows the warehouse's
    schemas; the vault, files and write statements stay refused."""
    code, literals = _strip(sql)
    lowered = sql.lower()
    if "vault" in lowered:
        raise QueryRefused(
            "refused: the query mentions the vault. Names, SSNs, birthdates and state IDs are kept in the vault, "
            "which no researcher query can reach; releases carry research IDs only."
        )
    if not internal and "warehouse" in lowered:
        raise QueryRefused(
            "refused: the query mentions the warehouse. Researchers query a release (the SLEDS release, an "
            "institution mart or the public tables), never the internal warehouse."
        )
    schemas = "|".join(INTERNAL_SCHEMAS)
    hit = None if internal else re.search(rf"\b({schemas})\s*\.", code, re.IGNORECASE)
    if hit:
        raise QueryRefused(
            f"refused: '{hit.group(1)}' is an internal schema of the warehouse (raw, ingest, identity, derived, "
            "staging, intermediate, marts, governance). Only the release's own tables can be queried: "
            'run `sleds query "show tables"` to list them.'
        )
    hit = FILE_FUNCTIONS.search(code)
    if hit:
        raise QueryRefused(
            f"refused: {hit.group(1)}() reads files or other databases; queries can read only the release's tables."
        )
    hit = FORBIDDEN_WORDS.search(code)
    if hit:
        raise QueryRefused(
            f"refused: {hit.group(1).upper()} is not allowed; queries are read-only SELECTs over the release "
            "(no ATTACH, COPY, EXPORT, INSTALL/LOAD or PRAGMA)."
        )
    for literal in literals:
        if "/" in literal or "\\" in literal or FILE_SUFFIX.search(literal) or literal.startswith("~"):
            raise QueryRefused(
                f"refused: the string '{literal[:60]}' looks like a file path; queries cannot read files, only "
                "the release's tables."
            )
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the query does not parse: {exc}") from exc
    if len(statements) != 1:
        raise QueryRefused(f"refused: one statement at a time ({len(statements)} given).")
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        raise QueryRefused(f"refused: {kind} statements are not allowed; only SELECT (and EXPLAIN) queries.")


def resolve_release(spec: str | None, home: Path | None = None) -> Release:
    """`sleds` (default), `institution:<code>` or `public` -> the release's file or folder."""
    releases = paths.releases_dir(home)
    spec = (spec or "sleds").strip()
    if spec == "sleds":
        path = releases / "sleds" / "sleds_release.duckdb"
    elif spec.startswith("institution:"):
        code = spec.split(":", 1)[1]
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", code):
            raise QueryRefused(f"refused: {code!r} is not an institution code")
        path = releases / "institutions" / code / "institution_mart.duckdb"
    elif spec == "public":
        path = releases / "public" / "tables"
    else:
        raise QueryRefused(f"unknown release {spec!r}: use sleds, institution:<code> or public")
    if not path.exists():
        hint = {"sleds": "run `sleds build` first", "public": "the publish stage has not written the public tables"}
        raise QueryRefused(
            f"release {spec} is not available at {path}: "
            + hint.get(spec, "no mart for that institution (its agreement may not be active)")
        )
    return Release(spec, path)


def open_release(release: Release) -> duckdb.DuckDBPyConnection:
    """A connection holding only the release, with external access off and locked."""
    if release.name == "public":
        con = duckdb.connect()
        for file in sorted(release.path.glob("*.parquet")):
            name = re.sub(r"[^0-9A-Za-z_]", "_", file.stem)
            con.execute(f'CREATE TABLE main."{name}" AS SELECT * FROM read_parquet(?)', [str(file)])
        con.execute("SET enable_external_access = false")
    else:
        con = storage.release_file(release.path, sandboxed=True)
    con.execute("SET lock_configuration = true")
    return con


def run_query(sql: str, release: Release, *, internal: bool = False):
    """Check, then run one query against the release; returns a pyarrow Table."""
    check_sql(sql, internal=internal)
    con = open_release(release)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
