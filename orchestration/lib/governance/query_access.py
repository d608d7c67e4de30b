"""Researcher query access: read-only SQL against a release the researcher is entitled
to, never the warehouse, the vault or the internal schemas.

Three layers, each enough on its own for the vault:

1. the connection opens only the release's own file (`releases/sleds/sleds_release.duckdb`,
   an institution's `institution_mart.duckdb`, or the public tables loaded into memory),
   read-only; the warehouse and vault are never opened;
2. DuckDB's `enable_external_access` is off and the configuration is locked, so no
   statement can ATTACH a file, read one (`read_parquet`, `'file.csv'`, ...) or switch
   access back on;
3. before anything runs, the SQL is read by DuckDB's own parser (`json_serialize_sql`,
   on a separate in-memory connection) and checked (`check_sql`): exactly one SELECT
   (SHOW TABLES, DESCRIBE and SUMMARIZE are SELECTs too); every table it names is a
   table or view of the opened release (or a CTE of the query, or
   information_schema.tables/columns); table functions only range, generate_series and
   unnest; no file, system or setting function. Words are not checked: a column named
   `copy` or an alias `load` is just a name. A refusal says which rule and why.

Each query also runs under limits that are settings, not code (`query_limits`): a
memory cap (SLEDS_QUERY_MEMORY_LIMIT, DuckDB's memory_limit, set before the
configuration is locked) and a time limit (SLEDS_QUERY_TIMEOUT_S; DuckDB has no
statement timeout, so a timer interrupts the connection).

EXPLAIN is not accepted any more: DuckDB serializes only SELECT statements, and an
EXPLAIN ANALYZE would run the query outside the checked shape. Engineers who need a
plan open a copy of the warehouse with the DuckDB CLI, which they can read anyway."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib import paths, storage

INTERNAL_SCHEMAS = (
    "raw", "ingest", "identity", "derived", "staging", "intermediate", "marts", "governance", "reference",
    "release_sleds", "release_institution", "publish", "landing", "wh", "vault",
)  # fmt: skip
# the table functions a query may call in FROM; every other one reads files, other
# databases, logs, settings or secrets, or does something (checkpoint, enable_logging)
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# scalar functions that read the environment, settings, files or run other SQL
DENIED_FUNCTION = re.compile(
    r"(read_|parquet_|sqlite_|postgres_|mysql_|iceberg_|delta_|duckdb_|pragma_|json_execute).*|"
    r"glob|sniff_csv|query|query_table|getenv|current_setting|which_secret",
    re.IGNORECASE,
)
# what information_schema a researcher may read (the release's own tables and columns)
CATALOG_VIEWS = frozenset({("information_schema", "tables"), ("information_schema", "columns")})
SHOW_SPECIAL = frozenset({"tables", "__show_tables_expanded"})  # SHOW TABLES, SHOW ALL TABLES
TOO_DEEP = "refused: the query is nested too deeply to be checked; write it with fewer levels (CTEs help)."
FILE_SUFFIX = re.compile(r"\.(duckdb|db|parquet|csv|tsv|json|jsonl|ndjson|txt|gz|zst|xlsx|arrow|sqlite|key)$", re.I)

TIMEOUT_ENV = "SLEDS_QUERY_TIMEOUT_S"
MEMORY_ENV = "SLEDS_QUERY_MEMORY_LIMIT"
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_LIMIT = "2GB"
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class QueryRefused(ValueError):
    """The query was not run; the message says why, for a researcher."""


class QueryStopped(RuntimeError):
    """The query started and was stopped by a limit; `outcome` is what the log records."""

    outcome = "error"


class QueryTimedOut(QueryStopped):
    outcome = "timeout"


class QueryOutOfMemory(QueryStopped):
    outcome = "error"


class LimitsError(ValueError):
    """A limit setting has a value that is not one."""


@dataclass(frozen=True)
class Release:
    name: str  # sleds | institution:<code> | public | warehouse
    path: Path  # the release's DuckDB file, or the public tables folder


@dataclass(frozen=True)
class QueryLimits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit: str = DEFAULT_MEMORY_LIMIT


@dataclass(frozen=True)
class Catalog:
    """What a query may name: the connection's database and its (schema, table) pairs,
    lower case. `internal` (the warehouse) allows every schema; a release only `main`."""

    database: str
    tables: frozenset[tuple[str, str]]
    internal: bool = False

    @property
    def schemas(self) -> frozenset[str]:
        return frozenset(schema for schema, _ in self.tables)


@dataclass(frozen=True)
class TableRef:
    catalog: str
    schema: str
    name: str

    def __str__(self) -> str:
        return ".".join(part for part in (self.catalog, self.schema, self.name) if part)


# ------------------------------------------------------------------ settings


def query_limits(file_limits: Mapping | None = None) -> QueryLimits:
    """The limits in force: the environment (SLEDS_QUERY_TIMEOUT_S, SLEDS_QUERY_MEMORY_LIMIT),
    else the access file's [limits] (query_timeout_s, query_memory_limit), else 300 s and 2GB."""
    file_limits = file_limits or {}
    timeout = os.environ.get(TIMEOUT_ENV) or file_limits.get("query_timeout_s", DEFAULT_TIMEOUT_S)
    memory = os.environ.get(MEMORY_ENV) or file_limits.get("query_memory_limit", DEFAULT_MEMORY_LIMIT)
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise LimitsError(
            f"the query time limit ({TIMEOUT_ENV} or query_timeout_s) must be a number of seconds > 0, not {timeout!r}"
        )
    if not isinstance(memory, str) or not MEMORY_SIZE.fullmatch(memory.strip()):
        raise LimitsError(
            f"the query memory limit ({MEMORY_ENV} or query_memory_limit) must be a size like '2GB' or '512MB', "
            f"not {memory!r}"
        )
    return QueryLimits(seconds, memory.strip())


# -------------------------------------------------------------------- parsing


_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _parser_connection() -> duckdb.DuckDBPyConnection:
    """An empty in-memory connection used only to parse: it holds no data and no file."""
    global _parser
    if _parser is None:
        _parser = duckdb.connect(config={"enable_external_access": False})
    return _parser


def parse_select(sql: str) -> dict:
    """DuckDB's parse tree of the one SELECT in `sql`, or QueryRefused."""
    with _parser_lock:
        con = _parser_connection()
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryRefused(f"refused: the query does not parse: {exc}") from exc
        for statement in statements:
            try:
                kind = statement.type.name
            except ValueError:  # a statement type the Python client has no name for: not a SELECT
                kind = "UNKNOWN"
            if kind != "SELECT":
                raise QueryRefused(_statement_refusal(kind, statement.query))
        if len(statements) != 1:
            raise QueryRefused(f"refused: one statement at a time ({len(statements)} given).")
        text = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    try:
        tree = json.loads(text)
    except RecursionError as exc:
        raise QueryRefused(TOO_DEEP) from exc
    if tree.get("error"):
        raise QueryRefused(f"refused: the query cannot be checked: {tree.get('error_message', 'parser error')}")
    return tree


def _statement_refusal(kind: str, text: str) -> str:
    word = (text.split() or [kind])[0].upper()
    if kind == "UNKNOWN":
        kind = word
    what = f"{kind} statements" if word == kind else f"{kind} statements ({word} ...)"
    message = f"refused: {what} are not allowed; only one SELECT query over the release."
    if kind in ("ATTACH", "COPY", "COPY_DATABASE", "EXPORT", "LOAD", "EXTENSION", "PRAGMA"):
        message += " A query cannot open another database or file (the vault, the warehouse or any other)."
    return message


def _walk(node, ctes: frozenset[str] = frozenset()) -> Iterator[tuple[str, object]]:
    """Every table, table function, SHOW target and function the tree names, as
    ("table", TableRef) / ("table_function", name) / ("show", ...) / ("function", name).
    A name that is a CTE in scope (WITH a AS ... : its own body, the later CTEs and the
    query under it) is not a table and is not reported."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, ctes)
        return
    if not isinstance(node, dict):
        return
    ctes = yield from _walk_ctes(node, ctes)
    kind = node.get("type")
    if kind == "BASE_TABLE":
        ref = TableRef(*(str(node.get(k) or "").lower() for k in ("catalog_name", "schema_name", "table_name")))
        if ref.catalog or ref.schema or ref.name not in ctes:
            yield "table", ref
    elif kind == "TABLE_FUNCTION":
        function = node.get("function")
        if not isinstance(function, dict) or function.get("class") != "FUNCTION":
            yield "table_function", "?"  # not a plain function call: nothing to allow
        else:  # its name is checked as a table function; its arguments, filter, ... as anything else
            yield "table_function", str(function.get("function_name", "?")).lower()
            yield from _walk(list(function.values()), ctes)
        rest = {k: v for k, v in node.items() if k != "function"}
        yield from _walk(list(rest.values()), ctes)
        return
    elif kind == "SHOW_REF":
        yield "show", node
    elif node.get("class") == "FUNCTION":
        yield "function", str(node.get("function_name", "?")).lower()
    for key, value in node.items():
        if key != "cte_map":
            yield from _walk(value, ctes)


def _walk_ctes(node: dict, ctes: frozenset[str]):
    """Walk the CTE bodies of a query node, each seeing itself and the earlier ones;
    returns the names in scope for the rest of the node."""
    entries = (node.get("cte_map") or {}).get("map") or []
    for entry in entries:
        ctes = ctes | {str(entry.get("key", "")).lower()}
        yield from _walk(entry.get("value"), ctes)
    return ctes


# ------------------------------------------------------------------- checking


def check_sql(sql: str, catalog: Catalog | None = None, *, internal: bool = False) -> None:
    """Raise QueryRefused unless `sql` is one read-only SELECT over `catalog`'s tables.
    `internal=True` (data engineers, `sleds query --warehouse`) allows the warehouse's
    schemas; the vault, files, file functions and other statements stay refused.
    Without a catalog only the shape is checked (run_query always passes the release's)."""
    check_tree(parse_select(sql), catalog, internal=internal)


def check_tree(tree: dict, catalog: Catalog | None = None, *, internal: bool = False) -> None:
    """check_sql on a tree parse_select returned."""
    if catalog is not None:
        internal = catalog.internal
    try:
        _check_references(tree, catalog, internal)
    except RecursionError as exc:
        raise QueryRefused(TOO_DEEP) from exc


def _check_references(tree: dict, catalog: Catalog | None, internal: bool) -> None:
    for what, item in _walk(tree):
        if what == "table":
            _check_table(item, catalog, internal)
        elif what == "table_function" and item not in TABLE_FUNCTIONS:
            raise QueryRefused(
                f"refused: {item}() is not allowed in FROM: table functions read files, other databases or the "
                "system; a query reads the release's tables, range(), generate_series() and unnest()."
            )
        elif what == "function" and DENIED_FUNCTION.fullmatch(item):
            raise QueryRefused(
                f"refused: {item}() reads files, settings or the environment; queries can read only the release's "
                "tables."
            )
        elif what == "show":
            _check_show(item, catalog, internal)


def _check_table(ref: TableRef, catalog: Catalog | None, internal: bool) -> None:
    parts = (ref.catalog, ref.schema, ref.name)
    if "vault" in parts:
        raise QueryRefused(
            "refused: the query names the vault. Names, SSNs, birthdates and state IDs are kept in the vault, "
            "which no query can reach; releases carry research IDs only."
        )
    if _looks_like_a_path(ref.name):
        raise QueryRefused(
            f"refused: '{ref.name[-80:]}' looks like a file path; queries cannot read files (the vault, the "
            "warehouse or any other), only the release's tables."
        )
    if not internal and "warehouse" in parts:
        raise QueryRefused(
            "refused: the query names the warehouse. Researchers query a release (the SLEDS release, an "
            "institution mart or the public tables), never the internal warehouse."
        )
    hit = next((p for p in (ref.catalog, ref.schema) if p in INTERNAL_SCHEMAS), None)
    if not internal and hit:
        raise QueryRefused(
            f"refused: '{hit}' is an internal schema of the warehouse (raw, ingest, identity, derived, "
            "staging, intermediate, marts, governance). Only the release's own tables can be queried: "
            'run `sleds query "show tables"` to list them.'
        )
    if catalog is not None and not _in_catalog(ref, catalog):
        raise QueryRefused(
            f"refused: {ref} is not a table of this release; only its own tables can be queried: "
            'run `sleds query "show tables"` to list them.'
        )


def _looks_like_a_path(name: str) -> bool:
    return any(c in name for c in "/\\:~") or bool(FILE_SUFFIX.search(name))


def _in_catalog(ref: TableRef, catalog: Catalog) -> bool:
    """Whether the name binds to one of the catalog's tables (DuckDB reads `a.b` as
    schema a, else database a; the database's own name may qualify either)."""
    if ref.catalog and ref.catalog != catalog.database:
        return (ref.schema, ref.name) in CATALOG_VIEWS and ref.catalog == "system"
    candidates = {(ref.schema or "main", ref.name)}
    if not ref.catalog and ref.schema == catalog.database:
        candidates.add(("main", ref.name))
    return bool(candidates & (catalog.tables | CATALOG_VIEWS))


def _check_show(node: dict, catalog: Catalog | None, internal: bool) -> None:
    show_type = node.get("show_type")
    name = str(node.get("table_name") or "").strip('"').lower()
    if show_type == "SHOW_SPECIAL":
        if name not in SHOW_SPECIAL:
            raise QueryRefused(f"refused: SHOW {name.upper()} is not available; SHOW TABLES lists the release's tables")
        return
    schema = str(node.get("schema_name") or "").lower()
    database = str(node.get("catalog_name") or "").lower()
    if show_type == "SHOW_FROM":  # SHOW TABLES FROM <schema>
        _check_table(TableRef(database, schema, ""), None, internal)
        if catalog is not None and schema not in (catalog.schemas | {catalog.database}):
            raise QueryRefused(f"refused: {schema} is not a schema of this release.")
        return
    if name:  # SHOW t / DESCRIBE t by name; DESCRIBE/SUMMARIZE of a query walk that query
        _check_table(TableRef(database, schema, name), catalog, internal)


# -------------------------------------------------------------------- running


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


def open_release(release: Release, limits: QueryLimits | None = None) -> duckdb.DuckDBPyConnection:
    """A connection holding only the release, with external access off, the memory cap
    set and the configuration locked (so no query can lift either)."""
    limits = limits or query_limits()
    if release.name == "public":
        con = duckdb.connect()
        for file in sorted(release.path.glob("*.parquet")):
            name = re.sub(r"[^0-9A-Za-z_]", "_", file.stem)
            con.execute(f'CREATE TABLE main."{name}" AS SELECT * FROM read_parquet(?)', [str(file)])
        con.execute("SET enable_external_access = false")
    else:
        con = storage.release_file(release.path, sandboxed=True)
    try:
        con.execute("SET memory_limit = ?", [limits.memory_limit])
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def release_catalog(con: duckdb.DuckDBPyConnection, *, internal: bool = False) -> Catalog:
    """The tables and views the connection's own database holds (a release: its main
    schema; the warehouse: every schema)."""
    database = con.execute("SELECT current_database()").fetchall()[0][0]
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    tables = {(s.lower(), t.lower()) for s, t in rows if internal or s.lower() == "main"}
    return Catalog(database.lower(), frozenset(tables), internal)


def run_query(sql: str, release: Release, *, internal: bool = False, limits: QueryLimits | None = None):
    """Check, then run one query against the release under the limits; returns a pyarrow
    Table. QueryRefused before anything runs; QueryTimedOut / QueryOutOfMemory when a
    limit stopped it."""
    limits = limits or query_limits()
    tree = parse_select(sql)  # refuse what is not one SELECT before any file is opened
    con = open_release(release, limits)
    try:
        check_tree(tree, release_catalog(con, internal=internal))
        return _run_with_limits(con, sql, limits)
    finally:
        con.close()


def _run_with_limits(con: duckdb.DuckDBPyConnection, sql: str, limits: QueryLimits):
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(limits.timeout_s, stop)
    timer.daemon = True
    timer.start()
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.InterruptException as exc:
        if fired.is_set():
            raise QueryTimedOut(
                f"the query ran longer than the {limits.timeout_s:g} s limit ({TIMEOUT_ENV}); it was stopped"
            ) from exc
        raise
    except duckdb.OutOfMemoryException as exc:
        raise QueryOutOfMemory(
            f"the query needed more memory than the {limits.memory_limit} limit ({MEMORY_ENV}); it was stopped. "
            "Filter or aggregate earlier, select fewer columns, or ask an engineer to raise the limit"
        ) from exc
    finally:
        timer.cancel()
