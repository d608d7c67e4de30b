"""The governance report (`sleds audit`): every section, rendered in headless Chromium and
printed to PDF (read back with poppler's pdftoppm and pdftotext)."""

import datetime as dt
import html as htmllib
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.cli import main
from orchestration.lib import paths
from orchestration.lib.governance import lineage as L
from orchestration.lib.governance import report as R
from orchestration.lib.governance.disclosure_log import append_disclosure, read_disclosures
from orchestration.lib.governance.report import SECTIONS, write_pdf, write_report
from tests.conftest import copy_home
from tests.test_query_access import build_releases

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
EXPIRES_IN, DESTROYED_IN = 38, 60  # days after the as-of day, set on two agreements of the fixture


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def needs(*tools: str) -> None:
    missing = [t for t in tools if (chromium() if t == "chromium" else shutil.which(t)) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: apt-get install chromium poppler-utils, or "
                    "`make browser`); the static checks of the report still ran")  # fmt: skip


@pytest.fixture(scope="module")
def as_of():
    """The report's as-of day, pinned for the module (a test running over midnight would
    otherwise count days from another day than the fixture did)."""
    day = dt.date.today()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLEDS_AS_OF_DATE", day.isoformat())
        yield day


@pytest.fixture(scope="module")
def due(home):
    """{"expiring": agreement id, "destroying": agreement id} the fixture made due."""
    return json.loads((home / "due.json").read_text())


@pytest.fixture(scope="module")
def home(tiny_warehouse, tmp_path_factory, as_of):
    home = build_releases(copy_home(tiny_warehouse, tmp_path_factory.mktemp("report") / "home"))
    manifest = json.loads((home / "releases/sleds/manifest.json").read_text())
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        codes = [c for (c,) in con.execute("select institution_code from governance.agreements").fetchall()]
        # the two agreements expiring last (never due by themselves): one expires in 38 days,
        # the other's destruction date falls in 60
        latest = "select agreement_id from governance.agreements order by expires_on desc, agreement_id limit 2"
        last, second = [a for (a,) in con.execute(latest).fetchall()]
        con.execute("update governance.agreements set expires_on = ? where agreement_id = ?",
                    [as_of + dt.timedelta(days=EXPIRES_IN), last])  # fmt: skip
        con.execute("update governance.agreements set destruction_date = ? where agreement_id = ?",
                    [as_of + dt.timedelta(days=DESTROYED_IN), second])  # fmt: skip
    finally:
        con.close()
    (home / "due.json").write_text(json.dumps({"expiring": last, "destroying": second}))
    append_disclosure(kind="release", recipient="SLEDS research partners", release="sleds_release", manifest=manifest,
                      clauses=manifest["clauses"], institutions=codes, run_id="r1", home=home)  # fmt: skip
    # a small public release of known content in place of the one the build wrote
    public = home / "releases" / "public"
    shutil.rmtree(public, ignore_errors=True)
    (public / "tables").mkdir(parents=True)
    statuses = ["published"] * 14 + ["suppressed"] * 4 + ["recoded"] * 2
    pq.write_table(pa.table({"table_id": ["k12_enrollment_by_race"] * 20, "status": statuses}),
                   public / "tables" / "k12_enrollment_by_race.parquet")  # fmt: skip
    public_manifest = {"release": "public_summaries", "audience": "public", "tables": {"k12_enrollment_by_race": 20},
                       "files": {}, "clauses": ["9(c)(iii)"], "agreements": [], "policy_version": "test",
                       "suppression": {"k12_enrollment_by_race": {"PRIMARY_MIN_N": 3, "COMPLEMENTARY_ROW": 1}},
                       "audit": {"passed": True, "cells_checked": 4, "disclosed": 0,
                                 "prior_publications": 2}}  # fmt: skip
    (public / "manifest.json").write_text(json.dumps(public_manifest))
    append_disclosure(kind="publication", recipient="public", release="public_summaries", manifest=public_manifest,
                      clauses=["9(c)(iii)"], institutions=[], run_id="r1", home=home)  # fmt: skip
    linkage = home / "reports" / "linkage_accuracy.json"
    if not linkage.exists():  # a home built without the identity report
        linkage.parent.mkdir(parents=True, exist_ok=True)
        linkage.write_text(json.dumps({"run": {"run_id": "t1", "mode": "full", "counts": {"records": 10, "persons": 8}},
                                       "accuracy": None}))  # fmt: skip
    shared = tmp_path_factory.getbasetemp() / "governance-lineage"
    if shared.exists():  # compiled by test_governance_lineage in this session: reuse (same catalog)
        shutil.copytree(shared, home / "tmp" / "lineage", dirs_exist_ok=True)
    return home


@pytest.fixture(scope="module")
def report(home):
    return write_report(home=home)


@pytest.fixture(scope="module")
def agreement_ids(home):
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return [a for (a,) in con.execute("select agreement_id from governance.agreements order by 1").fetchall()]
    finally:
        con.close()


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections: dict[str, str] = {}
        self.current: str | None = None
        self.svgs: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.current = a.get("id")
            self.sections[self.current] = ""
        elif tag == "svg" and self.current:
            self.svgs[self.current] = self.svgs.get(self.current, 0) + 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.sections[self.current] += data


def _section(html: str, sid: str) -> str:
    return html[html.index(f'<section id="{sid}"') : html.index("</section>", html.index(f'<section id="{sid}"'))]


def _rows_by_key(html: str) -> dict[str, tuple[str, str]]:
    """data-key -> (the row's class, the row's text) of every keyed table row."""
    out = {}
    for m in re.finditer(r'<tr data-key="([^"]+)"(?: class="([^"]*)")?>(.*?)</tr>', html, re.S):
        out[m.group(1)] = (m.group(2) or "", htmllib.unescape(re.sub(r"<[^>]+>", " ", m.group(3))))
    return out


def test_every_section_has_its_content(report, home):
    html = report.path.read_text()
    parser = _Sections()
    parser.feed(html)
    assert list(parser.sections) == [sid for sid, _ in SECTIONS]
    text = parser.sections
    assert "active" in text["agreements"] and "cumulative_debt" in text["agreements"]
    assert "SLEDS research partners" in text["releases"] and "institution_mart" in text["releases"]
    assert "/ -0 rows" in text["releases"]  # each first copy: every row added
    assert "audit passed: 4 suppressed cells checked (together with 2 earlier publications)" in text["suppression"]
    assert text["restricted"].count("stops before the SLEDS release for every restricted year") == 2
    assert "restricted-year values in the release file: 0" in text["restricted"]
    assert "ps_awards" in text["quality"] and "quarantine" in text["quality"]
    assert "persons" in text["linkage"]
    assert "No purges" in text["purges"]
    entries = len(read_disclosures(home))  # the build's own disclosures and the two added here
    assert f"chain intact: {entries} entries" in text["disclosures"]
    assert "SLEDS research partners" in text["disclosures"]
    assert "disclosure_logged" in text["activity"]
    assert {"agreements", "suppression", "lineage", "quality", "linkage", "disclosures"} <= set(parser.svgs)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    assert 'class="scroll"' not in html and "max-height" not in html  # no scroll boxes
    # no person-level value leaves in the report
    con = duckdb.connect(str(home / "releases/sleds/sleds_release.duckdb"), read_only=True)
    try:
        ids = [r for (r,) in con.execute("select research_id from rel_sleds__ps_enrollment limit 200").fetchall()]
    finally:
        con.close()
    assert ids and not [i for i in ids if i in html]
    assert report.chain_ok


def test_suppression_reasons_in_words_with_their_policy_and_the_audit_as_a_table(report):
    html = report.path.read_text()
    section = _section(html, "suppression")
    labels = R.reason_labels()
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", section))
    assert f"{labels['PRIMARY_MIN_N']}: 3" in text and f"{labels['COMPLEMENTARY_ROW']}: 1" in text
    # the reasons table: label, code, the policy row of the table's policy (seeds), cells
    policy = R._policies()[0]["nces_2011_603"]
    row = re.search(r"<tr><td>([^<]*)</td><td class=\"nowrap\">PRIMARY_MIN_N</td><td>([^<]*)</td>", section)
    assert row, section[-3000:]
    assert htmllib.unescape(row.group(1)) == labels["PRIMARY_MIN_N"]
    assert htmllib.unescape(row.group(2)) == f"nces_2011_603: minimum group size {policy.min_n} ({policy.source})"
    # the audit: a table in words, no JSON
    assert "<td>cells checked</td>" in section and "<td>prior publications</td>" in section
    assert "{&#34;" not in section and '{"' not in text


def test_reason_labels_come_from_the_suppression_doc_and_cover_every_code_the_engine_writes():
    """The one list: docs/suppression.md's reason-code table. A code the engine can write
    without a line there would show as 'no label': this catches it at test time."""
    labels = R.reason_labels()
    doc = (paths.REPO_ROOT / "docs" / "suppression.md").read_text()
    assert f"| `PRIMARY_MIN_N` | {labels['PRIMARY_MIN_N']} |" in doc
    assert labels["RECODE_TOP"] == labels["RECODE_BOTTOM"]  # one row naming two codes
    engine = paths.REPO_ROOT / "orchestration" / "lib" / "disclosure"
    found = set()
    for module in ("engine.py", "primary.py", "percent.py"):  # where the cell reasons are made
        found |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PUBLISHED)"', (engine / module).read_text()))
    prefixes = {c for c in found if any(o != c and o.startswith(c) for o in found)}  # startswith() tests
    not_reasons = {"NO_COUNTS_BEHIND_PERCENTAGES"}  # an n_reason, never a cell's reason (docs: columns)
    codes = found - prefixes - not_reasons
    assert len(codes) >= 14, codes
    assert codes <= set(labels), f"reason codes with no line in docs/suppression.md: {sorted(codes - set(labels))}"
    assert R.reason_label("NOT_A_CODE").startswith("no label")


def test_an_agreement_due_within_90_days_is_flagged(report, due, as_of, agreement_ids, home):
    html = report.path.read_text()
    rows = _rows_by_key(_section(html, "agreements"))
    assert set(rows) == set(agreement_ids)
    cls, text = rows[due["expiring"]]
    assert "expiring" in cls.split() and f"expires in {EXPIRES_IN} days" in text
    cls, text = rows[due["destroying"]]
    assert "destruction-soon" in cls.split() and f"destruction in {DESTROYED_IN} days" in text
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        soon = {a for (a,) in con.execute(
            "select agreement_id from governance.agreements where status not in ('expired', 'cancelled', 'destroyed') "
            "and expires_on between ? and ?", [as_of, as_of + dt.timedelta(days=90)]).fetchall()}  # fmt: skip
    finally:
        con.close()
    assert due["expiring"] in soon
    flagged = {k for k, (c, _) in rows.items() if "expiring" in c.split()}
    assert flagged == soon
    assert all("expires in" not in t for k, (_, t) in rows.items() if k not in soon)
    summary = re.search(r"<summary>(.*?)</summary>", _section(html, "agreements")).group(1)
    assert summary.startswith(f"{len(agreement_ids)} agreements: {len(soon)} expire")
    assert "1 destruction date within 90 days" in summary


def test_due_badge_counts_days_from_the_as_of_day():
    assert R.due_badge(0, "expires") == "expires today"
    assert R.due_badge(1, "expires") == "expires in 1 day"
    assert R.due_badge(R.SOON_DAYS, "expires") == f"expires in {R.SOON_DAYS} days"
    assert R.due_badge(R.SOON_DAYS + 1, "expires") is None
    assert R.due_badge(-1, "expires") is None and R.due_badge(None, "expires") is None


def test_the_lineage_shows_every_layer_in_order_and_scales_to_the_page(report):
    section = _section(report.path.read_text(), "lineage")
    layers = re.findall(r'<text x="[\d.]+" y="40" class="svg-layer">([^<]+)</text>', section)
    assert layers[:6] == ["raw", "staging", "intermediate", "marts", "release", "publish"]
    svg = re.search(r'<svg [^>]*class="graph"[^>]*>', section).group(0)
    assert 'width="100%"' in svg and "viewBox=" in svg and "height=" not in svg.replace("viewBox", "")
    # every layer is kept, empty or not, and a schema no layer names is not dropped
    shown = L.display_layers(["raw.a", "publish.p", "odd.x", "reference.s"])
    assert [name for name, _ in shown] == [name for name, _ in L.DISPLAY_LAYERS] + ["other"]
    assert shown[0][1] == [("raw", ["raw.a"]), ("reference", ["reference.s"])] and shown[-1][1] == [("odd", ["odd.x"])]


def test_disclosures_are_counted_per_day_or_per_month():
    def entry(day, kind="release"):
        return {"at": f"{day}T10:00:00+00:00", "kind": kind}

    unit, bins = R.disclosure_bins([entry("2026-01-01"), entry("2026-01-03", "extract"), entry("2026-01-03")])
    assert unit == "day" and bins == [("2026-01-01", {"release": 1}), ("2026-01-02", {}),
                                      ("2026-01-03", {"extract": 1, "release": 1})]  # fmt: skip
    unit, bins = R.disclosure_bins([entry("2026-01-31"), entry("2026-04-02", "publication")])
    assert unit == "month" and [b[0] for b in bins] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert R.disclosure_bins([]) == ("day", [])


def test_linkage_quality_with_and_without_the_ground_truth(tmp_path):
    home = tmp_path / "home"
    (home / "reports").mkdir(parents=True)
    path = home / "reports" / "linkage_accuracy.json"
    counts = {"records": 100, "persons": 80, "marss_links": 12, "ssn_links": 3, "splink_links_accepted": 20}
    path.write_text(json.dumps({"run": {"run_id": "r", "mode": "full", "counts": counts}, "accuracy": None}))
    out = R._linkage(home)
    assert len(out["charts"]) == 1 and not out["pairs"] and out["counts"][0] == ["records", 100]
    acc = {"record_pairs": {"all": {"precision": 0.99, "recall": 0.95, "true_pairs": 10, "predicted_pairs": 9},
                            "k12-ps": {"precision": None, "recall": 0.5, "true_pairs": 2, "predicted_pairs": 0}},
           "record_pairs_by_subgroup": {"sex": {"F": {"persons": 40,
                                                      "all": {"precision": 1.0, "recall": 0.9}}}}}  # fmt: skip
    path.write_text(json.dumps({"run": {"run_id": "r", "mode": "full", "counts": counts}, "accuracy": acc}))
    out = R._linkage(home)
    assert out["pairs"][1][1] == "n/a" and out["pairs"][0][1:3] == ["0.9900", "0.9500"]
    assert len(out["charts"]) == 3 and "n/a" in str(out["charts"][1]) and "0.990" in str(out["charts"][1])
    assert out["subgroups"] == [["sex", "F", 40, "1.0000", "0.9000"]]
    path.write_text("{not json")
    assert R._linkage(home) == {"missing": True}


PROBE = """<script>
window.addEventListener('load', function () {
  function closed(el) {
    for (var p = el.parentElement; p; p = p.parentElement) if (p.tagName === 'DETAILS' && !p.open) return true;
    return false;
  }
  var width = document.documentElement.clientWidth;
  function shown(el) {
    var r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= width + 1 && !closed(el);
  }
  function name(el) { return el.tagName + '.' + el.className; }
  var out = {boxes: [], clipped: [], sections: {}, svgs: [], rows: {}, width: width,
             scrollWidth: document.documentElement.scrollWidth};
  document.querySelectorAll('body *').forEach(function (el) {
    if (!(el instanceof HTMLElement)) return;
    var cs = getComputedStyle(el);
    var box = cs.overflowX !== 'visible' || cs.overflowY !== 'visible' || cs.maxHeight !== 'none';
    if (box) out.boxes.push(name(el));
    if (el.scrollHeight > el.clientHeight + 1 && cs.overflowY !== 'visible') out.clipped.push(name(el));
  });
  document.querySelectorAll('section').forEach(function (s) {
    out.sections[s.id] = Math.round(s.getBoundingClientRect().height);
    out.rows[s.id] = {};
    s.querySelectorAll('tr[data-key]').forEach(function (tr) { out.rows[s.id][tr.dataset.key] = shown(tr); });
  });
  document.querySelectorAll('svg').forEach(function (s) {
    var r = s.getBoundingClientRect();
    out.svgs.push([Math.round(r.width), Math.round(r.right)]);
  });
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _probe(page: Path, tmp_path: Path, width: int) -> dict:
    probed = tmp_path / f"probed-{width}.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         f"--window-size={width},1000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    return json.loads(htmllib.unescape(found.group(1)))


def test_report_renders_whole_in_headless_chromium(report, home, agreement_ids, tmp_path):
    """At a desktop width and at the width of a printed page (landscape letter): every
    agreement row and every disclosure shown, nothing in a scroll box or cut off, nothing
    wider than the window (the lineage too)."""
    needs("chromium")
    disclosures = {R.disclosure_key(d) for d in read_disclosures(home)}
    institutions = set(R.disclosures_by_institution(home))
    for width in (1280, 960):
        out = _probe(report.path, tmp_path, width)
        assert set(out["sections"]) == {sid for sid, _ in SECTIONS}
        assert all(h > 60 for h in out["sections"].values()), out["sections"]
        assert out["boxes"] == [] and out["clipped"] == [], out
        assert out["scrollWidth"] <= out["width"], f"the page is wider than the window at {width}px"
        assert len(out["svgs"]) >= 6 and all(w > 300 and right <= width for w, right in out["svgs"]), out["svgs"]
        assert out["rows"]["agreements"] == dict.fromkeys(agreement_ids, True)
        assert out["rows"]["releases"] == dict.fromkeys(disclosures, True)
        assert out["rows"]["disclosures"] == dict.fromkeys(institutions, True)


def _pgm_pages(folder: Path) -> list[tuple[int, int, bytes]]:
    """(width, height, pixels) of each page pdftoppm wrote as binary greyscale PGM."""
    pages = []
    for f in sorted(folder.glob("page-*.pgm")):
        data = f.read_bytes()
        magic, w, h, top, pixels = re.match(rb"(P5)\s+(\d+)\s+(\d+)\s+(\d+)\s(.*)", data, re.S).groups()
        pages.append((int(w), int(h), pixels))
    return pages


def test_the_pdf_holds_every_agreement_and_disclosure(report, home, agreement_ids, due, tmp_path):
    needs("chromium", "pdftoppm", "pdftotext")
    pdf = write_pdf(report.path, tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = _pgm_pages(tmp_path)
    assert len(pages) >= len(SECTIONS), "a page (at least) per section"
    for n, (w, h, pixels) in enumerate(pages, 1):
        body = pixels[w * h // 10 : w * h * 9 // 10]  # without Chromium's header and footer lines
        assert sum(1 for p in body if p < 200) > 100, f"page {n} is blank"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert not [a for a in agreement_ids if a not in text], "agreement ids missing from the PDF"
    entries = read_disclosures(home)
    assert not [R.entry_id(d) for d in entries if R.entry_id(d) not in text], "disclosures missing from the PDF"
    assert not [c for c in R.disclosures_by_institution(home) if c not in text]
    assert f"expires in {EXPIRES_IN} days" in text and f"destruction in {DESTROYED_IN} days" in text
    assert not [sid for sid, title in SECTIONS if title not in text]


def test_sleds_audit_writes_the_report_and_verifies(home, tmp_path, monkeypatch, capsys, report):
    monkeypatch.setenv("SLEDS_HOME", str(home))
    out = tmp_path / "r.html"
    code = main(["audit", "--out", str(out), "--pdf"])
    captured = capsys.readouterr()
    printed = captured.out
    assert out.exists() and "governance report" in printed
    steps = [line for line in printed.splitlines() if re.match(r"\[\s*\d+\.\d+s\] ", line)]
    assert len(steps) >= len(SECTIONS) + 3, "sleds audit says what it is doing, step by step"
    assert all(f"section {i}/{len(SECTIONS)}" in "\n".join(steps) for i in range(1, len(SECTIONS) + 1))
    assert "rendering" in printed
    if chromium() is not None:
        assert code == 0 and out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
        assert f"PDF: {out.with_suffix('.pdf')}" in printed
    else:
        assert code == 1 and "PDF not written" in captured.err
    assert main(["audit", "--verify"]) == 0
    assert f"intact: {len(read_disclosures(home))} entries" in capsys.readouterr().out
    actions = [json.loads(x)["action"] for x in (home / "governance/activity_log.jsonl").read_text().splitlines()]
    assert "report_generated" in actions and "audit_verify" in actions


def test_values_are_escaped_and_an_empty_home_still_has_every_section(tmp_path):
    """The templates autoescape: text from logs and manifests cannot inject markup."""
    from orchestration.lib.governance.activity_log import record_activity

    home = tmp_path / "home"
    record_activity("<script>alert(1)</script>", {"table": "<b>x</b>"}, home=home)
    report = write_report(tmp_path / "r.html", home=home, with_lineage=False)
    html = report.path.read_text()
    parser = _Sections()
    parser.feed(html)
    assert list(parser.sections) == [sid for sid, _ in SECTIONS]
    assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" in parser.sections["activity"]  # shown as text
    assert "table: <b>x</b>" in parser.sections["activity"]  # the detail in words, not JSON
    assert "The warehouse could not be opened." in html
    assert "Column lineage unavailable: lineage not computed" in parser.sections["restricted"]
    assert "No Data Docs yet" in parser.sections["quality"]


def test_the_data_docs_are_linked_relative_to_the_report(tmp_path):
    home = tmp_path / "home"
    docs = paths.data_docs_dir(home) / "index.html"
    docs.parent.mkdir(parents=True)
    docs.write_text("<html>data docs</html>")
    # two re-checks of one suite (GX's layout: validations/<suite>/<run>/<UTC time>/<batch>.html)
    pages = {}
    for run, at in (("run-b", "20261201T090000.000000Z"), ("run-a", "20261203T125135.622449Z")):
        pages[at] = docs.parent / "validations" / "msds_ingest" / run / at / "msds_recheck_sample.html"
        pages[at].parent.mkdir(parents=True)
        pages[at].write_text("<html>validation</html>")
    out = tmp_path / "elsewhere" / "report files" / "r.html"
    html = write_report(out, home=home, with_lineage=False).path.read_text()
    hrefs = [htmllib.unescape(h) for h in re.findall(r'<a href="([^"]+)">', _section(html, "quality"))]
    assert hrefs and not any(h.startswith(("/", "file:")) for h in hrefs)  # relative: they move together
    from urllib.parse import unquote

    assert (out.parent / unquote(hrefs[0])).resolve() == docs.resolve()
    # the latest validation of each suite is linked too (GX's index needs scripts from the internet)
    assert [(out.parent / unquote(h)).resolve() for h in hrefs[1:]] == [pages["20261203T125135.622449Z"].resolve()]
    assert "msds_ingest</a>, 2026-12-03 12:51 UTC" in html
    assert "No Data Docs yet" not in html
