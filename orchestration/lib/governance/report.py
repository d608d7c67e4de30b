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
with autoescaping, so every value from the warehouse or a manifest is escaped.

The page is made to be printed as well as read on screen: every table is whole (no scroll
boxes), pictures scale to the page, and the print stylesheet breaks pages between sections
and repeats table headers. `write_pdf` prints it to PDF with headless Chromium
(`sleds audit --pdf`)."""

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
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
from orchestration.lib.governance.svg import (
    expiry_timeline,
    hbars,
    layered_graph,
    months_between,
    stacked_bars,
    time_bars,
)
from orchestration.lib.ingest.retract import RETRACTED, RETRACTING
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
# an agreement expiring, or a destruction date falling, within this many days of the as-of
# day is flagged: time enough for the committee to renew it or to plan the purge
SOON_DAYS = 90
# the reason codes of the suppression engine and what each means, in one table a reader of
# the engine's diagnostics already uses; the report reads its labels from there
REASONS_DOC = paths.REPO_ROOT / "docs" / "suppression.md"


@dataclass
class Report:
    path: Path
    sections: list[str]
    chain_ok: bool
    problems: list[str] = field(default_factory=list)


class PdfUnavailable(RuntimeError):
    """The PDF could not be printed (no Chromium, or it failed); the HTML report stands."""


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


def _days_until(day: dt.date | None, as_of: dt.date) -> int | None:
    return (day - as_of).days if day else None


def due_badge(days: int | None, what: str) -> str | None:
    """'expires in 38 days' when `days` (from the as-of day) is within SOON_DAYS ahead, else None."""
    if days is None or not 0 <= days <= SOON_DAYS:
        return None
    return f"{what} today" if days == 0 else f"{what} in {days} day{'' if days == 1 else 's'}"


# statuses for which an approaching expiry no longer matters: the agreement has ended already
ENDED = ("expired", "cancelled", "destroyed")


def _agreement_row(r: tuple, as_of: dt.date) -> dict:
    """One registry row as a table row; an expiry or destruction date within SOON_DAYS gets
    a badge and the row a class the stylesheet highlights."""
    (agreement, institution, executed, expires, status, named, gender, ferpa, destruction, cancelled) = r[:10]
    expiring = due_badge(_days_until(expires, as_of), "expires") if status not in ENDED else None
    destroying = due_badge(_days_until(destruction, as_of), "destruction") if status != "destroyed" else None
    yes_no = {True: "yes", False: "no", None: ""}
    return {
        "key": agreement,
        "cls": " ".join(c for c, on in (("expiring", expiring), ("destruction-soon", destroying)) if on),
        "cells": [
            agreement,
            institution,
            str(executed),
            {"status": "warn", "text": str(expires), "badge": expiring} if expiring else str(expires or ""),
            {"status": "ok" if status == "active" else "bad", "text": status},
            yes_no[named],
            yes_no[gender],
            yes_no[ferpa],
            {"status": "warn", "text": str(destruction), "badge": destroying} if destroying else str(destruction or ""),
            str(cancelled or ""),
        ],
    }


def _expiry_chart(rows: list[tuple], as_of: dt.date):
    """Every agreement's expiry (and each destruction date) on a month axis, the SOON_DAYS
    after the as-of day shaded."""

    def category(day, ended: bool) -> str:
        days = _days_until(day, as_of)
        return "past" if ended or days < 0 else "soon" if days <= SOON_DAYS else "later"

    expiries = [(f"{r[0]} expires", r[3], category(r[3], r[4] in ENDED)) for r in rows if r[3]]
    destructions = [(f"{r[0]} destruction", r[8], category(r[8], r[4] == "destroyed")) for r in rows if r[8]]
    lanes = [("expiry", expiries)] + ([("destruction", destructions)] if destructions else [])
    legend = {"soon": f"within {SOON_DAYS} days", "later": "later", "past": "passed or ended"}
    return expiry_timeline(lanes, as_of=as_of, window_days=SOON_DAYS, legend=legend,
                           title=f"Agreement expiry and destruction dates by month (shaded: the {SOON_DAYS} days "
                           f"after {as_of})")  # fmt: skip


def _due_summary(expiring: int, destroying: int) -> str:
    """What the agreement table's summary line says is due (it stays visible when folded)."""
    parts = [f"{expiring} expire{'s' if expiring == 1 else ''} within {SOON_DAYS} days"] if expiring else []
    if destroying:
        parts.append(f"{destroying} destruction date{'' if destroying == 1 else 's'} within {SOON_DAYS} days")
    return ", ".join(parts) or f"none due within {SOON_DAYS} days"


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
    for r in rows:
        counts[r[4]] = counts.get(r[4], 0) + 1
    out_rows = [_agreement_row(r, as_of) for r in rows]
    expiring = [row["key"] for row in out_rows if "expiring" in row["cls"]]
    destroying = [row["key"] for row in out_rows if "destruction-soon" in row["cls"]]
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
        "soon_days": SOON_DAYS,
        "due": _due_summary(len(expiring), len(destroying)),
        "expiring": expiring,
        "destroying": destroying,
        "rows": out_rows,
        "chart": _expiry_chart(rows, as_of),
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


def entry_id(d: dict) -> str:
    """How the report names a disclosure entry: the start of its hash, which the log's chain
    makes unique and which a reader can look up in the log itself."""
    return str(d.get("hash", ""))[:12]


def disclosure_key(d: dict) -> str:
    return f"disclosure-{d['seq']}"


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
        {
            "key": disclosure_key(d),
            "cells": [
                d["seq"],
                entry_id(d),
                str(d["at"])[:19].replace("T", " "),
                d.get("user", ""),
                d["kind"],
                d["recipient"],
                d["release"],
                ", ".join(d.get("clauses", [])),
                len(d.get("institutions", [])),
                len(d.get("files", {})),
                describe_changes(d.get("changes")),
            ],
        }
        for d in disclosures
    ]
    return {
        "folder": str(releases),
        "release_count": len(manifests),
        "disclosure_count": len(disclosures),
        "rows": rows,
        "logged": logged,
    }


@cache
def reason_labels(doc: Path = REASONS_DOC) -> dict[str, str]:
    """Reason code -> its meaning in plain words, read from the "Reason codes" table of
    docs/suppression.md: the one list of the engine's codes with what each means, so the
    report's labels cannot drift from it (a row may name several codes)."""
    if not doc.exists():
        return {}
    out: dict[str, str] = {}
    in_table = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            in_table = line.lstrip("#").strip().lower() == "reason codes"
        elif in_table and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for code in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                out[code] = cells[1].replace("`", "") if len(cells) > 1 else ""
    return out


def reason_label(code: str) -> str:
    return reason_labels().get(code) or f"no label for this code in {REASONS_DOC.name}"


def _policies() -> tuple[dict, dict[str, str]]:
    """(policy name -> Policy, table id -> policy name as shipped in seeds/publish_tables.csv);
    empty when the seeds cannot be read (the section then shows the codes without policy)."""
    from orchestration.lib.disclosure.policy import PolicyError, load_policies
    from orchestration.lib.publish.summaries import table_specs

    try:
        policies = load_policies()
    except (PolicyError, OSError):
        policies = {}
    try:
        tables = {t: row.get("policy", "") for t, row in table_specs().items()}
    except OSError:
        tables = {}
    return policies, tables


def _policy_text(name: str, policies: dict) -> str:
    p = policies.get(name)
    if p is None:
        return name or "unknown policy"
    return f"{p.name}: minimum group size {p.min_n} ({p.source})"


def _public_columns(file: Path) -> dict[str, list]:
    """The status column of a public table (and its policy column, when it has one)."""
    import pyarrow.parquet as pq

    names = pq.read_schema(file).names
    table = pq.read_table(file, columns=[c for c in ("status", "policy") if c in names])
    return {c: table.column(c).to_pylist() for c in table.column_names}


def _reason_rows(by_reason: dict, table_policy: dict[str, str], policies: dict) -> list[list]:
    """One row per (reason, policy): what the code means, the policy row it applies, and the
    cells and tables it accounts for."""
    totals: dict[tuple[str, str], list] = {}
    for table, reasons in by_reason.items():
        for code, n in reasons.items():
            entry = totals.setdefault((code, table_policy.get(table, "")), [0, 0])
            entry[0] += n
            entry[1] += 1
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [[reason_label(code), code, _policy_text(policy, policies), n, tables]
            for (code, policy), (n, tables) in ordered]  # fmt: skip


def audit_rows(audit: dict) -> list[list]:
    """The audit result as a two-column table: each field in words, yes/no for flags."""
    shown = {True: "yes", False: "no"}
    return [[k.replace("_", " "), shown.get(v, v) if isinstance(v, bool) else v] for k, v in audit.items()]


def _audit_verdict(audit: dict) -> dict:
    disclosed, checked = audit.get("disclosed"), audit.get("cells_checked")
    prior = audit.get("prior_publications")
    against = f" (together with {prior} earlier publication{'' if prior == 1 else 's'})" if prior else ""
    return _status(
        disclosed == 0,
        f"audit passed: {checked:,} suppressed cells checked{against}, none can be recovered"
        if isinstance(checked, int)
        else "audit passed: no cell can be recovered",
        f"AUDIT FAILED: {disclosed} cells disclosed" if disclosed is not None else "AUDIT RESULT MISSING",
    )


def _suppression(releases: Path) -> dict:
    folder = releases / "public"
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return {"published": False}
    manifest = json.loads(manifest_path.read_text())
    policies, table_policy = _policies()
    status_counts: dict[str, dict[str, int]] = {}
    for file in sorted((folder / "tables").glob("*.parquet")):
        try:
            columns = _public_columns(file)
        except (KeyError, ValueError, OSError):
            continue
        counts: dict[str, int] = {}
        for s in columns.get("status", []):
            counts[s or "other"] = counts.get(s or "other", 0) + 1
        status_counts[file.stem] = counts
        applied = {p for p in columns.get("policy", []) if p}
        if len(applied) == 1:  # what the publication applied, rather than the seed as it is now
            table_policy[file.stem] = applied.pop()
    record = record_for(folder, manifest)  # reasons and audit live in the governance area, not the public folder
    by_reason = record.get("suppression", {}) or {}
    rows = []
    for table in sorted(set(status_counts) | set(by_reason)):
        c = status_counts.get(table, {})
        total = sum(c.values())
        reasons = sorted(by_reason.get(table, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            [
                table,
                table_policy.get(table, ""),
                total,
                c.get("published", 0),
                c.get("recoded", 0),
                c.get("suppressed", 0),
                f"{100 * c.get('suppressed', 0) / total:.1f}%" if total else "",
                {"lines": [f"{reason_label(k)}: {v:,}" for k, v in reasons]},
            ]
        )
    audit = record.get("audit", {}) or {}
    chart = stacked_bars(
        [(t, status_counts[t]) for t in sorted(status_counts)],
        ["published", "recoded", "suppressed"],
        "Share of cells per public table (right: % suppressed)",
    )
    return {
        "published": True,
        "policy_version": str(manifest.get("policy_version", "?")),
        "verdict": _audit_verdict(audit),
        "audit": audit_rows(audit),
        "chart": chart,
        "rows": rows,
        "reasons": _reason_rows(by_reason, table_policy, policies),
        "reasons_doc": str(REASONS_DOC.relative_to(paths.REPO_ROOT)),
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
    layers = L.display_layers(relations)
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


def _data_docs(home: Path, out: Path | None) -> dict:
    """The Great Expectations Data Docs the build writes, as links relative to where the
    report is written (so the two can be moved together): the site's index, and each
    suite's latest validation page, because the index lists validations with scripts GX
    loads from the internet (an offline machine shows it empty) while each page shows
    its content without them. No href when there are none yet."""
    site = paths.data_docs_dir(home)
    docs = site / "index.html"
    if not docs.exists():
        return {"href": None, "path": str(docs), "latest": []}
    base = (out or home / "reports" / "governance.html").resolve().parent

    def href(page: Path) -> str:
        return urllib.parse.quote(Path(os.path.relpath(page.resolve(), base)).as_posix())

    latest = []
    # validations/<suite>/<run>/<UTC time>/<batch>.html: the latest is the one with the latest time
    for suite in sorted(p for p in (site / "validations").glob("*") if p.is_dir()):
        pages = sorted(suite.glob("*/*/*.html"), key=lambda page: page.parent.name)
        if pages:
            at = pages[-1].parent.name  # e.g. 20261203T125135.622449Z
            when = f"{at[:4]}-{at[4:6]}-{at[6:8]} {at[9:11]}:{at[11:13]} UTC" if len(at) >= 13 else at
            latest.append({"suite": suite.name, "href": href(pages[-1]), "at": when})
    return {"href": href(docs), "path": str(docs), "latest": latest}


def _quality(con, home: Path, out: Path | None = None) -> dict:
    data_docs = _data_docs(home, out)
    feeds = _rows(
        con,
        # what the warehouse holds now: each partition's latest load (a reload replaces the
        # one before it), without partitions retracted since (sleds build --prune)
        "WITH latest AS (SELECT feed, partition_key, arg_max(change, loaded_at) AS change, "
        "arg_max(rows_read, loaded_at) AS rows_read, arg_max(rows_loaded, loaded_at) AS rows_loaded, "
        "arg_max(rows_quarantined, loaded_at) AS rows_quarantined, max(loaded_at) AS loaded_at "
        "FROM ingest.partition_loads GROUP BY ALL) "
        "SELECT feed, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), max(loaded_at) "
        f"FROM latest WHERE change NOT IN ('{RETRACTED}', '{RETRACTING}') GROUP BY feed ORDER BY feed",
    )
    if not feeds:
        return {"missing": True, "data_docs": data_docs}
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
        "data_docs": data_docs,
    }


# the identity run's counts the report lists, in this order, and those it charts: how
# records came to be linked (by MARSS number, SSN, the probabilistic model) or were not
LINKAGE_COUNTS = ["records", "persons", "marss_links", "ssn_links", "splink_links_accepted", "review_queue",
                  "links_refused_two_k12_students", "new_ids", "merged_ids", "split_ids", "retired_ids"]  # fmt: skip
LINK_METHODS = ["marss_links", "ssn_links", "splink_links_accepted", "review_queue", "links_refused_two_k12_students"]


def _ratio(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _words(key: str) -> str:
    return key.replace("_", " ")


def _linkage_charts(counts: dict, pairs: dict, subgroups: dict) -> list:
    charts = []
    links = [(_words(k), [("count", counts[k])]) for k in LINK_METHODS if k in counts]
    if links:
        charts.append(hbars(links, "How records were linked (links per method; review queue and refusals)"))
    if pairs:
        groups = [(name, [("precision", v.get("precision")), ("recall", v.get("recall"))]) for name, v in pairs.items()]
        charts.append(hbars(groups, "Precision and recall of record pairs against the ground truth", domain_max=1,
                            fmt="{:.3f}", legend={"precision": "precision", "recall": "recall"}))  # fmt: skip
    rows = [(f"{_words(family)}: {group}", [("precision", (v.get("all") or {}).get("precision")),
                                            ("recall", (v.get("all") or {}).get("recall"))])
            for family, groups in subgroups.items() for group, v in groups.items()]  # fmt: skip
    if rows:
        charts.append(hbars(rows, "By subgroup of the true person (all pairs)", domain_max=1, fmt="{:.3f}",
                            legend={"precision": "precision", "recall": "recall"}))  # fmt: skip
    return charts


def _linkage(home: Path) -> dict:
    path = home / "reports" / "linkage_accuracy.json"
    if not path.exists():
        return {"missing": True}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"missing": True}
    run = data.get("run") or {}
    counts = run.get("counts") or {}
    acc = data.get("accuracy") or {}  # null or a note when there was no ground truth
    pairs = acc.get("record_pairs") or {}
    subgroups = acc.get("record_pairs_by_subgroup") or {}
    pair_rows = [[k, _ratio(v.get("precision")), _ratio(v.get("recall")), v.get("true_pairs"), v.get("predicted_pairs")]
                 for k, v in pairs.items()]  # fmt: skip
    sub_rows = [[_words(family), group, v.get("persons"), _ratio((v.get("all") or {}).get("precision")),
                 _ratio((v.get("all") or {}).get("recall"))]
                for family, groups in subgroups.items() for group, v in groups.items()]  # fmt: skip
    return {
        "missing": False,
        "run_id": str(run.get("run_id", "")),
        "mode": str(run.get("mode", "")),
        "counts": [[_words(k), counts[k]] for k in LINKAGE_COUNTS if k in counts],
        "pairs": pair_rows,
        "subgroups": sub_rows,
        "note": str(acc.get("note", "")) if not pairs else "",
        "charts": _linkage_charts(counts, pairs, subgroups),
    }


def _purges(con) -> dict:
    rows = _rows(
        con,
        "SELECT institution_code, agreement_id, destruction_date, min(purged_at), sum(rows_deleted), "
        "string_agg(table_name || ': ' || rows_deleted, '; ' ORDER BY table_name) "
        "FROM governance.purge_log GROUP BY ALL ORDER BY 4",
    )
    return {"rows": [[r[0], r[1], str(r[2]), str(r[3])[:19], r[4], r[5]] for r in rows]}


def disclosure_bins(disclosures: list[dict], max_days: int = 31) -> tuple[str, list[tuple[str, dict[str, int]]]]:
    """("day" | "month", [(label, {kind: n})]) with every day (or month) from the first
    disclosure to the last, empty ones too: per day while the log spans up to `max_days`."""
    days = [dt.date.fromisoformat(str(d["at"])[:10]) for d in disclosures]
    if not days:
        return "day", []
    first, last = min(days), max(days)
    by_day = (last - first).days <= max_days
    keys = (
        [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        if by_day
        else months_between(first, last)
    )
    bins: dict[dt.date, dict[str, int]] = {k: {} for k in keys}
    for d, day in zip(disclosures, days, strict=True):
        counts = bins[day if by_day else day.replace(day=1)]
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    fmt = "%Y-%m-%d" if by_day else "%Y-%m"
    return ("day" if by_day else "month"), [(k.strftime(fmt), v) for k, v in bins.items()]


def _disclosures(home: Path, result, disclosures: list[dict]) -> dict:
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
            {
                "key": code,
                "cells": [
                    code,
                    len(entries),
                    last["date"],
                    "; ".join(sorted({e["recipient"] for e in entries})),
                    ", ".join(sorted({c for e in entries for c in e.get("clauses", [])})),
                ],
            }
        )
    unit, bins = disclosure_bins(disclosures)
    seen = {k for _, counts in bins for k in counts}
    kinds = [k for k in PALETTE_KINDS if k in seen] + sorted(seen - set(PALETTE_KINDS))
    chart = time_bars(bins, kinds, f"Disclosures per {unit}, by kind") if bins else None
    return {"verdict": verdict, "head_hash": result.head_hash, "rows": rows, "chart": chart}


PALETTE_KINDS = ("release", "publication", "extract")  # the disclosure log's kinds, charted in this order


def describe(detail, limit: int = 300) -> str:
    """An activity entry's detail in words ("key: value; ..."), nested keys joined by dots,
    lists by commas; cut at `limit` characters."""

    def flat(value, prefix=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from flat(v, f"{prefix}{k}.")
        elif isinstance(value, list | tuple):
            yield prefix[:-1], ", ".join(str(v) for v in value)
        else:
            yield prefix[:-1], "" if value is None else str(value)

    text = "; ".join(
        f"{_words(k)}: {v}" if k else v for k, v in flat(detail if isinstance(detail, dict) else {"": detail})
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
                str(e.get("at", ""))[:19].replace("T", " "),
                e.get("user", ""),
                e.get("action", ""),
                describe(e.get("detail", {})),
            ]
            for e in latest
        ],  # fmt: skip
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


def gather(home: Path, *, lineage_result=None, out: Path | None = None, progress=lambda message: None) -> dict:
    """Everything the report shows, as plain data (section id -> its data); no HTML
    except the inline SVG pictures, which svg.py escapes and returns as Markup. `out` is
    where the report will be written (links to other files are made relative to it)."""
    warehouse = home / "warehouse.duckdb"
    releases = home / "releases"
    progress("verifying the disclosure log")
    chain = verify_chain(home)
    disclosures = read_disclosures(home)
    con = _connect(warehouse)
    try:
        from orchestration.lib.agreements.registry import as_of_date

        as_of = as_of_date()
        restricted, lineage_data = _restricted(home, warehouse, lineage_result)
        makers = {
            "agreements": lambda: _agreements(con, as_of),
            "releases": lambda: _releases(releases, disclosures),
            "suppression": lambda: _suppression(releases),
            "restricted": lambda: restricted,
            "lineage": lambda: lineage_data,
            "quality": lambda: _quality(con, home, out),
            "linkage": lambda: _linkage(home),
            "purges": lambda: _purges(con),
            "disclosures": lambda: _disclosures(home, chain, disclosures),
            "activity": lambda: _activity(home),
        }
        bodies = {}
        for i, (sid, title) in enumerate(SECTIONS, 1):
            progress(f"section {i}/{len(SECTIONS)}: {title}")
            bodies[sid] = makers[sid]()
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


def render(home: Path, *, lineage_result=None, out: Path | None = None, progress=lambda message: None):
    """(the page's HTML, whether the disclosure log verifies)."""
    report = gather(home, lineage_result=lineage_result, out=out, progress=progress)
    progress("rendering the page")
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
    progress(f"gathering {len(SECTIONS)} sections")
    html, chain_ok = render(home, lineage_result=lineage_result, out=out, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    progress(f"wrote {out}")
    return Report(out, [sid for sid, _ in SECTIONS], chain_ok)


# ---------------------------------------------------------------- PDF

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# headless and offline: the report needs nothing from the network, and printing it must not
# touch the user's own browser profile (a temporary one is used)
CHROMIUM_FLAGS = ["--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-extensions"]  # fmt: skip


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def write_pdf(html: Path, pdf: Path | None = None, *, browser: str | None = None, timeout: float = 180) -> Path:
    """Print the report to PDF (default: beside it, .pdf) with headless Chromium, as the page's
    print stylesheet lays it out (landscape letter, a page break before each section, table
    headers repeated; page numbers in Chromium's footer). Raises PdfUnavailable."""
    browser = browser or find_chromium()
    if browser is None:
        raise PdfUnavailable("no Chromium on PATH (Debian: apt-get install chromium, or `make browser`)")
    html = Path(html).resolve()
    pdf = Path(pdf) if pdf is not None else html.with_suffix(".pdf")
    partial = pdf.with_name(pdf.name + ".partial")  # renamed once whole: never a half-written PDF
    # Chromium refuses to run as root with its sandbox on (containers, CI)
    sandbox = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="sleds-pdf-") as profile:
        cmd = [browser, *CHROMIUM_FLAGS, *sandbox, f"--user-data-dir={profile}", f"--print-to-pdf={partial}",
               html.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            partial.unlink(missing_ok=True)
            raise PdfUnavailable(f"{browser} did not print the report: {exc}") from None
    if done.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise PdfUnavailable(f"{browser} did not print the report (exit {done.returncode}): {done.stderr[-600:]}")
    os.replace(partial, pdf)
    return pdf
