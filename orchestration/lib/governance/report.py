"""The governance report (`sleds audit`): one static HTML file a committee member opens
in any browser, offline (inline CSS and SVG, no server, no CDN). Sections:

agreements - the registry, each agreement's status and expiry;
releases - every release and publication, who it went to, under which clauses;
suppression - cells suppressed per public table and by reason, and the audit result;
restricted - gender identity and cumulative debt traced from feed to every place they
  reach (column lineage), the guard at the SLEDS release and the data check;
lineage - the table-level data flow (dbt models and sources);
quality - rows read, loaded and quarantined per feed, top quarantine rules;
linkage - identity resolution accuracy (reports/linkage_accuracy.json);
purges - destruction purges done (governance.purge_log);
disclosures - the disclosure log: chain verification and the per-institution record;
activity - the latest entries of the activity log.

Reads the warehouse read-only and release manifests; never the vault. Python gathers
each section's data (plain dicts and lists, `gather`); the HTML is in Jinja2 templates
(templates/report.html.j2, one partial per section under templates/sections/), rendered
with autoescaping, so every value from the warehouse or a manifest is escaped."""

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb

from orchestration.lib import paths, storage
from orchestration.lib.governance.activity_log import read_activity
from orchestration.lib.governance.disclosure_log import (
    disclosures_by_institution,
    manifest_sha256,
    read_disclosures,
    verify_chain,
)
from orchestration.lib.governance.publications import record_for
from orchestration.lib.governance.svg import layered_graph, stacked_bars
from orchestration.lib.releases.content import describe_changes
from orchestration.lib.templating import html_environment

SECTIONS = [
    ("agreements", "Agreement registry"),
    ("releases", "Releases and who received them"),
    ("suppression", "Suppression of the public tables"),
    ("restricted", "Restricted-element trace"),
    ("lineage", "Lineage: from feed to release"),
    ("quality", "Data quality per feed"),
    ("linkage", "Linkage quality"),
    ("purges", "Purges"),
    ("disclosures", "Disclosure log"),
    ("activity", "Activity log"),
]
LAYERS = [
    "raw",
    "identity",
    "derived",
    "governance",
    "reference",
    "staging",
    "intermediate",
    "marts",
    "release_sleds",
    "release_institution",
]


@dataclass
class Report:
    path: Path
    sections: list[str]
    chain_ok: bool
    problems: list[str] = field(default_factory=list)


def _status(ok: bool, yes: str, no: str) -> dict:
    """A verdict cell or sentence: the template colours it (ok green, bad red)."""
    return {"status": "ok" if ok else "bad", "text": yes if ok else no}


def _connect(warehouse: Path):
    if not warehouse.exists():
        return None
    try:
        return storage.warehouse(warehouse, read_only=True)
    except duckdb.Error:
        return None


def _rows(con, sql: str) -> list[tuple]:
    if con is None:
        return []
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error:
        return []


# ---------------------------------------------------------------- sections
# Each returns the plain data its template (templates/sections/<id>.html.j2) shows.
# Table cells are plain values (numbers are formatted by the template) or a status
# dict {"status": ok|bad|warn|muted, "text": ...} the template colours.


def _agreements(con, as_of: dt.date) -> dict:
    rows = _rows(
        con,
        "SELECT agreement_id, institution_code, executed_on, expires_on, status, "
        "permit_institution_identification, permit_gender_identity_institution_level, "
        "honour_ferpa_block, destruction_date, cancelled_on, status_as_of FROM governance.agreements "
        "ORDER BY institution_code",
    )
    if not rows:
        return {"missing": True}
    counts: dict[str, int] = {}
    out_rows = []
    for r in rows:
        counts[r[4]] = counts.get(r[4], 0) + 1
        days = (r[3] - as_of).days if r[3] else None
        expiry = f"{r[3]} ({days} days)" if days is not None and 0 <= days <= 180 else str(r[3])
        status = {"status": "ok" if r[4] == "active" else "bad", "text": r[4]}
        flags = lambda v: "yes" if v else "no"  # noqa: E731
        out_rows.append(
            [r[0], r[1], str(r[2]), expiry, status, flags(r[5]), flags(r[6]), flags(r[7]), r[8] or "", r[9] or ""]
        )
    soon = sum(1 for r in rows if r[3] and 0 <= (r[3] - as_of).days <= 180)
    restrictions = _rows(
        con,
        "SELECT element, audience, academic_year_from, academic_year_to, clause, count(*) "
        "FROM governance.agreement_restrictions GROUP BY ALL ORDER BY ALL",
    )
    return {
        "missing": False,
        "count": len(rows),
        "status_as_of": rows[0][10],
        "summary": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        "expiring_soon": soon,
        "rows": out_rows,
        "restrictions": [list(r) for r in restrictions],
    }


def _manifests(releases: Path) -> list[dict]:
    found = []
    for path in [
        releases / "sleds" / "manifest.json",
        releases / "public" / "manifest.json",
        *sorted((releases / "institutions").glob("*/manifest.json")),
    ]:
        if path.exists():
            try:
                found.append(json.loads(path.read_text()))
            except json.JSONDecodeError:
                found.append({"release": str(path), "audience": "unreadable manifest"})
    return found


def _releases(releases: Path, disclosures: list[dict]) -> dict:
    manifests = _manifests(releases)
    by_hash: dict[str, list[dict]] = {}
    for d in disclosures:
        by_hash.setdefault(d.get("manifest_sha256", ""), []).append(d)
    rows = []
    for m in manifests:
        given = by_hash.get(manifest_sha256(m), [])
        to = "; ".join(f"{d['recipient']} (#{d['seq']}, {str(d['at'])[:10]})" for d in given) or {
            "status": "warn",
            "text": "not in the disclosure log",
        }
        tables = m.get("tables", {})
        rows.append(
            [
                m.get("release", ""),
                m.get("audience", ""),
                len(tables),
                sum(v for v in tables.values() if isinstance(v, int)),
                ", ".join(m.get("clauses", [])),
                len(m.get("agreements", [])),
                str(m.get("created_at", ""))[:19],
                to,
            ]
        )
    logged = [
        [
            d["seq"],
            str(d["at"])[:19],
            d.get("user", ""),
            d["kind"],
            d["recipient"],
            d["release"],
            ", ".join(d.get("clauses", [])),
            len(d.get("institutions", [])),
            len(d.get("files", {})),
            describe_changes(d.get("changes")),
        ]
        for d in disclosures
    ]
    return {
        "folder": str(releases),
        "release_count": len(manifests),
        "disclosure_count": len(disclosures),
        "rows": rows,
        "logged": logged,
    }


def _suppression(releases: Path) -> dict:
    folder = releases / "public"
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return {"published": False}
    manifest = json.loads(manifest_path.read_text())
    status_counts: dict[str, dict[str, int]] = {}
    for file in sorted((folder / "tables").glob("*.parquet")):
        import pyarrow.parquet as pq

        try:
            column = pq.read_table(file, columns=["status"]).column("status").to_pylist()
        except (KeyError, ValueError, OSError):
            continue
        counts: dict[str, int] = {}
        for s in column:
            counts[s or "other"] = counts.get(s or "other", 0) + 1
        status_counts[file.stem] = counts
    record = record_for(folder, manifest)  # reasons and audit live in the governance area, not the public folder
    by_reason = record.get("suppression", {}) or {}
    rows = []
    for table in sorted(set(status_counts) | set(by_reason)):
        c = status_counts.get(table, {})
        total = sum(c.values())
        reasons = by_reason.get(table, {})
        rows.append(
            [
                table,
                total,
                c.get("published", 0),
                c.get("recoded", 0),
                c.get("suppressed", 0),
                f"{100 * c.get('suppressed', 0) / total:.1f}%" if total else "",
                "; ".join(f"{k}: {v:,}" for k, v in sorted(reasons.items())),
            ]
        )
    audit = record.get("audit", {}) or {}
    disclosed = audit.get("disclosed")
    verdict = _status(
        disclosed == 0,
        f"audit passed: {audit.get('cells_checked', '?'):,} suppressed cells checked, none can be recovered"
        if isinstance(audit.get("cells_checked"), int)
        else "audit passed: no cell can be recovered",
        f"AUDIT FAILED: {disclosed} cells disclosed",
    )
    chart = stacked_bars(
        [(t, status_counts[t]) for t in sorted(status_counts)],
        ["published", "recoded", "suppressed"],
        "Share of cells per public table (right: % suppressed)",
    )
    extra = {k: v for k, v in audit.items() if k not in ("cells_checked", "disclosed")}
    return {
        "published": True,
        "policy_version": str(manifest.get("policy_version", "?")),
        "verdict": verdict,
        "audit_detail": json.dumps(extra, default=str) if extra else "",
        "chart": chart,
        "rows": rows,
    }


def _restricted(home: Path, warehouse: Path, lineage_result) -> tuple[dict, dict]:
    """(restricted section, lineage section)."""
    from orchestration.lib.governance import lineage as L

    if isinstance(lineage_result, Exception) or lineage_result is None:
        why = str(lineage_result)[:600] if lineage_result is not None else "lineage not computed"
        return {"unavailable": why}, {"unavailable": why}
    lin = lineage_result
    release_db = home / "releases" / "sleds" / "sleds_release.duckdb"
    data = {}
    data_error = ""
    if release_db.exists() and warehouse.exists():
        try:
            data = L.restricted_values_in_release(release_db, warehouse)
        except duckdb.Error as exc:
            data_error = str(exc)[:300]
    hot: set[str] = set()
    guarded_edges: set[tuple[str, str]] = set()
    elements = []
    for element in L.RESTRICTED_ELEMENTS:
        order = {
            layer: i
            for i, layer in enumerate(
                ["raw", "staging", "intermediate", "marts", "release_institution", "release_sleds"]
            )
        }
        reached = sorted(L.element_trace(lin, element), key=lambda r: (order.get(r.column.split(".")[0], 9), r.column))
        rows = []
        for r in reached:
            relation = r.column.rsplit(".", 1)[0]
            hot.add(relation)
            for step in r.path:
                hot.add(step.rsplit(".", 1)[0])
            if r.guards:
                guarded_edges.add((r.path[-2].rsplit(".", 1)[0], relation))
            schema = relation.split(".")[0]
            if schema == "release_sleds":
                key = r.column.split(".", 1)[1]
                n = data.get(key)
                guard = "; ".join(f"{g.flag} (element {g.element}, audience {g.audience})" for g in r.guards)
                verdict = _status(
                    bool(r.guards) and n == 0,
                    f"guarded: {guard}; restricted-year values in the release file: {n}",
                    f"NOT GUARDED or values present ({n})",
                )
            elif schema == "release_institution":
                verdict = {"status": "muted", "text": "institution mart: the institution's own records"}
            else:
                verdict = {"status": "muted", "text": "internal"}
            rows.append([schema, r.column.split(".", 1)[1], " → ".join(r.path), verdict])
        in_release = [r for r in reached if r.column.startswith("release_sleds.")]
        ok = all(r.guards for r in in_release) and all(data.get(r.column.split(".", 1)[1], 1) == 0 for r in in_release)
        elements.append(
            {
                "element": element,
                "reached": len(reached),
                "in_release": len(in_release),
                "verdict": _status(
                    ok,
                    "stops before the SLEDS release for every restricted year (structure and data agree)",
                    "the SLEDS release is NOT shown to be protected",
                ),
                "rows": rows,
            }
        )
    # the table-level graph
    relations = {m.relation for m in lin.models.values()} | {d for m in lin.models.values() for d in m.depends_on}
    layers = []
    for layer in LAYERS:
        nodes = sorted(r for r in relations if r.split(".")[0] == layer)
        if nodes:
            layers.append((layer, nodes))
    # sorted: a model's dependencies may come as a set, and the picture (edge drawing
    # order) should not change from one run to the next
    edges = sorted((d, m.relation) for m in lin.models.values() for d in m.depends_on)
    graph = layered_graph(
        layers,
        edges,
        highlight=hot,
        guarded=guarded_edges,
        title="Tables and models; red: carries gender identity or cumulative debt; "
        "green mark: guarded by the agreement registry",
    )
    restricted = {
        "unavailable": "",
        "data_error": data_error,
        "elements": elements,
        "gaps": "; ".join(lin.errors[:10]) if lin.errors else "",
    }
    return restricted, {"unavailable": "", "graph": graph}


def _quality(con, home: Path) -> dict:
    feeds = _rows(
        con,
        "SELECT feed, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), "
        "max(loaded_at) FROM ingest.partition_loads GROUP BY feed ORDER BY feed",
    )
    if not feeds:
        return {"missing": True}
    rows = [[f, p, r, lo, q, f"{100 * q / r:.2f}%" if r else "", str(at)[:19]] for f, p, r, lo, q, at in feeds]
    bars = stacked_bars(
        [(f, {"published": lo, "suppressed": q}) for f, _, _, lo, q, _ in feeds],
        ["published", "suppressed"],
        "Rows loaded (green) and quarantined (red) per feed",
        legend={"published": "loaded", "suppressed": "quarantined"},
    )
    rules = _rows(
        con,
        "SELECT feed, rule, n FROM (SELECT feed, rule, count(DISTINCT record_token) AS n, row_number() OVER "
        "(PARTITION BY feed ORDER BY count(DISTINCT record_token) DESC, rule) AS rk FROM ingest.quarantine_reasons "
        "GROUP BY feed, rule) WHERE rk <= 5 ORDER BY feed, n DESC",
    )
    validation = paths.validation_dir() if home is None else home / "validation"
    files = sum(1 for _ in validation.rglob("*.json")) if validation.exists() else 0
    return {
        "missing": False,
        "rows": rows,
        "chart": bars,
        "rules": [list(r) for r in rules],
        "validation_files": files,
        "validation_dir": str(validation),
    }


def _linkage(home: Path) -> dict:
    path = home / "reports" / "linkage_accuracy.json"
    if not path.exists():
        return {"missing": True}
    data = json.loads(path.read_text())
    run = data.get("run", {})
    counts = run.get("counts", {})
    acc = data.get("accuracy") or {}
    keys = [
        "records",
        "persons",
        "marss_links",
        "ssn_links",
        "splink_links_accepted",
        "review_queue",
        "links_refused_two_k12_students",
        "new_ids",
        "merged_ids",
        "split_ids",
        "retired_ids",
    ]
    pairs = acc.get("record_pairs") or {}
    pair_rows = [
        [k, f"{v.get('precision', 0):.4f}", f"{v.get('recall', 0):.4f}", v.get("true_pairs"), v.get("predicted_pairs")]
        for k, v in pairs.items()
    ]
    sub_rows = []
    for family, groups in (acc.get("record_pairs_by_subgroup") or {}).items():
        for group, v in groups.items():
            allp = v.get("all", {})
            sub_rows.append(
                [family, group, v.get("persons"), f"{allp.get('precision', 0):.4f}", f"{allp.get('recall', 0):.4f}"]
            )
    return {
        "missing": False,
        "run_id": str(run.get("run_id", "")),
        "mode": str(run.get("mode", "")),
        "counts": [[k, counts[k]] for k in keys if k in counts],
        "pairs": pair_rows,
        "subgroups": sub_rows,
    }


def _purges(con) -> dict:
    rows = _rows(
        con,
        "SELECT institution_code, agreement_id, destruction_date, min(purged_at), sum(rows_deleted), "
        "string_agg(table_name || ': ' || rows_deleted, '; ' ORDER BY table_name) "
        "FROM governance.purge_log GROUP BY ALL ORDER BY 4",
    )
    return {"rows": [[r[0], r[1], str(r[2]), str(r[3])[:19], r[4], r[5]] for r in rows]}


def _disclosures(home: Path, result) -> dict:
    record = disclosures_by_institution(home)
    verdict = _status(
        result.ok,
        f"chain intact: {result.entries} entries",
        f"LOGS DO NOT VERIFY{f' at disclosure entry {result.first_bad}' if result.first_bad else ''}: {result.problem}",
    )
    rows = []
    for code, entries in record.items():
        last = entries[-1]
        rows.append(
            [
                code,
                len(entries),
                last["date"],
                "; ".join(sorted({e["recipient"] for e in entries})),
                ", ".join(sorted({c for e in entries for c in e.get("clauses", [])})),
            ]
        )
    return {"verdict": verdict, "head_hash": result.head_hash, "rows": rows}


def _activity(home: Path) -> dict:
    entries = read_activity(home)
    latest = entries[-60:][::-1]
    by_action: dict[str, int] = {}
    for e in entries:
        by_action[e.get("action", "?")] = by_action.get(e.get("action", "?"), 0) + 1
    return {
        "total": len(entries),
        "by_action": ", ".join(f"{n} {a}" for a, n in sorted(by_action.items())),
        "rows": [
            [
                str(e.get("at", ""))[:19],
                e.get("user", ""),
                e.get("action", ""),
                json.dumps(e.get("detail", {}), default=str)[:300],
            ]
            for e in latest
        ],
    }


# ---------------------------------------------------------------- assembly


def _cell(value) -> str:
    """How a plain table cell reads: integers with thousands separators, None blank."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@cache
def _environment():
    env = html_environment("orchestration.lib.governance")
    env.filters["cell"] = _cell
    return env


def gather(home: Path, *, lineage_result=None) -> dict:
    """Everything the report shows, as plain data (section id -> its data); no HTML
    except the inline SVG pictures, which svg.py escapes and returns as Markup."""
    warehouse = home / "warehouse.duckdb"
    releases = home / "releases"
    chain = verify_chain(home)
    disclosures = read_disclosures(home)
    con = _connect(warehouse)
    try:
        from orchestration.lib.agreements.registry import as_of_date

        as_of = as_of_date()
        restricted, lineage_data = _restricted(home, warehouse, lineage_result)
        bodies = {
            "agreements": _agreements(con, as_of),
            "releases": _releases(releases, disclosures),
            "suppression": _suppression(releases),
            "restricted": restricted,
            "lineage": lineage_data,
            "quality": _quality(con, home),
            "linkage": _linkage(home),
            "purges": _purges(con),
            "disclosures": _disclosures(home, chain),
            "activity": _activity(home),
        }
    finally:
        if con is not None:
            con.close()
    return {
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "home": str(home),
        "as_of": as_of,
        "warehouse_opened": con is not None,
        "sections": [{"id": sid, "title": title, "data": bodies[sid]} for sid, title in SECTIONS],
        "chain_ok": chain.ok,
    }


def render(home: Path, *, lineage_result=None) -> tuple[str, bool]:
    report = gather(home, lineage_result=lineage_result)
    return _environment().get_template("report.html.j2").render(report), report["chain_ok"]


def write_report(
    out: Path | None = None,
    home: Path | None = None,
    *,
    with_lineage: bool = True,
    lineage_result=None,
    progress=lambda message: None,
) -> Report:
    """Write the report (default SLEDS_HOME/reports/governance.html); the column lineage of
    the postsecondary feeds is computed (cached under SLEDS_HOME/tmp/lineage) unless given
    or with_lineage is False."""
    home = Path(home) if home is not None else paths.sleds_home()
    out = out or home / "reports" / "governance.html"
    if lineage_result is None and with_lineage and (home / "warehouse.duckdb").exists():
        from orchestration.lib.governance import lineage as L

        progress("tracing column lineage (dbt compile on a copy of the warehouse; cached after the first time)")
        try:
            lineage_result = L.column_lineage(
                home / "warehouse.duckdb", home / "tmp" / "lineage", only_downstream_of=L.TRACED_SOURCES
            )
        except (RuntimeError, OSError, duckdb.Error) as exc:
            lineage_result = exc
    progress(f"verifying the disclosure log and rendering {len(SECTIONS)} sections")
    html, chain_ok = render(home, lineage_result=lineage_result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return Report(out, [sid for sid, _ in SECTIONS], chain_ok)
