"""Column-level lineage from the dbt project, for the committee: where a feed element
goes, model by model, and what guards it on the way into a release.

The structure comes from the compiled SQL of every model (`dbt compile` into a private
target folder, never the project's shared `target/`) read with sqlglot against the
warehouse's catalog: for each model column, the upstream columns its value is computed
from. A release column whose value is wrapped in `CASE WHEN NOT <flag> THEN <value> END`
where `<flag>` is computed from `governance.agreement_restrictions` is **guarded**: the
registry decides, per agreement, audience and academic year, whether the value passes.
`restricted_values_in_release` is the data half of the proof: it counts restricted-year
values actually present in a release file.

Only value flow is traced (a column used in a filter or a join condition is not an edge);
Python stages downstream of dbt (publish, exports) appear at table level in the report."""

import json
import os
import subprocess
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from orchestration.lib import paths, storage
from orchestration.lib.agreements import policy
from orchestration.lib.storage import sha256_bytes


def traced_sources() -> list[str]:
    """The raw feed tables a restricted element arrives in."""
    return sorted({s for sources in policy.restricted_sources().values() for s in sources})


def __getattr__(name: str):
    # RESTRICTED_ELEMENTS (element -> columns), FEED_SOURCES (element -> raw tables),
    # TRACED_SOURCES and RELEASE_SCHEMAS (release schema -> audience) are read from the
    # agreement policy on each use, so a seed edit needs no change here
    computed = {
        "RESTRICTED_ELEMENTS": policy.restricted_columns,
        "FEED_SOURCES": policy.restricted_sources,
        "TRACED_SOURCES": traced_sources,
        "RELEASE_SCHEMAS": policy.release_schemas,
    }
    if name in computed:
        return computed[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Guard:
    flag: str  # the condition column, e.g. cumulative_debt_withheld
    element: str  # the registry element it tests
    audience: str  # the registry audience it tests


@dataclass
class ColumnEdge:
    source: str  # schema.table.column
    target: str
    transform: str  # copy | expression
    guards: list[Guard] = field(default_factory=list)


@dataclass
class ModelInfo:
    name: str
    relation: str  # schema.table
    layer: str  # staging | intermediate | marts | release
    depends_on: list[str]  # relations


@dataclass
class ColumnLineage:
    models: dict[str, ModelInfo]
    edges: list[ColumnEdge]
    errors: list[str]

    def downstream(self) -> dict[str, list[ColumnEdge]]:
        out: dict[str, list[ColumnEdge]] = {}
        for e in self.edges:
            out.setdefault(e.source, []).append(e)
        return out

    def as_dict(self) -> dict:
        return {
            "models": {k: asdict(v) for k, v in self.models.items()},
            "edges": [asdict(e) for e in self.edges],
            "errors": self.errors,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnLineage":
        edges = [ColumnEdge(e["source"], e["target"], e["transform"], [Guard(**g) for g in e["guards"]])
                 for e in d["edges"]]  # fmt: skip
        return cls({k: ModelInfo(**v) for k, v in d["models"].items()}, edges, d.get("errors", []))


def _project_fingerprint(project_dir: Path) -> str:
    chunks: list[bytes] = []
    for name in ("models", "macros", "dbt_project.yml"):
        p = project_dir / name
        for f in sorted([p] if p.is_file() else p.rglob("*") if p.exists() else []):
            if f.is_file():
                chunks += [str(f.relative_to(project_dir)).encode(), f.read_bytes()]
    return sha256_bytes(*chunks)


def compiled_manifest(work: Path, project_dir: Path = paths.DBT_PROJECT_DIR) -> dict:
    """The dbt manifest with every model's compiled SQL, compiled into `work` (against an
    empty DuckDB file there, so no lock is taken on the warehouse); reused while the
    project's models and macros are unchanged."""
    from orchestration.lib.dbt_prepare import dbt_executable

    work.mkdir(parents=True, exist_ok=True)
    fingerprint = _project_fingerprint(project_dir)
    manifest = work / "target" / "manifest.json"
    stamp = work / "fingerprint"
    if not (manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint):
        env = {**os.environ, "SLEDS_WAREHOUSE": str(work / "warehouse.duckdb"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}  # fmt: skip
        cmd = [dbt_executable(), "compile", "--quiet", "--no-use-colors", "--project-dir", str(project_dir),
               "--profiles-dir", str(project_dir), "--target-path", str(work / "target"),
               "--log-path", str(work / "logs"), "--select", "resource_type:model"]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not manifest.exists():
            raise RuntimeError(f"dbt compile failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        stamp.write_text(fingerprint)
    return json.loads(manifest.read_text())


def warehouse_schema(warehouse: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{schema: {table: {column: type}}} of the warehouse (read-only)."""
    with storage.warehouse(warehouse, read_only=True) as con:
        rows = con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall()
    out: dict = {}
    for schema, table, column, dtype in rows:
        out.setdefault(schema, {}).setdefault(table, {})[column] = dtype
    return out


def _strip_catalog(node):
    if isinstance(node, exp.Table):
        node.set("catalog", None)
    return node


def _bare(name: str) -> str:
    """The column of a lineage node's name (`alias."column"` -> column)."""
    return name.split(".")[-1].strip('"')


def _relation(table: exp.Table) -> str:
    return f"{table.db}.{table.name}" if table.db else table.name


def _guards(top: exp.Expression, node) -> list[Guard]:
    """CASE WHEN <conditions> THEN value END (no ELSE): the conditions' columns whose
    definition tests governance.agreement_restrictions."""
    value = top.this if isinstance(top, exp.Alias) else top
    if not isinstance(value, exp.Case) or value.args.get("default") is not None:
        return []
    flags = {c.name for cond in value.args.get("ifs", []) for c in cond.this.find_all(exp.Column)}
    found = []
    for n in node.walk():
        name = _bare(n.name)
        if name not in flags:
            continue
        tables = {t.name for t in n.expression.find_all(exp.Table)}
        if "agreement_restrictions" not in tables:
            continue
        literals = {}
        for eq in n.expression.find_all(exp.EQ):
            col, lit = eq.this, eq.expression
            if isinstance(col, exp.Column) and isinstance(lit, exp.Literal) and col.name in ("element", "audience"):
                literals[col.name] = lit.this
        found.append(Guard(name, literals.get("element", ""), literals.get("audience", "")))
    return sorted(set(found), key=lambda g: g.flag)


def build_column_lineage(manifest: dict, schema: dict, models: list[str] | None = None) -> ColumnLineage:
    """Edges for every column of every model (or of `models`, by name)."""
    infos: dict[str, ModelInfo] = {}
    edges: list[ColumnEdge] = []
    errors: list[str] = []
    by_id = {uid: n for uid, n in {**manifest["nodes"], **manifest["sources"]}.items()}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        relation = f"{node['schema']}.{node['name']}"
        deps = [f"{by_id[d]['schema']}.{by_id[d].get('name')}" for d in node["depends_on"]["nodes"] if d in by_id]
        layer = node["fqn"][1] if len(node["fqn"]) > 2 else "marts"
        infos[node["name"]] = ModelInfo(node["name"], relation, layer, sorted(deps))
        if models is not None and node["name"] not in models:
            continue
        sql = node.get("compiled_code")
        if not sql:
            errors.append(f"{node['name']}: no compiled SQL")
            continue
        try:
            tree = qualify(sqlglot.parse_one(sql, dialect="duckdb").transform(_strip_catalog), schema=schema,
                           dialect="duckdb", validate_qualify_columns=False)  # fmt: skip
            scope = build_scope(tree)
        except sqlglot.errors.SqlglotError as exc:
            errors.append(f"{node['name']}: {exc}")
            continue
        columns = list(schema.get(node["schema"], {}).get(node["name"], {})) or list(node["columns"])
        for column in columns:
            try:
                root = lineage(column, tree, schema=schema, dialect="duckdb", scope=scope)
            except (sqlglot.errors.SqlglotError, KeyError, ValueError) as exc:
                errors.append(f"{node['name']}.{column}: {exc}")
                continue
            top = root.expression
            inner = top.this if isinstance(top, exp.Alias) else top
            transform = "copy" if isinstance(inner, exp.Column) else "expression"
            guards = _guards(top, root)
            for leaf in root.walk():
                if leaf.downstream or not isinstance(leaf.source, exp.Table):
                    continue
                source = f"{_relation(leaf.source)}.{_bare(leaf.name)}"
                edges.append(ColumnEdge(source, f"{relation}.{column}", transform, guards))
    unique = {(e.source, e.target): e for e in edges}
    return ColumnLineage(infos, list(unique.values()), errors)


def models_downstream_of(manifest: dict, relations: list[str]) -> list[str]:
    """Names of the models that read (directly or not) any of `relations`."""
    by_id = {uid: n for uid, n in {**manifest["nodes"], **manifest["sources"]}.items()}
    reached = set(relations)
    names: list[str] = []
    changed = True
    while changed:
        changed = False
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model" or node["name"] in names:
                continue
            deps = {f"{by_id[d]['schema']}.{by_id[d].get('name')}" for d in node["depends_on"]["nodes"] if d in by_id}
            if deps & reached:
                names.append(node["name"])
                reached.add(f"{node['schema']}.{node['name']}")
                changed = True
    return names


def column_lineage(
    warehouse: Path | None = None, work: Path | None = None, *, only_downstream_of: list[str] | None = None
) -> ColumnLineage:
    """Compile (cached), read the warehouse catalog, and build the edges; cached as JSON
    in `work` while the project and the catalog are unchanged."""
    warehouse = warehouse or paths.warehouse_path()
    work = work or (paths.sleds_home() / "tmp" / "lineage")
    manifest = compiled_manifest(work)
    schema = warehouse_schema(warehouse)
    models = models_downstream_of(manifest, only_downstream_of) if only_downstream_of else None
    key = sha256_bytes(json.dumps([(work / "fingerprint").read_text(), schema, models], sort_keys=True).encode())
    cache = work / f"column_lineage-{key[:16]}.json"
    if cache.exists():
        return ColumnLineage.from_dict(json.loads(cache.read_text()))
    result = build_column_lineage(manifest, schema, models)
    cache.write_text(json.dumps(result.as_dict()))
    return result


@dataclass
class Reach:
    column: str  # schema.table.column reached
    path: list[str]  # from the feed column to here
    guards: list[Guard]  # guards met on the way (any edge of the path)


def trace(lin: ColumnLineage, start: list[str]) -> list[Reach]:
    """Every column reached from the `start` columns (schema.table.column), with one path
    (breadth first: the shortest) and the guards on it."""
    down = lin.downstream()
    seen: dict[str, Reach] = {}
    queue = deque(Reach(s, [s], []) for s in start)
    while queue:
        r = queue.popleft()
        for e in down.get(r.column, []):
            if e.target in seen or e.target in start:
                continue
            nxt = Reach(e.target, [*r.path, e.target], [*r.guards, *e.guards])
            seen[e.target] = nxt
            queue.append(nxt)
    return sorted(seen.values(), key=lambda r: r.column)


def element_trace(lin: ColumnLineage, element: str) -> list[Reach]:
    columns = policy.restricted_columns()[element]
    return trace(lin, [f"{src}.{c}" for src in policy.restricted_sources()[element] for c in columns])


def restricted_values_in_release(release_db: Path, warehouse: Path, audience: str = "sleds") -> dict[str, int]:
    """Data check: per release table.column, the non-null values of a restricted element
    in an academic year the registry restricts for `audience` (must all be 0)."""
    with storage.release_reader(release_db, warehouse=warehouse) as con:
        out: dict[str, int] = {}
        listed = "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'rel' ORDER BY 1"
        tables = [r[0] for r in con.execute(listed).fetchall()]
        for table in tables:
            cols = {r[0] for r in con.execute(f"DESCRIBE rel.main.{table}").fetchall()}
            if not {"agreement_id", "academic_year"} <= cols:
                continue
            for element, columns in policy.restricted_columns().items():
                for column in sorted(cols & set(columns)):
                    n = con.execute(
                        f"SELECT count(*) FROM rel.main.{table} t JOIN wh.governance.agreement_restrictions r "
                        "ON r.agreement_id = t.agreement_id AND r.element = ? AND r.audience = ? "
                        f"AND t.academic_year BETWEEN r.academic_year_from AND r.academic_year_to "
                        f"WHERE t.{column} IS NOT NULL",
                        [element, audience],
                    ).fetchall()[0][0]
                    out[f"{table}.{column}"] = int(n)
    return out


# ---------------------------------------------------------------- layout (the report's picture)

# The stages data flows through, in order, each with the warehouse schemas it is made of. The
# first stage holds everything the dbt models start from: the feeds (raw), what the identity
# stage writes, the seeds (reference) and the agreement registry (governance).
DISPLAY_LAYERS = [
    ("raw", ("raw", "identity", "derived", "governance", "reference")),
    ("staging", ("staging",)),
    ("intermediate", ("intermediate",)),
    ("marts", ("marts",)),
    ("release", ("release_sleds", "release_institution")),
    ("publish", ("publish",)),
]


def display_layers(relations) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """[(layer, [(schema, sorted relations)])] in the order of DISPLAY_LAYERS. Every layer is
    listed even when empty (the picture always shows the whole flow); a schema no layer
    names is put in a last `other` column rather than dropped."""
    by_schema: dict[str, list[str]] = {}
    for r in relations:
        by_schema.setdefault(r.split(".")[0], []).append(r)
    out = []
    for layer, schemas in DISPLAY_LAYERS:
        out.append((layer, [(s, sorted(by_schema.pop(s))) for s in schemas if s in by_schema]))
    if by_schema:
        out.append(("other", [(s, sorted(nodes)) for s, nodes in sorted(by_schema.items())]))
    return out
