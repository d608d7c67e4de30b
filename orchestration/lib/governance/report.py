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

Reads the warehouse read-only and release manifests; never the vault."""

import datetime as dt
import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import duckdb

from orchestration.lib import paths
from orchestration.lib.governance.activity_log import read_activity
from orchestration.lib.governance.disclosure_log import (
    disclosures_by_institution,
    manifest_sha256,
    read_disclosures,
    verify_chain,
)
from orchestration.lib.governance.publications import record_for
from orchestration.lib.governance.svg import layered_graph, stacked_bars

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

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;background:#f5f6f8}
header{background:#1f3b57;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85;font-size:13px}nav{padding:8px 32px;background:#e8ecf1;font-size:13px}
nav a{margin-right:14px;color:#1f3b57}main{padding:8px 32px 40px;max-width:1250px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:6px 20px 16px;margin:18px 0}
h2{font-size:18px;border-bottom:1px solid #e3e7ec;padding-bottom:6px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{border:1px solid #dde2e8;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7a44;font-weight:600}.bad{color:#b3261e;font-weight:600}.warn{color:#9a6400;font-weight:600}
.muted{color:#6b7785}.scroll{max-height:420px;overflow:auto}code{font-size:12px}
.svg-title{font-size:13px;font-weight:600;fill:#1d2733}.svg-label{font-size:11px;fill:#333}
.svg-layer{font-size:12px;font-weight:600;fill:#1f3b57}.graph .node rect{fill:#eef2f6;stroke:#8da2b8}
.graph .node text{font-size:10.5px;fill:#1d2733}.graph .node.hot rect{fill:#fbe3e0;stroke:#c4473a}
.graph .edge{fill:none;stroke:#b5c2cf;stroke-width:1}.graph .edge.hot{stroke:#c4473a;stroke-width:1.8}
.graph .guard rect{fill:#1e7a44}.figure{overflow-x:auto;margin:8px 0}
"""

# after layout, each section and picture records its rendered size (read back by the test)
SCRIPT = """
document.querySelectorAll('section').forEach(function(s){s.dataset.renderedHeight=Math.round(s.getBoundingClientRect().height)});
document.querySelectorAll('svg').forEach(function(s){s.dataset.renderedWidth=Math.round(s.getBoundingClientRect().width)});
document.body.dataset.rendered='yes';
"""  # noqa: E501


@dataclass
class Report:
    path: Path
    sections: list[str]
    chain_ok: bool
    problems: list[str] = field(default_factory=list)


def _table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), cls: str = "") -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = (
                v
                if isinstance(v, Markup)
                else escape("" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
            )
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="{cls}"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


class Markup(str):
    """HTML already escaped."""


def _status(ok: bool, yes: str, no: str) -> Markup:
    return Markup(f'<span class="ok">{escape(yes)}</span>' if ok else f'<span class="bad">{escape(no)}</span>')


def _connect(warehouse: Path):
    if not warehouse.exists():
        return None
    try:
        return duckdb.connect(str(warehouse), read_only=True)
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


def _agreements(con, as_of: dt.date) -> str:
    rows = _rows(
        con,
        "SELECT agreement_id, institution_code, executed_on, expires_on, status, "
        "permit_institution_identification, permit_gender_identity_institution_level, "
        "honour_ferpa_block, destruction_date, cancelled_on, status_as_of FROM governance.agreements "
        "ORDER BY institution_code",
    )
    if not rows:
        return '<p class="bad">No agreement registry in the warehouse: run <code>sleds build</code>.</p>'
    counts: dict[str, int] = {}
    out_rows = []
    for r in rows:
        counts[r[4]] = counts.get(r[4], 0) + 1
        days = (r[3] - as_of).days if r[3] else None
        expiry = f"{r[3]} ({days} days)" if days is not None and 0 <= days <= 180 else str(r[3])
        status = Markup(f'<span class="{"ok" if r[4] == "active" else "bad"}">{escape(r[4])}</span>')
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
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (
        f"<p>{len(rows)} agreements, status as of {rows[0][10]}: <b>{escape(summary)}</b>; "
        f"{soon} expire within 180 days.</p>"
        + _table(
            [
                "agreement",
                "institution",
                "executed",
                "expires",
                "status",
                "may be named (9(c)(i))",
                "gender identity at institution level (9(c)(v))",
                "FERPA blocks honoured (15)",
                "destruction date",
                "cancelled",
            ],
            out_rows,
            cls="scroll",
        )
        + "<h3>Elements withheld (agreement_restrictions, clause 9(c)(vi))</h3>"
        + _table(
            ["element", "audience", "from", "to", "clause", "agreements"], [list(r) for r in restrictions], numeric={5}
        )
    )


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


def _releases(releases: Path, disclosures: list[dict]) -> str:
    manifests = _manifests(releases)
    by_hash: dict[str, list[dict]] = {}
    for d in disclosures:
        by_hash.setdefault(d.get("manifest_sha256", ""), []).append(d)
    rows = []
    for m in manifests:
        given = by_hash.get(manifest_sha256(m), [])
        to = "; ".join(f"{d['recipient']} (#{d['seq']}, {str(d['at'])[:10]})" for d in given) or Markup(
            '<span class="warn">not in the disclosure log</span>'
        )
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
        ]
        for d in disclosures
    ]
    return (
        f"<p>{len(manifests)} releases in <code>{escape(str(releases))}</code>; {len(disclosures)} disclosures "
        "logged (releases, publications and project extracts).</p>"
        + _table(
            [
                "release",
                "audience",
                "tables",
                "rows",
                "clauses relied on",
                "agreements",
                "created",
                "went to (disclosure log)",
            ],
            rows,
            numeric={2, 3, 5},
            cls="scroll",
        )
        + "<h3>Every disclosure, in order</h3>"
        + _table(
            ["#", "at (UTC)", "by", "kind", "recipient", "release", "clauses", "institutions", "files"],
            logged,
            numeric={0, 7, 8},
            cls="scroll",
        )
    )


def _suppression(releases: Path) -> str:
    folder = releases / "public"
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return '<p class="muted">No public summary tables have been published yet (releases/public).</p>'
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
    return (
        f"<p>Policy version {escape(str(manifest.get('policy_version', '?')))}; {verdict}.</p>"
        + (f'<p class="muted">audit detail: {escape(json.dumps(extra, default=str))}</p>' if extra else "")
        + f'<div class="figure">{chart}</div>'
        + _table(
            ["table", "cells", "published", "recoded", "suppressed", "suppressed share", "suppressed by reason"],
            rows,
            numeric={1, 2, 3, 4, 5},
            cls="scroll",
        )
    )


def _restricted(home: Path, warehouse: Path, lineage_result) -> tuple[str, str]:
    """(restricted section, lineage section)."""
    from orchestration.lib.governance import lineage as L

    if isinstance(lineage_result, Exception) or lineage_result is None:
        why = escape(str(lineage_result)[:600]) if lineage_result is not None else "lineage not computed"
        msg = f'<p class="warn">Column lineage unavailable: {why}</p>'
        return msg, msg
    lin = lineage_result
    parts = [
        "<p>Traced from the compiled SQL of every dbt model (column-level value flow). A column is "
        "<b>guarded</b> where its value passes only when the agreement registry does not restrict the element "
        "for that audience and academic year (<code>agreement_restrictions</code>).</p>"
    ]
    release_db = home / "releases" / "sleds" / "sleds_release.duckdb"
    data = {}
    if release_db.exists() and warehouse.exists():
        try:
            data = L.restricted_values_in_release(release_db, warehouse)
        except duckdb.Error as exc:
            parts.append(f'<p class="warn">data check unavailable: {escape(str(exc)[:300])}</p>')
    hot: set[str] = set()
    guarded_edges: set[tuple[str, str]] = set()
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
                verdict = Markup('<span class="muted">institution mart: the institution\'s own records</span>')
            else:
                verdict = Markup('<span class="muted">internal</span>')
            rows.append([schema, r.column.split(".", 1)[1], " → ".join(r.path), verdict])
        in_release = [r for r in reached if r.column.startswith("release_sleds.")]
        ok = all(r.guards for r in in_release) and all(data.get(r.column.split(".", 1)[1], 1) == 0 for r in in_release)
        parts.append(
            f"<h3><code>{escape(element)}</code>: {len(reached)} columns reached, "
            f"{len(in_release)} in the SLEDS release</h3>"
        )
        parts.append(
            "<p>"
            + _status(
                ok,
                "stops before the SLEDS release for every restricted year (structure and data agree)",
                "the SLEDS release is NOT shown to be protected",
            )
            + "</p>"
        )
        parts.append(_table(["where", "column", "path from the feed", "at the SLEDS release"], rows, cls="scroll"))
    if lin.errors:
        parts.append(f'<p class="warn">lineage gaps: {escape("; ".join(lin.errors[:10]))}</p>')
    # the table-level graph
    relations = {m.relation for m in lin.models.values()} | {d for m in lin.models.values() for d in m.depends_on}
    layers = []
    for layer in LAYERS:
        nodes = sorted(r for r in relations if r.split(".")[0] == layer)
        if nodes:
            layers.append((layer, nodes))
    edges = [(d, m.relation) for m in lin.models.values() for d in m.depends_on]
    graph = layered_graph(
        layers,
        edges,
        highlight=hot,
        guarded=guarded_edges,
        title="Tables and models; red: carries gender identity or cumulative debt; "
        "green mark: guarded by the agreement registry",
    )
    lineage_html = (
        "<p>Every dbt source and model, left to right in the order data flows (feeds are loaded into <code>raw"
        "</code> by ingest; the identity stage writes <code>identity</code>; release tables are exported to "
        "their own files, public tables are made from the marts by the publish stage). The same graph, with "
        "owners, groups and clause tags, is in the Dagster UI (<code>make ui</code>).</p>"
        f'<div class="figure">{graph}</div>'
    )
    return "".join(parts), lineage_html


def _quality(con, home: Path) -> str:
    feeds = _rows(
        con,
        "SELECT feed, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), "
        "max(loaded_at) FROM ingest.partition_loads GROUP BY feed ORDER BY feed",
    )
    if not feeds:
        return '<p class="muted">No loads recorded (ingest.partition_loads).</p>'
    rows = [[f, p, r, lo, q, f"{100 * q / r:.2f}%" if r else "", str(at)[:19]] for f, p, r, lo, q, at in feeds]
    bars = stacked_bars(
        [(f, {"published": lo, "suppressed": q}) for f, _, _, lo, q, _ in feeds],
        ["published", "suppressed"],
        "Rows loaded (green) and quarantined (red) per feed",
    )
    bars = bars.replace(">published<", ">loaded<").replace(">suppressed<", ">quarantined<")
    rules = _rows(
        con,
        "SELECT feed, rule, n FROM (SELECT feed, rule, count(DISTINCT record_token) AS n, row_number() OVER "
        "(PARTITION BY feed ORDER BY count(DISTINCT record_token) DESC, rule) AS rk FROM ingest.quarantine_reasons "
        "GROUP BY feed, rule) WHERE rk <= 5 ORDER BY feed, n DESC",
    )
    validation = paths.validation_dir() if home is None else home / "validation"
    files = sum(1 for _ in validation.rglob("*.json")) if validation.exists() else 0
    return (
        _table(
            ["feed", "partitions", "rows read", "loaded", "quarantined", "quarantine rate", "last load (UTC)"],
            rows,
            numeric={1, 2, 3, 4, 5},
        )
        + f'<div class="figure">{bars}</div>'
        + "<h3>Most frequent quarantine rules (records)</h3>"
        + _table(["feed", "rule", "records"], [list(r) for r in rules], numeric={2})
        + f'<p class="muted">{files} validation result files in <code>{escape(str(validation))}</code> (counts per '
        "expectation, never values).</p>"
    )


def _linkage(home: Path) -> str:
    path = home / "reports" / "linkage_accuracy.json"
    if not path.exists():
        return '<p class="muted">No linkage report yet (reports/linkage_accuracy.json).</p>'
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
    out = f"<p>Run {escape(str(run.get('run_id', '')))} ({escape(str(run.get('mode', '')))}).</p>" + _table(
        ["measure", "value"], [[k, counts[k]] for k in keys if k in counts], numeric={1}
    )
    pairs = acc.get("record_pairs") or {}
    if pairs:
        out += "<h3>Accuracy against the synthetic ground truth (record pairs)</h3>" + _table(
            ["pairs", "precision", "recall", "true pairs", "predicted pairs"],
            [
                [
                    k,
                    f"{v.get('precision', 0):.4f}",
                    f"{v.get('recall', 0):.4f}",
                    v.get("true_pairs"),
                    v.get("predicted_pairs"),
                ]
                for k, v in pairs.items()
            ],
            numeric={1, 2, 3, 4},
        )
        sub_rows = []
        for family, groups in (acc.get("record_pairs_by_subgroup") or {}).items():
            for group, v in groups.items():
                allp = v.get("all", {})
                sub_rows.append(
                    [family, group, v.get("persons"), f"{allp.get('precision', 0):.4f}", f"{allp.get('recall', 0):.4f}"]
                )
        out += "<h3>By subgroup (all pairs)</h3>" + _table(
            ["family", "group", "persons", "precision", "recall"], sub_rows, numeric={2, 3, 4}, cls="scroll"
        )
    else:
        out += '<p class="muted">No ground truth was available for this run: accuracy not measured.</p>'
    return out


def _purges(con) -> str:
    rows = _rows(
        con,
        "SELECT institution_code, agreement_id, destruction_date, min(purged_at), sum(rows_deleted), "
        "string_agg(table_name || ': ' || rows_deleted, '; ' ORDER BY table_name) "
        "FROM governance.purge_log GROUP BY ALL ORDER BY 4",
    )
    if not rows:
        return "<p>No purges: no agreement has reached its destruction date.</p>"
    return _table(
        ["institution", "agreement", "destruction date", "purged at (UTC)", "rows deleted", "by table"],
        [[r[0], r[1], str(r[2]), str(r[3])[:19], r[4], r[5]] for r in rows],
        numeric={4},
    )


def _disclosures(home: Path, result) -> str:
    record = disclosures_by_institution(home)
    verdict = _status(
        result.ok,
        f"chain intact: {result.entries} entries",
        f"CHAIN BROKEN at entry {result.first_bad}: {result.problem}",
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
    return (
        f"<p>{verdict}. Head hash <code>{escape(result.head_hash)}</code> (note it down: a later report must "
        "show the same entries before it). Verify any time with <code>sleds audit --verify</code>.</p>"
        "<h3>Record of disclosures per institution (34 CFR 99.32 style)</h3>"
        + _table(
            ["institution", "disclosures", "last", "recipients", "clauses relied on"], rows, numeric={1}, cls="scroll"
        )
    )


def _activity(home: Path) -> str:
    entries = read_activity(home)
    latest = entries[-60:][::-1]
    by_action: dict[str, int] = {}
    for e in entries:
        by_action[e.get("action", "?")] = by_action.get(e.get("action", "?"), 0) + 1
    return (
        f"<p>{len(entries)} entries: "
        + escape(", ".join(f"{n} {a}" for a, n in sorted(by_action.items())))
        + ". Latest first:</p>"
        + _table(
            ["at (UTC)", "user", "action", "detail"],
            [
                [
                    str(e.get("at", ""))[:19],
                    e.get("user", ""),
                    e.get("action", ""),
                    json.dumps(e.get("detail", {}), default=str)[:300],
                ]
                for e in latest
            ],
            cls="scroll",
        )
    )


# ---------------------------------------------------------------- assembly


def render(home: Path, *, lineage_result=None) -> tuple[str, bool]:
    warehouse = home / "warehouse.duckdb"
    releases = home / "releases"
    chain = verify_chain(home)
    disclosures = read_disclosures(home)
    con = _connect(warehouse)
    try:
        from orchestration.lib.agreements.registry import as_of_date

        as_of = as_of_date()
        restricted, lineage_html = _restricted(home, warehouse, lineage_result)
        bodies = {
            "agreements": _agreements(con, as_of),
            "releases": _releases(releases, disclosures),
            "suppression": _suppression(releases),
            "restricted": restricted,
            "lineage": lineage_html,
            "quality": _quality(con, home),
            "linkage": _linkage(home),
            "purges": _purges(con),
            "disclosures": _disclosures(home, chain),
            "activity": _activity(home),
        }
    finally:
        if con is not None:
            con.close()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(
        f'<section id="{sid}" data-section="{sid}"><h2>{escape(title)}</h2>{bodies[sid]}</section>'
        for sid, title in SECTIONS
    )
    warehouse_note = "" if con is not None else '<p class="bad">The warehouse could not be opened.</p>'
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SLEDS governance report</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
        f"<header><h1>SLEDS governance report</h1><p>Generated {now} from <code>{escape(str(home))}</code>; "
        f"status as of {as_of}. A static file: no server, no network.</p></header><nav>{nav}</nav>"
        f"<main>{warehouse_note}{sections}</main><script>{SCRIPT}</script></body></html>"
    )
    return html, chain.ok


def write_report(
    out: Path | None = None, home: Path | None = None, *, with_lineage: bool = True, lineage_result=None
) -> Report:
    """Write the report (default SLEDS_HOME/reports/governance.html); the column lineage of
    the postsecondary feeds is computed (cached under SLEDS_HOME/tmp/lineage) unless given
    or with_lineage is False."""
    home = Path(home) if home is not None else paths.sleds_home()
    out = out or home / "reports" / "governance.html"
    if lineage_result is None and with_lineage and (home / "warehouse.duckdb").exists():
        from orchestration.lib.governance import lineage as L

        try:
            lineage_result = L.column_lineage(
                home / "warehouse.duckdb", home / "tmp" / "lineage", only_downstream_of=L.TRACED_SOURCES
            )
        except (RuntimeError, OSError, duckdb.Error) as exc:
            lineage_result = exc
    html, chain_ok = render(home, lineage_result=lineage_result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return Report(out, [sid for sid, _ in SECTIONS], chain_ok)
