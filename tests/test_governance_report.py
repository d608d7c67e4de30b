"""The governance report (`sleds audit`): every section, rendered in headless Chromium."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.cli import main
from orchestration.lib.governance.disclosure_log import append_disclosure, read_disclosures
from orchestration.lib.governance.report import SECTIONS, write_report
from tests.conftest import copy_home
from tests.test_query_access import build_releases

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="module")
def home(tiny_warehouse, tmp_path_factory):
    home = build_releases(copy_home(tiny_warehouse, tmp_path_factory.mktemp("report") / "home"))
    manifest = json.loads((home / "releases/sleds/manifest.json").read_text())
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        codes = [c for (c,) in con.execute("select institution_code from governance.agreements").fetchall()]
    finally:
        con.close()
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
                       "suppression": {"k12_enrollment_by_race": {"primary": 3, "complementary": 1}},
                       "audit": {"cells_checked": 4, "disclosed": 0}}  # fmt: skip
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


def test_every_section_has_its_content(report, home):
    html = report.path.read_text()
    parser = _Sections()
    parser.feed(html)
    assert list(parser.sections) == [sid for sid, _ in SECTIONS]
    text = parser.sections
    assert "active" in text["agreements"] and "cumulative_debt" in text["agreements"]
    assert "SLEDS research partners" in text["releases"] and "institution_mart" in text["releases"]
    assert "/ -0 rows" in text["releases"]  # each first copy: every row added
    assert "audit passed" in text["suppression"] and "primary: 3" in text["suppression"]
    assert text["restricted"].count("stops before the SLEDS release for every restricted year") == 2
    assert "restricted-year values in the release file: 0" in text["restricted"]
    assert "ps_awards" in text["quality"] and "quarantine" in text["quality"]
    assert "persons" in text["linkage"]
    assert "No purges" in text["purges"]
    entries = len(read_disclosures(home))  # the build's own disclosures and the two added here
    assert f"chain intact: {entries} entries" in text["disclosures"]
    assert "SLEDS research partners" in text["disclosures"]
    assert "disclosure_logged" in text["activity"]
    assert {"suppression", "lineage", "quality"} <= set(parser.svgs)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    # no person-level value leaves in the report
    con = duckdb.connect(str(home / "releases/sleds/sleds_release.duckdb"), read_only=True)
    try:
        ids = [r for (r,) in con.execute("select research_id from rel_sleds__ps_enrollment limit 200").fetchall()]
    finally:
        con.close()
    assert ids and not [i for i in ids if i in html]
    assert report.chain_ok


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the static checks above still ran")
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", report.path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = done.stdout
    assert 'data-rendered="yes"' in dom, done.stderr[-2000:]
    heights = dict(re.findall(r'data-section="([a-z-]+)" data-rendered-height="(\d+)"', dom))
    assert set(heights) == {sid for sid, _ in SECTIONS}
    assert all(int(h) > 60 for h in heights.values()), heights
    widths = [int(w) for w in re.findall(r'<svg[^>]*data-rendered-width="(\d+)"', dom)]
    assert len(widths) >= 3 and all(w > 300 for w in widths)


def test_sleds_audit_writes_the_report_and_verifies(home, tmp_path, monkeypatch, capsys, report):
    monkeypatch.setenv("SLEDS_HOME", str(home))
    out = tmp_path / "r.html"
    assert main(["audit", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and "governance report" in printed
    assert "rendering" in printed, "sleds audit says what it is doing"
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
    assert "The warehouse could not be opened." in html
    assert "Column lineage unavailable: lineage not computed" in parser.sections["restricted"]
